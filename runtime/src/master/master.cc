// The runtime master: see allot/runtime/master.h and docs/runtime-protocol.md.
//
// One event loop owns every piece of state below. Lookups are by id in hash
// maps, and each message touches only the entities it names: no work
// proportional to all tasks or agents happens per message (the periodic
// sweep for timeouts is O(agents + frameworks) per sweep period).

#include "allot/runtime/master.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <filesystem>
#include <future>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "acl.h"
#include "allot/core/cluster.h"
#include "allot/core/error.h"
#include "allot/core/resources.h"
#include "allot/core/text.h"
#include "allot/runtime/event_loop.h"
#include "allot/runtime/reloading_file.h"
#include "allot/runtime/transport.h"
#include "allot/runtime/wire.h"
#include "allot/runtime/zookeeper.h"
#include "http.h"
#include "registry.h"
#include "ui_assets.h"

namespace allot::runtime {

namespace {

using master::HttpResponse;

// Offers per OFFERS message: keeps each frame far below kMaxMessageBytes.
constexpr int kOffersPerMessage = 1000;
// Messages handled per wake-up before timers get their turn.
constexpr std::size_t kMessagesPerDrain = 10'000;
// Connections an agent id remembers as replaced (see Master::Impl::replaced):
// each is one agent process told to stop.
constexpr std::size_t kReplacedConnectionsKept = 8;

// Returns true iff frameworks (drivers) send messages of this type.
bool fromFramework(wire::MessageType type) {
  switch (type) {
    case wire::SUBSCRIBE:
    case wire::ACCEPT:
    case wire::DECLINE:
    case wire::SUPPRESS:
    case wire::REVIVE:
    case wire::KILL:
    case wire::RECONCILE:
    case wire::ACKNOWLEDGE:
    case wire::TEARDOWN:
    case wire::FRAMEWORK_HEARTBEAT:
    case wire::DEMAND:
      return true;
    default:
      return false;
  }
}
// Longest timer the master arms (failover timeouts may say "forever").
constexpr Duration kLongestTimer = std::chrono::hours(24 * 365 * 10);
// Removed frameworks the state lists (completed_frameworks), as Mesos'
// --max_completed_frameworks (50).
constexpr std::size_t kRemovedFrameworksKept = 50;

// Last `capacity` samples of a latency, in seconds, with count and sum since
// start: the p50/p99 of /metrics. Also every sample since start in fixed
// buckets (a Prometheus histogram), because a window's quantiles say nothing
// of the samples it dropped: whether 99% of all launches took at most 20 ms
// is a bucket's count, exactly.
class LatencyWindow {
 public:
  // Upper bounds of the histogram's buckets, in seconds (+Inf is implied).
  static constexpr std::array<double, 17> kBounds = {
      0.0005, 0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30};

  explicit LatencyWindow(std::size_t capacity = 4096) : capacity_(capacity) {}
  void add(double seconds) {
    const auto bucket = std::lower_bound(kBounds.begin(), kBounds.end(), seconds) - kBounds.begin();
    ++buckets_[static_cast<std::size_t>(bucket)];
    if (samples_.size() < capacity_) {
      samples_.push_back(seconds);
    } else {
      samples_[next_] = seconds;
      next_ = (next_ + 1) % capacity_;
    }
    ++count_;
    sum_ += seconds;
  }
  double quantile(double q) const {
    if (samples_.empty()) return std::nan("");
    std::vector<double> sorted = samples_;
    auto k = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(k), sorted.end());
    return sorted[k];
  }
  std::uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  // Samples at most kBounds[i] (i < kBounds.size()), or all (i == kBounds.size()).
  std::uint64_t cumulative(std::size_t i) const {
    return std::accumulate(buckets_.begin(), buckets_.begin() + static_cast<std::ptrdiff_t>(i + 1),
                           std::uint64_t{0});
  }

 private:
  std::array<std::uint64_t, kBounds.size() + 1> buckets_{};
  std::size_t capacity_;
  std::vector<double> samples_;
  std::size_t next_ = 0;
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

enum class AgentStatus { kActive, kUnreachable, kRecovering };

// What an operator did to an agent (/api/v1/deactivate, drain, reactivate):
// anything but kNone keeps it out of offers. A draining agent's tasks are
// killed; it is drained once none is left. Kept in the registry.
enum class Maintenance { kNone, kDeactivated, kDraining, kDrained };

std::string_view maintenanceName(Maintenance m) {
  switch (m) {
    case Maintenance::kNone:
      return "";
    case Maintenance::kDeactivated:
      return "deactivated";
    case Maintenance::kDraining:
      return "draining";
    case Maintenance::kDrained:
      return "drained";
  }
  return "";
}

std::optional<Maintenance> parseMaintenance(std::string_view text) {
  for (Maintenance m : {Maintenance::kNone, Maintenance::kDeactivated, Maintenance::kDraining,
                        Maintenance::kDrained}) {
    if (text == maintenanceName(m)) return m;
  }
  return std::nullopt;
}

std::string_view statusName(AgentStatus s) {
  switch (s) {
    case AgentStatus::kActive:
      return "active";
    case AgentStatus::kUnreachable:
      return "unreachable";
    case AgentStatus::kRecovering:
      return "recovering";
  }
  return "?";
}

struct Agent {
  std::string id;
  // The CURVE key name (clients file) it registered with: only that key may
  // register it again (kept in the registry). Empty without one.
  std::string keyName;
  std::string hostname;
  std::string resourcesText;  // as the agent reports them (static reservations included)
  std::string attributesText;
  // What the allocator knows: the reported resources with `reserved` moved
  // into their roles' pools when `reservationApplied`.
  Resources total;
  // Dynamic reservations operators made (/api/v1/reserve), kept in the
  // registry and applied whenever the agent registers. Not applied while
  // the agent reports too few unreserved resources to hold them.
  Resources reserved;
  bool reservationApplied = true;
  std::string routingId;
  // Connections (agent processes) another registration with this id took
  // over, newest last: told REPLACED whatever they send, so that an agent
  // told to stop cannot take the id back. A few suffice: each is one
  // process, and a process keeps its connection for its life.
  std::vector<std::string> replacedRoutingIds;
  AgentStatus status = AgentStatus::kRecovering;
  TimePoint lastSeen{};
  TimePoint unreachableSince{};  // when status became kUnreachable
  bool inAllocator = false;
  Maintenance maintenance = Maintenance::kNone;
  Duration drainGrace{0};                  // the kill grace period of a drain
  std::unordered_set<std::string> tasks;   // task keys, terminal ones until acknowledged
  std::unordered_set<std::string> offers;  // offer ids
};

struct Framework {
  std::string id;
  wire::FrameworkInfo info;  // info.framework_id() == id
  std::string routingId;
  bool connected = false;
  bool suppressed = false;
  TimePoint lastSeen{};
  TimePoint disconnectedAt{};
  EventLoop::TimerId failoverTimer = 0;
  std::unordered_set<std::string> tasks;
  std::unordered_set<std::string> offers;
  // Master-generated updates waiting for an acknowledgement, by uuid.
  std::unordered_map<std::string, wire::TaskStatus> pending;
};

struct Task {
  std::string key;  // framework_id/task_id
  std::string frameworkId;
  std::string agentId;
  wire::TaskInfo info;
  Resources resources;
  wire::TaskStatus status;  // the latest
  bool terminal = false;
  std::string terminalUuid;        // uuid of the first terminal update
  bool holdsResources = false;     // counted as used in the allocator
  bool preempting = false;         // killed for the policy's reclaim, not yet terminal
  bool drainKilled = false;        // killed because its agent drains
  std::uint64_t unit = kNoTask;    // Demand.Task.key of the offer it was launched in, if any
  std::uint64_t launchSeq = 0;     // launch order (0: recovered from an agent)
  std::uint64_t runSequence = 0;   // Envelope.sequence of the RUN_TASK sent for it
  std::uint64_t killSequence = 0;  // and of the last KILL_TASK
  std::uint64_t completedSeq = 0;
};

struct Offer {
  std::string id;
  std::string frameworkId;
  std::string agentId;
  Resources resources;
  TimePoint sentAt{};
  EventLoop::TimerId timer = 0;
  std::uint64_t taskKey = kNoTask;  // the pending task the policy sized it to
};

std::string taskKey(std::string_view framework, std::string_view task) {
  std::string key;
  key.reserve(framework.size() + 1 + task.size());
  key.append(framework).append("/").append(task);
  return key;
}

// Routing ids ZeroMQ makes up are binary; print them as hex.
std::string printable(const std::string& routingId) {
  bool plain = !routingId.empty();
  for (char c : routingId) plain = plain && c >= 0x20 && c < 0x7f;
  if (plain) return routingId;
  std::string hex = "0x";
  for (char c : routingId)
    hex += fmt::format("{:02x}", static_cast<unsigned>(static_cast<std::uint8_t>(c)));
  return hex;
}

// Ids (agent, framework and task ids) name files and cgroups on the agents
// (hence kMaxIdBytes) and cross the executor protocol, whose fields are
// NUL-separated C strings (hence no control characters).
// Why `id` cannot be an id (empty is up to the caller), or nullopt.
std::optional<std::string> badId(std::string_view id) {
  if (id.size() > kMaxIdBytes) {
    return fmt::format("{} bytes long; at most {} bytes are allowed", id.size(), kMaxIdBytes);
  }
  for (std::size_t i = 0; i < id.size(); ++i) {
    const auto c = static_cast<unsigned char>(id[i]);
    if (c == 0) return fmt::format("must not contain NUL (byte {})", i);
    if (c < 0x20 || c == 0x7f) {
      return fmt::format("must not contain control characters (0x{:02x} at byte {})", c, i);
    }
  }
  return std::nullopt;
}

// badId for an agent or framework id, which also names a directory: no '/'.
std::optional<std::string> badOwnerId(std::string_view id) {
  if (id.find('/') != std::string_view::npos) return "must not contain '/'";
  return badId(id);
}

// An answer of the HTTP API: `j` as JSON, never cached. Unlike dump()'s
// default, invalid UTF-8 (names and logs from peers) becomes U+FFFD instead
// of an exception.
HttpResponse jsonResponse(int status, const nlohmann::json& j, HttpResponse::Headers headers = {}) {
  headers.emplace_back("Cache-Control", "no-store");
  return HttpResponse{status, "application/json",
                      j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                      std::move(headers)};
}

// A refusal of the HTTP API: {"error": why}.
HttpResponse errorResponse(int status, const std::string& why, HttpResponse::Headers headers = {}) {
  return jsonResponse(status, nlohmann::json{{"error", why}}, std::move(headers));
}

// Why `text` (a command or an environment entry, a C string at exec) cannot
// be passed to a task, or nullopt.
std::optional<std::string> hasNul(std::string_view text) {
  if (auto i = text.find('\0'); i != std::string_view::npos) {
    return fmt::format("must not contain NUL (byte {})", i);
  }
  return std::nullopt;
}

// Why the environment of `info` cannot be passed to the task, or nullopt.
std::optional<std::string> environmentProblem(const wire::TaskInfo& info) {
  // In name order, so that the answer does not depend on the map's.
  std::map<std::string_view, std::string_view> sorted(info.environment().begin(),
                                                      info.environment().end());
  for (const auto& [name, value] : sorted) {
    if (auto why = hasNul(name)) return fmt::format("environment: name {}", *why);
    if (auto why = hasNul(value)) return fmt::format("environment['{}']: {}", name, *why);
  }
  return std::nullopt;
}

// The size of the frame that launches `task` (an upper bound of the envelope).
std::size_t runTaskBytes(const wire::FrameworkInfo& framework, const wire::TaskInfo& task,
                         std::string_view agentId) {
  // RunTask: two length-delimited fields; Envelope: version, type, sender
  // "master", sequence, payload and recipient, each with tag and length.
  constexpr std::size_t kOverhead = 2 * 11 + 64;
  // The task goes out with agent_id set: count the agent id twice.
  return framework.ByteSizeLong() + task.ByteSizeLong() + 2 * agentId.size() + kOverhead;
}

// `reported` with `reserved`'s amounts moved from the unreserved pool into
// their roles' pools; nullopt when the unreserved pool lacks them.
std::optional<Resources> withReservations(const Resources& reported, const Resources& reserved) {
  if (reserved.empty()) return reported;
  const Resources plain = reserved.withRole(kUnreservedRole);
  if (!reported.contains(plain)) return std::nullopt;
  Resources total = reported;
  total -= plain;
  total += reserved;
  return total;
}

// The text syntax of `r`, or "" when it holds nothing (toString says "{}").
std::string textOf(const Resources& r) {
  return r.empty() ? std::string() : toString(r);
}

// An operator request the master refuses: the HTTP status and why.
struct OperatorError : Error {
  OperatorError(int status_, const std::string& message) : Error(message), status(status_) {}
  int status;
};

Duration clampTimer(Duration d) {
  return std::clamp(d, Duration{0}, kLongestTimer);
}

FrameworkInfo toCore(const wire::FrameworkInfo& w) {
  FrameworkInfo info;
  info.id = FrameworkId(w.framework_id());
  info.name = w.name();
  info.role = w.role();
  info.weight = w.weight();
  info.principal = w.principal();
  info.failoverTimeout = Duration{w.failover_timeout_us()};
  return info;
}

}  // namespace

struct Master::Impl {
  Impl(zmq::context_t& context, const Clock& clock, MasterOptions options);

  // --- plumbing --------------------------------------------------------------
  void onReadable();
  void onCurveRequests();
  void onHandshakeEvents();
  // At most one line a second of one kind (see curveRefusedLog).
  struct LogLimit {
    TimePoint at{};
    std::uint64_t heldBack = 0;
  };
  void logCurve(LogLimit& limit, const std::string& what);
  void afterEvent();
  void dispatch(const Incoming& in);
  void bad(const Incoming& in, wire::Error::Code code, std::string_view field,
           const std::string& message);
  template <class M>
  bool parse(const Incoming& in, M& out);
  // Every master message names its recipient (Envelope.recipient): one
  // connection may carry many agents or frameworks.
  void send(const std::string& routingId, const std::string& recipient, wire::MessageType type,
            const google::protobuf::MessageLite& body);
  std::string newUuid();
  TimePoint now() const { return loop.now(); }

  // --- agents ------------------------------------------------------------------
  Agent* activeAgent(const Incoming& in);
  bool replaced(const Agent& agent, const Incoming& in);
  static std::string replacedMessage(const std::string& agentId);
  void onRegisterAgent(const Incoming& in);
  // Why --acls refuse `principal` (empty: none) `action` on `object`, or
  // nullopt when they allow it (or there are none); a refusal is counted.
  std::optional<std::string> unauthorized(master::AclAction action, const std::string& principal,
                                          const std::optional<std::string>& object);
  const master::Acls& currentAcls();  // re-read when the file changed; needs acls
  void onAgentError(const Incoming& in, const wire::Error& error);
  void markUnreachable(Agent& agent, const std::string& why);
  void forgetUnreachableAgents(TimePoint t);
  template <class Write>
  void toRegistry(Write&& write);
  void addToAllocator(Agent& agent);

  // --- frameworks ----------------------------------------------------------------
  Framework* subscribedFramework(const Incoming& in);
  void onSubscribe(const Incoming& in);
  void disconnect(Framework& fw, const std::string& why);
  // Removes a framework, killing its tasks; returns how many had not ended.
  std::size_t removeFramework(std::string id, const std::string& why);
  // A framework the master learns of without a subscription (registry,
  // agent report): disconnected, and given at least the recovery window to
  // re-subscribe, whatever its own failover timeout: a master restart is not
  // the framework's doing.
  Framework& adoptFramework(const wire::FrameworkInfo& info);
  void armFailover(Framework& fw, Duration atLeast = Duration{0});
  Duration recoveryWindow() const {
    return opt.agentReregisterTimeout > Duration{0} ? opt.agentReregisterTimeout : opt.agentTimeout;
  }

  // --- offers ------------------------------------------------------------------
  void requestRound();
  void runRound();
  void reclaim(const Reclaim& reclaim);
  void dropOffer(Offer& offer);  // forget it (resources handled by the caller)
  void rescind(const std::string& offerId, bool tell);
  void rescindAll(std::unordered_set<std::string> offerIds, bool tell);
  std::optional<Filters> filtersOf(const Incoming& in, bool present, const wire::Filters& filters);
  void recover(const std::string& fw, const std::string& agent, const Resources& resources,
               std::optional<Filters> filters, std::uint64_t taskKey);
  void recover(const std::string& fw, const std::string& agent, const Resources& resources,
               std::optional<Filters> filters);
  void onAccept(Framework& fw, const Incoming& in);
  void onDecline(Framework& fw, const Incoming& in);

  // --- tasks -------------------------------------------------------------------
  void onStatusUpdate(Agent& agent, const Incoming& in);
  void onAcknowledge(Framework& fw, const Incoming& in);
  void onKill(Framework& fw, const Incoming& in);
  void onDemand(Framework& fw, const Incoming& in);
  void onReconcile(Framework& fw, const Incoming& in);
  void masterUpdate(Framework& fw, wire::TaskStatus status);
  void answer(Framework& fw, wire::TaskStatus status);  // reconciliation: no uuid
  wire::TaskStatus makeStatus(const std::string& fw, const std::string& task,
                              const std::string& agent, wire::TaskState state,
                              const std::string& reason, const std::string& message);
  void setState(Task& task, const wire::TaskStatus& status);
  void becomeTerminal(Task& task, const std::string& uuid);
  void recoverTask(Task& task);
  void complete(const std::string& key);
  void eraseTask(const std::string& key);
  const Task* findAnyTask(const std::string& key) const;
  // SIGTERM -> SIGKILL for `task`: its kill policy's, else --kill-grace-period.
  Duration killGraceOf(const Task& task) const {
    return killGrace(task.info.kill_policy()).value_or(opt.killGracePeriod);
  }
  void countState(wire::TaskState state, int delta);

  // --- timers ------------------------------------------------------------------
  void sweep();
  void resendPending();

  // --- HTTP ----------------------------------------------------------------------
  HttpResponse http(const master::HttpRequest& request);
  // Agents by status and connected frameworks: /metrics and the state's counts.
  struct Census {
    std::array<std::size_t, 3> agentsByStatus{};  // indexed by AgentStatus
    std::size_t activeFrameworks = 0;
    std::size_t agents(AgentStatus s) const { return agentsByStatus[static_cast<std::size_t>(s)]; }
  };
  Census census() const;
  // Everything, or (with `only`) the lists named there: the UI asks for the
  // tab it shows, not 10 MB of agents every 2 s.
  // One page of the agents (GET /api/v1/state?agents_limit=...): the web
  // UI's Agents tab, which would otherwise make and fetch every agent every
  // 2 s (10 MB and 0.4 s of this loop at 40,000 agents).
  struct AgentPage {
    std::size_t offset = 0;
    std::size_t limit = 0;
    // The column to sort by, resolved once from its name (a key of the
    // agents' JSON rows) rather than in every comparison.
    enum class Sort {
      kId,
      kHostname,
      kStatus,
      kTasks,
      kTotal,
      kReserved,
      kUsed,
      kOffered,
      kFree,
      kAttributes,
      kLastSeen
    };
    static constexpr std::array<std::pair<std::string_view, Sort>, 11> kSorts{
        {{"id", Sort::kId},
         {"hostname", Sort::kHostname},
         {"status", Sort::kStatus},
         {"tasks", Sort::kTasks},
         {"total", Sort::kTotal},
         {"reserved", Sort::kReserved},
         {"used", Sort::kUsed},
         {"offered", Sort::kOffered},
         {"free", Sort::kFree},
         {"attributes", Sort::kAttributes},
         {"last_seen", Sort::kLastSeen}}};
    Sort sort = Sort::kId;
    std::string sortName = "id";
    bool descending = false;
    std::string filter;  // lower case; matched in id, hostname, status, maintenance, attributes
  };
  nlohmann::json stateJson(const std::set<std::string, std::less<>>* only = nullptr,
                           const std::optional<AgentPage>& page = std::nullopt);
  struct AgentUse {
    Resources used, offered;  // by live tasks, by outstanding offers
    std::size_t running = 0;  // live tasks
  };
  AgentUse agentUse(const Agent& agent) const;
  nlohmann::json agentJson(const std::string& id, const Agent& agent) const;
  nlohmann::json agentPageJson(const AgentPage& page) const;

