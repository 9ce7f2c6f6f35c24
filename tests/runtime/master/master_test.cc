// The runtime master over real ZeroMQ sockets on loopback: fake agents and
// frameworks are DEALER sockets driven by the test, the master is pumped from
// the test thread (runOnce), time is a ManualClock, the registry a real
// SQLite file, the HTTP API real HTTP through httplib::Client.
#include "allot/runtime/master.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>

#include "allot/core/error.h"
#include "allot/core/resources.h"
#include "allot/runtime/clock.h"
#include "allot/runtime/transport.h"
#include "allot/runtime/wire.h"
#include "allot/runtime/zookeeper.h"
#include "tests/runtime/zookeeper_server.h"

namespace allot::runtime {
namespace {

using namespace std::chrono_literals;

// A fake agent or framework: one DEALER socket and the messages it received.
struct Peer {
  Peer(zmq::context_t& context, const std::string& endpoint, const std::string& routingId)
      : socket(context, endpoint, routingId) {}
  DealerSocket socket;
  std::string sender;  // agent or framework id once known
  std::deque<wire::Envelope> inbox;

  void send(wire::MessageType type, const google::protobuf::MessageLite& body) {
    ASSERT_TRUE(socket.send(type, sender, body));
  }
  void poll() {
    wire::Envelope envelope;
    while (socket.receive(envelope, [](const WireError& e) {
      ADD_FAILURE() << "the master sent a bad frame: " << e.message;
    })) {
      inbox.push_back(envelope);
    }
  }
};

wire::TaskInfo task(const std::string& id, const std::string& resources,
                    const std::string& command = "true") {
  wire::TaskInfo info;
  info.set_task_id(id);
  info.set_name(id);
  info.set_resources(resources);
  info.set_command(command);
  return info;
}

bool sameResources(const std::string& a, const std::string& b) {
  return Resources::parse(a) == Resources::parse(b);
}

class MasterTest : public ::testing::Test {
 protected:
  MasterTest() {
    std::random_device rd;
    dir = std::filesystem::temp_directory_path() /
          ("allot-master-test-" + std::to_string(rd()) + std::to_string(rd()));
  }
  ~MasterTest() override {
    peers.clear();
    master.reset();
    std::filesystem::remove_all(dir);
  }

  static MasterOptions testOptions() {
    MasterOptions o;
    o.endpoint = "tcp://127.0.0.1:*";
    o.httpPort = -1;
    o.roundDelay = Duration{0};
    o.allocationInterval = 1s;
    o.offerTimeout = Duration{0};
    o.agentTimeout = 1h;
    o.frameworkTimeout = 1h;
    o.updateRetryInterval = 5s;
    o.masterId = "m1";
    return o;
  }

  void start(MasterOptions o = testOptions()) {
    master = std::make_unique<Master>(context, clock, std::move(o));
    endpoint = master->endpoint();
  }

  // Options of a master with a registry in `dir` and HTTP on a free port.
  MasterOptions registryOptions() {
    MasterOptions o = testOptions();
    o.workDir = dir.string();
    o.httpHost = "127.0.0.1";
    o.httpPort = 0;
    return o;
  }

  // Stops the master and its peers and starts it again with `o`, retrying
  // the bind while ZeroMQ closes the old socket on its I/O thread.
  void restart(const MasterOptions& o) {
    peers.clear();
    master.reset();
    for (int attempt = 0; attempt < 100 && !master; ++attempt) {
      try {
        start(o);
      } catch (const Error&) {
        std::this_thread::sleep_for(20ms);
      }
    }
    ASSERT_TRUE(master) << "could not start the master again on " << o.endpoint;
  }

  // A master whose HTTP API listens on a free loopback port.
  void startWithHttp(MasterOptions o = testOptions()) {
    o.httpHost = "127.0.0.1";
    o.httpPort = 0;
    start(std::move(o));
  }

  // The agents of /api/v1/state: id -> status.
  std::map<std::string, std::string> agentStatuses() {
    std::map<std::string, std::string> out;
    const std::string state = get("/api/v1/state");
    if (state.substr(0, 4) != "200\n") {
      ADD_FAILURE() << state;
      return out;
    }
    const auto j = nlohmann::json::parse(state.substr(4));
    for (const auto& a : j["agents"]) {
      out[a["id"].get<std::string>()] = a["status"].get<std::string>();
    }
    return out;
  }

  Peer& peer(const std::string& routingId) {
    peers.push_back(std::make_unique<Peer>(context, endpoint, routingId));
    return *peers.back();
  }

  // Pumps the master until `done` or about 3 s of wall time.
  bool pumpUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 3000ms) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      master->runOnce(std::chrono::milliseconds(1));
      if (done()) return true;
    }
    return false;
  }

  // Takes the first message of `type` from `p` (waiting a bounded time).
  std::optional<wire::Envelope> take(Peer& p, wire::MessageType type,
                                     std::chrono::milliseconds limit = 3000ms) {
    std::optional<wire::Envelope> found;
    pumpUntil(
        [&] {
          p.poll();
          for (auto it = p.inbox.begin(); it != p.inbox.end(); ++it) {
            if (it->type() == type) {
              found = *it;
              p.inbox.erase(it);
              return true;
            }
          }
          return false;
        },
        limit);
    // Every master message names the agent or framework it is for.
    if (found && !p.sender.empty()) {
      EXPECT_EQ(found->recipient(), p.sender);
    }
    return found;
  }

  template <class M>
  M expect(Peer& p, wire::MessageType type) {
    M message;
    auto envelope = take(p, type);
    if (!envelope) {
      ADD_FAILURE() << "'" << p.sender << "' got no " << messageTypeName(type);
      return message;
    }
    EXPECT_TRUE(message.ParseFromString(envelope->payload()));
    return message;
  }

  // Moves time and lets due timers fire before the test sends anything
  // (the loop handles waiting messages before timers).
  void advance(Duration d) {
    clock.advance(d);
    master->runOnce(Duration{0});
  }

  // Pumps a little and forgets what `p` received (duplicates of resends).
  void drain(Peer& p) {
    pumpUntil([] { return false; }, 100ms);
    p.poll();
    p.inbox.clear();
  }

  // Returns true iff no message of `type` reaches `p` within a short wait.
  bool none(Peer& p, wire::MessageType type, std::chrono::milliseconds wait = 150ms) {
    return !take(p, type, wait).has_value();
  }

  std::string registerAgent(Peer& p, const std::string& resources, const std::string& id = "") {
    wire::RegisterAgent reg;
    reg.set_agent_id(id);
    reg.set_hostname("node-a");
    reg.set_resources(resources);
    reg.set_attributes("rack:r1");
    p.send(wire::REGISTER_AGENT, reg);
    auto reply = expect<wire::AgentRegistered>(p, wire::AGENT_REGISTERED);
    p.sender = reply.agent_id();
    return reply.agent_id();
  }

  std::string subscribe(Peer& p, const std::string& role = "*", std::int64_t failoverUs = 0,
                        const std::string& id = "") {
    wire::Subscribe sub;
    sub.mutable_framework()->set_framework_id(id);
    sub.mutable_framework()->set_name("fw-" + role);
    sub.mutable_framework()->set_role(role);
    sub.mutable_framework()->set_failover_timeout_us(failoverUs);
    p.send(wire::SUBSCRIBE, sub);
    auto reply = expect<wire::Subscribed>(p, wire::SUBSCRIBED);
    p.sender = reply.framework_id();
    return reply.framework_id();
  }

  wire::Offer offer(Peer& fw) {
    auto offers = expect<wire::Offers>(fw, wire::OFFERS);
    if (offers.offers_size() != 1) {
      ADD_FAILURE() << "expected one offer, got " << offers.offers_size();
      return {};
    }
    return offers.offers(0);
  }

  void accept(Peer& fw, const wire::Offer& o, std::vector<wire::TaskInfo> tasks,
              std::optional<double> refuse = std::nullopt) {
    wire::Accept acc;
    acc.add_offer_ids(o.offer_id());
    for (auto& t : tasks) *acc.add_tasks() = t;
    if (refuse) acc.mutable_filters()->set_refuse_seconds(*refuse);
    fw.send(wire::ACCEPT, acc);
  }

  void update(Peer& agent, const std::string& fwId, const std::string& taskId,
              wire::TaskState state, const std::string& uuid) {
    wire::StatusUpdate msg;
    msg.mutable_status()->set_task_id(taskId);
    msg.mutable_status()->set_framework_id(fwId);
    msg.mutable_status()->set_state(state);
    msg.mutable_status()->set_uuid(uuid);
    agent.send(wire::STATUS_UPDATE, msg);
  }

  // Agent a with "cpus:4;mem:1024", framework f subscribed, its first offer.
  struct Cluster {
    Peer* agent;
    Peer* fw;
    std::string agentId;
    std::string fwId;
    wire::Offer first;
  };
  Cluster cluster(std::int64_t failoverUs = 0) {
    Cluster c;
    c.agent = &peer("agent-1");
    c.agentId = registerAgent(*c.agent, "cpus:4;mem:1024");
    c.fw = &peer("driver-1");
    c.fwId = subscribe(*c.fw, "*", failoverUs);
    c.first = offer(*c.fw);
    return c;
  }

  // The cluster's agent re-registering with `tasks` (cpus:1;mem:128 each,
  // of the cluster's framework) running.
  wire::RegisterAgent reregistration(const Cluster& c, std::initializer_list<const char*> tasks) {
    wire::RegisterAgent reg;
    reg.set_agent_id(c.agentId);
    reg.set_resources("cpus:4;mem:1024");
    for (const char* id : tasks) {
      *reg.add_tasks() = task(id, "cpus:1;mem:128");
      wire::TaskStatus* s = reg.add_task_statuses();
      s->set_task_id(id);
      s->set_framework_id(c.fwId);
      s->set_state(wire::TASK_RUNNING);
    }
    return reg;
  }

  // Launches task `id` (cpus:1;mem:128) on the cluster's first offer and
  // returns the RUN_TASK the agent got.
  wire::RunTask launch(Cluster& c, const std::string& id) {
    accept(*c.fw, c.first, {task(id, "cpus:1;mem:128")});
    return expect<wire::RunTask>(*c.agent, wire::RUN_TASK);
  }

  std::string get(const std::string& path) {
    auto response = getLater(path);
    return waitHttp(response);
  }

  // GETs `path` from another thread, so that the test can play the agent
  // the master asks meanwhile: "STATUS\nBODY", or "STATUS\nHEADER\nBODY"
  // with `header` (its value). waitHttp pumps the loop until it is there.
  std::future<std::string> getLater(const std::string& path, const std::string& header = "") {
    return std::async(std::launch::async, [port = master->httpPort(), path, header] {
      httplib::Client client("127.0.0.1", port);
      client.set_read_timeout(10, 0);
      auto r = client.Get(path);
      if (!r) return std::string("no answer");
      return std::to_string(r->status) + "\n" +
             (header.empty() ? "" : r->get_header_value(header) + "\n") + r->body;
    });
  }
  std::string waitHttp(std::future<std::string>& answer) {
    pumpUntil([&] { return answer.wait_for(0s) == std::future_status::ready; }, 6000ms);
    return answer.get();
  }

  // `agent` answers the message of `type` the master sent it as an agent of
  // an earlier version, which does not know it, would.
  void refuseAsOlderAgent(Peer& agent, wire::MessageType type) {
    const auto sent = take(agent, type);
    ASSERT_TRUE(sent.has_value());
    wire::Error unknown;
    unknown.set_code(wire::Error::UNKNOWN_TYPE);
    unknown.set_message("not a message for an agent");
    unknown.set_about(type);
    unknown.set_about_sequence(sent->sequence());
    agent.send(wire::ERROR, unknown);
  }

  // POSTs `body` to `path` ("STATUS\nBODY", like get).
  std::string post(const std::string& path, const std::string& body,
                   const std::string& contentType = "application/json",
                   const std::string& authorization = "") {
    auto response = std::async(
        std::launch::async, [port = master->httpPort(), path, body, contentType, authorization] {
          httplib::Client client("127.0.0.1", port);
          client.set_read_timeout(5, 0);
          httplib::Headers headers;
          if (!authorization.empty()) headers.emplace("Authorization", authorization);
          auto r = client.Post(path, headers, body, contentType);
          return r ? std::to_string(r->status) + "\n" + r->body : std::string("no answer");
        });
    pumpUntil([&] { return response.wait_for(0s) == std::future_status::ready; }, 6000ms);
    return response.get();
  }
  std::string postJson(const std::string& path, const nlohmann::json& body) {
    return post(path, body.dump());
  }

  // /api/v1/state as JSON.
  nlohmann::json state() {
    const std::string answer = get("/api/v1/state");
    if (answer.substr(0, 4) != "200\n") {
      ADD_FAILURE() << answer;
      return {};
    }
    return nlohmann::json::parse(answer.substr(4));
  }

  zmq::context_t context;
  ManualClock clock;
  std::filesystem::path dir;
  std::unique_ptr<Master> master;
  std::string endpoint;
  std::vector<std::unique_ptr<Peer>> peers;
};

// An agent registers, a framework subscribes, and the framework is offered
// the agent's whole resources with its hostname and attributes.
TEST_F(MasterTest, RegisteredAgentIsOfferedToSubscribedFramework) {
  start();
  Cluster c = cluster();
  EXPECT_EQ(c.agentId, "m1-S1");
  EXPECT_EQ(c.fwId, "m1-F1");
  EXPECT_EQ(c.first.agent_id(), c.agentId);
  EXPECT_EQ(c.first.framework_id(), c.fwId);
  EXPECT_EQ(c.first.hostname(), "node-a");
  EXPECT_EQ(c.first.attributes(), "rack:r1");
  EXPECT_TRUE(sameResources(c.first.resources(), "cpus:4;mem:1024")) << c.first.resources();
}

// ACCEPT sends RUN_TASK (with the framework's info) to the agent, and the
// unused part of the offer comes back in a new offer once the filter allows.
TEST_F(MasterTest, AcceptLaunchesTaskAndOffersTheRestAgain) {
  start();
  Cluster c = cluster();
  accept(*c.fw, c.first, {task("t1", "cpus:1;mem:128")}, /*refuse=*/0.0);
  auto run = expect<wire::RunTask>(*c.agent, wire::RUN_TASK);
  EXPECT_EQ(run.task().task_id(), "t1");
  EXPECT_EQ(run.task().agent_id(), c.agentId);
  EXPECT_EQ(run.framework().framework_id(), c.fwId);
  wire::Offer rest = offer(*c.fw);
  EXPECT_TRUE(sameResources(rest.resources(), "cpus:3;mem:896")) << rest.resources();
}

// Agent status updates reach the framework with their uuid; the framework's
// acknowledgement reaches the agent as STATUS_UPDATE_ACK with the same uuid.
TEST_F(MasterTest, StatusUpdatesAreForwardedAndAcknowledgementsReachTheAgent) {
  start();
  Cluster c = cluster();
  launch(c, "t1");
  update(*c.agent, c.fwId, "t1", wire::TASK_RUNNING, "uuid-1");
  auto up = expect<wire::Update>(*c.fw, wire::UPDATE);
  EXPECT_EQ(up.status().state(), wire::TASK_RUNNING);
  EXPECT_EQ(up.status().uuid(), "uuid-1");
  EXPECT_EQ(up.status().agent_id(), c.agentId);
  wire::Acknowledge ack;
  ack.set_agent_id(c.agentId);
  ack.set_task_id("t1");
  ack.set_uuid("uuid-1");
  c.fw->send(wire::ACKNOWLEDGE, ack);
  auto fwd = expect<wire::StatusUpdateAck>(*c.agent, wire::STATUS_UPDATE_ACK);
  EXPECT_EQ(fwd.uuid(), "uuid-1");
  EXPECT_EQ(fwd.task_id(), "t1");
  EXPECT_EQ(fwd.framework_id(), c.fwId);
}

// The first terminal update frees the task's resources once: a resend with
// the same uuid is forwarded again, a later update with another uuid is
// acknowledged by the master and not forwarded, and the next offer is the
// agent's total, not more.
TEST_F(MasterTest, TerminalUpdateRecoversResourcesExactlyOnce) {
  start();
  Cluster c = cluster();
  accept(*c.fw, c.first, {task("t1", "cpus:1;mem:128")}, 3600.0);  // rest filtered for an hour
  expect<wire::RunTask>(*c.agent, wire::RUN_TASK);
  update(*c.agent, c.fwId, "t1", wire::TASK_FINISHED, "fin-1");
  EXPECT_EQ(expect<wire::Update>(*c.fw, wire::UPDATE).status().uuid(), "fin-1");
  update(*c.agent, c.fwId, "t1", wire::TASK_FINISHED, "fin-1");  // resend
  EXPECT_EQ(expect<wire::Update>(*c.fw, wire::UPDATE).status().uuid(), "fin-1");
  update(*c.agent, c.fwId, "t1", wire::TASK_FAILED, "late-2");
  auto self = expect<wire::StatusUpdateAck>(*c.agent, wire::STATUS_UPDATE_ACK);
  EXPECT_EQ(self.uuid(), "late-2");
  EXPECT_TRUE(none(*c.fw, wire::UPDATE));
  // The agent is whole again (a filter only holds back what it covers), and
  // not more than whole: the task's resources came back once.
  wire::Offer again = offer(*c.fw);
  EXPECT_TRUE(sameResources(again.resources(), "cpus:4;mem:1024")) << again.resources();
  EXPECT_TRUE(none(*c.fw, wire::OFFERS));
}

