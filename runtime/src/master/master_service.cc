#include "allot/runtime/master_service.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <csignal>
#include <utility>

#include "allot/core/error.h"

namespace allot::runtime {

namespace {

// True once SIGINT or SIGTERM is pending (blocked in every thread), taking it.
bool stopSignalPending() {
  sigset_t pending;
  sigpending(&pending);
  if (!sigismember(&pending, SIGINT) && !sigismember(&pending, SIGTERM)) return false;
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  const timespec now{0, 0};
  sigtimedwait(&mask, nullptr, &now);
  return true;
}

ZkUrl parseZk(const std::string& text) {
  std::optional<ZkUrl> url;
  try {
    url = ZkUrl::parse(text);
  } catch (const ParseError& e) {
    throw InvalidArgument(fmt::format("ZooKeeper URL (--zk, zk): {}", e.what()));
  }
  if (!url) {
    throw InvalidArgument(
        fmt::format("ZooKeeper URL (--zk, zk) '{}': expected "
                    "zk://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]/PATH or "
                    "file://FILE",
                    text));
  }
  return *url;
}

// "tcp://HOST:PORT" -> PORT; -1 when it does not end in one.
int endpointPort(const std::string& endpoint) {
  const auto colon = endpoint.rfind(':');
  if (colon == std::string::npos) return -1;
  try {
    return std::stoi(endpoint.substr(colon + 1));
  } catch (const std::exception&) {
    return -1;
  }
}

}  // namespace

MasterService::MasterService(zmq::context_t& context, const Clock& clock, MasterOptions options,
                             MasterHaOptions ha)
    : context_(context), clock_(clock), options_(std::move(options)), ha_(std::move(ha)) {
  if (ha_.zk.empty()) {
    lead();  // binds now: the caller may ask for the ports at once
    return;
  }
  const ZkUrl url = parseZk(ha_.zk);
  zkShown_ = url.text();
  if (!options_.workDir.empty()) {
    throw InvalidArgument(
        "a registry directory (--work-dir, work_dir) and ZooKeeper (--zk, zk) exclude each "
        "other: with ZooKeeper the registry is kept there, so that the next leader recovers it");
  }
  // The leader is announced before it binds: its ports must be known.
  const int port = endpointPort(options_.endpoint);
  if (port <= 0 || options_.httpPort == 0) {
    throw InvalidArgument(
        "ZooKeeper (--zk, zk) needs fixed ports (--port and --http-port, port and http_port): "
        "0 picks one too late to announce it");
  }
  // Named before the election, so that its node says who it is.
  if (options_.masterId.empty()) options_.masterId = makeMasterId(clock_.now());
  std::string host = ha_.advertiseHost;
  if (host.empty()) host = options_.httpHost;
  if (host.empty() || host == "*" || host == "0.0.0.0") {
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    host = name;
  }
  MasterInfo self;
  self.id = options_.masterId;  // agents log which master leads
  self.endpoint = fmt::format("tcp://{}:{}", host, port);
  if (options_.httpPort > 0) {
    self.http = fmt::format("{}{}:{}", options_.httpTlsCert.empty() ? "" : "https://", host,
                            options_.httpPort);
  }
  contender_ = std::make_unique<MasterContender>(url, self, options_.zkSessionTimeout);
  contender_->onLost([this](const std::string& why) {
    std::lock_guard lock(mutex_);
    if (lostWhy_.empty()) lostWhy_ = why;
    if (running_ != nullptr) running_->stop();
  });
}

MasterService::~MasterService() {
  std::lock_guard lock(mutex_);
  running_ = nullptr;  // the contender's worker may still report a loss
}

bool MasterService::runOnce(Duration maxWait) {
  if (stopped_) return false;
  if (stopRequested_) {
    finish();
    return false;
  }
  if (!master_) {
    if (!standBy(maxWait)) return !stopped_;
    lead();
    return !stopped_;
  }
  try {
    master_->runOnce(maxWait);
  } catch (...) {
    finish();
    throw;
  }
  if (stopRequested_ || master_->stopped()) finish();
  return !stopped_;
}

void MasterService::run() {
  while (runOnce(std::chrono::seconds(1))) {
  }
}

void MasterService::stop() {
  stopRequested_ = true;
  std::lock_guard lock(mutex_);
  if (running_ != nullptr) running_->stop();
}

std::string MasterService::lostLead() const {
  std::lock_guard lock(mutex_);
  return lostWhy_;
}

bool MasterService::standBy(Duration maxWait) {
  if (!contender_) return true;  // a lone master leads at once
  const TimePoint until = clock_.now() + maxWait;
  const bool leads = contender_->waitForLeadership(
      [&] {
        if (stopOnSignals_ && stopSignalPending()) stopRequested_ = true;
        return stopRequested_ || clock_.now() >= until;
      },
      [&](const std::optional<MasterInfo>& leader) {
        // Made at the first sign of standing by (a master that leads at once
        // never binds it), dropped before the master binds the same port.
        if (!standbyHttp_ && options_.httpPort > 0) {
          standbyHttp_ =
              std::make_unique<StandbyHttp>(options_.httpHost, options_.httpPort, options_.masterId,
                                            options_.httpTlsCert, options_.httpTlsKey);
        }
        if (standbyHttp_) standbyHttp_->setLeader(leader);
        if (shownLeader_ && *shownLeader_ == leader) return;  // said at an earlier turn
        shownLeader_ = leader;
        if (leader) {
          spdlog::info("master: standby in ZooKeeper {}; the leader is {} (HTTP {})", zkShown_,
                       leader->endpoint, leader->http.empty() ? "none" : leader->http);
        } else {
          spdlog::info("master: standby in ZooKeeper {}; no leader yet", zkShown_);
        }
      });
  if (!leads && stopRequested_) {
    spdlog::info("master: stopped while standing by");
    finish();
  }
  return leads;
}

void MasterService::lead() {
  standbyHttp_.reset();
  if (contender_) {
    spdlog::info("master: elected the leading master in ZooKeeper {}", zkShown_);
    if (ha_.registry) {
      options_.zk = ha_.zk;
      options_.zkMemberNode = contender_->node();
    }
  }
  // Moved, not copied: a policy made in Python holds Python objects.
  master_ = std::make_unique<Master>(context_, clock_, std::move(options_));
  if (stopOnSignals_) master_->stopOnSignals();
  std::lock_guard lock(mutex_);
  running_ = master_.get();
  // Lost, or asked to stop, before the master was made: it stops at once.
  if (!lostWhy_.empty() || stopRequested_) master_->stop();
}

void MasterService::finish() {
  stopped_ = true;
  std::lock_guard lock(mutex_);
  running_ = nullptr;
  if (master_ && !master_->stopReason().empty() && lostWhy_.empty()) {
    lostWhy_ = master_->stopReason();
  }
}

}  // namespace allot::runtime