  // With --operator-token-file, the answer for a request without the token
  // (`what` says what needs it), else nullopt.
  std::optional<HttpResponse> tokenRefusal(const master::HttpRequest& request,
                                           std::string_view what) const;

  // --- sandbox files (GET /api/v1/files/read, /api/v1/files/browse) -----------
  // A read or a listing the master asked an agent for, until its FILE_DATA
  // or FILE_LIST, or the timeout.
  struct FileRead {
    std::string agentId;
    std::string frameworkId, taskId, file;  // file: the path read or listed
    bool list = false;                      // LIST_FILES, not READ_FILE
    bool raw = false;                       // format=raw: the bytes as text/plain, not JSON
    std::uint64_t sequence = 0;             // of the message sent, which an ERROR names
    std::shared_ptr<std::promise<HttpResponse>> answer;
    EventLoop::TimerId timer = 0;
  };
  static constexpr Duration kFileReadTimeout = std::chrono::seconds(5);
  HttpResponse sandboxFiles(const master::HttpRequest& request, bool list);
  void onFileData(Agent& agent, const Incoming& in);
  void onFileList(Agent& agent, const Incoming& in);
  // The read `requestId` that `agent` may answer, else nullptr (and the
  // answer is refused as bad input when no such read was asked of it).
  FileRead* fileReadFor(Agent& agent, const Incoming& in, std::uint64_t requestId, bool list);
  void answerFileRead(std::uint64_t id, HttpResponse response);

  // --- operator API (POST /api/v1/...) -----------------------------------------
  // Each throws OperatorError for a request it refuses and returns the
  // resulting role or agent as JSON.
  HttpResponse operatorCall(const master::HttpRequest& request);
  nlohmann::json setWeight(const nlohmann::json& body);
  nlohmann::json setQuota(const nlohmann::json& body);
  nlohmann::json operatorMaintenance(const nlohmann::json& body, Maintenance to);
  nlohmann::json operatorTeardown(const nlohmann::json& body);
  // Kills the live tasks of a draining agent (again after it re-registers),
  // and marks it drained when none is left.
  void continueDrain(Agent& agent);
  nlohmann::json operatorReservation(const nlohmann::json& body, bool unreserve);
  // Moves `change` between the agent's unreserved pool and its roles' pools,
  // in the allocator (where it must be available: throws InvalidArgument
  // otherwise) and in the agent's books and registry row. `by` names who
  // asked, for the log.
  void changeReservation(Agent& agent, const Resources& change, bool unreserve,
                         std::string_view by);
  // Why `change` cannot be reserved (or unreserved) on `agent` whoever asks:
  // its reservation is not applied now, or an unreserve names more than its
  // dynamic reservations (those in its --resources are static). Nullopt: it may.
  std::optional<std::string> reservationConflict(const Agent& agent, const Resources& change,
                                                 bool unreserve) const;
  // ACCEPT's reserve and unreserve: applied to `remaining` (the offers).
  void acceptReservations(Framework& fw, const Incoming& in, const wire::Accept& msg, Agent& agent,
                          Resources& remaining);
  void applyRole(const master::Registry::RoleRow& role);  // throws Error
  void storeRole(const master::Registry::RoleRow& role);
  static nlohmann::json roleJson(const master::Registry::RoleRow& role);
  void storeAgent(const Agent& agent);
  // Recomputes agent.total from what it reported and its reservations.
  void applyReservations(Agent& agent, const Resources& reported);
  nlohmann::json utilizationJson();
  void sampleUtilization();
  std::string metricsText();

  const Clock& clock;
  MasterOptions opt;
  EventLoop loop;
  // Admits CURVE clients (a clients file given); made before the router,
  // whose handshakes ask it.
  std::unique_ptr<CurveAuthenticator> curveAuth;
  RouterSocket router;
  std::unique_ptr<HandshakeMonitor> routerMonitor;  // with CURVE: failed handshakes
  std::uint64_t curveHandshakeFailures = 0;
  // CURVE refusals and failed handshakes are each logged at most once a
  // second: anyone who reaches the port can cause them.
  LogLimit curveRefusedLog, curveFailedLog;
  // --acls, and the requests they refused by action.
  std::optional<ReloadingFile<master::Acls>> acls;
  std::array<std::uint64_t, master::kAclActions> aclDenials{};
  std::vector<Incoming> drained;  // slots for one drain of the socket, kept between drains
  std::unique_ptr<Allocator> allocator;
  std::unique_ptr<master::Registry> registry;
  std::unique_ptr<master::HttpServer> httpServer;
  std::string masterId;
  std::string stopReason;
  TimePoint startedAt;
  std::mt19937_64 random{std::random_device{}()};

  std::unordered_map<std::string, Agent> agents;
  std::unordered_map<std::string, Framework> frameworks;
  std::unordered_set<std::string> removedFrameworks;
  // The latest removed frameworks, newest last, for the state's
  // completed_frameworks (in memory only, as Mesos keeps them).
  struct RemovedFramework {
    wire::FrameworkInfo info;
    std::string reason;
    TimePoint at{};
    std::size_t tasksKilled = 0;
  };
  std::deque<RemovedFramework> recentlyRemoved;
  std::unordered_map<std::string, Task> tasks;
  std::unordered_map<std::string, Task> completed;
  // Declared after httpServer: destroyed first, so that a worker waiting for
  // a read hears a broken promise (503) before the server joins it.
  std::unordered_map<std::uint64_t, FileRead> fileReads;
  std::uint64_t nextFileRead = 1;
  std::deque<std::pair<std::string, std::uint64_t>> completedOrder;
  std::uint64_t completedSeq = 0;
  std::unordered_map<std::string, Offer> offers;
  // Roles an operator configured (weight or quota), as stored.
  std::map<std::string, master::Registry::RoleRow> roleConfig;
  std::uint64_t nextAgent = 1, nextFramework = 1, nextOffer = 1, nextLaunch = 1;

  std::size_t recovering = 0;         // agents of the registry not yet re-registered
  std::uint64_t forgottenAgents = 0;  // unreachable agents dropped (forgetUnreachableAgents)
  bool roundPending = false;
  TimePoint lastRound{};
  bool registryDirty = false;
  std::string lastRegistryError;
  TimePoint lastRegistryErrorAt{};
  // After a failed registry write the next waits, doubling from 100 ms to
  // 5 s: a write that fails (ZooKeeper gone) must not cost every event the
  // work of building it.
  Duration registryBackoff{0};
  TimePoint registryRetryAt{};

  // Metrics.
  std::array<std::uint64_t, 64> received{};
  std::map<std::string, std::uint64_t> badMessages;  // by error code name
  std::array<std::int64_t, 16> tasksByState{};
  std::uint64_t offersMade = 0, offersAccepted = 0, offersDeclined = 0, offersRescinded = 0;
  std::uint64_t tasksLaunched = 0, tasksPreempted = 0, rounds = 0;
  // Rounds whose policy threw (a bug in it: a Python policy, say), and when
  // one was last logged: the first of a run of failures is logged, then at
  // most one a minute, counting the others.
  std::uint64_t failedRounds = 0, failedRoundsLogged = 0;
  std::optional<TimePoint> lastFailedRoundLog;
  LatencyWindow roundLatency;
  LatencyWindow registryWriteLatency;  // flushes that wrote
  std::uint64_t registryWriteFailures = 0;
  LatencyWindow offerToLaunch;