// A task may ask a hair more than is left of its offers (within
// Resources::contains' tolerance); it is lent what is left and gives that back.
// Here each short task asks 2e-9 cpus more than offered while a long task
// runs: had they given back what they asked, the framework's books would
// fall short, the long task's end would fail to give back its cpu, and the
// agent would never be offered whole again.
TEST_F(MasterTest, TasksAskingAHairMoreThanOfferedGiveBackWhatTheyGot) {
  start();
  Cluster c = cluster();
  accept(*c.fw, c.first, {task("long", "cpus:1;mem:128")}, 0.0);
  expect<wire::RunTask>(*c.agent, wire::RUN_TASK);
  wire::Offer o = offer(*c.fw);
  for (int i = 0; i < 8; ++i) {
    const Resources offered = Resources::parse(o.resources());
    const std::string id = "hair" + std::to_string(i);
    accept(*c.fw, o,
           {task(id, fmt::format("cpus:{};mem:{}", offered.scalar("cpus") + 2e-9,
                                 offered.scalar("mem")))},
           0.0);
    EXPECT_EQ(expect<wire::RunTask>(*c.agent, wire::RUN_TASK).task().task_id(), id);
    update(*c.agent, c.fwId, id, wire::TASK_FINISHED, id);
    expect<wire::Update>(*c.fw, wire::UPDATE);
    o = offer(*c.fw);
    EXPECT_TRUE(sameResources(o.resources(), "cpus:3;mem:896")) << i << ": " << o.resources();
  }
  update(*c.agent, c.fwId, "long", wire::TASK_FINISHED, "long-done");
  expect<wire::Update>(*c.fw, wire::UPDATE);
  // The offer of cpus:3 is still out; the long task's cpu comes as a second one.
  const wire::Offer freed = offer(*c.fw);
  EXPECT_TRUE(sameResources(freed.resources(), "cpus:1;mem:128")) << freed.resources();
}

// A decline with refuse_seconds keeps the agent from the framework until the
// filter expires; then the next allocation round offers it again.
TEST_F(MasterTest, DeclineFilterHoldsOffersBackUntilItExpires) {
  start();
  Cluster c = cluster();
  wire::Decline decline;
  decline.add_offer_ids(c.first.offer_id());
  decline.mutable_filters()->set_refuse_seconds(10);
  c.fw->send(wire::DECLINE, decline);
  EXPECT_TRUE(none(*c.fw, wire::OFFERS));
  advance(5s);
  EXPECT_TRUE(none(*c.fw, wire::OFFERS));
  advance(6s);
  wire::Offer again = offer(*c.fw);
  EXPECT_TRUE(sameResources(again.resources(), "cpus:4;mem:1024"));
  EXPECT_NE(again.offer_id(), c.first.offer_id());
}

// An offer left unanswered past --offer-timeout is rescinded and its
// resources are offered anew.
TEST_F(MasterTest, UnansweredOfferIsRescindedAfterOfferTimeout) {
  MasterOptions o = testOptions();
  o.offerTimeout = 5s;
  start(o);
  Cluster c = cluster();
  advance(4s);
  EXPECT_TRUE(none(*c.fw, wire::RESCIND));
  advance(2s);
  EXPECT_EQ(expect<wire::Rescind>(*c.fw, wire::RESCIND).offer_id(), c.first.offer_id());
  wire::Offer again = offer(*c.fw);
  EXPECT_NE(again.offer_id(), c.first.offer_id());
  // Accepting the rescinded offer is refused: its task is LOST.
  accept(*c.fw, c.first, {task("late", "cpus:1;mem:128")});
  auto lost = expect<wire::Update>(*c.fw, wire::UPDATE);
  EXPECT_EQ(lost.status().task_id(), "late");
  EXPECT_EQ(lost.status().state(), wire::TASK_LOST);
  EXPECT_FALSE(lost.status().uuid().empty());
}

// A silent agent becomes unreachable: its tasks are reported TASK_LOST with
// a uuid, resent until the framework acknowledges, and the agent's next
// heartbeat is answered NOT_REGISTERED.
TEST_F(MasterTest, SilentAgentIsUnreachableAndItsTasksAreLostReliably) {
  MasterOptions o = testOptions();
  o.agentTimeout = 10s;
  start(o);
  Cluster c = cluster();
  launch(c, "t1");
  c.agent->send(wire::AGENT_HEARTBEAT, wire::AgentHeartbeat{});
  EXPECT_TRUE(take(*c.agent, wire::AGENT_HEARTBEAT_ACK).has_value());
  advance(12s);
  auto lost = expect<wire::Update>(*c.fw, wire::UPDATE);
  EXPECT_EQ(lost.status().state(), wire::TASK_LOST);
  EXPECT_EQ(lost.status().reason(), "AGENT_UNREACHABLE");
  ASSERT_FALSE(lost.status().uuid().empty());
  drain(*c.fw);
  advance(6s);  // past the update retry interval
  EXPECT_EQ(expect<wire::Update>(*c.fw, wire::UPDATE).status().uuid(), lost.status().uuid());
  wire::Acknowledge ack;
  ack.set_task_id("t1");
  ack.set_uuid(lost.status().uuid());
  c.fw->send(wire::ACKNOWLEDGE, ack);
  EXPECT_TRUE(none(*c.agent, wire::STATUS_UPDATE_ACK));  // master's own update: not forwarded
  drain(*c.fw);
  advance(6s);
  EXPECT_TRUE(none(*c.fw, wire::UPDATE));
  c.agent->send(wire::AGENT_HEARTBEAT, wire::AgentHeartbeat{});
  EXPECT_EQ(expect<wire::Error>(*c.agent, wire::ERROR).code(), wire::Error::NOT_REGISTERED);
}

// Unreachable agents are forgotten, from the state and the registry: beyond
// --max-unreachable-agents the longest unreachable first, and any past
// --unreachable-agent-age; one whose task's LOST update is not yet
// acknowledged is kept until it is. Back later, it registers as new.
TEST_F(MasterTest, UnreachableAgentsAreForgottenByCountAndByAge) {
  MasterOptions o = testOptions();
  o.workDir = dir.string();
  o.agentTimeout = 10s;
  o.unreachableAgentAge = 100s;
  o.maxUnreachableAgents = 2;
  startWithHttp(o);
  Cluster c = cluster();
  launch(c, "t1");
  Peer& second = peer("agent-2");
  const std::string id2 = registerAgent(second, "cpus:1;mem:64");
  Peer& third = peer("agent-3");
  const std::string id3 = registerAgent(third, "cpus:1;mem:64");
  auto heartbeat = [&](Peer& p) {
    p.send(wire::AGENT_HEARTBEAT, wire::AgentHeartbeat{});
    ASSERT_TRUE(take(p, wire::AGENT_HEARTBEAT_ACK).has_value());
  };
  advance(6s);
  heartbeat(*c.agent);
  heartbeat(third);
  advance(6s);  // t = 12 s: the second agent is unreachable
  heartbeat(*c.agent);
  advance(6s);  // t = 18 s: the third too; two unreachable is the most kept
  using Statuses = std::map<std::string, std::string>;
  EXPECT_EQ(agentStatuses(),
            (Statuses{{c.agentId, "active"}, {id2, "unreachable"}, {id3, "unreachable"}}));
  advance(12s);  // t = 30 s: the first too, with t1: the longest unreachable goes
  auto lost = expect<wire::Update>(*c.fw, wire::UPDATE);
  ASSERT_EQ(lost.status().state(), wire::TASK_LOST);
  EXPECT_EQ(agentStatuses(), (Statuses{{c.agentId, "unreachable"}, {id3, "unreachable"}}));
  advance(100s);  // past the age for both; the first still holds t1
  EXPECT_EQ(agentStatuses(), (Statuses{{c.agentId, "unreachable"}}));
  wire::Acknowledge ack;
  ack.set_task_id("t1");
  ack.set_uuid(lost.status().uuid());
  c.fw->send(wire::ACKNOWLEDGE, ack);
  drain(*c.fw);
  advance(3s);
  EXPECT_EQ(agentStatuses(), Statuses{});
  EXPECT_NE(get("/metrics").find("allot_master_agents_forgotten_total 3\n"), std::string::npos);
  // The registry holds none of them: a restarted master knows no agent.
  master.reset();
  o.masterId = "m2";
  startWithHttp(o);
  EXPECT_EQ(agentStatuses(), Statuses{});
  // A forgotten agent that comes back registers as a new one.
  Peer& back = peer("agent-2-again");
  EXPECT_EQ(registerAgent(back, "cpus:1;mem:64", id2), id2);
  EXPECT_EQ(agentStatuses(), (Statuses{{id2, "active"}}));
}

// Re-registration reconciles: a task the agent no longer reports is LOST, a
// task the master already declared lost is listed in kill_task_keys, and
// the agent's resources are offered minus what its running tasks use.
TEST_F(MasterTest, ReregistrationReconcilesReportedTasks) {
  start();
  Cluster c = cluster();
  accept(*c.fw, c.first, {task("t1", "cpus:1;mem:128"), task("t2", "cpus:1;mem:128")}, 3600.0);
  expect<wire::RunTask>(*c.agent, wire::RUN_TASK);
  expect<wire::RunTask>(*c.agent, wire::RUN_TASK);
  // The agent comes back reporting t1 only, plus a task t9 of the framework
  // the master never heard of (adopted).
  c.agent->send(wire::REGISTER_AGENT, reregistration(c, {"t1", "t9"}));
  auto registered = expect<wire::AgentRegistered>(*c.agent, wire::AGENT_REGISTERED);
  EXPECT_EQ(registered.agent_id(), c.agentId);
  EXPECT_EQ(registered.kill_task_keys_size(), 0);
  auto lost = expect<wire::Update>(*c.fw, wire::UPDATE);
  EXPECT_EQ(lost.status().task_id(), "t2");
  EXPECT_EQ(lost.status().state(), wire::TASK_LOST);
  // t2's resources are free, t1 and t9 use theirs; filters were cleared by
  // re-adding the agent, so the offer is the rest.
  wire::Offer rest = offer(*c.fw);
  EXPECT_TRUE(sameResources(rest.resources(), "cpus:2;mem:768")) << rest.resources();
  // Implicit reconciliation lists t1 and t9 as running.
  c.fw->send(wire::RECONCILE, wire::Reconcile{});
  std::set<std::string> running;
  for (int i = 0; i < 3; ++i) {
    auto u = take(*c.fw, wire::UPDATE);
    if (!u) break;
    wire::Update up;
    up.ParseFromString(u->payload());
    if (up.status().state() == wire::TASK_RUNNING) running.insert(up.status().task_id());
  }
  EXPECT_EQ(running, (std::set<std::string>{"t1", "t9"}));
}

// An agent that was declared unreachable and comes back is told to kill the
// tasks the master reported lost.
TEST_F(MasterTest, ReturningAgentKillsTasksAlreadyDeclaredLost) {
  MasterOptions o = testOptions();
  o.agentTimeout = 10s;
  start(o);
  Cluster c = cluster();
  launch(c, "t1");
  advance(12s);
  EXPECT_EQ(expect<wire::Update>(*c.fw, wire::UPDATE).status().state(), wire::TASK_LOST);
  c.agent->send(wire::REGISTER_AGENT, reregistration(c, {"t1"}));
  auto registered = expect<wire::AgentRegistered>(*c.agent, wire::AGENT_REGISTERED);
  ASSERT_EQ(registered.kill_task_keys_size(), 1);
  EXPECT_EQ(registered.kill_task_keys(0), c.fwId + "/t1");
  // Its late update for t1 is acknowledged by the master, not forwarded.
  update(*c.agent, c.fwId, "t1", wire::TASK_KILLED, "k-1");
  EXPECT_EQ(expect<wire::StatusUpdateAck>(*c.agent, wire::STATUS_UPDATE_ACK).uuid(), "k-1");
  while (auto u = take(*c.fw, wire::UPDATE, 150ms)) {
    wire::Update up;
    up.ParseFromString(u->payload());
    EXPECT_NE(up.status().state(), wire::TASK_KILLED) << "a late update was forwarded";
  }
}

// One agent id, one agent process: a second connection registering with a
// live agent's id takes it over (its tasks reconcile as for a restart), and
// the first is told REPLACED, now and whatever it sends later, so it can
// neither report for the id nor take it back.
TEST_F(MasterTest, SecondAgentWithTheSameIdReplacesTheFirstWhichIsToldToStop) {
  start();
  Cluster c = cluster();
  accept(*c.fw, c.first, {task("t1", "cpus:1;mem:128")}, 3600.0);
  expect<wire::RunTask>(*c.agent, wire::RUN_TASK);
  Peer& twin = peer("agent-1-copy");
  twin.sender = c.agentId;
  twin.send(wire::REGISTER_AGENT, reregistration(c, {}));
  EXPECT_EQ(expect<wire::AgentRegistered>(twin, wire::AGENT_REGISTERED).agent_id(), c.agentId);
  EXPECT_EQ(expect<wire::Error>(*c.agent, wire::ERROR).code(), wire::Error::REPLACED);
  auto lost = expect<wire::Update>(*c.fw, wire::UPDATE);
  EXPECT_EQ(lost.status().task_id(), "t1");
  EXPECT_EQ(lost.status().state(), wire::TASK_LOST);
  // The old connection's heartbeat, update and re-registration are refused.
  c.agent->send(wire::AGENT_HEARTBEAT, wire::AgentHeartbeat{});
  EXPECT_EQ(expect<wire::Error>(*c.agent, wire::ERROR).code(), wire::Error::REPLACED);
  update(*c.agent, c.fwId, "t1", wire::TASK_FINISHED, "u-old");
  EXPECT_EQ(expect<wire::Error>(*c.agent, wire::ERROR).code(), wire::Error::REPLACED);
  EXPECT_TRUE(none(*c.fw, wire::UPDATE));
  c.agent->send(wire::REGISTER_AGENT, reregistration(c, {"t1"}));
  EXPECT_EQ(expect<wire::Error>(*c.agent, wire::ERROR).code(), wire::Error::REPLACED);
  EXPECT_TRUE(none(*c.agent, wire::AGENT_REGISTERED));
  // The new connection is the agent.
  twin.send(wire::AGENT_HEARTBEAT, wire::AgentHeartbeat{});
  EXPECT_TRUE(take(twin, wire::AGENT_HEARTBEAT_ACK).has_value());
  // A connection that never registered gets NOT_REGISTERED, as any unknown sender.
  Peer& stranger = peer("agent-1-stranger");
  stranger.sender = c.agentId;
  stranger.send(wire::AGENT_HEARTBEAT, wire::AgentHeartbeat{});
  EXPECT_EQ(expect<wire::Error>(stranger, wire::ERROR).code(), wire::Error::NOT_REGISTERED);
}

// Messages from senders the master does not know get NOT_REGISTERED, for
// agents and frameworks alike.
TEST_F(MasterTest, UnknownSendersGetNotRegistered) {
  start();
  Peer& agent = peer("ghost-agent");
  agent.sender = "no-such-agent";
  agent.send(wire::AGENT_HEARTBEAT, wire::AgentHeartbeat{});
  auto e1 = expect<wire::Error>(agent, wire::ERROR);
  EXPECT_EQ(e1.code(), wire::Error::NOT_REGISTERED);
  EXPECT_EQ(e1.about(), wire::AGENT_HEARTBEAT);
  Peer& fw = peer("ghost-fw");
  fw.sender = "no-such-framework";
  fw.send(wire::REVIVE, wire::AgentHeartbeat{});
  EXPECT_EQ(expect<wire::Error>(fw, wire::ERROR).code(), wire::Error::NOT_REGISTERED);
}

// Failover: a new connection subscribing with the framework's id takes it
// over; its tasks are kept, the old connection's offers are rescinded, and
// the old connection is refused.
TEST_F(MasterTest, FailoverKeepsTasksAndRescindsOffers) {
  start();
  Cluster c = cluster(/*failoverUs=*/60'000'000);
  accept(*c.fw, c.first, {task("t1", "cpus:1;mem:128")}, 0.0);
  expect<wire::RunTask>(*c.agent, wire::RUN_TASK);
  wire::Offer outstanding = offer(*c.fw);
  Peer& second = peer("driver-2");
  EXPECT_EQ(subscribe(second, "*", 60'000'000, c.fwId), c.fwId);
  EXPECT_EQ(expect<wire::Rescind>(*c.fw, wire::RESCIND).offer_id(), outstanding.offer_id());
  second.send(wire::RECONCILE, wire::Reconcile{});
  auto up = expect<wire::Update>(second, wire::UPDATE);
  EXPECT_EQ(up.status().task_id(), "t1");
  EXPECT_EQ(up.status().state(), wire::TASK_STAGING);
  EXPECT_TRUE(up.status().uuid().empty());
  c.fw->send(wire::FRAMEWORK_HEARTBEAT, wire::AgentHeartbeat{});
  EXPECT_EQ(expect<wire::Error>(*c.fw, wire::ERROR).code(), wire::Error::INVALID);
  offer(second);  // offers go to the new connection
}

// A silent framework is disconnected (no offers, tasks kept); past its
// failover timeout it is removed, its agents get SHUTDOWN_FRAMEWORK, and it
// cannot re-subscribe with the old id.
TEST_F(MasterTest, SilentFrameworkIsRemovedAfterItsFailoverTimeout) {
  MasterOptions o = testOptions();
  o.frameworkTimeout = 10s;
  start(o);
  Cluster c = cluster(/*failoverUs=*/30'000'000);
  launch(c, "t1");
  advance(12s);
  c.fw->send(wire::FRAMEWORK_HEARTBEAT, wire::AgentHeartbeat{});
  EXPECT_EQ(expect<wire::Error>(*c.fw, wire::ERROR).code(), wire::Error::NOT_REGISTERED);
  EXPECT_TRUE(none(*c.agent, wire::SHUTDOWN_FRAMEWORK));
  advance(31s);
  EXPECT_EQ(expect<wire::ShutdownFramework>(*c.agent, wire::SHUTDOWN_FRAMEWORK).framework_id(),
            c.fwId);
  wire::Subscribe sub;
  sub.mutable_framework()->set_framework_id(c.fwId);
  c.fw->send(wire::SUBSCRIBE, sub);
  auto error = expect<wire::Error>(*c.fw, wire::ERROR);
  EXPECT_EQ(error.code(), wire::Error::FRAMEWORK_REMOVED);
  EXPECT_NE(error.message().find("removed"), std::string::npos) << error.message();
}

