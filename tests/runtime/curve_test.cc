// CURVE security of the master's links: key files, the clients file, and
// real sockets whose handshakes succeed or fail for the right reason.

#include "allot/runtime/curve.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "allot/core/error.h"
#include "allot/runtime/transport.h"

namespace allot::runtime {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class CurveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "allot-curve-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  static std::string errorOf(const std::function<void()>& fn) {
    try {
      fn();
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  }

  fs::path dir_;
};

TEST_F(CurveTest, KeyFilesRoundTripPrivately) {
  const CurveKeyPair keys = generateCurveKeyPair();
  EXPECT_TRUE(isCurveKey(keys.publicKey));
  EXPECT_TRUE(isCurveKey(keys.secretKey));
  EXPECT_NE(keys.publicKey, keys.secretKey);
  const std::string path = (dir_ / "master.key").string();
  writeCurveKeyFile(path, keys, false);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  std::vector<std::string> warnings;
  const CurveKeyPair read =
      readCurveKeyFile("--curve-key", path, [&](const std::string& w) { warnings.push_back(w); });
  EXPECT_EQ(read.publicKey, keys.publicKey);
  EXPECT_EQ(read.secretKey, keys.secretKey);
  EXPECT_TRUE(warnings.empty());
  // The public half, from the key pair file or as text.
  EXPECT_EQ(readCurvePublicKey("--master-key", path), keys.publicKey);
  EXPECT_EQ(readCurvePublicKey("--master-key", keys.publicKey), keys.publicKey);

  // An existing file is kept unless overwriting is asked for.
  const std::string refused =
      errorOf([&] { writeCurveKeyFile(path, generateCurveKeyPair(), false); });
  EXPECT_NE(refused.find("--force"), std::string::npos) << refused;
  EXPECT_EQ(readCurveKeyFile("--curve-key", path).secretKey, keys.secretKey);

  // Readable by others: read, with a warning naming the mode.
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  readCurveKeyFile("--curve-key", path, [&](const std::string& w) { warnings.push_back(w); });
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("644"), std::string::npos) << warnings[0];
  writeCurveKeyFile(path, keys, true);
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(CurveTest, BadKeyFilesNameTheLine) {
  const CurveKeyPair keys = generateCurveKeyPair();
  const CurveKeyPair other = generateCurveKeyPair();
  // czmq's layout, with only the secret key: the public one is derived.
  const std::string zcert =
      write("zcert", "metadata\ncurve\n    secret-key = \"" + keys.secretKey + "\"\n");
  EXPECT_EQ(readCurveKeyFile("--curve-key", zcert).publicKey, keys.publicKey);

  const std::string bad =
      write("bad", "curve\n  public-key = \"" + keys.publicKey + "\"\n  secret-key = \"short\"\n");
  std::string why = errorOf([&] { readCurveKeyFile("--curve-key", bad); });
  EXPECT_NE(why.find(bad + ":3: secret-key is not a CURVE key"), std::string::npos) << why;

  const std::string mismatch =
      write("mismatch",
            "public-key = \"" + other.publicKey + "\"\nsecret-key = \"" + keys.secretKey + "\"\n");
  why = errorOf([&] { readCurveKeyFile("--curve-key", mismatch); });
  EXPECT_NE(why.find("not the secret key's"), std::string::npos) << why;

  const std::string publicOnly = write("public", keys.publicKey + "\n");
  why = errorOf([&] { readCurveKeyFile("--curve-key", publicOnly); });
  EXPECT_NE(why.find("no secret-key line"), std::string::npos) << why;
  EXPECT_EQ(readCurvePublicKey("--master-key", publicOnly), keys.publicKey);

  why = errorOf([&] { readCurvePublicKey("--master-key", "not-a-key"); });
  EXPECT_NE(why.find("--master-key 'not-a-key': neither a public key"), std::string::npos) << why;
  why = errorOf([&] { readCurveKeyFile("--curve-key", (dir_ / "missing").string()); });
  EXPECT_NE(why.find("cannot read it"), std::string::npos) << why;
}

TEST_F(CurveTest, ClientListNamesKeysAndFollowsEdits) {
  const CurveKeyPair a = generateCurveKeyPair(), b = generateCurveKeyPair();
  const std::string path = write("clients", "# who may connect\n" + a.publicKey +
                                                "  agent-a   # rack 1\n\n" + b.publicKey + "\n");
  CurveClientList list(path);
  std::vector<std::string> warnings;
  auto warn = [&](const std::string& w) { warnings.push_back(w); };
  EXPECT_EQ(list.size(), 2u);
  EXPECT_EQ(list.admit(a.publicKey, warn), "agent-a");
  EXPECT_EQ(list.admit(b.publicKey, warn), b.publicKey);  // unnamed: named by its key
  EXPECT_EQ(list.admit(generateCurveKeyPair().publicKey, warn), std::nullopt);

  // b revoked, with a different length so that the change shows even within
  // the file system's time granularity.
  write("clients", a.publicKey + " agent-a\n");
  EXPECT_EQ(list.admit(b.publicKey, warn), std::nullopt);
  EXPECT_EQ(list.admit(a.publicKey, warn), "agent-a");

  // A broken edit keeps the last good list and says so once.
  write("clients", a.publicKey + " agent-a\nnot-a-key\n");
  EXPECT_EQ(list.admit(a.publicKey, warn), "agent-a");
  EXPECT_EQ(list.admit(a.publicKey, warn), "agent-a");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find(path + ":2: 'not-a-key' is not a public key"), std::string::npos)
      << warnings[0];

  const std::string bad = write("bad", a.publicKey + "\n" + a.publicKey.substr(1) + " x\n");
  const std::string why = errorOf([&] { CurveClientList{bad}; });
  EXPECT_NE(why.find(bad + ":2:"), std::string::npos) << why;
}

