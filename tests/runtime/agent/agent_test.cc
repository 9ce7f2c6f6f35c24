// The agent against a real ZeroMQ ROUTER playing the master, with real task
// processes launched through allot-executor in temporary work directories.
// Timers (heartbeats, retries) run on a ManualClock that the tests advance;
// tasks run in real time and are awaited with bounded polling.
#include "allot/runtime/agent.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "allot/core/error.h"
#include "allot/runtime/clock.h"
#include "allot/runtime/event_loop.h"
#include "allot/runtime/transport.h"
#include "allot/runtime/wire.h"
#include "checkpoint.pb.h"
#include "runtime/executor/protocol.h"
#include "runtime/src/agent/files.h"
#include "runtime/src/agent/isolation.h"

namespace allot::runtime {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string readAll(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/allot-agent-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    workDir_ = pattern;
  }

  void TearDown() override {
    agent_.reset();
    killLeftoverExecutors();
    std::error_code ec;
    fs::remove_all(workDir_, ec);
  }

  // Pids of this test's executors still running (children of this process,
  // named with its work directory).
  std::vector<pid_t> executors() const {
    std::vector<pid_t> pids;
    for (const auto& entry : fs::directory_iterator("/proc")) {
      std::string name = entry.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::string cmdline = readAll(entry.path() / "cmdline");
      if (cmdline.find("allot-executor") == std::string::npos ||
          cmdline.find(workDir_) == std::string::npos) {
        continue;
      }
      std::string stat = readAll(entry.path() / "stat");
      std::istringstream fields(stat.substr(stat.rfind(')') + 2));
      std::string state;
      long ppid = 0;
      fields >> state >> ppid;
      if (ppid == ::getpid()) pids.push_back(static_cast<pid_t>(std::stol(name)));
    }
    return pids;
  }

  // Executors of this test still running (idle, or a failed test): their
  // tasks killed at once (SIGTERM with grace 0), and they reaped, so no
  // process outlives the test.
  void killLeftoverExecutors() {
    for (pid_t pid : executors()) {
      ::sigqueue(pid, SIGTERM, sigval{0});
      ::waitpid(pid, nullptr, 0);
    }
  }

  AgentOptions options() const {
    AgentOptions o;
    o.master = master_.endpoint();
    o.workDir = workDir_;
    o.executorPath = ALLOT_EXECUTOR;
    o.resources = "cpus:2;mem:1024;disk:1000;ports:[31000-31010]";
    o.attributes = "rack:r1";
    o.heartbeat = 1s;
    o.registerRetry = 1s;
    o.statusRetry = 10s;
    o.killGrace = 5s;
    o.memoryPoll = 20ms;
    o.cgroupRoot = "none";
    // Tests that advance the clock past a retry do not ack heartbeats.
    o.masterTimeout = 24h;
    return o;
  }

  void startAgent(AgentOptions o) {
    agent_ = std::make_unique<Agent>(context_, loop_, std::move(o));
    agent_->start();
  }

  // Runs the agent's loop once and moves what the master received to the inbox.
  void spin() {
    loop_.runOnce(5ms);
    Incoming in;
    while (master_.receive(in, [](const std::string&, const WireError& e) {
      ADD_FAILURE() << "master got a bad frame: " << e.message;
    })) {
      // The agent's connection; registerAgent() names the one it answers,
      // since a destroyed agent's last messages may still arrive after a
      // new agent's first.
      if (route_.empty()) route_ = in.routingId;
      inbox_.push_back(in);
    }
  }

  // The first message the master received that matches, waiting up to `timeout`.
  std::optional<Incoming> await(const std::function<bool(const Incoming&)>& match,
                                std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      for (auto it = inbox_.begin(); it != inbox_.end(); ++it) {
        if (match(*it)) {
          Incoming found = *it;
          inbox_.erase(it);
          return found;
        }
      }
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      spin();
    }
  }

  std::optional<Incoming> awaitType(wire::MessageType type,
                                    std::chrono::milliseconds timeout = 10s) {
    return await([type](const Incoming& in) { return in.envelope.type() == type; }, timeout);
  }

  // Asks the agent as the master does (READ_FILE, LIST_FILES) about a file
  // of fw-1's task `taskId` and returns its answer (FILE_DATA, FILE_LIST).
  template <typename Answer, typename Ask>
  Answer askAboutFile(wire::MessageType askType, wire::MessageType answerType, Ask ask) {
    ask.set_request_id(nextFileRequest_++);
    ask.set_framework_id("fw-1");
    send(askType, ask);
    Answer answer;
    auto in = awaitType(answerType);
    EXPECT_TRUE(in.has_value());
    if (in) {
      EXPECT_FALSE(decodePayload(in->envelope, answer).has_value());
    }
    EXPECT_EQ(answer.request_id(), ask.request_id());
    return answer;
  }
  wire::FileData readFile(const std::string& taskId, const std::string& file, std::int64_t offset,
                          std::uint32_t length) {
    wire::ReadFile ask;
    ask.set_task_id(taskId);
    ask.set_file(file);
    ask.set_offset(offset);
    ask.set_length(length);
    return askAboutFile<wire::FileData>(wire::READ_FILE, wire::FILE_DATA, ask);
  }
  wire::FileList listFiles(const std::string& taskId, const std::string& path) {
    wire::ListFiles ask;
    ask.set_task_id(taskId);
    ask.set_path(path);
    return askAboutFile<wire::FileList>(wire::LIST_FILES, wire::FILE_LIST, ask);
  }

  static wire::TaskStatus statusOf(const Incoming& in) {
    wire::StatusUpdate update;
    EXPECT_FALSE(decodePayload(in.envelope, update).has_value());
    return update.status();
  }

  // The next STATUS_UPDATE of `taskId` in `state` (earlier states of it are
  // taken out of the inbox on the way).
  std::optional<wire::TaskStatus> awaitUpdate(const std::string& taskId, wire::TaskState state,
                                              std::chrono::milliseconds timeout = 10s) {
    auto in = await(
        [&](const Incoming& m) {
          if (m.envelope.type() != wire::STATUS_UPDATE) return false;
          auto s = statusOf(m);
          return s.task_id() == taskId && s.state() == state;
        },
        timeout);
    if (!in) return std::nullopt;
    return statusOf(*in);
  }

  // How many updates with this uuid arrived (taking them out of the inbox).
  int countUpdates(const std::string& uuid) {
    int n = 0;
    std::erase_if(inbox_, [&](const Incoming& m) {
      bool hit = m.envelope.type() == wire::STATUS_UPDATE && statusOf(m).uuid() == uuid;
      n += hit ? 1 : 0;
      return hit;
    });
    return n;
  }

  void send(wire::MessageType type, const google::protobuf::MessageLite& body) {
    ASSERT_FALSE(route_.empty());
    ASSERT_TRUE(master_.send(route_, type, "master", body));
  }

  // Answers the agent's REGISTER_AGENT; returns it.
  wire::RegisterAgent registerAgent(std::int64_t heartbeatUs = 1'000'000,
                                    std::vector<std::string> killKeys = {}) {
    auto in = awaitType(wire::REGISTER_AGENT);
    EXPECT_TRUE(in.has_value());
    wire::RegisterAgent reg;
    if (!in) return reg;
    route_ = in->routingId;
    EXPECT_FALSE(decodePayload(in->envelope, reg).has_value());
    EXPECT_EQ(in->envelope.sender(), reg.agent_id());
    wire::AgentRegistered ok;
    ok.set_agent_id(reg.agent_id());
    ok.set_heartbeat_interval_us(heartbeatUs);
    for (auto& k : killKeys) ok.add_kill_task_keys(k);
    send(wire::AGENT_REGISTERED, ok);
    return reg;
  }

  static wire::RunTask makeRun(const std::string& taskId, const std::string& command,
                               const std::string& resources = "cpus:0.5;mem:64",
                               const std::string& frameworkId = "fw-1") {
    wire::RunTask run;
    run.mutable_framework()->set_framework_id(frameworkId);
    run.mutable_framework()->set_name("test");
    run.mutable_task()->set_task_id(taskId);
    run.mutable_task()->set_resources(resources);
    run.mutable_task()->set_command(command);
    return run;
  }

  void runTask(const std::string& taskId, const std::string& command,
               const std::string& resources = "cpus:0.5;mem:64",
               const std::string& frameworkId = "fw-1") {
    send(wire::RUN_TASK, makeRun(taskId, command, resources, frameworkId));
  }

  void runChecked(const std::string& taskId, const std::string& command,
                  const wire::HealthCheck& check) {
    wire::RunTask run = makeRun(taskId, command);
    *run.mutable_task()->mutable_health_check() = check;
    send(wire::RUN_TASK, run);
  }

  // The next update of `taskId` that says it is `healthy` (or not).
  std::optional<wire::TaskStatus> awaitHealth(const std::string& taskId, bool healthy,
                                              std::chrono::milliseconds timeout = 10s) {
    auto in = await(
        [&](const Incoming& m) {
          if (m.envelope.type() != wire::STATUS_UPDATE) return false;
          auto s = statusOf(m);
          return s.task_id() == taskId && s.has_healthy() && s.healthy() == healthy;
        },
        timeout);
    if (!in) return std::nullopt;
    return statusOf(*in);
  }

  // Updates of `taskId` with a health in the inbox now (taken out).
  int countHealthUpdates(const std::string& taskId) {
    int n = 0;
    std::erase_if(inbox_, [&](const Incoming& m) {
      if (m.envelope.type() != wire::STATUS_UPDATE) return false;
      auto s = statusOf(m);
      const bool hit = s.task_id() == taskId && s.has_healthy();
      n += hit ? 1 : 0;
      return hit;
    });
    return n;
  }

  void ack(const wire::TaskStatus& status) {
    wire::StatusUpdateAck a;
    a.set_framework_id(status.framework_id());
    a.set_task_id(status.task_id());
    a.set_uuid(status.uuid());
    send(wire::STATUS_UPDATE_ACK, a);
  }

  // Acks and spins until the agent has processed the ack (bounded), so a
  // clock advance that follows cannot overtake it.
  void ackAndWait(const wire::TaskStatus& status) {
    std::size_t before = agent_->counters().acks;
    ack(status);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (agent_->counters().acks == before && std::chrono::steady_clock::now() < deadline) {
      spin();
    }
    ASSERT_GT(agent_->counters().acks, before) << "ack not processed";
  }

  // The manual clock set to the wall clock's time, so that files' own
  // modification times age with it (the sandbox collector compares them).
  void useWallClock() {
    clock_.set(fromMicros(std::chrono::duration_cast<std::chrono::microseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count()));
  }

  // Acks every update of `taskId` up to the one in `state`, as a master
  // does, so that the agent may forget the task; returns that one.
  std::optional<wire::TaskStatus> ackUntil(const std::string& taskId, wire::TaskState state) {
    while (true) {
      auto in = await([&](const Incoming& m) {
        return m.envelope.type() == wire::STATUS_UPDATE && statusOf(m).task_id() == taskId;
      });
      if (!in) return std::nullopt;
      const wire::TaskStatus status = statusOf(*in);
      ackAndWait(status);
      if (status.state() == state) return status;
    }
  }

  void kill(const std::string& taskId, Duration grace, const std::string& frameworkId = "fw-1") {
    wire::KillTask k;
    k.set_framework_id(frameworkId);
    k.set_task_id(taskId);
    k.set_grace_period_us(toMicros(grace));
    send(wire::KILL_TASK, k);
  }

  fs::path sandbox(const std::string& taskId, const std::string& frameworkId = "fw-1") const {
    return fs::path(workDir_) / "frameworks" / frameworkId / "tasks" / taskId;
  }

  // Spins until `path` exists (bounded): RUNNING is sent once the executor
  // is started, a little before it has created the sandbox.
  bool awaitExists(const fs::path& path) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!fs::exists(path)) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      spin();
    }
    return true;
  }

  // Spins until `path` holds `text` (bounded).
  bool awaitFileContains(const fs::path& path, const std::string& text) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (readAll(path).find(text) != std::string::npos) return true;
      spin();
    }
    return false;
  }

  zmq::context_t context_;
  ManualClock clock_;
  EventLoop loop_{clock_};
  RouterSocket master_{context_, "tcp://127.0.0.1:*"};
  std::string workDir_;
  std::uint64_t nextFileRequest_ = 1;  // of READ_FILE and LIST_FILES
  std::unique_ptr<Agent> agent_;
  std::string route_;
  std::vector<Incoming> inbox_;
};