// A framework that re-subscribes within its failover timeout keeps its tasks
// and is not shut down.
TEST_F(MasterTest, FrameworkBackWithinFailoverTimeoutKeepsItsTasks) {
  MasterOptions o = testOptions();
  o.frameworkTimeout = 10s;
  start(o);
  Cluster c = cluster(/*failoverUs=*/30'000'000);
  launch(c, "t1");
  advance(12s);
  EXPECT_EQ(subscribe(*c.fw, "*", 30'000'000, c.fwId), c.fwId);
  for (int i = 0; i < 5; ++i) {  // 40 s, past the failover timeout, heartbeating
    advance(8s);
    c.fw->send(wire::FRAMEWORK_HEARTBEAT, wire::AgentHeartbeat{});
    EXPECT_TRUE(take(*c.fw, wire::FRAMEWORK_HEARTBEAT_ACK).has_value());
  }
  EXPECT_TRUE(none(*c.agent, wire::SHUTDOWN_FRAMEWORK));
  wire::Reconcile rec;
  rec.add_tasks()->set_task_id("t1");
  c.fw->send(wire::RECONCILE, rec);
  EXPECT_EQ(expect<wire::Update>(*c.fw, wire::UPDATE).status().state(), wire::TASK_STAGING);
}

// TEARDOWN removes the framework at once and shuts its tasks down.
TEST_F(MasterTest, TeardownShutsTheFrameworkDown) {
  start();
  Cluster c = cluster(60'000'000);
  launch(c, "t1");
  c.fw->send(wire::TEARDOWN, wire::AgentHeartbeat{});
  EXPECT_EQ(expect<wire::ShutdownFramework>(*c.agent, wire::SHUTDOWN_FRAMEWORK).framework_id(),
            c.fwId);
  // The agent's update for the torn-down framework is acknowledged by the master.
  update(*c.agent, c.fwId, "t1", wire::TASK_KILLED, "k-1");
  EXPECT_EQ(expect<wire::StatusUpdateAck>(*c.agent, wire::STATUS_UPDATE_ACK).uuid(), "k-1");
}

// KILL of a running task becomes KILL_TASK to its agent; KILL of an unknown
// task is answered TASK_LOST without a uuid.
TEST_F(MasterTest, KillReachesTheAgentAndUnknownTaskIsLost) {
  start();
  Cluster c = cluster();
  launch(c, "t1");
  wire::Kill kill;
  kill.set_task_id("t1");
  c.fw->send(wire::KILL, kill);
  auto kt = expect<wire::KillTask>(*c.agent, wire::KILL_TASK);
  EXPECT_EQ(kt.task_id(), "t1");
  EXPECT_EQ(kt.framework_id(), c.fwId);
  EXPECT_GT(kt.grace_period_us(), 0);
  kill.set_task_id("nope");
  c.fw->send(wire::KILL, kill);
  auto lost = expect<wire::Update>(*c.fw, wire::UPDATE);
  EXPECT_EQ(lost.status().task_id(), "nope");
  EXPECT_EQ(lost.status().state(), wire::TASK_LOST);
  EXPECT_TRUE(lost.status().uuid().empty());
}

// Explicit reconciliation answers known tasks with their state and unknown
// ones with TASK_LOST, all without uuids.
TEST_F(MasterTest, ExplicitReconciliationAnswersKnownAndUnknownTasks) {
  start();
  Cluster c = cluster();
  launch(c, "t1");
  update(*c.agent, c.fwId, "t1", wire::TASK_RUNNING, "r-1");
  expect<wire::Update>(*c.fw, wire::UPDATE);
  wire::Reconcile rec;
  rec.add_tasks()->set_task_id("t1");
  rec.add_tasks()->set_task_id("ghost");
  c.fw->send(wire::RECONCILE, rec);
  auto a = expect<wire::Update>(*c.fw, wire::UPDATE);
  auto b = expect<wire::Update>(*c.fw, wire::UPDATE);
  EXPECT_EQ(a.status().task_id(), "t1");
  EXPECT_EQ(a.status().state(), wire::TASK_RUNNING);
  EXPECT_TRUE(a.status().uuid().empty());
  EXPECT_EQ(b.status().task_id(), "ghost");
  EXPECT_EQ(b.status().state(), wire::TASK_LOST);
}

// SUPPRESS stops offers (even after rounds and filter expiry); REVIVE brings
// them back at once.
TEST_F(MasterTest, SuppressStopsOffersAndReviveResumesThem) {
  start();
  Cluster c = cluster();
  c.fw->send(wire::SUPPRESS, wire::AgentHeartbeat{});
  wire::Decline decline;
  decline.add_offer_ids(c.first.offer_id());
  decline.mutable_filters()->set_refuse_seconds(1);
  c.fw->send(wire::DECLINE, decline);
  advance(3s);
  EXPECT_TRUE(none(*c.fw, wire::OFFERS));
  c.fw->send(wire::REVIVE, wire::AgentHeartbeat{});
  EXPECT_TRUE(sameResources(offer(*c.fw).resources(), "cpus:4;mem:1024"));
}

// Frameworks in two roles share one agent's offers by DRF: each framework
// gets offers, and the second one the resources the first does not hold.
TEST_F(MasterTest, TwoRolesBothReceiveOffers) {
  start();
  Peer& a1 = peer("agent-1");
  registerAgent(a1, "cpus:2;mem:512");
  Peer& a2 = peer("agent-2");
  registerAgent(a2, "cpus:2;mem:512");
  Peer& f1 = peer("driver-1");
  subscribe(f1, "web");
  auto o1 = expect<wire::Offers>(f1, wire::OFFERS);
  EXPECT_EQ(o1.offers_size(), 2);  // batched: both agents in one message
  Peer& f2 = peer("driver-2");
  subscribe(f2, "batch");
  wire::Decline decline;
  decline.add_offer_ids(o1.offers(0).offer_id());
  decline.mutable_filters()->set_refuse_seconds(60);
  f1.send(wire::DECLINE, decline);
  wire::Offer o2 = offer(f2);
  EXPECT_EQ(o2.agent_id(), o1.offers(0).agent_id());
}

// A framework that publishes its pending work (DEMAND) gets, from a
// task-placing policy, offers sized to a task and naming its key; a bad
// entry is refused with an ERROR naming it, and the demand before it stays.
TEST_F(MasterTest, PublishedDemandGetsOffersSizedToTasks) {
  MasterOptions o = testOptions();
  o.policy = "easy";
  start(o);
  Cluster c = cluster();  // no demand yet: the whole agent, as fifo would
  EXPECT_FALSE(c.first.has_task_key());
  // Demand first, then the decline that frees the agent: the other order let
  // a round between the two re-offer the whole agent (seen once under ASan).
  wire::Demand demand;
  wire::Demand::Task* t = demand.add_tasks();
  t->set_resources("cpus:1;mem:128");
  t->set_count(2);
  t->set_gang(true);
  t->set_estimate_us(60'000'000);
  t->set_key(9);
  c.fw->send(wire::DEMAND, demand);
  wire::Decline decline;
  decline.add_offer_ids(c.first.offer_id());
  decline.mutable_filters()->set_refuse_seconds(0);
  c.fw->send(wire::DECLINE, decline);
  wire::Offer sized = offer(*c.fw);
  ASSERT_TRUE(sized.has_task_key());
  EXPECT_EQ(sized.task_key(), 9u);
  EXPECT_TRUE(sameResources(sized.resources(), "cpus:2;mem:256")) << sized.resources();

  wire::Demand bad;
  bad.add_tasks()->set_resources("cpus:1");  // count 0
  c.fw->send(wire::DEMAND, bad);
  auto error = expect<wire::Error>(*c.fw, wire::ERROR);
  EXPECT_EQ(error.code(), wire::Error::INVALID);
  EXPECT_NE(error.message().find("tasks[0]"), std::string::npos) << error.message();

  // The launch in the sized offer runs; its end gives the resources back.
  accept(*c.fw, sized, {task("t1", "cpus:1;mem:128"), task("t2", "cpus:1;mem:128")});
  auto run = expect<wire::RunTask>(*c.agent, wire::RUN_TASK);
  EXPECT_EQ(run.task().task_id(), "t1");
}

