// The master's registry in ZooKeeper (runtime/src/master/registry.h,
// ZkRegistry) against a real ZooKeeper server: a registry larger than one
// node holds, spread over shards and read back whole by the next leader;
// a flush that writes only what changed, in one transaction; a registry of
// an earlier version (one node) read and rewritten; a deposed leader that
// writes nothing; a shard over ZooKeeper's limit refused whole; credentials
// that protect every shard.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "allot/core/error.h"
#include "registry.pb.h"
#include "runtime/src/master/registry.h"
#include "tests/runtime/zookeeper_server.h"

// The test reads nodes' versions with the C client itself (the library's
// private dependency); its synchronous API is the multi-threaded client's.
#ifndef THREADED
#define THREADED
#endif
#include <zookeeper/zookeeper.h>

namespace allot::runtime::master {
namespace {

using namespace std::chrono_literals;
using zktest::ZooKeeperServer;

constexpr Duration kSession = std::chrono::seconds(2);

// Waits until `contender` leads; its node guards the registry's writes.
std::unique_ptr<MasterContender> leaderAt(const ZkUrl& url, const std::string& id) {
  auto contender =
      std::make_unique<MasterContender>(url, MasterInfo{id, "tcp://127.0.0.1:1", ""}, kSession);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  const bool leads = contender->waitForLeadership(
      [&] { return std::chrono::steady_clock::now() > deadline; }, nullptr);
  if (!leads) throw Error(id + " did not lead within 10 s");
  return contender;
}

// A second contender, leading once `current` is gone (destroyed here).
std::unique_ptr<MasterContender> successorOf(std::unique_ptr<MasterContender>& current,
                                             const ZkUrl& url) {
  auto next = std::make_unique<MasterContender>(
      url, MasterInfo{"master-b", "tcp://127.0.0.1:2", ""}, kSession);
  current.reset();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  if (!next->waitForLeadership([&] { return std::chrono::steady_clock::now() > deadline; },
                               nullptr)) {
    throw Error("master-b did not lead within 10 s of master-a's end");
  }
  return next;
}

// An agent row the size of a real one: a long host name, eight resources,
// a few attributes, a reservation on every tenth, a CURVE key name on every
// third, maintenance (a drain with its grace) on every seventh.
Registry::AgentRow agent(int i) {
  return {fmt::format("{:08x}-agent-{:06d}", static_cast<unsigned>(i) * 2654435761u, i),
          fmt::format("node-{:06d}.rack-{:03d}.dc1.example.org", i, i % 500),
          fmt::format("cpus:{};mem:{};disk:1000000;gpus:{};ports:[31000-32000]", 16 + i % 48,
                      65536 + (i % 8) * 32768, i % 4),
          fmt::format("rack:r{:03d};zone:z{};os:debian12;kernel:6.1", i % 500, i % 3),
          i % 10 == 0 ? "cpus(web):2;mem(web):4096" : "",
          i % 3 == 0 ? fmt::format("agent-key-{}", i % 97) : "",
          i % 7 == 0 ? "draining" : "",
          i % 7 == 0 ? 30'000'000 + i : 0};
}

wire::FrameworkInfo framework(int i) {
  wire::FrameworkInfo info;
  info.set_framework_id(fmt::format("18c4a0f2e91d3a7f-{:04d}", i));
  info.set_name(fmt::format("spark-job-{}", i));
  info.set_role(i % 2 == 0 ? "batch" : "web");
  info.set_weight(1.0);
  info.set_principal("analytics");
  info.set_user("svc");
  info.set_failover_timeout_us(3'600'000'000);
  info.set_hostname("scheduler.example.org");
  return info;
}

// A comparable form of what a registry holds.
std::map<std::string, std::string> flat(const Registry::Contents& c) {
  std::map<std::string, std::string> out;
  for (const auto& a : c.agents) {
    out["agent " + a.id] = a.hostname + "|" + a.resources + "|" + a.attributes + "|" + a.reserved +
                           "|" + a.keyName + "|" + a.maintenance + "|" +
                           std::to_string(a.drainGraceUs);
  }
  for (const auto& f : c.frameworks) out["framework " + f.framework_id()] = f.SerializeAsString();
  for (std::size_t i = 0; i < c.removedFrameworks.size(); ++i) {
    out[fmt::format("removed {:05d}", i)] = c.removedFrameworks[i];
  }
  for (const auto& r : c.roles) {
    out["role " + r.name] = fmt::format("{}|{}|{}", r.weight, r.guarantee, r.limit);
  }
  return out;
}

// A session of the test's own, to read nodes as any client would.
class RawSession {
 public:
  explicit RawSession(const ZooKeeperServer& server, const std::string& credentials = "") {
    zh_ = zookeeper_init(
        server.servers().c_str(), [](zhandle_t*, int, int, const char*, void*) {}, 4000, nullptr,
        nullptr, 0);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (zh_ != nullptr && zoo_state(zh_) != ZOO_CONNECTED_STATE &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    if (zh_ != nullptr && !credentials.empty()) {
      zoo_add_auth(zh_, "digest", credentials.data(), static_cast<int>(credentials.size()), nullptr,
                   nullptr);
    }
  }
  ~RawSession() {
    if (zh_ != nullptr) zookeeper_close(zh_);
  }
  RawSession(const RawSession&) = delete;
  RawSession& operator=(const RawSession&) = delete;

  bool connected() const { return zh_ != nullptr && zoo_state(zh_) == ZOO_CONNECTED_STATE; }
  // The transaction id that last changed `node`; -1 when it cannot be read.
  std::int64_t mzxid(const std::string& node) {
    Stat stat{};
    return zoo_exists(zh_, node.c_str(), 0, &stat) == ZOK ? stat.mzxid : -1;
  }
  // ZOK and the data, or the error.
  int get(const std::string& node, std::string& out) {
    out.assign(1 << 20, '\0');
    int length = static_cast<int>(out.size());
    const int rc = zoo_get(zh_, node.c_str(), 0, out.data(), &length, nullptr);
    out.resize(rc == ZOK && length > 0 ? static_cast<std::size_t>(length) : 0);
    return rc;
  }

 private:
  zhandle_t* zh_ = nullptr;
};

class ZkRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto failed = server.start();
    ASSERT_FALSE(failed) << *failed;
  }
  static std::vector<std::string> nodesOf(const std::string& path) {
    std::vector<std::string> out = {path + "/registry"};
    for (std::size_t i = 0; i < ZkRegistry::kShards; ++i) {
      out.push_back(fmt::format("{}/registry/shard-{}", path, i));
    }
    return out;
  }
  ZooKeeperServer server;
};

// 20,000 agents (some 3.5 MB: more than three times what one ZooKeeper node
// holds), 300 frameworks, removed frameworks and roles: written by one
// leader, read back field by field by the next from a session of its own,
// every row in exactly one shard and every shard under the limit.
TEST_F(ZkRegistryTest, ARegistryLargerThanANodeIsSpreadOverShardsAndReadBackWhole) {
  const ZkUrl url = server.url("/big");
  auto a = leaderAt(url, "master-a");
  Registry::Contents expected;
  {
    ZkRegistry registry(url, kSession, a->node());
    EXPECT_TRUE(registry.load().agents.empty());
    for (int i = 0; i < 20'000; ++i) {
      expected.agents.push_back(agent(i));
      registry.putAgent(expected.agents.back());
    }
    for (int i = 0; i < 300; ++i) {
      expected.frameworks.push_back(framework(i));
      registry.putFramework(expected.frameworks.back());
    }
    for (int i = 300; i < 340; ++i) {
      registry.putFramework(framework(i));
      registry.removeFramework(framework(i).framework_id());
      expected.removedFrameworks.push_back(framework(i).framework_id());
    }
    expected.roles = {{"web", 2.0, "cpus:64", ""}, {"batch", 1.0, "", "cpus:1000;mem:4000000"}};
    for (const auto& role : expected.roles) registry.putRole(role);
    registry.flush();
    EXPECT_GT(registry.lastFlushBytes(), 3 * ZkStore::maxNodeBytes())
        << "the registry should not fit in one node, or this test proves nothing";
    EXPECT_EQ(flat(registry.load()), flat(expected));
  }

  RawSession raw(server);
  ASSERT_TRUE(raw.connected());
  std::size_t agents = 0;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < ZkRegistry::kShards; ++i) {
    std::string data;
    const std::string node = fmt::format("/big/registry/shard-{}", i);
    ASSERT_EQ(raw.get(node, data), ZOK) << node;
    EXPECT_LT(data.size(), ZkStore::maxNodeBytes()) << node;
    RegistrySnapshot shard;
    ASSERT_TRUE(shard.ParseFromString(data)) << node;
    EXPECT_GT(shard.agents_size(), 0) << node << " is empty: the ids do not spread";
    for (const auto& row : shard.agents()) {
      EXPECT_EQ(ZkRegistry::shardIndex(row.id()), i) << row.id() << " in " << node;
      EXPECT_TRUE(seen.insert(row.id()).second) << row.id() << " in two shards";
      ++agents;
    }
  }
  EXPECT_EQ(agents, 20'000u);

  // The next leader, in a session of its own, reads it all.
  auto b = successorOf(a, url);
  ZkRegistry next(url, kSession, b->node());
  EXPECT_EQ(flat(next.load()), flat(expected));
}

// After a large flush, changing one agent rewrites one shard, and nothing
// else; removing a framework rewrites its shard and the node holding the
// removed ids, both in one transaction (the same zxid).
TEST_F(ZkRegistryTest, AFlushWritesOnlyWhatChangedInOneTransaction) {
  const ZkUrl url = server.url("/delta");
  auto a = leaderAt(url, "master-a");
  ZkRegistry registry(url, kSession, a->node());
  for (int i = 0; i < 5'000; ++i) registry.putAgent(agent(i));
  for (int i = 0; i < 50; ++i) registry.putFramework(framework(i));
  registry.flush();
  const std::size_t whole = registry.lastFlushBytes();

  RawSession raw(server);
  ASSERT_TRUE(raw.connected());
  const std::vector<std::string> nodes = nodesOf("/delta");
  auto versions = [&] {
    std::vector<std::int64_t> out;
    for (const auto& node : nodes) out.push_back(raw.mzxid(node));
    return out;
  };
  const std::vector<std::int64_t> before = versions();

  Registry::AgentRow changed = agent(1234);
  changed.reserved = "cpus(db):4";
  registry.putAgent(changed);
  registry.flush();
  EXPECT_LT(registry.lastFlushBytes(), whole / 20)
      << "one changed agent rewrote " << registry.lastFlushBytes() << " of " << whole << " bytes";
  std::vector<std::int64_t> after = versions();
  std::vector<std::string> rewritten;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (after[i] != before[i]) rewritten.push_back(nodes[i]);
  }
  EXPECT_EQ(rewritten, std::vector<std::string>{fmt::format("/delta/registry/shard-{}",
                                                            ZkRegistry::shardIndex(changed.id))});

  // Nothing changed: nothing written.
  registry.flush();
  EXPECT_EQ(registry.lastFlushBytes(), 0u);
  EXPECT_EQ(versions(), after);

  const std::string gone = framework(7).framework_id();
  registry.removeFramework(gone);
  registry.flush();
  const std::vector<std::int64_t> third = versions();
  const std::string shard = fmt::format("/delta/registry/shard-{}", ZkRegistry::shardIndex(gone));
  rewritten.clear();
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (third[i] != after[i]) rewritten.push_back(nodes[i]);
  }
  EXPECT_EQ(rewritten.size(), 2u);
  EXPECT_NE(std::find(rewritten.begin(), rewritten.end(), "/delta/registry"), rewritten.end());
  EXPECT_NE(std::find(rewritten.begin(), rewritten.end(), shard), rewritten.end());
  EXPECT_EQ(raw.mzxid("/delta/registry"), raw.mzxid(shard)) << "written in two transactions";

