#pragma once

// The scheduler driver: the library a framework is written on, like Mesos'
// SchedulerDriver. The framework implements Scheduler; SchedulerDriver talks
// to the master (docs/runtime-protocol.md, "Frameworks") and calls it back.
//
//   class Echo : public Scheduler { ... };
//   Echo scheduler;
//   SchedulerDriver driver(scheduler, info, "127.0.0.1:5050", clock);
//   driver.run();   // until driver.stop()
//
// Built in: subscription and re-subscription (after NOT_REGISTERED, or when
// the master falls silent: restart, failover), heartbeats, a fresh
// connection when the master is silent, and acknowledgements: after
// statusUpdate() returns, the driver acknowledges the update; an update whose
// uuid was delivered before is acknowledged again but not delivered twice.

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "allot/core/time.h"
#include "allot/runtime/clock.h"
#include "allot/runtime/curve.h"
#include "allot/runtime/event_loop.h"
#include "allot/runtime/wire.h"
#include "allot/runtime/zookeeper.h"

namespace allot::runtime {

class DealerSocket;
class SchedulerDriver;

// A framework's scheduler. Every callback runs on the driver's loop thread
// (the thread in run() or runOnce()), one at a time; callbacks may call the
// driver's methods. A callback that throws ends run() with that exception.
class Scheduler {
 public:
  virtual ~Scheduler() = default;

  // The first SUBSCRIBED of this driver: `frameworkId` is new, or the id
  // given in FrameworkInfo when this driver took the framework over.
  virtual void registered(SchedulerDriver& driver, const std::string& frameworkId,
                          const std::string& masterId) = 0;
  // Any later SUBSCRIBED (the master restarted or the driver re-subscribed
  // after silence). Offers received before are void.
  virtual void reregistered(SchedulerDriver& /*driver*/, const std::string& /*masterId*/) {}
  // Lost the master (silence past the master timeout, or NOT_REGISTERED); the
  // driver is re-subscribing. Methods called meanwhile act as documented on each.
  virtual void disconnected(SchedulerDriver& /*driver*/) {}
  // Offers whose resources and attributes parse (Resources::parse,
  // Attributes::parse) and that name an offer and an agent: the driver
  // declines any other, logging why, before this is called.
  virtual void resourceOffers(SchedulerDriver& driver, const std::vector<wire::Offer>& offers) = 0;
  virtual void offerRescinded(SchedulerDriver& /*driver*/, const std::string& /*offerId*/) {}
  // A task's status. Acknowledged by the driver after this returns (when the
  // update carries a uuid); each uuid is delivered at most once per driver.
  virtual void statusUpdate(SchedulerDriver& driver, const wire::TaskStatus& status) = 0;
  // The master refused a message (ERROR other than NOT_REGISTERED). The
  // driver keeps running; `message` names the code and what was wrong. With
  // FRAMEWORK_REMOVED (an operator tore the framework down, or its failover
  // timeout passed) the driver has stopped subscribing: removed() is true,
  // calls are dropped, and the scheduler should stop() it.
  virtual void error(SchedulerDriver& /*driver*/, const std::string& /*message*/) {}
};

struct DriverOptions {
  // Heartbeat period until the master announces its own in SUBSCRIBED.
  Duration heartbeatInterval = std::chrono::seconds(1);
  // The master is presumed lost when nothing arrives from it for this long
  // while subscribed; 0 means 5 heartbeat intervals (at least 2 s, so a
  // master busy for a moment is not taken for gone).
  Duration masterTimeout{0};
  // SUBSCRIBE is resent with exponential backoff between these until answered.
  Duration subscribeBackoffMin = std::chrono::milliseconds(100);
  Duration subscribeBackoffMax = std::chrono::seconds(2);
  // How many delivered uuids are remembered for deduplication, oldest
  // forgotten first (a repeat comes only while an ack is in flight: seconds).
  std::size_t rememberedUpdates = 100'000;
  // With a zk:// master: the ZooKeeper session timeout.
  Duration zkSessionTimeout = std::chrono::seconds(10);
  // CURVE (allot/runtime/curve.h): the master's public key and this
  // framework's key pair.
  CurveClientOptions curve;
};

// Connects to one master and drives one Scheduler. Not copyable.
//
// Threads: run()/runOnce() and every method except stop() must be called on
// one thread (the loop thread); callbacks run there. stop() may be called
// from any thread or a signal handler's stand-in (it writes an eventfd).
class SchedulerDriver {
 public:
  // `master` is "HOST:PORT" or "tcp://HOST:PORT", or
  // "zk://HOST:PORT[,...]/PATH" to follow the leading master of several
  // (re-subscribing to each new one); throws ParseError otherwise. `framework.framework_id` set
  // means fail over as that framework. `scheduler` and `clock` must outlive the driver.
  SchedulerDriver(Scheduler& scheduler, wire::FrameworkInfo framework, std::string_view master,
                  const Clock& clock, DriverOptions options = {});
  ~SchedulerDriver();
  SchedulerDriver(const SchedulerDriver&) = delete;
  SchedulerDriver& operator=(const SchedulerDriver&) = delete;

  // Connects and subscribes (idempotent), then runs the loop until stop().
  // With stop(false) the framework is torn down (TEARDOWN) before returning.
  // Destroying the driver after run() waits up to 0.5 s for the last
  // messages (acknowledgements, TEARDOWN) to leave.
  void run();
  // start() once, then one loop iteration waiting at most `maxWait`: for
  // tests that drive the loop (and a ManualClock) themselves.
  void runOnce(Duration maxWait);
  // Makes run() return. `failover` true keeps the framework registered at
  // the master (its tasks live on for its failover timeout); false tears it
  // down (its tasks are killed). Thread-safe.
  void stop(bool failover = true);