// Garbage and hostile-but-parseable messages are answered with ERROR (or a
// TASK_ERROR / TASK_LOST update) naming the problem, and afterwards the
// master still serves a normal launch.
TEST_F(MasterTest, GarbageAndHostileMessagesLeaveTheMasterServing) {
  start();
  Cluster c = cluster();
  // Raw garbage, a two-frame message, another version, an unknown type.
  zmq::socket_t raw(context, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.connect(endpoint);
  auto rawError = [&](const std::string& what) -> wire::Error {
    wire::Error error;
    bool got = pumpUntil([&] {
      zmq::message_t m;
      if (!raw.recv(m, zmq::recv_flags::dontwait)) return false;
      wire::Envelope e;
      EXPECT_TRUE(e.ParseFromArray(m.data(), static_cast<int>(m.size())));
      EXPECT_EQ(e.type(), wire::ERROR);
      return error.ParseFromString(e.payload());
    });
    EXPECT_TRUE(got) << "no ERROR for " << what;
    return error;
  };
  raw.send(zmq::str_buffer("\xff\x00garbage"), zmq::send_flags::none);
  EXPECT_EQ(rawError("garbage").code(), wire::Error::MALFORMED);
  raw.send(zmq::str_buffer("a"), zmq::send_flags::sndmore);
  raw.send(zmq::str_buffer("b"), zmq::send_flags::none);
  EXPECT_EQ(rawError("two frames").code(), wire::Error::MALFORMED);
  wire::Envelope other;
  other.set_version(7);
  other.set_type(wire::SUBSCRIBE);
  raw.send(zmq::buffer(other.SerializeAsString()), zmq::send_flags::none);
  EXPECT_EQ(rawError("version 7").code(), wire::Error::BAD_VERSION);
  wire::Envelope unknown;
  unknown.set_version(kProtocolVersion);
  unknown.set_type(static_cast<wire::MessageType>(99));
  raw.send(zmq::buffer(unknown.SerializeAsString()), zmq::send_flags::none);
  EXPECT_EQ(rawError("type 99").code(), wire::Error::UNKNOWN_TYPE);
  std::string huge(kMaxMessageBytes + 10, 'x');
  raw.send(zmq::buffer(huge), zmq::send_flags::none);
  EXPECT_EQ(rawError("huge").code(), wire::Error::TOO_LARGE);
  wire::Envelope badPayload;
  badPayload.set_version(kProtocolVersion);
  badPayload.set_type(wire::REGISTER_AGENT);
  badPayload.set_payload("\xff\xff\xff\xff");
  raw.send(zmq::buffer(badPayload.SerializeAsString()), zmq::send_flags::none);
  wire::Error payloadError = rawError("bad payload");
  EXPECT_EQ(payloadError.code(), wire::Error::MALFORMED);
  EXPECT_EQ(payloadError.about(), wire::REGISTER_AGENT);

  // An agent with resources that do not parse.
  Peer& badAgent = peer("agent-bad");
  wire::RegisterAgent reg;
  reg.set_resources("cpus:lots;mem:[1-");
  badAgent.send(wire::REGISTER_AGENT, reg);
  auto regError = expect<wire::Error>(badAgent, wire::ERROR);
  EXPECT_EQ(regError.code(), wire::Error::INVALID);
  EXPECT_NE(regError.message().find("resources"), std::string::npos) << regError.message();

  // A message type only the master sends.
  c.fw->send(wire::OFFERS, wire::Offers{});
  EXPECT_EQ(expect<wire::Error>(*c.fw, wire::ERROR).code(), wire::Error::INVALID);

  // ACCEPT naming an unknown offer: ERROR, and its task is LOST.
  wire::Accept ghost;
  ghost.add_offer_ids("no-such-offer");
  *ghost.add_tasks() = task("g1", "cpus:1");
  c.fw->send(wire::ACCEPT, ghost);
  EXPECT_EQ(expect<wire::Error>(*c.fw, wire::ERROR).code(), wire::Error::INVALID);
  auto lost = expect<wire::Update>(*c.fw, wire::UPDATE);
  EXPECT_EQ(lost.status().task_id(), "g1");
  EXPECT_EQ(lost.status().state(), wire::TASK_LOST);

  // One ACCEPT with: a task over the offer, bad resources text, a duplicate
  // id, and one valid task. Only the valid one is launched.
  accept(*c.fw, c.first,
         {task("big", "cpus:64;mem:128"), task("bad", "cpus:;;"), task("ok", "cpus:1;mem:64"),
          task("ok", "cpus:1;mem:64")},
         0.0);
  auto run = expect<wire::RunTask>(*c.agent, wire::RUN_TASK);
  EXPECT_EQ(run.task().task_id(), "ok");
  std::map<std::string, std::string> errors;
  for (int i = 0; i < 3; ++i) {
    auto up = expect<wire::Update>(*c.fw, wire::UPDATE);
    EXPECT_EQ(up.status().state(), wire::TASK_ERROR);
    errors[up.status().task_id()] = up.status().message();
  }
  EXPECT_NE(errors["big"].find("not within"), std::string::npos) << errors["big"];
  EXPECT_NE(errors["bad"].find("resources"), std::string::npos) << errors["bad"];
  EXPECT_NE(errors["ok"].find("already in use"), std::string::npos) << errors["ok"];
  EXPECT_TRUE(none(*c.agent, wire::RUN_TASK));

  // Status update without a uuid, for a task on another agent's behalf.
  update(*c.agent, c.fwId, "ok", wire::TASK_RUNNING, "");
  EXPECT_EQ(expect<wire::Error>(*c.agent, wire::ERROR).code(), wire::Error::INVALID);

  // Afterwards: a normal flow still works.
  wire::Offer rest = offer(*c.fw);
  accept(*c.fw, rest, {task("fine", "cpus:1;mem:64")});
  EXPECT_EQ(expect<wire::RunTask>(*c.agent, wire::RUN_TASK).task().task_id(), "fine");
  update(*c.agent, c.fwId, "fine", wire::TASK_RUNNING, "f-1");
  EXPECT_EQ(expect<wire::Update>(*c.fw, wire::UPDATE).status().task_id(), "fine");
}

// A restarted master recovers its registry: the framework re-subscribes with
// its id, the agent is "recovering" (explicit reconciliation of its tasks is
// not answered) until it re-registers with its tasks, which then reconcile
// as running; an agent that never comes back is given up after the
// re-register timeout and its tasks answer TASK_LOST.
TEST_F(MasterTest, RestartedMasterRecoversAgentsAndFrameworksFromTheRegistry) {
  MasterOptions o = testOptions();
  o.workDir = dir.string();
  o.agentReregisterTimeout = 20s;
  start(o);
  Cluster c = cluster(/*failoverUs=*/3'600'000'000);
  Peer& other = peer("agent-2");
  const std::string otherId = registerAgent(other, "cpus:1;mem:64");
  offer(*c.fw);  // agent-2's resources
  launch(c, "t1");

  // Restart on the same port; the DEALER sockets reconnect by themselves.
  const std::string port = endpoint.substr(endpoint.rfind(':') + 1);
  master.reset();
  o.endpoint = "tcp://127.0.0.1:" + port;
  o.masterId = "m2";
  // ZeroMQ closes the old socket on its I/O thread: retry the bind briefly.
  for (int attempt = 0; attempt < 100 && !master; ++attempt) {
    try {
      start(o);
    } catch (const Error&) {
      std::this_thread::sleep_for(20ms);
    }
  }
  ASSERT_TRUE(master) << "could not bind " << o.endpoint << " again";
  // What a DEALER sent while its connection was being torn down may be lost:
  // peers resend until answered, as real drivers and agents do.
  auto resendUntil = [&](Peer& p, wire::MessageType type, const auto& body,
                         wire::MessageType answer) -> std::optional<wire::Envelope> {
    for (int i = 0; i < 20; ++i) {
      p.send(type, body);
      if (auto reply = take(p, answer, 250ms)) return reply;
    }
    return std::nullopt;
  };
  wire::Subscribe sub;
  sub.mutable_framework()->set_framework_id(c.fwId);
  sub.mutable_framework()->set_failover_timeout_us(3'600'000'000);
  auto subscribed = resendUntil(*c.fw, wire::SUBSCRIBE, sub, wire::SUBSCRIBED);
  ASSERT_TRUE(subscribed.has_value());
  wire::Subscribed reply;
  reply.ParseFromString(subscribed->payload());
  EXPECT_EQ(reply.framework_id(), c.fwId);
  EXPECT_EQ(reply.master_id(), "m2");
  wire::Reconcile rec;
  rec.add_tasks()->set_task_id("t1");
  rec.mutable_tasks(0)->set_agent_id(c.agentId);
  c.fw->send(wire::RECONCILE, rec);
  EXPECT_TRUE(none(*c.fw, wire::UPDATE));

  auto notRegistered =
      resendUntil(*c.agent, wire::AGENT_HEARTBEAT, wire::AgentHeartbeat{}, wire::ERROR);
  ASSERT_TRUE(notRegistered.has_value());
  wire::Error error;
  error.ParseFromString(notRegistered->payload());
  EXPECT_EQ(error.code(), wire::Error::NOT_REGISTERED);
  c.agent->send(wire::REGISTER_AGENT, reregistration(c, {"t1"}));
  EXPECT_EQ(expect<wire::AgentRegistered>(*c.agent, wire::AGENT_REGISTERED).agent_id(), c.agentId);
  c.fw->send(wire::RECONCILE, rec);
  EXPECT_EQ(expect<wire::Update>(*c.fw, wire::UPDATE).status().state(), wire::TASK_RUNNING);
  EXPECT_TRUE(sameResources(offer(*c.fw).resources(), "cpus:3;mem:896"));

  // agent-2 never re-registers: after the timeout its tasks are LOST.
  wire::Reconcile rec2;
  rec2.add_tasks()->set_task_id("elsewhere");
  rec2.mutable_tasks(0)->set_agent_id(otherId);
  c.fw->send(wire::RECONCILE, rec2);
  EXPECT_TRUE(none(*c.fw, wire::UPDATE));
  advance(21s);
  c.fw->send(wire::FRAMEWORK_HEARTBEAT, wire::AgentHeartbeat{});
  EXPECT_TRUE(take(*c.fw, wire::FRAMEWORK_HEARTBEAT_ACK).has_value());
  c.fw->send(wire::RECONCILE, rec2);
  EXPECT_EQ(expect<wire::Update>(*c.fw, wire::UPDATE).status().state(), wire::TASK_LOST);
}

// Frameworks recovered from the registry get the re-register window to come
// back even with a failover timeout of 0; past it, those that did not are
// removed.
TEST_F(MasterTest, RecoveredFrameworksHaveTheRecoveryWindowToResubscribe) {
  MasterOptions o = testOptions();
  o.workDir = dir.string();
  o.agentReregisterTimeout = 20s;
  start(o);
  Peer& first = peer("driver-1");
  const std::string f1 = subscribe(first, "*", /*failoverUs=*/0);
  Peer& second = peer("driver-2");
  const std::string f2 = subscribe(second, "*", /*failoverUs=*/0);
  master.reset();
  o.masterId = "m2";
  start(o);  // a fresh port: the old peers are not used again
  advance(1s);
  Peer& back = peer("driver-1b");
  EXPECT_EQ(subscribe(back, "*", 0, f1), f1);
  advance(20s);
  Peer& late = peer("driver-2b");
  wire::Subscribe sub;
  sub.mutable_framework()->set_framework_id(f2);
  late.send(wire::SUBSCRIBE, sub);
  auto error = expect<wire::Error>(late, wire::ERROR);
  EXPECT_EQ(error.code(), wire::Error::FRAMEWORK_REMOVED);
  EXPECT_NE(error.message().find("removed"), std::string::npos) << error.message();
}

// A registry file that is not a registry stops the master at start with an
// error naming the file.
TEST_F(MasterTest, CorruptRegistryIsRefusedNamingTheFile) {
  std::filesystem::create_directories(dir);
  {
    std::ofstream out(dir / "registry.sqlite", std::ios::binary);
    out << std::string(4096, 'x');
  }
  MasterOptions o = testOptions();
  o.workDir = dir.string();
  try {
    start(o);
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("registry.sqlite"), std::string::npos) << e.what();
  }
}

// /api/v1/state shows agents (total/used/free, status), frameworks, tasks,
// offers and roles; /metrics has offers, tasks by state, messages by type
// and the offer->launch latency (a window's quantiles, and every launch in
// histogram buckets); /health answers ok; other pages 404.
TEST_F(MasterTest, HttpApiServesStateMetricsAndHealth) {
  startWithHttp();
  ASSERT_GT(master->httpPort(), 0);
  Cluster c = cluster();
  clock.advance(std::chrono::milliseconds(12));  // the framework's decision time
  accept(*c.fw, c.first, {task("t1", "cpus:1;mem:128")}, 0.0);
  expect<wire::RunTask>(*c.agent, wire::RUN_TASK);
  update(*c.agent, c.fwId, "t1", wire::TASK_RUNNING, "r-1");
  expect<wire::Update>(*c.fw, wire::UPDATE);
  offer(*c.fw);

  std::string state = get("/api/v1/state");
  ASSERT_EQ(state.substr(0, 4), "200\n") << state;
  auto j = nlohmann::json::parse(state.substr(4));
  EXPECT_EQ(j["master_id"], "m1");
  ASSERT_EQ(j["agents"].size(), 1u);
  EXPECT_EQ(j["agents"][0]["status"], "active");
  EXPECT_TRUE(sameResources(j["agents"][0]["used"], "cpus:1;mem:128"));
  EXPECT_TRUE(sameResources(j["agents"][0]["offered"], "cpus:3;mem:896"));
  EXPECT_EQ(j["agents"][0]["free"], "{}");  // core's text for no resources
  ASSERT_EQ(j["frameworks"].size(), 1u);
  EXPECT_EQ(j["frameworks"][0]["role"], "*");
  EXPECT_EQ(j["frameworks"][0]["active"], true);
  EXPECT_EQ(j["frameworks"][0]["tasks"], 1);
  ASSERT_EQ(j["tasks"].size(), 1u);
  EXPECT_EQ(j["tasks"][0]["state"], "TASK_RUNNING");
  EXPECT_EQ(j["offers"].size(), 1u);
  ASSERT_EQ(j["roles"].size(), 1u);
  EXPECT_DOUBLE_EQ(j["roles"][0]["share"].get<double>(), 1.0);

  std::string metrics = get("/metrics");
  ASSERT_EQ(metrics.substr(0, 4), "200\n");
  for (const char* line :
       {"allot_master_offers_total{event=\"made\"} 2",
        "allot_master_offers_total{event=\"accepted\"} 1",
        "allot_master_tasks{state=\"TASK_RUNNING\"} 1",
        "allot_master_messages_received_total{type=\"ACCEPT\"} 1",
        "allot_master_offer_to_launch_seconds_count 1",
        "allot_master_offer_to_launch_seconds{quantile=\"0.99\"} 0.012\n",
        "allot_master_offer_to_launch_histogram_seconds_bucket{le=\"0.01\"} 0\n",
        "allot_master_offer_to_launch_histogram_seconds_bucket{le=\"0.015\"} 1\n",
        "allot_master_offer_to_launch_histogram_seconds_bucket{le=\"+Inf\"} 1\n",
        "allot_master_offer_to_launch_histogram_seconds_count 1",
        "allot_master_allocation_round_histogram_seconds_bucket{le=\"+Inf\"}",
        "allot_master_allocation_round_seconds{quantile=\"0.99\"}",
        "allot_master_agents{status=\"active\"} 1"}) {
    EXPECT_NE(metrics.find(line), std::string::npos) << line << "\n" << metrics;
  }
  EXPECT_EQ(j["registry"]["where"], "");
  EXPECT_EQ(j["registry"]["stored"], true);
  EXPECT_EQ(j["counts"], (nlohmann::json{{"agents", 1},
                                         {"agents_active", 1},
                                         {"agents_unreachable", 0},
                                         {"agents_recovering", 0},
                                         {"frameworks", 1},
                                         {"frameworks_active", 1},
                                         {"completed_frameworks", 0},
                                         {"roles", 1},
                                         {"tasks", 1},
                                         {"completed_tasks", 0},
                                         {"offers", 1}}));
  // ?only= names the lists wanted (the UI asks for the tab it shows); the
  // counts and the rest come always.
  const std::vector<std::string> lists = {"agents", "frameworks",      "roles",
                                          "tasks",  "completed_tasks", "offers"};
  auto listsIn = [&](const nlohmann::json& answer) {
    std::vector<std::string> out;
    for (const auto& name : lists) {
      if (answer.contains(name)) out.push_back(name);
    }
    return out;
  };
  EXPECT_EQ(listsIn(j), lists);
  const std::string none = get("/api/v1/state?only=");
  ASSERT_EQ(none.substr(0, 4), "200\n") << none;
  const auto noneJson = nlohmann::json::parse(none.substr(4));
  EXPECT_TRUE(listsIn(noneJson).empty()) << none;
  EXPECT_EQ(noneJson["counts"], j["counts"]);
  EXPECT_EQ(noneJson["master_id"], "m1");
  const std::string two = get("/api/v1/state?only=roles,%20agents");
  ASSERT_EQ(two.substr(0, 4), "200\n") << two;
  const auto twoJson = nlohmann::json::parse(two.substr(4));
  EXPECT_EQ(listsIn(twoJson), (std::vector<std::string>{"agents", "roles"}));
  EXPECT_EQ(twoJson["agents"], j["agents"]);
  const std::string bad = get("/api/v1/state?only=agents,bogus");
  EXPECT_EQ(bad.substr(0, 4), "400\n") << bad;
  EXPECT_NE(bad.find("\"bogus\""), std::string::npos) << bad;
  // No registry (no work dir): nothing written.
  EXPECT_NE(metrics.find("allot_master_registry_write_seconds_count 0\n"), std::string::npos);
  EXPECT_EQ(get("/health").substr(0, 4), "200\n");
  EXPECT_EQ(get("/nope").substr(0, 4), "404\n");
}

// A registry write that fails (here: ZooKeeper gone, with --zk) keeps the
// changes in memory and is tried again after a wait that doubles from
// 100 ms, not after every event; once ZooKeeper is back the next try writes
// them all, and a restarted master finds every agent.
TEST_F(MasterTest, FailedRegistryWritesWaitBeforeTryingAgainAndLoseNothing) {
  zktest::ZooKeeperServer zk;
  auto failed = zk.start();
  ASSERT_FALSE(failed) << *failed;
  const ZkUrl url = zk.url("/retry");
  MasterContender contender(url, MasterInfo{"m1", "tcp://127.0.0.1:1", ""}, 10s);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  ASSERT_TRUE(contender.waitForLeadership(
      [&] { return std::chrono::steady_clock::now() > deadline; }, nullptr));
  MasterOptions o = testOptions();
  o.zk = url.text();
  o.zkMemberNode = contender.node();
  o.zkSessionTimeout = 10s;
  o.httpHost = "127.0.0.1";
  o.httpPort = 0;
  start(o);
  auto metric = [&](const std::string& name) {
    const std::string text = get("/metrics");
    const auto at = text.find("\n" + name + " ");
    if (at == std::string::npos) {
      ADD_FAILURE() << name << " not in /metrics:\n" << text;
      return -1;
    }
    return std::stoi(text.substr(at + name.size() + 2));
  };
  std::vector<std::string> ids = {registerAgent(peer("agent-1"), "cpus:1;mem:64")};
  EXPECT_EQ(metric("allot_master_registry_write_failures_total"), 0);
  const int written = metric("allot_master_registry_write_seconds_count");
  EXPECT_GE(written, 1);

  zk.kill();
  for (int i = 2; i <= 6; ++i) {
    ids.push_back(registerAgent(peer(fmt::format("agent-{}", i)), "cpus:1;mem:64"));
  }
  drain(*peers.front());
  EXPECT_EQ(metric("allot_master_registry_write_failures_total"), 1)
      << "five registrations, each an event, but the clock has not moved";
  nlohmann::json registry = state()["registry"];
  EXPECT_EQ(registry["stored"], false) << registry;
  EXPECT_EQ(registry["failures"], 1) << registry;
  EXPECT_NE(registry.value("error", "").find("not connected"), std::string::npos) << registry;
  EXPECT_NE(registry["where"].get<std::string>().find("/retry/registry"), std::string::npos);
  // An operator's change is applied, and its answer says it is not stored yet.
  const std::string answer =
      postJson("/api/v1/weights", nlohmann::json{{"role", "batch"}, {"weight", 3}});
  ASSERT_EQ(answer.substr(0, 4), "200\n") << answer;
  const auto changed = nlohmann::json::parse(answer.substr(4));
  EXPECT_EQ(changed["stored"], false) << changed;
  EXPECT_NE(changed.value("warning", "").find("not connected"), std::string::npos) << changed;
  clock.advance(100ms);
  pumpUntil([&] { return metric("allot_master_registry_write_failures_total") == 2; }, 3000ms);
  EXPECT_EQ(metric("allot_master_registry_write_failures_total"), 2);
  clock.advance(100ms);  // the next try is 200 ms after the second
  drain(*peers.front());
  EXPECT_EQ(metric("allot_master_registry_write_failures_total"), 2);

  failed = zk.start();
  ASSERT_FALSE(failed) << *failed;
  // The master's ZooKeeper session reconnects; then a try succeeds.
  bool stored = false;
  for (int i = 0; i < 100 && !stored; ++i) {
    clock.advance(5s);
    pumpUntil([] { return false; }, 100ms);
    stored = metric("allot_master_registry_write_seconds_count") > written;
  }
  ASSERT_TRUE(stored) << "the registry was not written after ZooKeeper came back";
  registry = state()["registry"];
  EXPECT_EQ(registry["stored"], true) << registry;
  EXPECT_FALSE(registry.contains("error")) << registry;
  const int failures = metric("allot_master_registry_write_failures_total");

  restart(o);
  std::map<std::string, std::string> statuses = agentStatuses();
  EXPECT_EQ(statuses.size(), 6u);
  for (const std::string& id : ids) {
    EXPECT_EQ(statuses[id], "recovering") << id << " is not in the registry";
  }
  const nlohmann::json roles = state()["roles"];
  bool weighted = false;
  for (const auto& role : roles) weighted |= role["name"] == "batch" && role["weight"] == 3.0;
  EXPECT_TRUE(weighted) << "the weight set while ZooKeeper was gone was not stored: " << roles;
  EXPECT_GE(failures, 2);
}

// /api/v1/utilization samples the cluster's use every interval: the total,
// what tasks use and what is offered, per dimension, keeping the latest
// `utilizationSamples`. The web UI's files are served with their types and a
// content security policy.
TEST_F(MasterTest, UtilizationIsSampledAndTheWebUiIsServed) {
  MasterOptions o = testOptions();
  o.utilizationInterval = 1s;
  o.utilizationSamples = 3;
  startWithHttp(o);
  auto samples = [&] {
    const std::string answer = get("/api/v1/utilization");
    EXPECT_EQ(answer.substr(0, 4), "200\n") << answer;
    return nlohmann::json::parse(answer.substr(4));
  };
  nlohmann::json u = samples();
  ASSERT_EQ(u["samples"].size(), 1u);  // taken at start, on an empty cluster
  EXPECT_EQ(u["interval_us"], 1'000'000);
  EXPECT_EQ(u["samples"][0]["total"][0], 0.0);

  Cluster c = cluster();  // agent cpus:4;mem:1024, all of it offered
  accept(*c.fw, c.first, {task("t1", "cpus:1;mem:128")}, 0.0);
  expect<wire::RunTask>(*c.agent, wire::RUN_TASK);
  update(*c.agent, c.fwId, "t1", wire::TASK_RUNNING, "r-1");
  expect<wire::Update>(*c.fw, wire::UPDATE);
  offer(*c.fw);  // the rest, offered again
  clock.advance(1s);
  u = samples();
  ASSERT_EQ(u["samples"].size(), 2u);
  const auto& dims = u["dimensions"];
  ASSERT_GE(dims.size(), 2u);
  ASSERT_EQ(dims[0], "cpus");
  ASSERT_EQ(dims[1], "mem");
  const auto& last = u["samples"][1];
  EXPECT_EQ(last["t_us"].get<std::int64_t>() - u["samples"][0]["t_us"].get<std::int64_t>(),
            1'000'000);
  EXPECT_EQ(last["total"][0], 4.0);
  EXPECT_EQ(last["total"][1], 1024.0);
  EXPECT_EQ(last["used"][0], 1.0);
  EXPECT_EQ(last["used"][1], 128.0);
  EXPECT_EQ(last["offered"][0], 3.0);
  EXPECT_EQ(last["offered"][1], 896.0);
  EXPECT_EQ(last["agents"], 1);
  EXPECT_EQ(last["frameworks"], 1);
  EXPECT_EQ(last["tasks"], 1);
  EXPECT_EQ(last["offers"], 1);
  for (int i = 0; i < 4; ++i) {
    clock.advance(1s);
    pumpUntil([] { return false; }, 20ms);
  }
  u = samples();
  ASSERT_EQ(u["samples"].size(), 3u);  // the latest 3 of 6
  EXPECT_EQ(
      u["samples"][2]["t_us"].get<std::int64_t>() - u["samples"][0]["t_us"].get<std::int64_t>(),
      2'000'000);

  // The UI's files, each with its type; the page's scripts only from the master.
  for (const auto& [path, type, marker] :
       {std::tuple{"/", "text/html", "<title>allot master</title>"},
        std::tuple{"/ui/app.js", "text/javascript", "/api/v1/utilization"},
        std::tuple{"/ui/style.css", "text/css", "{"}}) {
    auto response = std::async(std::launch::async, [port = master->httpPort(), p = path] {
      httplib::Client client("127.0.0.1", port);
      client.set_read_timeout(5, 0);
      return client.Get(p);
    });
    pumpUntil([&] { return response.wait_for(0s) == std::future_status::ready; }, 6000ms);
    auto r = response.get();
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 200) << path;
    EXPECT_EQ(r->get_header_value("Content-Type").rfind(type, 0), 0u) << path;
    EXPECT_EQ(r->get_header_value("Content-Security-Policy"), "default-src 'self'") << path;
    EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff") << path;
    EXPECT_NE(r->body.find(marker), std::string::npos) << path;
  }
  EXPECT_EQ(get("/favicon.ico").substr(0, 4), "204\n");

  // Bad settings are refused, naming the option.
  o = testOptions();
  o.utilizationSamples = 0;
  try {
    start(o);
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--utilization-samples"), std::string::npos);
  }
}

// The master refuses options it cannot run with, naming the option.
TEST_F(MasterTest, BadOptionsAreRefusedWithTheirName) {
  MasterOptions o = testOptions();
  o.policy = "no-such-policy";
  EXPECT_THROW(start(o), NotFound);
  o = testOptions();
  o.allocationInterval = Duration{0};
  try {
    start(o);
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--allocation-interval"), std::string::npos);
  }
  // Ids the master assigns would break the id rule (80 bytes, no control
  // characters, no '/').
  for (const std::string& id : {std::string(69, 'm'), std::string("m\n1"), std::string("m/1")}) {
    o = testOptions();
    o.masterId = id;
    try {
      start(o);
      ADD_FAILURE() << "no exception for --master-id " << id;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("--master-id"), std::string::npos) << e.what();
    }
  }
  // ACLs that do not read stop the start, naming the file and the place.
  std::filesystem::create_directories(dir);
  const std::string acls = (dir / "acls.json").string();
  std::ofstream(acls) << "{\"run_tasks\": [{\"principals\": {\"type\": \"ANY\"}}]}";
  o = testOptions();
  o.aclsFile = acls;
  try {
    start(o);
    ADD_FAILURE() << "no exception for --acls";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--acls " + acls + ": run_tasks[0]: \"users\" missing"),
              std::string::npos)
        << e.what();
  }
}