  ZkRegistry reread(url, kSession, a->node());
  const auto contents = reread.load();
  EXPECT_EQ(contents.removedFrameworks, std::vector<std::string>{gone});
  EXPECT_EQ(contents.frameworks.size(), 49u);
  const auto it = std::find_if(contents.agents.begin(), contents.agents.end(),
                               [&](const auto& r) { return r.id == changed.id; });
  ASSERT_NE(it, contents.agents.end());
  EXPECT_EQ(it->reserved, "cpus(db):4");
}

// A registry of an earlier version is one node holding everything. It is
// read whole; shards left by an upgrade that did not finish (the master
// died between its transactions) are ignored until the registry node says
// it is sharded; the first flush moves the rows into the shards.
TEST_F(ZkRegistryTest, ARegistryOfAnEarlierVersionIsReadAndRewrittenInShards) {
  const ZkUrl url = server.url("/old");
  auto a = leaderAt(url, "master-a");
  RegistrySnapshot old;
  Registry::Contents expected;
  for (int i = 0; i < 100; ++i) {
    expected.agents.push_back(agent(i));
    expected.agents.back().keyName.clear();      // an earlier version had no key names
    expected.agents.back().maintenance.clear();  // nor maintenance
    expected.agents.back().drainGraceUs = 0;
    auto* row = old.add_agents();
    row->set_id(expected.agents.back().id);
    row->set_hostname(expected.agents.back().hostname);
    row->set_resources(expected.agents.back().resources);
    row->set_attributes(expected.agents.back().attributes);
    row->set_reserved(expected.agents.back().reserved);
  }
  for (int i = 0; i < 5; ++i) {
    expected.frameworks.push_back(framework(i));
    old.add_frameworks(framework(i).SerializeAsString());
  }
  expected.removedFrameworks = {"gone-1", "gone-2"};
  for (const auto& id : expected.removedFrameworks) old.add_removed_frameworks(id);
  expected.roles = {{"web", 3.0, "cpus:8", ""}};
  auto* role = old.add_roles();
  role->set_name("web");
  role->set_weight(3.0);
  role->set_guarantee("cpus:8");

  RegistrySnapshot ghost;  // an unfinished upgrade's shard
  ghost.add_agents()->set_id("ghost");
  {
    ZkStore store(url, kSession);
    store.readOrCreate("/old/registry");
    store.readOrCreate("/old/registry/shard-3");
    ASSERT_TRUE(store.writeGuarded("/old/registry", old.SerializeAsString(), a->node()));
    ASSERT_TRUE(store.writeGuarded("/old/registry/shard-3", ghost.SerializeAsString(), a->node()));
  }

  {
    ZkRegistry registry(url, kSession, a->node());
    EXPECT_EQ(flat(registry.load()), flat(expected));
    registry.flush();  // nothing changed, but the layout is rewritten
    EXPECT_GT(registry.lastFlushBytes(), 0u);
  }
  RawSession raw(server);
  std::string data;
  ASSERT_EQ(raw.get("/old/registry", data), ZOK);
  RegistrySnapshot header;
  ASSERT_TRUE(header.ParseFromString(data));
  EXPECT_EQ(header.shards(), ZkRegistry::kShards);
  EXPECT_EQ(header.agents_size(), 0) << "the rows stayed in the registry node";
  EXPECT_EQ(header.frameworks_size(), 0);
  EXPECT_EQ(header.removed_frameworks_size(), 2);
  EXPECT_EQ(header.roles_size(), 1);

  ZkRegistry reread(url, kSession, a->node());
  EXPECT_EQ(flat(reread.load()), flat(expected));
}

// A leader whose member node is gone writes nothing: its flush throws
// RegistryFenced and the successor's registry stays as the successor left it.
TEST_F(ZkRegistryTest, ADeposedLeaderWritesNothing) {
  const ZkUrl url = server.url("/fenced");
  auto a = leaderAt(url, "master-a");
  ZkRegistry old(url, kSession, a->node());
  old.putAgent(agent(1));
  old.flush();

  auto b = successorOf(a, url);
  ZkRegistry current(url, kSession, b->node());
  current.putAgent(agent(2));
  current.flush();

  for (int i = 3; i < 200; ++i) old.putAgent(agent(i));
  old.removeAgent(agent(2).id);
  old.putRole({"web", 5.0, "", ""});
  EXPECT_THROW(old.flush(), RegistryFenced);

  ZkRegistry reread(url, kSession, b->node());
  std::set<std::string> ids;
  for (const auto& row : reread.load().agents) ids.insert(row.id);
  EXPECT_EQ(ids, (std::set<std::string>{agent(1).id, agent(2).id}));
  EXPECT_TRUE(reread.load().roles.empty());
}

// A shard over what a ZooKeeper node holds is refused before anything is
// written, naming the node and how many agents the registry holds; the
// rows stay in memory (dirty), and are written once the shard fits again.
TEST_F(ZkRegistryTest, AShardOverTheNodeLimitIsRefusedWritingNothing) {
  const ZkUrl url = server.url("/full");
  auto a = leaderAt(url, "master-a");
  ZkRegistry registry(url, kSession, a->node());
  // Four agents of 300 KB each in shard 5, one small one elsewhere.
  std::vector<Registry::AgentRow> heavy;
  for (int i = 0; heavy.size() < 4; ++i) {
    Registry::AgentRow row = agent(i);
    if (ZkRegistry::shardIndex(row.id) != 5) continue;
    row.attributes = std::string(300'000, 'x');
    heavy.push_back(row);
  }
  Registry::AgentRow light;
  for (int i = 0;; ++i) {
    light = agent(i);
    if (ZkRegistry::shardIndex(light.id) != 5) break;
  }
  for (const auto& row : heavy) registry.putAgent(row);
  registry.putAgent(light);
  try {
    registry.flush();
    ADD_FAILURE() << "a shard of 1.2 MB was written";
  } catch (const RegistryFenced&) {
    ADD_FAILURE() << "refused as fenced";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("/full/registry/shard-5"), std::string::npos) << message;
    EXPECT_NE(message.find("5 agents"), std::string::npos) << message;
  }
  {
    ZkRegistry reread(url, kSession, a->node());
    EXPECT_TRUE(reread.load().agents.empty()) << "part of a refused flush was written";
  }
  registry.removeAgent(heavy[0].id);
  registry.removeAgent(heavy[1].id);
  registry.flush();
  ZkRegistry reread(url, kSession, a->node());
  EXPECT_EQ(reread.load().agents.size(), 3u);
}

// With credentials every shard is private to the masters' identity, also
// when an earlier master without credentials made it open.
TEST_F(ZkRegistryTest, CredentialsProtectEveryShard) {
  {
    const ZkUrl open = server.url("/sec");
    auto a = leaderAt(open, "master-0");
    ZkRegistry registry(open, kSession, a->node());
    registry.putAgent(agent(1));
    registry.flush();
  }
  RawSession anonymous(server);
  ASSERT_TRUE(anonymous.connected());
  const std::string shard =
      fmt::format("/sec/registry/shard-{}", ZkRegistry::shardIndex(agent(1).id));
  std::string data;
  ASSERT_EQ(anonymous.get(shard, data), ZOK) << "without credentials the shards are open";

  const ZkUrl owner = server.url("/sec", "ops:right");
  auto a = leaderAt(owner, "master-a");
  ZkRegistry registry(owner, kSession, a->node());
  ASSERT_EQ(registry.load().agents.size(), 1u);
  registry.putAgent(agent(2));
  registry.flush();
  for (const std::string& node : nodesOf("/sec")) {
    EXPECT_EQ(anonymous.get(node, data), ZNOAUTH) << node << " readable without credentials";
  }
  RawSession stranger(server, "ops:wrong");
  EXPECT_EQ(stranger.get(shard, data), ZNOAUTH);
  RawSession same(server, "ops:right");
  EXPECT_EQ(same.get(shard, data), ZOK);
}

}  // namespace
}  // namespace allot::runtime::master