  // --- Calls from the loop thread (callbacks included). ---

  // Launches `tasks` on `offerIds` (all of one agent; ACCEPT). A task with
  // an empty agent_id gets the agent of its offers. Resources the tasks do
  // not use return with `filters`. When not subscribed, each task gets a
  // TASK_LOST update from the driver itself (no message is sent).
  // Without `filters` the master applies its default (refuse 5 s).
  void launchTasks(const std::vector<std::string>& offerIds,
                   const std::vector<wire::TaskInfo>& tasks,
                   std::optional<wire::Filters> filters = std::nullopt);
  // Reserves (or unreserves) part of the resources of `offerIds` for the
  // framework's role (ACCEPT with `reserve` / `unreserve`, see allot.proto):
  // `resources` name the role, as "cpus(web):2;mem(web):1024". The changed
  // resources come back in a later offer; the rest of the offers is
  // declined with `filters`. Lost, with a warning, when not subscribed.
  void reserveResources(const std::vector<std::string>& offerIds, const std::string& resources,
                        std::optional<wire::Filters> filters = std::nullopt);
  void unreserveResources(const std::vector<std::string>& offerIds, const std::string& resources,
                          std::optional<wire::Filters> filters = std::nullopt);
  // The calls below are dropped (with a warning, counted in droppedSends())
  // while not subscribed: the master that would get them does not know the
  // framework. Suppression is remembered and restored on re-subscription.
  void declineOffer(const std::string& offerId,
                    std::optional<wire::Filters> filters = std::nullopt);
  void suppressOffers();
  void reviveOffers();
  // Publishes the framework's pending work (DEMAND), replacing what it
  // published before; policies that place tasks size offers to it and name
  // the task in Offer.task_key. Remembered and sent again on
  // re-subscription (with the waited_us given here).
  void publishDemand(wire::Demand demand);
  void killTask(const std::string& taskId, const std::string& agentId = {});
  // Explicit reconciliation of `tasks`, or implicit (all tasks) when empty.
  // Answers arrive as statusUpdate() calls whose uuid is empty.
  void reconcileTasks(const std::vector<wire::Reconcile::Task>& tasks = {});

  // The framework id ("" until the first SUBSCRIBED of a new framework).
  const std::string& frameworkId() const { return framework_.framework_id(); }
  const std::string& masterId() const { return masterId_; }
  bool subscribed() const { return state_ == State::kSubscribed; }
  // The master removed the framework (ERROR FRAMEWORK_REMOVED): for good.
  bool removed() const { return state_ == State::kRemoved; }
  // The loop, for the framework's own timers (loop thread only).
  EventLoop& loop() { return loop_; }

  // The messages that were dropped because the queue to the master was full
  // or no subscription was active (for tests and diagnostics).
  std::uint64_t droppedSends() const { return droppedSends_; }
  // Offers declined before the scheduler saw them, because it could not use
  // them (resources or attributes that do not parse, no offer or agent id).
  std::uint64_t declinedUnusableOffers() const { return declinedUnusable_; }

 private:
  enum class State { kIdle, kSubscribing, kSubscribed, kRemoved };

  void start();
  void connect();
  void sendSubscribe();
  void scheduleSubscribeRetry();
  void onReadable();
  void handle(const wire::Envelope& envelope);
  void onSubscribed(const wire::Envelope& envelope);
  void onUpdate(const wire::Envelope& envelope);
  void onError(const wire::Envelope& envelope);
  void onHeartbeatTimer();
  void lostMaster(const std::string& why, bool reconnect);
  void onLeader(const std::optional<MasterInfo>& leader);
  bool send(wire::MessageType type, const google::protobuf::MessageLite& body);
  void changeReservation(const std::vector<std::string>& offerIds, const std::string& resources,
                         std::optional<wire::Filters> filters, bool unreserve);
  bool sendIfSubscribed(wire::MessageType type, const google::protobuf::MessageLite& body);
  // Parses the payload; logs and returns false when it does not parse.
  bool decode(const wire::Envelope& envelope, google::protobuf::MessageLite& out) const;
  void rememberDelivered(const std::string& uuid);
  Duration masterTimeout() const;

  Scheduler& scheduler_;
  wire::FrameworkInfo framework_;
  std::string endpoint_;
  DriverOptions options_;
  EventLoop loop_;
  std::unique_ptr<zmq::context_t> context_;
  std::unique_ptr<DealerSocket> socket_;
  HandshakeLogFilter handshakeLog_;
  std::optional<ZkUrl> zk_;
  std::unique_ptr<MasterDetector> detector_;  // with a zk:// master, from start()
  std::string routingBase_;
  int connections_ = 0;

  State state_ = State::kIdle;
  bool everSubscribed_ = false;
  std::string masterId_;
  Duration heartbeatInterval_;
  TimePoint lastHeard_{};
  TimePoint subscribeStarted_{};
  bool suppressed_ = false;
  std::optional<wire::Demand> demand_;
  EventLoop::TimerId heartbeatTimer_ = 0;
  EventLoop::TimerId subscribeTimer_ = 0;
  Duration subscribeBackoff_{0};
  std::atomic<bool> teardown_{false};

  // Outstanding offers: offer id -> agent id, to fill TaskInfo.agent_id.
  std::map<std::string, std::string> offers_;
  // uuids delivered to the scheduler, oldest first in `deliveredOrder_`.
  std::unordered_set<std::string> delivered_;
  std::deque<std::string> deliveredOrder_;
  std::uint64_t droppedSends_ = 0;
  std::uint64_t declinedUnusable_ = 0;
};

}  // namespace allot::runtime