// With `capacity` (queues a and b at 50%) and preemption on, a framework of
// starved queue b makes the master kill the newest tasks of a's framework,
// which took the whole agent while b was idle, once b has waited past the
// timeout: two of four tasks, enough for b's half; their resources then go
// to b.
TEST_F(MasterTest, CapacityPreemptionKillsTheOverShareFrameworksNewestTasks) {
  MasterOptions o = testOptions();
  o.policy = "capacity";
  o.params.set("queues", "a:50;b:50");
  o.params.set("preemption", "true");
  o.params.set("preemption_timeout", "10");
  start(o);
  Peer& agent = peer("agent-1");
  registerAgent(agent, "cpus:4;mem:1024");
  Peer& fa = peer("driver-a");
  const std::string a = subscribe(fa, "a");
  const wire::Offer whole = offer(fa);
  EXPECT_TRUE(sameResources(whole.resources(), "cpus:4;mem:1024")) << whole.resources();
  accept(fa, whole,
         {task("t1", "cpus:1;mem:256"), task("t2", "cpus:1;mem:256"), task("t3", "cpus:1;mem:256"),
          task("t4", "cpus:1;mem:256")});
  for (int i = 0; i < 4; ++i) expect<wire::RunTask>(agent, wire::RUN_TASK);
  Peer& fb = peer("driver-b");
  subscribe(fb, "b");
  advance(5s);
  EXPECT_TRUE(none(agent, wire::KILL_TASK));
  advance(6s);
  std::set<std::string> killed;
  for (int i = 0; i < 2; ++i) {
    const auto kill = expect<wire::KillTask>(agent, wire::KILL_TASK);
    EXPECT_EQ(kill.framework_id(), a);
    killed.insert(kill.task_id());
  }
  EXPECT_EQ(killed, (std::set<std::string>{"t3", "t4"}));
  advance(1s);  // kills in flight are not repeated
  EXPECT_TRUE(none(agent, wire::KILL_TASK));
  update(agent, a, "t4", wire::TASK_KILLED, "k-4");
  update(agent, a, "t3", wire::TASK_KILLED, "k-3");
  // The two updates may be handled in one allocation round or in two (they
  // arrive on the socket independently): one offer of both, or two.
  const Resources both = Resources::parse("cpus:2;mem:512");
  Resources freed = Resources::parse(offer(fb).resources());
  if (freed != both) {
    advance(1s);
    freed += Resources::parse(offer(fb).resources());
  }
  EXPECT_EQ(freed, both) << freed;
}

// A task's health check is checked at the master (TASK_ERROR naming the
// field), reaches the agent with its RUN_TASK, and the health the agent
// reports is forwarded and shown in the state.
TEST_F(MasterTest, HealthChecksAreValidatedForwardedAndShown) {
  startWithHttp();
  Cluster c = cluster();
  std::vector<wire::TaskInfo> tasks = {task("bad", "cpus:0.1"), task("good", "cpus:0.1")};
  tasks[0].mutable_health_check()->set_type(wire::HealthCheck::TCP);
  tasks[1].mutable_health_check()->set_type(wire::HealthCheck::COMMAND);
  tasks[1].mutable_health_check()->set_command("test -f ok");
  tasks[1].mutable_health_check()->set_interval_seconds(2);
  accept(*c.fw, c.first, tasks, 0.0);
  auto error = expect<wire::Update>(*c.fw, wire::UPDATE);
  EXPECT_EQ(error.status().task_id(), "bad");
  EXPECT_EQ(error.status().state(), wire::TASK_ERROR);
  EXPECT_EQ(error.status().reason(), "INVALID_TASK");
  EXPECT_NE(error.status().message().find("health_check.port: 0 is not a port (1-65535)"),
            std::string::npos)
      << error.status().message();
  auto run = expect<wire::RunTask>(*c.agent, wire::RUN_TASK);
  EXPECT_EQ(run.task().task_id(), "good");
  EXPECT_EQ(run.task().health_check().command(), "test -f ok");
  EXPECT_EQ(run.task().health_check().interval_seconds(), 2);
  EXPECT_FALSE(run.task().health_check().has_timeout_seconds());
  EXPECT_TRUE(none(*c.agent, wire::RUN_TASK));

  update(*c.agent, c.fwId, "good", wire::TASK_RUNNING, "u-1");
  expect<wire::Update>(*c.fw, wire::UPDATE);
  wire::StatusUpdate sick;
  sick.mutable_status()->set_task_id("good");
  sick.mutable_status()->set_framework_id(c.fwId);
  sick.mutable_status()->set_state(wire::TASK_RUNNING);
  sick.mutable_status()->set_uuid("u-2");
  sick.mutable_status()->set_healthy(false);
  sick.mutable_status()->set_message("health check failed: exited with status 1");
  c.agent->send(wire::STATUS_UPDATE, sick);
  auto forwarded = expect<wire::Update>(*c.fw, wire::UPDATE);
  ASSERT_TRUE(forwarded.status().has_healthy());
  EXPECT_FALSE(forwarded.status().healthy());
  const nlohmann::json j = state();
  ASSERT_EQ(j["tasks"].size(), 1u);
  EXPECT_EQ(j["tasks"][0]["healthy"], false);
  EXPECT_EQ(j["tasks"][0]["message"], "health check failed: exited with status 1");
}

// GET /api/v1/files/read asks the task's agent for a piece of its sandbox
// file (READ_FILE) and answers what the agent sends back (FILE_DATA): JSON
// or raw bytes; the agent's refusal is 404, its silence 504 after 5 s; bad
// parameters, unknown tasks and answers from another agent are refused.
TEST_F(MasterTest, TaskLogsAreReadFromTheTasksAgent) {
  startWithHttp();
  Cluster c = cluster();
  accept(*c.fw, c.first, {task("t1", "cpus:0.1")}, 0.0);
  expect<wire::RunTask>(*c.agent, wire::RUN_TASK);
  const auto ask = [&](const std::string& query) {
    return getLater("/api/v1/files/read?" + query, "X-Allot-Offset");
  };
  const auto wait = [&](std::future<std::string>& answer) { return waitHttp(answer); };
  const std::string t1 = "framework_id=" + c.fwId + "&task_id=t1";

  auto answer = ask(t1 + "&file=stderr&offset=-1&length=100");
  auto read = expect<wire::ReadFile>(*c.agent, wire::READ_FILE);
  EXPECT_EQ(read.framework_id(), c.fwId);
  EXPECT_EQ(read.task_id(), "t1");
  EXPECT_EQ(read.file(), "stderr");
  EXPECT_EQ(read.offset(), -1);
  EXPECT_EQ(read.length(), 100u);
  wire::FileData data;
  data.set_request_id(read.request_id());
  data.set_data(std::string("bad \xff byte\n"));
  data.set_offset(7);
  data.set_size(20);
  c.agent->send(wire::FILE_DATA, data);
  std::string got = wait(answer);
  ASSERT_EQ(got.substr(0, 4), "200\n") << got;
  const auto j = nlohmann::json::parse(got.substr(got.find('\n', 4) + 1));
  EXPECT_EQ(j["data"], "bad \xef\xbf\xbd byte\n") << "invalid UTF-8 replaced, not an error";
  EXPECT_EQ(j["offset"], 7);
  EXPECT_EQ(j["length"], 11);
  EXPECT_EQ(j["size"], 20);
  EXPECT_EQ(j["agent_id"], c.agentId);

  // Raw: the bytes as they are, where they start in a header.
  answer = ask(t1 + "&format=raw");
  read = expect<wire::ReadFile>(*c.agent, wire::READ_FILE);
  EXPECT_EQ(read.file(), "stdout");
  EXPECT_EQ(read.offset(), 0);
  EXPECT_EQ(read.length(), kMaxFileRead);
  data.set_request_id(read.request_id());
  data.set_offset(0);
  c.agent->send(wire::FILE_DATA, data);
  EXPECT_EQ(wait(answer), "200\n0\nbad \xff byte\n");

  // The agent's refusal; an answer from another agent is not taken.
  answer = ask(t1);
  read = expect<wire::ReadFile>(*c.agent, wire::READ_FILE);
  Peer& other = peer("agent-2");
  registerAgent(other, "cpus:1;mem:64");
  wire::FileData forged;
  forged.set_request_id(read.request_id());
  forged.set_data("forged");
  other.send(wire::FILE_DATA, forged);
  auto error = expect<wire::Error>(other, wire::ERROR);
  EXPECT_EQ(error.code(), wire::Error::INVALID);
  wire::FileData refused;
  refused.set_request_id(read.request_id());
  refused.set_error("no stdout in the sandbox");
  c.agent->send(wire::FILE_DATA, refused);
  EXPECT_EQ(wait(answer), "404\n\n{\"error\":\"no stdout in the sandbox\"}");

  // An agent that cannot read files (an earlier version) says so at once.
  answer = ask(t1);
  refuseAsOlderAgent(*c.agent, wire::READ_FILE);
  got = wait(answer);
  EXPECT_EQ(got.substr(0, 4), "502\n") << got;
  EXPECT_NE(got.find("cannot read the file: not a message for an agent"), std::string::npos) << got;

  // A silent agent: 504 once the read's 5 s have passed.
  answer = ask(t1);
  expect<wire::ReadFile>(*c.agent, wire::READ_FILE);
  advance(5s);
  got = wait(answer);
  EXPECT_EQ(got.substr(0, 4), "504\n") << got;
  EXPECT_NE(got.find("did not answer within 5 s"), std::string::npos) << got;

  for (const auto& [query, want] : std::vector<std::pair<std::string, std::string>>{
           {"task_id=t1", "400"},
           {t1 + "&file=../../meta/agent_id", "400"},
           {t1 + "&file=/etc/passwd", "400"},
           {t1 + "&file=", "400"},
           {t1 + "&offset=-2", "400"},
           {t1 + "&length=0", "400"},
           {t1 + "&length=1048577", "400"},
           {t1 + "&format=html", "400"},
           {t1 + "&path=/etc/passwd", "400"},
           {"framework_id=" + c.fwId + "&task_id=nope", "404"}}) {
    auto refusedAnswer = ask(query);
    EXPECT_EQ(wait(refusedAnswer).substr(0, 3), want) << query;
  }
  EXPECT_TRUE(none(*c.agent, wire::READ_FILE)) << "bad requests reach no agent";
}

