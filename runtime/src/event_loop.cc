#include "allot/runtime/event_loop.h"

#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <string>

namespace allot::runtime {

EventLoop::EventLoop(const Clock& clock) : clock_(clock) {
  wakeFd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakeFd_ < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  watchFd(wakeFd_, [this] {
    std::uint64_t value = 0;
    while (::read(wakeFd_, &value, sizeof value) > 0) {
    }
  });
}

EventLoop::~EventLoop() {
  if (wakeFd_ >= 0) ::close(wakeFd_);
  if (signalFd_ >= 0) ::close(signalFd_);
}

EventLoop::TimerId EventLoop::after(Duration delay, Callback fn) {
  TimerId id = nextTimer_++;
  TimePoint due = now() + delay;
  timers_.emplace(id, Timer{due, Duration{0}, std::move(fn)});
  schedule_.emplace(due, id);
  return id;
}

EventLoop::TimerId EventLoop::every(Duration period, Callback fn) {
  if (period <= Duration{0}) throw std::invalid_argument("EventLoop::every: period must be > 0");
  TimerId id = nextTimer_++;
  TimePoint due = now() + period;
  timers_.emplace(id, Timer{due, period, std::move(fn)});
  schedule_.emplace(due, id);
  return id;
}

void EventLoop::cancel(TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  auto [first, last] = schedule_.equal_range(it->second.due);
  for (auto s = first; s != last; ++s) {
    if (s->second == id) {
      schedule_.erase(s);
      break;
    }
  }
  timers_.erase(it);
}

void EventLoop::watch(zmq::socket_t& socket, Callback onReadable) {
  unwatch(socket);
  watches_.push_back(Watch{&socket, -1, std::move(onReadable)});
}

void EventLoop::unwatch(zmq::socket_t& socket) {
  std::erase_if(watches_, [&](const Watch& w) { return w.socket == &socket; });
}

void EventLoop::watchFd(int fd, Callback onReadable) {
  unwatchFd(fd);
  watches_.push_back(Watch{nullptr, fd, std::move(onReadable)});
}

void EventLoop::unwatchFd(int fd) {
  std::erase_if(watches_, [&](const Watch& w) {
    return w.socket == nullptr && w.fd == fd && w.events == ZMQ_POLLIN;
  });
}

void EventLoop::watchFdWritable(int fd, Callback onWritable) {
  unwatchFdWritable(fd);
  watches_.push_back(Watch{nullptr, fd, std::move(onWritable), ZMQ_POLLOUT});
}

void EventLoop::unwatchFdWritable(int fd) {
  std::erase_if(watches_, [&](const Watch& w) {
    return w.socket == nullptr && w.fd == fd && w.events == ZMQ_POLLOUT;
  });
}

void EventLoop::fireDueTimers() {
  // Timers added by callbacks and due now run in a later pass, so a timer
  // that re-arms itself with delay 0 cannot starve the sockets.
  TimePoint t = now();
  std::vector<TimerId> due;
  for (auto it = schedule_.begin(); it != schedule_.end() && it->first <= t; ++it) {
    due.push_back(it->second);
  }
  for (TimerId id : due) {
    auto it = timers_.find(id);
    if (it == timers_.end()) continue;  // cancelled by an earlier callback
    auto [first, last] = schedule_.equal_range(it->second.due);
    for (auto s = first; s != last; ++s) {
      if (s->second == id) {
        schedule_.erase(s);
        break;
      }
    }
    Callback fn;
    if (it->second.period > Duration{0}) {
      it->second.due = std::max(it->second.due + it->second.period, t);
      schedule_.emplace(it->second.due, id);
      fn = it->second.fn;  // copy: the callback may cancel its own timer
    } else {
      fn = std::move(it->second.fn);
      timers_.erase(it);
    }
    fn();
    if (stopRequested_) return;
  }
}

void EventLoop::runOnce(Duration maxWait) {
  Duration wait = maxWait;
  if (!schedule_.empty()) {
    wait = std::min(wait, std::max(Duration{0}, schedule_.begin()->first - now()));
  }
  std::vector<zmq::pollitem_t> items;
  items.reserve(watches_.size());
  for (const Watch& w : watches_) {
    items.push_back(zmq::pollitem_t{w.socket ? w.socket->handle() : nullptr, w.fd, w.events, 0});
  }
  // Round up so a timer due in 300 us does not spin with a 0 ms timeout.
  auto ms = std::chrono::milliseconds((wait.count() + 999) / 1000);
  try {
    zmq::poll(items, ms);
  } catch (const zmq::error_t& e) {
    // A signal the process handles (a host that does not block them, as
    // Python's allot.Master) interrupts the wait: nothing is ready, timers
    // may be.
    if (e.num() != EINTR) throw;
    for (zmq::pollitem_t& item : items) item.revents = 0;
  }
  // Copy the callbacks first: a callback may add or remove watches.
  std::vector<Callback> ready;
  for (std::size_t i = 0; i < items.size(); ++i) {
    // A broken connection counts as writable: the write reports why.
    const short events = watches_[i].events == ZMQ_POLLOUT ? ZMQ_POLLOUT | ZMQ_POLLERR : ZMQ_POLLIN;
    if (items[i].revents & events) ready.push_back(watches_[i].fn);
  }
  for (auto& fn : ready) {
    fn();
    if (stopRequested_) return;
  }
  fireDueTimers();
}

void EventLoop::run() {
  while (!stopRequested_) runOnce(std::chrono::seconds(1));
}

void EventLoop::stop() {
  stopRequested_ = true;
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wakeFd_, &one, sizeof one);
}

void EventLoop::stopOnSignals() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  signalFd_ = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signalFd_ < 0) throw std::runtime_error(std::string("signalfd: ") + std::strerror(errno));
  watchFd(signalFd_, [this] {
    signalfd_siginfo info{};
    while (::read(signalFd_, &info, sizeof info) > 0) {
    }
    stop();
  });
}

LoopWakeup::LoopWakeup(EventLoop& loop, EventLoop::Callback onSignal) : loop_(loop) {
  fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd_ < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  loop_.watchFd(fd_, [this, onSignal = std::move(onSignal)] {
    std::uint64_t count = 0;
    while (::read(fd_, &count, sizeof count) > 0) {
    }
    onSignal();
  });
}

LoopWakeup::~LoopWakeup() {
  loop_.unwatchFd(fd_);
  ::close(fd_);
}

void LoopWakeup::signal() const {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(fd_, &one, sizeof one);
}

}  // namespace allot::runtime
