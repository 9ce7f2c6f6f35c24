// High availability through ZooKeeper (allot/runtime/zookeeper.h): URL
// parsing and MasterInfo as values, then MasterContender and MasterDetector
// against a real ZooKeeper server (Debian's `zookeeper` package), started by
// each test as a child process on a free port with a 100 ms tick, so that
// session timeouts of 1-2 s are allowed and the file runs in well under two
// minutes.
#include "allot/runtime/zookeeper.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "allot/core/error.h"
#include "allot/runtime/clock.h"
#include "allot/runtime/event_loop.h"
#include "zookeeper_server.h"

// The test deletes a master's node with the C client itself (the library's
// private dependency, linked through allot::runtime); its synchronous API
// is the multi-threaded client's.
#ifndef THREADED
#define THREADED
#endif
#include <zookeeper/zookeeper.h>

extern char** environ;

namespace allot::runtime {
namespace {

using zktest::freePort;
using zktest::ZooKeeperServer;

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

// ------------------------------------------------------------------ helpers

MasterInfo info(const std::string& id, int port) {
  return MasterInfo{id, "tcp://127.0.0.1:" + std::to_string(port),
                    "127.0.0.1:" + std::to_string(port + 1)};
}

bool same(const std::optional<MasterInfo>& a, const std::optional<MasterInfo>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || (a->id == b->id && a->endpoint == b->endpoint && a->http == b->http);
}

std::string show(const std::optional<MasterInfo>& m) {
  return m ? m->toJson() : std::string("(none)");
}

// Waits (bounded) for `done`, polling every 20 ms.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = Steady::now() + timeout;
  while (!done()) {
    if (Steady::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// A stop() for waitForLeadership: true once `timeout` has passed.
std::function<bool()> giveUpAfter(std::chrono::milliseconds timeout) {
  const auto deadline = Steady::now() + timeout;
  return [deadline] { return Steady::now() > deadline; };
}

// What one standing-by contender reported, shared with its waiting thread.
struct StandbyLog {
  std::mutex mutex;
  std::vector<std::optional<MasterInfo>> seen;
  void add(const std::optional<MasterInfo>& m) {
    std::lock_guard lock(mutex);
    seen.push_back(m);
  }
  std::vector<std::optional<MasterInfo>> get() {
    std::lock_guard lock(mutex);
    return seen;
  }
};

// What onLost reported.
struct LostLog {
  std::mutex mutex;
  std::vector<std::string> reasons;
  std::optional<Steady::time_point> first;
  std::function<void(const std::string&)> callback() {
    return [this](const std::string& why) {
      std::lock_guard lock(mutex);
      if (!first) first = Steady::now();
      reasons.push_back(why);
    };
  }
  std::size_t count() {
    std::lock_guard lock(mutex);
    return reasons.size();
  }
};

constexpr Duration kSession = std::chrono::seconds(1);

// A session of the test's own with the C client, connected (null if not
// within 10 s): to read and delete nodes as any other client could.
std::shared_ptr<zhandle_t> rawSession(const ZooKeeperServer& server) {
  zhandle_t* zh = zookeeper_init(
      server.servers().c_str(), [](zhandle_t*, int, int, const char*, void*) {}, 2000, nullptr,
      nullptr, 0);
  if (zh == nullptr) return nullptr;
  std::shared_ptr<zhandle_t> session(zh, [](zhandle_t* h) { zookeeper_close(h); });
  if (!eventually([&] { return zoo_state(zh) == ZOO_CONNECTED_STATE; }, 10s)) return nullptr;
  return session;
}

// ------------------------------------------------------------- ZkUrl::parse

TEST(ZkUrlTest, ParsesOneAndSeveralServersAndTrimsTrailingSlashes) {
  auto one = ZkUrl::parse("zk://127.0.0.1:2181/allot");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->servers, "127.0.0.1:2181");
  EXPECT_EQ(one->path, "/allot");
  EXPECT_EQ(one->text(), "zk://127.0.0.1:2181/allot");

  auto several = ZkUrl::parse("zk://zk1.example:2181,zk2.example:2182,10.0.0.3:2183/mesos/allot");
  ASSERT_TRUE(several);
  EXPECT_EQ(several->servers, "zk1.example:2181,zk2.example:2182,10.0.0.3:2183");
  EXPECT_EQ(several->path, "/mesos/allot");

  auto trailing = ZkUrl::parse("zk://h:1/a/b/");
  ASSERT_TRUE(trailing);
  EXPECT_EQ(trailing->path, "/a/b");
  auto trailingMany = ZkUrl::parse("zk://h:1/a///");
  ASSERT_TRUE(trailingMany);
  EXPECT_EQ(trailingMany->path, "/a");
  EXPECT_EQ(trailingMany->text(), "zk://h:1/a");
}

TEST(ZkUrlTest, TextThatIsNotAZooKeeperUrlIsNullopt) {
  for (const char* text : {"", "127.0.0.1:5050", "tcp://127.0.0.1:5050", "zk:/h:1/a",
                           "zk:", "http://h:1/a", " zk://h:1/a"}) {
    EXPECT_FALSE(ZkUrl::parse(text).has_value()) << "'" << text << "'";
  }
}

// Each malformed URL throws ParseError whose message quotes the URL and
// names the problem.
TEST(ZkUrlTest, MalformedUrlsThrowParseErrorNamingTheProblem) {
  struct Case {
    const char* text;
    const char* problem;
  };
  const Case cases[] = {
      {"zk://nohostport", "expected zk://HOST:PORT"},  // no path
      {"zk://h:2181", "expected zk://HOST:PORT"},      // no path
      {"zk:///allot", "expected zk://HOST:PORT"},      // no servers
      {"zk://h:2181/", "below the root"},
      {"zk://h:2181//", "below the root"},
      {"zk://h:2181/a//b", "empty path component"},
      {"zk://h:abc/allot", "server 'h:abc' is not HOST:PORT"},
      {"zk://h:/allot", "server 'h:' is not HOST:PORT"},
      {"zk://h/allot", "server 'h' is not HOST:PORT"},
      {"zk://:2181/allot", "server ':2181' is not HOST:PORT"},
      {"zk://h:1,,h:2/allot", "server '' is not HOST:PORT"},
      {"zk://,h:1/allot", "server '' is not HOST:PORT"},
  };
  for (const Case& c : cases) {
    try {
      auto url = ZkUrl::parse(c.text);
      ADD_FAILURE() << c.text << ": parsed as " << (url ? url->text() : "nullopt");
    } catch (const ParseError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(c.text), std::string::npos) << c.text << ": " << message;
      EXPECT_NE(message.find(c.problem), std::string::npos)
          << c.text << ": '" << message << "' does not say '" << c.problem << "'";
    }
  }
}

void expectMalformed(const char* text) {
  try {
    auto url = ZkUrl::parse(text);
    ADD_FAILURE() << text << ": parsed as " << (url ? "'" + url->text() + "'" : "nullopt")
                  << " (servers '" << (url ? url->servers : "") << "')";
  } catch (const ParseError& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

// A port out of 1-65535 is not HOST:PORT. (Passed on, 99999 makes the
// master say "no connection ...; is it running?", and 0 "cannot start a
// session: Invalid argument", instead of naming the bad port.)
TEST(ZkUrlTest, PortsOutOfRangeAreMalformed) {
  for (const char* text : {"zk://h:99999/allot", "zk://h:65536/allot", "zk://h:0/allot",
                           "zk://h:1,h:123456789012/allot"}) {
    expectMalformed(text);
  }
}

// An empty server is refused first and between two (",h:1", "h:1,,h:2");
// so should it be last.
TEST(ZkUrlTest, TrailingCommaIsMalformed) {
  expectMalformed("zk://h:1,/allot");
}

// -------------------------------------------------------------- MasterInfo

// USER:PASSWORD@ before the servers; messages show the password as ***;
// file:// reads the URL from a file's first line.
TEST(ZkUrlTest, CredentialsAndUrlFiles) {
  const auto url = ZkUrl::parse("zk://alice:s3cret@h1:2181,h2:2181/allot");
  ASSERT_TRUE(url.has_value());
  EXPECT_EQ(url->servers, "h1:2181,h2:2181");
  EXPECT_EQ(url->path, "/allot");
  EXPECT_EQ(url->credentials, "alice:s3cret");
  EXPECT_EQ(url->text(), "zk://alice:***@h1:2181,h2:2181/allot");
  EXPECT_EQ(ZkUrl::parse("zk://h:1/x")->credentials, "");
  for (const char* bad : {"zk://alice@h:1/x", "zk://:pw@h:1/x", "zk://alice:@h:1/x"}) {
    try {
      ZkUrl::parse(bad);
      ADD_FAILURE() << bad << " parsed";
    } catch (const ParseError& e) {
      EXPECT_NE(std::string(e.what()).find("USER:PASSWORD"), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find("pw"), std::string::npos) << "shows the password";
    }
  }
  const std::string file =
      (std::filesystem::temp_directory_path() / ("allot-zk-url-" + std::to_string(::getpid())))
          .string();
  {
    std::ofstream out(file);
    out << "zk://bob:pw2@127.0.0.1:2181/team  \n";
  }
  const auto fromFile = ZkUrl::parse("file://" + file);
  ASSERT_TRUE(fromFile.has_value());
  EXPECT_EQ(fromFile->credentials, "bob:pw2");
  EXPECT_EQ(fromFile->path, "/team");
  {
    std::ofstream out(file);
    out << "127.0.0.1:2181\n";
  }
  EXPECT_THROW(ZkUrl::parse("file://" + file), ParseError);
  std::filesystem::remove(file);
  EXPECT_THROW(ZkUrl::parse("file://" + file), ParseError);
}

TEST(MasterInfoTest, JsonRoundTrip) {
  const MasterInfo full{"master-7", "tcp://10.1.2.3:5050", "10.1.2.3:5051"};
  auto back = MasterInfo::fromJson(full.toJson());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, full.id);
  EXPECT_EQ(back->endpoint, full.endpoint);
  EXPECT_EQ(back->http, full.http);

  const MasterInfo noHttp{"m \"quoted\" \\ ü", "tcp://[::1]:5050", ""};
  back = MasterInfo::fromJson(noHttp.toJson());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, noHttp.id);
  EXPECT_EQ(back->endpoint, noHttp.endpoint);
  EXPECT_EQ(back->http, "");

  // Fields it does not know (a later version's) are ignored.
  back = MasterInfo::fromJson(R"({"endpoint":"tcp://h:1","id":"x","version":"9.9","extra":[1]})");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->endpoint, "tcp://h:1");
  EXPECT_EQ(back->id, "x");
}

TEST(MasterInfoTest, FromJsonOfGarbageIsNullopt) {
  for (const char* text :
       {"", "not json", "null", "[]", "42", "\"tcp://h:1\"", "{}", R"({"id":"m"})",
        R"({"endpoint":5})", R"({"endpoint":null})", R"({"endpoint":"tcp://h:1")",
        "\x01\x02\xff\xfe", "{\"endpoint\":\"tcp://h:1\"} trailing"}) {
    EXPECT_FALSE(MasterInfo::fromJson(text).has_value()) << "'" << text << "'";
  }
}

// ----------------------------------------------------- against a real server

class ZooKeeperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto failed = server.start();
    ASSERT_FALSE(failed) << *failed;
  }
  ZooKeeperServer server;
};

// The first contender leads; the second stands by, seeing the first as
// leader; when the first goes (its session closed) the second leads. A
// contender that is destroyed does not report a loss.
TEST_F(ZooKeeperTest, TheOldestContenderLeadsAndTheNextTakesOverWhenItGoes) {
  const ZkUrl url = server.url("/allot/ha");
  const MasterInfo a = info("master-a", 5050);
  const MasterInfo b = info("master-b", 6060);

  auto first = std::make_unique<MasterContender>(url, a, kSession);
  LostLog firstLost;
  first->onLost(firstLost.callback());
  StandbyLog firstSaw;
  ASSERT_TRUE(first->waitForLeadership(giveUpAfter(10s), [&](const auto& m) { firstSaw.add(m); }))
      << "the only contender did not lead within 10 s";
  EXPECT_TRUE(firstSaw.get().empty())
      << "the leader reported a standby: " << show(firstSaw.get()[0]);

  MasterContender second(url, b, kSession);
  LostLog secondLost;
  second.onLost(secondLost.callback());
  StandbyLog secondSaw;
  std::atomic<bool> giveUp{false};
  auto led = std::async(std::launch::async, [&] {
    const auto deadline = Steady::now() + 20s;
    return second.waitForLeadership([&] { return giveUp.load() || Steady::now() > deadline; },
                                    [&](const auto& m) { secondSaw.add(m); });
  });
  ASSERT_TRUE(eventually([&] { return !secondSaw.get().empty(); }, 10s))
      << "the second contender reported no leader while standing by";
  EXPECT_TRUE(same(secondSaw.get().front(), a)) << show(secondSaw.get().front());
  EXPECT_EQ(led.wait_for(300ms), std::future_status::timeout)
      << "the second contender leads while the first does";

  first.reset();  // closes its session: its node goes at once
  ASSERT_EQ(led.wait_for(10s), std::future_status::ready)
      << "the second contender did not lead within 10 s of the first's end";
  giveUp = true;
  EXPECT_TRUE(led.get());
  EXPECT_EQ(firstLost.count(), 0u)
      << "a destroyed contender reported a loss: " << firstLost.reasons.front();
  EXPECT_EQ(secondLost.count(), 0u);
  for (const auto& m : secondSaw.get()) {
    EXPECT_TRUE(same(m, a)) << "standby saw a leader other than the first: " << show(m);
  }
}

// A detector reports, on its loop's thread, nullopt for an empty path, then
// each leader in turn, and nullopt when none is left; nothing in between.
TEST_F(ZooKeeperTest, DetectorFollowsTheLeaderOnItsLoop) {
  const ZkUrl url = server.url("/detected");
  SystemClock clock;
  EventLoop loop(clock);
  const auto loopThread = std::this_thread::get_id();
  std::vector<std::optional<MasterInfo>> seen;
  bool offThread = false;
  MasterDetector detector(url, kSession, loop, [&](const std::optional<MasterInfo>& m) {
    offThread = offThread || std::this_thread::get_id() != loopThread;
    seen.push_back(m);
  });
  auto pumpUntil = [&](std::size_t n, std::chrono::milliseconds timeout) {
    const auto deadline = Steady::now() + timeout;
    while (seen.size() < n && Steady::now() < deadline) {
      loop.runOnce(std::chrono::milliseconds(50));
    }
    return seen.size() >= n;
  };
  auto history = [&] {
    std::string out;
    for (const auto& m : seen) out += show(m) + "; ";
    return out;
  };

  ASSERT_TRUE(pumpUntil(1, 10s)) << "no first report within 10 s";
  EXPECT_FALSE(seen[0].has_value()) << "an empty path reported a leader: " << history();

  const MasterInfo a = info("master-a", 5050);
  const MasterInfo b = info("master-b", 6060);
  auto first = std::make_unique<MasterContender>(url, a, kSession);
  ASSERT_TRUE(pumpUntil(2, 10s)) << "the first contender was not reported: " << history();
  EXPECT_TRUE(same(seen[1], a)) << history();

  auto second = std::make_unique<MasterContender>(url, b, kSession);
  // B's node is a change of the path, not of the leader: A stays.
  first.reset();
  ASSERT_TRUE(pumpUntil(3, 10s)) << "the second leader was not reported: " << history();
  EXPECT_TRUE(same(seen[2], b)) << history();

  second.reset();
  ASSERT_TRUE(pumpUntil(4, 10s)) << "the end of the last leader was not reported: " << history();
  EXPECT_FALSE(seen[3].has_value()) << history();

  // Nothing more is pending: a short drain adds no report.
  for (int i = 0; i < 5; ++i) loop.runOnce(std::chrono::milliseconds(50));
  EXPECT_EQ(seen.size(), 4u) << history();
  EXPECT_FALSE(offThread) << "the detector called back off its loop's thread";
}

// ZooKeeper killed and down for longer than the session timeout: the
// leading contender reports the loss once, with a reason, not before the
// session timeout has passed; a standing-by contender's wait throws
// allot::Error naming the URL.
TEST_F(ZooKeeperTest, ZooKeeperDownPastTheSessionTimeoutEndsLeaderAndStandby) {
  const ZkUrl url = server.url("/lost");
  MasterContender leader(url, info("master-a", 5050), kSession);
  LostLog lost;
  leader.onLost(lost.callback());
  ASSERT_TRUE(leader.waitForLeadership(giveUpAfter(10s), nullptr));

  MasterContender standby(url, info("master-b", 6060), kSession);
  LostLog standbyLost;
  standby.onLost(standbyLost.callback());
  StandbyLog standbySaw;
  auto waited = std::async(std::launch::async, [&] {
    return standby.waitForLeadership(giveUpAfter(30s), [&](const auto& m) { standbySaw.add(m); });
  });
  ASSERT_TRUE(eventually([&] { return !standbySaw.get().empty(); }, 10s))
      << "the standby never saw the leader";

  const auto killedAt = Steady::now();
  server.kill();

  ASSERT_TRUE(eventually([&] { return lost.count() > 0; }, 10s))
      << "onLost did not fire within 10 s of ZooKeeper's death (session timeout 1 s)";
  const auto after = std::chrono::duration<double>(*lost.first - killedAt).count();
  EXPECT_GE(after, 0.9) << "lost leadership " << after << " s after the kill: before the session "
                        << "timeout (1 s) had passed, while the session may still live";
  EXPECT_LE(after, 5.0) << "lost leadership only " << after << " s after the kill";
  {
    std::lock_guard lock(lost.mutex);
    ASSERT_FALSE(lost.reasons.empty());
    EXPECT_FALSE(lost.reasons[0].empty()) << "onLost gave no reason";
    EXPECT_NE(lost.reasons[0].find("session timeout"), std::string::npos) << lost.reasons[0];
  }

  ASSERT_EQ(waited.wait_for(10s), std::future_status::ready)
      << "the standby's waitForLeadership neither threw nor returned within 10 s";
  try {
    const bool led = waited.get();
    ADD_FAILURE() << "the standby's waitForLeadership returned " << led << " instead of throwing";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(url.text()), std::string::npos) << message;
    EXPECT_NE(message.find("standing by"), std::string::npos) << message;
  }
  // Still once, however long it stays down.
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(lost.count(), 1u) << "onLost fired more than once";
  EXPECT_EQ(standbyLost.count(), 0u) << "a contender that never led reported a loss";
}

