#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <zmq.hpp>

#include "allot/runtime/clock.h"
#include "allot/runtime/master.h"
#include "allot/runtime/standby_http.h"
#include "allot/runtime/zookeeper.h"

namespace allot::runtime {

// High availability for a master (allot/runtime/zookeeper.h).
struct MasterHaOptions {
  // "zk://[USER:PASSWORD@]HOST:PORT[,...]/PATH" or "file://FILE"; empty: a
  // lone master, which leads at once.
  std::string zk;
  // The host announced to agents and frameworks; empty: the master's listen
  // host, or this machine's name when that is * or 0.0.0.0.
  std::string advertiseHost;
  // Keep the registry in ZooKeeper, so that the next leader recovers it;
  // false: no registry at all (MasterOptions::workDir must be empty).
  bool registry = true;
};

// A master as `allot master` and Python's allot.Master serve it: alone, or
// with `ha.zk` a candidate that stands by (its HTTP port answering as a
// StandbyHttp) until ZooKeeper elects it, and then leads until stopped. A
// leader that loses the lead stops at once, as Mesos' masters do: another
// may lead already, and a supervisor restarts this one, which then stands by.
//
// Threads: runOnce() on one thread; stop() from any.
class MasterService {
 public:
  // Checks the options together; alone, makes the master (binding its
  // ports); with `ha.zk`, enters the election (naming this master first when
  // options.masterId is empty). Throws
  // InvalidArgument naming the option at fault (`zk`, `work_dir`, ports),
  // or allot::Error when ZooKeeper cannot be reached. `context` and `clock`
  // must outlive this.
  MasterService(zmq::context_t& context, const Clock& clock, MasterOptions options,
                MasterHaOptions ha = {});
  ~MasterService();
  MasterService(const MasterService&) = delete;
  MasterService& operator=(const MasterService&) = delete;

  // Makes the master (now, or when it comes to lead) stop on SIGINT and
  // SIGTERM, and the standby check for them; they must be blocked in every
  // thread (pthread_sigmask before this object and any thread are made).
  void stopOnBlockedSignals() {
    stopOnSignals_ = true;
    if (master_) master_->stopOnSignals();
  }

  // One turn: standing by, waits at most `maxWait` for the lead (and builds
  // the master, binding its ports, once elected); leading, one turn of the
  // master's loop. False once the service has stopped: by stop(), a signal,
  // the master itself, or a lost lead (lostLead() says why). A policy's
  // exception is thrown, and stops the service.
  bool runOnce(Duration maxWait);
  // runOnce until it returns false.
  void run();
  // Stops at the end of the current turn. Thread-safe.
  void stop();

  // Null while standing by; kept after the service stopped.
  Master* master() { return master_.get(); }
  bool leading() const { return master_ != nullptr; }
  // This master's id; with `ha.zk` known before it leads, else once it does.
  const std::string& id() const { return master_ ? master_->id() : options_.masterId; }
  // Why a leader stopped other than by stop() or a signal: the lead lost in
  // ZooKeeper, or the master's own stop reason; empty otherwise.
  std::string lostLead() const;
  // For messages: the ZooKeeper URL with its password hidden; empty without.
  const std::string& zkShown() const { return zkShown_; }

 private:
  bool standBy(Duration maxWait);
  void lead();
  void finish();

  zmq::context_t& context_;
  const Clock& clock_;
  MasterOptions options_;  // until the master is made with them
  MasterHaOptions ha_;
  std::string zkShown_;
  bool stopOnSignals_ = false;
  std::atomic<bool> stopRequested_{false};
  bool stopped_ = false;

  // Written by the contender's worker when the lead is lost; declared before
  // the contender, whose worker may call in until it is destroyed.
  mutable std::mutex mutex_;  // guards running_ and lostWhy_
  Master* running_ = nullptr;
  std::string lostWhy_;

  std::unique_ptr<MasterContender> contender_;
  std::unique_ptr<StandbyHttp> standbyHttp_;
  std::optional<std::optional<MasterInfo>> shownLeader_;  // last standby report
  std::unique_ptr<Master> master_;  // destroyed before the contender ends the session
};

}  // namespace allot::runtime