// GET /api/v1/files/browse asks the task's agent for a directory of its
// sandbox (LIST_FILES) and answers its entries (FILE_LIST) as JSON; a name
// that is no directory entry, an answer of the wrong kind or from another
// agent, and bad paths are refused; an agent that cannot list says so (502).
TEST_F(MasterTest, TaskSandboxesAreListedByTheTasksAgent) {
  startWithHttp();
  Cluster c = cluster();
  accept(*c.fw, c.first, {task("t1", "cpus:0.1")}, 0.0);
  expect<wire::RunTask>(*c.agent, wire::RUN_TASK);
  const auto ask = [&](const std::string& query) {
    return getLater("/api/v1/files/browse?" + query);
  };
  const auto wait = [&](std::future<std::string>& answer) { return waitHttp(answer); };
  const std::string t1 = "framework_id=" + c.fwId + "&task_id=t1";

  auto answer = ask(t1 + "&path=out/");
  auto list = expect<wire::ListFiles>(*c.agent, wire::LIST_FILES);
  EXPECT_EQ(list.framework_id(), c.fwId);
  EXPECT_EQ(list.task_id(), "t1");
  EXPECT_EQ(list.path(), "out") << "a trailing slash names the directory";
  wire::FileList files;
  files.set_request_id(list.request_id());
  auto entry = [&](const std::string& name, wire::FileEntry::Type type, std::uint32_t mode) {
    wire::FileEntry& e = *files.add_entries();
    e.set_name(name);
    e.set_type(type);
    e.set_size(42);
    e.set_mode(mode);
    e.set_mtime_us(1'700'000'000'000'000);
  };
  entry("deep", wire::FileEntry::DIRECTORY, 0755);
  entry("r.txt", wire::FileEntry::FILE, 04640);
  entry("pw", wire::FileEntry::SYMLINK, 0777);
  entry("fifo", wire::FileEntry::OTHER, 01600);
  c.agent->send(wire::FILE_LIST, files);
  std::string got = wait(answer);
  ASSERT_EQ(got.substr(0, 4), "200\n") << got;
  auto j = nlohmann::json::parse(got.substr(4));
  EXPECT_EQ(j["path"], "out");
  EXPECT_EQ(j["agent_id"], c.agentId);
  EXPECT_EQ(j["truncated"], false);
  ASSERT_EQ(j["entries"].size(), 4u);
  EXPECT_EQ(j["entries"][0]["path"], "out/deep");
  EXPECT_EQ(j["entries"][0]["type"], "directory");
  EXPECT_EQ(j["entries"][0]["mode"], "drwxr-xr-x");
  EXPECT_EQ(j["entries"][1]["mode"], "-rwSr-----");
  EXPECT_EQ(j["entries"][1]["size"], 42);
  EXPECT_EQ(j["entries"][1]["mtime_us"], 1'700'000'000'000'000);
  EXPECT_EQ(j["entries"][2]["type"], "symlink");
  EXPECT_EQ(j["entries"][2]["mode"], "lrwxrwxrwx");
  EXPECT_EQ(j["entries"][3]["type"], "other");
  EXPECT_EQ(j["entries"][3]["mode"], "?rw------T");

  // The sandbox itself; a FILE_DATA or another agent's FILE_LIST answers
  // no listing; the agent's refusal is 404.
  answer = ask(t1);
  list = expect<wire::ListFiles>(*c.agent, wire::LIST_FILES);
  EXPECT_EQ(list.path(), "");
  wire::FileData wrongKind;
  wrongKind.set_request_id(list.request_id());
  c.agent->send(wire::FILE_DATA, wrongKind);
  EXPECT_EQ(expect<wire::Error>(*c.agent, wire::ERROR).code(), wire::Error::INVALID);
  Peer& other = peer("agent-2");
  registerAgent(other, "cpus:1;mem:64");
  wire::FileList forged;
  forged.set_request_id(list.request_id());
  other.send(wire::FILE_LIST, forged);
  EXPECT_EQ(expect<wire::Error>(other, wire::ERROR).code(), wire::Error::INVALID);
  wire::FileList refused;
  refused.set_request_id(list.request_id());
  refused.set_error("no sandbox in the sandbox of task t1");
  c.agent->send(wire::FILE_LIST, refused);
  EXPECT_EQ(wait(answer), "404\n{\"error\":\"no sandbox in the sandbox of task t1\"}");

  // Names that are no directory entry: the agent is told, the caller gets 502.
  for (const std::string& name : {std::string("../x"), std::string(".."), std::string()}) {
    answer = ask(t1);
    list = expect<wire::ListFiles>(*c.agent, wire::LIST_FILES);
    files.Clear();
    files.set_request_id(list.request_id());
    entry(name, wire::FileEntry::FILE, 0644);
    c.agent->send(wire::FILE_LIST, files);
    got = wait(answer);
    EXPECT_EQ(got.substr(0, 4), "502\n") << name << ": " << got;
    EXPECT_EQ(expect<wire::Error>(*c.agent, wire::ERROR).code(), wire::Error::INVALID) << name;
  }

  // An agent that cannot list (an earlier version) says so at once.
  answer = ask(t1);
  refuseAsOlderAgent(*c.agent, wire::LIST_FILES);
  got = wait(answer);
  EXPECT_EQ(got.substr(0, 4), "502\n") << got;

  for (const auto& [query, want] : std::vector<std::pair<std::string, std::string>>{
           {"task_id=t1", "400"},
           {t1 + "&path=../x", "400"},
           {t1 + "&path=/", "400"},
           {t1 + "&path=a//b", "400"},
           {t1 + "&file=stdout", "400"},
           {"framework_id=" + c.fwId + "&task_id=nope", "404"}}) {
    auto refusedAnswer = ask(query);
    EXPECT_EQ(wait(refusedAnswer).substr(0, 3), want) << query;
  }
  EXPECT_TRUE(none(*c.agent, wire::LIST_FILES)) << "bad requests reach no agent";
}

// Ids with control characters (NUL above all: the executor protocol splits
// on it), ids over 80 bytes and NULs in a command or its environment are
// refused at the master, naming the field; none of them reaches the agent,
// and a valid task of the same ACCEPT still does.
TEST_F(MasterTest, ControlCharactersAndOverLongIdsAreRefusedNamingTheField) {
  start();
  Cluster c = cluster();
  std::string cjk;
  for (int i = 0; i < 26; ++i) cjk += "\u4efb";  // 3 bytes each: 78 bytes
  std::vector<wire::TaskInfo> tasks = {
      task(std::string("nul\0id", 6), "cpus:0.1"),
      task("nl\nid", "cpus:0.1"),
      task(std::string(81, 'L'), "cpus:0.1"),
      task(cjk + "\u4efb", "cpus:0.1"),  // 81 bytes
      task("cmdnul", "cpus:0.1", std::string("echo a\0b", 8)),
      task("envnul", "cpus:0.1"),
      task(cjk, "cpus:0.1"),  // 78 bytes: fine
  };
  (*tasks[5].mutable_environment())["GOOD"] = "1";
  (*tasks[5].mutable_environment())["BAD"] = std::string("x\0y", 3);
  accept(*c.fw, c.first, tasks, 0.0);
  std::map<std::string, wire::TaskStatus> errors;
  for (int i = 0; i < 6; ++i) {
    auto u = expect<wire::Update>(*c.fw, wire::UPDATE);
    errors[u.status().task_id()] = u.status();
  }
  ASSERT_EQ(errors.size(), 6u);
  auto check = [&](const std::string& id, const std::string& text) {
    ASSERT_TRUE(errors.count(id)) << id;
    const wire::TaskStatus& s = errors[id];
    EXPECT_EQ(s.state(), wire::TASK_ERROR) << id;
    EXPECT_EQ(s.reason(), "INVALID_TASK") << id;
    EXPECT_NE(s.message().find(text), std::string::npos) << id << ": " << s.message();
  };
  check(std::string("nul\0id", 6), "task_id: must not contain NUL (byte 3)");
  check("nl\nid", "task_id: must not contain control characters (0x0a at byte 2)");
  check(std::string(81, 'L'), "task_id: 81 bytes long; at most 80 bytes are allowed");
  check(cjk + "\u4efb", "task_id: 81 bytes long; at most 80 bytes are allowed");
  check("cmdnul", "command: must not contain NUL (byte 6)");
  check("envnul", "environment['BAD']: must not contain NUL (byte 1)");
  auto run = expect<wire::RunTask>(*c.agent, wire::RUN_TASK);
  EXPECT_EQ(run.task().task_id(), cjk);
  EXPECT_TRUE(none(*c.agent, wire::RUN_TASK));

  // A framework id or an agent id with a control character is refused.
  Peer& f2 = peer("driver-2");
  wire::Subscribe sub;
  sub.mutable_framework()->set_framework_id(std::string("fw\0x", 4));
  f2.send(wire::SUBSCRIBE, sub);
  auto e1 = expect<wire::Error>(f2, wire::ERROR);
  EXPECT_EQ(e1.code(), wire::Error::INVALID);
  EXPECT_EQ(e1.message(), "framework.framework_id: must not contain NUL (byte 2)");
  Peer& a2 = peer("agent-2");
  wire::RegisterAgent reg;
  reg.set_agent_id("agentD\n");
  reg.set_resources("cpus:1");
  a2.send(wire::REGISTER_AGENT, reg);
  auto e2 = expect<wire::Error>(a2, wire::ERROR);
  EXPECT_EQ(e2.message(), "agent_id: must not contain control characters (0x0a at byte 6)");
  EXPECT_TRUE(none(a2, wire::AGENT_REGISTERED));
}

// A task whose RUN_TASK (framework info and task together) would pass the
// 4 MiB message limit is refused at ACCEPT: the agent could not read it.
TEST_F(MasterTest, LaunchTooLargeForOneMessageIsRefusedAtAccept) {
  start();
  Peer& agent = peer("agent-1");
  registerAgent(agent, "cpus:4;mem:1024");
  Peer& fw = peer("driver-1");
  wire::Subscribe sub;
  sub.mutable_framework()->set_name(std::string(2'500'000, 'n'));
  fw.send(wire::SUBSCRIBE, sub);
  fw.sender = expect<wire::Subscribed>(fw, wire::SUBSCRIBED).framework_id();
  wire::Offer o = offer(fw);
  accept(fw, o, {task("big", "cpus:1", std::string(2'000'000, 'c'))});
  auto u = expect<wire::Update>(fw, wire::UPDATE);
  EXPECT_EQ(u.status().task_id(), "big");
  EXPECT_EQ(u.status().state(), wire::TASK_ERROR);
  EXPECT_NE(u.status().message().find("RUN_TASK"), std::string::npos) << u.status().message();
  EXPECT_NE(u.status().message().find("at most 4194304 bytes"), std::string::npos)
      << u.status().message();
  EXPECT_TRUE(none(agent, wire::RUN_TASK));
}

// A RUN_TASK the agent refuses (the id is still in use there) and a KILL_TASK
// of a task it does not know are answered with ERROR naming their sequence;
// the master ends those tasks with a reliable update instead of leaving them
// STAGING or RUNNING for good. An ERROR naming another sequence ends nothing.
TEST_F(MasterTest, LaunchOrKillTheAgentRefusesEndsTheTask) {
  start();
  Cluster c = cluster();
  accept(*c.fw, c.first, {task("t1", "cpus:1;mem:128")}, 0.0);
  auto runEnvelope = take(*c.agent, wire::RUN_TASK);
  ASSERT_TRUE(runEnvelope.has_value());
  auto refuse = [&](const wire::Envelope& about, const std::string& message,
                    std::uint64_t sequence) {
    wire::Error error;
    error.set_code(wire::Error::INVALID);
    error.set_message(message);
    error.set_about(about.type());
    error.set_about_sequence(sequence);
    c.agent->send(wire::ERROR, error);
  };
  refuse(*runEnvelope, "task " + c.fwId + "/t1 already exists here", runEnvelope->sequence() + 7);
  EXPECT_TRUE(none(*c.fw, wire::UPDATE));
  refuse(*runEnvelope, "task " + c.fwId + "/t1 already exists here", runEnvelope->sequence());
  auto failed = expect<wire::Update>(*c.fw, wire::UPDATE);
  EXPECT_EQ(failed.status().task_id(), "t1");
  EXPECT_EQ(failed.status().state(), wire::TASK_FAILED);
  EXPECT_EQ(failed.status().reason(), "LAUNCH_REFUSED");
  EXPECT_EQ(failed.status().message(), "agent '" + c.agentId + "' refused the launch: task " +
                                           c.fwId + "/t1 already exists here");
  EXPECT_FALSE(failed.status().uuid().empty());
  // The task's resources are free again: offered, with the rest, in one or
  // more offers.
  wire::Accept next;
  Resources offered;
  while (offered != Resources::parse("cpus:4;mem:1024")) {
    advance(1s);
    auto offers = take(*c.fw, wire::OFFERS, 500ms);
    ASSERT_TRUE(offers.has_value()) << "offered only " << toString(offered);
    wire::Offers msg;
    ASSERT_TRUE(msg.ParseFromString(offers->payload()));
    for (const wire::Offer& o : msg.offers()) {
      offered += Resources::parse(o.resources());
      next.add_offer_ids(o.offer_id());
    }
  }
  wire::Acknowledge ack;
  ack.set_task_id("t1");
  ack.set_uuid(failed.status().uuid());
  c.fw->send(wire::ACKNOWLEDGE, ack);

  // A running task that the agent does not know when asked to kill it.
  *next.add_tasks() = task("t2", "cpus:1;mem:128");
  next.mutable_filters()->set_refuse_seconds(0);
  c.fw->send(wire::ACCEPT, next);
  auto run2 = take(*c.agent, wire::RUN_TASK);
  ASSERT_TRUE(run2.has_value());
  update(*c.agent, c.fwId, "t2", wire::TASK_RUNNING, "r-2");
  EXPECT_EQ(expect<wire::Update>(*c.fw, wire::UPDATE).status().state(), wire::TASK_RUNNING);
  // A late refusal of t2's launch changes nothing: the agent reported it.
  refuse(*run2, "task " + c.fwId + "/t2 already exists here", run2->sequence());
  EXPECT_TRUE(none(*c.fw, wire::UPDATE));
  wire::Kill kill;
  kill.set_task_id("t2");
  c.fw->send(wire::KILL, kill);
  auto killEnvelope = take(*c.agent, wire::KILL_TASK);
  ASSERT_TRUE(killEnvelope.has_value());
  refuse(*killEnvelope, "field task_id: unknown task " + c.fwId + "/t2", killEnvelope->sequence());
  auto lost = expect<wire::Update>(*c.fw, wire::UPDATE);
  EXPECT_EQ(lost.status().task_id(), "t2");
  EXPECT_EQ(lost.status().state(), wire::TASK_LOST);
  EXPECT_EQ(lost.status().reason(), "UNKNOWN_TASK");
  EXPECT_NE(lost.status().message().find("does not know this task"), std::string::npos);
  EXPECT_FALSE(lost.status().uuid().empty());
}

// A refuse_seconds that is not a finite number >= 0 is answered with ERROR
// naming the field and value; the offer still goes back, with the default
// filter (5 s), not held until the offer timeout and not filtered for ever.
TEST_F(MasterTest, BadRefuseSecondsAreAnsweredWithAnErrorAndTheDefaultFilter) {
  start();
  Cluster c = cluster();
  wire::Offer current = c.first;
  for (double bad : {std::nan(""), -1.0, std::numeric_limits<double>::infinity()}) {
    wire::Decline decline;
    decline.add_offer_ids(current.offer_id());
    decline.mutable_filters()->set_refuse_seconds(bad);
    c.fw->send(wire::DECLINE, decline);
    auto error = expect<wire::Error>(*c.fw, wire::ERROR);
    EXPECT_EQ(error.code(), wire::Error::INVALID);
    EXPECT_EQ(error.message(),
              fmt::format("filters.refuse_seconds: must be a finite number of seconds >= 0, not "
                          "{}; the default of 5 s applies",
                          bad));
    advance(4s);
    EXPECT_TRUE(none(*c.fw, wire::OFFERS));
    advance(2s);
    current = offer(*c.fw);
  }
}

// The HTTP port is the master's alone: a second master on a port in use fails
// to start (cpp-httplib's default SO_REUSEPORT would let both listen, and
// the kernel share requests between them).
TEST_F(MasterTest, HttpPortInUseIsRefused) {
  startWithHttp();
  ASSERT_GT(master->httpPort(), 0);
  MasterOptions second = testOptions();
  second.httpHost = "127.0.0.1";
  second.httpPort = master->httpPort();
  second.masterId = "m2";
  try {
    Master other(context, clock, second);
    ADD_FAILURE() << "a second master listens on HTTP port " << second.httpPort;
  } catch (const Error& e) {
    EXPECT_NE(
        std::string(e.what()).find("cannot listen on 127.0.0.1:" + std::to_string(second.httpPort)),
        std::string::npos)
        << e.what();
  }
  EXPECT_EQ(get("/health").substr(0, 4), "200\n");
}

// Idle connections (requests whose headers never end) leave the HTTP API
// answering. (They used to hold all 4 workers for 5 s each; how fast it
// answers is not asserted here: timings belong in bench/, and this checks
// only that the API answers while they are held.)
TEST_F(MasterTest, IdleHttpConnectionsDoNotStallTheApi) {
  startWithHttp();
  std::vector<int> idle;
  for (int i = 0; i < 8; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(master->httpPort()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    const std::string half = "GET /health HTTP/1.1\r\nHost: x\r\n";
    ASSERT_EQ(::send(fd, half.data(), half.size(), 0), static_cast<ssize_t>(half.size()));
    idle.push_back(fd);
  }
  pumpUntil([] { return false; }, 200ms);  // the server takes them up
  EXPECT_EQ(get("/health").substr(0, 4), "200\n");
  for (int fd : idle) ::close(fd);
}

// The status line of a get/post answer, and its JSON "error".
int status(const std::string& answer) {
  return std::stoi(answer.substr(0, answer.find('\n')));
}
std::string error(const std::string& answer) {
  return nlohmann::json::parse(answer.substr(answer.find('\n') + 1)).value("error", "");
}

// A registry written before reservations and roles existed (no `reserved`
// column, no `roles` table) is upgraded in place: its agents load, and a
// reservation made then is kept by the next restart.
TEST_F(MasterTest, RegistryOfAnEarlierVersionIsUpgraded) {
  std::filesystem::create_directories(dir);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "registry.sqlite").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE agents (id TEXT PRIMARY KEY, hostname TEXT NOT NULL, "
                         "resources TEXT NOT NULL, attributes TEXT NOT NULL);"
                         "CREATE TABLE frameworks (id TEXT PRIMARY KEY, info BLOB NOT NULL);"
                         "CREATE TABLE removed_frameworks (id TEXT PRIMARY KEY);"
                         "INSERT INTO agents VALUES ('old-1', 'node-a', 'cpus:2;mem:256', '');",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  MasterOptions o = registryOptions();
  start(o);
  Peer& agent = peer("agent-1");
  registerAgent(agent, "cpus:2;mem:256", "old-1");
  ASSERT_EQ(status(postJson("/api/v1/reserve",
                            nlohmann::json{{"agent_id", "old-1"}, {"resources", "cpus(web):1"}})),
            200);
  restart(o);
  ASSERT_TRUE(master);
  const nlohmann::json j = state();
  ASSERT_EQ(j["agents"].size(), 1u);
  EXPECT_EQ(j["agents"][0]["id"], "old-1");
  EXPECT_EQ(j["agents"][0]["reserved"], "cpus(web):1");
  EXPECT_EQ(j["agents"][0]["maintenance"], "");
  // ... and gained the CURVE key name, maintenance and drain grace columns, empty.
  sqlite3* upgraded = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "registry.sqlite").c_str(), &upgraded), SQLITE_OK);
  sqlite3_stmt* query = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(upgraded,
                         "SELECT key_name, maintenance, drain_grace_us FROM agents WHERE id = "
                         "'old-1'",
                         -1, &query, nullptr),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_step(query), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(query, 0)), "");
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(query, 1)), "");
  EXPECT_EQ(sqlite3_column_int64(query, 2), 0);
  sqlite3_finalize(query);
  sqlite3_close(upgraded);
}

// An operator reserves part of an agent for a role: the offers on the agent
// are rescinded, other roles are offered only the rest, the role's framework
// the reservation too; the registry keeps it across a restart, where the
// re-registering agent gets it again; unreserving gives it back to all.
TEST_F(MasterTest, OperatorReservationsAreOfferedOnlyToTheirRoleAndSurviveARestart) {
  MasterOptions o = registryOptions();
  start(o);
  Peer& agent = peer("agent-1");
  const std::string agentId = registerAgent(agent, "cpus:4;mem:1024");
  Peer& batch = peer("driver-1");
  subscribe(batch, "batch");
  const wire::Offer whole = offer(batch);
  EXPECT_TRUE(sameResources(whole.resources(), "cpus:4;mem:1024"));

  std::string answer =
      postJson("/api/v1/reserve",
               nlohmann::json{{"agent_id", agentId}, {"resources", "cpus(web):3;mem(web):512"}});
  ASSERT_EQ(status(answer), 200) << answer;
  EXPECT_EQ(nlohmann::json::parse(answer.substr(4))["stored"], true) << answer;
  EXPECT_EQ(expect<wire::Rescind>(batch, wire::RESCIND).offer_id(), whole.offer_id());
  EXPECT_TRUE(sameResources(offer(batch).resources(), "cpus:1;mem:512"));
  Peer& web = peer("driver-2");
  subscribe(web, "web");
  EXPECT_TRUE(sameResources(offer(web).resources(), "cpus(web):3;mem(web):512"));
  nlohmann::json j = state();
  ASSERT_EQ(j["agents"].size(), 1u);
  EXPECT_TRUE(sameResources(j["agents"][0]["reserved"], "cpus(web):3;mem(web):512"));
  EXPECT_TRUE(sameResources(j["agents"][0]["total"], "cpus:1;mem:512;cpus(web):3;mem(web):512"));

  // Restart on the same ports: the registry holds the reservation.
  const std::string port = endpoint.substr(endpoint.rfind(':') + 1);
  o.endpoint = "tcp://127.0.0.1:" + port;
  restart(o);
  ASSERT_TRUE(master);
  j = state();
  ASSERT_EQ(j["agents"].size(), 1u);
  EXPECT_EQ(j["agents"][0]["status"], "recovering");
  EXPECT_TRUE(sameResources(j["agents"][0]["reserved"], "cpus(web):3;mem(web):512"));
  Peer& again = peer("agent-1b");
  registerAgent(again, "cpus:4;mem:1024", agentId);
  Peer& batch2 = peer("driver-3");
  subscribe(batch2, "batch");
  EXPECT_TRUE(sameResources(offer(batch2).resources(), "cpus:1;mem:512"));

  answer = postJson("/api/v1/unreserve", nlohmann::json{{"agent_id", agentId},
                                                        {"resources", "cpus(web):3;mem(web):512"}});
  ASSERT_EQ(status(answer), 200) << answer;
  expect<wire::Rescind>(batch2, wire::RESCIND);
  EXPECT_TRUE(sameResources(offer(batch2).resources(), "cpus:4;mem:1024"));
  j = state();
  EXPECT_EQ(j["agents"][0]["reserved"], "");
}

// A framework reserves part of an offer for its role (ACCEPT's reserve):
// the reserved part is offered again at once; bad changes are refused one by
// one with an ERROR naming them while good ones in the same ACCEPT apply;
// unreserve gives part back; other roles are offered only unreserved
// resources, and a framework without a role cannot reserve.
TEST_F(MasterTest, FrameworksReserveAndUnreserveThroughTheirOffers) {
  MasterOptions o = registryOptions();
  start(o);
  Peer& agent = peer("agent-1");
  registerAgent(agent, "cpus:4;mem:1024");
  Peer& web = peer("driver-1");
  subscribe(web, "web");
  const wire::Offer whole = offer(web);
  wire::Accept acc;
  acc.add_offer_ids(whole.offer_id());
  acc.add_reserve("cpus(web):2;mem(web):256");
  web.send(wire::ACCEPT, acc);
  // The reserved part comes back unfiltered, with the rest (the offer is
  // more than the filtered rest, so the filter does not cover it).
  const wire::Offer reserved = offer(web);
  const Resources got = Resources::parse(reserved.resources());
  EXPECT_EQ(got.scalar("cpus", "web"), 2.0) << reserved.resources();
  EXPECT_EQ(got.scalar("mem", "web"), 256.0) << reserved.resources();
  EXPECT_EQ(state()["agents"][0]["reserved"], "cpus(web):2;mem(web):256");

  wire::Accept mixed;
  mixed.add_offer_ids(reserved.offer_id());
  mixed.add_reserve("cpus(batch):1");     // another role's
  mixed.add_unreserve("cpus(web):5");     // more than offered
  mixed.add_unreserve("cpus(web):1");     // fine
  mixed.add_unreserve("cpus(web):zero");  // does not parse
  mixed.mutable_filters()->set_refuse_seconds(3600);
  web.send(wire::ACCEPT, mixed);
  std::vector<std::string> errors;
  for (int i = 0; i < 3; ++i) errors.push_back(expect<wire::Error>(web, wire::ERROR).message());
  EXPECT_NE(errors[0].find("reserve[0]: cpus(batch):1: every resource must name the framework's "
                           "role, as cpus(web):1"),
            std::string::npos)
      << errors[0];
  EXPECT_NE(errors[1].find("unreserve[0]: the offers do not hold cpus(web):5"), std::string::npos)
      << errors[1];
  EXPECT_NE(errors[2].find("unreserve[2]"), std::string::npos) << errors[2];
  const nlohmann::json j = state();
  EXPECT_TRUE(sameResources(j["agents"][0]["reserved"], "cpus(web):1;mem(web):256"))
      << j["agents"][0];
  EXPECT_TRUE(sameResources(j["agents"][0]["total"], "cpus:3;mem:768;cpus(web):1;mem(web):256"))
      << j["agents"][0];
  // What web holds goes back filtered for an hour.
  const wire::Offer last = offer(web);
  wire::Decline decline;
  decline.add_offer_ids(last.offer_id());
  decline.mutable_filters()->set_refuse_seconds(3600);
  web.send(wire::DECLINE, decline);

  // Role '*' is offered the unreserved resources only, and cannot reserve.
  Peer& plain = peer("driver-2");
  subscribe(plain, "*");
  const wire::Offer unreserved = offer(plain);
  EXPECT_TRUE(sameResources(unreserved.resources(), "cpus:3;mem:768")) << unreserved.resources();
  wire::Accept noRole;
  noRole.add_offer_ids(unreserved.offer_id());
  noRole.add_reserve("cpus(web):1");
  plain.send(wire::ACCEPT, noRole);
  EXPECT_NE(expect<wire::Error>(plain, wire::ERROR).message().find("role '*' cannot reserve"),
            std::string::npos);
  EXPECT_TRUE(sameResources(state()["agents"][0]["reserved"], "cpus(web):1;mem(web):256"));
}