TEST(HandshakeLogFilterTest, LogsOutcomesAndChangesNotRetries) {
  using K = HandshakeEvent;
  const HandshakeEvent refused{K::kFailedAuth, 400, "tcp://m1:5050"};
  const HandshakeEvent brokenPipe{K::kFailedOther, 32, "tcp://m1:5050"};
  const HandshakeEvent atM1{K::kSucceeded, 0, "tcp://m1:5050"};
  const HandshakeEvent atM2{K::kSucceeded, 0, "tcp://m2:5050"};
  HandshakeLogFilter secure;
  EXPECT_TRUE(secure.worthLogging(refused, true));
  EXPECT_FALSE(secure.worthLogging(refused, true));  // the same refusal, retried
  EXPECT_TRUE(secure.worthLogging(atM1, true));      // let in at last
  EXPECT_FALSE(secure.worthLogging(atM1, true));
  EXPECT_TRUE(secure.worthLogging(atM2, true));  // a new leader
  EXPECT_TRUE(secure.worthLogging(brokenPipe, true));
  HandshakeLogFilter plain;
  EXPECT_FALSE(plain.worthLogging(atM1, false));  // a plain link's first success: quiet
  EXPECT_FALSE(plain.worthLogging(brokenPipe, false));
  EXPECT_TRUE(plain.worthLogging(
      {K::kFailedProtocol, ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH, "tcp://m1:5050"}, false));
  EXPECT_TRUE(plain.worthLogging(atM1, false));  // back after a failure
}

// A master's ROUTER with CURVE, its ZAP handler, and clients that connect.
class CurveSocketsTest : public CurveTest {
 protected:
  void SetUp() override {
    CurveTest::SetUp();
    server_.keys = generateCurveKeyPair();
    admittedKeys_ = generateCurveKeyPair();
    server_.clientsFile = write("clients", admittedKeys_.publicKey + " agent-1\n");
    auth_ = std::make_unique<CurveAuthenticator>(context_, server_.clientsFile);
    router_ = std::make_unique<RouterSocket>(context_, "tcp://127.0.0.1:*", &server_);
  }

  // Runs the master's side (ZAP answers, receives) and drains `client`'s
  // monitor until `done` or 3 s.
  void pump(DealerSocket* client, const std::function<bool()>& done) {
    for (auto until = std::chrono::steady_clock::now() + 3s;
         !done() && std::chrono::steady_clock::now() < until;) {
      auth_->handle([&](const CurveAuthenticator::Decision& d) { decisions_.push_back(d); }, {});
      Incoming in;
      while (router_->receive(in, [](const std::string&, const WireError&) {}))
        received_.push_back(in);
      if (client && client->handshakeMonitor()) {
        client->handshakeMonitor()->drain([&](const HandshakeEvent& e) { events_.push_back(e); });
      }
      std::this_thread::sleep_for(2ms);
    }
  }
  bool failedWith(HandshakeEvent::Kind kind) const {
    for (const auto& e : events_) {
      if (e.kind == kind) return true;
    }
    return false;
  }

  zmq::context_t context_;
  CurveServerOptions server_;
  CurveKeyPair admittedKeys_;
  std::unique_ptr<CurveAuthenticator> auth_;
  std::unique_ptr<RouterSocket> router_;
  std::vector<CurveAuthenticator::Decision> decisions_;
  std::vector<Incoming> received_;
  std::vector<HandshakeEvent> events_;
};

