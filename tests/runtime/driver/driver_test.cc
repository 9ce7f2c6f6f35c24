// The scheduler driver against a real ZeroMQ ROUTER that plays the master
// (over loopback). The test drives the driver's loop itself (runOnce) with a
// ManualClock, so timers fire only when the test advances time; waiting for
// a message is bounded polling.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "allot/runtime/scheduler.h"
#include "allot/runtime/transport.h"

namespace allot::runtime {
namespace {

using namespace std::chrono_literals;

// Records every callback; optional hooks act inside them.
class RecordingScheduler : public Scheduler {
 public:
  void registered(SchedulerDriver&, const std::string& frameworkId,
                  const std::string& masterId) override {
    registrations.emplace_back(frameworkId, masterId);
  }
  void reregistered(SchedulerDriver&, const std::string& masterId) override {
    reregistrations.push_back(masterId);
  }
  void disconnected(SchedulerDriver&) override { ++disconnections; }
  void resourceOffers(SchedulerDriver& driver, const std::vector<wire::Offer>& offers) override {
    offerBatches.push_back(offers);
    if (onOffers) onOffers(driver, offers);
  }
  void offerRescinded(SchedulerDriver&, const std::string& offerId) override {
    rescinded.push_back(offerId);
  }
  void statusUpdate(SchedulerDriver&, const wire::TaskStatus& status) override {
    updates.push_back(status);
  }
  void error(SchedulerDriver&, const std::string& message) override { errors.push_back(message); }

  std::vector<std::pair<std::string, std::string>> registrations;
  std::vector<std::string> reregistrations;
  int disconnections = 0;
  std::vector<std::vector<wire::Offer>> offerBatches;
  std::vector<std::string> rescinded;
  std::vector<wire::TaskStatus> updates;
  std::vector<std::string> errors;
  std::function<void(SchedulerDriver&, const std::vector<wire::Offer>&)> onOffers;
};

class DriverTest : public ::testing::Test {
 protected:
  DriverTest() : master_(context_, "tcp://127.0.0.1:*") {}

  // Creates the driver (not yet started) for `info`.
  void makeDriver(wire::FrameworkInfo info = defaultInfo(), DriverOptions options = {}) {
    driver_ = std::make_unique<SchedulerDriver>(scheduler_, std::move(info), master_.endpoint(),
                                                clock_, options);
  }

  static wire::FrameworkInfo defaultInfo() {
    wire::FrameworkInfo info;
    info.set_name("test-framework");
    info.set_role("analytics");
    info.set_failover_timeout_us(30'000'000);
    return info;
  }

  // One driver iteration, then everything the master has received goes to
  // inbox_.
  void pump() {
    driver_->runOnce(5ms);
    Incoming in;
    while (master_.receive(in, [](const std::string&, const WireError& e) {
      ADD_FAILURE() << "the driver sent a bad frame: " << e.message;
    })) {
      inbox_.push_back(in);
    }
  }

  // Pumps until the master holds a message of `type` (taken out of the
  // inbox), for at most ~2 s of real time.
  std::optional<Incoming> next(wire::MessageType type) {
    for (int i = 0; i < 400; ++i) {
      for (auto it = inbox_.begin(); it != inbox_.end(); ++it) {
        if (it->envelope.type() == type) {
          Incoming found = *it;
          inbox_.erase(it);
          return found;
        }
      }
      pump();
    }
    return std::nullopt;
  }

  // Pumps until `done` holds, for at most ~2 s of real time.
  bool pumpUntil(const std::function<bool()>& done) {
    for (int i = 0; i < 400 && !done(); ++i) pump();
    return done();
  }

  int count(wire::MessageType type) const {
    int n = 0;
    for (const Incoming& in : inbox_) n += in.envelope.type() == type ? 1 : 0;
    return n;
  }

  void reply(wire::MessageType type, const google::protobuf::MessageLite& body) {
    ASSERT_TRUE(master_.send(routingId_, type, "master", body, frameworkId_));
  }