// The agent registers with its resources, attributes and a persisted id, and
// heartbeats once per interval named by the master (on the manual clock).
TEST_F(AgentTest, RegistersAndHeartbeatsEveryInterval) {
  startAgent(options());
  auto reg = registerAgent(2'000'000);
  EXPECT_FALSE(reg.agent_id().empty());
  EXPECT_EQ(readAll(fs::path(workDir_) / "meta" / "agent_id"), reg.agent_id());
  EXPECT_EQ(reg.resources(), "cpus:2;mem:1024;disk:1000;ports:[31000-31010]");
  EXPECT_EQ(reg.attributes(), "rack:r1");
  EXPECT_EQ(reg.tasks_size(), 0);
  for (int i = 0; i < 5; ++i) spin();
  EXPECT_TRUE(agent_->registered());

  clock_.advance(1s);
  EXPECT_FALSE(awaitType(wire::AGENT_HEARTBEAT, 50ms).has_value()) << "heartbeat before 2 s";
  clock_.advance(1s);
  auto beat = awaitType(wire::AGENT_HEARTBEAT);
  ASSERT_TRUE(beat.has_value());
  EXPECT_EQ(beat->envelope.sender(), reg.agent_id());
  send(wire::AGENT_HEARTBEAT_ACK, wire::AgentHeartbeat{});
  clock_.advance(2s);
  EXPECT_TRUE(awaitType(wire::AGENT_HEARTBEAT).has_value());
}

// A master that stops acknowledging heartbeats is presumed lost: the agent
// registers again once the master timeout has passed.
TEST_F(AgentTest, ReregistersWhenTheMasterFallsSilent) {
  auto o = options();
  o.masterTimeout = 3s;
  startAgent(o);
  registerAgent();
  for (int i = 0; i < 3; ++i) spin();
  for (int i = 0; i < 2; ++i) {
    clock_.advance(1s);
    ASSERT_TRUE(awaitType(wire::AGENT_HEARTBEAT).has_value());
  }
  EXPECT_FALSE(awaitType(wire::REGISTER_AGENT, 50ms).has_value());
  clock_.advance(1s);
  auto again = awaitType(wire::REGISTER_AGENT);
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(agent_->registered());
}

// A master that does not answer gets registrations at a doubling interval
// (1, 2, 4, 8, 8 s with a 1 s retry), not one per second.
TEST_F(AgentTest, UnansweredRegistrationsBackOff) {
  startAgent(options());
  ASSERT_TRUE(awaitType(wire::REGISTER_AGENT).has_value());
  std::vector<int> sentAt;
  for (int second = 1; second <= 24; ++second) {
    clock_.advance(1s);
    if (awaitType(wire::REGISTER_AGENT, 30ms)) sentAt.push_back(second);
  }
  EXPECT_EQ(sentAt, (std::vector<int>{1, 3, 7, 15, 23}));
  EXPECT_FALSE(agent_->registered());
}

// ERROR{NOT_REGISTERED} (a restarted master) makes the agent register again.
TEST_F(AgentTest, ReregistersOnNotRegistered) {
  startAgent(options());
  registerAgent();
  for (int i = 0; i < 3; ++i) spin();
  wire::Error error;
  error.set_code(wire::Error::NOT_REGISTERED);
  error.set_message("who are you");
  send(wire::ERROR, error);
  EXPECT_TRUE(awaitType(wire::REGISTER_AGENT).has_value());
}

// A task runs to FINISHED through STARTING and RUNNING, as the task user,
// with its stdout and stderr in files of its sandbox.
TEST_F(AgentTest, RunsTaskToFinishedWithOutputInSandbox) {
  startAgent(options());
  registerAgent();
  runTask("t1", "echo hello from $ALLOT_TASK_ID; echo oops >&2; pwd");
  auto starting = awaitUpdate("t1", wire::TASK_STARTING);
  ASSERT_TRUE(starting.has_value());
  auto running = awaitUpdate("t1", wire::TASK_RUNNING);
  ASSERT_TRUE(running.has_value());
  auto finished = awaitUpdate("t1", wire::TASK_FINISHED);
  ASSERT_TRUE(finished.has_value());
  EXPECT_EQ(finished->framework_id(), "fw-1");
  EXPECT_EQ(finished->agent_id(), agent_->id());
  EXPECT_EQ(finished->exit_status(), 0);
  EXPECT_EQ(finished->uuid().size(), 16u);
  EXPECT_NE(starting->uuid(), running->uuid());
  EXPECT_NE(running->uuid(), finished->uuid());
  std::string out = readAll(sandbox("t1") / "stdout");
  EXPECT_NE(out.find("hello from t1"), std::string::npos) << out;
  EXPECT_NE(out.find(sandbox("t1").string()), std::string::npos) << "cwd is the sandbox: " << out;
  EXPECT_EQ(readAll(sandbox("t1") / "stderr"), "oops\n");
  if (::geteuid() == 0) {
    struct stat st {};
    ASSERT_EQ(::stat(sandbox("t1").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 65534u) << "sandbox owned by nobody";
  }
}

// Tasks run as the task user, not as the (root) agent.
TEST_F(AgentTest, TasksRunAsTheTaskUserWhenAgentIsRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  startAgent(options());
  registerAgent();
  runTask("whoami", "id -u");
  ASSERT_TRUE(awaitUpdate("whoami", wire::TASK_FINISHED).has_value());
  EXPECT_EQ(readAll(sandbox("whoami") / "stdout"), "65534\n");
}

// A command exiting non-zero is TASK_FAILED with its exit status.
TEST_F(AgentTest, FailingCommandIsFailedWithExitStatus) {
  startAgent(options());
  registerAgent();
  runTask("bad", "exit 3");
  auto failed = awaitUpdate("bad", wire::TASK_FAILED);
  ASSERT_TRUE(failed.has_value());
  EXPECT_TRUE(WIFEXITED(failed->exit_status()));
  EXPECT_EQ(WEXITSTATUS(failed->exit_status()), 3);
  EXPECT_EQ(failed->message(), "exited with status 3");
}

// KILL_TASK sends SIGTERM to the task's process group and SIGKILL once the
// grace period has passed when the task ignores SIGTERM: TASK_KILLED.
TEST_F(AgentTest, KillEscalatesToSigkillAfterGrace) {
  startAgent(options());
  registerAgent();
  runTask("stubborn", "trap '' TERM; echo ready; while true; do sleep 0.05; done");
  runTask("polite", "echo ready; exec sleep 30");
  ASSERT_TRUE(awaitFileContains(sandbox("stubborn") / "stdout", "ready"));
  ASSERT_TRUE(awaitFileContains(sandbox("polite") / "stdout", "ready"));

  auto start = std::chrono::steady_clock::now();
  kill("stubborn", 300ms);
  kill("polite", 10s);
  auto polite = awaitUpdate("polite", wire::TASK_KILLED);
  ASSERT_TRUE(polite.has_value());
  EXPECT_TRUE(WIFSIGNALED(polite->exit_status()));
  EXPECT_EQ(WTERMSIG(polite->exit_status()), SIGTERM);
  auto stubborn = awaitUpdate("stubborn", wire::TASK_KILLED);
  ASSERT_TRUE(stubborn.has_value());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);
  EXPECT_TRUE(WIFSIGNALED(stubborn->exit_status()));
  EXPECT_EQ(WTERMSIG(stubborn->exit_status()), SIGKILL);
  EXPECT_NE(stubborn->message().find("SIGKILL"), std::string::npos) << stubborn->message();
}

// SHUTDOWN_FRAMEWORK kills every task of that framework and no other.
TEST_F(AgentTest, ShutdownFrameworkKillsOnlyItsTasks) {
  auto o = options();
  o.killGrace = 100ms;
  startAgent(o);
  registerAgent();
  runTask("a", "sleep 30", "cpus:0.1;mem:32", "fw-1");
  runTask("b", "sleep 30", "cpus:0.1;mem:32", "fw-1");
  runTask("c", "sleep 30", "cpus:0.1;mem:32", "fw-2");
  for (auto id : {"a", "b", "c"}) ASSERT_TRUE(awaitUpdate(id, wire::TASK_RUNNING).has_value());
  wire::ShutdownFramework shutdown;
  shutdown.set_framework_id("fw-1");
  send(wire::SHUTDOWN_FRAMEWORK, shutdown);
  EXPECT_TRUE(awaitUpdate("a", wire::TASK_KILLED).has_value());
  EXPECT_TRUE(awaitUpdate("b", wire::TASK_KILLED).has_value());
  EXPECT_FALSE(awaitUpdate("c", wire::TASK_KILLED, 200ms).has_value());
  kill("c", 100ms, "fw-2");
  EXPECT_TRUE(awaitUpdate("c", wire::TASK_KILLED).has_value());
}