TEST_F(CurveSocketsTest, AdmittedClientTalksBothWays) {
  CurveClientOptions curve{server_.keys.publicKey, admittedKeys_};
  DealerSocket dealer(context_, router_->endpoint(), "agent-1#1", &curve);
  ASSERT_NE(dealer.handshakeMonitor(), nullptr);
  wire::Kill kill;
  kill.set_task_id("t1");
  ASSERT_TRUE(dealer.send(wire::KILL, "fw-1", kill));
  pump(&dealer, [&] { return !received_.empty(); });
  ASSERT_EQ(received_.size(), 1u);
  EXPECT_EQ(received_[0].routingId, "agent-1#1");
  EXPECT_EQ(received_[0].envelope.sender(), "fw-1");
  ASSERT_EQ(decisions_.size(), 1u);
  EXPECT_EQ(decisions_[0].key, admittedKeys_.publicKey);
  EXPECT_EQ(decisions_[0].name, "agent-1");
  EXPECT_EQ(decisions_[0].address, "127.0.0.1");
  EXPECT_TRUE(failedWith(HandshakeEvent::kSucceeded));

  ASSERT_TRUE(router_->send("agent-1#1", wire::KILL, "master", kill));
  wire::Envelope back;
  bool got = false;
  for (int i = 0; i < 300 && !got; ++i) {
    got = dealer.receive(back, [](const WireError&) {});
    if (!got) std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(got);
  EXPECT_EQ(back.type(), wire::KILL);
}

TEST_F(CurveSocketsTest, UnlistedKeyIsRefusedUntilAdded) {
  const CurveKeyPair stranger = generateCurveKeyPair();
  CurveClientOptions curve{server_.keys.publicKey, stranger};
  auto dealer = std::make_unique<DealerSocket>(context_, router_->endpoint(), "s#1", &curve);
  wire::Kill kill;
  ASSERT_TRUE(dealer->send(wire::KILL, "stranger", kill));
  pump(dealer.get(), [&] { return failedWith(HandshakeEvent::kFailedAuth); });
  ASSERT_TRUE(failedWith(HandshakeEvent::kFailedAuth));
  EXPECT_TRUE(received_.empty());
  ASSERT_FALSE(decisions_.empty());
  EXPECT_EQ(decisions_[0].key, stranger.publicKey);
  EXPECT_FALSE(decisions_[0].name.has_value());
  EXPECT_GE(auth_->refused(), 1u);
  const std::string told = describeClientHandshake(events_.back(), true);
  EXPECT_NE(told.find("refused this client's key"), std::string::npos) << told;
  EXPECT_NE(told.find("--curve-clients"), std::string::npos) << told;

  // Added to the file: the next connection is admitted, without a restart.
  write("clients", admittedKeys_.publicKey + " agent-1\n" + stranger.publicKey + " late\n");
  dealer = std::make_unique<DealerSocket>(context_, router_->endpoint(), "s#2", &curve);
  ASSERT_TRUE(dealer->send(wire::KILL, "stranger", kill));
  pump(dealer.get(), [&] { return !received_.empty(); });
  ASSERT_EQ(received_.size(), 1u);
  EXPECT_EQ(received_[0].routingId, "s#2");
  EXPECT_EQ(decisions_.back().name, "late");
}

TEST_F(CurveSocketsTest, WrongMasterKeyOrNoCurveDeliversNothing) {
  CurveClientOptions wrong{generateCurveKeyPair().publicKey, admittedKeys_};
  DealerSocket dealer(context_, router_->endpoint(), "w#1", &wrong);
  wire::Kill kill;
  ASSERT_TRUE(dealer.send(wire::KILL, "w", kill));
  // A plain client, as an agent without --master-key, or an attacker.
  DealerSocket plain(context_, router_->endpoint(), "p#1");
  ASSERT_TRUE(plain.send(wire::KILL, "p", kill));
  HandshakeMonitor plainMonitor(context_, plain.socket());
  std::vector<HandshakeEvent> plainEvents;
  pump(&dealer, [&] {
    plainMonitor.drain([&](const HandshakeEvent& e) { plainEvents.push_back(e); });
    return !events_.empty() && !plainEvents.empty();
  });
  EXPECT_TRUE(received_.empty());
  EXPECT_TRUE(decisions_.empty());  // neither got as far as asking who it is
  ASSERT_FALSE(events_.empty());
  EXPECT_NE(events_[0].kind, HandshakeEvent::kSucceeded);
  EXPECT_NE(describeClientHandshake(events_[0], true).find("failed"), std::string::npos);
  ASSERT_FALSE(plainEvents.empty());
  EXPECT_EQ(plainEvents[0].kind, HandshakeEvent::kFailedProtocol);
  const std::string told = describeClientHandshake(plainEvents[0], false);
  EXPECT_NE(
      told.find(
          "disagree on security: the master uses CURVE; pass its public key with --master-key"),
      std::string::npos)
      << told;
}

TEST_F(CurveSocketsTest, OneAuthenticatorPerContext) {
  std::string why;
  try {
    CurveAuthenticator second(context_, server_.clientsFile);
  } catch (const Error& e) {
    why = e.what();
  }
  EXPECT_NE(why.find("one CURVE master per ZeroMQ context"), std::string::npos) << why;
}

TEST(CurveAnyClientTest, WithoutAClientsFileAnyKeyThatKnowsTheMasterConnects) {
  zmq::context_t context;
  CurveServerOptions server{generateCurveKeyPair(), ""};
  RouterSocket router(context, "tcp://127.0.0.1:*", &server);
  CurveClientOptions curve{server.keys.publicKey, {}};  // a fresh pair of its own
  DealerSocket dealer(context, router.endpoint(), "any#1", &curve);
  wire::Kill kill;
  ASSERT_TRUE(dealer.send(wire::KILL, "any", kill));
  Incoming in;
  bool got = false;
  for (int i = 0; i < 600 && !got; ++i) {
    got = router.receive(in, [](const std::string&, const WireError&) {});
    if (!got) std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(got);
  EXPECT_EQ(in.envelope.sender(), "any");
}

}  // namespace
}  // namespace allot::runtime
