#include "allot/runtime/agent.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <unordered_map>

#include "allot/core/cluster.h"
#include "allot/core/error.h"
#include "allot/core/resources.h"
#include "allot/runtime/file_lock.h"
#include "allot/runtime/transport.h"
#include "allot/runtime/wire.h"
#include "allot/runtime/zookeeper.h"
#include "checkpoint.pb.h"
#include "files.h"
#include "isolation.h"
#include "runtime/executor/protocol.h"

namespace allot::runtime {

namespace {

std::string taskKey(std::string_view frameworkId, std::string_view taskId) {
  return fmt::format("{}/{}", frameworkId, taskId);
}

std::string hex(std::string_view bytes) {
  std::string out;
  for (char c : bytes) out += fmt::format("{:02x}", static_cast<unsigned char>(c));
  return out;
}

// "exited with status 2", "terminated by signal 9 (SIGKILL)".
std::string describeWait(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return fmt::format("terminated by signal {} (SIG{})", WTERMSIG(status),
                       name != nullptr ? name : "?");
  }
  return fmt::format("ended with wait status {}", status);
}

// What the executor wrote to its status file.
struct ExecutorOutcome {
  int waitStatus = -1;
  bool killed = false;
  std::string reason;
  std::string message;
};

std::optional<ExecutorOutcome> readOutcome(const std::string& path) {
  auto text = agent::readFile(path);
  if (!text) return std::nullopt;
  ExecutorOutcome out;
  std::istringstream lines(*text);
  for (std::string line; std::getline(lines, line);) {
    auto space = line.find(' ');
    std::string key = line.substr(0, space);
    std::string value = space == std::string::npos ? "" : line.substr(space + 1);
    if (key == "wait_status") {
      out.waitStatus = std::atoi(value.c_str());
    } else if (key == "killed") {
      out.killed = value == "1";
    } else if (key == "reason") {
      out.reason = value;
    } else if (key == "message") {
      out.message = value;
    }
  }
  return out;
}

std::int64_t toMillis(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace

class Agent::Impl {
 public:
  Impl(zmq::context_t& context, EventLoop& loop, AgentOptions options);
  ~Impl();

  void start();

  // One task the agent knows: running, or terminal with updates not yet
  // acknowledged. `checkpoint` is what is on disk; `updates` mirrors its
  // serialized updates.
  struct Task {
    std::string key;   // "framework_id/task_id"
    std::string stem;  // meta files without extension
    wire::RunTask run;
    agent::TaskCheckpoint checkpoint;
    std::vector<wire::TaskStatus> updates;
    bool runTaskLogged = false;  // the log's first record (with the RunTask) is written
    bool pidLogged = false;      // the executor's pid is in the log
    bool executorDone = false;   // the task ended (its status file is read), or never started
    bool terminal = false;       // a terminal update exists
  };

  // A framework's executor process, known by its socket's name.
  struct Executor {
    std::string socket;
    std::string frameworkId;
    pid_t pid = -1;
    std::uint64_t ticks = 0;
    int fd = -1;                  // connected; -1 once stopped or lost
    int pidfd = -1;               // -1: polled
    std::set<std::string> tasks;  // keys of its tasks not yet ended
    EventLoop::TimerId idleTimer = 0;
    // Messages not yet taken: the executor's queue is short, and the agent
    // never waits for it (heartbeats and updates go on meanwhile).
    std::deque<std::string> outbox;
    bool writeWatched = false;  // waiting for room to flush the outbox
    bool stopping = false;      // EXIT queued
  };

  // An update due for a resend; entries of acked or removed updates are
  // skipped when they come up. Due times only grow, so a deque stays sorted.
  struct Retry {
    TimePoint due;
    std::string key;
    std::string uuid;
  };

  void recover();
  void recoverTask(const std::string& path, std::map<std::string, std::vector<std::string>>& live);
  void recoverExecutor(const std::string& socket, const std::vector<std::string>& keys);
  void sendRegister();
  // A fresh DEALER to endpoint_, with a new routing id (a new connection).
  void connectDealer();
  void watchDealer();
  void onLeader(const std::optional<MasterInfo>& leader);
  void onReadable();
  void dispatch(const wire::Envelope& envelope);
  void refuse(const wire::Envelope& envelope, wire::Error::Code code, const std::string& problem);
  void onRegistered(const wire::Envelope& envelope);
  void onRunTask(const wire::Envelope& envelope);
  void onKillTask(const wire::Envelope& envelope);
  void onAck(const wire::Envelope& envelope);
  void onShutdownFramework(const wire::Envelope& envelope);
  void onReadFile(const wire::Envelope& envelope);
  void onListFiles(const wire::Envelope& envelope);
  // Why `path` in the sandbox of `frameworkId`/`taskId` could not be opened
  // (errno), for FILE_DATA and FILE_LIST.
  std::string openProblem(const std::string& frameworkId, const std::string& taskId,
                          const std::string& path) const;
  void onError(const wire::Envelope& envelope);
  void onReplaced(const std::string& why);
  void onHeartbeatTimer();
  void armHeartbeat(Duration interval);
  void launch(Task& task, const Resources& resources, const agent::UserIds& user);
  Executor* executorFor(const std::string& frameworkId, std::string& error);
  void watch(Executor& executor);
  void pollExecutor(const std::string& socket, const char* why);
  void onPollExecutors();
  void onExecutorReadable(const std::string& socket);
  void onExecutorExit(const std::string& socket);
  void disconnect(Executor& executor);
  void reconnect(Executor& executor);
  void taskEnded(Executor& executor, const std::string& key);
  void stopWhenIdle(Executor& executor);
  void stopExecutor(const std::string& socket);
  void post(Executor& executor, std::string message);
  void flush(Executor& executor);
  void watchWritable(Executor& executor);
  void endWrittenTasks(Executor& executor);
  void finish(Task& task);
  void signalKill(Task& task, Duration grace);
  void killQuietly(const std::string& key);
  void addUpdate(Task& task, wire::TaskState state, std::string message, std::string reason = {},
                 int waitStatus = 0, std::optional<bool> healthy = std::nullopt);
  void taskHealth(const std::string& key, bool healthy, std::string message);
  // SIGTERM -> SIGKILL when the agent kills `task` on its own: the task's
  // kill policy, else --kill-grace.
  Duration killGraceOf(const Task& task) const {
    return killGrace(task.run.task().kill_policy()).value_or(options_.killGrace);
  }
  void persist(Task& task, agent::TaskRecord record);
  void send(const wire::TaskStatus& status);
  void resendUnacked();
  void armRetry();
  void onRetry();
  void maybeRemove(const std::string& key);

  // --- sandbox collection (AgentOptions::gcDelay) ----------------------------
  // A sweep: moves the sandboxes of forgotten tasks older than
  // sandboxMaxAge() (and framework directories left with none) into a trash
  // directory, at once, so that a new task of the same id gets a fresh one,
  // and removes the trash with `rm -rf` in a child process, off the loop.
  void collectSandboxes();
  Duration sandboxMaxAge() const;
  // At start: the sandboxes on disk of no known task (an earlier agent's),
  // queued by their modification time; a trash an earlier agent left.
  void findOldSandboxes();
  // Another sweep in a moment, while sandboxes are due faster than one
  // sweep per interval removes them.
  void collectSoon();
  struct Forgotten {
    TimePoint at;  // when its task was forgotten
    std::string sandbox;
    std::string frameworkDir;
  };
  std::deque<Forgotten> forgotten_;         // in the order forgotten: the oldest first
  std::set<std::string> frameworkChecks_;   // framework dirs that may be left with no sandbox
  std::vector<std::string> leftoverTrash_;  // found at start
  static constexpr std::size_t kMaxCollectedPerSweep = 10'000;
  EventLoop::TimerId gcTimer_ = 0;
  EventLoop::TimerId gcSoonTimer_ = 0;
  pid_t remover_ = -1;  // the last sweep's `rm -rf`, until reaped
  // The last sweep left sandboxes that were due: sweep again soon (not
  // while only young ones wait, which would poll every 100 ms during an rm).
  bool gcBehind_ = false;
  Task& newTask(const wire::RunTask& run);

  zmq::context_t& context_;
  EventLoop& loop_;
  AgentOptions options_;
  agent::Layout layout_;
  std::string id_;
  std::string hostname_;
  std::string resources_;
  std::string attributes_;
  std::string cgroupRoot_;
  bool root_ = false;
  std::optional<FileLock> lock_;  // on meta/lock, held for the agent's life
  std::mt19937_64 random_;
  std::string endpoint_;  // of the master; kNoMasterEndpoint while none leads
  std::unique_ptr<DealerSocket> dealer_;
  HandshakeLogFilter handshakeLog_;
  std::unique_ptr<MasterDetector> detector_;  // with a zk:// master

  std::unordered_map<std::string, Task> tasks_;
  std::map<std::string, Executor> executors_;  // by socket
  wire::FileData fileData_;                    // onReadFile's answer, kept for its buffer
  std::vector<char> executorBuffer_ = std::vector<char>(allot::executor::kMaxMessage + 1);
  std::deque<Retry> retries_;
  std::map<std::string, std::optional<agent::UserIds>> users_;

  bool started_ = false;
  bool registered_ = false;
  TimePoint lastHeard_{};
  TimePoint lastRegisterSent_{};
  Duration heartbeat_{};
  EventLoop::TimerId heartbeatTimer_ = 0;
  EventLoop::TimerId registerTimer_ = 0;
  // A new connection after one refused (see watchDealer).
  EventLoop::TimerId reconnectTimer_ = 0;
  static constexpr std::chrono::seconds kRefusedReconnect{2};
  Duration registerBackoff_{};  // wait before resending an unanswered registration
  EventLoop::TimerId retryTimer_ = 0;
  // Without pidfd_open (kernels before 5.3, valgrind), executors are polled
  // (by socket).
  std::set<std::string> polled_;
  EventLoop::TimerId pollTimer_ = 0;
  bool retryArmed_ = false;
  // Set when the master answered REPLACED: why this agent stops.
  std::string stopReason_;
  EventLoop::TimerId stopTimer_ = 0;
  AgentCounters counters_;
};

Agent::Impl::Impl(zmq::context_t& context, EventLoop& loop, AgentOptions options)
    : context_(context),
      loop_(loop),
      options_(std::move(options)),
      random_(std::random_device{}()) {
  if (options_.workDir.empty()) throw InvalidArgument("agent: --work-dir is empty");
  if (options_.statusRetry <= Duration{0} || options_.registerRetry <= Duration{0} ||
      options_.heartbeat <= Duration{0}) {
    throw InvalidArgument("agent: retry and heartbeat intervals must be positive");
  }
  if (options_.gcDelay < Duration{0} || options_.diskWatchInterval <= Duration{0} ||
      !(options_.gcDiskHeadroom >= 0 && options_.gcDiskHeadroom <= 1)) {
    throw InvalidArgument(
        "agent: --gc-delay must be at least 0, --disk-watch-interval positive and "
        "--gc-disk-headroom from 0 to 1");
  }
  layout_.workDir = std::filesystem::absolute(options_.workDir).lexically_normal().string();
  try {
    std::filesystem::create_directories(layout_.tasksDir());
  } catch (const std::filesystem::filesystem_error& e) {
    throw Error(fmt::format("agent: cannot create work directory {}: {}", layout_.workDir,
                            e.code().message()));
  }
  // Two agents on one work directory would share an id and checkpoints.
  lock_.emplace(layout_.metaDir() + "/lock",
                fmt::format("agent: work directory {} is in use by another agent; stop it, or "
                            "give this one another --work-dir",
                            layout_.workDir));
  if (options_.executorPath.empty()) options_.executorPath = agent::defaultExecutorPath();
  if (::access(options_.executorPath.c_str(), X_OK) != 0) {
    throw Error(fmt::format(
        "agent: executor {} is not executable ({}); build allot-executor or pass --executor",
        options_.executorPath, std::strerror(errno)));
  }
  const std::optional<ZkUrl> zk = ZkUrl::parse(options_.master);  // throws ParseError
  endpoint_ = zk ? std::string(kNoMasterEndpoint) : masterEndpoint(options_.master);
  resources_ = completeResources(options_.resources, layout_.workDir);
  Attributes::parse(options_.attributes);  // throws ParseError naming the token
  attributes_ = options_.attributes;
  root_ = ::geteuid() == 0;
  if (root_ && !agent::lookupUser(options_.taskUser)) {
    throw Error(
        fmt::format("agent: task user '{}' does not exist (--task-user)", options_.taskUser));
  }
  if (options_.cgroupRoot.empty()) {
    cgroupRoot_ = root_ ? agent::detectCgroupRoot() : std::string();
  } else if (options_.cgroupRoot != "none") {
    cgroupRoot_ = options_.cgroupRoot;
  }
  if (options_.masterTimeout <= Duration{0}) options_.masterTimeout = 15 * options_.heartbeat;
  heartbeat_ = options_.heartbeat;

  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  hostname_ = options_.hostname.empty() ? std::string(host) : options_.hostname;

  // The id: given, else kept from an earlier run, else new (and kept).
  auto kept = agent::readFile(layout_.agentIdFile());
  if (kept) {
    // A file written by hand ("echo agentD > agent_id") ends in a newline:
    // the id is what precedes trailing whitespace.
    const auto end = kept->find_last_not_of(" \t\r\n\v\f");
    kept->erase(end == std::string::npos ? 0 : end + 1);
  }
  // Why `id` cannot be this agent's id, or nullopt (the master's rule: at
  // most kMaxIdBytes, no '/' and no control characters).
  auto badId = [](std::string_view id) -> std::optional<std::string> {
    if (id.empty()) return "it is empty";
    if (id.size() > kMaxIdBytes) {
      return fmt::format("it is {} bytes long; at most {} are allowed", id.size(), kMaxIdBytes);
    }
    for (std::size_t i = 0; i < id.size(); ++i) {
      const auto c = static_cast<unsigned char>(id[i]);
      if (c < 0x20 || c == 0x7f) {
        return fmt::format("it contains a control character (0x{:02x} at byte {})", c, i);
      }
      if (c == '/') return fmt::format("it contains '/' (at byte {})", i);
    }
    return std::nullopt;
  };
  if (!options_.id.empty()) {
    if (auto why = badId(options_.id)) {
      throw Error(fmt::format("agent: bad agent id {:?} (--id): {}", options_.id, *why));
    }
    id_ = options_.id;
  } else if (kept) {
    if (auto why = badId(*kept)) {
      throw Error(fmt::format("agent: bad agent id {:?} in {}: {}; fix or remove the file", *kept,
                              layout_.agentIdFile(), *why));
    }
    id_ = *kept;
  } else {
    id_ = fmt::format("{}-{:08x}", hostname_, random_() & 0xffffffffu);
  }
  if (!kept || *kept != id_) {
    if (auto error = agent::writeAtomically(layout_.agentIdFile(), id_)) {
      throw Error("agent: " + *error);
    }
  }

  connectDealer();
  if (zk) {
    detector_ = std::make_unique<MasterDetector>(
        *zk, options_.zkSessionTimeout, loop_,
        [this](const std::optional<MasterInfo>& leader) { onLeader(leader); });
  }
  recover();
  spdlog::info("agent {}: resources '{}', attributes '{}', work dir {}, {} task(s) recovered{}",
               id_, resources_, attributes_, layout_.workDir, counters_.recovered,
               cgroupRoot_.empty() ? ", limits by rlimits and memory polling"
                                   : ", cgroups under " + cgroupRoot_);
}

Agent::Impl::~Impl() {
  if (started_) unwatchDealer(loop_, *dealer_);
  for (auto id : {heartbeatTimer_, registerTimer_, retryTimer_, pollTimer_, stopTimer_,
                  reconnectTimer_, gcTimer_, gcSoonTimer_}) {
    if (id != 0) loop_.cancel(id);
  }
  // An rm still running is left to finish: stopping an agent must not wait
  // for a large tree (the child is reparented when this process exits).
  if (remover_ > 0) ::waitpid(remover_, nullptr, WNOHANG);
  // Executors keep running; a new agent on this work directory recovers them
  // (and those with no task exit on their own).
  for (auto& [socket, executor] : executors_) {
    if (executor.idleTimer != 0) loop_.cancel(executor.idleTimer);
    if (executor.writeWatched) loop_.unwatchFdWritable(executor.fd);
    for (int fd : {executor.fd, executor.pidfd}) {
      if (fd < 0) continue;
      loop_.unwatchFd(fd);
      ::close(fd);
    }
  }
}

void Agent::Impl::start() {
  if (started_) return;
  started_ = true;
  watchDealer();
  sendRegister();
  // Unanswered registrations are resent with a doubling interval (up to 8
  // retry periods): a master too busy to answer would otherwise get one
  // more re-registration per agent each period, each rescinding the
  // agent's offers.
  registerBackoff_ = options_.registerRetry;
  registerTimer_ = loop_.every(options_.registerRetry, [this] {
    if (registered_ || !stopReason_.empty() || loop_.now() - lastRegisterSent_ < registerBackoff_) {
      return;
    }
    registerBackoff_ = std::min(2 * registerBackoff_, 8 * options_.registerRetry);
    sendRegister();
  });
  armHeartbeat(heartbeat_);
  armRetry();
  findOldSandboxes();
  collectSandboxes();
  gcTimer_ = loop_.every(options_.diskWatchInterval, [this] { collectSandboxes(); });
}

// ---------------------------------------------------------------------------
// Recovery

void Agent::Impl::recover() {
  std::error_code ec;
  std::map<std::string, std::vector<std::string>> live;  // executor socket -> task keys
  for (const auto& entry : std::filesystem::directory_iterator(layout_.tasksDir(), ec)) {
    if (entry.path().extension() == ".task") recoverTask(entry.path().string(), live);
  }
  if (ec) spdlog::warn("agent {}: cannot list {}: {}", id_, layout_.tasksDir(), ec.message());
  for (const auto& [socket, keys] : live) recoverExecutor(socket, keys);
}

void Agent::Impl::recoverTask(const std::string& path,
                              std::map<std::string, std::vector<std::string>>& live) {
  auto records = agent::readRecords(path);
  agent::TaskCheckpoint checkpoint;
  wire::RunTask run;
  bool parsed = records.has_value();
  if (parsed && !records->problem.empty()) {
    spdlog::warn("agent {}: checkpoint {}: {}", id_, path, records->problem);
  }
  for (std::size_t i = 0; parsed && i < records->records.size(); ++i) {
    agent::TaskRecord record;
    if (!record.ParseFromString(records->records[i])) {
      parsed = false;
      break;
    }
    if (!record.run_task().empty()) checkpoint.set_run_task(record.run_task());
    if (record.executor_pid() != 0) {
      checkpoint.set_executor_pid(record.executor_pid());
      checkpoint.set_executor_start_ticks(record.executor_start_ticks());
      checkpoint.set_executor_socket(record.executor_socket());
    }
    if (!record.update().empty()) {
      checkpoint.add_updates(record.update());
      checkpoint.add_acked(false);
    }
    if (!record.acked_uuid().empty()) {
      for (int u = 0; u < checkpoint.updates_size(); ++u) {
        wire::TaskStatus status;
        if (status.ParseFromString(checkpoint.updates(u)) && status.uuid() == record.acked_uuid()) {
          checkpoint.set_acked(u, true);
        }
      }
    }
    if (record.quiet()) checkpoint.set_quiet(true);
  }
  if (!parsed || checkpoint.run_task().empty() || !run.ParseFromString(checkpoint.run_task())) {
    spdlog::error("agent {}: checkpoint {} does not parse; its task is not recovered", id_, path);
    return;
  }
  std::string key = taskKey(run.framework().framework_id(), run.task().task_id());
  Task& task = tasks_[key];
  task.key = key;
  task.stem = path.substr(0, path.size() - 5);
  task.run = std::move(run);
  task.checkpoint = std::move(checkpoint);
  task.runTaskLogged = true;
  task.pidLogged = task.checkpoint.executor_pid() != 0;
  for (const std::string& bytes : task.checkpoint.updates()) {
    wire::TaskStatus status;
    status.ParseFromString(bytes);
    task.terminal = task.terminal || isTerminal(status.state());
    task.updates.push_back(std::move(status));
  }
  ++counters_.recovered;
  for (int i = 0; i < task.checkpoint.updates_size(); ++i) {
    if (!task.checkpoint.acked(i)) {
      retries_.push_back({loop_.now() + options_.statusRetry, key,
                          task.updates[static_cast<std::size_t>(i)].uuid()});
    }
  }

  if (task.terminal) {
    // Its end (or its failure to start) is recorded: only acks are awaited.
    task.executorDone = true;
    maybeRemove(key);
    return;
  }
  if (task.checkpoint.executor_pid() <= 0) {
    task.executorDone = true;
    addUpdate(task, wire::TASK_FAILED, "the agent stopped before the task's executor started",
              "EXECUTOR_NOT_STARTED");
    maybeRemove(key);
    return;
  }
  live[task.checkpoint.executor_socket()].push_back(key);
}

// Reconnects to the executor of recovered tasks. Tasks that ended while the
// agent was away are read from their status files; so are all of them when
// the executor is gone (or the recorded pid is another process by now).
void Agent::Impl::recoverExecutor(const std::string& socket, const std::vector<std::string>& keys) {
  const Task& first = tasks_.at(keys.front());
  const pid_t pid = first.checkpoint.executor_pid();
  const std::uint64_t ticks = first.checkpoint.executor_start_ticks();
  int fd = -1;
  if (!socket.empty() && ticks != 0 && agent::processStartTicks(pid) == ticks) {
    fd = agent::connectExecutor(socket);
  }
  if (fd < 0) {
    for (const std::string& key : keys) {
      spdlog::info("agent {}: task {} ended while the agent was away", id_, key);
      finish(tasks_.at(key));
    }
    return;
  }
  Executor& executor = executors_[socket];
  executor.socket = socket;
  executor.frameworkId = first.run.framework().framework_id();
  executor.pid = pid;
  executor.ticks = ticks;
  executor.fd = fd;
  executor.tasks.insert(keys.begin(), keys.end());
  watch(executor);
  spdlog::info("agent {}: recovered {} task(s) of framework {} (executor {})", id_, keys.size(),
               executor.frameworkId, pid);
  // Connected first: a task ending from now on is reported by ENDED too,
  // and finish() is idempotent.
  endWrittenTasks(executor);
  stopWhenIdle(executor);
}

// Ends the executor's tasks whose status file is written: their ENDED went
// to an earlier connection (a dead agent, another peer).
void Agent::Impl::endWrittenTasks(Executor& executor) {
  const std::vector<std::string> keys(executor.tasks.begin(), executor.tasks.end());
  for (const std::string& key : keys) {
    auto it = tasks_.find(key);
    if (it != tasks_.end() && ::access((it->second.stem + ".status").c_str(), F_OK) == 0) {
      taskEnded(executor, key);
    }
  }
}

// ---------------------------------------------------------------------------
// Master connection

void Agent::Impl::connectDealer() {
  if (dealer_ && started_) unwatchDealer(loop_, *dealer_);
  // The routing id is per connection: a restarted agent, or one that
  // follows a new leader, is a new connection.
  dealer_ = std::make_unique<DealerSocket>(
      context_, endpoint_, fmt::format("{}#{:08x}", id_, random_() & 0xffffffffu), &options_.curve);
  if (started_) watchDealer();
}

void Agent::Impl::watchDealer() {
  runtime::watchDealer(
      loop_, *dealer_, [this] { onReadable(); },
      [this](const HandshakeEvent& event) {
        // ZeroMQ gives a connection up for good after a refusal or a
        // protocol mismatch: try a new one now and then, so that an
        // operator's fix (a key listed, the master's flags) takes without a
        // restart. Not from here: the socket being drained would go.
        if ((event.kind == HandshakeEvent::kFailedAuth ||
             event.kind == HandshakeEvent::kFailedProtocol) &&
            reconnectTimer_ == 0) {
          reconnectTimer_ = loop_.after(kRefusedReconnect, [this] {
            reconnectTimer_ = 0;
            if (!stopReason_.empty()) return;
            connectDealer();
            registered_ = false;
            sendRegister();
          });
        }
        handshakeLog_.log(event, dealer_->secure(), "agent " + id_,
                          reconnectTimer_ != 0
                              ? fmt::format(" (trying again every {} s)", kRefusedReconnect.count())
                              : std::string());
      });
}

// A new leading master (ZooKeeper): register with it at once, with the
// tasks this agent runs, as after a master restart.
void Agent::Impl::onLeader(const std::optional<MasterInfo>& leader) {
  if (!leader) {
    spdlog::warn("agent {}: no master leads in ZooKeeper {}; waiting for one", id_,
                 ZkUrl::parse(options_.master)->text());
    return;
  }
  if (leader->endpoint == endpoint_) return;
  spdlog::info("agent {}: the leading master is {} at {}", id_,
               leader->id.empty() ? "unnamed" : leader->id, leader->endpoint);
  endpoint_ = leader->endpoint;
  connectDealer();
  if (!started_ || !stopReason_.empty()) return;
  registered_ = false;
  registerBackoff_ = options_.registerRetry;
  sendRegister();
}

void Agent::Impl::sendRegister() {
  wire::RegisterAgent reg;
  reg.set_agent_id(id_);
  reg.set_hostname(hostname_);
  reg.set_resources(resources_);
  reg.set_attributes(attributes_);
  std::set<std::string> frameworks;
  for (const auto& [key, task] : tasks_) {
    if (task.checkpoint.quiet() || task.updates.empty()) continue;
    *reg.add_tasks() = task.run.task();
    *reg.add_task_statuses() = task.updates.back();
    if (frameworks.insert(task.run.framework().framework_id()).second) {
      *reg.add_frameworks() = task.run.framework();
    }
  }
  dealer_->send(wire::REGISTER_AGENT, id_, reg);
  ++counters_.registrations;
  lastRegisterSent_ = loop_.now();
}

void Agent::Impl::armHeartbeat(Duration interval) {
  if (heartbeatTimer_ != 0) loop_.cancel(heartbeatTimer_);
  heartbeat_ = interval;
  heartbeatTimer_ = loop_.every(interval, [this] { onHeartbeatTimer(); });
}

void Agent::Impl::onHeartbeatTimer() {
  if (!registered_) return;
  if (loop_.now() - lastHeard_ >= options_.masterTimeout) {
    spdlog::warn("agent {}: no word from the master for {:.1f} s; registering again", id_,
                 toSeconds(loop_.now() - lastHeard_));
    registered_ = false;
    sendRegister();
    return;
  }
  dealer_->send(wire::AGENT_HEARTBEAT, id_, wire::AgentHeartbeat{});
}

void Agent::Impl::onReadable() {
  wire::Envelope envelope;
  while (dealer_->receive(envelope, [this](const WireError& error) {
    ++counters_.badMessages;
    spdlog::warn("agent {}: refused a frame from the master: {}", id_, error.message);
    wire::Error reply;
    reply.set_code(error.code);
    reply.set_message(error.message);
    dealer_->send(wire::ERROR, id_, reply);
  })) {
    dispatch(envelope);
  }
}

void Agent::Impl::refuse(const wire::Envelope& envelope, wire::Error::Code code,
                         const std::string& problem) {
  ++counters_.badMessages;
  spdlog::warn("agent {}: {} from '{}' (sequence {}) dropped: {}", id_,
               messageTypeName(envelope.type()), envelope.sender(), envelope.sequence(), problem);
  if (envelope.type() == wire::ERROR) return;  // never answer an error with one
  wire::Error error;
  error.set_code(code);
  error.set_message(problem);
  error.set_about(envelope.type());
  error.set_about_sequence(envelope.sequence());
  dealer_->send(wire::ERROR, id_, error);
}

void Agent::Impl::dispatch(const wire::Envelope& envelope) {
  lastHeard_ = loop_.now();
  switch (envelope.type()) {
    case wire::AGENT_REGISTERED:
      return onRegistered(envelope);
    case wire::RUN_TASK:
      return onRunTask(envelope);
    case wire::KILL_TASK:
      return onKillTask(envelope);
    case wire::STATUS_UPDATE_ACK:
      return onAck(envelope);
    case wire::SHUTDOWN_FRAMEWORK:
      return onShutdownFramework(envelope);
    case wire::READ_FILE:
      return onReadFile(envelope);
    case wire::LIST_FILES:
      return onListFiles(envelope);
    case wire::AGENT_HEARTBEAT_ACK:
      return;
    case wire::ERROR:
      return onError(envelope);
    default:
      return refuse(envelope, wire::Error::UNKNOWN_TYPE, "not a message for an agent");
  }
}

void Agent::Impl::onRegistered(const wire::Envelope& envelope) {
  wire::AgentRegistered msg;
  if (auto error = decodePayload(envelope, msg))
    return refuse(envelope, error->code, error->message);
  if (!msg.agent_id().empty() && msg.agent_id() != id_) {
    spdlog::info("agent {}: the master names this agent {}", id_, msg.agent_id());
    id_ = msg.agent_id();
    if (auto error = agent::writeAtomically(layout_.agentIdFile(), id_)) {
      spdlog::error("agent {}: {}", id_, *error);
    }
  }
  bool first = !registered_;
  registered_ = true;
  registerBackoff_ = options_.registerRetry;
  if (msg.heartbeat_interval_us() > 0 && Duration{msg.heartbeat_interval_us()} != heartbeat_) {
    armHeartbeat(Duration{msg.heartbeat_interval_us()});
    if (options_.masterTimeout < 2 * heartbeat_) options_.masterTimeout = 15 * heartbeat_;
  }
  for (const std::string& key : msg.kill_task_keys()) killQuietly(key);
  if (first) {
    spdlog::info("agent {}: registered with the master ({} task(s))", id_, tasks_.size());
    resendUnacked();
  }
}

void Agent::Impl::onError(const wire::Envelope& envelope) {
  wire::Error msg;
  if (auto error = decodePayload(envelope, msg))
    return refuse(envelope, error->code, error->message);
  if (msg.code() == wire::Error::REPLACED) return onReplaced(msg.message());
  if (!stopReason_.empty()) return;
  if (msg.code() == wire::Error::NOT_REGISTERED) {
    // Many in-flight messages may each earn one; register once per retry period.
    if (registered_ || loop_.now() - lastRegisterSent_ >= options_.registerRetry) {
      spdlog::info("agent {}: the master does not know this agent; registering again", id_);
      registered_ = false;
      sendRegister();
    }
    return;
  }
  spdlog::warn("agent {}: the master refused {} (sequence {}): {}", id_,
               messageTypeName(msg.about()), msg.about_sequence(), msg.message());
}

// Another agent process registered with this agent's id and the master now
// talks to it; the master has declared this one's tasks lost. Kill them
// without updates, drop the kept id (so that a restart without --id
// registers as a new agent), and stop the event loop once the tasks are gone
// or the kill grace is past.
void Agent::Impl::onReplaced(const std::string& why) {
  if (!stopReason_.empty()) return;
  stopReason_ = why;
  registered_ = false;
  spdlog::error(
      "agent {}: the master says: {}. Stopping: its {} task(s) are killed, and its id file is "
      "removed so that, started again without --id, it registers as a new agent",
      id_, why, tasks_.size());
  std::vector<std::string> keys;
  for (const auto& [key, task] : tasks_) keys.push_back(key);
  for (const std::string& key : keys) killQuietly(key);
  const TimePoint deadline = loop_.now() + options_.killGrace + std::chrono::seconds(2);
  stopTimer_ = loop_.every(std::chrono::milliseconds(100), [this, deadline] {
    if (!tasks_.empty() && loop_.now() < deadline) return;
    if (!tasks_.empty()) {
      spdlog::warn("agent {}: {} task(s) had not ended when it stopped", id_, tasks_.size());
    }
    ::unlink(layout_.agentIdFile().c_str());
    loop_.cancel(stopTimer_);
    stopTimer_ = 0;
    loop_.stop();
  });
}

// ---------------------------------------------------------------------------
// Tasks

Agent::Impl::Task& Agent::Impl::newTask(const wire::RunTask& run) {
  std::string key = taskKey(run.framework().framework_id(), run.task().task_id());
  Task& task = tasks_[key];
  task.key = key;
  task.stem = layout_.taskStem(run.framework().framework_id(), run.task().task_id());
  task.run = run;
  task.run.mutable_task()->set_agent_id(id_);
  task.run.SerializeToString(task.checkpoint.mutable_run_task());
  return task;
}

void Agent::Impl::onRunTask(const wire::Envelope& envelope) {
  if (!stopReason_.empty()) {
    return refuse(envelope, wire::Error::INVALID, "this agent is stopping: " + stopReason_);
  }
  wire::RunTask run;
  if (auto error = decodePayload(envelope, run))
    return refuse(envelope, error->code, error->message);
  const std::string& fw = run.framework().framework_id();
  const std::string& taskId = run.task().task_id();
  if (fw.empty())
    return refuse(envelope, wire::Error::INVALID, "field framework.framework_id is empty");
  if (taskId.empty()) return refuse(envelope, wire::Error::INVALID, "field task.task_id is empty");
  std::string key = taskKey(fw, taskId);
  if (tasks_.count(key) != 0) {
    return refuse(envelope, wire::Error::INVALID, fmt::format("task {} already exists here", key));
  }
  // From here on the framework waits for the task: problems become a
  // terminal update, not only a log line.
  // The update goes out before the ERROR, so that the master, which ends a
  // refused launch it has heard nothing else of, sees the agent's reason.
  auto invalid = [&](wire::TaskState state, const std::string& problem, const std::string& reason) {
    Task& task = newTask(run);
    task.executorDone = true;
    addUpdate(task, state, problem, reason);
    maybeRemove(key);
    refuse(envelope, wire::Error::INVALID, problem);
  };
  // The executor protocol separates fields with NUL: none may hold one (the
  // master refuses such tasks already; this agent may serve another master).
  auto nulIn = [](std::string_view text) { return text.find('\0') != std::string_view::npos; };
  if (nulIn(fw)) {
    return invalid(wire::TASK_ERROR, "field framework.framework_id contains NUL", "INVALID_TASK");
  }
  if (nulIn(taskId)) {
    return invalid(wire::TASK_ERROR, "field task.task_id contains NUL", "INVALID_TASK");
  }
  if (nulIn(run.task().command())) {
    return invalid(wire::TASK_ERROR, "field task.command contains NUL", "INVALID_COMMAND");
  }
  for (const auto& [name, value] : run.task().environment()) {
    if (nulIn(name) || nulIn(value)) {
      return invalid(wire::TASK_ERROR,
                     fmt::format("field task.environment: the entry of '{}' contains NUL",
                                 std::string_view(name).substr(0, name.find('\0'))),
                     "INVALID_COMMAND");
    }
  }
  if (run.task().has_health_check()) {
    if (auto why = healthCheckProblem(run.task().health_check())) {
      return invalid(wire::TASK_ERROR, "field task." + *why, "INVALID_TASK");
    }
  }
  if (auto why = killPolicyProblem(run.task().kill_policy())) {
    return invalid(wire::TASK_ERROR, "field task." + *why, "INVALID_TASK");
  }
  Resources resources;
  try {
    resources = Resources::parse(run.task().resources());
  } catch (const Error& e) {
    return invalid(wire::TASK_ERROR, fmt::format("field task.resources: {}", e.what()),
                   "INVALID_RESOURCES");
  }
  if (run.task().command().empty()) {
    return invalid(wire::TASK_ERROR, "field task.command is empty", "INVALID_COMMAND");
  }
  agent::UserIds user;
  if (root_) {
    std::string name = run.framework().user().empty() ? options_.taskUser : run.framework().user();
    auto [it, fresh] = users_.try_emplace(name);
    if (fresh) it->second = agent::lookupUser(name);
    if (!it->second) {
      return invalid(wire::TASK_FAILED,
                     fmt::format("field framework.user: no user '{}' on this agent", name),
                     "UNKNOWN_USER");
    }
    user = *it->second;
  }
  launch(newTask(run), resources, user);
}

void Agent::Impl::launch(Task& task, const Resources& resources, const agent::UserIds& user) {
  const wire::TaskInfo& info = task.run.task();
  const std::string& fw = task.run.framework().framework_id();
  addUpdate(task, wire::TASK_STARTING, "starting the task");

  allot::executor::Launch l;
  l.key = task.key;
  l.sandbox = layout_.sandbox(fw, info.task_id());
  l.statusFile = task.stem + ".status";
  ::unlink(l.statusFile.c_str());  // a stale one would end the new task at once
  if (!cgroupRoot_.empty()) {
    l.cgroup = cgroupRoot_ + "/" +
               agent::fitName(agent::escapeName(id_) + "+" + agent::escapeName(fw) + "+" +
                              agent::escapeName(info.task_id()));
  }
  l.uid = user.uid;
  l.gid = user.gid;
  Scalars total = resources.totalScalars();
  const auto& dims = *resources.dimensions();
  if (auto mem = dims.find("mem")) {
    l.memBytes = static_cast<std::uint64_t>(total(*mem) * 1024.0 * 1024.0);
  }
  if (auto cpus = dims.find("cpus")) l.cpus = total(*cpus);
  l.command = info.command();
  std::map<std::string, std::string> env = {
      {"PATH", "/usr/local/bin:/usr/bin:/bin"},
      {"ALLOT_SANDBOX", l.sandbox},
      {"ALLOT_TASK_ID", info.task_id()},
      {"ALLOT_FRAMEWORK_ID", fw},
      {"ALLOT_AGENT_ID", id_},
  };
  for (const auto& [name, value] : info.environment()) env[name] = value;
  for (const auto& [name, value] : env) l.environment.push_back(name + "=" + value);
  const std::string message = allot::executor::encodeLaunch(l);

  auto fail = [&](wire::TaskState state, const std::string& why, const std::string& reason) {
    task.executorDone = true;
    addUpdate(task, state, why, reason);
    maybeRemove(task.key);
  };
  if (message.size() > allot::executor::kMaxMessage) {
    return fail(wire::TASK_ERROR,
                fmt::format("the task's command and environment take {} bytes; at most {} fit",
                            message.size(), allot::executor::kMaxMessage),
                "INVALID_COMMAND");
  }
  std::string error;
  Executor* executor = executorFor(fw, error);
  if (executor == nullptr) return fail(wire::TASK_FAILED, error, "EXECUTOR_NOT_STARTED");
  ++counters_.launched;
  task.checkpoint.set_executor_pid(executor->pid);
  task.checkpoint.set_executor_start_ticks(executor->ticks);
  task.checkpoint.set_executor_socket(executor->socket);
  executor->tasks.insert(task.key);
  if (executor->idleTimer != 0) {
    loop_.cancel(executor->idleTimer);
    executor->idleTimer = 0;
  }
  // The task is the executor's before the message goes, so a connection
  // lost on the way is taken up again for it (reconnect()). Should the
  // executor die before it takes the message, the task ends with it
  // (EXECUTOR_TERMINATED). Its health check goes first: the executor holds
  // it for the LAUNCH.
  if (info.has_health_check()) {
    const wire::HealthCheck& hc = info.health_check();
    const HealthCheckTimes times = healthCheckTimes(hc);
    allot::executor::Check check;
    check.key = task.key;
    check.type = wire::HealthCheck::Type_Name(hc.type());
    check.delayMs = times.delayMs;
    check.intervalMs = times.intervalMs;
    check.timeoutMs = times.timeoutMs;
    check.graceMs = times.graceMs;
    check.failures = times.consecutiveFailures;
    check.killGraceMs = toMillis(killGraceOf(task));
    check.port = hc.port();
    check.command = hc.command();
    check.path = hc.path();
    post(*executor, allot::executor::encodeCheck(check));
  }
  post(*executor, message);
  addUpdate(task, wire::TASK_RUNNING, "");
}

// The framework's executor, started when it has none connected (or only
// one being stopped); nullptr with `error` set when none can be started.
// Executors are few (one per framework with tasks here): a scan is cheap.
Agent::Impl::Executor* Agent::Impl::executorFor(const std::string& frameworkId,
                                                std::string& error) {
  for (auto& [socket, executor] : executors_) {
    if (executor.frameworkId == frameworkId && executor.fd >= 0 && !executor.stopping) {
      return &executor;
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(layout_.frameworkDir(frameworkId), ec);
  if (ec) {
    error = fmt::format("cannot create {}: {}", layout_.frameworkDir(frameworkId), ec.message());
    return nullptr;
  }
  // Unguessable, and refused to other users by the executor anyway.
  const std::string socket = fmt::format("allot-executor/{}/{:016x}", ::getpid(), random_());
  agent::ExecutorStart start{
      .executor = options_.executorPath,
      .name = fmt::format("framework={} work={}", frameworkId, layout_.workDir),
      .log = layout_.frameworkDir(frameworkId) + "/executor.log",
      .pollMs = static_cast<int>(std::max<std::int64_t>(1, toMillis(options_.memoryPoll))),
      .graceMs = static_cast<int>(toMillis(options_.killGrace)),
      // Outlives an agent restart by far; then exits unless reconnected.
      .idleMs =
          static_cast<int>(std::max<std::int64_t>(60'000, 2 * toMillis(options_.executorIdle)))};
  agent::StartedExecutor started = agent::startExecutor(start, socket);
  if (started.pid < 0) {
    error = started.error;
    return nullptr;
  }
  ++counters_.executors;
  Executor& executor = executors_[socket];
  executor.socket = socket;
  executor.frameworkId = frameworkId;
  executor.pid = started.pid;
  executor.ticks = agent::processStartTicks(started.pid);
  executor.fd = started.fd;
  watch(executor);
  if (started.fd < 0) {
    error = started.error;
    ::kill(started.pid, SIGKILL);  // reaped through its watch
    return nullptr;
  }
  spdlog::debug("agent {}: started executor {} for framework {}", id_, started.pid, frameworkId);
  return &executor;
}

void Agent::Impl::watch(Executor& executor) {
  const std::string socket = executor.socket;
  executor.pidfd = options_.pidfd ? agent::openPidfd(executor.pid) : (errno = ENOSYS, -1);
  if (executor.pidfd >= 0 && agent::processStartTicks(executor.pid) != executor.ticks) {
    // Recovered, and the pid was reused between the checks: it is gone.
    ::close(executor.pidfd);
    executor.pidfd = -1;
    if (executor.fd >= 0) ::close(executor.fd);
    executor.fd = -1;
    loop_.after(Duration{0}, [this, socket] { onExecutorExit(socket); });
    return;
  }
  if (executor.pidfd >= 0) {
    loop_.watchFd(executor.pidfd, [this, socket] { onExecutorExit(socket); });
  } else {
    pollExecutor(socket, std::strerror(errno));
  }
  if (executor.fd >= 0) {
    loop_.watchFd(executor.fd, [this, socket] { onExecutorReadable(socket); });
  }
}

void Agent::Impl::pollExecutor(const std::string& socket, const char* why) {
  if (polled_.empty() && pollTimer_ == 0) {
    spdlog::warn("agent {}: no pidfd ({}); watching executors every 100 ms instead", id_,
                 options_.pidfd ? why : "disabled by the options");
  }
  polled_.insert(socket);
  if (pollTimer_ == 0) {
    pollTimer_ = loop_.every(std::chrono::milliseconds(100), [this] { onPollExecutors(); });
  }
}

void Agent::Impl::onPollExecutors() {
  std::vector<std::string> ended;
  for (const std::string& socket : polled_) {
    auto it = executors_.find(socket);
    if (it == executors_.end()) continue;
    const Executor& executor = it->second;
    int status = 0;
    pid_t reaped = ::waitpid(executor.pid, &status, WNOHANG);
    // Not our child (recovered): gone, a zombie, or another process by now.
    if (reaped == executor.pid ||
        (reaped < 0 && !agent::processAlive(executor.pid, executor.ticks))) {
      ended.push_back(socket);
    }
  }
  for (const std::string& socket : ended) onExecutorExit(socket);
}

void Agent::Impl::onExecutorReadable(const std::string& socket) {
  auto it = executors_.find(socket);
  if (it == executors_.end() || it->second.fd < 0) return;
  Executor& executor = it->second;
  for (int i = 0; i < 256 && executor.fd >= 0; ++i) {
    ssize_t n = ::recv(executor.fd, executorBuffer_.data(), executorBuffer_.size(),
                       MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) return reconnect(executor);
    auto fields = allot::executor::split(
        std::string_view(executorBuffer_.data(),
                         std::min(static_cast<std::size_t>(n), allot::executor::kMaxMessage)));
    if (fields.size() == 2 && fields[0] == "ENDED") {
      taskEnded(executor, std::string(fields[1]));
    } else if (fields.size() == 4 && fields[0] == "HEALTH" &&
               (fields[2] == "0" || fields[2] == "1") &&
               executor.tasks.count(std::string(fields[1]))) {
      taskHealth(std::string(fields[1]), fields[2] == "1", std::string(fields[3]));
    } else {
      spdlog::warn("agent {}: executor {} sent a malformed message of {} bytes; dropped", id_,
                   executor.pid, n);
    }
  }
}

// The executor closed our connection: it is exiting (its exit then ends
// what is left), or another process of our uid connected in our place. In
// the second case connect again, and read the status files of the tasks
// whose ENDED may have gone to the other connection.
void Agent::Impl::reconnect(Executor& executor) {
  disconnect(executor);
  if (executor.tasks.empty()) return;
  const int fd = agent::connectExecutor(executor.socket);
  if (fd < 0) return;
  spdlog::warn("agent {}: executor {} dropped our connection while running {} task(s); reconnected",
               id_, executor.pid, executor.tasks.size());
  executor.fd = fd;
  loop_.watchFd(fd, [this, socket = executor.socket] { onExecutorReadable(socket); });
  // The rest of the queue goes from the loop once writable: no recursion
  // through flush().
  if (!executor.outbox.empty()) watchWritable(executor);
  endWrittenTasks(executor);
}

void Agent::Impl::disconnect(Executor& executor) {
  if (executor.fd < 0) return;
  if (executor.writeWatched) loop_.unwatchFdWritable(executor.fd);
  executor.writeWatched = false;
  loop_.unwatchFd(executor.fd);
  ::close(executor.fd);
  executor.fd = -1;
}

void Agent::Impl::taskEnded(Executor& executor, const std::string& key) {
  if (executor.tasks.erase(key) == 0) return;  // not (or no longer) its task
  if (auto it = tasks_.find(key); it != tasks_.end()) finish(it->second);
  stopWhenIdle(executor);
}

void Agent::Impl::stopWhenIdle(Executor& executor) {
  if (!executor.tasks.empty() || executor.fd < 0 || executor.idleTimer != 0) return;
  executor.idleTimer = loop_.after(options_.executorIdle,
                                   [this, socket = executor.socket] { stopExecutor(socket); });
}

// Tells an idle executor to exit; its watch reaps it.
void Agent::Impl::stopExecutor(const std::string& socket) {
  auto it = executors_.find(socket);
  if (it == executors_.end()) return;
  Executor& executor = it->second;
  executor.idleTimer = 0;
  if (!executor.tasks.empty() || executor.fd < 0) return;
  executor.stopping = true;  // new tasks of the framework go to a new executor
  post(executor, allot::executor::encode({"EXIT"}));  // disconnects once sent
}

void Agent::Impl::post(Executor& executor, std::string message) {
  executor.outbox.push_back(std::move(message));
  if (executor.outbox.size() == 1) flush(executor);
}

void Agent::Impl::flush(Executor& executor) {
  while (!executor.outbox.empty() && executor.fd >= 0) {
    const int sent = agent::trySendToExecutor(executor.fd, executor.outbox.front());
    if (sent == 0) return watchWritable(executor);
    if (sent < 0) {
      // It closed: exiting (its exit ends its tasks), or another peer took
      // its connection (reconnect() sends the rest).
      spdlog::warn("agent {}: cannot write to executor {}: {}", id_, executor.pid,
                   std::strerror(errno));
      return reconnect(executor);
    }
    executor.outbox.pop_front();
  }
  if (executor.writeWatched && executor.fd >= 0) {
    loop_.unwatchFdWritable(executor.fd);
    executor.writeWatched = false;
  }
  if (executor.outbox.empty() && executor.stopping) disconnect(executor);
}

void Agent::Impl::watchWritable(Executor& executor) {
  if (executor.writeWatched) return;
  executor.writeWatched = true;
  loop_.watchFdWritable(executor.fd, [this, socket = executor.socket] {
    if (auto it = executors_.find(socket); it != executors_.end()) flush(it->second);
  });
}

void Agent::Impl::onExecutorExit(const std::string& socket) {
  polled_.erase(socket);
  auto it = executors_.find(socket);
  if (it == executors_.end()) return;
  Executor& executor = it->second;
  if (executor.idleTimer != 0) loop_.cancel(executor.idleTimer);
  disconnect(executor);
  if (executor.pidfd >= 0) {
    loop_.unwatchFd(executor.pidfd);
    // Reaps it when it is our child (not after an agent restart: then init
    // or a subreaper does).
    siginfo_t info{};
    ::waitid(P_PIDFD, static_cast<id_t>(executor.pidfd), &info, WEXITED | WNOHANG);
    ::close(executor.pidfd);
  }
  std::set<std::string> orphans = std::move(executor.tasks);
  if (!orphans.empty()) {
    spdlog::warn("agent {}: executor {} of framework {} exited with {} task(s) not reported ended",
                 id_, executor.pid, executor.frameworkId, orphans.size());
  }
  executors_.erase(it);
  // Those that ended have their status file; the others fail.
  for (const std::string& key : orphans) {
    if (auto t = tasks_.find(key); t != tasks_.end()) finish(t->second);
  }
}

// The task ended (or its executor is gone): turn its status file into the
// terminal update. Idempotent.
void Agent::Impl::finish(Task& task) {
  task.executorDone = true;
  if (task.checkpoint.quiet() || task.terminal) return maybeRemove(task.key);
  auto outcome = readOutcome(task.stem + ".status");
  if (!outcome) {
    addUpdate(task, wire::TASK_FAILED,
              "the executor exited without reporting the task's end (killed, or crashed)",
              "EXECUTOR_TERMINATED");
  } else if (outcome->reason == "TASK_UNHEALTHY_CHECK") {
    // Killed by its executor, as Mesos' executors kill an unhealthy task.
    addUpdate(task, wire::TASK_KILLED, outcome->message + "; " + describeWait(outcome->waitStatus),
              outcome->reason, outcome->waitStatus, false);
  } else if (!outcome->reason.empty()) {
    std::string message = outcome->message;
    if (outcome->reason == "MEMORY_LIMIT" && outcome->waitStatus >= 0) {
      message += "; " + describeWait(outcome->waitStatus);
    }
    addUpdate(task, wire::TASK_FAILED, message, outcome->reason, std::max(outcome->waitStatus, 0));
  } else if (outcome->killed) {
    addUpdate(task, wire::TASK_KILLED, "killed on request; " + describeWait(outcome->waitStatus),
              "KILLED", outcome->waitStatus);
  } else if (WIFEXITED(outcome->waitStatus) && WEXITSTATUS(outcome->waitStatus) == 0) {
    addUpdate(task, wire::TASK_FINISHED, describeWait(outcome->waitStatus), "",
              outcome->waitStatus);
  } else {
    addUpdate(task, wire::TASK_FAILED, describeWait(outcome->waitStatus), "COMMAND_FAILED",
              outcome->waitStatus);
  }
  maybeRemove(task.key);
}

// The executor carries out the kill sequence (SIGTERM, SIGKILL after the
// grace period), so it holds even when the agent dies meanwhile.
void Agent::Impl::signalKill(Task& task, Duration grace) {
  if (task.executorDone || task.terminal) return;
  const int graceMs = static_cast<int>(
      std::clamp<std::int64_t>(toMillis(grace), 0, std::numeric_limits<int>::max()));
  if (auto it = executors_.find(task.checkpoint.executor_socket());
      it != executors_.end() && it->second.fd >= 0) {
    return post(it->second, allot::executor::encode({"KILL", task.key, std::to_string(graceMs)}));
  }
  spdlog::warn("agent {}: cannot ask the executor of {} to kill it: not connected", id_, task.key);
}

void Agent::Impl::killQuietly(const std::string& key) {
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return;
  Task& task = it->second;
  spdlog::info("agent {}: killing {}: the master already declared it ended", id_, key);
  task.checkpoint.set_quiet(true);
  agent::TaskRecord record;
  record.set_quiet(true);
  persist(task, std::move(record));
  if (task.executorDone) return maybeRemove(key);
  signalKill(task, killGraceOf(task));
}

void Agent::Impl::onKillTask(const wire::Envelope& envelope) {
  wire::KillTask msg;
  if (auto error = decodePayload(envelope, msg))
    return refuse(envelope, error->code, error->message);
  std::string key = taskKey(msg.framework_id(), msg.task_id());
  auto it = tasks_.find(key);
  if (it == tasks_.end()) {
    return refuse(envelope, wire::Error::INVALID,
                  fmt::format("field task_id: unknown task {}", key));
  }
  Duration grace = msg.has_grace_period_us()
                       ? Duration{std::max<std::int64_t>(0, msg.grace_period_us())}
                       : options_.killGrace;
  spdlog::info("agent {}: killing {} (grace {:.1f} s)", id_, key, toSeconds(grace));
  signalKill(it->second, grace);
}

void Agent::Impl::onShutdownFramework(const wire::Envelope& envelope) {
  wire::ShutdownFramework msg;
  if (auto error = decodePayload(envelope, msg))
    return refuse(envelope, error->code, error->message);
  std::size_t n = 0;
  for (auto& [key, task] : tasks_) {
    if (task.run.framework().framework_id() == msg.framework_id() && !task.executorDone) {
      signalKill(task, killGraceOf(task));
      ++n;
    }
  }
  spdlog::info("agent {}: shutting down framework {}: killing {} task(s)", id_, msg.framework_id(),
               n);
}

std::string Agent::Impl::openProblem(const std::string& frameworkId, const std::string& taskId,
                                     const std::string& path) const {
  const std::string shown = path.empty() ? "the sandbox" : fmt::format("'{}'", path);
  switch (errno) {
    case ENOENT:
      return fmt::format(
          "no {} of task {} on agent {} (never started here, or its sandbox was "
          "removed)",
          path.empty() ? std::string("sandbox") : path + " in the sandbox", taskId, id_);
    case ELOOP:
      return fmt::format(
          "{} is or passes through a symbolic link, which the agent does not "
          "follow (it could lead out of the sandbox)",
          shown);
    case ENOTDIR:
      return fmt::format("{} is not a directory, or a component on the way to it is not one",
                         shown);
    default:
      return fmt::format("cannot open {} in the sandbox of task {} of framework {}: {}", shown,
                         taskId, frameworkId, std::strerror(errno));
  }
}

// A piece of a file in a task's sandbox, for the master's /api/v1/files/read.
// By path, not by the tasks it knows: a sandbox outlives its task's record.
// The task owns the sandbox and may have put anything there: the file is
// opened without following a symbolic link anywhere on its path and without
// blocking on a FIFO, and read only when it is a regular file with one link
// (a hard link to a file outside, where the kernel allows one, has two).
void Agent::Impl::onReadFile(const wire::Envelope& envelope) {
  wire::ReadFile msg;
  if (auto error = decodePayload(envelope, msg))
    return refuse(envelope, error->code, error->message);
  // One answer kept between reads: its data's buffer is reused, where a
  // fresh megabyte each time cost more in page faults than the read itself.
  wire::FileData& answer = fileData_;
  answer.Clear();
  answer.set_request_id(msg.request_id());
  auto fail = [&](std::string why) {
    answer.set_error(std::move(why));
    dealer_->send(wire::FILE_DATA, id_, answer);
  };
  if (msg.file().empty()) return fail("field file: empty; name stdout, stderr or a path");
  if (auto problem = sandboxPathProblem(msg.file())) {
    return fail(fmt::format("field file: {}", *problem));
  }
  if (msg.length() == 0 || msg.length() > kMaxFileRead || msg.offset() < -1) {
    return fail(
        fmt::format("fields offset {} and length {}: want an offset from -1 and a length "
                    "from 1 to {}",
                    msg.offset(), msg.length(), kMaxFileRead));
  }
  if (msg.framework_id().empty() || msg.task_id().empty()) {
    return fail("fields framework_id and task_id: both are needed");
  }
  agent::UniqueFd file;
  file.fd = agent::openBeneath(layout_.sandbox(msg.framework_id(), msg.task_id()), msg.file(),
                               O_RDONLY | O_NONBLOCK);
  if (file.fd < 0) return fail(openProblem(msg.framework_id(), msg.task_id(), msg.file()));
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) {
    return fail(fmt::format("cannot stat '{}': {}", msg.file(), std::strerror(errno)));
  }
  if (S_ISDIR(st.st_mode)) {
    return fail(fmt::format("'{}' is a directory (`allot ls` lists it)", msg.file()));
  }
  if (!S_ISREG(st.st_mode)) return fail(fmt::format("'{}' is not a regular file", msg.file()));
  if (st.st_nlink > 1) {
    return fail(
        fmt::format("'{}' has {} hard links; the agent reads only files whose one link "
                    "is in the sandbox",
                    msg.file(), st.st_nlink));
  }
  const std::int64_t size = st.st_size;
  const std::int64_t length = msg.length();
  std::int64_t offset = msg.offset() < 0 ? std::max<std::int64_t>(0, size - length) : msg.offset();
  offset = std::min(offset, size);
  const auto want = static_cast<std::size_t>(std::min(length, size - offset));
  std::string& data = *answer.mutable_data();
  data.resize(want);
  std::size_t done = 0;
  while (done < want) {
    const ssize_t n = ::pread(file.fd, data.data() + done, want - done,
                              static_cast<off_t>(offset + static_cast<std::int64_t>(done)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return fail(fmt::format("cannot read '{}': {}", msg.file(), std::strerror(errno)));
    }
    if (n == 0) break;  // shrunk meanwhile
    done += static_cast<std::size_t>(n);
  }
  data.resize(done);
  answer.set_offset(offset);
  answer.set_size(size);
  dealer_->send(wire::FILE_DATA, id_, answer);
}

// A directory of a task's sandbox, for the master's /api/v1/files/browse:
// reached as onReadFile reaches a file; its entries are described, never
// followed (lstat), sorted by name, at most kMaxListEntries of them.
void Agent::Impl::onListFiles(const wire::Envelope& envelope) {
  wire::ListFiles msg;
  if (auto error = decodePayload(envelope, msg))
    return refuse(envelope, error->code, error->message);
  wire::FileList answer;
  answer.set_request_id(msg.request_id());
  auto fail = [&](std::string why) {
    answer.clear_entries();
    answer.set_error(std::move(why));
    dealer_->send(wire::FILE_LIST, id_, answer);
  };
  if (auto problem = sandboxPathProblem(msg.path())) {
    return fail(fmt::format("field path: {}", *problem));
  }
  if (msg.framework_id().empty() || msg.task_id().empty()) {
    return fail("fields framework_id and task_id: both are needed");
  }
  const int fd = agent::openBeneath(layout_.sandbox(msg.framework_id(), msg.task_id()), msg.path(),
                                    O_RDONLY | O_DIRECTORY | O_NONBLOCK);
  if (fd < 0) return fail(openProblem(msg.framework_id(), msg.task_id(), msg.path()));
  DIR* dir = ::fdopendir(fd);  // owns fd from here
  if (dir == nullptr) {
    const int error = errno;
    ::close(fd);
    errno = error;
    return fail(openProblem(msg.framework_id(), msg.task_id(), msg.path()));
  }
  const std::unique_ptr<DIR, int (*)(DIR*)> owned(dir, ::closedir);
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    if (static_cast<std::uint32_t>(answer.entries_size()) == kMaxListEntries) {
      answer.set_truncated(true);
      break;
    }
    struct stat st {};
    // Gone meanwhile: the task may be writing and removing files.
    if (::fstatat(::dirfd(dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    wire::FileEntry& e = *answer.add_entries();
    e.set_name(std::string(name));
    e.set_type(S_ISREG(st.st_mode)   ? wire::FileEntry::FILE
               : S_ISDIR(st.st_mode) ? wire::FileEntry::DIRECTORY
               : S_ISLNK(st.st_mode) ? wire::FileEntry::SYMLINK
                                     : wire::FileEntry::OTHER);
    e.set_size(st.st_size);
    e.set_mode(st.st_mode & 07777);
    e.set_mtime_us(std::int64_t{st.st_mtim.tv_sec} * 1'000'000 + st.st_mtim.tv_nsec / 1'000);
  }
  std::sort(answer.mutable_entries()->begin(), answer.mutable_entries()->end(),
            [](const wire::FileEntry& a, const wire::FileEntry& b) { return a.name() < b.name(); });
  dealer_->send(wire::FILE_LIST, id_, answer);
}

// ---------------------------------------------------------------------------
// Status updates

// The executor says the task's health changed (or says it again to a
// connecting agent): a TASK_RUNNING update carries it, unless the last
// update said the same (a restarted agent has its updates back).
void Agent::Impl::taskHealth(const std::string& key, bool healthy, std::string message) {
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return;
  Task& task = it->second;
  if (task.terminal || task.executorDone || task.checkpoint.quiet()) return;
  for (auto u = task.updates.rbegin(); u != task.updates.rend(); ++u) {
    if (!u->has_healthy()) continue;
    if (u->healthy() == healthy) return;
    break;
  }
  spdlog::info("agent {}: task {}: {}", id_, key, message);
  addUpdate(task, wire::TASK_RUNNING, std::move(message), "TASK_HEALTH_CHECK_STATUS_UPDATED", 0,
            healthy);
}

void Agent::Impl::addUpdate(Task& task, wire::TaskState state, std::string message,
                            std::string reason, int waitStatus, std::optional<bool> healthy) {
  wire::TaskStatus status;
  status.set_task_id(task.run.task().task_id());
  status.set_framework_id(task.run.framework().framework_id());
  status.set_agent_id(id_);
  status.set_state(state);
  status.set_message(std::move(message));
  status.set_reason(std::move(reason));
  status.set_exit_status(waitStatus);
  status.set_timestamp_us(toMicros(loop_.now()));
  if (healthy) status.set_healthy(*healthy);
  std::string uuid(16, '\0');
  for (std::size_t i = 0; i < uuid.size(); i += 8) {
    std::uint64_t r = random_();
    std::memcpy(uuid.data() + i, &r, 8);
  }
  status.set_uuid(uuid);
  agent::TaskRecord record;
  status.SerializeToString(record.mutable_update());
  *task.checkpoint.add_updates() = record.update();
  task.checkpoint.add_acked(false);
  task.terminal = task.terminal || isTerminal(state);
  // Checkpointed before it is sent: a restarted agent resends it, never
  // invents another.
  persist(task, std::move(record));
  if (isTerminal(state)) {
    spdlog::debug("agent {}: task {} {}: {}", id_, task.key, taskStateName(state),
                  status.message());
  }
  if (registered_) send(status);
  retries_.push_back({loop_.now() + options_.statusRetry, task.key, uuid});
  task.updates.push_back(std::move(status));
  armRetry();
}

void Agent::Impl::persist(Task& task, agent::TaskRecord record) {
  if (!task.runTaskLogged) record.set_run_task(task.checkpoint.run_task());
  if (!task.pidLogged && task.checkpoint.executor_pid() != 0) {
    record.set_executor_pid(task.checkpoint.executor_pid());
    record.set_executor_start_ticks(task.checkpoint.executor_start_ticks());
    record.set_executor_socket(task.checkpoint.executor_socket());
  }
  std::string data;
  record.SerializeToString(&data);
  if (auto error = agent::appendRecord(task.stem + ".task", data)) {
    spdlog::error("agent {}: checkpoint of task {} failed ({}); a restart would lose it", id_,
                  task.key, *error);
    return;
  }
  task.runTaskLogged = true;
  task.pidLogged = task.checkpoint.executor_pid() != 0;
}

void Agent::Impl::send(const wire::TaskStatus& status) {
  wire::StatusUpdate update;
  *update.mutable_status() = status;
  dealer_->send(wire::STATUS_UPDATE, id_, update);
  ++counters_.updatesSent;
}

void Agent::Impl::resendUnacked() {
  for (const auto& [key, task] : tasks_) {
    if (task.checkpoint.quiet()) continue;
    for (std::size_t i = 0; i < task.updates.size(); ++i) {
      if (!task.checkpoint.acked(static_cast<int>(i))) send(task.updates[i]);
    }
  }
}

void Agent::Impl::armRetry() {
  if (retryArmed_ || retries_.empty() || !started_) return;
  retryArmed_ = true;
  retryTimer_ = loop_.after(std::max(Duration{0}, retries_.front().due - loop_.now()), [this] {
    retryArmed_ = false;
    retryTimer_ = 0;
    onRetry();
  });
}

void Agent::Impl::onRetry() {
  TimePoint now = loop_.now();
  while (!retries_.empty() && retries_.front().due <= now) {
    Retry retry = std::move(retries_.front());
    retries_.pop_front();
    auto it = tasks_.find(retry.key);
    if (it == tasks_.end() || it->second.checkpoint.quiet()) continue;
    const Task& task = it->second;
    for (std::size_t i = 0; i < task.updates.size(); ++i) {
      if (task.updates[i].uuid() != retry.uuid) continue;
      if (task.checkpoint.acked(static_cast<int>(i))) break;
      if (registered_) send(task.updates[i]);
      retry.due = now + options_.statusRetry;
      retries_.push_back(std::move(retry));
      break;
    }
  }
  armRetry();
}

void Agent::Impl::onAck(const wire::Envelope& envelope) {
  wire::StatusUpdateAck msg;
  if (auto error = decodePayload(envelope, msg))
    return refuse(envelope, error->code, error->message);
  std::string key = taskKey(msg.framework_id(), msg.task_id());
  auto it = tasks_.find(key);
  if (it == tasks_.end()) {
    // A duplicate ack of a task already done and forgotten: harmless.
    spdlog::debug("agent {}: ack for unknown task {}", id_, key);
    return;
  }
  Task& task = it->second;
  for (std::size_t i = 0; i < task.updates.size(); ++i) {
    if (task.updates[i].uuid() != msg.uuid()) continue;
    ++counters_.acks;
    if (task.checkpoint.acked(static_cast<int>(i))) return;
    task.checkpoint.set_acked(static_cast<int>(i), true);
    bool done = task.terminal && task.executorDone &&
                std::all_of(task.checkpoint.acked().begin(), task.checkpoint.acked().end(),
                            [](bool a) { return a; });
    if (!done) {  // a finished task's files are removed instead
      agent::TaskRecord record;
      record.set_acked_uuid(msg.uuid());
      persist(task, std::move(record));
    }
    maybeRemove(key);
    return;
  }
  refuse(envelope, wire::Error::INVALID,
         fmt::format("field uuid: no update {} for task {}", hex(msg.uuid()), key));
}

// A task is forgotten once its executor is gone and its terminal update is
// acknowledged (or it was killed quietly). Its sandbox stays.
void Agent::Impl::maybeRemove(const std::string& key) {
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return;
  Task& task = it->second;
  if (!task.executorDone) return;
  if (!task.checkpoint.quiet()) {
    if (!task.terminal) return;
    for (bool acked : task.checkpoint.acked()) {
      if (!acked) return;
    }
  }
  ::unlink((task.stem + ".task").c_str());
  ::unlink((task.stem + ".status").c_str());
  // The sandbox's age, for collectSandboxes, counts from now (its
  // modification time is when it last gained or lost an entry).
  const std::int64_t us = toMicros(loop_.now());
  const timespec at{static_cast<time_t>(us / 1'000'000), static_cast<long>(us % 1'000'000) * 1000};
  const timespec times[2] = {at, at};
  const std::string sandbox =
      layout_.sandbox(task.run.framework().framework_id(), task.run.task().task_id());
  ::utimensat(AT_FDCWD, sandbox.c_str(), times, AT_SYMLINK_NOFOLLOW);
  forgotten_.push_back(
      {loop_.now(), sandbox, layout_.frameworkDir(task.run.framework().framework_id())});
  tasks_.erase(it);
}

Duration Agent::Impl::sandboxMaxAge() const {
  struct statvfs disk {};
  double used = 0;
  if (::statvfs(layout_.workDir.c_str(), &disk) == 0 && disk.f_blocks > 0) {
    used = 1.0 - static_cast<double>(disk.f_bavail) / static_cast<double>(disk.f_blocks);
  }
  const double factor = std::max(0.0, 1.0 - options_.gcDiskHeadroom - used);
  return Duration{
      static_cast<std::int64_t>(static_cast<double>(options_.gcDelay.count()) * factor)};
}

void Agent::Impl::findOldSandboxes() {
  namespace fs = std::filesystem;
  std::set<std::string> known;  // live, or queued already (forgotten during recovery)
  for (const auto& [key, task] : tasks_) {
    known.insert(layout_.sandbox(task.run.framework().framework_id(), task.run.task().task_id()));
  }
  for (const Forgotten& f : forgotten_) known.insert(f.sandbox);
  std::error_code ec;
  // In the agent's own meta directory: a work directory may be shared.
  for (const auto& entry : fs::directory_iterator(layout_.trashDir(), ec)) {
    leftoverTrash_.push_back(entry.path());
  }
  std::vector<Forgotten> found;
  for (const auto& framework : fs::directory_iterator(layout_.workDir + "/frameworks", ec)) {
    const std::string dir = framework.path().string();
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    frameworkChecks_.insert(dir);  // one left with no sandbox goes at the first sweep
    std::error_code tasksEc;
    for (const auto& task : fs::directory_iterator(dir + "/tasks", tasksEc)) {
      std::string sandbox = task.path().string();
      if (known.count(sandbox) || ::lstat(sandbox.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        continue;
      }
      found.push_back(
          {fromMicros(std::int64_t{st.st_mtim.tv_sec} * 1'000'000 + st.st_mtim.tv_nsec / 1'000),
           std::move(sandbox), dir});
    }
  }
  std::sort(found.begin(), found.end(),
            [](const Forgotten& a, const Forgotten& b) { return a.at < b.at; });
  // Older than anything forgotten since the start: first in the queue.
  forgotten_.insert(forgotten_.begin(), std::make_move_iterator(found.begin()),
                    std::make_move_iterator(found.end()));
}

void Agent::Impl::collectSoon() {
  if (gcSoonTimer_ != 0) return;
  gcSoonTimer_ = loop_.after(std::chrono::milliseconds(100), [this] {
    gcSoonTimer_ = 0;
    collectSandboxes();
  });
}

// O(what is due) per sweep: the queue is in the order tasks were forgotten,
// so a sweep looks at its front only, never at every sandbox on disk.
void Agent::Impl::collectSandboxes() {
  if (remover_ > 0) {
    int status = 0;
    const pid_t reaped = ::waitpid(remover_, &status, WNOHANG);
    if (reaped == 0) {  // still removing the last sweep's
      if (gcBehind_) collectSoon();
      return;
    }
    if (reaped == remover_ && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      spdlog::warn(
          "agent {}: rm -rf of old sandboxes failed (status {}); what is left in {} is "
          "removed at the next start",
          id_, status, layout_.workDir);
    }
    remover_ = -1;
  }
  const Duration maxAge = sandboxMaxAge();
  const TimePoint now = loop_.now();
  std::set<std::string> live, busy;  // sandboxes of known tasks; frameworks with an executor
  for (const auto& [key, task] : tasks_) {
    live.insert(layout_.sandbox(task.run.framework().framework_id(), task.run.task().task_id()));
    busy.insert(layout_.frameworkDir(task.run.framework().framework_id()));
  }
  for (const auto& [socket, executor] : executors_) {
    busy.insert(layout_.frameworkDir(executor.frameworkId));
  }
  std::vector<std::pair<std::string, bool>> old;  // path, and whether a sandbox
  while (!forgotten_.empty() && now - forgotten_.front().at >= maxAge &&
         old.size() < kMaxCollectedPerSweep) {
    Forgotten f = std::move(forgotten_.front());
    forgotten_.pop_front();
    // A task of the same id may run in it again; it is queued again when
    // that one is forgotten.
    if (live.count(f.sandbox)) continue;
    if (!f.frameworkDir.empty()) frameworkChecks_.insert(f.frameworkDir);
    old.emplace_back(std::move(f.sandbox), true);
  }
  gcBehind_ = !forgotten_.empty() && now - forgotten_.front().at >= maxAge;
  // A framework with no sandbox left and nothing running goes too (its
  // executor's log with it); one still busy is looked at again next time.
  std::set<std::string> removedSandboxes;
  for (const auto& [path, sandbox] : old) removedSandboxes.insert(path);
  for (auto it = frameworkChecks_.begin(); it != frameworkChecks_.end();) {
    if (busy.count(*it)) {
      ++it;
      continue;
    }
    bool empty = true;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(*it + "/tasks", ec)) {
      if (!removedSandboxes.count(entry.path().string())) {
        empty = false;
        break;
      }
    }
    if (empty) old.emplace_back(*it, false);
    it = frameworkChecks_.erase(it);
  }
  std::vector<std::string> doomed = std::move(leftoverTrash_);
  leftoverTrash_.clear();
  if (!old.empty()) {
    // Moved aside now: a task of the same id launched while rm runs gets a
    // sandbox of its own.
    const std::string trash = fmt::format("{}/{}", layout_.trashDir(), toMicros(now));
    if ((::mkdir(layout_.trashDir().c_str(), 0700) != 0 && errno != EEXIST) ||
        (::mkdir(trash.c_str(), 0700) != 0 && errno != EEXIST)) {
      spdlog::warn("agent {}: cannot make {}: {}; trying again at the next sweep", id_, trash,
                   std::strerror(errno));
      leftoverTrash_ = std::move(doomed);
      for (auto it = old.rbegin(); it != old.rend(); ++it) {
        if (it->second) {
          forgotten_.push_front({kTimeZero, std::move(it->first), {}});
        } else {
          frameworkChecks_.insert(std::move(it->first));
        }
      }
      return;
    }
    std::size_t n = 0, sandboxes = 0, frameworks = 0;
    for (const auto& [path, sandbox] : old) {
      const std::string to = fmt::format("{}/{}", trash, n++);
      if (::rename(path.c_str(), to.c_str()) != 0) {
        // Gone already: a sandbox forgotten twice, or removed by hand.
        if (errno != ENOENT) {
          spdlog::warn("agent {}: cannot move {} aside: {}", id_, path, std::strerror(errno));
        }
        continue;
      }
      ++(sandbox ? sandboxes : frameworks);
    }
    counters_.sandboxesRemoved += sandboxes;
    doomed.push_back(trash);
    spdlog::info(
        "agent {}: removing {} sandbox(es) older than {} s and {} framework "
        "directory(ies) left without any",
        id_, sandboxes, toSeconds(maxAge), frameworks);
  }
  if (gcBehind_) collectSoon();
  if (doomed.empty()) return;
  std::vector<char*> argv;
  static char rm[] = "/bin/rm", rf[] = "-rf", one[] = "--one-file-system", end[] = "--";
  for (char* a : {rm, rf, one, end}) argv.push_back(a);
  for (std::string& path : doomed) argv.push_back(path.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = -1;
  const int error = ::posix_spawn(&pid, rm, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    spdlog::warn("agent {}: cannot start /bin/rm: {}", id_, std::strerror(error));
    return;
  }
  remover_ = pid;
}

// ---------------------------------------------------------------------------

Agent::Agent(zmq::context_t& context, EventLoop& loop, AgentOptions options)
    : impl_(std::make_unique<Impl>(context, loop, std::move(options))) {}
Agent::~Agent() = default;
void Agent::start() {
  impl_->start();
}
const std::string& Agent::id() const {
  return impl_->id_;
}
const std::string& Agent::resources() const {
  return impl_->resources_;
}
bool Agent::registered() const {
  return impl_->registered_;
}
std::size_t Agent::taskCount() const {
  return impl_->tasks_.size();
}
const AgentCounters& Agent::counters() const {
  return impl_->counters_;
}
const std::string& Agent::stopReason() const {
  return impl_->stopReason_;
}

}  // namespace allot::runtime