// A task whose resident memory exceeds its mem is killed and reported
// TASK_FAILED with reason MEMORY_LIMIT and a message naming both sizes.
TEST_F(AgentTest, TaskOverItsMemoryIsKilledWithReason) {
  startAgent(options());
  registerAgent();
  runTask("hog", "/usr/bin/python3 -c 'x = b\"a\" * (300 << 20); import time; time.sleep(30)'",
          "cpus:0.5;mem:64");
  auto failed = awaitUpdate("hog", wire::TASK_FAILED, 20s);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->reason(), "MEMORY_LIMIT");
  EXPECT_NE(failed->message().find("memory limit exceeded: "), std::string::npos)
      << failed->message();
  EXPECT_NE(failed->message().find(" MB > 64 MB"), std::string::npos) << failed->message();
  EXPECT_TRUE(WIFSIGNALED(failed->exit_status()));
}

// An unacknowledged update is resent every --status-retry with the same
// uuid; once acked it is not sent again.
TEST_F(AgentTest, UpdatesAreRetriedUntilAcked) {
  startAgent(options());
  registerAgent();
  runTask("t", "true");
  auto starting = awaitUpdate("t", wire::TASK_STARTING);
  ASSERT_TRUE(starting.has_value());
  ASSERT_TRUE(awaitUpdate("t", wire::TASK_FINISHED).has_value());
  for (int i = 0; i < 5; ++i) spin();
  EXPECT_EQ(countUpdates(starting->uuid()), 0) << "no resend before the retry interval";

  clock_.advance(10s);
  auto again = awaitUpdate("t", wire::TASK_STARTING);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->uuid(), starting->uuid());
  EXPECT_EQ(again->timestamp_us(), starting->timestamp_us());
  ackAndWait(*again);

  clock_.advance(10s);
  ASSERT_TRUE(awaitUpdate("t", wire::TASK_RUNNING).has_value()) << "still unacked, resent";
  for (int i = 0; i < 5; ++i) spin();
  EXPECT_EQ(countUpdates(starting->uuid()), 0) << "acked: not resent";
}

// A task that ended and whose updates are all acknowledged is forgotten: its
// checkpoint is removed, its sandbox kept.
TEST_F(AgentTest, AcknowledgedTaskIsForgotten) {
  startAgent(options());
  registerAgent();
  runTask("t", "true");
  for (auto state : {wire::TASK_STARTING, wire::TASK_RUNNING, wire::TASK_FINISHED}) {
    auto s = awaitUpdate("t", state);
    ASSERT_TRUE(s.has_value());
    ack(*s);
  }
  for (int i = 0; i < 20 && agent_->taskCount() > 0; ++i) spin();
  EXPECT_EQ(agent_->taskCount(), 0u);
  EXPECT_TRUE(fs::is_empty(fs::path(workDir_) / "meta" / "tasks"));
  EXPECT_TRUE(fs::exists(sandbox("t") / "stdout"));
}

// The agent is destroyed while a task runs and a new one starts on the same
// work directory: it re-registers as itself with the task RUNNING, resends
// the unacked RUNNING with its uuid but not the acked STARTING, and reports
// FINISHED exactly once when the task ends.
TEST_F(AgentTest, RestartRecoversRunningTaskWithoutLosingOrRepeatingUpdates) {
  startAgent(options());
  auto firstReg = registerAgent();
  runTask("long", "while [ ! -e go ]; do sleep 0.02; done; echo done");
  auto starting = awaitUpdate("long", wire::TASK_STARTING);
  auto running = awaitUpdate("long", wire::TASK_RUNNING);
  ASSERT_TRUE(starting && running);
  ackAndWait(*starting);
  ASSERT_TRUE(awaitExists(sandbox("long") / "stdout"));
  for (int i = 0; i < 5; ++i) spin();
  agent_.reset();  // as if the agent had died: the executor and task go on
  inbox_.clear();

  startAgent(options());
  EXPECT_EQ(agent_->counters().recovered, 1u);
  auto reg = registerAgent();
  EXPECT_EQ(reg.agent_id(), firstReg.agent_id());
  ASSERT_EQ(reg.tasks_size(), 1);
  EXPECT_EQ(reg.tasks(0).task_id(), "long");
  ASSERT_EQ(reg.task_statuses_size(), 1);
  EXPECT_EQ(reg.task_statuses(0).state(), wire::TASK_RUNNING);
  ASSERT_EQ(reg.frameworks_size(), 1);
  EXPECT_EQ(reg.frameworks(0).framework_id(), "fw-1");

  auto resent = awaitUpdate("long", wire::TASK_RUNNING);
  ASSERT_TRUE(resent.has_value());
  EXPECT_EQ(resent->uuid(), running->uuid());
  ackAndWait(*resent);
  clock_.advance(10s);
  for (int i = 0; i < 10; ++i) spin();
  EXPECT_EQ(countUpdates(starting->uuid()), 0);
  EXPECT_EQ(countUpdates(running->uuid()), 0);

  std::ofstream(sandbox("long") / "go").put('x');
  auto finished = awaitUpdate("long", wire::TASK_FINISHED);
  ASSERT_TRUE(finished.has_value());
  EXPECT_EQ(readAll(sandbox("long") / "stdout"), "done\n");
  ackAndWait(*finished);
  clock_.advance(10s);
  for (int i = 0; i < 10; ++i) spin();
  EXPECT_FALSE(awaitUpdate("long", wire::TASK_FINISHED, 100ms).has_value()) << "exactly once";
  EXPECT_EQ(agent_->taskCount(), 0u);
}

// A task that ends while no agent runs is reported by the next agent, from
// the status file its executor left.
TEST_F(AgentTest, TaskEndingWhileAgentIsDownIsReportedOnRestart) {
  startAgent(options());
  registerAgent();
  runTask("quick", "while [ ! -e go ]; do sleep 0.02; done; exit 4");
  ASSERT_TRUE(awaitUpdate("quick", wire::TASK_RUNNING).has_value());
  ASSERT_TRUE(awaitExists(sandbox("quick") / "stdout"));
  agent_.reset();
  std::ofstream(sandbox("quick") / "go").put('x');
  // Wait for the executor's status file, without an agent.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  auto status = fs::path(workDir_) / "meta" / "tasks" / "fw-1+quick.status";
  while (!fs::exists(status) && std::chrono::steady_clock::now() < deadline) {
    loop_.runOnce(5ms);
  }
  ASSERT_TRUE(fs::exists(status));
  inbox_.clear();
  startAgent(options());
  registerAgent();
  auto failed = awaitUpdate("quick", wire::TASK_FAILED);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(WEXITSTATUS(failed->exit_status()), 4);
}

// An executor that dies without writing the task's status (kill -9) makes
// the task TASK_FAILED with reason EXECUTOR_TERMINATED.
TEST_F(AgentTest, ExecutorKilledWithoutStatusIsFailed) {
  startAgent(options());
  registerAgent();
  runTask("orphan", "sleep 30");
  ASSERT_TRUE(awaitUpdate("orphan", wire::TASK_RUNNING).has_value());
  ASSERT_TRUE(awaitExists(sandbox("orphan") / "stdout"));
  auto pids = executors();
  ASSERT_EQ(pids.size(), 1u);
  ::kill(pids[0], SIGKILL);
  auto failed = awaitUpdate("orphan", wire::TASK_FAILED);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->reason(), "EXECUTOR_TERMINATED");
  EXPECT_NE(failed->message().find("executor exited without"), std::string::npos);
}

// A restarted agent does not adopt a process that merely has the recorded
// pid: the checkpoint's start time must match. Here the executor died while
// the agent was away and its pid is now (as far as the checkpoint says) the
// test process itself: the task is TASK_FAILED, not waited for forever.
TEST_F(AgentTest, RecoveryChecksStartTimeAgainstPidReuse) {
  startAgent(options());
  registerAgent();
  runTask("reused", "sleep 30");
  ASSERT_TRUE(awaitUpdate("reused", wire::TASK_RUNNING).has_value());
  ASSERT_TRUE(awaitExists(sandbox("reused") / "stdout"));
  agent_.reset();
  auto pids = executors();
  ASSERT_EQ(pids.size(), 1u);
  ::kill(pids[0], SIGKILL);
  ::waitpid(pids[0], nullptr, 0);
  // Point the checkpoint at a live process with another start time: a
  // record naming this test's pid with the executor's start time.
  auto path = (fs::path(workDir_) / "meta" / "tasks" / "fw-1+reused.task").string();
  auto records = agent::readRecords(path);
  ASSERT_TRUE(records.has_value());
  agent::TaskRecord started;
  for (const std::string& bytes : records->records) {
    agent::TaskRecord record;
    ASSERT_TRUE(record.ParseFromString(bytes));
    if (record.executor_pid() != 0) started = record;
  }
  ASSERT_EQ(started.executor_pid(), pids[0]);
  agent::TaskRecord reused;
  reused.set_executor_pid(::getpid());
  reused.set_executor_start_ticks(started.executor_start_ticks());
  ASSERT_FALSE(agent::appendRecord(path, reused.SerializeAsString()).has_value());

  inbox_.clear();
  startAgent(options());
  registerAgent();
  auto failed = awaitUpdate("reused", wire::TASK_FAILED);
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->reason(), "EXECUTOR_TERMINATED");
}

// Many short tasks launched at once all finish, each with exactly one
// FINISHED; once acknowledged, the agent forgets them all.
TEST_F(AgentTest, ManyShortTasksEachFinishOnce) {
  startAgent(options());
  registerAgent();
  constexpr int kTasks = 200;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kTasks; ++i) runTask(fmt::format("t{}", i), "true", "cpus:0.01;mem:16");
  std::set<std::string> finished;
  auto deadline = start + 60s;
  while (finished.size() < kTasks && std::chrono::steady_clock::now() < deadline) {
    spin();
    std::erase_if(inbox_, [&](const Incoming& m) {
      if (m.envelope.type() != wire::STATUS_UPDATE) return true;
      auto s = statusOf(m);
      ack(s);
      if (s.state() == wire::TASK_FINISHED) {
        EXPECT_TRUE(finished.insert(s.task_id()).second) << "second FINISHED of " << s.task_id();
      }
      return true;
    });
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(finished.size(), static_cast<std::size_t>(kTasks));
  std::printf("%d tasks in %.2f s (%.0f tasks/s on one agent)\n", kTasks, seconds,
              kTasks / seconds);
  for (int i = 0; i < 200 && agent_->taskCount() > 0; ++i) spin();
  EXPECT_EQ(agent_->taskCount(), 0u);
}