  // The cluster's use over time, oldest first (/api/v1/utilization). Scalars
  // are over the allocator's dimensions, which only grow by appending.
  struct UtilizationSample {
    TimePoint at;
    Scalars total, allocated, offered;  // allocated includes offered
    std::uint32_t agents = 0, frameworks = 0, tasks = 0, offers = 0;
  };
  std::deque<UtilizationSample> utilization;
};

Master::Impl::Impl(zmq::context_t& context, const Clock& c, MasterOptions options)
    : clock(c),
      opt(std::move(options)),
      loop(c),
      curveAuth([&]() -> std::unique_ptr<CurveAuthenticator> {
        if (!opt.curve) return nullptr;
        if (!isCurveKey(opt.curve->keys.secretKey))
          throw InvalidArgument("--curve-key: the master's CURVE secret key is missing");
        if (opt.curve->clientsFile.empty()) return nullptr;
        return std::make_unique<CurveAuthenticator>(context, opt.curve->clientsFile);
      }()),
      router([&]() -> RouterSocket {
        try {
          return RouterSocket(context, opt.endpoint, opt.curve ? &*opt.curve : nullptr);
        } catch (const zmq::error_t& e) {
          throw Error(
              fmt::format("master: cannot bind {}: {} (another master running? choose "
                          "another with --port)",
                          opt.endpoint, e.what()));
        }
      }()) {
  if (opt.allocationInterval <= Duration{0})
    throw InvalidArgument("--allocation-interval must be positive");
  if (opt.agentTimeout <= Duration{0}) throw InvalidArgument("--agent-timeout must be positive");
  if (opt.frameworkTimeout <= Duration{0})
    throw InvalidArgument("--framework-timeout must be positive");
  if (opt.unreachableAgentAge <= Duration{0})
    throw InvalidArgument("--unreachable-agent-age must be positive");
  if (opt.agentHeartbeatInterval <= Duration{0} || opt.frameworkHeartbeatInterval <= Duration{0})
    throw InvalidArgument("heartbeat intervals must be positive");
  if (opt.updateRetryInterval <= Duration{0})
    throw InvalidArgument("the update retry interval must be positive");
  if (opt.utilizationInterval < Duration{0})
    throw InvalidArgument("--utilization-interval must not be negative");
  if (opt.utilizationInterval > Duration{0} &&
      (opt.utilizationSamples == 0 || opt.utilizationSamples > 1'000'000)) {
    throw InvalidArgument(fmt::format(
        "--utilization-samples {}: keep between 1 and 1,000,000 samples", opt.utilizationSamples));
  }
  if (opt.offerTimeout < Duration{0} || opt.roundDelay < Duration{0} ||
      opt.agentReregisterTimeout < Duration{0})
    throw InvalidArgument("timeouts must not be negative");
  // The ids the master assigns ("<master-id>-F<n>", "-S<n>", up to 12 bytes
  // more) must pass the id rule when frameworks and agents present them again.
  if (opt.masterId.size() > kMaxIdBytes - 12) {
    throw InvalidArgument(fmt::format(
        "--master-id: {} bytes long; at most {} are allowed (the ids it assigns add up to 12)",
        opt.masterId.size(), kMaxIdBytes - 12));
  }
  if (auto why = badOwnerId(opt.masterId)) {
    throw InvalidArgument(fmt::format("--master-id {:?}: {}", opt.masterId, *why));
  }
  allocator = opt.makePolicy ? opt.makePolicy(opt.params) : makeAllocator(opt.policy, opt.params);
  if (!allocator) throw InvalidArgument("the policy maker made no policy");
  if (!opt.aclsFile.empty()) {
    acls.emplace(opt.aclsFile, master::readAclFile);
    const master::Acls& a = acls->value();
    spdlog::info("master: ACLs of {}: {} rule(s), {}", opt.aclsFile, a.ruleCount(),
                 a.permissive ? "permissive (what no rule matches is allowed)"
                              : "not permissive (what no rule matches is refused)");
    if (!opt.curve || opt.curve->clientsFile.empty()) {
      spdlog::warn(
          "master: --acls without --curve-clients: principals are what frameworks claim and "
          "agents have none; the ACLs guard against mistakes, not against hostile peers");
    }
  }
  if (opt.curve) {
    routerMonitor = std::make_unique<HandshakeMonitor>(context, router.socket());
    spdlog::info(
        "master: CURVE: agents and frameworks connect with this master's public key {}; {}",
        opt.curve->keys.publicKey,
        curveAuth ? fmt::format("client keys admitted are those of {} ({} now)",
                                opt.curve->clientsFile, curveAuth->clientCount())
                  : std::string("any client key is admitted (--curve-allow-any)"));
  }
  startedAt = clock.now();
  masterId = opt.masterId.empty() ? makeMasterId(startedAt) : opt.masterId;

  if (!opt.zk.empty()) {
    std::optional<ZkUrl> url = ZkUrl::parse(opt.zk);
    if (!url) throw InvalidArgument(fmt::format("--zk '{}': not a zk:// URL", opt.zk));
    registry = std::make_unique<master::ZkRegistry>(*url, opt.zkSessionTimeout, opt.zkMemberNode);
  } else if (!opt.workDir.empty()) {
    registry = std::make_unique<master::SqliteRegistry>(std::filesystem::path(opt.workDir) /
                                                        "registry.sqlite");
  }
  if (registry) {
    master::Registry::Contents contents = registry->load();
    for (std::string& id : contents.removedFrameworks) removedFrameworks.insert(std::move(id));
    for (const wire::FrameworkInfo& info : contents.frameworks) {
      if (removedFrameworks.count(info.framework_id())) continue;
      try {
        adoptFramework(info);
      } catch (const Error& e) {
        spdlog::warn("master: registry framework '{}' skipped: {}", info.framework_id(), e.what());
      }
    }
    for (const master::Registry::RoleRow& role : contents.roles) {
      try {
        applyRole(role);
      } catch (const Error& e) {
        spdlog::warn("master: registry role '{}' skipped: {}", role.name, e.what());
      }
    }
    for (master::Registry::AgentRow& row : contents.agents) {
      Agent agent;
      agent.id = row.id;
      agent.keyName = std::move(row.keyName);
      if (auto m = parseMaintenance(row.maintenance)) {
        agent.maintenance = *m;
        agent.drainGrace = Duration{std::max<std::int64_t>(0, row.drainGraceUs)};
      } else {
        spdlog::warn("master: registry agent '{}': unknown maintenance '{}' ignored", row.id,
                     row.maintenance);
      }
      agent.hostname = std::move(row.hostname);
      agent.resourcesText = std::move(row.resources);
      agent.attributesText = std::move(row.attributes);
      try {
        agent.reserved = Resources::parse(row.reserved);
      } catch (const Error& e) {
        spdlog::warn("master: registry agent '{}': reservation '{}' skipped: {}", row.id,
                     row.reserved, e.what());
      }
      try {
        applyReservations(agent, Resources::parse(agent.resourcesText));
      } catch (const Error&) {  // shown as text only until the agent re-registers
      }
      agent.status = AgentStatus::kRecovering;
      agents.emplace(row.id, std::move(agent));
      ++recovering;
    }
    const Duration reregister = recoveryWindow();
    if (recovering > 0) {
      loop.after(clampTimer(reregister), [this] {
        for (auto& [id, agent] : agents) {
          if (agent.status != AgentStatus::kRecovering) continue;
          spdlog::warn(
              "master: agent {} ({}) of the registry did not re-register in time; its "
              "tasks are gone",
              id, agent.hostname);
          agent.status = AgentStatus::kUnreachable;
          agent.unreachableSince = now();
        }
        recovering = 0;
      });
    }
    spdlog::info("master {}: registry {} holds {} agents, {} frameworks and {} configured roles",
                 masterId, registry->where(), contents.agents.size(), frameworks.size(),
                 roleConfig.size());
  }

  loop.watch(router.socket(), [this] { onReadable(); });
  if (curveAuth) loop.watch(curveAuth->socket(), [this] { onCurveRequests(); });
  if (routerMonitor) loop.watch(routerMonitor->socket(), [this] { onHandshakeEvents(); });
  loop.every(opt.allocationInterval, [this] {
    runRound();
    afterEvent();
  });
  const Duration sweepPeriod = std::max(Duration{std::chrono::milliseconds(1)},
                                        std::min(opt.agentTimeout, opt.frameworkTimeout) / 5);
  loop.every(sweepPeriod, [this] {
    try {
      sweep();
    } catch (const std::exception& e) {
      spdlog::error("master: internal error in the timeout sweep: {}", e.what());
    }
    afterEvent();
  });
  loop.every(opt.updateRetryInterval, [this] { resendPending(); });
  if (opt.utilizationInterval > Duration{0}) {
    sampleUtilization();  // a first point for the UI at once
    loop.every(opt.utilizationInterval, [this] { sampleUtilization(); });
  }
  if (opt.httpPort >= 0) {
    httpServer = std::make_unique<master::HttpServer>(
        loop, opt.httpHost, opt.httpPort,
        [this](const master::HttpRequest& request) { return http(request); },
        std::chrono::seconds(10), opt.httpTlsCert, opt.httpTlsKey);
  }
  spdlog::info("master {} listening on {} ({} port {}), policy {}", masterId, router.endpoint(),
               opt.httpTlsCert.empty() ? "HTTP" : "HTTPS", httpServer ? httpServer->port() : -1,
               opt.policy);
}

// ------------------------------------------------------------------ plumbing

void Master::Impl::logCurve(LogLimit& limit, const std::string& what) {
  const TimePoint t = now();
  if (limit.at != TimePoint{} && t - limit.at < std::chrono::seconds(1)) {
    ++limit.heldBack;
    return;
  }
  limit.at = t;
  if (limit.heldBack == 0) {
    spdlog::warn("master: {}", what);
  } else {
    spdlog::warn("master: {} ({} more such since the last such line)", what,
                 std::exchange(limit.heldBack, 0));
  }
}

void Master::Impl::onCurveRequests() {
  curveAuth->handle(
      [this](const CurveAuthenticator::Decision& d) {
        if (d.name) {
          spdlog::debug("master: CURVE client {} admitted from {}", *d.name, d.address);
          return;
        }
        logCurve(curveRefusedLog,
                 fmt::format("refused a CURVE client at {}: its key {} is not in {}",
                             d.address.empty() ? "an unknown address" : d.address, d.key,
                             opt.curve->clientsFile));
      },
      [](const std::string& warning) { spdlog::error("master: {}", warning); });
}

// Handshakes that fail before the clients file is asked: a client that does
// not know this master's public key, or does not use CURVE.
void Master::Impl::onHandshakeEvents() {
  routerMonitor->drain([this](const HandshakeEvent& e) {
    if (e.kind != HandshakeEvent::kFailedProtocol && e.kind != HandshakeEvent::kFailedOther) return;
    ++curveHandshakeFailures;
    logCurve(curveFailedLog,
             fmt::format(
                 "a client's CURVE handshake on {} failed ({}): it does not use CURVE, or not this "
                 "master's public key",
                 e.endpoint, handshakeFailureDetail(e)));
  });
}

void Master::Impl::onReadable() {
  // Read what is queued, then handle the frameworks' messages first. ZeroMQ
  // fair-queues peers, so with a hundred agents streaming status updates a
  // framework's ACCEPT waited behind a hundred other messages each turn
  // (offer -> launch took seconds under load). Order within one peer is
  // kept: a peer is either a framework or an agent, and each group keeps
  // its arrival order.
  // The slots outlive the drain, so parsing reuses their strings instead of
  // allocating per message.
  std::size_t count = 0;
  for (; count < kMessagesPerDrain; ++count) {
    if (count == drained.size()) drained.emplace_back();
    const bool got =
        router.receive(drained[count], [this](const std::string& routingId, const WireError& e) {
          ++badMessages[wire::Error::Code_Name(e.code)];
          spdlog::warn("master: refused a frame from connection {}: {}", printable(routingId),
                       e.message);
        });
    if (!got) break;
  }
  const std::span<const Incoming> batch(drained.data(), count);
  auto handle = [this](const Incoming& in) {
    // A handler that throws has a bug, not bad input (that is refused
    // above); log it with the message and keep serving.
    try {
      dispatch(in);
    } catch (const std::exception& e) {
      spdlog::error("master: internal error handling {} from '{}': {}",
                    messageTypeName(in.envelope.type()), in.envelope.sender(), e.what());
    }
  };
  for (const Incoming& in : batch) {
    if (fromFramework(in.envelope.type())) handle(in);
  }
  for (const Incoming& in : batch) {
    if (!fromFramework(in.envelope.type())) handle(in);
  }
  afterEvent();
}

void Master::Impl::afterEvent() {
  if (!registryDirty || !registry) return;
  if (registryBackoff > Duration{0} && now() < registryRetryAt) return;  // a timer comes
  registryDirty = false;
  const auto start = std::chrono::steady_clock::now();
  try {
    registry->flush();
    registryWriteLatency.add(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    registryBackoff = Duration{0};
  } catch (const master::RegistryFenced& e) {
    spdlog::error("master: {}; stopping", e.what());
    stopReason = e.what();
    loop.stop();
  } catch (const Error& e) {
    ++registryWriteFailures;
    registryDirty = true;
    registryBackoff = std::clamp<Duration>(registryBackoff * 2, std::chrono::milliseconds(100),
                                           std::chrono::seconds(5));
    registryRetryAt = now() + registryBackoff;
    loop.after(registryBackoff, [this] { afterEvent(); });
    // Once per distinct failure and 10 s: a registry out of reach fails
    // every retry until it comes back.
    if (e.what() != lastRegistryError || now() - lastRegistryErrorAt >= std::chrono::seconds(10)) {
      spdlog::error("master: {} (kept in memory; tried again in {:.1f} s)", e.what(),
                    toSeconds(registryBackoff));
      lastRegistryError = e.what();
      lastRegistryErrorAt = now();
    }
  }
}

void Master::Impl::send(const std::string& routingId, const std::string& recipient,
                        wire::MessageType type, const google::protobuf::MessageLite& body) {
  router.send(routingId, type, "master", body, recipient);
}

void Master::Impl::bad(const Incoming& in, wire::Error::Code code, std::string_view field,
                       const std::string& message) {
  ++badMessages[wire::Error::Code_Name(code)];
  const wire::Envelope& e = in.envelope;
  spdlog::warn("master: {} from '{}' (connection {}), field {}: {}", messageTypeName(e.type()),
               e.sender(), printable(in.routingId), field, message);
  wire::Error error;
  error.set_code(code);
  error.set_message(field.empty() ? message : fmt::format("{}: {}", field, message));
  error.set_about(e.type());
  error.set_about_sequence(e.sequence());
  send(in.routingId, e.sender(), wire::ERROR, error);
}

template <class M>
bool Master::Impl::parse(const Incoming& in, M& out) {
  if (auto error = decodePayload(in.envelope, out)) {
    bad(in, error->code, "payload", error->message);
    return false;
  }
  return true;
}

std::string Master::Impl::newUuid() {
  std::string uuid(16, '\0');
  for (std::size_t i = 0; i < 16; i += 8) {
    const std::uint64_t r = random();
    std::memcpy(uuid.data() + i, &r, 8);
  }
  return uuid;
}

void Master::Impl::dispatch(const Incoming& in) {
  const wire::Envelope& e = in.envelope;
  const auto type = static_cast<std::size_t>(e.type());
  if (type < received.size()) ++received[type];
  switch (e.type()) {
    case wire::REGISTER_AGENT:
      onRegisterAgent(in);
      return;
    case wire::AGENT_HEARTBEAT:
      if (activeAgent(in))
        send(in.routingId, in.envelope.sender(), wire::AGENT_HEARTBEAT_ACK, wire::AgentHeartbeat{});
      return;
    case wire::STATUS_UPDATE:
      if (Agent* agent = activeAgent(in)) onStatusUpdate(*agent, in);
      return;
    case wire::FILE_DATA:
      if (Agent* agent = activeAgent(in)) onFileData(*agent, in);
      return;
    case wire::FILE_LIST:
      if (Agent* agent = activeAgent(in)) onFileList(*agent, in);
      return;
    case wire::SUBSCRIBE:
      onSubscribe(in);
      return;
    case wire::ERROR: {
      wire::Error error;
      if (!error.ParseFromString(e.payload())) {
        spdlog::warn("master: ERROR from '{}' (connection {}) whose payload does not parse",
                     e.sender(), printable(in.routingId));
        return;
      }
      spdlog::info("master: ERROR from '{}' (connection {}): {} about {}: {}", e.sender(),
                   printable(in.routingId), wire::Error::Code_Name(error.code()),
                   messageTypeName(error.about()), error.message());
      onAgentError(in, error);
      return;
    }
    default:
      // The rest of what frameworks send is handled below.
      if (fromFramework(e.type())) break;
      bad(in, wire::Error::INVALID, "type",
          fmt::format("{} is not a message the master accepts", messageTypeName(e.type())));
      return;
  }
  Framework* fw = subscribedFramework(in);
  if (!fw) return;
  switch (e.type()) {
    case wire::ACCEPT:
      onAccept(*fw, in);
      return;
    case wire::DECLINE:
      onDecline(*fw, in);
      return;
    case wire::SUPPRESS:
      fw->suppressed = true;
      allocator->suppress(FrameworkId(fw->id));
      return;
    case wire::REVIVE:
      fw->suppressed = false;
      allocator->revive(FrameworkId(fw->id));
      requestRound();
      return;
    case wire::KILL:
      onKill(*fw, in);
      return;
    case wire::DEMAND:
      onDemand(*fw, in);
      return;
    case wire::RECONCILE:
      onReconcile(*fw, in);
      return;
    case wire::ACKNOWLEDGE:
      onAcknowledge(*fw, in);
      return;
    case wire::TEARDOWN:
      spdlog::info("master: framework {} tears down", fw->id);
      removeFramework(fw->id, "it tore itself down (TEARDOWN)");
      return;
    case wire::FRAMEWORK_HEARTBEAT:
      send(in.routingId, fw->id, wire::FRAMEWORK_HEARTBEAT_ACK, wire::AgentHeartbeat{});
      return;
    default:
      return;
  }
}

// --------------------------------------------------------------------- agents

Agent* Master::Impl::activeAgent(const Incoming& in) {
  auto it = agents.find(in.envelope.sender());
  if (it != agents.end() && it->second.routingId != in.routingId && replaced(it->second, in)) {
    return nullptr;
  }
  if (it == agents.end() || it->second.status != AgentStatus::kActive ||
      it->second.routingId != in.routingId) {
    bad(in, wire::Error::NOT_REGISTERED, "sender",
        fmt::format("agent '{}' is not registered with master {}; register again",
                    in.envelope.sender(), masterId));
    return nullptr;
  }
  it->second.lastSeen = now();
  return &it->second;
}

// One agent id, one agent process: the latest registration wins. A message
// from a connection that a later registration took over (an agent restarted
// while the master still counted on its old process, or a second agent
// started from a copy of the first's work directory) is answered REPLACED,
// and the agent that gets it stops, so the two never take turns at the
// master and at each other's tasks. Returns whether `in` came from such a
// connection.
bool Master::Impl::replaced(const Agent& agent, const Incoming& in) {
  const auto& old = agent.replacedRoutingIds;
  if (std::find(old.begin(), old.end(), in.routingId) == old.end()) return false;
  bad(in, wire::Error::REPLACED, "sender", replacedMessage(agent.id));
  return true;
}

std::string Master::Impl::replacedMessage(const std::string& agentId) {
  return fmt::format(
      "agent '{}' registered again from another connection, which the master now uses; "
      "this agent must stop (two live agents with one id: was a work directory copied?)",
      agentId);
}

// An agent that refuses a RUN_TASK or a KILL_TASK (a task id still in use
// there, a kill of a task it does not know) sends no status update for it:
// without an answer here the task would stay STAGING or RUNNING for good.
// The refusal names the sequence of the master's message; the task sent in
// it ends with a master-generated update.
void Master::Impl::onAgentError(const Incoming& in, const wire::Error& error) {
  if ((error.about() == wire::READ_FILE || error.about() == wire::LIST_FILES) &&
      error.about_sequence() != 0) {
    // An agent that cannot read or list files (one of an earlier version,
    // during an upgrade) answers at once, not after the read's timeout.
    for (const auto& [id, read] : fileReads) {
      if (read.agentId != in.envelope.sender() || read.sequence != error.about_sequence()) continue;
      answerFileRead(id, errorResponse(502, fmt::format("agent '{}' cannot read the file: {}",
                                                        read.agentId, error.message())));
      return;
    }
    return;
  }
  const bool run = error.about() == wire::RUN_TASK;
  if ((!run && error.about() != wire::KILL_TASK) || error.about_sequence() == 0) return;
  auto a = agents.find(in.envelope.sender());
  if (a == agents.end() || a->second.status != AgentStatus::kActive ||
      a->second.routingId != in.routingId) {
    return;
  }
  Agent& agent = a->second;
  Task* found = nullptr;
  for (const std::string& key : agent.tasks) {
    Task& task = tasks.at(key);
    if ((run ? task.runSequence : task.killSequence) == error.about_sequence()) {
      found = &task;
      break;
    }
  }
  // A task the agent reported on needs nothing more: an invalid launch the
  // agent ended with its own TASK_ERROR before refusing it, or a launch
  // refused late, after the task started.
  if (!found || found->terminal || (run && found->status.state() != wire::TASK_STAGING)) return;
  Task& task = *found;
  auto f = frameworks.find(task.frameworkId);
  if (f == frameworks.end()) return;
  wire::TaskStatus status =
      run ? makeStatus(task.frameworkId, task.info.task_id(), agent.id, wire::TASK_FAILED,
                       "LAUNCH_REFUSED",
                       fmt::format("agent '{}' refused the launch: {}", agent.id, error.message()))
          : makeStatus(
                task.frameworkId, task.info.task_id(), agent.id, wire::TASK_LOST, "UNKNOWN_TASK",
                fmt::format("agent '{}' does not know this task: {}", agent.id, error.message()));
  spdlog::warn("master: task {} on agent {} ends {}: {}", task.key, agent.id,
               taskStateName(status.state()), status.message());
  const std::string uuid = newUuid();
  status.set_uuid(uuid);
  setState(task, status);
  becomeTerminal(task, uuid);
  masterUpdate(f->second, status);
}

const master::Acls& Master::Impl::currentAcls() {
  return acls->get([](const std::string& error) {
    spdlog::error("master: {}; the ACLs read before stay in force", error);
  });
}

std::optional<std::string> Master::Impl::unauthorized(master::AclAction action,
                                                      const std::string& principal,
                                                      const std::optional<std::string>& object) {
  if (!acls) return std::nullopt;
  const master::Acls& current = currentAcls();
  const std::optional<std::string> subject =
      principal.empty() ? std::nullopt : std::optional<std::string>(principal);
  const master::Acls::Decision decision = current.authorize(action, subject, object);
  if (decision.allowed) return std::nullopt;
  ++aclDenials[static_cast<std::size_t>(action)];
  std::string what;
  switch (action) {
    case master::AclAction::kRegisterFramework:
      what = fmt::format("register frameworks in role '{}'", object.value_or(""));
      break;
    case master::AclAction::kRunTask:
      what = object ? fmt::format("run tasks as user '{}'", *object)
                    : std::string(
                          "run tasks as the agents' --task-user (the framework names no "
                          "user)");
      break;
    case master::AclAction::kRegisterAgent:
      what = "register agents";
      break;
  }
  return fmt::format(
      "{} may not {} (--acls {}: {})",
      subject ? fmt::format("principal '{}'", *subject) : std::string("a peer with no principal"),
      what, acls->path(), decision.rule);
}

void Master::Impl::onRegisterAgent(const Incoming& in) {
  wire::RegisterAgent msg;
  if (!parse(in, msg)) return;
  Resources total;
  Attributes attributes;
  try {
    total = Resources::parse(msg.resources());
  } catch (const Error& e) {
    bad(in, wire::Error::INVALID, "resources", e.what());
    return;
  }
  if (total.empty()) {
    bad(in, wire::Error::INVALID, "resources", "an agent must offer some resources");
    return;
  }
  try {
    attributes = Attributes::parse(msg.attributes());
  } catch (const Error& e) {
    bad(in, wire::Error::INVALID, "attributes", e.what());
    return;
  }
  if (auto why = badOwnerId(msg.agent_id())) {
    bad(in, wire::Error::INVALID, "agent_id", *why);
    return;
  }
  if (auto why = unauthorized(master::AclAction::kRegisterAgent, in.keyName, std::nullopt)) {
    bad(in, wire::Error::NOT_AUTHORIZED, "principal", *why);
    return;
  }
  std::string id = msg.agent_id();
  if (id.empty()) id = fmt::format("{}-S{}", masterId, nextAgent++);
  if (auto found = agents.find(id); found != agents.end() && !in.keyName.empty() &&
                                    !found->second.keyName.empty() &&
                                    found->second.keyName != in.keyName) {
    bad(in, wire::Error::NOT_AUTHORIZED, "agent_id",
        fmt::format("agent '{}' registered with the CURVE key '{}'; this connection's key is '{}'",
                    id, found->second.keyName, in.keyName));
    return;
  }
  auto [it, added] = agents.try_emplace(id);
  Agent& agent = it->second;
  if (!added && replaced(agent, in)) return;
  agent.id = id;
  if (!in.keyName.empty()) agent.keyName = in.keyName;
  if (!agent.routingId.empty() && agent.routingId != in.routingId) {
    // Tell the process behind the old connection to stop, in case it lives.
    spdlog::info(
        "master: agent {} registers from a new connection {}; the old one, {}, is told to stop "
        "(it is gone already when the agent restarted)",
        id, printable(in.routingId), printable(agent.routingId));
    auto& old = agent.replacedRoutingIds;
    if (old.size() == kReplacedConnectionsKept) old.erase(old.begin());
    old.push_back(agent.routingId);
    wire::Error error;
    error.set_code(wire::Error::REPLACED);
    error.set_message("sender: " + replacedMessage(id));
    send(agent.routingId, id, wire::ERROR, error);
  }
  const bool wasRecovering = !added && agent.status == AgentStatus::kRecovering;
  if (wasRecovering) --recovering;
  rescindAll(agent.offers, true);
  if (agent.inAllocator) {
    allocator->removeAgent(AgentId(id));
    agent.inAllocator = false;
  }
  for (const std::string& key : agent.tasks) tasks.at(key).holdsResources = false;

  // Reconcile what the agent reports with what the master knows.
  wire::AgentRegistered reply;
  std::unordered_set<std::string> reported;
  for (int i = 0; i < msg.tasks_size(); ++i) {
    const wire::TaskInfo& info = msg.tasks(i);
    const wire::TaskStatus* status = nullptr;
    if (i < msg.task_statuses_size() && msg.task_statuses(i).task_id() == info.task_id()) {
      status = &msg.task_statuses(i);
    } else {
      for (const wire::TaskStatus& s : msg.task_statuses()) {
        if (s.task_id() == info.task_id()) status = &s;
      }
    }
    if (!status || status->framework_id().empty() || info.task_id().empty()) {
      spdlog::warn(
          "master: REGISTER_AGENT from '{}': task '{}' has no status naming its "
          "framework; ignored",
          id, info.task_id());
      continue;
    }
    const std::string key = taskKey(status->framework_id(), info.task_id());
    reported.insert(key);
    const bool runs = !isTerminal(status->state());
    if (auto t = tasks.find(key); t != tasks.end()) {
      Task& known = t->second;
      if (known.agentId != id || known.terminal) {
        if (runs) reply.add_kill_task_keys(key);
      } else {
        // The agent knows best how its task is doing; a terminal state it
        // reports arrives as an update with this uuid, forwarded then.
        wire::TaskStatus latest = *status;
        latest.set_agent_id(id);
        setState(known, latest);
        if (!runs) becomeTerminal(known, status->uuid());
      }
      continue;
    }
    if (completed.count(key)) {
      if (runs) reply.add_kill_task_keys(key);
      continue;
    }
    auto f = frameworks.find(status->framework_id());
    if (f == frameworks.end() && !removedFrameworks.count(status->framework_id())) {
      for (const wire::FrameworkInfo& info2 : msg.frameworks()) {
        if (info2.framework_id() != status->framework_id()) continue;
        try {
          adoptFramework(info2);
          f = frameworks.find(status->framework_id());
        } catch (const Error& e) {
          spdlog::warn("master: REGISTER_AGENT from '{}': framework '{}' refused: {}", id,
                       info2.framework_id(), e.what());
        }
      }
    }
    Resources resources;
    bool parsed = true;
    try {
      resources = Resources::parse(info.resources());
    } catch (const Error& e) {
      spdlog::warn("master: REGISTER_AGENT from '{}': task '{}' resources: {}", id, key, e.what());
      parsed = false;
    }
    if (f == frameworks.end() || !parsed) {
      if (runs) reply.add_kill_task_keys(key);
      continue;
    }
    Task task;
    task.key = key;
    task.frameworkId = status->framework_id();
    task.agentId = id;
    task.info = info;
    task.info.set_agent_id(id);
    task.resources = std::move(resources);
    task.status = *status;
    task.status.set_agent_id(id);
    task.terminal = !runs;
    if (task.terminal) task.terminalUuid = status->uuid();
    countState(task.status.state(), +1);
    f->second.tasks.insert(key);
    agent.tasks.insert(key);
    tasks.emplace(key, std::move(task));
  }
  // Tasks the master placed here that the agent no longer has are lost.
  std::vector<std::string> missing;
  for (const std::string& key : agent.tasks) {
    const Task& task = tasks.at(key);
    if (!reported.count(key) && !task.terminal) missing.push_back(key);
  }
  for (const std::string& key : missing) {
    Task& task = tasks.at(key);
    wire::TaskStatus status =
        makeStatus(task.frameworkId, task.info.task_id(), id, wire::TASK_LOST, "TASK_NOT_REPORTED",
                   "the agent re-registered without this task");
    const std::string uuid = newUuid();
    status.set_uuid(uuid);
    setState(task, status);
    becomeTerminal(task, uuid);
    masterUpdate(frameworks.at(task.frameworkId), status);
  }

  agent.hostname = msg.hostname();
  agent.resourcesText = toString(total);
  agent.attributesText = toString(attributes);
  applyReservations(agent, total);
  agent.routingId = in.routingId;
  agent.lastSeen = now();
  agent.status = AgentStatus::kActive;
  try {
    addToAllocator(agent);
  } catch (const Error& e) {
    agent.status = AgentStatus::kUnreachable;
    bad(in, wire::Error::INVALID, "resources",
        fmt::format("the allocator refused agent '{}': {}", id, e.what()));
    return;
  }
  storeAgent(agent);
  reply.set_agent_id(id);
  reply.set_heartbeat_interval_us(toMicros(opt.agentHeartbeatInterval));
  send(in.routingId, id, wire::AGENT_REGISTERED, reply);
  if (agent.maintenance == Maintenance::kDraining) {
    // Kills sent before it went away may not have reached it: again.
    for (const std::string& key : agent.tasks) tasks.at(key).drainKilled = false;
    continueDrain(agent);
  }
  spdlog::info("master: agent {} ({}) {} with {} ({} tasks, {} to kill)", id, agent.hostname,
               added ? "registered" : "re-registered", agent.resourcesText, agent.tasks.size(),
               reply.kill_task_keys_size());
  requestRound();
}

void Master::Impl::addToAllocator(Agent& agent) {
  AgentInfo info;
  info.id = AgentId(agent.id);
  info.hostname = agent.hostname;
  info.resources = agent.total;
  info.attributes = Attributes::parse(agent.attributesText);
  std::unordered_map<std::string, Resources> usedBy;
  for (const std::string& key : agent.tasks) {
    const Task& task = tasks.at(key);
    if (!task.terminal) usedBy[task.frameworkId] += task.resources;
  }
  std::vector<std::pair<FrameworkId, Resources>> used;
  for (auto& [fw, resources] : usedBy) used.emplace_back(FrameworkId(fw), std::move(resources));
  try {
    allocator->addAgent(info, used);
    for (const std::string& key : agent.tasks) {
      Task& task = tasks.at(key);
      task.holdsResources = !task.terminal;
    }
  } catch (const Error& e) {
    // What the tasks report does not fit the agent's total: keep the agent,
    // and do not count those tasks (their resources will not be recovered).
    spdlog::warn(
        "master: agent {}: reported tasks do not fit its resources ({}); adding it "
        "without them",
        agent.id, e.what());
    allocator->addAgent(info);
  }
  agent.inAllocator = true;
  if (agent.maintenance != Maintenance::kNone) allocator->setAgentActive(info.id, false);
}

void Master::Impl::applyReservations(Agent& agent, const Resources& reported) {
  std::optional<Resources> total = withReservations(reported, agent.reserved);
  agent.reservationApplied = total.has_value();
  if (!total) {
    spdlog::warn(
        "master: agent {} ({}): its dynamic reservation {} does not fit the unreserved part of "
        "what it offers ({}); not applied until it does",
        agent.id, agent.hostname, toString(agent.reserved), toString(reported));
  }
  agent.total = total ? std::move(*total) : reported;
}

void Master::Impl::storeAgent(const Agent& agent) {
  toRegistry([&](master::Registry& r) {
    r.putAgent({agent.id, agent.hostname, agent.resourcesText, agent.attributesText,
                textOf(agent.reserved), agent.keyName,
                std::string(maintenanceName(agent.maintenance)),
                agent.maintenance == Maintenance::kNone ? 0 : toMicros(agent.drainGrace)});
  });
}

void Master::Impl::markUnreachable(Agent& agent, const std::string& why) {
  spdlog::warn("master: agent {} ({}) is unreachable: {}; its {} tasks are lost", agent.id,
               agent.hostname, why, agent.tasks.size());
  rescindAll(agent.offers, true);
  if (agent.inAllocator) {
    allocator->removeAgent(AgentId(agent.id));
    agent.inAllocator = false;
  }
  agent.status = AgentStatus::kUnreachable;
  agent.unreachableSince = now();
  std::vector<std::string> keys(agent.tasks.begin(), agent.tasks.end());
  for (const std::string& key : keys) {
    Task& task = tasks.at(key);
    task.holdsResources = false;
    if (task.terminal) continue;
    wire::TaskStatus status = makeStatus(task.frameworkId, task.info.task_id(), agent.id,
                                         wire::TASK_LOST, "AGENT_UNREACHABLE", why);
    const std::string uuid = newUuid();
    status.set_uuid(uuid);
    setState(task, status);
    becomeTerminal(task, uuid);
    masterUpdate(frameworks.at(task.frameworkId), status);
  }
}

// ----------------------------------------------------------------- frameworks

Framework* Master::Impl::subscribedFramework(const Incoming& in) {
  auto it = frameworks.find(in.envelope.sender());
  if (it == frameworks.end() || !it->second.connected) {
    bad(in, wire::Error::NOT_REGISTERED, "sender",
        fmt::format("framework '{}' is not subscribed to master {}; subscribe again",
                    in.envelope.sender(), masterId));
    return nullptr;
  }
  Framework& fw = it->second;
  if (fw.routingId != in.routingId) {
    // Another connection took the framework over (failover); this one is stale.
    bad(in, wire::Error::INVALID, "sender",
        fmt::format("framework '{}' is subscribed from another connection (failed over)", fw.id));
    return nullptr;
  }
  fw.lastSeen = now();
  return &fw;
}

Framework& Master::Impl::adoptFramework(const wire::FrameworkInfo& info) {
  wire::FrameworkInfo copy = info;
  if (copy.role().empty()) copy.set_role(std::string(kUnreservedRole));
  if (copy.weight() == 0) copy.set_weight(1);
  allocator->addFramework(toCore(copy));
  allocator->setFrameworkActive(FrameworkId(copy.framework_id()), false);
  Framework& fw = frameworks[copy.framework_id()];
  fw.id = copy.framework_id();
  fw.info = std::move(copy);
  fw.connected = false;
  fw.disconnectedAt = now();
  armFailover(fw, recoveryWindow());
  return fw;
}

void Master::Impl::armFailover(Framework& fw, Duration atLeast) {
  if (fw.failoverTimer) loop.cancel(fw.failoverTimer);
  const std::string id = fw.id;
  const Duration timeout = std::max(Duration{fw.info.failover_timeout_us()}, atLeast);
  fw.failoverTimer = loop.after(clampTimer(timeout), [this, id] {
    auto it = frameworks.find(id);
    if (it == frameworks.end() || it->second.connected) return;
    it->second.failoverTimer = 0;
    removeFramework(id, "its failover timeout passed");
    afterEvent();
  });
}

void Master::Impl::onSubscribe(const Incoming& in) {
  wire::Subscribe msg;
  if (!parse(in, msg)) return;
  wire::FrameworkInfo info = msg.framework();
  if (info.role().empty()) info.set_role(std::string(kUnreservedRole));
  if (info.weight() == 0) info.set_weight(1);
  if (!(info.weight() > 0) || !std::isfinite(info.weight())) {
    bad(in, wire::Error::INVALID, "framework.weight",
        fmt::format("must be a positive number, not {}", info.weight()));
    return;
  }
  if (info.failover_timeout_us() < 0) {
    bad(in, wire::Error::INVALID, "framework.failover_timeout_us", "must not be negative");
    return;
  }
  if (auto why = badOwnerId(info.framework_id())) {
    bad(in, wire::Error::INVALID, "framework.framework_id", *why);
    return;
  }
  // With a CURVE clients file the key's name is the framework's principal,
  // as an authenticated principal is in Mesos: a framework names no other,
  // and only its principal's key fails it over.
  if (!in.keyName.empty()) {
    if (info.principal().empty()) info.set_principal(in.keyName);
    if (info.principal() != in.keyName) {
      bad(in, wire::Error::NOT_AUTHORIZED, "framework.principal",
          fmt::format("principal '{}' is not this connection's CURVE key, '{}'", info.principal(),
                      in.keyName));
      return;
    }
  }
  if (auto why =
          unauthorized(master::AclAction::kRegisterFramework, info.principal(), info.role())) {
    bad(in, wire::Error::NOT_AUTHORIZED, "framework.role", *why);
    return;
  }
  if (info.framework_id().empty()) {
    info.set_framework_id(fmt::format("{}-F{}", masterId, nextFramework++));
  } else if (removedFrameworks.count(info.framework_id())) {
    bad(in, wire::Error::FRAMEWORK_REMOVED, "framework.framework_id",
        fmt::format("framework '{}' was removed (torn down or failed over too late); subscribe "
                    "without an id to start anew",
                    info.framework_id()));
    return;
  }
  const std::string id = info.framework_id();
  auto it = frameworks.find(id);
  const bool failover = it != frameworks.end();
  if (failover && !in.keyName.empty() && !it->second.info.principal().empty() &&
      it->second.info.principal() != in.keyName) {
    bad(in, wire::Error::NOT_AUTHORIZED, "framework.framework_id",
        fmt::format("framework '{}' belongs to principal '{}'; this connection's CURVE key is '{}'",
                    id, it->second.info.principal(), in.keyName));
    return;
  }
  if (failover) {
    Framework& fw = it->second;
    rescindAll(fw.offers, fw.connected);
    try {
      allocator->updateFramework(toCore(info));
    } catch (const Error& e) {
      bad(in, wire::Error::INVALID, "framework", e.what());
      return;
    }
    fw.info = info;
  } else {
    try {
      allocator->addFramework(toCore(info));
    } catch (const Error& e) {
      bad(in, wire::Error::INVALID, "framework", e.what());
      return;
    }
    Framework& fw = frameworks[id];
    fw.id = id;
    fw.info = info;
  }
  Framework& fw = frameworks.at(id);
  fw.routingId = in.routingId;
  fw.connected = true;
  fw.lastSeen = now();
  if (fw.failoverTimer) {
    loop.cancel(fw.failoverTimer);
    fw.failoverTimer = 0;
  }
  allocator->setFrameworkActive(FrameworkId(id), true);
  // A new driver knows nothing of an earlier suppress.
  fw.suppressed = false;
  allocator->revive(FrameworkId(id));
  toRegistry([&](master::Registry& r) { r.putFramework(fw.info); });
  wire::Subscribed reply;
  reply.set_framework_id(id);
  reply.set_heartbeat_interval_us(toMicros(opt.frameworkHeartbeatInterval));
  reply.set_master_id(masterId);
  send(in.routingId, id, wire::SUBSCRIBED, reply);
  for (auto& [uuid, status] : fw.pending) {
    wire::Update update;
    *update.mutable_status() = status;
    send(fw.routingId, fw.id, wire::UPDATE, update);
  }
  spdlog::info("master: framework {} ('{}', role {}, weight {}) {}", id, info.name(), info.role(),
               info.weight(), failover ? "failed over / re-subscribed" : "subscribed");
  requestRound();
}

void Master::Impl::disconnect(Framework& fw, const std::string& why) {
  spdlog::warn("master: framework {} disconnected: {}; failover timeout {} s", fw.id, why,
               static_cast<double>(fw.info.failover_timeout_us()) / 1e6);
  fw.connected = false;
  fw.disconnectedAt = now();
  allocator->setFrameworkActive(FrameworkId(fw.id), false);
  rescindAll(fw.offers, true);
  if (fw.info.failover_timeout_us() <= 0) {
    removeFramework(fw.id, "disconnected with no failover timeout");
    return;
  }
  armFailover(fw);
}

std::size_t Master::Impl::removeFramework(std::string id, const std::string& why) {
  auto it = frameworks.find(id);
  if (it == frameworks.end()) return 0;
  Framework& fw = it->second;
  // A warning when it kills tasks; a framework ending with none left (allot
  // run's TEARDOWN at the end) is the normal course.
  spdlog::log(fw.tasks.empty() ? spdlog::level::info : spdlog::level::warn,
              "master: removing framework {}: {}; killing its {} tasks", id, why, fw.tasks.size());
  rescindAll(fw.offers, fw.connected);
  std::unordered_set<std::string> agentIds;
  for (const std::string& key : fw.tasks) {
    const Task& task = tasks.at(key);
    if (!task.terminal) agentIds.insert(task.agentId);
  }
  wire::ShutdownFramework shutdown;
  shutdown.set_framework_id(id);
  for (const std::string& agentId : agentIds) {
    auto a = agents.find(agentId);
    if (a != agents.end() && a->second.status == AgentStatus::kActive) {
      send(a->second.routingId, agentId, wire::SHUTDOWN_FRAMEWORK, shutdown);
    }
  }
  // Its tasks end here, as far as the master knows: killed, kept among the
  // completed tasks (their sandboxes readable) as Mesos keeps a removed
  // framework's. The agents' own terminal updates, which follow, are
  // acknowledged for the framework.
  std::size_t killed = 0;
  std::vector<std::string> keys(fw.tasks.begin(), fw.tasks.end());
  for (const std::string& key : keys) {
    Task& task = tasks.at(key);
    if (!task.terminal) {
      wire::TaskStatus status =
          makeStatus(id, task.info.task_id(), task.agentId, wire::TASK_KILLED, "FRAMEWORK_REMOVED",
                     "its framework was removed: " + why);
      status.set_uuid(newUuid());
      setState(task, status);
      becomeTerminal(task, status.uuid());
      ++killed;
    }
    complete(key);
  }
  recentlyRemoved.push_back({fw.info, why, now(), killed});
  while (recentlyRemoved.size() > kRemovedFrameworksKept) recentlyRemoved.pop_front();
  allocator->removeFramework(FrameworkId(id));
  if (fw.failoverTimer) loop.cancel(fw.failoverTimer);
  frameworks.erase(it);
  removedFrameworks.insert(id);
  toRegistry([&](master::Registry& r) { r.removeFramework(id); });
  requestRound();
  return killed;
}

// --------------------------------------------------------------------- offers

void Master::Impl::requestRound() {
  if (roundPending) return;
  roundPending = true;
  const Duration delay = std::max(Duration{0}, lastRound + opt.roundDelay - now());
  loop.after(delay, [this] {
    roundPending = false;
    runRound();
    afterEvent();
  });
}

void Master::Impl::runRound() {
  const auto start = std::chrono::steady_clock::now();
  const TimePoint t = now();
  lastRound = t;
  ++rounds;
  std::vector<Allocation> allocations;
  try {
    allocations = allocator->allocate(t);
  } catch (const std::exception& e) {
    ++failedRounds;
    if (!lastFailedRoundLog || t - *lastFailedRoundLog >= std::chrono::minutes(1)) {
      const std::uint64_t unlogged = failedRounds - failedRoundsLogged - 1;
      spdlog::error("master: allocation round failed{}: {}",
                    unlogged == 0 ? std::string()
                                  : fmt::format(" (and {} more since the last said)", unlogged),
                    e.what());
      lastFailedRoundLog = t;
      failedRoundsLogged = failedRounds;
    }
    return;
  }
  // One OFFERS message per framework per round (split only past kOffersPerMessage).
  std::unordered_map<std::string, wire::Offers> batches;
  auto flush = [this](const std::string& fwId, wire::Offers& batch) {
    auto f = frameworks.find(fwId);
    if (f != frameworks.end() && batch.offers_size() > 0)
      send(f->second.routingId, fwId, wire::OFFERS, batch);
    batch.Clear();
  };
  for (Allocation& a : allocations) {
    auto f = frameworks.find(a.framework.str());
    auto ag = agents.find(a.agent.str());
    if (f == frameworks.end() || ag == agents.end() || !f->second.connected) {
      spdlog::error(
          "master: the allocator offered {} on agent {} to framework {}, which the "
          "master cannot offer to; recovered",
          toString(a.resources), a.agent.str(), a.framework.str());
      try {
        allocator->recoverResources(a.framework, a.agent, a.resources, std::nullopt, t);
      } catch (const Error& e) {
        spdlog::error("master: {}", e.what());
      }
      continue;
    }
    Offer offer;
    offer.id = fmt::format("{}-O{}", masterId, nextOffer++);
    offer.frameworkId = a.framework.str();
    offer.agentId = a.agent.str();
    offer.resources = std::move(a.resources);
    offer.sentAt = t;
    offer.taskKey = a.task;
    if (opt.offerTimeout > Duration{0}) {
      offer.timer = loop.after(opt.offerTimeout, [this, id = offer.id] {
        rescind(id, true);
        afterEvent();
      });
    }
    wire::Offers& batch = batches[offer.frameworkId];
    wire::Offer* w = batch.add_offers();
    w->set_offer_id(offer.id);
    w->set_framework_id(offer.frameworkId);
    w->set_agent_id(offer.agentId);
    w->set_hostname(ag->second.hostname);
    w->set_resources(toString(offer.resources));
    w->set_attributes(ag->second.attributesText);
    if (a.task != kNoTask) w->set_task_key(a.task);
    f->second.offers.insert(offer.id);
    ag->second.offers.insert(offer.id);
    ++offersMade;
    std::string key = offer.id;
    offers.emplace(std::move(key), std::move(offer));
    if (batch.offers_size() >= kOffersPerMessage) flush(a.framework.str(), batch);
  }
  for (auto& [fwId, batch] : batches) flush(fwId, batch);
  for (const Reclaim& r : allocator->takeReclaims()) reclaim(r);
  roundLatency.add(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

// The policy takes resources back from a framework (preemption): its offers
// on the agent are rescinded, then its tasks there are killed, newest first,
// until what they hold covers the reclaim. Tasks already being killed for an
// earlier reclaim count as freed, so repeated reclaims kill nothing twice.
void Master::Impl::reclaim(const Reclaim& r) {
  auto a = agents.find(r.agent.str());
  if (a == agents.end()) return;
  const Scalars want = r.resources.totalScalars();
  Scalars freed = Scalars::Zero();
  std::vector<std::string> offerIds;
  for (const std::string& id : a->second.offers) {
    if (offers.at(id).frameworkId == r.framework.str()) offerIds.push_back(id);
  }
  for (const std::string& id : offerIds) {
    freed += offers.at(id).resources.totalScalars();
    rescind(id, true);
  }
  std::vector<Task*> running;
  for (const std::string& key : a->second.tasks) {
    Task& t = tasks.at(key);
    if (t.frameworkId != r.framework.str() || t.terminal || !t.holdsResources) continue;
    if (t.preempting) {
      freed += t.resources.totalScalars();
    } else {
      running.push_back(&t);
    }
  }
  std::sort(running.begin(), running.end(),
            [](const Task* x, const Task* y) { return x->launchSeq > y->launchSeq; });
  for (Task* t : running) {
    if (fitsIn(want, freed)) break;
    freed += t->resources.totalScalars();
    t->preempting = true;
    ++tasksPreempted;
    spdlog::info("master: preempting task '{}' of framework '{}' on agent '{}' for policy '{}'",
                 t->info.task_id(), t->frameworkId, a->second.id, allocator->name());
    wire::KillTask kill;
    kill.set_framework_id(t->frameworkId);
    kill.set_task_id(t->info.task_id());
    kill.set_grace_period_us(toMicros(killGraceOf(*t)));
    send(a->second.routingId, a->second.id, wire::KILL_TASK, kill);
    t->killSequence = router.lastSequence();
  }
}

void Master::Impl::dropOffer(Offer& offer) {
  if (offer.timer) loop.cancel(offer.timer);
  if (auto f = frameworks.find(offer.frameworkId); f != frameworks.end())
    f->second.offers.erase(offer.id);
  if (auto a = agents.find(offer.agentId); a != agents.end()) a->second.offers.erase(offer.id);
  const std::string id = offer.id;  // `offer` lives in the map
  offers.erase(id);
}

void Master::Impl::rescind(const std::string& offerId, bool tell) {
  auto it = offers.find(offerId);
  if (it == offers.end()) return;
  const Offer offer = it->second;
  dropOffer(it->second);
  ++offersRescinded;
  recover(offer.frameworkId, offer.agentId, offer.resources, std::nullopt);
  auto f = frameworks.find(offer.frameworkId);
  if (tell && f != frameworks.end() && f->second.connected) {
    wire::Rescind msg;
    msg.set_offer_id(offerId);
    send(f->second.routingId, offer.frameworkId, wire::RESCIND, msg);
  }
}

void Master::Impl::rescindAll(std::unordered_set<std::string> offerIds, bool tell) {
  for (const std::string& id : offerIds) rescind(id, tell);
}

// A refuse_seconds that is not a finite number >= 0 is answered with ERROR
// naming it; the offers still go back, with the default filter (as Mesos
// does), so that they are not held until the offer timeout.
std::optional<Filters> Master::Impl::filtersOf(const Incoming& in, bool present,
                                               const wire::Filters& filters) {
  if (!present) return Filters{opt.defaultRefuse};
  if (!std::isfinite(filters.refuse_seconds()) || filters.refuse_seconds() < 0) {
    bad(in, wire::Error::INVALID, "filters.refuse_seconds",
        fmt::format("must be a finite number of seconds >= 0, not {}; the default of {} s applies",
                    filters.refuse_seconds(), toSeconds(opt.defaultRefuse)));
    return Filters{opt.defaultRefuse};
  }
  if (filters.refuse_seconds() == 0) return std::nullopt;
  return Filters{secondsToDuration(filters.refuse_seconds())};
}

void Master::Impl::recover(const std::string& fw, const std::string& agent,
                           const Resources& resources, std::optional<Filters> filters) {
  recover(fw, agent, resources, filters, kNoTask);
}

void Master::Impl::recover(const std::string& fw, const std::string& agent,
                           const Resources& resources, std::optional<Filters> filters,
                           std::uint64_t taskKey) {
  auto a = agents.find(agent);
  if (resources.empty() || a == agents.end() || !a->second.inAllocator || !frameworks.count(fw)) {
    return;
  }
  try {
    allocator->recoverResources(FrameworkId(fw), AgentId(agent), resources, filters, now(),
                                taskKey);
  } catch (const Error& e) {
    spdlog::error("master: recovering {} of framework {} on agent {}: {}", toString(resources), fw,
                  agent, e.what());
  }
  requestRound();
}

void Master::Impl::onAccept(Framework& fw, const Incoming& in) {
  wire::Accept msg;
  if (!parse(in, msg)) return;
  std::vector<Offer*> used;
  std::string problem;
  std::unordered_set<std::string> seen;
  for (const std::string& id : msg.offer_ids()) {
    auto it = offers.find(id);
    if (!seen.insert(id).second) {
      problem = fmt::format("offer '{}' is listed twice", id);
    } else if (it == offers.end() || it->second.frameworkId != fw.id) {
      problem = fmt::format("offer '{}' is unknown or no longer valid", id);
    } else {
      if (!used.empty() && used.front()->agentId != it->second.agentId) {
        problem = fmt::format("offers '{}' and '{}' are on different agents", used.front()->id, id);
      }
      used.push_back(&it->second);
    }
  }
  if (msg.offer_ids().empty()) problem = "no offers named";
  if (!problem.empty()) {
    bad(in, wire::Error::INVALID, "offer_ids", problem);
    for (Offer* offer : used) {
      Offer copy = *offer;
      dropOffer(*offer);
      recover(copy.frameworkId, copy.agentId, copy.resources, std::nullopt);
    }
    for (const wire::TaskInfo& info : msg.tasks()) {
      masterUpdate(fw, makeStatus(fw.id, info.task_id(), info.agent_id(), wire::TASK_LOST,
                                  "INVALID_OFFERS", problem));
    }
    return;
  }
  const std::string agentId = used.front()->agentId;
  Resources remaining;
  TimePoint sentAt = used.front()->sentAt;
  std::uint64_t unit = kNoTask;
  for (Offer* offer : used) {
    remaining += offer->resources;
    sentAt = std::min(sentAt, offer->sentAt);
    if (unit == kNoTask) unit = offer->taskKey;
    dropOffer(*offer);
  }
  Agent& agent = agents.at(agentId);
  if (msg.tasks().empty() && msg.reserve().empty() && msg.unreserve().empty()) {
    offersDeclined += used.size();
  } else {
    offersAccepted += used.size();
  }
  acceptReservations(fw, in, msg, agent, remaining);
  std::unordered_set<std::string> idsHere;
  for (const wire::TaskInfo& info : msg.tasks()) {
    std::string error;
    std::string reason = "INVALID_TASK";
    Resources resources;
    const std::string key = taskKey(fw.id, info.task_id());
    std::optional<std::string> why;
    if (info.task_id().empty()) {
      error = "task_id: empty";
    } else if ((why = badId(info.task_id()))) {
      error = fmt::format("task_id: {}", *why);
    } else if (tasks.count(key) || !idsHere.insert(info.task_id()).second) {
      error = fmt::format("task_id: '{}' is already in use by this framework", info.task_id());
    } else if (!info.agent_id().empty() && info.agent_id() != agentId) {
      error = fmt::format("agent_id: '{}' is not the agent of the offers ('{}')", info.agent_id(),
                          agentId);
    } else if ((why = unauthorized(master::AclAction::kRunTask, fw.info.principal(),
                                   fw.info.user().empty()
                                       ? std::nullopt
                                       : std::optional<std::string>(fw.info.user())))) {
      error = *why;
      reason = "NOT_AUTHORIZED";
    } else if (info.command().empty()) {
      error = "command: empty";
    } else if ((why = hasNul(info.command()))) {
      error = fmt::format("command: {}", *why);
    } else if ((why = environmentProblem(info))) {
      error = *why;
    } else if (info.has_health_check() && (why = healthCheckProblem(info.health_check()))) {
      error = *why;
    } else if (info.has_kill_policy() && (why = killPolicyProblem(info.kill_policy()))) {
      error = *why;
    } else if (const std::size_t size = runTaskBytes(fw.info, info, agentId);
               size > kMaxMessageBytes) {
      error = fmt::format(
          "task: its RUN_TASK to the agent would take {} bytes (task {} bytes, framework info "
          "{} bytes); at most {} bytes fit in a message",
          size, info.ByteSizeLong(), fw.info.ByteSizeLong(), kMaxMessageBytes);
    } else {
      try {
        resources = Resources::parse(info.resources());
        if (resources.empty()) {
          error = "resources: a task must use some resources";
        } else if (!remaining.contains(resources)) {
          error = fmt::format("resources: {} are not within what is left of the offers ({})",
                              toString(resources), toString(remaining));
        }
      } catch (const Error& e) {
        error = fmt::format("resources: {}", e.what());
      }
    }
    if (!error.empty()) {
      spdlog::warn("master: ACCEPT from framework '{}': task '{}': {}", fw.id, info.task_id(),
                   error);
      ++badMessages[reason];
      masterUpdate(fw, makeStatus(fw.id, info.task_id(), agentId, wire::TASK_ERROR, reason, error));
      continue;
    }
    // Within contains' tolerance a task may ask a hair more than is left
    // (three tasks of cpus:0.1 in cpus:0.3); it gets what is left, so that its
    // end gives back what was lent. Handing back the whole request left the
    // framework's books on the agent short by the hair each time, until a
    // long task's end gave back more than the framework held: an error, and
    // that task's resources kept from every later offer.
    resources.capScalars(remaining);
    remaining -= resources;
    Task task;
    task.key = key;
    task.frameworkId = fw.id;
    task.agentId = agentId;
    task.info = info;
    task.info.set_agent_id(agentId);
    task.resources = std::move(resources);
    task.status = makeStatus(fw.id, info.task_id(), agentId, wire::TASK_STAGING, "", "");
    task.holdsResources = true;
    task.launchSeq = nextLaunch++;
    task.unit = unit;
    countState(wire::TASK_STAGING, +1);
    wire::RunTask run;
    *run.mutable_framework() = fw.info;
    *run.mutable_task() = task.info;
    fw.tasks.insert(key);
    agent.tasks.insert(key);
    Task& sent = tasks.emplace(key, std::move(task)).first->second;
    send(agent.routingId, agentId, wire::RUN_TASK, run);
    sent.runSequence = router.lastSequence();
    ++tasksLaunched;
    offerToLaunch.add(toSeconds(now() - sentAt));
  }
  recover(fw.id, agentId, remaining, filtersOf(in, msg.has_filters(), msg.filters()));
}

// Each change is checked against what is left of the offers and refused
// alone (ERROR naming it) when it does not hold; the changed resources go
// back to the allocator unfiltered, so the role is offered them next round.
void Master::Impl::acceptReservations(Framework& fw, const Incoming& in, const wire::Accept& msg,
                                      Agent& agent, Resources& remaining) {
  const std::string& role = fw.info.role();
  for (const bool unreserve : {false, true}) {
    const auto& texts = unreserve ? msg.unreserve() : msg.reserve();
    for (int i = 0; i < texts.size(); ++i) {
      const std::string field = fmt::format("{}[{}]", unreserve ? "unreserve" : "reserve", i);
      Resources change;
      try {
        change = Resources::parse(texts[i]);
      } catch (const Error& e) {
        bad(in, wire::Error::INVALID, field, e.what());
        continue;
      }
      std::optional<std::string> problem;
      const bool othersRole = std::any_of(change.pools().begin(), change.pools().end(),
                                          [&](const Pool& p) { return p.role != role; });
      const Resources from = unreserve ? change : change.withRole(kUnreservedRole);
      if (change.empty()) {
        problem = "empty";
      } else if (isUnreservedRole(role)) {
        problem = "a framework in role '*' cannot reserve; subscribe in a role";
      } else if (othersRole) {
        problem = fmt::format("{}: every resource must name the framework's role, as cpus({}):1",
                              toString(change), role);
      } else if (!remaining.contains(from)) {
        problem = fmt::format("the offers do not hold {} (left of them: {})", toString(from),
                              toString(remaining));
      } else {
        problem = reservationConflict(agent, change, unreserve);
      }
      if (problem) {
        bad(in, wire::Error::INVALID, field, *problem);
        continue;
      }
      remaining -= from;
      recover(fw.id, agent.id, from, std::nullopt);
      try {
        changeReservation(agent, change, unreserve, fmt::format("framework {}", fw.id));
      } catch (const Error& e) {  // what was just recovered is available: a bug
        spdlog::error("master: ACCEPT from framework '{}': {}: {}", fw.id, field, e.what());
      }
    }
  }
}

void Master::Impl::onDecline(Framework& fw, const Incoming& in) {
  wire::Decline msg;
  if (!parse(in, msg)) return;
  const std::optional<Filters> filters = filtersOf(in, msg.has_filters(), msg.filters());
  std::vector<std::string> unknown;
  for (const std::string& id : msg.offer_ids()) {
    auto it = offers.find(id);
    if (it == offers.end() || it->second.frameworkId != fw.id) {
      unknown.push_back(id);
      continue;
    }
    Offer copy = it->second;
    dropOffer(it->second);
    ++offersDeclined;
    recover(copy.frameworkId, copy.agentId, copy.resources, filters);
  }
  if (!unknown.empty()) {
    bad(in, wire::Error::INVALID, "offer_ids",
        fmt::format("unknown or no longer valid offers: {}", fmt::join(unknown, ", ")));
  }
}

// ---------------------------------------------------------------------- tasks

wire::TaskStatus Master::Impl::makeStatus(const std::string& fw, const std::string& task,
                                          const std::string& agent, wire::TaskState state,
                                          const std::string& reason, const std::string& message) {
  wire::TaskStatus status;
  status.set_task_id(task);
  status.set_framework_id(fw);
  status.set_agent_id(agent);
  status.set_state(state);
  status.set_reason(reason);
  status.set_message(message);
  status.set_timestamp_us(toMicros(now()));
  return status;
}

void Master::Impl::countState(wire::TaskState state, int delta) {
  const auto i = static_cast<std::size_t>(state);
  if (i < tasksByState.size()) tasksByState[i] += delta;
}

void Master::Impl::setState(Task& task, const wire::TaskStatus& status) {
  countState(task.status.state(), -1);
  task.status = status;
  countState(task.status.state(), +1);
}

void Master::Impl::becomeTerminal(Task& task, const std::string& uuid) {
  if (task.terminal) return;
  task.terminal = true;
  task.terminalUuid = uuid;
  recoverTask(task);
  if (auto a = agents.find(task.agentId);
      a != agents.end() && a->second.maintenance == Maintenance::kDraining) {
    continueDrain(a->second);
  }
}

void Master::Impl::recoverTask(Task& task) {
  // The first terminal update frees the task's resources, once.
  if (!task.holdsResources) return;
  task.holdsResources = false;
  recover(task.frameworkId, task.agentId, task.resources, std::nullopt, task.unit);
}

void Master::Impl::eraseTask(const std::string& key) {
  auto it = tasks.find(key);
  if (it == tasks.end()) return;
  Task& task = it->second;
  recoverTask(task);
  countState(task.status.state(), -1);
  if (auto f = frameworks.find(task.frameworkId); f != frameworks.end()) f->second.tasks.erase(key);
  if (auto a = agents.find(task.agentId); a != agents.end()) a->second.tasks.erase(key);
  tasks.erase(it);
}

void Master::Impl::complete(const std::string& key) {
  auto it = tasks.find(key);
  if (it == tasks.end()) return;
  Task task = it->second;
  eraseTask(key);
  task.holdsResources = false;
  countState(task.status.state(), +1);
  task.completedSeq = ++completedSeq;
  completedOrder.emplace_back(key, task.completedSeq);
  if (auto old = completed.find(key); old != completed.end()) {
    countState(old->second.status.state(), -1);
    old->second = std::move(task);
  } else {
    completed.emplace(key, std::move(task));
  }
  while (completed.size() > opt.completedTasks && !completedOrder.empty()) {
    auto [oldKey, seq] = completedOrder.front();
    completedOrder.pop_front();
    auto c = completed.find(oldKey);
    if (c != completed.end() && c->second.completedSeq == seq) {
      countState(c->second.status.state(), -1);
      completed.erase(c);
    }
  }
}

const Task* Master::Impl::findAnyTask(const std::string& key) const {
  if (auto it = tasks.find(key); it != tasks.end()) return &it->second;
  if (auto it = completed.find(key); it != completed.end()) return &it->second;
  return nullptr;
}

void Master::Impl::masterUpdate(Framework& fw, wire::TaskStatus status) {
  if (status.uuid().empty()) status.set_uuid(newUuid());
  wire::Update update;
  *update.mutable_status() = status;
  fw.pending[status.uuid()] = status;
  if (fw.connected) send(fw.routingId, fw.id, wire::UPDATE, update);
}

void Master::Impl::answer(Framework& fw, wire::TaskStatus status) {
  status.clear_uuid();
  wire::Update update;
  *update.mutable_status() = std::move(status);
  send(fw.routingId, fw.id, wire::UPDATE, update);
}

void Master::Impl::onStatusUpdate(Agent& agent, const Incoming& in) {
  wire::StatusUpdate msg;
  if (!parse(in, msg)) return;
  wire::TaskStatus status = msg.status();
  std::string_view missing;
  if (status.task_id().empty()) missing = "status.task_id";
  if (status.framework_id().empty()) missing = "status.framework_id";
  if (status.uuid().empty()) missing = "status.uuid";
  if (!missing.empty()) {
    bad(in, wire::Error::INVALID, missing, "empty");
    return;
  }
  if (!wire::TaskState_IsValid(status.state()) || status.state() == wire::TASK_STATE_UNSPECIFIED) {
    bad(in, wire::Error::INVALID, "status.state",
        fmt::format("{} is not a task state", static_cast<int>(status.state())));
    return;
  }
  status.set_agent_id(agent.id);
  auto ackHere = [&] {
    wire::StatusUpdateAck ack;
    ack.set_framework_id(status.framework_id());
    ack.set_task_id(status.task_id());
    ack.set_uuid(status.uuid());
    send(agent.routingId, agent.id, wire::STATUS_UPDATE_ACK, ack);
  };
  auto f = frameworks.find(status.framework_id());
  if (f == frameworks.end()) {
    // The framework is gone: nobody will acknowledge; stop the agent's retries.
    spdlog::info(
        "master: update {} of task {} of unknown framework {} from agent {}: acknowledged "
        "by the master",
        taskStateName(status.state()), status.task_id(), status.framework_id(), agent.id);
    ackHere();
    return;
  }
  Framework& fw = f->second;
  const std::string key = taskKey(status.framework_id(), status.task_id());
  auto t = tasks.find(key);
  if (t != tasks.end() && t->second.agentId != agent.id) {
    bad(in, wire::Error::INVALID, "status.task_id",
        fmt::format("task '{}' runs on agent '{}', not on '{}'", key, t->second.agentId, agent.id));
    return;
  }
  const Task* done = t == tasks.end() ? findAnyTask(key) : &t->second;
  if (done && done->terminal && done->terminalUuid != status.uuid()) {
    // The framework has seen (or is being sent) a terminal state already.
    ackHere();
    return;
  }
  if (t != tasks.end() && t->second.drainKilled && status.state() == wire::TASK_KILLED) {
    // Tells the framework to run it elsewhere (Mesos' REASON_AGENT_DRAINING).
    status.set_reason("AGENT_DRAINING");
  }
  if (t != tasks.end() && !t->second.terminal) {
    Task& task = t->second;
    setState(task, status);
    if (isTerminal(status.state())) becomeTerminal(task, status.uuid());
  } else if (t != tasks.end()) {
    // A resend of the terminal update: keep the stored state, forward again.
  } else if (!done) {
    spdlog::info(
        "master: update {} for task {} the master does not know, from agent {}; "
        "forwarded",
        taskStateName(status.state()), key, agent.id);
  } else {
    // Completed with this very uuid: the ack to the agent was lost; forward again.
  }
  if (fw.connected) {
    wire::Update update;
    *update.mutable_status() = status;
    send(fw.routingId, fw.id, wire::UPDATE, update);
  }
}

void Master::Impl::onAcknowledge(Framework& fw, const Incoming& in) {
  wire::Acknowledge msg;
  if (!parse(in, msg)) return;
  if (msg.uuid().empty()) {
    bad(in, wire::Error::INVALID, "uuid", "empty (updates without a uuid need no ack)");
    return;
  }
  if (auto p = fw.pending.find(msg.uuid()); p != fw.pending.end()) {
    const std::string key = taskKey(fw.id, p->second.task_id());
    fw.pending.erase(p);
    auto t = tasks.find(key);
    if (t != tasks.end() && t->second.terminal && t->second.terminalUuid == msg.uuid())
      complete(key);
    return;
  }
  const std::string key = taskKey(fw.id, msg.task_id());
  std::string agentId = msg.agent_id();
  auto t = tasks.find(key);
  if (t != tasks.end()) {
    agentId = t->second.agentId;
  } else if (const Task* c = findAnyTask(key)) {
    agentId = c->agentId;
  }
  auto a = agents.find(agentId);
  if (a == agents.end()) {
    bad(in, wire::Error::INVALID, "task_id",
        fmt::format("no task '{}' on a known agent to acknowledge", msg.task_id()));
    return;
  }
  if (a->second.status == AgentStatus::kActive) {
    wire::StatusUpdateAck ack;
    ack.set_framework_id(fw.id);
    ack.set_task_id(msg.task_id());
    ack.set_uuid(msg.uuid());
    send(a->second.routingId, agentId, wire::STATUS_UPDATE_ACK, ack);
  }
  if (t != tasks.end() && t->second.terminal && t->second.terminalUuid == msg.uuid()) complete(key);
}

void Master::Impl::onKill(Framework& fw, const Incoming& in) {
  wire::Kill msg;
  if (!parse(in, msg)) return;
  if (msg.task_id().empty()) {
    bad(in, wire::Error::INVALID, "task_id", "empty");
    return;
  }
  if (auto why = killPolicyProblem(msg.kill_policy())) {
    const std::size_t colon = why->find(':');
    bad(in, wire::Error::INVALID, why->substr(0, colon), why->substr(colon + 2));
    return;
  }
  const std::string key = taskKey(fw.id, msg.task_id());
  if (auto t = tasks.find(key); t != tasks.end() && !t->second.terminal) {
    const Agent& agent = agents.at(t->second.agentId);
    wire::KillTask kill;
    kill.set_framework_id(fw.id);
    kill.set_task_id(msg.task_id());
    // The kill's own policy, else the task's (Mesos' Call.Kill.kill_policy).
    kill.set_grace_period_us(
        toMicros(killGrace(msg.kill_policy()).value_or(killGraceOf(t->second))));
    send(agent.routingId, agent.id, wire::KILL_TASK, kill);
    t->second.killSequence = router.lastSequence();
    return;
  }
  if (const Task* task = findAnyTask(key)) {
    answer(fw, task->status);
    return;
  }
  if (auto a = agents.find(msg.agent_id());
      a != agents.end() && a->second.status == AgentStatus::kRecovering) {
    return;  // its agent may still report it; the framework asks again
  }
  answer(fw, makeStatus(fw.id, msg.task_id(), msg.agent_id(), wire::TASK_LOST, "UNKNOWN_TASK",
                        "the master does not know this task"));
}

// A framework's pending work replaces what it published before. A bad entry
// rejects the whole message (the previous demand stays), naming the entry.
void Master::Impl::onDemand(Framework& fw, const Incoming& in) {
  wire::Demand msg;
  if (!parse(in, msg)) return;
  constexpr int kMaxTasks = 100'000;
  if (msg.tasks_size() > kMaxTasks) {
    bad(in, wire::Error::INVALID, "tasks",
        fmt::format("{} pending tasks; at most {} per message", msg.tasks_size(), kMaxTasks));
    return;
  }
  std::vector<PendingTask> pending;
  pending.reserve(static_cast<std::size_t>(msg.tasks_size()));
  const TimePoint t = now();
  for (int i = 0; i < msg.tasks_size(); ++i) {
    const wire::Demand::Task& w = msg.tasks(i);
    std::string error;
    PendingTask task;
    try {
      task.shape = Resources::parse(w.resources());
      if (task.shape.empty()) error = "resources: a task must use some resources";
    } catch (const Error& e) {
      error = fmt::format("resources: {}", e.what());
    }
    if (error.empty() && w.count() == 0) error = "count: must be at least 1";
    if (error.empty() && (w.waited_us() < 0 || w.estimate_us() < 0)) {
      error = "waited_us and estimate_us must not be negative";
    }
    if (!error.empty()) {
      bad(in, wire::Error::INVALID, fmt::format("tasks[{}]", i), error);
      return;
    }
    task.count = w.count();
    task.gang = w.gang();
    task.spread = w.spread();
    task.submitted = t - std::min(Duration{w.waited_us()}, t - kTimeZero);
    task.estimate = Duration{w.estimate_us()};
    task.key = w.key();
    pending.push_back(std::move(task));
  }
  try {
    allocator->updateDemand(FrameworkId(fw.id), std::move(pending));
  } catch (const Error& e) {
    bad(in, wire::Error::INVALID, "tasks", e.what());
    return;
  }
  requestRound();
}

void Master::Impl::onReconcile(Framework& fw, const Incoming& in) {
  wire::Reconcile msg;
  if (!parse(in, msg)) return;
  if (msg.tasks().empty()) {
    for (const std::string& key : fw.tasks) answer(fw, tasks.at(key).status);
    return;
  }
  for (const wire::Reconcile::Task& entry : msg.tasks()) {
    const std::string key = taskKey(fw.id, entry.task_id());
    if (const Task* task = findAnyTask(key)) {
      answer(fw, task->status);
      continue;
    }
    // Unknown: LOST, unless its agent may still bring it back after a restart.
    if (!entry.agent_id().empty()) {
      auto a = agents.find(entry.agent_id());
      if (a != agents.end() && a->second.status == AgentStatus::kRecovering) continue;
    } else if (recovering > 0) {
      continue;
    }
    answer(fw, makeStatus(fw.id, entry.task_id(), entry.agent_id(), wire::TASK_LOST,
                          "RECONCILIATION", "the master does not know this task"));
  }
}

// --------------------------------------------------------------------- timers

void Master::Impl::sweep() {
  const TimePoint t = now();
  std::vector<Agent*> silent;
  for (auto& [id, agent] : agents) {
    if (agent.status == AgentStatus::kActive && t - agent.lastSeen > opt.agentTimeout) {
      silent.push_back(&agent);
    }
  }
  for (Agent* agent : silent) {
    markUnreachable(*agent, fmt::format("no message for {} s", toSeconds(t - agent->lastSeen)));
  }
  forgetUnreachableAgents(t);
  std::vector<std::string> quiet;
  for (auto& [id, fw] : frameworks) {
    if (fw.connected && t - fw.lastSeen > opt.frameworkTimeout) quiet.push_back(id);
  }
  for (const std::string& id : quiet) {
    auto it = frameworks.find(id);
    if (it != frameworks.end()) disconnect(it->second, "no message within the framework timeout");
  }
}

// Drops unreachable agents past --unreachable-agent-age, then the longest
// unreachable beyond --max-unreachable-agents. An agent that still holds a
// task (its LOST update not yet acknowledged) is kept until it holds none,
// so every task keeps its agent.
void Master::Impl::forgetUnreachableAgents(TimePoint t) {
  std::vector<std::pair<TimePoint, std::string>> unreachable;
  for (const auto& [id, agent] : agents) {
    if (agent.status == AgentStatus::kUnreachable)
      unreachable.emplace_back(agent.unreachableSince, id);
  }
  if (unreachable.empty()) return;
  std::sort(unreachable.begin(), unreachable.end());
  std::size_t over = unreachable.size() > opt.maxUnreachableAgents
                         ? unreachable.size() - opt.maxUnreachableAgents
                         : 0;
  for (const auto& [since, id] : unreachable) {
    const bool old = t - since >= opt.unreachableAgentAge;
    if (!old && over == 0) break;
    Agent& agent = agents.at(id);
    if (!agent.tasks.empty()) continue;
    spdlog::info("master: agent {} ({}) forgotten: unreachable for {:.0f} s{}", id, agent.hostname,
                 toSeconds(t - since), old ? "" : ", beyond --max-unreachable-agents");
    if (over > 0) --over;
    toRegistry([&](master::Registry& r) { r.removeAgent(id); });
    agents.erase(id);
    ++forgottenAgents;
  }
}

// A registry write, committed with the batch (afterEvent). A failed write
// is logged and the master goes on: what it holds in memory is still right,
// and only a restart would miss the change.
template <class Write>
void Master::Impl::toRegistry(Write&& write) {
  if (!registry) return;
  try {
    write(*registry);
    registryDirty = true;
  } catch (const Error& e) {
    spdlog::error("master: {}", e.what());
  }
}

void Master::Impl::resendPending() {
  for (auto& [id, fw] : frameworks) {
    if (!fw.connected) continue;
    for (auto& [uuid, status] : fw.pending) {
      wire::Update update;
      *update.mutable_status() = status;
      send(fw.routingId, fw.id, wire::UPDATE, update);
    }
  }
}

namespace {

const std::set<std::string, std::less<>> kOperatorPaths = {
    "/api/v1/weights",    "/api/v1/quota", "/api/v1/reserve",    "/api/v1/unreserve",
    "/api/v1/deactivate", "/api/v1/drain", "/api/v1/reactivate", "/api/v1/teardown"};

// The string field `name` of a request body; empty when absent.
std::string stringField(const nlohmann::json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return {};
  if (!it->is_string()) throw OperatorError(400, fmt::format("{}: must be a string", name));
  return it->get<std::string>();
}

// The role a request names: a role name of the resource syntax, and not
// "*" unless `unreservedToo`.
std::string roleField(const nlohmann::json& body, bool unreservedToo) {
  std::string role = stringField(body, "role");
  if (role.empty()) throw OperatorError(400, "role: missing");
  if (isUnreservedRole(role) && !unreservedToo) {
    throw OperatorError(400, "role: '*' (unreserved) cannot be given quota; name a role");
  }
  if (!isUnreservedRole(role) && !isValidRoleName(role)) {
    throw OperatorError(400,
                        fmt::format("role '{}': use letters, digits, '_', '-', '.' and '/'", role));
  }
  return role;
}

// The resources in the string field `name` of a request body (empty when
// absent).
Resources resourcesField(const nlohmann::json& body, const char* name) {
  const std::string text = stringField(body, name);
  try {
    return Resources::parse(text);
  } catch (const Error& e) {
    throw OperatorError(400, fmt::format("{}: {}", name, e.what()));
  }
}

}  // namespace

// ----------------------------------------------------------------------- HTTP

HttpResponse Master::Impl::http(const master::HttpRequest& request) {
  const std::string& path = request.path;
  if (request.method == "POST" || kOperatorPaths.count(path)) return operatorCall(request);
  // Task names, hostnames and messages come from users: the UI inserts them
  // as text, and the policy forbids scripts and styles from anywhere else,
  // so that one that slipped through would not run.
  auto ui = [](std::string_view body, const char* type) {
    return HttpResponse{
        200,
        type,
        std::string(body),
        {{"Content-Security-Policy", "default-src 'self'"}, {"Cache-Control", "no-cache"}}};
  };
  auto api = [](const nlohmann::json& j) { return jsonResponse(200, j); };
  if (path == "/" || path == "/index.html")
    return ui(master::kUiIndexHtml, "text/html; charset=utf-8");
  if (path == "/ui/app.js") return ui(master::kUiAppJs, "text/javascript; charset=utf-8");
  if (path == "/ui/style.css") return ui(master::kUiStyleCss, "text/css; charset=utf-8");
  // Browsers ask for it on every page; no icon, and no 404 in their consoles.
  if (path == "/favicon.ico") return {204, "image/x-icon", ""};
  if (path == "/api/v1/files/read" || path == "/api/v1/files/read/") {
    return sandboxFiles(request, false);
  }
  if (path == "/api/v1/files/browse" || path == "/api/v1/files/browse/") {
    return sandboxFiles(request, true);
  }
  if (path == "/api/v1/state" || path == "/api/v1/state/") {
    // ?only=agents,roles: those lists (and the counts of all); ?only=: none.
    const auto only = std::find_if(request.query.begin(), request.query.end(),
                                   [](const auto& p) { return p.first == "only"; });
    if (only == request.query.end()) return api(stateJson());
    static const std::set<std::string, std::less<>> kLists = {
        "agents",          "frameworks", "completed_frameworks", "roles", "tasks",
        "completed_tasks", "offers"};
    std::set<std::string, std::less<>> lists;
    std::string unknown;
    forEachPiece(only->second, ',', [&](std::string_view name, std::size_t) {
      if (kLists.count(name) == 0 && unknown.empty()) unknown = name;
      lists.emplace(name);
    });
    if (!unknown.empty()) {
      return {400, "text/plain",
              fmt::format("only={:?}: no list {:?}; the lists are agents, frameworks, "
                          "completed_frameworks, roles, tasks, completed_tasks and offers\n",
                          only->second, unknown)};
    }
    std::optional<AgentPage> page;
    std::string problem;
    for (const auto& [key, value] : request.query) {
      if (!key.starts_with("agents_")) continue;
      if (!page) page.emplace();
      const auto whole = [&](std::size_t& out) {
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
        if (ec != std::errc{} || end != value.data() + value.size()) {
          problem = fmt::format("{}={:?}: not a whole number", key, value);
        }
      };
      if (key == "agents_limit") {
        whole(page->limit);
      } else if (key == "agents_offset") {
        whole(page->offset);
      } else if (key == "agents_sort") {
        page->sortName = value;
        const auto* found = std::find_if(AgentPage::kSorts.begin(), AgentPage::kSorts.end(),
                                         [&](const auto& s) { return s.first == value; });
        if (found == AgentPage::kSorts.end()) {
          std::string names;
          for (const auto& [name, sort] : AgentPage::kSorts) {
            names += names.empty() ? "" : ", ";
            names += name;
          }
          problem = fmt::format("agents_sort={:?}: sort by {}", value, names);
        } else {
          page->sort = found->second;
        }
      } else if (key == "agents_order") {
        if (value != "asc" && value != "desc") {
          problem = fmt::format("agents_order={:?}: asc or desc", value);
        }
        page->descending = value == "desc";
      } else if (key == "agents_filter") {
        page->filter = value;
        std::transform(page->filter.begin(), page->filter.end(), page->filter.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      } else if (problem.empty()) {
        problem = fmt::format(
            "{}: no such parameter; the agents' are agents_limit, "
            "agents_offset, agents_sort, agents_order and agents_filter",
            key);
      }
    }
    if (page && problem.empty() && page->limit == 0) {
      problem = "agents_limit: give the page size (1 or more) with the other agents_ parameters";
    }
    if (!problem.empty()) return {400, "text/plain", problem + "\n"};
    return api(stateJson(&lists, page));
  }
  if (path == "/api/v1/utilization" || path == "/api/v1/utilization/") {
    return api(utilizationJson());
  }
  if (path == "/metrics") return {200, "text/plain; version=0.0.4", metricsText()};
  if (path == "/health") {
    nlohmann::json j{{"status", "ok"}, {"master_id", masterId}};
    return {200, "application/json", j.dump()};
  }
  return {404, "text/plain",
          fmt::format("no page {}; try / (the web UI), /api/v1/state, /api/v1/utilization, "
                      "/metrics or /health\n",
                      path)};
}

// ------------------------------------------------------------- operator API

std::optional<HttpResponse> Master::Impl::tokenRefusal(const master::HttpRequest& request,
                                                       std::string_view what) const {
  if (opt.operatorToken.empty()) return std::nullopt;
  // Compared in time independent of where they differ.
  const std::string expected = "Bearer " + opt.operatorToken;
  const std::string& given = request.authorization;
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    diff |= static_cast<unsigned char>(expected[i] ^ (i < given.size() ? given[i] : 0));
  }
  if (diff == 0) return std::nullopt;
  const std::string why = given.empty() ? fmt::format(
                                              "{} need the operator token "
                                              "(Authorization: Bearer TOKEN; `allot ... "
                                              "--token-file FILE`)",
                                              what)
                                        : std::string("wrong operator token");
  spdlog::warn("master: {} {} refused: {}", request.method, request.path, why);
  return errorResponse(401, why, {{"WWW-Authenticate", "Bearer"}});
}

// GET /api/v1/files/read?framework_id=F&task_id=T[&file=PATH][&offset=N]
// [&length=N][&format=json|raw] and /api/v1/files/browse?framework_id=F&
// task_id=T[&path=DIR]: asks the task's agent for a piece of a file in its
// sandbox, or for a directory's entries, and answers when the agent does (the
// HTTP worker waits, not the loop), 504 after kFileReadTimeout.
HttpResponse Master::Impl::sandboxFiles(const master::HttpRequest& request, bool list) {
  // Sandboxes hold what tasks print and write, secrets too: they need the
  // token when the master has one, as changes do (the state stays open).
  if (auto denied = tokenRefusal(request, list ? "sandbox listings" : "task logs")) return *denied;
  std::map<std::string, std::string, std::less<>> q;
  for (const auto& [name, value] : request.query) q[name] = value;
  static const std::set<std::string, std::less<>> kRead = {"framework_id", "task_id", "file",
                                                           "offset",       "length",  "format"};
  static const std::set<std::string, std::less<>> kList = {"framework_id", "task_id", "path"};
  const auto& known = list ? kList : kRead;
  for (const auto& [name, value] : q) {
    if (!known.count(name)) {
      return errorResponse(
          400, fmt::format("unknown parameter '{}'; known: {}", name, fmt::join(known, ", ")));
    }
  }
  const std::string frameworkId = q["framework_id"], taskId = q["task_id"];
  if (frameworkId.empty() || taskId.empty()) {
    return errorResponse(400, "framework_id and task_id are needed (allot tasks lists them)");
  }
  // A path in the sandbox; "dir/" names "dir" (the sandbox itself stays "").
  const char* pathName = list ? "path" : "file";
  std::string file = list ? q["path"] : (q.count("file") ? q["file"] : "stdout");
  while (file.size() > 1 && file.back() == '/') file.pop_back();
  if (!list && file.empty()) return errorResponse(400, "file '': stdout, stderr or a path");
  if (auto problem = sandboxPathProblem(file)) {
    return errorResponse(400, fmt::format("{}: {}", pathName, *problem));
  }
  const std::string format = q.count("format") ? q["format"] : "json";
  if (format != "json" && format != "raw") {
    return errorResponse(400, fmt::format("format '{}': json or raw", format));
  }
  auto integer = [&](const char* name, std::int64_t fallback, std::int64_t low,
                     std::int64_t high) -> std::optional<std::int64_t> {
    if (!q.count(name)) return fallback;
    const std::string& text = q[name];
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < low || value > high) {
      return std::nullopt;
    }
    return value;
  };
  const auto offset = integer("offset", 0, -1, std::numeric_limits<std::int64_t>::max());
  if (!offset) {
    return errorResponse(
        400, fmt::format("offset '{}': a byte offset, or -1 for the end of the file", q["offset"]));
  }
  const auto length = integer("length", kMaxFileRead, 1, kMaxFileRead);
  if (!length) {
    return errorResponse(400,
                         fmt::format("length '{}': from 1 to {} bytes", q["length"], kMaxFileRead));
  }
  const std::string key = taskKey(frameworkId, taskId);
  const Task* task = findAnyTask(key);
  if (task == nullptr) {
    return errorResponse(404,
                         fmt::format("no task '{}' of framework '{}' here (not running, and not "
                                     "among the completed tasks the master keeps)",
                                     taskId, frameworkId));
  }
  auto a = agents.find(task->agentId);
  if (a == agents.end()) {
    return errorResponse(
        404, fmt::format("task '{}' ran on agent '{}', which the master no longer knows", taskId,
                         task->agentId));
  }
  const Agent& agent = a->second;
  if (agent.status != AgentStatus::kActive) {
    return errorResponse(
        503, fmt::format("agent '{}' of task '{}' is {}; try again once it is back", agent.id,
                         taskId, statusName(agent.status)));
  }
  const std::uint64_t id = nextFileRead++;
  if (list) {
    wire::ListFiles ask;
    ask.set_request_id(id);
    ask.set_framework_id(frameworkId);
    ask.set_task_id(taskId);
    ask.set_path(file);
    send(agent.routingId, agent.id, wire::LIST_FILES, ask);
  } else {
    wire::ReadFile ask;
    ask.set_request_id(id);
    ask.set_framework_id(frameworkId);
    ask.set_task_id(taskId);
    ask.set_file(file);
    ask.set_offset(*offset);
    ask.set_length(static_cast<std::uint32_t>(*length));
    send(agent.routingId, agent.id, wire::READ_FILE, ask);
  }
  FileRead& read = fileReads[id];
  read.sequence = router.lastSequence();
  read.agentId = agent.id;
  read.frameworkId = frameworkId;
  read.taskId = taskId;
  read.file = file;
  read.list = list;
  read.raw = format == "raw";
  read.answer = std::make_shared<std::promise<HttpResponse>>();
  read.timer = loop.after(kFileReadTimeout, [this, id, agentId = agent.id] {
    if (auto it = fileReads.find(id); it != fileReads.end()) it->second.timer = 0;
    answerFileRead(id, errorResponse(504, fmt::format("agent '{}' did not answer within {} s",
                                                      agentId, toSeconds(kFileReadTimeout))));
  });
  HttpResponse later;
  later.later = [answer = read.answer->get_future().share()]() -> HttpResponse {
    // The loop answers within kFileReadTimeout; this bound is for a stuck loop.
    if (answer.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
      return {503, "text/plain", "the master's event loop did not answer in time\n"};
    }
    try {
      return answer.get();
    } catch (const std::future_error&) {
      return {503, "text/plain", "master stopping\n"};
    }
  };
  return later;
}

void Master::Impl::answerFileRead(std::uint64_t id, HttpResponse response) {
  auto it = fileReads.find(id);
  if (it == fileReads.end()) return;
  FileRead read = std::move(it->second);
  fileReads.erase(it);
  if (read.timer != 0) loop.cancel(read.timer);
  read.answer->set_value(std::move(response));
}

Master::Impl::FileRead* Master::Impl::fileReadFor(Agent& agent, const Incoming& in,
                                                  std::uint64_t requestId, bool list) {
  auto it = fileReads.find(requestId);
  if (it == fileReads.end()) return nullptr;  // answered already: the timeout was first
  if (it->second.agentId != agent.id || it->second.list != list) {
    bad(in, wire::Error::INVALID, "request_id",
        fmt::format("{} is not a {} the master asked of agent '{}'", requestId,
                    list ? "listing" : "read", agent.id));
    return nullptr;
  }
  return &it->second;
}

void Master::Impl::onFileData(Agent& agent, const Incoming& in) {
  using nlohmann::json;
  wire::FileData data;
  if (!parse(in, data)) return;
  const FileRead* read = fileReadFor(agent, in, data.request_id(), false);
  if (read == nullptr) return;
  if (!data.error().empty()) {
    return answerFileRead(data.request_id(), errorResponse(404, data.error()));
  }
  if (read->raw) {
    return answerFileRead(data.request_id(),
                          HttpResponse{200,
                                       "text/plain; charset=utf-8",
                                       data.data(),
                                       {{"Cache-Control", "no-store"},
                                        {"X-Allot-Offset", std::to_string(data.offset())},
                                        {"X-Allot-Size", std::to_string(data.size())}}});
  }
  json j{{"framework_id", read->frameworkId},
         {"task_id", read->taskId},
         {"agent_id", agent.id},
         {"file", read->file},
         {"offset", data.offset()},
         {"length", data.data().size()},
         {"size", data.size()},
         {"data", data.data()}};
  answerFileRead(data.request_id(), jsonResponse(200, j));
}

namespace {

// "drwxr-xr-x", as ls -l writes the type and the permission bits.
std::string modeText(const wire::FileEntry& entry) {
  std::string text = "?---------";
  text[0] = entry.type() == wire::FileEntry::DIRECTORY ? 'd'
            : entry.type() == wire::FileEntry::SYMLINK ? 'l'
            : entry.type() == wire::FileEntry::FILE    ? '-'
                                                       : '?';
  const std::uint32_t mode = entry.mode();
  for (std::size_t i = 0; i < 9; ++i) {
    if (mode & (0400u >> i)) text[1 + i] = "rwx"[i % 3];
  }
  if (mode & 04000) text[3] = (mode & 0100) ? 's' : 'S';
  if (mode & 02000) text[6] = (mode & 0010) ? 's' : 'S';
  if (mode & 01000) text[9] = (mode & 0001) ? 't' : 'T';
  return text;
}

}  // namespace

void Master::Impl::onFileList(Agent& agent, const Incoming& in) {
  using nlohmann::json;
  wire::FileList list;
  if (!parse(in, list)) return;
  const FileRead* read = fileReadFor(agent, in, list.request_id(), true);
  if (read == nullptr) return;
  if (!list.error().empty()) {
    return answerFileRead(list.request_id(), errorResponse(404, list.error()));
  }
  json entries = json::array();
  for (const wire::FileEntry& e : list.entries()) {
    // The agent's names go into paths the UI and the CLI ask for next: one
    // with a '/' or a NUL, or "." or "..", is no entry of a directory.
    if (e.name().empty() || e.name() == "." || e.name() == ".." ||
        e.name().find_first_of(std::string_view("/\0", 2)) != std::string::npos) {
      bad(in, wire::Error::INVALID, "entries.name",
          fmt::format("'{}' is not the name of a directory's entry", printable(e.name())));
      return answerFileRead(
          list.request_id(),
          errorResponse(502, fmt::format("agent '{}' listed a bad name", agent.id)));
    }
    static constexpr const char* kTypes[] = {"other", "file", "directory", "symlink"};
    const auto type = static_cast<std::size_t>(e.type());
    entries.push_back(json{{"name", e.name()},
                           {"path", read->file.empty() ? e.name() : read->file + "/" + e.name()},
                           {"type", type < std::size(kTypes) ? kTypes[type] : "other"},
                           {"size", e.size()},
                           {"mode", modeText(e)},
                           {"mtime_us", e.mtime_us()}});
  }
  json j{{"framework_id", read->frameworkId},
         {"task_id", read->taskId},
         {"agent_id", agent.id},
         {"path", read->file},
         {"truncated", list.truncated()},
         {"entries", std::move(entries)}};
  answerFileRead(list.request_id(), jsonResponse(200, j));
}

HttpResponse Master::Impl::operatorCall(const master::HttpRequest& request) {
  using nlohmann::json;
  const auto answer = [](int status, const json& j) { return jsonResponse(status, j); };
  auto refuse = [&](int status, const std::string& why) {
    spdlog::warn("master: operator {} {} refused: {}", request.method, request.path, why);
    return answer(status, json{{"error", why}});
  };
  // The token is checked before anything else of the request, so that an
  // unauthorized caller learns nothing of paths or bodies.
  if (auto denied = tokenRefusal(request, "operator calls")) return *denied;
  if (!kOperatorPaths.count(request.path)) {
    return refuse(404, fmt::format("no operator call {}; POST to /api/v1/weights, "
                                   "/api/v1/quota, /api/v1/reserve, /api/v1/unreserve, "
                                   "/api/v1/deactivate, /api/v1/drain, /api/v1/reactivate or "
                                   "/api/v1/teardown",
                                   request.path));
  }
  if (request.method != "POST") {
    return refuse(405, fmt::format("{} changes the cluster: POST a JSON body to it (see "
                                   "docs/runtime-protocol.md, \"Roles, quotas and reservations\")",
                                   request.path));
  }
  // A browser on another site may POST forms and text/plain here without
  // asking first, but must ask (CORS preflight, which the master never
  // grants) before it sends JSON.
  if (!request.contentType.starts_with("application/json")) {
    return refuse(415, fmt::format("send the body as JSON with Content-Type: application/json, "
                                   "not '{}'",
                                   request.contentType));
  }
  json body;
  try {
    body = json::parse(request.body);
  } catch (const json::exception& e) {
    return refuse(400, fmt::format("the body is not JSON: {}", e.what()));
  }
  if (!body.is_object()) return refuse(400, "the body must be a JSON object");
  json result;
  try {
    if (request.path == "/api/v1/weights") {
      result = setWeight(body);
    } else if (request.path == "/api/v1/quota") {
      result = setQuota(body);
    } else if (request.path == "/api/v1/deactivate") {
      result = operatorMaintenance(body, Maintenance::kDeactivated);
    } else if (request.path == "/api/v1/drain") {
      result = operatorMaintenance(body, Maintenance::kDraining);
    } else if (request.path == "/api/v1/reactivate") {
      result = operatorMaintenance(body, Maintenance::kNone);
    } else if (request.path == "/api/v1/teardown") {
      result = operatorTeardown(body);
    } else {
      result = operatorReservation(body, request.path == "/api/v1/unreserve");
    }
  } catch (const OperatorError& e) {
    return refuse(e.status, e.what());
  }
  // The registry write, now, so that the answer can say whether it is kept
  // (while writes fail, this one waits with the others for the next try).
  afterEvent();
  result["stored"] = !registryDirty;
  if (registryDirty) result["warning"] = "not yet in the registry: " + lastRegistryError;
  return answer(200, result);
}

void Master::Impl::applyRole(const master::Registry::RoleRow& role) {
  Quota quota{Resources::parse(role.guarantee), Resources::parse(role.limit)};
  if (!(role.weight > 0) || !std::isfinite(role.weight)) {
    throw InvalidArgument(fmt::format("weight must be a positive number, not {}", role.weight));
  }
  allocator->setQuota(role.name, quota);
  allocator->setRoleWeight(role.name, role.weight);
  const bool plain = role.weight == 1.0 && role.guarantee.empty() && role.limit.empty();
  if (plain) {
    roleConfig.erase(role.name);
  } else {
    roleConfig[role.name] = role;
  }
}

// A configured role goes to the registry; one back to the defaults leaves it.
void Master::Impl::storeRole(const master::Registry::RoleRow& row) {
  toRegistry([&](master::Registry& r) {
    if (roleConfig.count(row.name)) {
      r.putRole(row);
    } else {
      r.removeRole(row.name);
    }
  });
  requestRound();
}

nlohmann::json Master::Impl::roleJson(const master::Registry::RoleRow& row) {
  return {{"role", row.name},
          {"weight", row.weight},
          {"guarantee", row.guarantee},
          {"limit", row.limit}};
}

nlohmann::json Master::Impl::setWeight(const nlohmann::json& body) {
  const std::string role = roleField(body, /*unreservedToo=*/true);
  auto weight = body.find("weight");
  if (weight == body.end() || !weight->is_number() || !(weight->get<double>() > 0) ||
      !std::isfinite(weight->get<double>())) {
    throw OperatorError(400, "weight: must be a positive number");
  }
  master::Registry::RoleRow row;
  if (auto it = roleConfig.find(role); it != roleConfig.end()) row = it->second;
  row.name = role;
  row.weight = weight->get<double>();
  applyRole(row);
  storeRole(row);
  spdlog::info("master: operator set the weight of role {} to {}", role, row.weight);
  return roleJson(row);
}

nlohmann::json Master::Impl::setQuota(const nlohmann::json& body) {
  const std::string role = roleField(body, /*unreservedToo=*/false);
  // Reserved or non-scalar amounts are refused by the allocator (applyRole).
  Quota quota{resourcesField(body, "guarantee"), resourcesField(body, "limit")};
  master::Registry::RoleRow row;
  if (auto it = roleConfig.find(role); it != roleConfig.end()) row = it->second;
  const master::Registry::RoleRow before = row;
  row.name = role;
  row.guarantee = textOf(quota.guarantee);
  row.limit = textOf(quota.limit);
  try {
    applyRole(row);
  } catch (const InvalidArgument& e) {
    throw OperatorError(400, e.what());
  }
  storeRole(row);
  spdlog::info(
      "master: operator set the quota of role {}: guarantee '{}', limit '{}' (was '{}', "
      "'{}')",
      role, row.guarantee, row.limit, before.guarantee, before.limit);
  return roleJson(row);
}

std::optional<std::string> Master::Impl::reservationConflict(const Agent& agent,
                                                             const Resources& change,
                                                             bool unreserve) const {
  if (!agent.reservationApplied) {
    return fmt::format(
        "agent '{}': its reservation {} is not applied (the agent offers too "
        "little); change it when it is",
        agent.id, toString(agent.reserved));
  }
  if (unreserve && !agent.reserved.contains(change)) {
    return fmt::format(
        "agent '{}' has no dynamic reservation {}: it has '{}' (reservations in the agent's "
        "--resources are static and stay)",
        agent.id, toString(change), textOf(agent.reserved));
  }
  return std::nullopt;
}

void Master::Impl::changeReservation(Agent& agent, const Resources& change, bool unreserve,
                                     std::string_view by) {
  if (unreserve) {
    allocator->unreserve(AgentId(agent.id), change);
  } else {
    allocator->reserve(AgentId(agent.id), change);
  }
  const Resources reported = Resources::parse(agent.resourcesText);
  if (unreserve) {
    agent.reserved -= change;
  } else {
    agent.reserved += change;
  }
  applyReservations(agent, reported);
  storeAgent(agent);
  spdlog::info("master: {} {}d {} on agent {} ({}); its reservations: '{}'", by,
               unreserve ? "unreserve" : "reserve", toString(change), agent.id, agent.hostname,
               agent.reserved.empty() ? std::string("none") : textOf(agent.reserved));
  requestRound();
}

// POST /api/v1/teardown {"framework_id": F}: removes the framework as its own
// TEARDOWN would (its offers rescinded, its tasks killed, its id not taken
// again) and tells it, if connected, with FRAMEWORK_REMOVED so that its
// driver stops instead of subscribing again.
nlohmann::json Master::Impl::operatorTeardown(const nlohmann::json& body) {
  const std::string id = stringField(body, "framework_id");
  if (id.empty()) throw OperatorError(400, "framework_id: missing");
  auto it = frameworks.find(id);
  if (it == frameworks.end()) {
    throw OperatorError(404, removedFrameworks.count(id)
                                 ? fmt::format("framework '{}' was already removed", id)
                                 : fmt::format("no framework '{}' (see `allot state`)", id));
  }
  const Framework& fw = it->second;
  const std::optional<std::string> routingId =
      fw.connected ? std::optional(fw.routingId) : std::nullopt;
  spdlog::info("master: operator tears down framework {} ({})", id, fw.info.name());
  // Its offers are rescinded first, then it hears why.
  const std::size_t killed = removeFramework(id, "torn down by an operator");
  if (routingId) {
    wire::Error error;
    error.set_code(wire::Error::FRAMEWORK_REMOVED);
    error.set_message(
        fmt::format("framework '{}' was torn down by an operator; its {} task(s) are being killed",
                    id, killed));
    send(*routingId, id, wire::ERROR, error);
  }
  return {{"framework_id", id}, {"tasks_killed", killed}};
}

nlohmann::json Master::Impl::operatorMaintenance(const nlohmann::json& body, Maintenance to) {
  const std::string agentId = stringField(body, "agent_id");
  if (agentId.empty()) throw OperatorError(400, "agent_id: missing");
  auto it = agents.find(agentId);
  if (it == agents.end()) {
    throw OperatorError(404, fmt::format("no agent '{}' (see `allot agents`)", agentId));
  }
  Agent& agent = it->second;
  Duration grace = opt.killGracePeriod;
  if (auto g = body.find("grace_period_seconds"); g != body.end() && !g->is_null()) {
    if (to != Maintenance::kDraining) {
      throw OperatorError(400, "grace_period_seconds: only a drain kills tasks");
    }
    if (!g->is_number() || !(g->get<double>() >= 0) || g->get<double>() > 86'400 * 365) {
      throw OperatorError(400, fmt::format("grace_period_seconds: {} is not a number of seconds "
                                           "(0 or more)",
                                           g->dump()));
    }
    grace = secondsToDuration(g->get<double>());
  }
  const Maintenance from = agent.maintenance;
  if (to == Maintenance::kDeactivated &&
      (from == Maintenance::kDraining || from == Maintenance::kDrained)) {
    throw OperatorError(
        409, fmt::format("agent '{}' is {}; reactivate it first", agentId, maintenanceName(from)));
  }
  std::size_t killed = 0;
  if (to == Maintenance::kNone) {
    agent.maintenance = Maintenance::kNone;
    if (agent.inAllocator) allocator->setAgentActive(AgentId(agentId), true);
    requestRound();
  } else if (from == Maintenance::kNone || from == Maintenance::kDeactivated ||
             to == Maintenance::kDraining) {
    if (from == Maintenance::kNone) {
      rescindAll(agent.offers, true);
      if (agent.inAllocator) allocator->setAgentActive(AgentId(agentId), false);
    }
    if (to == Maintenance::kDraining && from != Maintenance::kDrained) {
      agent.maintenance = Maintenance::kDraining;
      agent.drainGrace = grace;
      for (const std::string& key : agent.tasks) killed += !tasks.at(key).terminal;
      continueDrain(agent);
    } else if (to == Maintenance::kDeactivated) {
      agent.maintenance = Maintenance::kDeactivated;
    }
  }
  if (agent.maintenance != from) {
    spdlog::info("master: an operator {} agent {} ({}){}",
                 to == Maintenance::kNone       ? "reactivated"
                 : to == Maintenance::kDraining ? "drains"
                                                : "deactivated",
                 agentId, agent.hostname,
                 to == Maintenance::kDraining
                     ? fmt::format(": {} task(s) killed with a grace period of {:.1f} s", killed,
                                   toSeconds(grace))
                     : std::string());
    storeAgent(agent);
  }
  return {{"agent_id", agentId},
          {"maintenance", std::string(maintenanceName(agent.maintenance))},
          {"tasks_killed", killed}};
}

void Master::Impl::continueDrain(Agent& agent) {
  std::size_t live = 0;
  for (const std::string& key : agent.tasks) {
    Task& task = tasks.at(key);
    if (task.terminal) continue;
    ++live;
    // An unreachable agent's tasks are killed when it comes back.
    if (agent.status != AgentStatus::kActive || task.drainKilled) continue;
    task.drainKilled = true;
    wire::KillTask kill;
    kill.set_framework_id(task.frameworkId);
    kill.set_task_id(task.info.task_id());
    // The operator's grace, capped by the task's own where it has one (its
    // framework asked for no longer); without the operator's, the task's.
    Duration grace = killGraceOf(task);
    if (agent.drainGrace > Duration{0}) {
      grace =
          std::min(agent.drainGrace, killGrace(task.info.kill_policy()).value_or(agent.drainGrace));
    }
    kill.set_grace_period_us(toMicros(grace));
    send(agent.routingId, agent.id, wire::KILL_TASK, kill);
    task.killSequence = router.lastSequence();
  }
  if (live == 0 && agent.maintenance == Maintenance::kDraining) {
    agent.maintenance = Maintenance::kDrained;
    spdlog::info("master: agent {} ({}) is drained: no task left", agent.id, agent.hostname);
    storeAgent(agent);
  }
}

nlohmann::json Master::Impl::operatorReservation(const nlohmann::json& body, bool unreserve) {
  const char* verb = unreserve ? "unreserve" : "reserve";
  const std::string agentId = stringField(body, "agent_id");
  if (agentId.empty()) throw OperatorError(400, "agent_id: missing");
  auto it = agents.find(agentId);
  if (it == agents.end()) throw OperatorError(404, fmt::format("no agent '{}'", agentId));
  Agent& agent = it->second;
  const Resources change = resourcesField(body, "resources");
  if (change.empty()) throw OperatorError(400, "resources: missing or empty");
  for (const Pool& pool : change.pools()) {
    if (isUnreservedRole(pool.role)) {
      throw OperatorError(400, fmt::format("resources: {}: name the role of every resource, as "
                                           "cpus(web):2;mem(web):1024",
                                           toString(change)));
    }
  }
  if (agent.status != AgentStatus::kActive || !agent.inAllocator) {
    throw OperatorError(409, fmt::format("agent '{}' is {}: {} when it is active", agentId,
                                         statusName(agent.status), verb));
  }
  if (auto conflict = reservationConflict(agent, change, unreserve)) {
    throw OperatorError(409, *conflict);
  }
  // Only what no task uses can change hands. Checked before the offers go,
  // so that a refused request leaves them be.
  Resources unused = agent.total;
  for (const std::string& key : agent.tasks) {
    const Task& task = tasks.at(key);
    if (task.holdsResources) unused -= task.resources;
  }
  if (!unused.contains(unreserve ? change : change.withRole(kUnreservedRole))) {
    throw OperatorError(409, fmt::format("agent '{}': cannot {} {}: what no task uses there is {}",
                                         agentId, verb, toString(change), toString(unused)));
  }
  // Offered resources may be what is asked for: take the offers back first
  // (their frameworks are told), as Mesos does before it reserves.
  rescindAll(agent.offers, true);
  try {
    changeReservation(agent, change, unreserve, "an operator");
  } catch (const InvalidArgument& e) {
    requestRound();  // the rescinded offers go out again
    throw OperatorError(409, e.what());
  }
  return {{"agent_id", agentId},
          {"total", toString(agent.total)},
          {"reserved", textOf(agent.reserved)}};
}

// O(agents + frameworks + tasks + offers) every utilization interval (5 s by
// default): no per-message work.
void Master::Impl::sampleUtilization() {
  const ClusterState& state = allocator->state();
  UtilizationSample sample;
  sample.at = now();
  sample.total = state.totalScalars();
  sample.allocated = Scalars::Zero();
  for (RoleIndex r = 0; r < state.roleCount(); ++r) sample.allocated += state.role(r).allocated;
  sample.offered = Scalars::Zero();
  for (const auto& [id, offer] : offers) sample.offered += offer.resources.totalScalars();
  for (const auto& [id, agent] : agents) sample.agents += agent.status == AgentStatus::kActive;
  for (const auto& [id, fw] : frameworks) sample.frameworks += fw.connected;
  for (const auto& [key, task] : tasks) sample.tasks += !task.terminal;
  sample.offers = static_cast<std::uint32_t>(offers.size());
  utilization.push_back(sample);
  while (utilization.size() > opt.utilizationSamples) utilization.pop_front();
}

nlohmann::json Master::Impl::utilizationJson() {
  using nlohmann::json;
  const Dimensions& dims = *allocator->state().dimensions();
  const int n = static_cast<int>(dims.size());
  auto vector = [n](const Scalars& v) {
    json a = json::array();
    for (int d = 0; d < n; ++d) a.push_back(v[d]);
    return a;
  };
  json samples = json::array();
  for (const UtilizationSample& s : utilization) {
    samples.push_back(json{{"t_us", toMicros(s.at)},
                           {"total", vector(s.total)},
                           {"used", vector(s.allocated - s.offered)},
                           {"offered", vector(s.offered)},
                           {"agents", s.agents},
                           {"frameworks", s.frameworks},
                           {"tasks", s.tasks},
                           {"offers", s.offers}});
  }
  json names = json::array();
  for (int d = 0; d < n; ++d) names.push_back(std::string(dims.name(d)));
  return json{{"interval_us", toMicros(opt.utilizationInterval)},
              {"time_us", toMicros(now())},
              {"dimensions", std::move(names)},
              {"samples", std::move(samples)}};
}

Master::Impl::Census Master::Impl::census() const {
  Census c;
  for (const auto& [id, agent] : agents) ++c.agentsByStatus[static_cast<std::size_t>(agent.status)];
  for (const auto& [id, fw] : frameworks) c.activeFrameworks += fw.connected ? 1 : 0;
  return c;
}

Master::Impl::AgentUse Master::Impl::agentUse(const Agent& agent) const {
  AgentUse use;
  for (const std::string& key : agent.tasks) {
    const Task& task = tasks.at(key);
    if (task.terminal) continue;
    use.used += task.resources;
    ++use.running;
  }
  for (const std::string& offerId : agent.offers) use.offered += offers.at(offerId).resources;
  return use;
}

nlohmann::json Master::Impl::agentJson(const std::string& id, const Agent& agent) const {
  const AgentUse use = agentUse(agent);
  return nlohmann::json{{"id", id},
                        {"hostname", agent.hostname},
                        {"status", std::string(statusName(agent.status))},
                        {"maintenance", std::string(maintenanceName(agent.maintenance))},
                        {"total", toString(agent.total)},
                        {"reserved", textOf(agent.reserved)},
                        {"reservation_applied", agent.reservationApplied},
                        {"used", toString(use.used)},
                        {"offered", toString(use.offered)},
                        {"free", toString(agent.total - use.used - use.offered)},
                        {"attributes", agent.attributesText},
                        {"tasks", use.running},
                        {"last_seen_us", toMicros(agent.lastSeen)}};
}

// Filters on the cheap fields, sorts, and makes rows for the page only. Text
// columns sort as the UI sorts them where it sorts itself: numbers in them by
// value ("cpus:2;" before "cpus:16;", "node9" before "node10").
nlohmann::json Master::Impl::agentPageJson(const AgentPage& page) const {
  using json = nlohmann::json;
  const auto contains = [&](std::string_view text) {
    if (page.filter.empty()) return true;
    return std::search(text.begin(), text.end(), page.filter.begin(), page.filter.end(),
                       [](char a, char b) {
                         return std::tolower(static_cast<unsigned char>(a)) == b;
                       }) != text.end();
  };
  using Sort = AgentPage::Sort;
  const Sort key = page.sort;
  struct Entry {
    const std::string* id;
    const Agent* agent;
    std::string text;         // the sort key's text, for resource columns
    std::size_t running = 0;  // for "tasks"
  };
  std::vector<Entry> matched;
  for (const auto& [id, agent] : agents) {
    if (!contains(id) && !contains(agent.hostname) && !contains(statusName(agent.status)) &&
        !contains(maintenanceName(agent.maintenance)) && !contains(agent.attributesText)) {
      continue;
    }
    Entry e{&id, &agent, {}, 0};
    if (key == Sort::kTotal) {
      e.text = toString(agent.total);
    } else if (key == Sort::kReserved) {
      e.text = textOf(agent.reserved);
    } else if (key == Sort::kTasks || key == Sort::kUsed || key == Sort::kOffered ||
               key == Sort::kFree) {
      const AgentUse use = agentUse(agent);
      e.running = use.running;
      if (key == Sort::kUsed) e.text = toString(use.used);
      if (key == Sort::kOffered) e.text = toString(use.offered);
      if (key == Sort::kFree) e.text = toString(agent.total - use.used - use.offered);
    }
    matched.push_back(std::move(e));
  }
  // Ties go by id, so that pages do not overlap between polls.
  const auto less = [&](const Entry& a, const Entry& b) {
    int c = 0;
    switch (key) {
      case Sort::kId:
        break;
      case Sort::kHostname:
        c = naturalCompare(a.agent->hostname, b.agent->hostname);
        break;
      case Sort::kStatus:
        c = statusName(a.agent->status).compare(statusName(b.agent->status));
        break;
      case Sort::kAttributes:
        c = naturalCompare(a.agent->attributesText, b.agent->attributesText);
        break;
      case Sort::kLastSeen:
        // As the UI: by age, the most recently seen first.
        c = a.agent->lastSeen > b.agent->lastSeen ? -1 : a.agent->lastSeen < b.agent->lastSeen;
        break;
      case Sort::kTasks:
        c = a.running < b.running ? -1 : a.running > b.running;
        break;
      case Sort::kTotal:
      case Sort::kReserved:
      case Sort::kUsed:
      case Sort::kOffered:
      case Sort::kFree:
        c = naturalCompare(a.text, b.text);
        break;
    }
    if (c == 0) c = a.id->compare(*b.id);
    return page.descending ? c > 0 : c < 0;
  };
  const std::size_t first = std::min(page.offset, matched.size());
  const std::size_t last = std::min(matched.size(), first + page.limit);
  std::partial_sort(matched.begin(), matched.begin() + static_cast<std::ptrdiff_t>(last),
                    matched.end(), less);
  json rows = json::array();
  for (std::size_t i = first; i < last; ++i)
    rows.push_back(agentJson(*matched[i].id, *matched[i].agent));
  return json{{"rows", std::move(rows)}, {"matched", matched.size()},
              {"offset", page.offset},   {"limit", page.limit},
              {"sort", page.sortName},   {"order", page.descending ? "desc" : "asc"},
              {"filter", page.filter}};
}

nlohmann::json Master::Impl::stateJson(const std::set<std::string, std::less<>>* only,
                                       const std::optional<AgentPage>& page) {
  using nlohmann::json;
  auto want = [only](std::string_view list) { return only == nullptr || only->count(list) > 0; };
  auto statusJson = [](const Task& task) {
    json j{{"id", task.info.task_id()},
           {"name", task.info.name()},
           {"framework_id", task.frameworkId},
           {"agent_id", task.agentId},
           {"state", std::string(taskStateName(task.status.state()))},
           {"resources", task.info.resources()},
           {"message", task.status.message()},
           {"reason", task.status.reason()},
           {"updated_us", task.status.timestamp_us()}};
    if (task.status.has_healthy()) j["healthy"] = task.status.healthy();
    return j;
  };
  json j;
  j["master_id"] = masterId;
  j["policy"] = std::string(allocator->name());
  j["start_time_us"] = toMicros(startedAt);
  j["time_us"] = toMicros(now());
  j["endpoint"] = router.endpoint();
  json registryJson{{"where", registry ? registry->where() : std::string()},
                    {"stored", !registryDirty},
                    {"writes", registryWriteLatency.count()},
                    {"failures", registryWriteFailures}};
  if (registryDirty && !lastRegistryError.empty()) registryJson["error"] = lastRegistryError;
  j["registry"] = std::move(registryJson);
  json curveJson{{"enabled", opt.curve.has_value()}};
  if (opt.curve) {
    curveJson["public_key"] = opt.curve->keys.publicKey;
    curveJson["clients_file"] = opt.curve->clientsFile;
    curveJson["admitted"] = curveAuth ? curveAuth->admitted() : 0;
    curveJson["refused"] = curveAuth ? curveAuth->refused() : 0;
    curveJson["failed_handshakes"] = curveHandshakeFailures;
  }
  j["curve"] = std::move(curveJson);
  json aclsJson{{"enabled", acls.has_value()}};
  if (acls) {
    const master::Acls& a = currentAcls();
    aclsJson["file"] = acls->path();
    aclsJson["permissive"] = a.permissive;
    json rules = json::object();
    json denied = json::object();
    for (std::size_t i = 0; i < master::kAclActions; ++i) {
      const std::string name(master::aclActionName(static_cast<master::AclAction>(i)));
      rules[name] = a.rules[i].size();
      denied[name] = aclDenials[i];
    }
    aclsJson["rules"] = std::move(rules);
    aclsJson["denied"] = std::move(denied);
  }
  j["acls"] = std::move(aclsJson);
  const Census counted = census();
  j["counts"] = json{{"agents", agents.size()},
                     {"agents_active", counted.agents(AgentStatus::kActive)},
                     {"agents_unreachable", counted.agents(AgentStatus::kUnreachable)},
                     {"agents_recovering", counted.agents(AgentStatus::kRecovering)},
                     {"frameworks", frameworks.size()},
                     {"frameworks_active", counted.activeFrameworks},
                     {"completed_frameworks", recentlyRemoved.size()},
                     {"roles", allocator->state().roleCount()},
                     {"tasks", tasks.size()},
                     {"completed_tasks", std::min<std::size_t>(completed.size(), 1000)},
                     {"offers", offers.size()}};
  if (want("agents") && page) {
    json paged = agentPageJson(*page);
    j["agents"] = std::move(paged["rows"]);
    paged.erase("rows");
    j["agents_page"] = std::move(paged);
  } else if (want("agents")) {
    json agentsJson = json::array();
    for (const auto& [id, agent] : agents) agentsJson.push_back(agentJson(id, agent));
    j["agents"] = std::move(agentsJson);
  }
  if (want("frameworks")) {
    json fwJson = json::array();
    for (const auto& [id, fw] : frameworks) {
      std::size_t running = 0;
      for (const std::string& key : fw.tasks) running += tasks.at(key).terminal ? 0u : 1u;
      fwJson.push_back(json{{"id", id},
                            {"name", fw.info.name()},
                            {"role", fw.info.role()},
                            {"weight", fw.info.weight()},
                            {"principal", fw.info.principal()},
                            {"user", fw.info.user()},
                            {"hostname", fw.info.hostname()},
                            {"active", fw.connected},
                            {"suppressed", fw.suppressed},
                            {"failover_timeout_us", fw.info.failover_timeout_us()},
                            {"tasks", running},
                            {"offers", fw.offers.size()},
                            {"pending_updates", fw.pending.size()}});
    }
    j["frameworks"] = std::move(fwJson);
  }
  if (want("completed_frameworks")) {
    json removedJson = json::array();  // newest first
    for (auto it = recentlyRemoved.rbegin(); it != recentlyRemoved.rend(); ++it) {
      removedJson.push_back(json{{"id", it->info.framework_id()},
                                 {"name", it->info.name()},
                                 {"role", it->info.role()},
                                 {"principal", it->info.principal()},
                                 {"user", it->info.user()},
                                 {"removed_at_us", toMicros(it->at)},
                                 {"reason", it->reason},
                                 {"tasks_killed", it->tasksKilled}});
    }
    j["completed_frameworks"] = std::move(removedJson);
  }
  if (want("tasks")) {
    json tasksJson = json::array();
    for (const auto& [key, task] : tasks) tasksJson.push_back(statusJson(task));
    j["tasks"] = std::move(tasksJson);
  }
  if (want("completed_tasks")) {
    // The latest 1,000, newest first.
    json doneJson = json::array();
    for (auto it = completedOrder.rbegin(); it != completedOrder.rend() && doneJson.size() < 1000;
         ++it) {
      auto c = completed.find(it->first);
      if (c != completed.end() && c->second.completedSeq == it->second) {
        doneJson.push_back(statusJson(c->second));
      }
    }
    j["completed_tasks"] = std::move(doneJson);
  }
  if (want("offers")) {
    json offersJson = json::array();
    for (const auto& [id, offer] : offers) {
      offersJson.push_back(json{{"id", id},
                                {"framework_id", offer.frameworkId},
                                {"agent_id", offer.agentId},
                                {"resources", toString(offer.resources)},
                                {"sent_us", toMicros(offer.sentAt)}});
    }
    j["offers"] = std::move(offersJson);
  }
  if (want("roles")) {
    json rolesJson = json::array();
    const ClusterState& state = allocator->state();
    const Scalars& total = state.totalScalars();
    for (RoleIndex r = 0; r < state.roleCount(); ++r) {
      const RoleState& role = state.role(r);
      double share = 0;
      for (int d = 0; d < kMaxScalarDims; ++d) {
        if (total[d] > 0) share = std::max(share, role.allocated[d] / total[d]);
      }
      rolesJson.push_back(json{{"name", role.name},
                               {"weight", role.weight},
                               {"guarantee", textOf(role.quota.guarantee)},
                               {"limit", textOf(role.quota.limit)},
                               {"frameworks", role.frameworks.size()},
                               {"allocated", toString(role.allocated, *state.dimensions())},
                               {"share", share}});
    }
    j["roles"] = std::move(rolesJson);
  }
  return j;
}

std::string Master::Impl::metricsText() {
  std::string out;
  auto append = [&out](std::string_view line) {
    out.append(line);
    out.push_back('\n');
  };
  auto summary = [&](std::string_view name, std::string_view help, const LatencyWindow& w) {
    append(fmt::format("# HELP {} {}", name, help));
    append(fmt::format("# TYPE {} summary", name));
    for (double q : {0.5, 0.9, 0.99}) {
      const double v = w.quantile(q);
      append(fmt::format("{}{{quantile=\"{}\"}} {}", name, q,
                         std::isnan(v) ? "NaN" : fmt::format("{}", v)));
    }
    append(fmt::format("{}_sum {}", name, w.sum()));
    append(fmt::format("{}_count {}", name, w.count()));
  };
  auto histogram = [&](std::string_view name, std::string_view help, const LatencyWindow& w) {
    append(fmt::format("# HELP {} {}", name, help));
    append(fmt::format("# TYPE {} histogram", name));
    for (std::size_t i = 0; i < LatencyWindow::kBounds.size(); ++i) {
      append(fmt::format("{}_bucket{{le=\"{}\"}} {}", name, LatencyWindow::kBounds[i],
                         w.cumulative(i)));
    }
    append(fmt::format("{}_bucket{{le=\"+Inf\"}} {}", name, w.count()));
    append(fmt::format("{}_sum {}", name, w.sum()));
    append(fmt::format("{}_count {}", name, w.count()));
  };
  summary("allot_master_allocation_round_seconds",
          "Time of one allocation round (policy and offer sending); quantiles over the last 4096",
          roundLatency);
  histogram("allot_master_allocation_round_histogram_seconds",
            "Time of one allocation round (policy and offer sending); every round since start",
            roundLatency);
  summary("allot_master_offer_to_launch_seconds",
          "Time from an offer sent to its task's RUN_TASK sent; quantiles over the last 4096",
          offerToLaunch);
  histogram("allot_master_offer_to_launch_histogram_seconds",
            "Time from an offer sent to its task's RUN_TASK sent; every launch since start",
            offerToLaunch);
  summary("allot_master_registry_write_seconds",
          "Time of one registry write (SQLite commit, or ZooKeeper transactions with --zk); "
          "quantiles over the last 4096",
          registryWriteLatency);
  histogram("allot_master_registry_write_histogram_seconds",
            "Time of one registry write; every write since start", registryWriteLatency);
  append(
      "# HELP allot_master_registry_write_failures_total Registry writes that failed "
      "(kept in memory, tried again)");
  append("# TYPE allot_master_registry_write_failures_total counter");
  append(fmt::format("allot_master_registry_write_failures_total {}", registryWriteFailures));
  if (opt.curve) {
    append(
        "# HELP allot_master_curve_clients_total CURVE clients the --curve-clients file "
        "admitted or refused (none counted under --curve-allow-any)");
    append("# TYPE allot_master_curve_clients_total counter");
    append(fmt::format("allot_master_curve_clients_total{{result=\"admitted\"}} {}",
                       curveAuth ? curveAuth->admitted() : 0));
    append(fmt::format("allot_master_curve_clients_total{{result=\"refused\"}} {}",
                       curveAuth ? curveAuth->refused() : 0));
    append(
        "# HELP allot_master_curve_handshake_failures_total CURVE handshakes that failed "
        "before the clients file was asked (no CURVE, or not this master's key)");
    append("# TYPE allot_master_curve_handshake_failures_total counter");
    append(fmt::format("allot_master_curve_handshake_failures_total {}", curveHandshakeFailures));
  }
  if (acls) {
    append("# HELP allot_master_acl_denials_total Requests the --acls refused, by ACL");
    append("# TYPE allot_master_acl_denials_total counter");
    for (std::size_t i = 0; i < master::kAclActions; ++i) {
      append(fmt::format("allot_master_acl_denials_total{{acl=\"{}\"}} {}",
                         master::aclActionName(static_cast<master::AclAction>(i)), aclDenials[i]));
    }
  }
  append("# HELP allot_master_allocation_rounds_total Allocation rounds run");
  append("# TYPE allot_master_allocation_rounds_total counter");
  append(fmt::format("allot_master_allocation_rounds_total {}", rounds));
  append(
      "# HELP allot_master_allocation_rounds_failed_total Rounds whose policy raised (logged "
      "at most once a minute)");
  append("# TYPE allot_master_allocation_rounds_failed_total counter");
  append(fmt::format("allot_master_allocation_rounds_failed_total {}", failedRounds));
  append("# HELP allot_master_offers_total Offers by what became of them");
  append("# TYPE allot_master_offers_total counter");
  append(fmt::format("allot_master_offers_total{{event=\"made\"}} {}", offersMade));
  append(fmt::format("allot_master_offers_total{{event=\"accepted\"}} {}", offersAccepted));
  append(fmt::format("allot_master_offers_total{{event=\"declined\"}} {}", offersDeclined));
  append(fmt::format("allot_master_offers_total{{event=\"rescinded\"}} {}", offersRescinded));
  append("# HELP allot_master_offers_outstanding Offers sent and not yet answered");
  append("# TYPE allot_master_offers_outstanding gauge");
  append(fmt::format("allot_master_offers_outstanding {}", offers.size()));
  append("# HELP allot_master_tasks_launched_total Tasks sent to agents");
  append("# TYPE allot_master_tasks_launched_total counter");
  append(fmt::format("allot_master_tasks_launched_total {}", tasksLaunched));
  append("# HELP allot_master_tasks_preempted_total Tasks killed for the policy's reclaims");
  append("# TYPE allot_master_tasks_preempted_total counter");
  append(fmt::format("allot_master_tasks_preempted_total {}", tasksPreempted));
  append("# HELP allot_master_tasks Tasks the master knows, by latest state");
  append("# TYPE allot_master_tasks gauge");
  for (std::size_t s = 1; s < tasksByState.size(); ++s) {
    if (!wire::TaskState_IsValid(static_cast<int>(s))) continue;
    append(fmt::format("allot_master_tasks{{state=\"{}\"}} {}",
                       taskStateName(static_cast<wire::TaskState>(s)), tasksByState[s]));
  }
  const Census c = census();
  append("# HELP allot_master_agents Agents by status");
  append("# TYPE allot_master_agents gauge");
  for (auto s : {AgentStatus::kActive, AgentStatus::kUnreachable, AgentStatus::kRecovering}) {
    append(fmt::format("allot_master_agents{{status=\"{}\"}} {}", statusName(s), c.agents(s)));
  }
  append("# HELP allot_master_agents_forgotten_total Unreachable agents forgotten (age or count)");
  append("# TYPE allot_master_agents_forgotten_total counter");
  append(fmt::format("allot_master_agents_forgotten_total {}", forgottenAgents));
  append("# HELP allot_master_frameworks Frameworks by connection");
  append("# TYPE allot_master_frameworks gauge");
  append(fmt::format("allot_master_frameworks{{state=\"active\"}} {}", c.activeFrameworks));
  append(fmt::format("allot_master_frameworks{{state=\"disconnected\"}} {}",
                     frameworks.size() - c.activeFrameworks));
  append("# HELP allot_master_messages_received_total Well-formed messages received, by type");
  append("# TYPE allot_master_messages_received_total counter");
  for (std::size_t t = 1; t < received.size(); ++t) {
    if (received[t] == 0) continue;
    append(fmt::format("allot_master_messages_received_total{{type=\"{}\"}} {}",
                       messageTypeName(static_cast<int>(t)), received[t]));
  }
  append("# HELP allot_master_bad_messages_total Messages refused or partly refused, by reason");
  append("# TYPE allot_master_bad_messages_total counter");
  for (const auto& [reason, n] : badMessages) {
    append(fmt::format("allot_master_bad_messages_total{{reason=\"{}\"}} {}", reason, n));
  }
  append("# HELP allot_master_messages_dropped_total Sends dropped (peer gone or queue full)");
  append("# TYPE allot_master_messages_dropped_total counter");
  append(fmt::format("allot_master_messages_dropped_total {}", router.dropped()));
  return out;
}

// ---------------------------------------------------------------------- Master

std::string makeMasterId(TimePoint now) {
  return fmt::format("{:x}{:04x}", toMicros(now), std::random_device{}() & 0xffffu);
}

Master::Master(zmq::context_t& context, const Clock& clock, MasterOptions options)
    : impl_(std::make_unique<Impl>(context, clock, std::move(options))) {}

Master::~Master() = default;

void Master::run() {
  impl_->loop.run();
}

void Master::runOnce(Duration maxWait) {
  impl_->loop.runOnce(maxWait);
}

void Master::stop() {
  impl_->loop.stop();
}

bool Master::stopped() const {
  return impl_->loop.stopped();
}

void Master::stopOnSignals() {
  impl_->loop.stopOnSignals();
}

std::string Master::endpoint() const {
  return impl_->router.endpoint();
}

int Master::httpPort() const {
  return impl_->httpServer ? impl_->httpServer->port() : -1;
}

const std::string& Master::id() const {
  return impl_->masterId;
}

const std::string& Master::stopReason() const {
  return impl_->stopReason;
}

}  // namespace allot::runtime