// With an operator token, operator calls without it or with another are
// refused (401, WWW-Authenticate) before anything else is looked at; reads
// stay open, but for task logs.
TEST_F(MasterTest, OperatorCallsNeedTheTokenWhenOneIsSet) {
  MasterOptions o = registryOptions();
  o.operatorToken = "s3cret-token";
  start(o);
  const std::string body = nlohmann::json{{"role", "web"}, {"weight", 2}}.dump();
  std::string answer = post("/api/v1/weights", body);
  EXPECT_EQ(status(answer), 401) << answer;
  EXPECT_NE(error(answer).find("need the operator token"), std::string::npos) << answer;
  for (const char* wrong : {"Bearer s3cret-tokeN", "Bearer s3cret-token2", "Bearer ",
                            "s3cret-token", "Basic s3cret-token"}) {
    answer = post("/api/v1/weights", body, "application/json", wrong);
    EXPECT_EQ(status(answer), 401) << wrong;
    EXPECT_EQ(error(answer), "wrong operator token") << wrong;
  }
  // Not even the path or the body is judged without the token.
  EXPECT_EQ(status(post("/api/v1/nope", "garbage", "text/plain")), 401);
  answer = post("/api/v1/teardown", nlohmann::json{{"framework_id", "any"}}.dump());
  EXPECT_EQ(status(answer), 401) << answer;
  answer = post("/api/v1/weights", body, "application/json", "Bearer s3cret-token");
  EXPECT_EQ(status(answer), 200) << answer;
  EXPECT_EQ(status(get("/api/v1/state")), 200);
  EXPECT_EQ(status(get("/")), 200);
  // Task logs may hold secrets: they need the token too, before anything
  // else of the request is judged.
  answer = get("/api/v1/files/read?framework_id=f&task_id=t");
  EXPECT_EQ(status(answer), 401) << answer;
  EXPECT_NE(error(answer).find("task logs need the operator token"), std::string::npos) << answer;
  answer = get("/api/v1/files/browse?framework_id=f&task_id=t&path=../..");
  EXPECT_EQ(status(answer), 401) << answer;
  EXPECT_NE(error(answer).find("sandbox listings need the operator token"), std::string::npos)
      << answer;
}

// A role's quota limit caps what it is offered, its weight shows in the
// state, and both survive a restart through the registry.
TEST_F(MasterTest, OperatorWeightsAndQuotasApplyAndSurviveARestart) {
  MasterOptions o = registryOptions();
  start(o);
  std::string answer = postJson(
      "/api/v1/quota",
      nlohmann::json{{"role", "batch"}, {"guarantee", "cpus:1"}, {"limit", "cpus:2;mem:512"}});
  ASSERT_EQ(status(answer), 200) << answer;
  answer = postJson("/api/v1/weights", nlohmann::json{{"role", "batch"}, {"weight", 3}});
  ASSERT_EQ(status(answer), 200) << answer;
  EXPECT_EQ(nlohmann::json::parse(answer.substr(4))["guarantee"], "cpus:1");  // kept
  Peer& agent = peer("agent-1");
  registerAgent(agent, "cpus:4;mem:1024");
  Peer& batch = peer("driver-1");
  subscribe(batch, "batch");
  const wire::Offer capped = offer(batch);
  const Resources offered = Resources::parse(capped.resources());
  EXPECT_LE(offered.scalar("cpus"), 2.0) << capped.resources();
  EXPECT_LE(offered.scalar("mem"), 512.0) << capped.resources();
  EXPECT_GT(offered.scalar("cpus"), 0.0) << capped.resources();

  auto role = [this](const std::string& name) {
    const nlohmann::json j = state();
    for (const auto& r : j["roles"]) {
      if (r["name"] == name) return r;
    }
    return nlohmann::json();
  };
  nlohmann::json batchRole = role("batch");
  EXPECT_EQ(batchRole["weight"], 3.0);
  EXPECT_TRUE(sameResources(batchRole["guarantee"], "cpus:1"));
  // The quota, weight, agent and framework were written: /metrics counts it.
  const std::string metrics = get("/metrics");
  const std::string writes = "allot_master_registry_write_seconds_count ";
  const auto at = metrics.find(writes);
  ASSERT_NE(at, std::string::npos) << metrics;
  EXPECT_GE(std::stoi(metrics.substr(at + writes.size())), 3) << metrics;
  EXPECT_NE(metrics.find("allot_master_registry_write_failures_total 0\n"), std::string::npos);
  EXPECT_TRUE(sameResources(batchRole["limit"], "cpus:2;mem:512"));

  restart(o);
  ASSERT_TRUE(master);
  batchRole = role("batch");
  EXPECT_EQ(batchRole["weight"], 3.0);
  EXPECT_TRUE(sameResources(batchRole["limit"], "cpus:2;mem:512"));

  // Removing the quota and setting weight 1 leave nothing configured.
  ASSERT_EQ(status(postJson("/api/v1/quota", nlohmann::json{{"role", "batch"}})), 200);
  ASSERT_EQ(status(postJson("/api/v1/weights", nlohmann::json{{"role", "batch"}, {"weight", 1}})),
            200);
  restart(o);
  ASSERT_TRUE(master);
  batchRole = role("batch");
  EXPECT_TRUE(batchRole.is_null() || (batchRole["weight"] == 1.0 && batchRole["limit"] == ""))
      << batchRole;
}

// Every refused operator request gets its status and a reason naming what
// was wrong; nothing changes, and the master goes on serving.
TEST_F(MasterTest, BadOperatorRequestsAreRefusedWithTheirReason) {
  startWithHttp();
  Cluster c = cluster();
  auto refused = [&](const std::string& answer, int code, const std::string& words) {
    EXPECT_EQ(status(answer), code) << answer;
    EXPECT_NE(error(answer).find(words), std::string::npos) << answer;
  };
  const nlohmann::json reserve{{"agent_id", c.agentId}, {"resources", "cpus(web):1"}};
  refused(post("/api/v1/reserve", reserve.dump(), "text/plain"), 415, "application/json");
  refused(get("/api/v1/reserve"), 405, "POST");
  refused(post("/api/v1/nope", "{}"), 404, "no operator call /api/v1/nope");
  refused(post("/api/v1/reserve", "{\"agent_id\":"), 400, "not JSON");
  refused(post("/api/v1/reserve", "[1]"), 400, "JSON object");
  refused(postJson("/api/v1/weights", nlohmann::json{{"role", "web"}, {"weight", -2}}), 400,
          "weight: must be a positive number");
  refused(postJson("/api/v1/weights", nlohmann::json{{"role", "we b"}, {"weight", 2}}), 400,
          "role 'we b'");
  refused(postJson("/api/v1/weights", nlohmann::json{{"weight", 2}}), 400, "role: missing");
  refused(postJson("/api/v1/quota", nlohmann::json{{"role", "*"}, {"limit", "cpus:1"}}), 400,
          "'*'");
  refused(postJson("/api/v1/quota", nlohmann::json{{"role", "web"}, {"limit", "cpus(web):1"}}), 400,
          "limit cpus(web):1: quota is unreserved scalars only");
  refused(postJson("/api/v1/quota", nlohmann::json{{"role", "web"}, {"guarantee", "cpus:x"}}), 400,
          "guarantee: ");
  refused(postJson("/api/v1/quota",
                   nlohmann::json{{"role", "web"}, {"guarantee", "cpus:3"}, {"limit", "cpus:2"}}),
          400, "exceeds its limit");
  refused(
      postJson("/api/v1/reserve", nlohmann::json{{"agent_id", "nope"}, {"resources", "cpus(w):1"}}),
      404, "no agent 'nope'");
  refused(
      postJson("/api/v1/reserve", nlohmann::json{{"agent_id", c.agentId}, {"resources", "cpus:1"}}),
      400, "name the role");
  refused(postJson("/api/v1/reserve", nlohmann::json{{"agent_id", c.agentId}, {"resources", 5}}),
          400, "resources: must be a string");
  refused(postJson("/api/v1/reserve",
                   nlohmann::json{{"agent_id", c.agentId}, {"resources", "cpus(w):9"}}),
          409, "cannot reserve cpus(w):9: what no task uses there is cpus:4;mem:1024");
  EXPECT_TRUE(none(*c.fw, wire::RESCIND));  // a refused request leaves the offers be

  // What tasks use can be neither reserved nor, once reserved, unreserved;
  // reservations made in the agent's own --resources cannot be unreserved.
  launch(c, "t1");  // cpus:1;mem:128 of the first offer; the rest declined
  refused(postJson("/api/v1/reserve",
                   nlohmann::json{{"agent_id", c.agentId}, {"resources", "cpus(w):4"}}),
          409, "cannot reserve");
  refused(postJson("/api/v1/unreserve",
                   nlohmann::json{{"agent_id", c.agentId}, {"resources", "cpus(w):1"}}),
          409, "has no dynamic reservation");
  const nlohmann::json j = state();
  EXPECT_EQ(j["agents"][0]["reserved"], "");
  EXPECT_EQ(status(get("/health")), 200);
}

// --acls: framework roles, task users and agent registration follow the
// first matching rule; refusals are NOT_AUTHORIZED (ERROR, or TASK_ERROR for
// a task) naming the rule, are counted, and leave what runs alone; an edit of
// the file applies to the next request.
TEST_F(MasterTest, RegisterFrameworksRunTasksAndRegisterAgentsFollowTheAcls) {
  const std::filesystem::path aclsPath = dir / "acls.json";
  std::filesystem::create_directories(dir);
  std::ofstream(aclsPath) << R"({"permissive": false,
    "register_frameworks": [{"principals": {"values": ["alpha"]},
                             "roles": {"values": ["analytics"]}}],
    "run_tasks": [{"principals": {"values": ["alpha"]}, "users": {"values": ["nobody"]}}],
    "register_agents": [{"principals": {"type": "ANY"}, "agents": {"type": "ANY"}}]})";
  MasterOptions o = testOptions();
  o.aclsFile = aclsPath.string();
  startWithHttp(o);

  // Without CURVE an agent has no principal: the ANY rule admits it.
  Peer& agent = peer("agent-1");
  registerAgent(agent, "cpus:4;mem:1024");

  const auto subscribeAs = [&](Peer& p, const std::string& principal, const std::string& role,
                               const std::string& user, const std::string& id = "") {
    wire::Subscribe sub;
    sub.mutable_framework()->set_framework_id(id);
    sub.mutable_framework()->set_name("fw");
    sub.mutable_framework()->set_role(role);
    sub.mutable_framework()->set_principal(principal);
    sub.mutable_framework()->set_user(user);
    sub.mutable_framework()->set_failover_timeout_us(3'600'000'000);
    p.send(wire::SUBSCRIBE, sub);
  };
  const auto refused = [&](Peer& p, const std::string& part) {
    auto error = expect<wire::Error>(p, wire::ERROR);
    EXPECT_EQ(error.code(), wire::Error::NOT_AUTHORIZED) << error.message();
    EXPECT_NE(error.message().find(part), std::string::npos) << error.message();
    EXPECT_NE(error.message().find(aclsPath.string()), std::string::npos) << error.message();
    EXPECT_TRUE(none(p, wire::SUBSCRIBED, 50ms));
  };
  Peer& beta = peer("beta");
  subscribeAs(beta, "beta", "analytics", "nobody");
  refused(beta, "principal 'beta' may not register frameworks in role 'analytics'");
  Peer& anonymous = peer("anonymous");
  subscribeAs(anonymous, "", "analytics", "nobody");
  refused(anonymous, "a peer with no principal may not register frameworks");
  Peer& alphaProd = peer("alpha-prod");
  subscribeAs(alphaProd, "alpha", "prod", "nobody");
  refused(alphaProd, "(--acls " + aclsPath.string() + ": no rule matched and the ACLs are not");

  Peer& alpha = peer("alpha");
  subscribeAs(alpha, "alpha", "analytics", "nobody");
  alpha.sender = expect<wire::Subscribed>(alpha, wire::SUBSCRIBED).framework_id();
  const std::string fwId = alpha.sender;
  accept(alpha, offer(alpha), {task("t1", "cpus:1;mem:128")});
  EXPECT_EQ(expect<wire::RunTask>(agent, wire::RUN_TASK).task().task_id(), "t1");

  // The same framework, failed over to run as root: it may subscribe (its
  // role is allowed) but not launch.
  Peer& alphaRoot = peer("alpha-root");
  subscribeAs(alphaRoot, "alpha", "analytics", "root", fwId);
  alphaRoot.sender = expect<wire::Subscribed>(alphaRoot, wire::SUBSCRIBED).framework_id();
  const wire::Offer rest = offer(alphaRoot);
  EXPECT_TRUE(sameResources(rest.resources(), "cpus:3;mem:896")) << rest.resources();
  accept(alphaRoot, rest, {task("t2", "cpus:1;mem:128")}, 0.0);
  auto update = expect<wire::Update>(alphaRoot, wire::UPDATE);
  EXPECT_EQ(update.status().task_id(), "t2");
  EXPECT_EQ(update.status().state(), wire::TASK_ERROR);
  EXPECT_EQ(update.status().reason(), "NOT_AUTHORIZED");
  EXPECT_NE(update.status().message().find("principal 'alpha' may not run tasks as user 'root'"),
            std::string::npos)
      << update.status().message();
  EXPECT_TRUE(none(agent, wire::RUN_TASK));
  // What the refused task would have used is offered again.
  advance(1s);
  EXPECT_TRUE(sameResources(offer(alphaRoot).resources(), "cpus:3;mem:896"));

  // An edit (no restart): no more agents. The registered one stays.
  std::ofstream(aclsPath, std::ios::trunc) << R"({"permissive": false,
    "register_frameworks": [{"principals": {"values": ["alpha"]},
                             "roles": {"values": ["analytics"]}}],
    "register_agents": [{"principals": {"type": "ANY"}, "agents": {"type": "NONE"}}]})";
  Peer& late = peer("agent-2");
  wire::RegisterAgent reg;
  reg.set_hostname("node-b");
  reg.set_resources("cpus:2;mem:512");
  late.send(wire::REGISTER_AGENT, reg);
  auto error = expect<wire::Error>(late, wire::ERROR);
  EXPECT_EQ(error.code(), wire::Error::NOT_AUTHORIZED);
  EXPECT_NE(error.message().find("a peer with no principal may not register agents (--acls " +
                                 aclsPath.string() + ": register_agents[0])"),
            std::string::npos)
      << error.message();
  EXPECT_TRUE(none(late, wire::AGENT_REGISTERED, 50ms));

  const nlohmann::json s = state();
  EXPECT_EQ(s["agents"].size(), 1u);
  EXPECT_EQ(s["acls"]["file"], aclsPath.string());
  EXPECT_EQ(s["acls"]["permissive"], false);
  EXPECT_EQ(s["acls"]["rules"]["run_tasks"], 0);  // the edit is what the state shows
  EXPECT_EQ(s["acls"]["denied"]["register_frameworks"], 3);
  EXPECT_EQ(s["acls"]["denied"]["run_tasks"], 1);
  EXPECT_EQ(s["acls"]["denied"]["register_agents"], 1);
  const std::string metrics = get("/metrics");
  EXPECT_NE(metrics.find("allot_master_acl_denials_total{acl=\"register_frameworks\"} 3\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("allot_master_acl_denials_total{acl=\"run_tasks\"} 1\n"),
            std::string::npos);
}

// Two masters on one --work-dir would each write the registry with their own
// view of the cluster: the second is refused, naming the first's pid, until
// the first stops.
TEST_F(MasterTest, SecondMasterOnTheSameWorkDirIsRefused) {
  MasterOptions o = registryOptions();
  start(o);
  MasterOptions second = o;
  second.httpPort = -1;
  try {
    Master other(context, clock, second);
    ADD_FAILURE() << "a second master started on " << dir;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fmt::format(
                  "registry: {} is in use by another master; stop it, or give this one another "
                  "--work-dir (pid {} holds {}/master.lock)",
                  dir.string(), ::getpid(), dir.string())),
              std::string::npos)
        << e.what();
  }
  master.reset();
  start(second);  // the lock went with the first master
  EXPECT_TRUE(master);
}