// A checkpoint whose last record is torn (a crash mid-append) is recovered
// up to the last whole record, and the torn bytes are cut so that later
// appends stay readable.
TEST(AgentCheckpointTest, TornTailIsCutAndEarlierRecordsKept) {
  char pattern[] = "/tmp/allot-records-XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  std::string path = std::string(pattern) + "/t.task";
  ASSERT_FALSE(agent::appendRecord(path, "first").has_value());
  ASSERT_FALSE(agent::appendRecord(path, "second").has_value());
  auto whole = fs::file_size(path);
  { std::ofstream(path, std::ios::app) << "\x20\x00\x00\x00torn"; }
  auto records = agent::readRecords(path);
  ASSERT_TRUE(records.has_value());
  EXPECT_EQ(records->records, (std::vector<std::string>{"first", "second"}));
  EXPECT_NE(records->problem.find("torn"), std::string::npos) << records->problem;
  EXPECT_EQ(fs::file_size(path), whole);
  ASSERT_FALSE(agent::appendRecord(path, "third").has_value());
  records = agent::readRecords(path);
  ASSERT_TRUE(records.has_value());
  EXPECT_EQ(records->records.size(), 3u);
  EXPECT_TRUE(records->problem.empty());
  fs::remove_all(pattern);
}

// An allot-executor run alone (as nobody when the test is root), on a
// socket made as the agent makes it, in a directory nobody may write and
// enter.
class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("allot-exec-{}", ::getpid());
    fs::create_directories(dir_);
    fs::permissions(dir_, fs::perms::all);
    socket_ = fmt::format("allot-executor-test/{}", ::getpid());
    // A copy the user nobody can run: the build tree may sit under a
    // directory only root may enter (a clone in /root).
    fs::copy_file(ALLOT_EXECUTOR, dir_ / "allot-executor", fs::copy_options::overwrite_existing);
    fs::permissions(dir_ / "allot-executor", fs::perms::owner_all | fs::perms::group_read |
                                                 fs::perms::group_exec | fs::perms::others_read |
                                                 fs::perms::others_exec);
    const std::string executor = (dir_ / "allot-executor").string();
    const int listening = agent::listenExecutor(socket_);
    ASSERT_GE(listening, 0) << std::strerror(errno);
    pid_ = ::fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {                               // only async-signal-safe calls until the exec
      if (::dup2(listening, 3) != 3) ::_exit(92);  // fd 10 or above: a copy
      if (::geteuid() == 0 &&
          (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0)) {
        ::_exit(90);
      }
      ::execl(executor.c_str(), "allot-executor", "--idle-ms", "10000",
              static_cast<char*>(nullptr));
      ::_exit(91);
    }
    ::close(listening);
    fd_ = agent::connectExecutor(socket_);
    ASSERT_GE(fd_, 0) << std::strerror(errno);
  }

  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void launch(int fd, const std::string& key, long gid, const std::string& command) {
    allot::executor::Launch l;
    l.key = key;
    l.sandbox = (dir_ / key).string();
    l.statusFile = (dir_ / (key + ".status")).string();
    l.gid = gid;
    l.command = command;
    l.environment = {"PATH=/usr/bin:/bin"};
    ASSERT_FALSE(agent::sendToExecutor(fd, allot::executor::encodeLaunch(l)).has_value());
  }

  // "ENDED" when the next message on `fd` is ENDED for `key`, else what came.
  static std::string awaitEnded(int fd, const std::string& key) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10'000) != 1) return "(nothing within 10 s)";
    char buf[256];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    std::string got = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "(closed)";
    return got == allot::executor::encode({"ENDED", key}) ? std::string("ENDED") : got;
  }

  // Sends EXIT on `fd`; returns the executor's exit code (or a note on 90-92).
  int exitCode(int fd) {
    EXPECT_FALSE(agent::sendToExecutor(fd, allot::executor::encode({"EXIT"})).has_value());
    int rc = 0;
    EXPECT_EQ(::waitpid(pid_, &rc, 0), pid_);
    pid_ = -1;
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
  }

  fs::path dir_;
  std::string socket_;
  pid_t pid_ = -1;
  int fd_ = -1;
};

// A task whose setup fails between the executor's clone and the exec (here:
// an unprivileged executor asked for group 0) is reported through the status
// file with the step and the system's reason, then ENDED; the executor stays
// up for the next task and exits 0 on EXIT.
TEST_F(ExecutorTest, SetupFailureIsReportedWithTheStepAndReason) {
  launch(fd_, "bad", 0, "echo never");
  EXPECT_EQ(awaitEnded(fd_, "bad"), "ENDED");
  const std::string text = readAll(dir_ / "bad.status");
  EXPECT_NE(text.find("reason EXECUTOR_ERROR\n"), std::string::npos) << text;
  EXPECT_NE(text.find("message cannot start the task: setgid 0: Operation not permitted"),
            std::string::npos)
      << text;
  // The shell never ran: exit status 127 from the child, nothing in stdout.
  EXPECT_NE(text.find(fmt::format("wait_status {}\n", 127 << 8)), std::string::npos) << text;
  EXPECT_EQ(readAll(dir_ / "bad" / "stdout"), "");

  // The same executor runs the next task.
  launch(fd_, "good", -1, "echo ok");
  EXPECT_EQ(awaitEnded(fd_, "good"), "ENDED");
  EXPECT_EQ(readAll(dir_ / "good" / "stdout"), "ok\n");
  EXPECT_NE(readAll(dir_ / "good.status").find("wait_status 0\n"), std::string::npos);
  EXPECT_EQ(exitCode(fd_), 0) << "90: could not drop to nobody, 91: could not exec";
}

// A LAUNCH still unread on the old connection when a new one (a restarted
// agent) arrives is carried out, and its ENDED goes to the new connection.
// The executor is stopped meanwhile, so both wait for it together.
TEST_F(ExecutorTest, NewConnectionFirstHandlesWhatTheOldOneHeld) {
  ASSERT_EQ(::kill(pid_, SIGSTOP), 0);
  launch(fd_, "queued", -1, "echo ran");
  const int again = agent::connectExecutor(socket_);
  ASSERT_GE(again, 0) << std::strerror(errno);
  ASSERT_EQ(::kill(pid_, SIGCONT), 0);
  EXPECT_EQ(awaitEnded(again, "queued"), "ENDED");
  EXPECT_EQ(readAll(dir_ / "queued" / "stdout"), "ran\n");
  EXPECT_EQ(exitCode(again), 0);
  ::close(again);
}

// All tasks of a framework on this agent run under one executor; another
// framework gets its own. An executor left without tasks is stopped after
// --executor-idle, and the next task starts a new one.
TEST_F(AgentTest, OneExecutorPerFrameworkStoppedWhenIdle) {
  startAgent(options());
  registerAgent();
  for (auto id : {"a", "b", "c"}) runTask(id, "while [ ! -e ../../go ]; do sleep 0.02; done");
  runTask("d", "while [ ! -e ../../go ]; do sleep 0.02; done", "cpus:0.1;mem:32", "fw-2");
  for (auto id : {"a", "b", "c", "d"}) {
    ASSERT_TRUE(awaitExists(sandbox(id, id == std::string("d") ? "fw-2" : "fw-1") / "stdout"));
  }
  EXPECT_EQ(executors().size(), 2u);
  EXPECT_EQ(agent_->counters().executors, 2u);
  EXPECT_EQ(agent_->counters().launched, 4u);
  std::ofstream(sandbox("a").parent_path().parent_path() / "go").put('x');
  std::ofstream(sandbox("d", "fw-2").parent_path().parent_path() / "go").put('x');
  for (auto id : {"a", "b", "c", "d"}) {
    auto finished = awaitUpdate(id, wire::TASK_FINISHED);
    ASSERT_TRUE(finished.has_value()) << id;
  }
  EXPECT_EQ(executors().size(), 2u) << "idle executors wait for --executor-idle";
  clock_.advance(30s);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!executors().empty() && std::chrono::steady_clock::now() < deadline) spin();
  EXPECT_TRUE(executors().empty()) << "stopped once idle";

  runTask("e", "true");
  ASSERT_TRUE(awaitUpdate("e", wire::TASK_FINISHED).has_value());
  EXPECT_EQ(agent_->counters().executors, 3u);
}

// Another process of the agent's uid connecting to an executor's socket
// (here with a garbage message) takes the executor's connection from the
// agent; the agent connects again, so a task ending afterwards is still
// reported at once, and the executor keeps running.
TEST_F(AgentTest, AgentReconnectsWhenAnotherPeerTakesTheExecutor) {
  startAgent(options());
  registerAgent();
  runTask("held", "while [ ! -e go ]; do sleep 0.02; done");
  ASSERT_TRUE(awaitUpdate("held", wire::TASK_RUNNING).has_value());
  ASSERT_TRUE(awaitExists(sandbox("held") / "stdout"));
  std::string socket;
  auto records = agent::readRecords(workDir_ + "/meta/tasks/fw-1+held.task");
  ASSERT_TRUE(records.has_value());
  for (const std::string& bytes : records->records) {
    agent::TaskRecord record;
    ASSERT_TRUE(record.ParseFromString(bytes));
    if (!record.executor_socket().empty()) socket = record.executor_socket();
  }
  ASSERT_FALSE(socket.empty());
  const int intruder = agent::connectExecutor(socket);
  ASSERT_GE(intruder, 0) << std::strerror(errno);
  ASSERT_FALSE(agent::sendToExecutor(intruder, std::string("\0garbage\0", 9)).has_value());
  for (int i = 0; i < 20; ++i) spin();
  std::ofstream(sandbox("held") / "go").put('x');
  auto finished = awaitUpdate("held", wire::TASK_FINISHED, 5s);
  ::close(intruder);
  ASSERT_TRUE(finished.has_value()) << "the ENDED went to the intruder, and no reconnect";
  EXPECT_EQ(executors().size(), 1u);
}

// Without pidfds (old kernels, valgrind) executors are polled on the clock:
// a task still finishes, a killed one is KILLED, and a restarted agent
// recovers a running one.
TEST_F(AgentTest, ExecutorsArePolledWithoutPidfd) {
  auto o = options();
  o.pidfd = false;
  startAgent(o);
  registerAgent();
  auto tick = [&](const std::string& id, wire::TaskState state) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      clock_.advance(100ms);
      if (auto s = awaitUpdate(id, state, 20ms)) return true;
    }
    return false;
  };
  runTask("quick", "exit 0");
  EXPECT_TRUE(tick("quick", wire::TASK_FINISHED));
  runTask("slow", "sleep 30");
  ASSERT_TRUE(awaitExists(sandbox("slow") / "stdout"));
  agent_.reset();
  startAgent(o);
  registerAgent();
  kill("slow", 100ms);
  EXPECT_TRUE(tick("slow", wire::TASK_KILLED));
}

