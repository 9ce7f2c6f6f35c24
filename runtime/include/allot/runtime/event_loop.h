#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <utility>
#include <vector>
#include <zmq.hpp>

#include "allot/runtime/clock.h"

namespace allot::runtime {

// The single-threaded event loop of every runtime process (actor style):
// zmq::poll over sockets and file descriptors, plus timers on a Clock.
// Callbacks run on the thread that calls run(); they may add and cancel
// timers and watches. Not thread-safe, except stop().
class EventLoop {
 public:
  using TimerId = std::uint64_t;
  using Callback = std::function<void()>;

  explicit EventLoop(const Clock& clock);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  const Clock& clock() const { return clock_; }
  TimePoint now() const { return clock_.now(); }

  // Runs `fn` once, `delay` from now. Returns an id for cancel().
  TimerId after(Duration delay, Callback fn);
  // Runs `fn` every `period`, first after one period, until cancelled.
  TimerId every(Duration period, Callback fn);
  // Cancels a timer; unknown or already-fired ids are ignored.
  void cancel(TimerId id);

  // Calls `onReadable` whenever `socket` has a message (the callback should
  // drain it with dontwait receives). The socket must outlive the watch.
  void watch(zmq::socket_t& socket, Callback onReadable);
  void unwatch(zmq::socket_t& socket);
  // Same for a file descriptor (pidfd, signalfd, eventfd).
  void watchFd(int fd, Callback onReadable);
  void unwatchFd(int fd);
  // Calls `onWritable` while `fd` can take data (or reports an error),
  // until unwatchFdWritable(); independent of a watchFd() on the same fd.
  void watchFdWritable(int fd, Callback onWritable);
  void unwatchFdWritable(int fd);

  // Polls and dispatches until stop(). SIGINT and SIGTERM are not handled
  // here; see stopOnSignals().
  void run();
  // One poll (waiting at most `maxWait`, less if a timer is due) and dispatch.
  void runOnce(Duration maxWait);
  // Makes run() return after the current callback. Thread-safe and
  // async-signal-safe (writes an eventfd).
  void stop();
  bool stopped() const { return stopRequested_; }

  // Blocks SIGINT and SIGTERM in the calling thread and stops the loop when
  // one arrives (through a signalfd). Call before starting other threads.
  void stopOnSignals();

 private:
  struct Timer {
    TimePoint due;
    Duration period{0};
    Callback fn;
  };
  struct Watch {
    zmq::socket_t* socket = nullptr;
    int fd = -1;
    Callback fn;
    short events = ZMQ_POLLIN;  // ZMQ_POLLOUT: a watchFdWritable()
  };

  void fireDueTimers();

  const Clock& clock_;
  std::map<TimerId, Timer> timers_;
  std::multimap<TimePoint, TimerId> schedule_;
  TimerId nextTimer_ = 1;
  std::vector<Watch> watches_;
  int wakeFd_ = -1;
  int signalFd_ = -1;
  volatile bool stopRequested_ = false;
};

// An eventfd that `loop` watches: signal(), from any thread, makes
// `onSignal` run on the loop's thread at its next turn (once for any number
// of signals before it). Unwatched and closed when destroyed, which must
// happen on the loop's thread or while the loop does not run.
class LoopWakeup {
 public:
  LoopWakeup(EventLoop& loop, EventLoop::Callback onSignal);
  ~LoopWakeup();
  LoopWakeup(const LoopWakeup&) = delete;
  LoopWakeup& operator=(const LoopWakeup&) = delete;

  void signal() const;  // thread-safe and async-signal-safe

 private:
  EventLoop& loop_;
  int fd_ = -1;
};

// How other threads hand a loop work: what post() queues, from any thread,
// `deliver` gets on the loop's thread at its next turn, all that came
// meanwhile at once, in order. close() ends posting and returns what was not
// delivered, for the owner to answer or count; what is queued when the inbox
// is destroyed is dropped.
template <typename T>
class LoopInbox {
 public:
  LoopInbox(EventLoop& loop, std::function<void(std::deque<T>)> deliver)
      : deliver_(std::move(deliver)), wakeup_(loop, [this] {
          std::deque<T> items = take();
          if (!items.empty()) deliver_(std::move(items));
        }) {}

  // False, leaving `item` unqueued, once closed. Thread-safe.
  bool post(T item) {
    {
      std::lock_guard lock(mutex_);
      if (closed_) return false;
      items_.push_back(std::move(item));
    }
    wakeup_.signal();
    return true;
  }

  // Refuses further posts; returns what is queued. Thread-safe.
  std::deque<T> close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    return std::exchange(items_, {});
  }

 private:
  std::deque<T> take() {
    std::lock_guard lock(mutex_);
    return std::exchange(items_, {});
  }

  std::function<void(std::deque<T>)> deliver_;
  std::mutex mutex_;  // guards what follows
  std::deque<T> items_;
  bool closed_ = false;
  LoopWakeup wakeup_;  // last: unwatched before the rest goes
};

}  // namespace allot::runtime