// Someone deletes the leader's node: it reports the loss, naming the node.
TEST_F(ZooKeeperTest, DeletingTheLeadersNodeEndsItsLeadership) {
  const ZkUrl url = server.url("/deleted");
  MasterContender leader(url, info("master-a", 5050), kSession);
  LostLog lost;
  leader.onLost(lost.callback());
  ASSERT_TRUE(leader.waitForLeadership(giveUpAfter(10s), nullptr));

  const std::shared_ptr<zhandle_t> session = rawSession(server);
  ASSERT_TRUE(session) << "no session of the test's own within 10 s";
  zhandle_t* zh = session.get();
  String_vector children{};
  ASSERT_EQ(zoo_get_children(zh, url.path.c_str(), 0, &children), ZOK);
  std::vector<std::string> names(children.data, children.data + children.count);
  deallocate_String_vector(&children);
  ASSERT_EQ(names.size(), 1u);
  EXPECT_TRUE(names[0].starts_with("member_")) << names[0];
  const std::string node = url.path + "/" + names[0];
  ASSERT_EQ(zoo_delete(zh, node.c_str(), -1), ZOK);

  ASSERT_TRUE(eventually([&] { return lost.count() > 0; }, 10s))
      << "onLost did not fire within 10 s of the node's deletion";
  std::lock_guard lock(lost.mutex);
  EXPECT_NE(lost.reasons[0].find(node), std::string::npos) << lost.reasons[0];
  EXPECT_NE(lost.reasons[0].find("deleted"), std::string::npos) << lost.reasons[0];
}