// Tasks the master lists in AgentRegistered.kill_task_keys are killed
// without any further update.
TEST_F(AgentTest, KillTaskKeysKillQuietly) {
  auto o = options();
  o.killGrace = 100ms;
  startAgent(o);
  registerAgent();
  runTask("doomed", "sleep 30");
  ASSERT_TRUE(awaitUpdate("doomed", wire::TASK_RUNNING).has_value());
  wire::Error error;
  error.set_code(wire::Error::NOT_REGISTERED);
  send(wire::ERROR, error);
  auto reg = registerAgent(1'000'000, {"fw-1/doomed"});
  ASSERT_EQ(reg.tasks_size(), 1);
  for (int i = 0; i < 200 && agent_->taskCount() > 0; ++i) spin();
  EXPECT_EQ(agent_->taskCount(), 0u);
  EXPECT_FALSE(awaitUpdate("doomed", wire::TASK_KILLED, 100ms).has_value());
}

// REPLACED (another agent process registered with this id): the agent kills
// its tasks without updates, refuses launches, stops talking to the master,
// removes its id file and stops its event loop.
TEST_F(AgentTest, ReplacedAgentKillsItsTasksDropsItsIdAndStops) {
  auto o = options();
  o.killGrace = 100ms;
  startAgent(o);
  registerAgent();
  runTask("orphan", "sleep 30");
  ASSERT_TRUE(awaitUpdate("orphan", wire::TASK_RUNNING).has_value());
  const fs::path idFile = fs::path(workDir_) / "meta" / "agent_id";
  ASSERT_TRUE(fs::exists(idFile));
  for (int i = 0; i < 10; ++i) spin();
  inbox_.clear();  // STARTING, and what else came before REPLACED
  wire::Error error;
  error.set_code(wire::Error::REPLACED);
  error.set_message("sender: agent 'x' registered again from another connection");
  send(wire::ERROR, error);
  // A quiet task is forgotten only once its executor reports it ended.
  for (int i = 0; i < 400 && agent_->taskCount() > 0; ++i) spin();
  EXPECT_EQ(agent_->taskCount(), 0u);
  EXPECT_NE(agent_->stopReason().find("registered again"), std::string::npos);
  runTask("late", "true");
  auto refused = awaitType(wire::ERROR);
  ASSERT_TRUE(refused.has_value());
  wire::Error refusal;
  ASSERT_FALSE(decodePayload(refused->envelope, refusal).has_value());
  EXPECT_EQ(refusal.about(), wire::RUN_TASK);
  EXPECT_NE(refusal.message().find("stopping"), std::string::npos) << refusal.message();
  clock_.advance(3s);
  for (int i = 0; i < 20 && !loop_.stopped(); ++i) spin();
  EXPECT_TRUE(loop_.stopped());
  EXPECT_FALSE(fs::exists(idFile));
  // No update of the killed task, no heartbeat, no registration after REPLACED.
  clock_.advance(5s);
  for (int i = 0; i < 20; ++i) spin();
  for (const Incoming& in : inbox_) {
    EXPECT_NE(in.envelope.type(), wire::STATUS_UPDATE)
        << statusOf(in).task_id() << " " << taskStateName(statusOf(in).state());
    EXPECT_NE(in.envelope.type(), wire::AGENT_HEARTBEAT);
    EXPECT_NE(in.envelope.type(), wire::REGISTER_AGENT);
  }
}

// Garbage frames, undecodable payloads, an unknown task in KILL_TASK and bad
// resources text are logged with sender, type and field and answered with
// ERROR; the agent keeps running tasks afterwards.
TEST_F(AgentTest, BadInputIsLoggedAndAgentKeepsRunning) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  startAgent(options());
  registerAgent();

  // Not an envelope at all.
  master_.socket().send(zmq::buffer(route_), zmq::send_flags::sndmore);
  master_.socket().send(zmq::str_buffer("\xff\xff garbage"), zmq::send_flags::none);
  // An envelope whose payload is not a KillTask.
  std::string bad = encode(wire::KILL_TASK, "master", 99, wire::AgentHeartbeat{});
  wire::Envelope envelope;
  envelope.ParseFromString(bad);
  envelope.set_payload("\xff\xff\xff");
  master_.socket().send(zmq::buffer(route_), zmq::send_flags::sndmore);
  master_.socket().send(zmq::buffer(envelope.SerializeAsString()), zmq::send_flags::none);
  auto errorAbout = [&](wire::MessageType about) {
    return await([&](const Incoming& in) {
      wire::Error e;
      return in.envelope.type() == wire::ERROR && !decodePayload(in.envelope, e) &&
             e.about() == about;
    });
  };
  auto garbage = errorAbout(wire::MESSAGE_TYPE_UNSPECIFIED);
  ASSERT_TRUE(garbage.has_value());
  auto malformed = errorAbout(wire::KILL_TASK);
  ASSERT_TRUE(malformed.has_value());
  wire::Error e1;
  ASSERT_FALSE(decodePayload(malformed->envelope, e1).has_value());
  EXPECT_EQ(e1.code(), wire::Error::MALFORMED);

  kill("nope", 1s);
  auto unknown = awaitType(wire::ERROR);
  ASSERT_TRUE(unknown.has_value());
  wire::Error e2;
  ASSERT_FALSE(decodePayload(unknown->envelope, e2).has_value());
  EXPECT_EQ(e2.code(), wire::Error::INVALID);
  EXPECT_NE(e2.message().find("task_id"), std::string::npos) << e2.message();

  runTask("badres", "true", "cpus:lots");
  auto error = awaitUpdate("badres", wire::TASK_ERROR);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->reason(), "INVALID_RESOURCES");
  EXPECT_NE(error->message().find("task.resources"), std::string::npos) << error->message();

  runTask("fine", "true");
  EXPECT_TRUE(awaitUpdate("fine", wire::TASK_FINISHED).has_value());
  EXPECT_GE(agent_->counters().badMessages, 4u);

  std::string log;
  for (auto& line : sink->last_formatted()) log += line;
  spdlog::set_default_logger(previous);
  EXPECT_NE(log.find("refused a frame from the master"), std::string::npos) << log;
  EXPECT_NE(log.find("KILL_TASK from 'master'"), std::string::npos) << log;
  EXPECT_NE(log.find("field task_id: unknown task fw-1/nope"), std::string::npos) << log;
  EXPECT_NE(log.find("RUN_TASK from 'master'"), std::string::npos) << log;
  EXPECT_NE(log.find("field task.resources"), std::string::npos) << log;
}

// Unusable options are refused at construction with a message naming the
// problem: bad resources or attributes text, a work directory another agent
// holds, a missing executor.
TEST_F(AgentTest, BadOptionsThrowNamingTheProblem) {
  auto expectThrow = [&](AgentOptions o, const std::string& needle) {
    try {
      Agent agent(context_, loop_, std::move(o));
      ADD_FAILURE() << "no exception; expected one mentioning " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto o = options();
  o.resources = "cpus:four";
  expectThrow(o, "four");
  o = options();
  o.attributes = "rack";
  expectThrow(o, "rack");
  o = options();
  o.executorPath = "/nonexistent/allot-executor";
  expectThrow(o, "/nonexistent/allot-executor");
  startAgent(options());
  expectThrow(options(), "in use by another agent");
}

// Resources not given are detected; given ones are kept; bad text throws.
TEST(AgentResourcesTest, MissingNamesAreDetectedAndBadTextThrows) {
  std::string all = detectResources("/tmp");
  EXPECT_NE(all.find("cpus:"), std::string::npos);
  EXPECT_NE(all.find(";mem:"), std::string::npos);
  EXPECT_NE(all.find(";disk:"), std::string::npos);
  EXPECT_NE(all.find("ports:[31000-32000]"), std::string::npos);
  std::string some = completeResources("cpus:3;gpus:1", "/tmp");
  EXPECT_EQ(some.rfind("cpus:3;gpus:1;mem:", 0), 0u) << some;
  EXPECT_EQ(some.find("cpus:", 1), std::string::npos) << some;
  EXPECT_THROW(completeResources("cpus:many", "/tmp"), ParseError);
}

// Any id, hostile ones included, names exactly one file in its folder: no
// separator, no leading dot, never empty; distinct ids stay distinct.
TEST(AgentFilesTest, EscapedIdsNameOneFileEach) {
  EXPECT_EQ(agent::escapeName(""), "%");
  EXPECT_EQ(agent::escapeName("task-1_a.b"), "task-1_a.b");
  EXPECT_EQ(agent::escapeName("../etc/passwd"), "%2E.%2Fetc%2Fpasswd");
  EXPECT_EQ(agent::escapeName(".hidden"), "%2Ehidden");
  EXPECT_EQ(agent::escapeName("%"), "%25");
  EXPECT_EQ(agent::escapeName(std::string_view("a\0b", 3)), "a%00b");
  EXPECT_NE(agent::escapeName("%"), agent::escapeName(""));
}

// An id file written by hand ends in a newline: the id is the text before
// it. Ids the master would refuse (empty, control characters) stop the agent
// with a message naming the file or --id.
TEST_F(AgentTest, AgentIdFromTheFileIsTrimmedAndBadIdsAreRefused) {
  const fs::path idFile = fs::path(workDir_) / "meta" / "agent_id";
  fs::create_directories(idFile.parent_path());
  auto write = [&](const std::string& text) {
    std::ofstream(idFile, std::ios::binary | std::ios::trunc) << text;
  };
  write("agentD\n");
  startAgent(options());
  EXPECT_EQ(registerAgent().agent_id(), "agentD");
  EXPECT_EQ(agent_->id(), "agentD");
  agent_.reset();
  EXPECT_EQ(readAll(idFile), "agentD\n");  // left as written

  auto refused = [&](AgentOptions o, const std::string& text) {
    try {
      startAgent(std::move(o));
      ADD_FAILURE() << "no exception for " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
    agent_.reset();
  };
  write(std::string("agent\0D\n", 8));
  refused(options(),
          "in " + idFile.string() + ": it contains a control character (0x00 at byte 5)");
  write(" \n");
  refused(options(), "in " + idFile.string() + ": it is empty");
  write("agentD\n");
  AgentOptions o = options();
  o.id = "a\tb";
  refused(o, "(--id): it contains a control character (0x09 at byte 1)");
}

// The agent never hands the executor a field holding NUL (its protocol's
// separator): such a launch ends in TASK_ERROR.
TEST_F(AgentTest, NulInALaunchIsAnError) {
  startAgent(options());
  registerAgent();
  const std::string nul("nul\0id", 6);
  runTask(nul, "true");
  auto error = awaitUpdate(nul, wire::TASK_ERROR);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->reason(), "INVALID_TASK");
  EXPECT_EQ(error->message(), "field task.task_id contains NUL");
  runTask("cmdnul", std::string("echo a\0b", 8));
  auto cmd = awaitUpdate("cmdnul", wire::TASK_ERROR);
  ASSERT_TRUE(cmd.has_value());
  EXPECT_EQ(cmd->message(), "field task.command contains NUL");
}

// A task whose escaped ids are long (81 bytes of CJK: 243 escaped, 248 with
// the framework's) still gets its checkpoint and status file, under a
// shortened name, and is reported as it ended: FINISHED, not FAILED.
TEST_F(AgentTest, LongEscapedIdsStillRunAndReportTheirEnd) {
  startAgent(options());
  registerAgent();
  std::string cjk;
  for (int i = 0; i < 27; ++i) cjk += "\u4efb";
  runTask(cjk, "echo ok > ok.txt");
  auto done = awaitUpdate(cjk, wire::TASK_FINISHED);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(readAll(sandbox(agent::escapeName(cjk)) / "ok.txt"), "ok\n");
  std::size_t longest = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(workDir_) / "meta" / "tasks")) {
    longest = std::max(longest, entry.path().filename().string().size());
  }
  EXPECT_LE(longest, 255u);
}