  // Starts the driver and completes the subscription as master `masterId`.
  void subscribe(const std::string& masterId = "m1", std::int64_t heartbeatUs = 100'000) {
    auto sub = next(wire::SUBSCRIBE);
    ASSERT_TRUE(sub.has_value()) << "no SUBSCRIBE from the driver";
    routingId_ = sub->routingId;
    wire::Subscribed subscribed;
    subscribed.set_framework_id(frameworkId_);
    subscribed.set_master_id(masterId);
    subscribed.set_heartbeat_interval_us(heartbeatUs);
    reply(wire::SUBSCRIBED, subscribed);
    ASSERT_TRUE(pumpUntil([&] { return driver_->subscribed(); }));
  }

  static wire::Update update(const std::string& taskId, wire::TaskState state,
                             const std::string& uuid) {
    wire::Update u;
    u.mutable_status()->set_task_id(taskId);
    u.mutable_status()->set_framework_id("m1-F1");
    u.mutable_status()->set_agent_id("m1-S1");
    u.mutable_status()->set_state(state);
    u.mutable_status()->set_uuid(uuid);
    return u;
  }

  zmq::context_t context_{1};
  RouterSocket master_;
  ManualClock clock_;
  RecordingScheduler scheduler_;
  std::unique_ptr<SchedulerDriver> driver_;
  std::vector<Incoming> inbox_;
  std::string routingId_;
  std::string frameworkId_ = "m1-F1";
};

// A new framework subscribes with its FrameworkInfo and an empty id, and is
// told registered() once with the id and master id from SUBSCRIBED.
TEST_F(DriverTest, SubscribesAsNewFrameworkAndReportsRegistered) {
  makeDriver();
  auto sub = next(wire::SUBSCRIBE);
  ASSERT_TRUE(sub.has_value());
  wire::Subscribe msg;
  ASSERT_FALSE(decodePayload(sub->envelope, msg).has_value());
  EXPECT_EQ(msg.framework().framework_id(), "");
  EXPECT_EQ(msg.framework().name(), "test-framework");
  EXPECT_EQ(msg.framework().role(), "analytics");
  EXPECT_EQ(msg.framework().failover_timeout_us(), 30'000'000);
  routingId_ = sub->routingId;
  wire::Subscribed subscribed;
  subscribed.set_framework_id("m1-F1");
  subscribed.set_master_id("m1");
  subscribed.set_heartbeat_interval_us(100'000);
  reply(wire::SUBSCRIBED, subscribed);
  ASSERT_TRUE(pumpUntil([&] { return !scheduler_.registrations.empty(); }));
  EXPECT_EQ(scheduler_.registrations.size(), 1u);
  EXPECT_EQ(scheduler_.registrations[0].first, "m1-F1");
  EXPECT_EQ(scheduler_.registrations[0].second, "m1");
  EXPECT_EQ(driver_->frameworkId(), "m1-F1");
  EXPECT_TRUE(driver_->subscribed());
}

// A driver given a framework id (failover) subscribes with that id, in the
// payload and as the envelope's sender.
TEST_F(DriverTest, FailoverSubscribesWithTheGivenId) {
  wire::FrameworkInfo info = defaultInfo();
  info.set_framework_id("m0-F7");
  makeDriver(info);
  auto sub = next(wire::SUBSCRIBE);
  ASSERT_TRUE(sub.has_value());
  wire::Subscribe msg;
  ASSERT_FALSE(decodePayload(sub->envelope, msg).has_value());
  EXPECT_EQ(msg.framework().framework_id(), "m0-F7");
  EXPECT_EQ(sub->envelope.sender(), "m0-F7");
}

// SUBSCRIBE is resent (with backoff) until the master answers.
TEST_F(DriverTest, ResendsSubscribeUntilAnswered) {
  makeDriver();
  ASSERT_TRUE(next(wire::SUBSCRIBE).has_value());
  pump();
  EXPECT_EQ(count(wire::SUBSCRIBE), 0);
  clock_.advance(100ms);  // DriverOptions::subscribeBackoffMin
  ASSERT_TRUE(next(wire::SUBSCRIBE).has_value());
  clock_.advance(150ms);  // the backoff doubled to 200 ms: not yet
  pump();
  EXPECT_EQ(count(wire::SUBSCRIBE), 0);
  clock_.advance(50ms);
  EXPECT_TRUE(next(wire::SUBSCRIBE).has_value());
}

// Offers reach resourceOffers(); a launch from the callback becomes an
// ACCEPT with the offer ids, the tasks (agent id filled in from the offer)
// and the filters; a decline without filters carries none (master default).
TEST_F(DriverTest, OffersAreDeliveredAndLaunchCarriesTheTasks) {
  makeDriver();
  subscribe();
  scheduler_.onOffers = [](SchedulerDriver& driver, const std::vector<wire::Offer>& offers) {
    wire::TaskInfo task;
    task.set_task_id("t1");
    task.set_name("sleeper");
    task.set_resources("cpus:1;mem:128");
    task.set_command("sleep 1");
    wire::Filters filters;
    filters.set_refuse_seconds(2);
    driver.launchTasks({offers[0].offer_id()}, {task}, filters);
    driver.declineOffer(offers[1].offer_id());
  };
  wire::Offers offers;
  for (int i = 1; i <= 2; ++i) {
    wire::Offer* offer = offers.add_offers();
    offer->set_offer_id("o" + std::to_string(i));
    offer->set_framework_id(frameworkId_);
    offer->set_agent_id("m1-S" + std::to_string(i));
    offer->set_resources("cpus:4;mem:4096");
  }
  reply(wire::OFFERS, offers);

  auto accept = next(wire::ACCEPT);
  ASSERT_TRUE(accept.has_value());
  ASSERT_EQ(scheduler_.offerBatches.size(), 1u);
  EXPECT_EQ(scheduler_.offerBatches[0].size(), 2u);
  EXPECT_EQ(accept->envelope.sender(), frameworkId_);
  wire::Accept msg;
  ASSERT_FALSE(decodePayload(accept->envelope, msg).has_value());
  ASSERT_EQ(msg.offer_ids_size(), 1);
  EXPECT_EQ(msg.offer_ids(0), "o1");
  ASSERT_EQ(msg.tasks_size(), 1);
  EXPECT_EQ(msg.tasks(0).task_id(), "t1");
  EXPECT_EQ(msg.tasks(0).agent_id(), "m1-S1");
  EXPECT_EQ(msg.tasks(0).resources(), "cpus:1;mem:128");
  EXPECT_EQ(msg.tasks(0).command(), "sleep 1");
  ASSERT_TRUE(msg.has_filters());
  EXPECT_EQ(msg.filters().refuse_seconds(), 2);

  auto decline = next(wire::DECLINE);
  ASSERT_TRUE(decline.has_value());
  wire::Decline declined;
  ASSERT_FALSE(decodePayload(decline->envelope, declined).has_value());
  ASSERT_EQ(declined.offer_ids_size(), 1);
  EXPECT_EQ(declined.offer_ids(0), "o2");
  EXPECT_FALSE(declined.has_filters());
}

// Offers a scheduler could not read (resources or attributes that do not
// parse, no agent id) are declined by the driver, each in a DECLINE of its
// own; the scheduler gets the others only, and the driver goes on.
TEST_F(DriverTest, UnusableOffersAreDeclinedBeforeTheSchedulerSeesThem) {
  makeDriver();
  subscribe();
  struct Shape {
    std::string id, agent, resources, attributes;
  };
  const std::vector<Shape> shapes = {
      {"good", "m1-S1", "cpus:4;mem:4096", "rack:r1"},
      {"bad-resources", "m1-S2", "cpus:lots", ""},
      {"negative", "m1-S3", "cpus:-2", ""},
      {"bad-attributes", "m1-S4", "cpus:1", "rack"},
      {"no-agent", "", "cpus:1", ""},
      {"", "m1-S5", "cpus:1", ""},
  };
  wire::Offers offers;
  for (const Shape& shape : shapes) {
    wire::Offer* offer = offers.add_offers();
    offer->set_offer_id(shape.id);
    offer->set_framework_id(frameworkId_);
    offer->set_agent_id(shape.agent);
    offer->set_resources(shape.resources);
    offer->set_attributes(shape.attributes);
  }
  reply(wire::OFFERS, offers);

  std::vector<std::string> declined;
  for (int i = 0; i < 4; ++i) {
    auto decline = next(wire::DECLINE);
    ASSERT_TRUE(decline.has_value()) << "only " << i << " DECLINEs";
    wire::Decline msg;
    ASSERT_FALSE(decodePayload(decline->envelope, msg).has_value());
    ASSERT_EQ(msg.offer_ids_size(), 1);
    declined.push_back(msg.offer_ids(0));
  }
  EXPECT_EQ(declined,
            (std::vector<std::string>{"bad-resources", "negative", "bad-attributes", "no-agent"}));
  ASSERT_EQ(scheduler_.offerBatches.size(), 1u);
  ASSERT_EQ(scheduler_.offerBatches[0].size(), 1u);
  EXPECT_EQ(scheduler_.offerBatches[0][0].offer_id(), "good");
  EXPECT_EQ(driver_->declinedUnusableOffers(), 5u);

  // The driver still serves: a launch on the good offer goes out.
  wire::TaskInfo task;
  task.set_task_id("t1");
  task.set_resources("cpus:1");
  task.set_command("true");
  driver_->launchTasks({"good"}, {task});
  auto accept = next(wire::ACCEPT);
  ASSERT_TRUE(accept.has_value());
  wire::Accept msg;
  ASSERT_FALSE(decodePayload(accept->envelope, msg).has_value());
  ASSERT_EQ(msg.tasks_size(), 1);
  EXPECT_EQ(msg.tasks(0).agent_id(), "m1-S1");
  EXPECT_EQ(count(wire::DECLINE), 0);
}

// reserveResources and unreserveResources send ACCEPT with the change and
// no tasks.
TEST_F(DriverTest, ReservationChangesTravelInAccept) {
  makeDriver();
  subscribe();
  scheduler_.onOffers = [](SchedulerDriver& driver, const std::vector<wire::Offer>& offers) {
    driver.reserveResources({offers[0].offer_id()}, "cpus(web):2");
    wire::Filters filters;
    filters.set_refuse_seconds(7);
    driver.unreserveResources({offers[1].offer_id()}, "mem(web):64", filters);
  };
  wire::Offers offers;
  for (int i = 1; i <= 2; ++i) {
    wire::Offer* offer = offers.add_offers();
    offer->set_offer_id("o" + std::to_string(i));
    offer->set_framework_id(frameworkId_);
    offer->set_agent_id("m1-S1");
    offer->set_resources("cpus:4;mem(web):128");
  }
  reply(wire::OFFERS, offers);
  for (const bool unreserve : {false, true}) {
    auto accept = next(wire::ACCEPT);
    ASSERT_TRUE(accept.has_value());
    wire::Accept msg;
    ASSERT_FALSE(decodePayload(accept->envelope, msg).has_value());
    ASSERT_EQ(msg.offer_ids_size(), 1);
    EXPECT_EQ(msg.offer_ids(0), unreserve ? "o2" : "o1");
    EXPECT_EQ(msg.tasks_size(), 0);
    const auto& changes = unreserve ? msg.unreserve() : msg.reserve();
    const auto& others = unreserve ? msg.reserve() : msg.unreserve();
    ASSERT_EQ(changes.size(), 1);
    EXPECT_EQ(changes[0], unreserve ? "mem(web):64" : "cpus(web):2");
    EXPECT_TRUE(others.empty());
    EXPECT_EQ(msg.has_filters(), unreserve);
  }
}

// A rescinded offer reaches offerRescinded().
TEST_F(DriverTest, RescindReachesTheScheduler) {
  makeDriver();
  subscribe();
  wire::Rescind rescind;
  rescind.set_offer_id("o9");
  reply(wire::RESCIND, rescind);
  ASSERT_TRUE(pumpUntil([&] { return !scheduler_.rescinded.empty(); }));
  EXPECT_EQ(scheduler_.rescinded[0], "o9");
}

// A status update sent twice with one uuid is delivered once and
// acknowledged both times, with the task, agent and uuid of the update.
TEST_F(DriverTest, StatusUpdateIsDeliveredOnceAndAcknowledgedEachTime) {
  makeDriver();
  subscribe();
  reply(wire::UPDATE, update("t1", wire::TASK_RUNNING, "uuid-1"));
  auto first = next(wire::ACKNOWLEDGE);
  ASSERT_TRUE(first.has_value());
  reply(wire::UPDATE, update("t1", wire::TASK_RUNNING, "uuid-1"));
  auto second = next(wire::ACKNOWLEDGE);
  ASSERT_TRUE(second.has_value());
  for (const Incoming* in : {&*first, &*second}) {
    wire::Acknowledge ack;
    ASSERT_FALSE(decodePayload(in->envelope, ack).has_value());
    EXPECT_EQ(ack.task_id(), "t1");
    EXPECT_EQ(ack.agent_id(), "m1-S1");
    EXPECT_EQ(ack.uuid(), "uuid-1");
  }
  ASSERT_EQ(scheduler_.updates.size(), 1u);
  EXPECT_EQ(scheduler_.updates[0].state(), wire::TASK_RUNNING);

  // Another uuid of the same task is a new update.
  reply(wire::UPDATE, update("t1", wire::TASK_FINISHED, "uuid-2"));
  ASSERT_TRUE(next(wire::ACKNOWLEDGE).has_value());
  ASSERT_EQ(scheduler_.updates.size(), 2u);
  EXPECT_EQ(scheduler_.updates[1].state(), wire::TASK_FINISHED);
}

// The uuids remembered for deduplication are bounded: past
// DriverOptions::rememberedUpdates the oldest is forgotten (and a repeat of it
// would be delivered again).
TEST_F(DriverTest, RemembersABoundedNumberOfUuids) {
  DriverOptions options;
  options.rememberedUpdates = 2;
  makeDriver(defaultInfo(), options);
  subscribe();
  for (const char* uuid : {"u1", "u2", "u2", "u3", "u2", "u1"}) {
    reply(wire::UPDATE, update("t1", wire::TASK_RUNNING, uuid));
    ASSERT_TRUE(next(wire::ACKNOWLEDGE).has_value());
  }
  std::vector<std::string> delivered;
  for (const auto& status : scheduler_.updates) delivered.push_back(status.uuid());
  EXPECT_EQ(delivered, (std::vector<std::string>{"u1", "u2", "u3", "u1"}));
}

// reconcileTasks() sends RECONCILE with the listed tasks; an answer without
// uuid is delivered (every time) and not acknowledged.
TEST_F(DriverTest, ReconciliationAnswersAreDeliveredWithoutAcknowledgement) {
  makeDriver();
  subscribe();
  wire::Reconcile::Task task;
  task.set_task_id("t1");
  task.set_agent_id("m1-S1");
  driver_->reconcileTasks({task});
  auto reconcile = next(wire::RECONCILE);
  ASSERT_TRUE(reconcile.has_value());
  wire::Reconcile msg;
  ASSERT_FALSE(decodePayload(reconcile->envelope, msg).has_value());
  ASSERT_EQ(msg.tasks_size(), 1);
  EXPECT_EQ(msg.tasks(0).task_id(), "t1");

  reply(wire::UPDATE, update("t1", wire::TASK_RUNNING, ""));
  reply(wire::UPDATE, update("t1", wire::TASK_RUNNING, ""));
  ASSERT_TRUE(pumpUntil([&] { return scheduler_.updates.size() == 2; }));
  for (int i = 0; i < 20; ++i) pump();
  EXPECT_EQ(count(wire::ACKNOWLEDGE), 0);
}

// After NOT_REGISTERED (a restarted master) the driver reports disconnected,
// re-subscribes with its framework id, reports reregistered() with the new
// master id, and restores its suppression.
TEST_F(DriverTest, ResubscribesWithTheSameIdAfterNotRegistered) {
  makeDriver();
  subscribe("m1");
  driver_->suppressOffers();
  ASSERT_TRUE(next(wire::SUPPRESS).has_value());

  wire::Error error;
  error.set_code(wire::Error::NOT_REGISTERED);
  error.set_message("unknown framework m1-F1");
  reply(wire::ERROR, error);
  auto sub = next(wire::SUBSCRIBE);
  ASSERT_TRUE(sub.has_value());
  EXPECT_EQ(scheduler_.disconnections, 1);
  EXPECT_FALSE(driver_->subscribed());
  wire::Subscribe msg;
  ASSERT_FALSE(decodePayload(sub->envelope, msg).has_value());
  EXPECT_EQ(msg.framework().framework_id(), "m1-F1");
  EXPECT_TRUE(scheduler_.errors.empty());

  wire::Subscribed subscribed;
  subscribed.set_framework_id("m1-F1");
  subscribed.set_master_id("m2");
  subscribed.set_heartbeat_interval_us(100'000);
  routingId_ = sub->routingId;
  reply(wire::SUBSCRIBED, subscribed);
  ASSERT_TRUE(pumpUntil([&] { return !scheduler_.reregistrations.empty(); }));
  EXPECT_EQ(scheduler_.reregistrations[0], "m2");
  EXPECT_EQ(scheduler_.registrations.size(), 1u);
  EXPECT_EQ(driver_->masterId(), "m2");
  EXPECT_TRUE(next(wire::SUPPRESS).has_value());
}

// Published demand goes to the master, and again to a master the driver
// re-subscribes with (a restarted master knows nothing of it).
TEST_F(DriverTest, DemandIsPublishedAndRestoredOnResubscription) {
  makeDriver();
  subscribe("m1");
  wire::Demand demand;
  wire::Demand::Task* t = demand.add_tasks();
  t->set_resources("cpus:1;mem:64");
  t->set_count(3);
  t->set_key(42);
  driver_->publishDemand(demand);
  auto sent = next(wire::DEMAND);
  ASSERT_TRUE(sent.has_value());
  wire::Demand got;
  ASSERT_FALSE(decodePayload(sent->envelope, got).has_value());
  ASSERT_EQ(got.tasks_size(), 1);
  EXPECT_EQ(got.tasks(0).key(), 42u);

  wire::Error error;
  error.set_code(wire::Error::NOT_REGISTERED);
  reply(wire::ERROR, error);
  auto sub = next(wire::SUBSCRIBE);
  ASSERT_TRUE(sub.has_value());
  wire::Subscribed subscribed;
  subscribed.set_framework_id("m1-F1");
  subscribed.set_master_id("m2");
  routingId_ = sub->routingId;
  reply(wire::SUBSCRIBED, subscribed);
  auto again = next(wire::DEMAND);
  ASSERT_TRUE(again.has_value());
  ASSERT_FALSE(decodePayload(again->envelope, got).has_value());
  EXPECT_EQ(got.tasks(0).count(), 3u);
}

// Heartbeats go out at the interval SUBSCRIBED announced, not before.
TEST_F(DriverTest, HeartbeatsAtTheAnnouncedInterval) {
  makeDriver();
  subscribe("m1", 200'000);
  for (int i = 0; i < 10; ++i) pump();
  EXPECT_EQ(count(wire::FRAMEWORK_HEARTBEAT), 0);
  clock_.advance(200ms);
  ASSERT_TRUE(next(wire::FRAMEWORK_HEARTBEAT).has_value());
  reply(wire::FRAMEWORK_HEARTBEAT_ACK, wire::AgentHeartbeat{});
  clock_.advance(200ms);
  ASSERT_TRUE(next(wire::FRAMEWORK_HEARTBEAT).has_value());
  EXPECT_EQ(scheduler_.disconnections, 0);
}

// A master silent past the master timeout (here 2 s: 5 heartbeats of 100 ms,
// at least 2 s) is presumed lost: disconnected(), and SUBSCRIBE again on a
// fresh connection (another routing id).
TEST_F(DriverTest, SilentMasterTriggersResubscriptionOnANewConnection) {
  makeDriver();
  subscribe("m1", 100'000);
  const std::string firstRoute = routingId_;
  for (int i = 0; i < 20; ++i) {
    clock_.advance(100ms);
    pump();
  }
  EXPECT_EQ(scheduler_.disconnections, 0);
  clock_.advance(100ms);
  auto sub = next(wire::SUBSCRIBE);
  ASSERT_TRUE(sub.has_value());
  EXPECT_EQ(scheduler_.disconnections, 1);
  EXPECT_NE(sub->routingId, firstRoute);
  wire::Subscribe msg;
  ASSERT_FALSE(decodePayload(sub->envelope, msg).has_value());
  EXPECT_EQ(msg.framework().framework_id(), "m1-F1");
}

// An ERROR other than NOT_REGISTERED reaches error() with its code and text;
// the driver stays subscribed.
TEST_F(DriverTest, RefusalsReachTheSchedulerAndTheDriverGoesOn) {
  makeDriver();
  subscribe();
  wire::Error error;
  error.set_code(wire::Error::INVALID);
  error.set_message("offer o7 is unknown");
  error.set_about(wire::ACCEPT);
  reply(wire::ERROR, error);
  ASSERT_TRUE(pumpUntil([&] { return !scheduler_.errors.empty(); }));
  EXPECT_NE(scheduler_.errors[0].find("INVALID"), std::string::npos);
  EXPECT_NE(scheduler_.errors[0].find("offer o7 is unknown"), std::string::npos);
  EXPECT_NE(scheduler_.errors[0].find("ACCEPT"), std::string::npos);
  EXPECT_TRUE(driver_->subscribed());
}

// FRAMEWORK_REMOVED (an operator's teardown) is for good: error() hears it
// once, removed() holds, and the driver neither heartbeats nor subscribes
// again, however long the master stays silent; a later ERROR changes nothing.
TEST_F(DriverTest, RemovedFrameworkStopsForGood) {
  makeDriver();
  subscribe("m1", 100'000);
  wire::Error error;
  error.set_code(wire::Error::FRAMEWORK_REMOVED);
  error.set_message("framework 'm1-F1' was torn down by an operator");
  reply(wire::ERROR, error);
  ASSERT_TRUE(pumpUntil([&] { return !scheduler_.errors.empty(); }));
  EXPECT_EQ(scheduler_.errors[0],
            "FRAMEWORK_REMOVED: framework 'm1-F1' was torn down by an operator");
  EXPECT_TRUE(driver_->removed());
  EXPECT_FALSE(driver_->subscribed());
  error.set_code(wire::Error::NOT_REGISTERED);
  reply(wire::ERROR, error);
  inbox_.clear();
  for (int i = 0; i < 50; ++i) {  // 5 s, past the 2 s master timeout
    clock_.advance(100ms);
    pump();
  }
  EXPECT_EQ(count(wire::SUBSCRIBE), 0);
  EXPECT_EQ(count(wire::FRAMEWORK_HEARTBEAT), 0);
  EXPECT_EQ(scheduler_.disconnections, 0);
  EXPECT_EQ(scheduler_.errors.size(), 1u);
}

// Garbage, a payload that does not parse and a message for another framework
// are dropped; the next good message is handled.
TEST_F(DriverTest, BadMessagesFromTheMasterAreDropped) {
  makeDriver();
  subscribe();
  std::string garbage = "\xff\xfe not an envelope";
  master_.socket().send(zmq::buffer(routingId_), zmq::send_flags::sndmore);
  master_.socket().send(zmq::buffer(garbage));
  wire::Envelope bad;
  bad.set_version(kProtocolVersion);
  bad.set_type(wire::OFFERS);
  bad.set_payload("\xff\xff\xff");
  master_.socket().send(zmq::buffer(routingId_), zmq::send_flags::sndmore);
  master_.socket().send(zmq::buffer(bad.SerializeAsString()));
  wire::Rescind other;
  other.set_offer_id("not-mine");
  ASSERT_TRUE(master_.send(routingId_, wire::RESCIND, "master", other, "m1-F99"));
  wire::Rescind rescind;
  rescind.set_offer_id("o1");
  reply(wire::RESCIND, rescind);
  ASSERT_TRUE(pumpUntil([&] { return !scheduler_.rescinded.empty(); }));
  EXPECT_EQ(scheduler_.rescinded, std::vector<std::string>{"o1"});
  EXPECT_TRUE(scheduler_.offerBatches.empty());
}

// A launch while not subscribed sends nothing and reports each task LOST.
TEST_F(DriverTest, LaunchWhileNotSubscribedReportsTasksLost) {
  makeDriver();
  ASSERT_TRUE(next(wire::SUBSCRIBE).has_value());
  wire::TaskInfo task;
  task.set_task_id("t1");
  driver_->launchTasks({"o1"}, {task});
  ASSERT_TRUE(pumpUntil([&] { return !scheduler_.updates.empty(); }));
  EXPECT_EQ(scheduler_.updates[0].task_id(), "t1");
  EXPECT_EQ(scheduler_.updates[0].state(), wire::TASK_LOST);
  EXPECT_EQ(scheduler_.updates[0].reason(), "DRIVER_NOT_SUBSCRIBED");
  EXPECT_EQ(count(wire::ACCEPT), 0);
}

// stop(false) from another thread ends run() and tears the framework down.
TEST_F(DriverTest, StopWithoutFailoverFromAnotherThreadTearsDown) {
  class Stopper : public RecordingScheduler {
   public:
    void registered(SchedulerDriver&, const std::string&, const std::string&) override {
      done = true;
    }
    std::atomic<bool> done{false};
  } stopper;
  SchedulerDriver driver(stopper, defaultInfo(), master_.endpoint(), clock_);
  std::thread loop([&] { driver.run(); });
  Incoming in;
  auto onBad = [](const std::string&, const WireError&) {};
  bool subscribed = false;
  bool teardown = false;
  std::string teardownSender;
  for (int i = 0; i < 400 && !teardown; ++i) {
    while (master_.receive(in, onBad)) {
      if (in.envelope.type() == wire::SUBSCRIBE && !subscribed) {
        wire::Subscribed msg;
        msg.set_framework_id("m1-F1");
        msg.set_master_id("m1");
        master_.send(in.routingId, wire::SUBSCRIBED, "master", msg, "m1-F1");
        subscribed = true;
      }
      if (in.envelope.type() == wire::TEARDOWN) {
        teardown = true;
        teardownSender = in.envelope.sender();
      }
    }
    if (stopper.done) driver.stop(false);
    std::this_thread::sleep_for(5ms);
  }
  driver.stop();
  loop.join();
  EXPECT_TRUE(stopper.done);
  EXPECT_TRUE(teardown);
  EXPECT_EQ(teardownSender, "m1-F1");
}

}  // namespace
}  // namespace allot::runtime
