#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <random>
#include <utility>

#include "allot/core/cluster.h"
#include "allot/core/error.h"
#include "allot/core/resources.h"
#include "allot/runtime/scheduler.h"
#include "allot/runtime/transport.h"

namespace allot::runtime {

namespace {

// FRAMEWORK_HEARTBEAT, SUPPRESS, REVIVE and TEARDOWN carry an empty payload;
// any message with no fields set serializes to nothing.
const wire::AgentHeartbeat kEmpty;

// A routing id unique per driver process and connection, so a new connection
// is never mistaken by the master's ROUTER for an older one still open.
std::string makeRoutingBase() {
  char host[64] = {};
  ::gethostname(host, sizeof host - 1);
  std::random_device random;
  return fmt::format("driver-{}-{}-{:08x}", host, ::getpid(), random());
}

// Why a scheduler could not use `offer`, or nullopt: the text fields a
// scheduler parses are checked here, once, at the network's edge.
std::optional<std::string> unusableOffer(const wire::Offer& offer) {
  if (offer.offer_id().empty()) return "it has no offer id";
  if (offer.agent_id().empty()) return "it has no agent id";
  try {
    Resources::parse(offer.resources());
  } catch (const Error& e) {
    return fmt::format("its resources '{}' do not parse: {}", offer.resources(), e.what());
  }
  try {
    Attributes::parse(offer.attributes());
  } catch (const Error& e) {
    return fmt::format("its attributes '{}' do not parse: {}", offer.attributes(), e.what());
  }
  return std::nullopt;
}

std::string describe(const wire::Envelope& envelope) {
  return fmt::format("{} #{} from '{}'", messageTypeName(envelope.type()), envelope.sequence(),
                     envelope.sender());
}

}  // namespace

SchedulerDriver::SchedulerDriver(Scheduler& scheduler, wire::FrameworkInfo framework,
                                 std::string_view master, const Clock& clock, DriverOptions options)
    : scheduler_(scheduler),
      framework_(std::move(framework)),
      endpoint_(ZkUrl::parse(master) ? std::string(kNoMasterEndpoint) : masterEndpoint(master)),
      options_(options),
      loop_(clock),
      routingBase_(makeRoutingBase()),
      heartbeatInterval_(options.heartbeatInterval) {
  if (framework_.role().empty()) framework_.set_role(std::string(kUnreservedRole));
  if (framework_.weight() <= 0) framework_.set_weight(1.0);
  if (heartbeatInterval_ <= Duration{0}) heartbeatInterval_ = std::chrono::seconds(1);
  zk_ = ZkUrl::parse(master);
}

SchedulerDriver::~SchedulerDriver() {
  detector_.reset();  // before the loop it delivers to
  if (socket_) unwatchDealer(loop_, *socket_);
}

Duration SchedulerDriver::masterTimeout() const {
  if (options_.masterTimeout > Duration{0}) return options_.masterTimeout;
  return std::max<Duration>(5 * heartbeatInterval_, std::chrono::seconds(2));
}

void SchedulerDriver::start() {
  if (state_ != State::kIdle) return;
  connect();
  state_ = State::kSubscribing;
  subscribeStarted_ = loop_.now();
  subscribeBackoff_ = options_.subscribeBackoffMin;
  heartbeatTimer_ = loop_.every(heartbeatInterval_, [this] { onHeartbeatTimer(); });
  sendSubscribe();
  if (zk_) {
    detector_ = std::make_unique<MasterDetector>(
        *zk_, options_.zkSessionTimeout, loop_,
        [this](const std::optional<MasterInfo>& leader) { onLeader(leader); });
  }
}

// A new leading master (ZooKeeper): subscribe to it at once, with this
// framework's id, as after a master restart.
void SchedulerDriver::onLeader(const std::optional<MasterInfo>& leader) {
  if (!leader) {
    spdlog::warn("driver: no master leads in ZooKeeper {}; waiting for one", zk_->text());
    return;
  }
  if (leader->endpoint == endpoint_ || state_ == State::kRemoved) return;
  spdlog::info("driver: the leading master is {} at {}",
               leader->id.empty() ? "unnamed" : leader->id, leader->endpoint);
  const std::string previous = std::exchange(endpoint_, leader->endpoint);
  if (state_ == State::kSubscribed) {
    lostMaster(fmt::format("{} no longer leads", previous), true);
    return;
  }
  connect();  // still subscribing (or the first leader seen): no loss to report
  subscribeStarted_ = loop_.now();
  subscribeBackoff_ = options_.subscribeBackoffMin;
  sendSubscribe();
}

void SchedulerDriver::connect() {
  if (!context_) context_ = std::make_unique<zmq::context_t>(1);
  if (socket_) unwatchDealer(loop_, *socket_);
  // A fresh socket drops whatever was queued for a master that went away.
  socket_ = std::make_unique<DealerSocket>(
      *context_, endpoint_, fmt::format("{}-{}", routingBase_, ++connections_), &options_.curve);
  watchDealer(
      loop_, *socket_, [this] { onReadable(); },
      [this](const HandshakeEvent& event) {
        handshakeLog_.log(event, socket_->secure(), "driver");
      });
  spdlog::debug("driver: connecting to {} (connection {})", endpoint_, connections_);
}

void SchedulerDriver::run() {
  start();
  loop_.run();
  loop_.cancel(heartbeatTimer_);
  loop_.cancel(subscribeTimer_);
  if (!socket_) return;
  if (teardown_ && !frameworkId().empty() && state_ != State::kRemoved) {
    spdlog::info("driver: tearing down framework {}", frameworkId());
    send(wire::TEARDOWN, kEmpty);
  }
  // Closing with linger 0 would discard the last acknowledgements and the
  // TEARDOWN; the context's destructor waits at most this long for them.
  socket_->socket().set(zmq::sockopt::linger, 500);
}

void SchedulerDriver::runOnce(Duration maxWait) {
  start();
  loop_.runOnce(maxWait);
}

void SchedulerDriver::stop(bool failover) {
  teardown_ = !failover;
  loop_.stop();
}

bool SchedulerDriver::send(wire::MessageType type, const google::protobuf::MessageLite& body) {
  if (socket_ && socket_->send(type, frameworkId(), body)) return true;
  ++droppedSends_;
  spdlog::warn(
      "driver: {} to the master dropped (no connection to the master takes it: not connected yet, "
      "or its queue is full)",
      messageTypeName(type));
  return false;
}

bool SchedulerDriver::sendIfSubscribed(wire::MessageType type,
                                       const google::protobuf::MessageLite& body) {
  if (state_ == State::kSubscribed) return send(type, body);
  ++droppedSends_;
  spdlog::warn("driver: {} not sent: not subscribed to a master (re-subscribing)",
               messageTypeName(type));
  return false;
}

void SchedulerDriver::sendSubscribe() {
  wire::Subscribe subscribe;
  *subscribe.mutable_framework() = framework_;
  spdlog::info("driver: subscribing to {} as {}", endpoint_,
               frameworkId().empty() ? std::string("a new framework") : frameworkId());
  send(wire::SUBSCRIBE, subscribe);
  loop_.cancel(subscribeTimer_);
  subscribeTimer_ = loop_.after(subscribeBackoff_, [this] {
    subscribeTimer_ = 0;
    if (state_ != State::kSubscribing) return;
    subscribeBackoff_ = std::min(2 * subscribeBackoff_, options_.subscribeBackoffMax);
    const TimePoint now = loop_.now();
    if (now - subscribeStarted_ > masterTimeout() && now - lastHeard_ > masterTimeout()) {
      // Silent for long: start over on a fresh connection rather than queue
      // more SUBSCRIBEs behind ones that may never leave.
      connect();
      subscribeStarted_ = now;
    }
    sendSubscribe();
  });
}

void SchedulerDriver::onReadable() {
  DealerSocket* socket = socket_.get();
  wire::Envelope envelope;
  auto onBad = [this](const WireError& error) {
    spdlog::warn("driver: dropped a frame from the master at {}: {}", endpoint_, error.message);
  };
  // A handler may replace the socket (reconnect) or stop the loop: drain
  // only while neither happened.
  while (socket == socket_.get() && !loop_.stopped() && socket->receive(envelope, onBad)) {
    handle(envelope);
  }
}

void SchedulerDriver::handle(const wire::Envelope& envelope) {
  lastHeard_ = loop_.now();
  if (!envelope.recipient().empty() && !frameworkId().empty() &&
      envelope.recipient() != frameworkId() && envelope.type() != wire::SUBSCRIBED) {
    spdlog::warn("driver: dropped {}: it is for '{}', this is '{}'", describe(envelope),
                 envelope.recipient(), frameworkId());
    return;
  }
  switch (envelope.type()) {
    case wire::SUBSCRIBED:
      onSubscribed(envelope);
      return;
    case wire::OFFERS: {
      wire::Offers offers;
      if (!decode(envelope, offers)) return;
      if (state_ != State::kSubscribed) {
        spdlog::debug("driver: ignored {} while not subscribed", describe(envelope));
        return;
      }
      std::vector<wire::Offer> list;
      list.reserve(static_cast<std::size_t>(offers.offers_size()));
      for (const wire::Offer& offer : offers.offers()) {
        if (auto problem = unusableOffer(offer)) {
          // Handed on, it would reach every scheduler's parser; declined, its
          // resources go back to the master instead of waiting out a rescind.
          spdlog::error("driver: declined offer '{}' on agent '{}' in {}: {}", offer.offer_id(),
                        offer.agent_id(), describe(envelope), *problem);
          ++declinedUnusable_;
          if (!offer.offer_id().empty()) declineOffer(offer.offer_id());
          continue;
        }
        offers_[offer.offer_id()] = offer.agent_id();
        list.push_back(offer);
      }
      if (!list.empty()) scheduler_.resourceOffers(*this, list);
      return;
    }
    case wire::RESCIND: {
      wire::Rescind rescind;
      if (!decode(envelope, rescind)) return;
      offers_.erase(rescind.offer_id());
      scheduler_.offerRescinded(*this, rescind.offer_id());
      return;
    }
    case wire::UPDATE:
      onUpdate(envelope);
      return;
    case wire::ERROR:
      onError(envelope);
      return;
    case wire::FRAMEWORK_HEARTBEAT_ACK:
      return;  // lastHeard_ is all it is for
    default:
      spdlog::warn("driver: dropped {}: not a message for a framework", describe(envelope));
      return;
  }
}

bool SchedulerDriver::decode(const wire::Envelope& envelope,
                             google::protobuf::MessageLite& out) const {
  if (auto error = decodePayload(envelope, out)) {
    spdlog::warn("driver: dropped {}: {}", describe(envelope), error->message);
    return false;
  }
  return true;
}

void SchedulerDriver::onSubscribed(const wire::Envelope& envelope) {
  wire::Subscribed subscribed;
  if (!decode(envelope, subscribed)) return;
  if (subscribed.framework_id().empty()) {
    spdlog::warn("driver: dropped {}: no framework id", describe(envelope));
    return;
  }
  if (state_ == State::kSubscribed && subscribed.master_id() == masterId_ &&
      subscribed.framework_id() == frameworkId()) {
    // The answer to a SUBSCRIBE resent while the first was in flight.
    spdlog::debug("driver: repeated SUBSCRIBED ignored");
    return;
  }
  framework_.set_framework_id(subscribed.framework_id());
  masterId_ = subscribed.master_id();
  state_ = State::kSubscribed;
  lastHeard_ = loop_.now();
  offers_.clear();
  loop_.cancel(subscribeTimer_);
  subscribeTimer_ = 0;
  Duration interval = subscribed.heartbeat_interval_us() > 0
                          ? Duration{subscribed.heartbeat_interval_us()}
                          : options_.heartbeatInterval;
  if (interval <= Duration{0}) interval = std::chrono::seconds(1);
  if (interval != heartbeatInterval_ || heartbeatTimer_ == 0) {
    heartbeatInterval_ = interval;
    loop_.cancel(heartbeatTimer_);
    heartbeatTimer_ = loop_.every(heartbeatInterval_, [this] { onHeartbeatTimer(); });
  }
  // A new subscription starts unsuppressed at the master; keep the
  // framework's choice.
  if (suppressed_) send(wire::SUPPRESS, kEmpty);
  if (demand_) send(wire::DEMAND, *demand_);
  spdlog::info("driver: subscribed as {} to master {}", frameworkId(), masterId_);
  if (!everSubscribed_) {
    everSubscribed_ = true;
    scheduler_.registered(*this, frameworkId(), masterId_);
  } else {
    scheduler_.reregistered(*this, masterId_);
  }
}

void SchedulerDriver::onUpdate(const wire::Envelope& envelope) {
  wire::Update update;
  if (!decode(envelope, update)) return;
  const wire::TaskStatus& status = update.status();
  const std::string& uuid = status.uuid();
  if (uuid.empty()) {
    // Reconciliation answers need no acknowledgement.
    scheduler_.statusUpdate(*this, status);
    return;
  }
  if (delivered_.contains(uuid)) {
    spdlog::debug("driver: update of task {} ({}) seen before: acknowledged again",
                  status.task_id(), taskStateName(status.state()));
  } else {
    scheduler_.statusUpdate(*this, status);
    rememberDelivered(uuid);
  }
  wire::Acknowledge ack;
  ack.set_agent_id(status.agent_id());
  ack.set_task_id(status.task_id());
  ack.set_uuid(uuid);
  send(wire::ACKNOWLEDGE, ack);
}

void SchedulerDriver::rememberDelivered(const std::string& uuid) {
  delivered_.insert(uuid);
  deliveredOrder_.push_back(uuid);
  while (deliveredOrder_.size() > std::max<std::size_t>(options_.rememberedUpdates, 1)) {
    delivered_.erase(deliveredOrder_.front());
    deliveredOrder_.pop_front();
  }
}

void SchedulerDriver::onError(const wire::Envelope& envelope) {
  wire::Error error;
  if (!decode(envelope, error)) return;
  if (state_ == State::kRemoved) return;
  if (error.code() == wire::Error::FRAMEWORK_REMOVED) {
    // For good: subscribing again would be refused the same way.
    spdlog::error("driver: the master removed framework {}: {}", frameworkId(), error.message());
    state_ = State::kRemoved;
    offers_.clear();
    loop_.cancel(subscribeTimer_);
    subscribeTimer_ = 0;
    scheduler_.error(*this, fmt::format("FRAMEWORK_REMOVED: {}", error.message()));
    return;
  }
  if (error.code() == wire::Error::NOT_REGISTERED) {
    // While subscribing, these answer messages sent before the SUBSCRIBE; the
    // retry timer is already at work.
    if (state_ == State::kSubscribed) {
      lostMaster(fmt::format("the master does not know this framework ({})", error.message()),
                 false);
    }
    return;
  }
  std::string text = fmt::format("{}: {}", wire::Error::Code_Name(error.code()), error.message());
  if (error.about() != wire::MESSAGE_TYPE_UNSPECIFIED) {
    text += fmt::format(" (about {} #{})", messageTypeName(error.about()), error.about_sequence());
  }
  spdlog::warn("driver: the master refused a message: {}", text);
  scheduler_.error(*this, text);
}

void SchedulerDriver::onHeartbeatTimer() {
  if (state_ != State::kSubscribed) return;
  if (loop_.now() - lastHeard_ > masterTimeout()) {
    lostMaster(
        fmt::format("no message from the master for {:.1f} s", toSeconds(loop_.now() - lastHeard_)),
        true);
    return;
  }
  send(wire::FRAMEWORK_HEARTBEAT, kEmpty);
}

void SchedulerDriver::lostMaster(const std::string& why, bool reconnect) {
  spdlog::warn("driver: lost the master: {}; re-subscribing to {}", why, endpoint_);
  state_ = State::kSubscribing;
  offers_.clear();
  if (reconnect) connect();
  subscribeStarted_ = loop_.now();
  subscribeBackoff_ = options_.subscribeBackoffMin;
  sendSubscribe();
  scheduler_.disconnected(*this);
}

void SchedulerDriver::launchTasks(const std::vector<std::string>& offerIds,
                                  const std::vector<wire::TaskInfo>& tasks,
                                  std::optional<wire::Filters> filters) {
  if (state_ != State::kSubscribed) {
    // As Mesos' driver does: the framework hears of the launch it could not
    // send as lost tasks, instead of waiting forever.
    for (const wire::TaskInfo& task : tasks) {
      wire::TaskStatus status;
      status.set_task_id(task.task_id());
      status.set_framework_id(frameworkId());
      status.set_agent_id(task.agent_id());
      status.set_state(wire::TASK_LOST);
      status.set_message("the launch was not sent: the driver is not subscribed to a master");
      status.set_reason("DRIVER_NOT_SUBSCRIBED");
      status.set_timestamp_us(toMicros(loop_.now()));
      loop_.after(Duration{0}, [this, status] { scheduler_.statusUpdate(*this, status); });
    }
    ++droppedSends_;
    spdlog::warn("driver: launch of {} task(s) not sent: not subscribed", tasks.size());
    return;
  }
  wire::Accept accept;
  std::string agent;
  for (const std::string& id : offerIds) {
    accept.add_offer_ids(id);
    auto it = offers_.find(id);
    if (it != offers_.end()) {
      if (agent.empty()) agent = it->second;
      offers_.erase(it);
    }
  }
  for (const wire::TaskInfo& task : tasks) {
    wire::TaskInfo* added = accept.add_tasks();
    *added = task;
    if (added->agent_id().empty()) added->set_agent_id(agent);
  }
  if (filters) *accept.mutable_filters() = *filters;
  send(wire::ACCEPT, accept);
}

void SchedulerDriver::reserveResources(const std::vector<std::string>& offerIds,
                                       const std::string& resources,
                                       std::optional<wire::Filters> filters) {
  changeReservation(offerIds, resources, std::move(filters), /*unreserve=*/false);
}

void SchedulerDriver::unreserveResources(const std::vector<std::string>& offerIds,
                                         const std::string& resources,
                                         std::optional<wire::Filters> filters) {
  changeReservation(offerIds, resources, std::move(filters), /*unreserve=*/true);
}

void SchedulerDriver::changeReservation(const std::vector<std::string>& offerIds,
                                        const std::string& resources,
                                        std::optional<wire::Filters> filters, bool unreserve) {
  wire::Accept accept;
  for (const std::string& id : offerIds) {
    accept.add_offer_ids(id);
    offers_.erase(id);
  }
  if (unreserve) {
    accept.add_unreserve(resources);
  } else {
    accept.add_reserve(resources);
  }
  if (filters) *accept.mutable_filters() = *filters;
  sendIfSubscribed(wire::ACCEPT, accept);
}

void SchedulerDriver::declineOffer(const std::string& offerId,
                                   std::optional<wire::Filters> filters) {
  offers_.erase(offerId);
  wire::Decline decline;
  decline.add_offer_ids(offerId);
  if (filters) *decline.mutable_filters() = *filters;
  sendIfSubscribed(wire::DECLINE, decline);
}

void SchedulerDriver::suppressOffers() {
  suppressed_ = true;
  sendIfSubscribed(wire::SUPPRESS, kEmpty);
}

void SchedulerDriver::publishDemand(wire::Demand demand) {
  demand_ = std::move(demand);
  sendIfSubscribed(wire::DEMAND, *demand_);
}

void SchedulerDriver::reviveOffers() {
  suppressed_ = false;
  sendIfSubscribed(wire::REVIVE, kEmpty);
}

void SchedulerDriver::killTask(const std::string& taskId, const std::string& agentId) {
  wire::Kill kill;
  kill.set_task_id(taskId);
  kill.set_agent_id(agentId);
  sendIfSubscribed(wire::KILL, kill);
}

void SchedulerDriver::reconcileTasks(const std::vector<wire::Reconcile::Task>& tasks) {
  wire::Reconcile reconcile;
  for (const auto& task : tasks) *reconcile.add_tasks() = task;
  sendIfSubscribed(wire::RECONCILE, reconcile);
}

}  // namespace allot::runtime