// READ_FILE: a piece of a task's stdout or stderr from its sandbox, by
// offset or from the end; a sandbox's file that is not a regular file (a
// symbolic link to /etc/passwd, a FIFO) is refused, not followed, not
// waited on; so are other names and bad ranges.
TEST_F(AgentTest, ReadFileAnswersPiecesOfASandboxAndRefusesTheRest) {
  startAgent(options());
  registerAgent();
  runTask("log", "seq 1 1000; echo oops >&2");
  ASSERT_TRUE(awaitUpdate("log", wire::TASK_FINISHED).has_value());
  std::string all;
  for (int i = 1; i <= 1000; ++i) all += std::to_string(i) + "\n";
  wire::FileData d = readFile("log", "stdout", 0, kMaxFileRead);
  EXPECT_EQ(d.error(), "");
  EXPECT_EQ(d.data(), all);
  EXPECT_EQ(d.offset(), 0);
  EXPECT_EQ(d.size(), static_cast<std::int64_t>(all.size()));
  d = readFile("log", "stdout", 10, 6);
  EXPECT_EQ(d.data(), all.substr(10, 6));
  EXPECT_EQ(d.offset(), 10);
  d = readFile("log", "stdout", -1, 9);
  EXPECT_EQ(d.data(), "999\n1000\n");
  EXPECT_EQ(d.offset(), static_cast<std::int64_t>(all.size()) - 9);
  d = readFile("log", "stdout", 1 << 30, 100);
  EXPECT_EQ(d.data(), "") << "past the end: nothing, and where the end is";
  EXPECT_EQ(d.offset(), static_cast<std::int64_t>(all.size()));
  EXPECT_EQ(readFile("log", "stderr", 0, 100).data(), "oops\n");

  const auto refusal = [&](const std::string& taskId, const std::string& file,
                           std::int64_t offset = 0, std::uint32_t length = 100) {
    d = readFile(taskId, file, offset, length);
    EXPECT_EQ(d.data(), "");
    return d.error();
  };
  EXPECT_EQ(refusal("log", "../../meta/agent_id"),
            "field file: '../../meta/agent_id' has an empty, '.' or '..' component; name each "
            "directory on the way down from the sandbox");
  EXPECT_NE(refusal("log", "/etc/passwd").find("is absolute"), std::string::npos);
  EXPECT_NE(refusal("log", "stdout", -2).find("want an offset from -1"), std::string::npos);
  EXPECT_NE(refusal("log", "stdout", 0, 0).find("a length from 1 to 1048576"), std::string::npos);
  EXPECT_NE(refusal("never", "stdout").find("no stdout in the sandbox of task never"),
            std::string::npos);
  // What a task may leave in its own sandbox.
  fs::remove(sandbox("log") / "stdout");
  fs::create_symlink("/etc/passwd", sandbox("log") / "stdout");
  EXPECT_EQ(refusal("log", "stdout"),
            "'stdout' is or passes through a symbolic link, which the agent does not follow (it "
            "could lead out of the sandbox)");
  fs::remove(sandbox("log") / "stderr");
  ASSERT_EQ(::mkfifo((sandbox("log") / "stderr").c_str(), 0644), 0);
  EXPECT_NE(refusal("log", "stderr").find("is not a regular file"), std::string::npos);
}

// LIST_FILES: a directory of a sandbox, its entries described and never
// followed; READ_FILE of any path in the sandbox, reached without following
// a symbolic link anywhere on the way; a hard link (which could name a file
// outside) is not read.
TEST_F(AgentTest, ListFilesDescribesASandboxAndReadsFollowNoLinkOut) {
  startAgent(options());
  registerAgent();
  runTask("out",
          "mkdir -p out/deep && seq 1 10 > out/deep/r.txt && chmod 640 out/deep/r.txt && "
          "ln -s /etc out/etc && ln -s /etc/passwd out/pw && mkfifo out/fifo && echo done");
  ASSERT_TRUE(awaitUpdate("out", wire::TASK_FINISHED).has_value());
  auto list = [&](const std::string& path) { return listFiles("out", path); };
  auto read = [&](const std::string& file) { return readFile("out", file, 0, 1000); };
  auto names = [](const wire::FileList& l) {
    std::vector<std::string> out;
    for (const auto& e : l.entries()) out.push_back(e.name());
    return out;
  };
  wire::FileList root = list("");
  EXPECT_EQ(root.error(), "");
  EXPECT_EQ(names(root), (std::vector<std::string>{"out", "stderr", "stdout"}));
  EXPECT_EQ(root.entries(0).type(), wire::FileEntry::DIRECTORY);
  EXPECT_EQ(root.entries(2).type(), wire::FileEntry::FILE);
  EXPECT_EQ(root.entries(2).size(), 5) << "done\n";
  EXPECT_FALSE(root.truncated());
  wire::FileList out = list("out");
  EXPECT_EQ(names(out), (std::vector<std::string>{"deep", "etc", "fifo", "pw"}));
  EXPECT_EQ(out.entries(1).type(), wire::FileEntry::SYMLINK);
  EXPECT_EQ(out.entries(2).type(), wire::FileEntry::OTHER);
  EXPECT_EQ(out.entries(3).type(), wire::FileEntry::SYMLINK);
  wire::FileList deep = list("out/deep");
  ASSERT_EQ(deep.entries_size(), 1);
  EXPECT_EQ(deep.entries(0).mode(), 0640u);
  EXPECT_EQ(deep.entries(0).size(), 21);
  const auto modified = std::chrono::microseconds(deep.entries(0).mtime_us());
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  EXPECT_LT(std::chrono::abs(now - modified), std::chrono::minutes(1));

  EXPECT_EQ(read("out/deep/r.txt").data(), "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n");
  const std::string followsNoLink = "is or passes through a symbolic link";
  EXPECT_NE(list("out/etc").error().find(followsNoLink), std::string::npos);
  EXPECT_NE(read("out/etc/passwd").error().find("'out/etc/passwd' " + followsNoLink),
            std::string::npos);
  EXPECT_NE(read("out/pw").error().find(followsNoLink), std::string::npos);
  EXPECT_EQ(read("out").error(), "'out' is a directory (`allot ls` lists it)");
  EXPECT_EQ(read("out/fifo").error(), "'out/fifo' is not a regular file");
  EXPECT_NE(read("out/deep/r.txt/x").error().find("is not a directory"), std::string::npos);
  EXPECT_NE(list("out/deep/r.txt").error().find("is not a directory"), std::string::npos);
  EXPECT_NE(list("out/none").error().find("no out/none in the sandbox of task out"),
            std::string::npos);
  EXPECT_NE(list("out/../..").error().find("'.' or '..' component"), std::string::npos);
  EXPECT_NE(list("/").error().find("is absolute"), std::string::npos);

  fs::create_hard_link(sandbox("out") / "out/deep/r.txt", sandbox("out") / "out/hard");
  EXPECT_EQ(read("out/hard").error(),
            "'out/hard' has 2 hard links; the agent reads only files whose one link is in the "
            "sandbox");

  // A directory of more entries than one answer holds: the first ones, said so.
  fs::create_directory(sandbox("out") / "many");
  for (std::uint32_t i = 0; i <= kMaxListEntries; ++i) {
    std::ofstream(sandbox("out") / "many" / std::to_string(i));
  }
  wire::FileList many = list("many");
  EXPECT_EQ(static_cast<std::uint32_t>(many.entries_size()), kMaxListEntries);
  EXPECT_TRUE(many.truncated());
}

// Sandboxes of forgotten tasks go after --gc-delay, moved aside at once and
// removed by `rm -rf` off the loop; a running task's sandbox and what a link
// in a removed sandbox points at stay; a framework directory goes once no
// sandbox or executor of it is left.
TEST_F(AgentTest, OldSandboxesAreRemovedAfterTheGcDelayAndLiveOnesStay) {
  useWallClock();
  auto o = options();
  o.gcDelay = 1h;
  o.gcDiskHeadroom = 0;  // the allowed age is 1 h x the disk's free fraction
  o.diskWatchInterval = 1min;
  o.executorIdle = 30s;
  startAgent(o);
  registerAgent();
  runTask("done", "mkdir -p a/b/c && echo deep > a/b/c/file && echo bye");
  ASSERT_TRUE(awaitFileContains(sandbox("done") / "stdout", "bye"));
  const fs::path outside =
      fs::path(workDir_).parent_path() / (fs::path(workDir_).filename().string() + "-outside");
  fs::create_directories(outside);
  std::ofstream(outside / "keep") << "mine";
  fs::create_directory_symlink(outside, sandbox("done") / "link");
  ASSERT_TRUE(ackUntil("done", wire::TASK_FINISHED).has_value());  // forgotten: its age counts
  runTask("live", "exec sleep 60");
  ASSERT_TRUE(awaitUpdate("live", wire::TASK_RUNNING).has_value());

  const auto sweepAfter = [&](Duration d) {
    clock_.advance(d);
    for (int i = 0; i < 5; ++i) spin();
  };
  const auto awaitGone = [&](const fs::path& path) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (fs::exists(fs::symlink_status(path)) && std::chrono::steady_clock::now() < deadline) {
      clock_.advance(1min);  // rm runs off the loop; the next sweep reaps it
      spin();
      std::this_thread::sleep_for(10ms);
    }
    return !fs::exists(fs::symlink_status(path));
  };
  sweepAfter(1min);
  EXPECT_TRUE(fs::exists(sandbox("done") / "a/b/c/file")) << "1 min old: kept";
  sweepAfter(1h);
  EXPECT_FALSE(fs::exists(fs::symlink_status(sandbox("done")))) << "moved aside at once";
  bool trashLeft = true;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (trashLeft && std::chrono::steady_clock::now() < deadline) {
    trashLeft = false;
    trashLeft = !fs::is_empty(fs::path(workDir_) / "meta" / "trash");
    sweepAfter(1min);
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_FALSE(trashLeft) << "rm -rf removed what was moved aside";
  EXPECT_EQ(readAll(outside / "keep"), "mine") << "a link is removed, not followed";
  EXPECT_TRUE(fs::exists(sandbox("live") / "stdout")) << "a running task's sandbox stays";
  EXPECT_EQ(agent_->counters().sandboxesRemoved, 1u);

  kill("live", 0ms);
  ASSERT_TRUE(ackUntil("live", wire::TASK_KILLED).has_value());
  sweepAfter(2h);  // the sandbox, and once the idle executor has stopped, its framework's directory
  EXPECT_TRUE(awaitGone(sandbox("live")));
  EXPECT_TRUE(awaitGone(fs::path(workDir_) / "frameworks" / "fw-1"));
  fs::remove_all(outside);
}