// The leading master's registry store: readOrCreate makes a missing node
// (and the path to it) empty; writeGuarded writes while the guard (the
// leader's member node) lives and, once it is gone, returns false writing
// nothing, so that a deposed leader cannot overwrite its successor's
// registry. Data over the 1 MB node limit throws, writing nothing; so does
// a write once ZooKeeper is gone (bounded: the master's loop makes it).
TEST_F(ZooKeeperTest, StoreWritesOnlyWhileTheGuardLives) {
  const ZkUrl url = server.url("/store");
  ZkStore store(url, kSession);
  const std::string node = "/store/deeper/registry";  // neither exists yet
  EXPECT_EQ(store.readOrCreate(node), "");
  EXPECT_EQ(store.readOrCreate(node), "") << "a second read of the empty node";

  auto leader = std::make_unique<MasterContender>(url, info("master-a", 5050), kSession);
  ASSERT_TRUE(leader->waitForLeadership(giveUpAfter(10s), nullptr));
  const std::string guard = leader->node();
  EXPECT_TRUE(guard.starts_with("/store/member_")) << guard;

  // Binary data, NULs included, near the limit: read back whole.
  std::string blob(900'000, '\0');
  for (std::size_t i = 0; i < blob.size(); ++i) blob[i] = static_cast<char>((i * 7919) % 251);
  ASSERT_TRUE(store.writeGuarded(node, blob, guard));
  EXPECT_TRUE(store.readOrCreate(node) == blob) << "the 900,000 bytes written did not read back";
  ASSERT_TRUE(store.writeGuarded(node, "small", guard));
  EXPECT_EQ(store.readOrCreate(node), "small");

  EXPECT_THROW(store.writeGuarded(node, std::string(1'100'000, 'x'), guard), Error);
  EXPECT_EQ(store.readOrCreate(node), "small") << "an oversized write changed the node";

  // The next leader's node: the deposed one can no longer write.
  MasterContender successor(url, info("master-b", 6060), kSession);
  leader.reset();
  ASSERT_TRUE(successor.waitForLeadership(giveUpAfter(10s), nullptr));
  EXPECT_FALSE(store.writeGuarded(node, "from the deposed leader", guard));
  EXPECT_EQ(store.readOrCreate(node), "small") << "a write guarded by a gone node went through";
  ASSERT_TRUE(store.writeGuarded(node, "from the successor", successor.node()));
  EXPECT_EQ(store.readOrCreate(node), "from the successor");

  server.kill();
  auto write = std::async(std::launch::async,
                          [&] { return store.writeGuarded(node, "cut off", successor.node()); });
  ASSERT_EQ(write.wait_for(10s), std::future_status::ready)
      << "a write with ZooKeeper gone did not end within 10 s";
  EXPECT_THROW(write.get(), Error);
}

// Several nodes at once (the registry's shards): readOrCreate makes them
// and their parent; writeGuarded puts writes that fit in one request (about
// 1 MB) in one transaction (one zxid for all), splits larger ones, and
// refuses a node over the limit before writing anything.
TEST_F(ZooKeeperTest, StoreWritesManyNodesInAsFewTransactionsAsFit) {
  const ZkUrl url = server.url("/multi");
  ZkStore store(url, kSession);
  const std::vector<std::string> nodes = {"/multi/r/a", "/multi/r/b", "/multi/r/c"};
  EXPECT_EQ(store.readOrCreate(nodes), (std::vector<std::string>{"", "", ""}));
  MasterContender leader(url, info("master-a", 5050), kSession);
  ASSERT_TRUE(leader.waitForLeadership(giveUpAfter(10s), nullptr));

  const std::shared_ptr<zhandle_t> session = rawSession(server);
  ASSERT_TRUE(session) << "no session of the test's own within 10 s";
  zhandle_t* zh = session.get();
  auto zxids = [&] {
    std::vector<std::int64_t> out;
    for (const auto& node : nodes) {
      Stat stat{};
      out.push_back(zoo_exists(zh, node.c_str(), 0, &stat) == ZOK ? stat.mzxid : -1);
    }
    return out;
  };
  auto write = [&](std::size_t a, std::size_t b, std::size_t c) {
    const std::string da(a, 'a'), db(b, 'b'), dc(c, 'c');
    const std::vector<ZkStore::Write> writes = {{nodes[0], da}, {nodes[1], db}, {nodes[2], dc}};
    return store.writeGuarded(writes, leader.node());
  };

  ASSERT_TRUE(write(10, 20, 30));
  EXPECT_EQ(
      store.readOrCreate(nodes),
      (std::vector<std::string>{std::string(10, 'a'), std::string(20, 'b'), std::string(30, 'c')}));
  auto z = zxids();
  EXPECT_TRUE(z[0] == z[1] && z[1] == z[2]) << "small writes in several transactions";

  ASSERT_TRUE(write(400'000, 400'000, 100));
  z = zxids();
  EXPECT_TRUE(z[0] == z[1] && z[1] == z[2]) << "800 KB of writes in several transactions";

  ASSERT_TRUE(write(600'000, 600'000, 600'000));
  z = zxids();
  EXPECT_TRUE(z[0] < z[1] && z[1] < z[2]) << "1.8 MB of writes not split in three, in order";
  const auto read = store.readOrCreate(nodes);
  EXPECT_TRUE(read[0] == std::string(600'000, 'a') && read[1] == std::string(600'000, 'b') &&
              read[2] == std::string(600'000, 'c'))
      << "the split writes did not read back";

  EXPECT_THROW(write(5, 5, ZkStore::maxNodeBytes()), Error);
  EXPECT_EQ(zxids(), z) << "a refused write list changed a node";
}

// With credentials in the URL, the path, the members and the registry are
// protected: anyone still finds the leader, but only the same credentials
// may stand as a master or read and write the registry. A path made before
// without credentials is restricted by the first master with them.
TEST_F(ZooKeeperTest, CredentialsProtectThePathTheMembersAndTheRegistry) {
  {
    // An earlier cluster without credentials left the path open.
    MasterContender open(server.url("/secure"), info("master-0", 4040), kSession);
    ASSERT_TRUE(open.waitForLeadership(giveUpAfter(10s), nullptr));
  }
  const ZkUrl owner = server.url("/secure", "ops:right");
  const ZkUrl stranger = server.url("/secure", "ops:wrong");
  const ZkUrl anonymous = server.url("/secure");
  MasterContender leader(owner, info("master-a", 5050), kSession);
  ASSERT_TRUE(leader.waitForLeadership(giveUpAfter(10s), nullptr));

  // Reading who leads needs no credentials.
  ZkStore reader(anonymous, kSession);
  EXPECT_TRUE(same(reader.leader(), info("master-a", 5050))) << show(reader.leader());

  // Standing as a master does.
  for (const ZkUrl& other : {anonymous, stranger}) {
    try {
      MasterContender intruder(other, info("master-x", 7070), kSession);
      ADD_FAILURE() << other.text() << " could stand as a master";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("protected by other ZooKeeper credentials"),
                std::string::npos)
          << e.what();
      EXPECT_EQ(std::string(e.what()).find("wrong"), std::string::npos) << "shows the password";
    }
  }

  // The registry: written by the owner, neither read nor written by others.
  const std::string node = "/secure/registry";
  ZkStore store(owner, kSession);
  EXPECT_EQ(store.readOrCreate(node), "");
  ASSERT_TRUE(store.writeGuarded(node, "agents", leader.node()));
  for (const ZkUrl& other : {anonymous, stranger}) {
    ZkStore theirs(other, kSession);
    EXPECT_THROW(theirs.readOrCreate(node), Error) << other.text();
    EXPECT_THROW(theirs.writeGuarded(node, "forged", leader.node()), Error) << other.text();
  }
  EXPECT_EQ(store.readOrCreate(node), "agents");

  // A detector without credentials follows the leader.
  SystemClock clock;
  EventLoop loop(clock);
  std::optional<std::optional<MasterInfo>> seen;
  MasterDetector detector(anonymous, kSession, loop, [&](const auto& m) { seen = m; });
  for (int i = 0; i < 500 && !seen; ++i) loop.runOnce(10ms);
  ASSERT_TRUE(seen.has_value()) << "the detector reported nothing";
  EXPECT_TRUE(same(*seen, info("master-a", 5050))) << show(*seen);
}

// No server: the constructor gives up after about the session timeout,
// throwing allot::Error naming the URL.
TEST(ZooKeeperUnreachableTest, ContendingWithoutAServerThrowsNamingTheUrl) {
  const int port = freePort();
  ASSERT_GT(port, 0);
  const ZkUrl url{"127.0.0.1:" + std::to_string(port), "/nobody", ""};
  const auto started = Steady::now();
  try {
    MasterContender contender(url, info("master-a", 5050), kSession);
    ADD_FAILURE() << "contending against " << url.text() << " with nothing listening succeeded";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(url.text()), std::string::npos) << message;
  }
  const auto took = std::chrono::duration<double>(Steady::now() - started).count();
  EXPECT_GE(took, 0.9) << "gave up after " << took << " s, before the session timeout (1 s)";
  EXPECT_LE(took, 4.0) << "gave up only after " << took << " s (session timeout 1 s)";
}

}  // namespace
}  // namespace allot::runtime