// The Agents tab's page: the master filters (id, hostname, status,
// attributes; any case), sorts (ties by id) and cuts the agents list, and
// says how many matched; bad parameters are refused naming them.
TEST_F(MasterTest, AgentsArePagedSortedAndFilteredForTheWebUi) {
  startWithHttp();
  const std::vector<std::tuple<const char*, const char*, const char*>> specs = {
      {"node-c", "cpus:4;mem:1024", "rack:r1"},
      {"node-a", "cpus:8;mem:1024", "rack:r2"},
      {"node-e", "cpus:2;mem:1024", "rack:r1"},
      {"node-b", "cpus:16;mem:1024", "rack:r2"},
      {"node-d", "cpus:1;mem:1024", "rack:r1"}};
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    Peer& p = peer(fmt::format("agent-{}", i));
    wire::RegisterAgent reg;
    reg.set_hostname(std::get<0>(specs[i]));
    reg.set_resources(std::get<1>(specs[i]));
    reg.set_attributes(std::get<2>(specs[i]));
    p.send(wire::REGISTER_AGENT, reg);
    p.sender = expect<wire::AgentRegistered>(p, wire::AGENT_REGISTERED).agent_id();
    ids.push_back(p.sender);
  }
  // A task on node-e (the third agent).
  Peer& fw = peer("driver-1");
  subscribe(fw);
  wire::Offers offers = expect<wire::Offers>(fw, wire::OFFERS);
  for (const wire::Offer& o : offers.offers()) {
    if (o.agent_id() == ids[2]) accept(fw, o, {task("t1", "cpus:1;mem:128")});
  }
  expect<wire::RunTask>(*peers[2], wire::RUN_TASK);

  const auto page = [&](const std::string& query) {
    const std::string answer = get("/api/v1/state?only=agents&" + query);
    EXPECT_EQ(answer.substr(0, 4), "200\n") << query << ": " << answer;
    return answer.substr(0, 4) == "200\n" ? nlohmann::json::parse(answer.substr(4))
                                          : nlohmann::json();
  };
  const auto hosts = [](const nlohmann::json& j) {
    std::vector<std::string> out;
    for (const auto& a : j["agents"]) out.push_back(a["hostname"]);
    return out;
  };
  std::vector<std::string> sortedIds = ids;
  std::sort(sortedIds.begin(), sortedIds.end());
  nlohmann::json j = page("agents_limit=2");
  ASSERT_EQ(j["agents"].size(), 2u);
  EXPECT_EQ(j["agents"][0]["id"], sortedIds[0]);
  EXPECT_EQ(j["agents"][1]["id"], sortedIds[1]);
  EXPECT_EQ(j["agents_page"]["matched"], 5);
  EXPECT_EQ(j["agents_page"]["sort"], "id");
  j = page("agents_limit=2&agents_offset=4");
  ASSERT_EQ(j["agents"].size(), 1u);
  EXPECT_EQ(j["agents"][0]["id"], sortedIds[4]);
  EXPECT_EQ(page("agents_limit=2&agents_offset=9")["agents"].size(), 0u);
  EXPECT_EQ(hosts(page("agents_limit=3&agents_sort=hostname&agents_order=desc")),
            (std::vector<std::string>{"node-e", "node-d", "node-c"}));
  EXPECT_EQ(hosts(page("agents_limit=1&agents_sort=tasks&agents_order=desc")),
            (std::vector<std::string>{"node-e"}));
  // Resources sort by their numbers' values, as the UI's other tables sort
  // them ("cpus:2;..." before "cpus:16;...", which text order reverses).
  EXPECT_EQ(hosts(page("agents_limit=5&agents_sort=total")),
            (std::vector<std::string>{"node-d", "node-e", "node-c", "node-a", "node-b"}));
  EXPECT_EQ(hosts(page("agents_limit=2&agents_sort=total&agents_order=desc")),
            (std::vector<std::string>{"node-b", "node-a"}));
  j = page("agents_limit=10&agents_filter=NODE-C");
  EXPECT_EQ(hosts(j), (std::vector<std::string>{"node-c"}));
  EXPECT_EQ(j["agents_page"]["filter"], "node-c");
  j = page("agents_limit=10&agents_filter=rack:r2&agents_sort=hostname");
  EXPECT_EQ(hosts(j), (std::vector<std::string>{"node-a", "node-b"}));
  EXPECT_EQ(j["agents_page"]["matched"], 2);
  EXPECT_EQ(page("agents_limit=10&agents_filter=active")["agents_page"]["matched"], 5);
  // The rows are those of the whole list.
  j = page("agents_limit=1&agents_filter=node-e");
  const nlohmann::json all = state();
  ASSERT_EQ(all.count("agents_page"), 0u);
  ASSERT_EQ(all["agents"].size(), 5u);
  for (const auto& a : all["agents"]) {
    if (a["hostname"] == "node-e") {
      EXPECT_EQ(j["agents"][0], a);
      EXPECT_TRUE(sameResources(a["used"], "cpus:1;mem:128")) << a;
    }
  }

  for (const auto& [query, part] : std::vector<std::pair<std::string, std::string>>{
           {"agents_limit=x", "agents_limit=\"x\": not a whole number"},
           {"agents_offset=2", "agents_limit: give the page size"},
           {"agents_limit=2&agents_sort=rack", "agents_sort=\"rack\": sort by id, hostname"},
           {"agents_limit=2&agents_order=up", "agents_order=\"up\": asc or desc"},
           {"agents_limit=2&agents_page=3", "agents_page: no such parameter"}}) {
    const std::string answer = get("/api/v1/state?only=agents&" + query);
    EXPECT_EQ(status(answer), 400) << query;
    EXPECT_NE(answer.find(part), std::string::npos) << query << ": " << answer;
  }
}

// A task's kill policy is its grace when its framework or the policy kills
// it; a KILL's own policy overrides it for that kill (0: SIGKILL at once); a
// drain's grace is capped by the task's, and kept across a master restart.
// Bad policies are refused naming the field.
TEST_F(MasterTest, KillPoliciesSetTheGracePeriod) {
  const MasterOptions o = registryOptions();
  start(o);
  Cluster c = cluster();
  wire::TaskInfo plain = task("plain", "cpus:0.5");
  wire::TaskInfo quick = task("quick", "cpus:0.5");
  quick.mutable_kill_policy()->set_grace_period_seconds(0.25);
  wire::TaskInfo bad = task("bad", "cpus:0.5");
  bad.mutable_kill_policy()->set_grace_period_seconds(-1);
  accept(*c.fw, c.first, {plain, quick, bad}, 0.0);
  const auto error = expect<wire::Update>(*c.fw, wire::UPDATE);
  EXPECT_EQ(error.status().task_id(), "bad");
  EXPECT_EQ(error.status().state(), wire::TASK_ERROR);
  EXPECT_NE(error.status().message().find(
                "kill_policy.grace_period_seconds: -1 is not a number of seconds from 0 to 86400"),
            std::string::npos)
      << error.status().message();
  std::map<std::string, wire::RunTask> runs;
  for (int i = 0; i < 2; ++i) {
    const auto run = expect<wire::RunTask>(*c.agent, wire::RUN_TASK);
    runs[run.task().task_id()] = run;
  }
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs["quick"].task().kill_policy().grace_period_seconds(), 0.25);
  EXPECT_FALSE(runs["plain"].task().has_kill_policy());

  const auto killBy = [&](const std::string& id, std::optional<double> grace) {
    wire::Kill kill;
    kill.set_task_id(id);
    if (grace) kill.mutable_kill_policy()->set_grace_period_seconds(*grace);
    c.fw->send(wire::KILL, kill);
  };
  killBy("plain", std::nullopt);
  auto sent = expect<wire::KillTask>(*c.agent, wire::KILL_TASK);
  EXPECT_EQ(sent.grace_period_us(), 3'000'000) << "the master's --kill-grace-period";
  killBy("quick", std::nullopt);
  sent = expect<wire::KillTask>(*c.agent, wire::KILL_TASK);
  EXPECT_EQ(sent.grace_period_us(), 250'000);
  killBy("quick", 0.0);
  sent = expect<wire::KillTask>(*c.agent, wire::KILL_TASK);
  ASSERT_TRUE(sent.has_grace_period_us()) << "0 is sent as 0, not left unset";
  EXPECT_EQ(sent.grace_period_us(), 0);
  killBy("plain", std::nan(""));
  const auto refused = expect<wire::Error>(*c.fw, wire::ERROR);
  EXPECT_NE(refused.message().find("kill_policy.grace_period_seconds"), std::string::npos)
      << refused.message();
  EXPECT_TRUE(none(*c.agent, wire::KILL_TASK));

  const std::string answer =
      postJson("/api/v1/drain", {{"agent_id", c.agentId}, {"grace_period_seconds", 7}});
  ASSERT_EQ(status(answer), 200) << answer;
  std::map<std::string, std::int64_t> graces;
  for (int i = 0; i < 2; ++i) {
    sent = expect<wire::KillTask>(*c.agent, wire::KILL_TASK);
    graces[sent.task_id()] = sent.grace_period_us();
  }
  EXPECT_EQ(graces["plain"], 7'000'000);
  EXPECT_EQ(graces["quick"], 250'000) << "capped by the task's own";

  // The drain's grace is kept with it: a restarted master kills what the
  // agent still runs when it comes back with that grace, not the default.
  restart(o);
  Peer& again = peer("agent-1b");
  again.send(wire::REGISTER_AGENT, reregistration(c, {"plain"}));
  expect<wire::AgentRegistered>(again, wire::AGENT_REGISTERED);
  sent = expect<wire::KillTask>(again, wire::KILL_TASK);
  EXPECT_EQ(sent.task_id(), "plain");
  EXPECT_EQ(sent.grace_period_us(), 7'000'000);
}

// An operator's teardown (POST /api/v1/teardown) removes a framework as its
// own TEARDOWN does: its offer rescinded, then FRAMEWORK_REMOVED to it, its
// agent told to shut it down, its id refused from then on, after a restart
// too (the registry keeps the removal). A removed or unknown id is 404.
TEST_F(MasterTest, OperatorTeardownRemovesTheFrameworkAndTellsIt) {
  MasterOptions o = registryOptions();
  start(o);
  Cluster c = cluster(/*failoverUs=*/60'000'000);
  accept(*c.fw, c.first, {task("t1", "cpus:1;mem:128")}, 0.0);
  expect<wire::RunTask>(*c.agent, wire::RUN_TASK);
  const wire::Offer rest = offer(*c.fw);
  const auto call = [&](const nlohmann::json& body) {
    const std::string answer = postJson("/api/v1/teardown", body);
    return std::pair{status(answer), answer.substr(answer.find('\n') + 1)};
  };
  auto [code, body] = call({{"framework_id", c.fwId}});
  ASSERT_EQ(code, 200) << body;
  EXPECT_EQ(nlohmann::json::parse(body)["framework_id"], c.fwId);
  EXPECT_EQ(nlohmann::json::parse(body)["tasks_killed"], 1);
  EXPECT_EQ(nlohmann::json::parse(body)["stored"], true);
  EXPECT_EQ(expect<wire::Rescind>(*c.fw, wire::RESCIND).offer_id(), rest.offer_id());
  const auto told = expect<wire::Error>(*c.fw, wire::ERROR);
  EXPECT_EQ(told.code(), wire::Error::FRAMEWORK_REMOVED);
  EXPECT_NE(told.message().find("torn down by an operator; its 1 task(s)"), std::string::npos)
      << told.message();
  EXPECT_EQ(expect<wire::ShutdownFramework>(*c.agent, wire::SHUTDOWN_FRAMEWORK).framework_id(),
            c.fwId);
  // The master keeps what it removed: the framework among the completed
  // ones, its task among the completed tasks, killed for that reason.
  const nlohmann::json st = state();
  EXPECT_TRUE(st["frameworks"].empty()) << st["frameworks"];
  ASSERT_EQ(st["completed_frameworks"].size(), 1u) << st["completed_frameworks"];
  EXPECT_EQ(st["completed_frameworks"][0]["id"], c.fwId);
  EXPECT_EQ(st["completed_frameworks"][0]["reason"], "torn down by an operator");
  EXPECT_EQ(st["completed_frameworks"][0]["tasks_killed"], 1);
  EXPECT_EQ(st["counts"]["completed_frameworks"], 1);
  ASSERT_EQ(st["completed_tasks"].size(), 1u) << st["completed_tasks"];
  EXPECT_EQ(st["completed_tasks"][0]["id"], "t1");
  EXPECT_EQ(st["completed_tasks"][0]["state"], "TASK_KILLED");
  EXPECT_EQ(st["completed_tasks"][0]["reason"], "FRAMEWORK_REMOVED");

  std::tie(code, body) = call({{"framework_id", c.fwId}});
  EXPECT_EQ(code, 404);
  EXPECT_NE(body.find("was already removed"), std::string::npos) << body;
  std::tie(code, body) = call({{"framework_id", "nobody-F9"}});
  EXPECT_EQ(code, 404);
  EXPECT_NE(body.find("no framework 'nobody-F9'"), std::string::npos) << body;
  std::tie(code, body) = call(nlohmann::json::object());
  EXPECT_EQ(code, 400);
  EXPECT_NE(body.find("framework_id: missing"), std::string::npos) << body;

  const std::string port = endpoint.substr(endpoint.rfind(':') + 1);
  o.endpoint = "tcp://127.0.0.1:" + port;
  restart(o);
  Peer& back = peer("driver-back");
  wire::Subscribe sub;
  sub.mutable_framework()->set_framework_id(c.fwId);
  back.send(wire::SUBSCRIBE, sub);
  EXPECT_EQ(expect<wire::Error>(back, wire::ERROR).code(), wire::Error::FRAMEWORK_REMOVED);
}

// Maintenance: a deactivated agent is offered to no one and keeps its tasks;
// a drained one has its tasks killed (with the grace period asked, their
// TASK_KILLED marked AGENT_DRAINING) and is drained when none is left; both
// stay so across a master restart until reactivated. Bad requests are
// refused naming what is wrong.
TEST_F(MasterTest, OperatorsDeactivateDrainAndReactivateAgents) {
  MasterOptions o = registryOptions();
  start(o);
  Cluster c = cluster();
  accept(*c.fw, c.first, {task("t1", "cpus:1;mem:128")}, 0.0);
  expect<wire::RunTask>(*c.agent, wire::RUN_TASK);
  const wire::Offer rest = offer(*c.fw);
  const auto call = [&](const std::string& path, const nlohmann::json& body) {
    const std::string answer = postJson(path, body);
    return std::pair{status(answer), answer.substr(answer.find('\n') + 1)};
  };
  const auto maintenance = [&] {
    const nlohmann::json st = state();
    for (const auto& a : st["agents"]) {
      if (a["id"] == c.agentId) return a["maintenance"].get<std::string>();
    }
    return std::string("no agent");
  };
  EXPECT_EQ(maintenance(), "");

  auto [code, body] = call("/api/v1/deactivate", {{"agent_id", c.agentId}});
  ASSERT_EQ(code, 200) << body;
  EXPECT_EQ(nlohmann::json::parse(body)["maintenance"], "deactivated");
  EXPECT_EQ(expect<wire::Rescind>(*c.fw, wire::RESCIND).offer_id(), rest.offer_id());
  advance(2s);
  EXPECT_TRUE(none(*c.fw, wire::OFFERS));
  EXPECT_TRUE(none(*c.agent, wire::KILL_TASK));  // its task runs on
  EXPECT_EQ(maintenance(), "deactivated");

  std::tie(code, body) = call("/api/v1/reactivate", {{"agent_id", c.agentId}});
  ASSERT_EQ(code, 200) << body;
  EXPECT_TRUE(sameResources(offer(*c.fw).resources(), "cpus:3;mem:896"));

  std::tie(code, body) =
      call("/api/v1/drain", {{"agent_id", c.agentId}, {"grace_period_seconds", 7}});
  ASSERT_EQ(code, 200) << body;
  EXPECT_EQ(nlohmann::json::parse(body)["tasks_killed"], 1);
  EXPECT_EQ(nlohmann::json::parse(body)["maintenance"], "draining");
  expect<wire::Rescind>(*c.fw, wire::RESCIND);
  const auto kill = expect<wire::KillTask>(*c.agent, wire::KILL_TASK);
  EXPECT_EQ(kill.task_id(), "t1");
  EXPECT_EQ(kill.grace_period_us(), 7'000'000);
  EXPECT_EQ(maintenance(), "draining");
  update(*c.agent, c.fwId, "t1", wire::TASK_KILLED, "killed-1");
  const auto killed = expect<wire::Update>(*c.fw, wire::UPDATE);
  EXPECT_EQ(killed.status().state(), wire::TASK_KILLED);
  EXPECT_EQ(killed.status().reason(), "AGENT_DRAINING");
  EXPECT_EQ(maintenance(), "drained");
  advance(2s);
  EXPECT_TRUE(none(*c.fw, wire::OFFERS));
  // The Agents tab's filter finds it by its maintenance.
  const std::string page = get("/api/v1/state?only=agents&agents_limit=5&agents_filter=DRAINED");
  ASSERT_EQ(status(page), 200) << page;
  EXPECT_EQ(nlohmann::json::parse(page.substr(4))["agents_page"]["matched"], 1) << page;

  // Refusals.
  for (const auto& [path, request, want, part] :
       std::vector<std::tuple<std::string, nlohmann::json, int, std::string>>{
           {"/api/v1/drain", {{"agent_id", "nope"}}, 404, "no agent 'nope'"},
           {"/api/v1/drain", nlohmann::json::object(), 400, "agent_id: missing"},
           {"/api/v1/deactivate",
            {{"agent_id", c.agentId}, {"grace_period_seconds", 1}},
            400,
            "grace_period_seconds: only a drain kills tasks"},
           {"/api/v1/drain",
            {{"agent_id", c.agentId}, {"grace_period_seconds", -1}},
            400,
            "grace_period_seconds: -1 is not a number of seconds"},
           {"/api/v1/deactivate", {{"agent_id", c.agentId}}, 409, "is drained; reactivate it"}}) {
    std::tie(code, body) = call(path, request);
    EXPECT_EQ(code, want) << path << " " << request << ": " << body;
    EXPECT_NE(body.find(part), std::string::npos) << body;
  }

  // The registry keeps it drained; the agent registers again, still drained.
  restart(o);
  EXPECT_EQ(maintenance(), "drained");
  Peer& again = peer("agent-1b");
  registerAgent(again, "cpus:4;mem:1024", c.agentId);
  Peer& fw = peer("driver-2");
  subscribe(fw);
  advance(2s);
  EXPECT_TRUE(none(fw, wire::OFFERS));
  std::tie(code, body) = call("/api/v1/reactivate", {{"agent_id", c.agentId}});
  ASSERT_EQ(code, 200) << body;
  EXPECT_EQ(maintenance(), "");
  EXPECT_TRUE(sameResources(offer(fw).resources(), "cpus:4;mem:1024"));
}

// A master without --acls allows everything and says so in its state.
TEST_F(MasterTest, WithoutAclsEverythingIsAllowed) {
  startWithHttp();
  Cluster c = cluster();
  accept(*c.fw, c.first, {task("t1", "cpus:1;mem:128")});
  EXPECT_EQ(expect<wire::RunTask>(*c.agent, wire::RUN_TASK).task().task_id(), "t1");
  const nlohmann::json s = state();
  EXPECT_EQ(s["acls"], nlohmann::json({{"enabled", false}}));
  EXPECT_EQ(get("/metrics").find("allot_master_acl_denials_total"), std::string::npos);
}

}  // namespace
}  // namespace allot::runtime