// A task of a forgotten task's id runs in the same sandbox: queued for
// removal, it stays while that task runs.
TEST_F(AgentTest, ASandboxInUseAgainIsNotRemoved) {
  auto o = options();
  o.gcDelay = 1h;
  o.gcDiskHeadroom = 0;
  startAgent(o);
  registerAgent();
  runTask("r", "echo first");
  ASSERT_TRUE(ackUntil("r", wire::TASK_FINISHED).has_value());
  runTask("r", "echo second; exec sleep 60");
  ASSERT_TRUE(awaitFileContains(sandbox("r") / "stdout", "second"));
  clock_.advance(2h);
  for (int i = 0; i < 5; ++i) spin();
  EXPECT_TRUE(fs::exists(sandbox("r") / "stdout"));
  EXPECT_EQ(agent_->counters().sandboxesRemoved, 0u);
  kill("r", 0ms);
  ASSERT_TRUE(awaitUpdate("r", wire::TASK_KILLED).has_value());
}

// A sandbox of a task no agent knows (its agent's checkpoints lost) and a
// trash an earlier agent did not finish removing go at the first sweep when
// the disk is "full" (headroom 1: the allowed age is 0).
TEST_F(AgentTest, NoHeadroomRemovesUnknownSandboxesAndLeftoverTrashAtStart) {
  const fs::path stray = fs::path(workDir_) / "frameworks" / "fw-old" / "tasks" / "t1";
  fs::create_directories(stray);
  std::ofstream(stray / "stdout") << "old";
  const fs::path trash = fs::path(workDir_) / "meta" / "trash" / "1" / "0" / "deep";
  fs::create_directories(trash);
  std::ofstream(trash / "f") << "x";
  // A work directory may hold what is not the agent's.
  fs::create_directories(fs::path(workDir_) / "unrelated-trash-1");
  useWallClock();  // the stray files are as old as it says
  auto o = options();
  o.gcDiskHeadroom = 1;
  startAgent(o);
  registerAgent();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((fs::exists(fs::path(workDir_) / "meta" / "trash" / "1") ||
          fs::exists(fs::path(workDir_) / "frameworks" / "fw-old")) &&
         std::chrono::steady_clock::now() < deadline) {
    clock_.advance(1min);
    spin();
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_FALSE(fs::exists(fs::path(workDir_) / "meta" / "trash" / "1"));
  EXPECT_TRUE(fs::exists(fs::path(workDir_) / "unrelated-trash-1")) << "not the agent's";
  EXPECT_FALSE(fs::exists(fs::path(workDir_) / "frameworks" / "fw-old"));
  EXPECT_EQ(agent_->counters().sandboxesRemoved, 1u);
}

// A sweep that cannot make its trash directory keeps what was due for the
// next one.
TEST_F(AgentTest, ASweepThatCannotMoveSandboxesAsideTriesAgain) {
  useWallClock();
  const fs::path stray = fs::path(workDir_) / "frameworks" / "fw-old" / "tasks" / "t1";
  fs::create_directories(stray);
  fs::create_directories(fs::path(workDir_) / "meta");
  std::ofstream(fs::path(workDir_) / "meta" / "trash") << "a file in the way";
  auto o = options();
  o.gcDiskHeadroom = 1;
  startAgent(o);
  registerAgent();
  EXPECT_TRUE(fs::exists(stray)) << "nothing moved: no trash directory";
  fs::remove(fs::path(workDir_) / "meta" / "trash");
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (fs::exists(fs::path(workDir_) / "frameworks" / "fw-old") &&
         std::chrono::steady_clock::now() < deadline) {
    clock_.advance(1min);
    spin();
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_FALSE(fs::exists(fs::path(workDir_) / "frameworks" / "fw-old"));
  EXPECT_EQ(agent_->counters().sandboxesRemoved, 1u);
}

// KILL_TASK's grace 0 is SIGKILL at once (unset: --kill-grace); the agent's
// own kills (SHUTDOWN_FRAMEWORK) take the task's kill policy. A bad policy
// is refused naming the field.
TEST_F(AgentTest, KillGraceZeroIsAtOnceAndTheAgentUsesTheTasksKillPolicy) {
  auto o = options();
  o.killGrace = 30s;  // a kill that waited for it would outlast the waits below
  startAgent(o);
  registerAgent();
  const std::string stubborn = "trap '' TERM; echo ready; while true; do sleep 0.05; done";
  runTask("now", stubborn);
  wire::RunTask run = makeRun("policy", stubborn);
  run.mutable_task()->mutable_kill_policy()->set_grace_period_seconds(0.2);
  send(wire::RUN_TASK, run);
  ASSERT_TRUE(awaitFileContains(sandbox("now") / "stdout", "ready"));
  ASSERT_TRUE(awaitFileContains(sandbox("policy") / "stdout", "ready"));
  kill("now", 0ms);
  auto now = awaitUpdate("now", wire::TASK_KILLED, 10s);
  ASSERT_TRUE(now.has_value());
  EXPECT_TRUE(WIFSIGNALED(now->exit_status()));
  EXPECT_EQ(WTERMSIG(now->exit_status()), SIGKILL);
  wire::ShutdownFramework shutdown;
  shutdown.set_framework_id("fw-1");
  send(wire::SHUTDOWN_FRAMEWORK, shutdown);
  auto policy = awaitUpdate("policy", wire::TASK_KILLED, 10s);
  ASSERT_TRUE(policy.has_value()) << "killed after its own 0.2 s, not the agent's 30 s";
  EXPECT_EQ(WTERMSIG(policy->exit_status()), SIGKILL);

  run = makeRun("bad", "true");
  run.mutable_task()->mutable_kill_policy()->set_grace_period_seconds(std::nan(""));
  send(wire::RUN_TASK, run);
  auto error = awaitUpdate("bad", wire::TASK_ERROR);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->message(),
            "field task.kill_policy.grace_period_seconds: nan is not a number of seconds from 0 "
            "to 86400");
}

// Health checks (Mesos' HealthCheck), run by the executor beside the task.

wire::HealthCheck commandCheck(const std::string& command) {
  wire::HealthCheck check;
  check.set_type(wire::HealthCheck::COMMAND);
  check.set_command(command);
  check.set_delay_seconds(0);
  check.set_interval_seconds(0.05);
  check.set_timeout_seconds(5);
  check.set_grace_period_seconds(0);
  check.set_consecutive_failures(0);
  return check;
}

// A port on loopback that nothing listens on (bound, then released).
unsigned freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof address;
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &len), 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

// A command check in the task's sandbox: each change of health is one
// TASK_RUNNING update with `healthy`, and only changes are.
TEST_F(AgentTest, CommandHealthCheckReportsEachChangeOfHealth) {
  startAgent(options());
  registerAgent();
  runChecked("svc", "exec sleep 60", commandCheck("test -f healthy"));
  auto sick = awaitHealth("svc", false);
  ASSERT_TRUE(sick.has_value());
  EXPECT_EQ(sick->state(), wire::TASK_RUNNING);
  EXPECT_EQ(sick->reason(), "TASK_HEALTH_CHECK_STATUS_UPDATED");
  EXPECT_EQ(sick->message(), "health check failed: exited with status 1");
  EXPECT_EQ(sick->uuid().size(), 16u);
  std::ofstream(sandbox("svc") / "healthy").put('x');
  auto well = awaitHealth("svc", true);
  ASSERT_TRUE(well.has_value());
  EXPECT_EQ(well->message(), "health check passed");
  fs::remove(sandbox("svc") / "healthy");
  ASSERT_TRUE(awaitHealth("svc", false).has_value());
  // Checks go on every 50 ms; their failures say nothing new.
  ASSERT_TRUE(awaitFileContains(sandbox("svc") / "stderr", "(5 in a row)"));
  for (int i = 0; i < 10; ++i) spin();
  EXPECT_EQ(countHealthUpdates("svc"), 0);
  EXPECT_NE(readAll(sandbox("svc") / "stderr")
                .find("allot-executor: health check failed (1 in a row): exited with status 1"),
            std::string::npos);
  kill("svc", 1s);
  auto killed = awaitUpdate("svc", wire::TASK_KILLED);
  ASSERT_TRUE(killed.has_value());
  EXPECT_EQ(killed->reason(), "KILLED");
}

// Failures in the grace period do not count; then `consecutive_failures`
// in a row kill the task: TASK_KILLED, reason TASK_UNHEALTHY_CHECK.
TEST_F(AgentTest, TooManyFailedHealthChecksKillTheTask) {
  startAgent(options());
  registerAgent();
  wire::HealthCheck check = commandCheck("echo checking; exit 3");
  check.set_grace_period_seconds(0.5);
  check.set_consecutive_failures(3);
  const auto start = std::chrono::steady_clock::now();
  runChecked("sick", "trap 'exit 0' TERM; while true; do sleep 0.02; done", check);
  auto killed = awaitUpdate("sick", wire::TASK_KILLED, 20s);
  ASSERT_TRUE(killed.has_value());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 500ms) << "the grace period counts nothing";
  EXPECT_EQ(killed->reason(), "TASK_UNHEALTHY_CHECK");
  ASSERT_TRUE(killed->has_healthy());
  EXPECT_FALSE(killed->healthy());
  EXPECT_EQ(killed->message(),
            "killed after 3 failed health checks in a row; the last: exited with status 3; "
            "exited with status 0");
  auto sick = awaitHealth("sick", false, 0ms);
  ASSERT_TRUE(sick.has_value()) << "the first counted failure was reported before the kill";
  EXPECT_EQ(sick->state(), wire::TASK_RUNNING);
  const std::string err = readAll(sandbox("sick") / "stderr");
  EXPECT_NE(err.find("health check failed in the grace period (not counted): exited with status 3"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("(3 in a row)"), std::string::npos) << err;
  EXPECT_EQ(err.find("(4 in a row)"), std::string::npos) << err;
  EXPECT_EQ(readAll(sandbox("sick") / "stdout"), "") << "a check's output is not the task's";
}

