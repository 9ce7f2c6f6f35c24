// Envelope framing and the transport: real ZeroMQ sockets over loopback.
#include "allot/runtime/wire.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <deque>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "allot/core/error.h"
#include "allot/runtime/clock.h"
#include "allot/runtime/event_loop.h"
#include "allot/runtime/transport.h"

namespace allot::runtime {
namespace {

std::span<const std::byte> bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// A message survives encode and decode with type, sender, sequence and body.
TEST(WireTest, EncodeDecodeRoundTrip) {
  wire::Kill kill;
  kill.set_task_id("t1");
  std::string frame = encode(wire::KILL, "fw-1", 7, kill);
  wire::Envelope envelope;
  ASSERT_FALSE(decode(bytes(frame), envelope).has_value());
  EXPECT_EQ(envelope.type(), wire::KILL);
  EXPECT_EQ(envelope.sender(), "fw-1");
  EXPECT_EQ(envelope.sequence(), 7u);
  wire::Kill back;
  ASSERT_FALSE(decodePayload(envelope, back).has_value());
  EXPECT_EQ(back.task_id(), "t1");
}

// Garbage, other versions, unknown types and oversized frames are refused
// with the matching code and a message that says what was wrong.
TEST(WireTest, BadFramesAreRefusedWithReasons) {
  wire::Envelope envelope;
  auto garbage = decode(bytes(std::string("\xff\xff\xff\xff garbage", 13)), envelope);
  ASSERT_TRUE(garbage.has_value());
  EXPECT_EQ(garbage->code, wire::Error::MALFORMED);

  wire::Envelope other;
  other.set_version(99);
  other.set_type(wire::KILL);
  auto version = decode(bytes(other.SerializeAsString()), envelope);
  ASSERT_TRUE(version.has_value());
  EXPECT_EQ(version->code, wire::Error::BAD_VERSION);
  EXPECT_NE(version->message.find("99"), std::string::npos);

  wire::Envelope unknown;
  unknown.set_version(kProtocolVersion);
  unknown.set_type(static_cast<wire::MessageType>(77));
  auto type = decode(bytes(unknown.SerializeAsString()), envelope);
  ASSERT_TRUE(type.has_value());
  EXPECT_EQ(type->code, wire::Error::UNKNOWN_TYPE);
  EXPECT_NE(type->message.find("type 77"), std::string::npos);

  std::string huge(kMaxMessageBytes + 1, 'x');
  auto large = decode(bytes(huge), envelope);
  ASSERT_TRUE(large.has_value());
  EXPECT_EQ(large->code, wire::Error::TOO_LARGE);

  wire::Envelope badPayload;
  badPayload.set_version(kProtocolVersion);
  badPayload.set_type(wire::KILL);
  badPayload.set_payload("\xff\xff\xff");
  ASSERT_FALSE(decode(bytes(badPayload.SerializeAsString()), envelope).has_value());
  wire::Kill kill;
  auto payload = decodePayload(envelope, kill);
  ASSERT_TRUE(payload.has_value());
  EXPECT_NE(payload->message.find("KILL"), std::string::npos);
}

// Over real sockets: a DEALER's garbage is answered with ERROR, and a good
// message after it still arrives.
TEST(TransportTest, RouterAnswersGarbageAndKeepsReceiving) {
  zmq::context_t context;
  RouterSocket router(context, "tcp://127.0.0.1:*");
  DealerSocket dealer(context, router.endpoint(), "peer-1");
  zmq::socket_t raw(context, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::routing_id, "raw-1");
  raw.connect(router.endpoint());
  raw.send(zmq::str_buffer("not a protobuf at all \xff\xff"), zmq::send_flags::none);
  wire::Kill kill;
  kill.set_task_id("t9");
  ASSERT_TRUE(dealer.send(wire::KILL, "fw-9", kill));

  int bad = 0;
  Incoming in;
  bool got = false;
  // The two peers' messages may arrive in either order: wait for both.
  for (int i = 0; i < 400 && !(got && bad > 0); ++i) {
    Incoming next;
    if (router.receive(next, [&](const std::string& who, const WireError& e) {
          ++bad;
          EXPECT_EQ(who, "raw-1");
          EXPECT_EQ(e.code, wire::Error::MALFORMED);
        })) {
      in = next;
      got = true;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  ASSERT_TRUE(got);
  EXPECT_EQ(in.routingId, "peer-1");
  EXPECT_EQ(in.envelope.sender(), "fw-9");

  // The raw peer got an ERROR envelope back.
  zmq::message_t reply;
  zmq::pollitem_t item{raw.handle(), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, std::chrono::milliseconds(2000));
  ASSERT_TRUE(raw.recv(reply, zmq::recv_flags::dontwait));
  wire::Envelope envelope;
  ASSERT_FALSE(decode({static_cast<const std::byte*>(reply.data()), reply.size()}, envelope));
  EXPECT_EQ(envelope.type(), wire::ERROR);
  EXPECT_GE(bad, 1);
}

TEST(TransportTest, MasterEndpointParsesHostPort) {
  EXPECT_EQ(masterEndpoint("127.0.0.1:5050"), "tcp://127.0.0.1:5050");
  EXPECT_EQ(masterEndpoint("tcp://host:1"), "tcp://host:1");
  EXPECT_THROW(masterEndpoint("host"), Error);
  EXPECT_THROW(masterEndpoint("host:x1"), Error);
}

// A writable watch (the agent's queue to an executor) fires while the
// descriptor has room, not once the peer's queue is full, again once the
// peer has read, and never after it is removed; a readable watch on the same
// descriptor is independent of it.
TEST(EventLoopTest, WritableWatchFiresOnlyWhileThereIsRoom) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0);
  ManualClock clock;
  EventLoop loop(clock);
  int writable = 0, readable = 0;
  loop.watchFdWritable(fds[0], [&] { ++writable; });
  loop.watchFd(fds[0], [&] { ++readable; });
  loop.runOnce(std::chrono::milliseconds(0));
  EXPECT_EQ(writable, 1);
  char message[64] = {};
  int sent = 0;
  while (::send(fds[0], message, sizeof message, MSG_DONTWAIT) == sizeof message) ++sent;
  ASSERT_GT(sent, 0);
  loop.runOnce(std::chrono::milliseconds(20));
  EXPECT_EQ(writable, 1) << "the peer's queue is full";
  while (::recv(fds[1], message, sizeof message, MSG_DONTWAIT) > 0) {
  }
  loop.runOnce(std::chrono::milliseconds(20));
  EXPECT_EQ(writable, 2);
  loop.unwatchFdWritable(fds[0]);
  ASSERT_EQ(::send(fds[1], message, 1, 0), 1);
  loop.runOnce(std::chrono::milliseconds(20));
  EXPECT_EQ(writable, 2);
  EXPECT_EQ(readable, 1) << "the readable watch stayed";
  ::close(fds[0]);
  ::close(fds[1]);
}

// A signal the process handles (not blocked, as in a Python host) that
// interrupts the wait is no error: the turn ends with nothing ready, and the
// next one waits again.
TEST(EventLoopTest, ASignalInterruptingTheWaitIsNoError) {
  struct sigaction action {};
  struct sigaction previous {};
  action.sa_handler = [](int) {};  // no SA_RESTART: poll fails with EINTR
  ASSERT_EQ(::sigaction(SIGUSR1, &action, &previous), 0);
  ManualClock clock;
  EventLoop loop(clock);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  int readable = 0;
  loop.watchFd(fds[0], [&] { ++readable; });
  const pthread_t self = ::pthread_self();
  std::thread interrupter([self] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ::pthread_kill(self, SIGUSR1);
  });
  EXPECT_NO_THROW(loop.runOnce(std::chrono::seconds(5)));
  interrupter.join();
  EXPECT_EQ(readable, 0);
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  loop.runOnce(std::chrono::milliseconds(100));
  EXPECT_EQ(readable, 1);
  ::sigaction(SIGUSR1, &previous, nullptr);
  ::close(fds[0]);
  ::close(fds[1]);
}

// Items posted from other threads reach the loop's thread, all of them and
// in order; close() hands back what was not delivered and refuses more.
TEST(LoopInboxTest, PostsFromOtherThreadsAreDeliveredInOrderOnTheLoopThread) {
  SystemClock clock;
  EventLoop loop(clock);
  std::vector<int> got;
  std::vector<std::thread::id> threads;
  LoopInbox<int> inbox(loop, [&](std::deque<int> items) {
    threads.push_back(std::this_thread::get_id());
    got.insert(got.end(), items.begin(), items.end());
  });
  constexpr int kPerThread = 2000;
  std::thread a([&] {
    for (int i = 0; i < kPerThread; ++i) EXPECT_TRUE(inbox.post(i));
  });
  std::thread b([&] {
    for (int i = 0; i < kPerThread; ++i) EXPECT_TRUE(inbox.post(kPerThread + i));
  });
  for (int turn = 0; turn < 1000 && got.size() < 2 * kPerThread; ++turn) {
    loop.runOnce(std::chrono::milliseconds(10));
  }
  a.join();
  b.join();
  loop.runOnce(std::chrono::milliseconds(10));
  ASSERT_EQ(got.size(), 2u * kPerThread);
  for (std::thread::id id : threads) EXPECT_EQ(id, std::this_thread::get_id());
  // Each thread's items in the order it posted them.
  std::vector<int> fromA, fromB;
  for (int v : got) (v < kPerThread ? fromA : fromB).push_back(v);
  ASSERT_EQ(fromA.size(), fromB.size());
  for (std::size_t i = 0; i < fromA.size(); ++i) {
    ASSERT_EQ(fromA[i], static_cast<int>(i));
    ASSERT_EQ(fromB[i], kPerThread + static_cast<int>(i));
  }

  EXPECT_TRUE(inbox.post(7));
  EXPECT_TRUE(inbox.post(8));
  EXPECT_EQ(inbox.close(), (std::deque<int>{7, 8}));
  EXPECT_FALSE(inbox.post(9));
  const std::size_t before = got.size();
  loop.runOnce(std::chrono::milliseconds(10));
  EXPECT_EQ(got.size(), before);
}

// Mesos' defaults for unset times; each bad field named.
TEST(WireTest, HealthChecksTakeMesosDefaultsAndBadOnesNameTheirField) {
  wire::HealthCheck check;
  check.set_type(wire::HealthCheck::COMMAND);
  check.set_command("true");
  EXPECT_EQ(healthCheckProblem(check), std::nullopt);
  HealthCheckTimes t = healthCheckTimes(check);
  EXPECT_EQ(t.delayMs, 15'000);
  EXPECT_EQ(t.intervalMs, 10'000);
  EXPECT_EQ(t.timeoutMs, 20'000);
  EXPECT_EQ(t.graceMs, 10'000);
  EXPECT_EQ(t.consecutiveFailures, 3u);
  check.set_delay_seconds(0);
  check.set_interval_seconds(0.25);
  check.set_consecutive_failures(0);
  t = healthCheckTimes(check);
  EXPECT_EQ(t.delayMs, 0);
  EXPECT_EQ(t.intervalMs, 250);
  EXPECT_EQ(t.consecutiveFailures, 0u);

  const auto problem = [](const std::function<void(wire::HealthCheck&)>& edit) {
    wire::HealthCheck c;
    c.set_type(wire::HealthCheck::HTTP);
    c.set_port(8080);
    c.set_path("/health");
    edit(c);
    return healthCheckProblem(c).value_or("(none)");
  };
  EXPECT_EQ(problem([](auto&) {}), "(none)");
  EXPECT_EQ(problem([](auto& c) { c.set_type(wire::HealthCheck::TYPE_UNSPECIFIED); }),
            "health_check.type: 0 is not COMMAND, TCP, HTTP or HTTPS");
  EXPECT_EQ(problem([](auto& c) { c.set_type(wire::HealthCheck::HTTPS); }), "(none)");
  EXPECT_EQ(problem([](auto& c) {
              c.set_type(wire::HealthCheck::HTTPS);
              c.set_path("/a b");
            }),
            "health_check.path: holds a space or a control character (escape it as %XX)");
  EXPECT_EQ(problem([](auto& c) {
              c.set_type(wire::HealthCheck::HTTPS);
              c.set_port(0);
            }),
            "health_check.port: 0 is not a port (1-65535)");
  EXPECT_EQ(problem([](auto& c) { c.set_type(wire::HealthCheck::COMMAND); }),
            "health_check.command: empty (a COMMAND check runs it)");
  EXPECT_EQ(problem([](auto& c) {
              c.set_type(wire::HealthCheck::COMMAND);
              c.set_command(std::string("a\0b", 3));
            }),
            "health_check.command: holds a NUL byte");
  EXPECT_EQ(problem([](auto& c) { c.set_port(70000); }),
            "health_check.port: 70000 is not a port (1-65535)");
  EXPECT_EQ(problem([](auto& c) {
              c.set_type(wire::HealthCheck::TCP);
              c.set_port(0);
            }),
            "health_check.port: 0 is not a port (1-65535)");
  EXPECT_EQ(problem([](auto& c) { c.set_path("health"); }),
            "health_check.path: 'health' does not start with '/'");
  EXPECT_EQ(problem([](auto& c) { c.set_path("/a b"); }),
            "health_check.path: holds a space or a control character (escape it as %XX)");
  EXPECT_EQ(problem([](auto& c) { c.set_path("/a\r\nX: y"); }),
            "health_check.path: holds a space or a control character (escape it as %XX)");
  EXPECT_EQ(problem([](auto& c) { c.set_timeout_seconds(std::nan("")); }),
            "health_check.timeout_seconds: nan is not a number of seconds from 0 to 86400");
  EXPECT_EQ(problem([](auto& c) { c.set_delay_seconds(1e9); }),
            "health_check.delay_seconds: 1000000000 is not a number of seconds from 0 to 86400");
  EXPECT_EQ(problem([](auto& c) { c.set_interval_seconds(0); }),
            "health_check.interval_seconds: must be at least 0.001");
  EXPECT_EQ(problem([](auto& c) { c.set_timeout_seconds(0.0001); }),
            "health_check.timeout_seconds: must be at least 0.001");
}

// Paths in a sandbox: relative, each component named; what could climb out
// or hide a component is refused.
TEST(WireTest, SandboxPathsAreRelativeWithEveryComponentNamed) {
  for (const std::string path : {"", "stdout", "out/result.csv", "a/.hidden", "a/b.../c", "..a"}) {
    EXPECT_EQ(sandboxPathProblem(path), std::nullopt) << path;
  }
  for (const std::string path : {"..", "a/../b", "./x", "a/.", "a//b", "a/", "/x", "/"}) {
    EXPECT_NE(sandboxPathProblem(path), std::nullopt) << path;
  }
  EXPECT_EQ(sandboxPathProblem(std::string("a\0b", 3)), "holds a NUL byte");
  EXPECT_EQ(sandboxPathProblem(std::string(4097, 'a')), "longer than 4096 bytes");
  EXPECT_EQ(sandboxPathProblem(std::string(4096, 'a')), std::nullopt);
}

}  // namespace
}  // namespace allot::runtime