// TCP and HTTP checks on loopback, and a check that times out.
TEST_F(AgentTest, TcpHttpAndTimedOutHealthChecks) {
  startAgent(options());
  registerAgent();
  const unsigned port = freePort();
  const unsigned closed = freePort();
  auto net = [](wire::HealthCheck::Type type, unsigned p, const std::string& path = {}) {
    wire::HealthCheck check = commandCheck("unused");
    check.set_type(type);
    check.clear_command();
    check.set_port(p);
    check.set_path(path);
    check.set_interval_seconds(0.1);
    check.set_grace_period_seconds(30);  // until the server listens
    return check;
  };
  // Serving "/": the sandbox's ancestors may not be searchable by the task
  // user (nobody, under a root agent), and then "/" of the sandbox is 404.
  runChecked(
      "web",
      fmt::format("exec /usr/bin/python3 -m http.server {} --bind 127.0.0.1 --directory /", port),
      net(wire::HealthCheck::HTTP, port));
  auto web = awaitHealth("web", true, 20s);
  ASSERT_TRUE(web.has_value()) << readAll(sandbox("web") / "stderr");
  EXPECT_EQ(web->message(), "health check passed");

  runChecked("tcp", "exec sleep 60", net(wire::HealthCheck::TCP, port));
  ASSERT_TRUE(awaitHealth("tcp", true).has_value());

  wire::HealthCheck missing = net(wire::HealthCheck::HTTP, port, "/missing?x=1");
  missing.set_grace_period_seconds(0);
  runChecked("404", "exec sleep 60", missing);
  auto notFound = awaitHealth("404", false);
  ASSERT_TRUE(notFound.has_value());
  EXPECT_EQ(
      notFound->message(),
      fmt::format("health check failed: GET /missing?x=1 on 127.0.0.1:{} answered 404", port));

  wire::HealthCheck refused = net(wire::HealthCheck::TCP, closed);
  refused.set_grace_period_seconds(0);
  runChecked("refused", "exec sleep 60", refused);
  auto down = awaitHealth("refused", false);
  ASSERT_TRUE(down.has_value());
  EXPECT_EQ(
      down->message(),
      fmt::format("health check failed: connection to 127.0.0.1:{} failed: Connection refused",
                  closed));

  wire::HealthCheck slow = commandCheck("sleep 10");
  slow.set_timeout_seconds(0.2);
  runChecked("slow", "exec sleep 60", slow);
  auto late = awaitHealth("slow", false);
  ASSERT_TRUE(late.has_value());
  EXPECT_EQ(late->message(), "health check failed: timed out after 200 ms");

  for (const char* id : {"web", "tcp", "404", "refused", "slow"}) kill(id, 0ms);
  for (const char* id : {"web", "tcp", "404", "refused", "slow"}) {
    EXPECT_TRUE(awaitUpdate(id, wire::TASK_KILLED).has_value()) << id;
  }
}

// HTTPS checks speak TLS to the task's server and do not verify its
// certificate (self-signed here, as Mesos' and Marathon's HTTPS checks do not
// verify either); an HTTPS check of a plain HTTP server fails in the TLS
// handshake, and an HTTP check of the TLS server gets no HTTP answer.
TEST_F(AgentTest, HttpsHealthChecksSpeakTls) {
  ASSERT_EQ(::access("/usr/bin/openssl", X_OK), 0)
      << "needs /usr/bin/openssl (./x test installs it)";
  startAgent(options());
  registerAgent();
  const unsigned tlsPort = freePort();
  const unsigned plainPort = freePort();
  auto net = [](wire::HealthCheck::Type type, unsigned p) {
    wire::HealthCheck check = commandCheck("unused");
    check.set_type(type);
    check.clear_command();
    check.set_port(p);
    check.set_interval_seconds(0.1);
    check.set_grace_period_seconds(30);  // until the server listens
    return check;
  };
  // The task makes its own certificate in its sandbox, then serves "/" (of
  // the file system: the sandbox's ancestors may not be searchable by the
  // task user) over TLS.
  runChecked("tls",
             fmt::format("openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -out c.pem -subj "
                         "/CN=localhost -days 1 2>/dev/null && exec /usr/bin/python3 -c '"
                         "import functools, http.server, ssl\n"
                         "s = http.server.HTTPServer((\"127.0.0.1\", {}), functools.partial("
                         "http.server.SimpleHTTPRequestHandler, directory=\"/\"))\n"
                         "c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
                         "c.load_cert_chain(\"c.pem\", \"k.pem\")\n"
                         "s.socket = c.wrap_socket(s.socket, server_side=True)\n"
                         "s.serve_forever()'",
                         tlsPort),
             net(wire::HealthCheck::HTTPS, tlsPort));
  auto secure = awaitHealth("tls", true, 30s);
  ASSERT_TRUE(secure.has_value()) << readAll(sandbox("tls") / "stderr");
  EXPECT_EQ(secure->message(), "health check passed");

  runChecked("plain",
             fmt::format("exec /usr/bin/python3 -m http.server {} --bind 127.0.0.1 --directory /",
                         plainPort),
             net(wire::HealthCheck::TCP, plainPort));
  ASSERT_TRUE(awaitHealth("plain", true, 20s).has_value()) << readAll(sandbox("plain") / "stderr");
  wire::HealthCheck tlsToPlain = net(wire::HealthCheck::HTTPS, plainPort);
  tlsToPlain.set_grace_period_seconds(0);
  runChecked("tls-to-plain", "exec sleep 60", tlsToPlain);
  auto refused = awaitHealth("tls-to-plain", false);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->message().rfind(
                fmt::format("health check failed: TLS handshake with 127.0.0.1:{}", plainPort), 0),
            0U)
      << refused->message();

  wire::HealthCheck plainToTls = net(wire::HealthCheck::HTTP, tlsPort);
  plainToTls.set_grace_period_seconds(0);
  runChecked("plain-to-tls", "exec sleep 60", plainToTls);
  auto garbled = awaitHealth("plain-to-tls", false);
  ASSERT_TRUE(garbled.has_value());
  // The server resets the connection or closes it, as the race goes.
  const std::string why = garbled->message();
  EXPECT_TRUE(
      why == fmt::format("health check failed: GET / on 127.0.0.1:{}: no HTTP answer", tlsPort) ||
      why == fmt::format("health check failed: reading the answer of 127.0.0.1:{}: "
                         "Connection reset by peer",
                         tlsPort))
      << why;

  for (const char* id : {"tls", "plain", "tls-to-plain", "plain-to-tls"}) kill(id, 0ms);
  for (const char* id : {"tls", "plain", "tls-to-plain", "plain-to-tls"}) {
    EXPECT_TRUE(awaitUpdate(id, wire::TASK_KILLED).has_value()) << id;
  }
}

// A check that cannot run is refused with the launch, naming the field.
TEST_F(AgentTest, BadHealthChecksAreRefusedNamingTheField) {
  startAgent(options());
  registerAgent();
  wire::HealthCheck check = commandCheck("true");
  check.set_type(wire::HealthCheck::TCP);
  runChecked("noport", "true", check);
  auto error = awaitUpdate("noport", wire::TASK_ERROR);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->message(), "field task.health_check.port: 0 is not a port (1-65535)");
  EXPECT_EQ(error->reason(), "INVALID_TASK");
  check = commandCheck("true");
  check.set_interval_seconds(-1);
  runChecked("negative", "true", check);
  error = awaitUpdate("negative", wire::TASK_ERROR);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->message(),
            "field task.health_check.interval_seconds: -1 is not a number of seconds from 0 to "
            "86400");
}

// The executor, not the agent, checks: a change while no agent runs is
// reported by the next one, and a health already reported is not again.
TEST_F(AgentTest, HealthChangesWhileTheAgentIsDownAreReportedOnce) {
  startAgent(options());
  registerAgent();
  runChecked("svc", "exec sleep 60", commandCheck("test -f healthy"));
  auto sick = awaitHealth("svc", false);
  ASSERT_TRUE(sick.has_value());
  ackAndWait(*sick);
  agent_.reset();
  inbox_.clear();
  startAgent(options());
  registerAgent();
  for (int i = 0; i < 40; ++i) spin();  // the executor tells the new agent "unhealthy" again
  ASSERT_TRUE(awaitFileContains(sandbox("svc") / "stderr", "(10 in a row)"));
  EXPECT_EQ(countHealthUpdates("svc"), 0) << "already reported";
  agent_.reset();
  std::ofstream(sandbox("svc") / "healthy").put('x');
  std::this_thread::sleep_for(500ms);  // checks every 50 ms pass, with no agent to tell
  inbox_.clear();
  startAgent(options());
  registerAgent();
  auto well = awaitHealth("svc", true);
  ASSERT_TRUE(well.has_value());
  EXPECT_EQ(well->message(), "health check passed");
  kill("svc", 0ms);
  ASSERT_TRUE(awaitUpdate("svc", wire::TASK_KILLED).has_value());
}

// The executor's CHECK message: what the agent encodes decodes the same;
// anything else is refused.
TEST(ExecutorProtocolTest, CheckMessagesRoundTripAndBadOnesAreRefused) {
  executor::Check c;
  c.key = "fw/t";
  c.type = "HTTP";
  c.delayMs = 1;
  c.intervalMs = 2;
  c.timeoutMs = 3;
  c.graceMs = 4;
  c.failures = 5;
  c.port = 8080;
  c.path = "/health";
  c.killGraceMs = 6;
  const std::string packet = executor::encodeCheck(c);
  auto back = executor::decodeCheck(executor::split(packet));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->key, "fw/t");
  EXPECT_EQ(back->type, "HTTP");
  EXPECT_EQ(back->delayMs + back->intervalMs + back->timeoutMs + back->graceMs, 10);
  EXPECT_EQ(back->failures, 5u);
  EXPECT_EQ(back->port, 8080u);
  EXPECT_EQ(back->path, "/health");
  EXPECT_EQ(back->killGraceMs, 6);
  auto refused = [&](std::size_t field, std::string_view value) {
    auto fields = executor::split(packet);
    fields[field] = value;
    return !executor::decodeCheck(fields).has_value();
  };
  EXPECT_TRUE(refused(1, ""));
  EXPECT_TRUE(refused(2, "UDP"));
  EXPECT_TRUE(refused(3, "-1"));
  EXPECT_TRUE(refused(4, "0"));
  EXPECT_TRUE(refused(5, "x"));
  EXPECT_TRUE(refused(8, "0"));
  EXPECT_TRUE(refused(8, "65536"));
  EXPECT_TRUE(refused(11, "-5"));
  auto shorter = executor::split(packet);
  shorter.pop_back();
  EXPECT_FALSE(executor::decodeCheck(shorter).has_value());
}

}  // namespace
}  // namespace allot::runtime
