// Leader election and detection on ZooKeeper: see allot/runtime/zookeeper.h.
//
// ZooKeeper's multi-threaded C client calls watchers on its own completion
// thread, where its synchronous calls must not be made. So each contender
// and detector has a worker thread: the watcher only flags that something
// changed, and the worker reads ZooKeeper (synchronously) and acts.

#include "allot/runtime/zookeeper.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "allot/core/error.h"
#include "allot/core/text.h"

namespace allot::runtime {

// ------------------------------------------------------------------- values

namespace {

// `text` with what stands between "zk://USER:" and '@' shown as "***".
std::string redact(std::string_view text) {
  std::string out(text);
  const auto start = out.find("://");
  const auto at = out.find('@');
  if (start == std::string::npos || at == std::string::npos) return out;
  const auto colon = out.find(':', start + 3);
  if (colon == std::string::npos || colon > at)
    return out.replace(start + 3, at - start - 3, "***");
  return out.replace(colon + 1, at - colon - 1, "***");
}

}  // namespace

std::optional<ZkUrl> ZkUrl::parse(std::string_view text) {
  constexpr std::string_view kScheme = "zk://";
  constexpr std::string_view kFile = "file://";
  if (text.starts_with(kFile)) {
    const std::string file(text.substr(kFile.size()));
    std::ifstream in(file);
    std::string line;
    if (!in || !std::getline(in, line)) {
      throw ParseError(fmt::format("ZooKeeper URL file '{}': cannot read it", file));
    }
    line = std::string(trim(line));
    if (!std::string_view(line).starts_with(kScheme)) {
      throw ParseError(
          fmt::format("ZooKeeper URL file '{}': its first line is not a zk:// URL", file));
    }
    return parse(line);
  }
  if (!text.starts_with(kScheme)) return std::nullopt;
  std::string_view rest = text.substr(kScheme.size());
  std::string credentials;
  if (const auto at = rest.substr(0, rest.find('/')).rfind('@'); at != std::string_view::npos) {
    credentials = std::string(rest.substr(0, at));
    rest.remove_prefix(at + 1);
    const auto colon = credentials.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == credentials.size()) {
      throw ParseError(fmt::format(
          "ZooKeeper URL '{}': credentials must be USER:PASSWORD, both non-empty", redact(text)));
    }
  }
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) {
    throw ParseError(fmt::format("ZooKeeper URL '{}': expected zk://HOST:PORT[,HOST:PORT...]/PATH",
                                 redact(text)));
  }
  ZkUrl url{std::string(rest.substr(0, slash)), std::string(rest.substr(slash)),
            std::move(credentials)};
  while (url.path.size() > 1 && url.path.back() == '/') url.path.pop_back();
  if (url.path == "/") {
    throw ParseError(
        fmt::format("ZooKeeper URL '{}': give a path below the root, as /allot", redact(text)));
  }
  if (url.path.find("//") != std::string::npos) {
    throw ParseError(fmt::format("ZooKeeper URL '{}': empty path component", redact(text)));
  }
  // Every comma-separated server is HOST:PORT with a port of 1-65535; an
  // empty one (",h:1", "h:1,", "h:1,,h:2") is refused.
  std::string_view servers = url.servers;
  for (;;) {
    const auto comma = servers.find(',');
    const std::string_view server = servers.substr(0, comma);
    const auto colon = server.rfind(':');
    const std::string_view port =
        colon == std::string_view::npos ? std::string_view{} : server.substr(colon + 1);
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (colon == std::string_view::npos || colon == 0 || port.empty() ||
        end != port.data() + port.size() || ec != std::errc{} || value == 0 || value > 65535) {
      throw ParseError(fmt::format(
          "ZooKeeper URL '{}': server '{}' is not HOST:PORT (port 1-65535)", redact(text), server));
    }
    if (comma == std::string_view::npos) break;
    servers.remove_prefix(comma + 1);
  }
  return url;
}

std::string ZkUrl::text() const {
  if (credentials.empty()) return "zk://" + servers + path;
  return "zk://" + credentials.substr(0, credentials.find(':')) + ":***@" + servers + path;
}

std::string MasterInfo::toJson() const {
  return nlohmann::json{{"id", id}, {"endpoint", endpoint}, {"http", http}}.dump();
}

std::string httpUrl(std::string_view http) {
  if (http.starts_with("https://") || http.starts_with("http://")) return std::string(http);
  return fmt::format("http://{}", http);
}

std::optional<MasterInfo> MasterInfo::fromJson(std::string_view json) {
  const auto j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("endpoint") || !j["endpoint"].is_string()) return std::nullopt;
  MasterInfo info;
  info.endpoint = j["endpoint"].get<std::string>();
  if (j.contains("id") && j["id"].is_string()) info.id = j["id"].get<std::string>();
  if (j.contains("http") && j["http"].is_string()) info.http = j["http"].get<std::string>();
  return info;
}

namespace {

bool sameInfo(const std::optional<MasterInfo>& a, const std::optional<MasterInfo>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || (a->id == b->id && a->endpoint == b->endpoint && a->http == b->http);
}

// ------------------------------------------------------------------ session

constexpr std::string_view kMemberPrefix = "member_";
// ZooKeeper's default limit on a node's data (jute.maxbuffer), less room
// for the request around it.
constexpr std::size_t kMaxNodeBytes = 1'000'000;
// Before a failed read is tried again: a lasting failure must not spin.
constexpr auto kRetryPause = std::chrono::milliseconds(100);

// What the watcher tells the worker. Shared by ZooKeeper's thread (the
// watcher) and the worker, under `mutex`.
struct Signals {
  std::mutex mutex;
  std::condition_variable wake;
  bool dirty = true;  // read the members (again)
  bool stopping = false;

  void set(bool Signals::*flag) {
    {
      std::lock_guard lock(mutex);
      this->*flag = true;
    }
    wake.notify_all();
  }
  void markDirty() { set(&Signals::dirty); }
  void stop() { set(&Signals::stopping); }
};

void watcher(zhandle_t* /*zh*/, int /*type*/, int /*state*/, const char* /*path*/, void* context) {
  static_cast<Signals*>(context)->markDirty();
}

// The C client logs errors only (its level is the library's global, set
// once), through clientLog.
void quietClientLog() {
  static std::once_flag once;
  std::call_once(once, [] { zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR); });
}

// While ZooKeeper is down the C client logs every failed connection attempt,
// tens per second per session. One line in 10 s reaches the log, with the
// count of those left out. The callback gets no context from the library,
// hence the statics (atomics: every session's threads call it).
void clientLog(const char* message) {
  using Steady = std::chrono::steady_clock;
  static std::atomic<std::int64_t> last{0};
  static std::atomic<std::uint64_t> dropped{0};
  const std::int64_t now = Steady::now().time_since_epoch().count();
  const std::int64_t gap =
      std::chrono::duration_cast<Steady::duration>(std::chrono::seconds(10)).count();
  std::int64_t previous = last.load();
  if ((previous != 0 && now - previous < gap) || !last.compare_exchange_strong(previous, now)) {
    ++dropped;
    return;
  }
  std::string_view text = message;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  const std::uint64_t left = dropped.exchange(0);
  if (left > 0) {
    spdlog::warn("ZooKeeper client: {} ({} similar lines in the last 10 s not shown)", text, left);
  } else {
    spdlog::warn("ZooKeeper client: {}", text);
  }
}

zhandle_t* openSession(const ZkUrl& url, Duration timeout, Signals& signals) {
  quietClientLog();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
  zhandle_t* zh = zookeeper_init2(url.servers.c_str(), watcher, static_cast<int>(ms), nullptr,
                                  &signals, 0, clientLog);
  if (zh == nullptr) {
    throw Error(
        fmt::format("ZooKeeper {}: cannot start a session: {}", url.text(), std::strerror(errno)));
  }
  // Sent once connected, and again by the client on every reconnection.
  if (!url.credentials.empty()) {
    const int rc = zoo_add_auth(zh, "digest", url.credentials.data(),
                                static_cast<int>(url.credentials.size()), nullptr, nullptr);
    if (rc != ZOK) {
      zookeeper_close(zh);
      throw Error(fmt::format("ZooKeeper {}: cannot authenticate: {}", url.text(), zerror(rc)));
    }
  }
  return zh;
}

// The ACL of the nodes masters create: open without credentials; with
// them, changed only by their identity and, when `publicRead` (PATH, the
// members), read by anyone.
ACL_vector* aclFor(const ZkUrl& url, bool publicRead) {
  static ACL readAndOwner[] = {{ZOO_PERM_READ, ZOO_ANYONE_ID_UNSAFE}, {ZOO_PERM_ALL, ZOO_AUTH_IDS}};
  static ACL ownerOnly[] = {{ZOO_PERM_ALL, ZOO_AUTH_IDS}};
  static ACL_vector readAndOwnerAcl{2, readAndOwner};
  static ACL_vector ownerOnlyAcl{1, ownerOnly};
  if (url.credentials.empty()) return &ZOO_OPEN_ACL_UNSAFE;
  return publicRead ? &readAndOwnerAcl : &ownerOnlyAcl;
}

// zerror(rc), with what to do about ZNOAUTH.
std::string why(int rc) {
  if (rc != ZNOAUTH) return zerror(rc);
  return fmt::format(
      "{} (the node is protected by other ZooKeeper credentials: give the USER:PASSWORD the "
      "masters use in the URL)",
      zerror(rc));
}

// Creates `node` with `acl`; when `protect` and there are credentials,
// gives an existing one that ACL too (a node made before without
// credentials is open). ZOK when the node exists.
int createOrProtect(zhandle_t* zh, const ZkUrl& url, const std::string& node, ACL_vector* acl,
                    bool protect = true) {
  const int rc = zoo_create(zh, node.c_str(), nullptr, -1, acl, ZOO_PERSISTENT, nullptr, 0);
  if (rc != ZNODEEXISTS || url.credentials.empty() || !protect) return rc == ZNODEEXISTS ? ZOK : rc;
  return zoo_set_acl(zh, node.c_str(), -1, acl);
}

bool connected(zhandle_t* zh) {
  return zoo_state(zh) == ZOO_CONNECTED_STATE;
}

bool expired(zhandle_t* zh) {
  const int state = zoo_state(zh);
  return state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE;
}

// Creates every component of `path` that is missing: persistent, open but
// for the last, which gets aclFor(url, true) (given to it if it exists, when
// `protect`: masters do, the detectors of agents and frameworks do not).
int ensurePath(zhandle_t* zh, const ZkUrl& url, const std::string& path, bool protect = true) {
  for (std::size_t at = 1; at < path.size(); ++at) {
    if (path[at] != '/') continue;
    const int rc = zoo_create(zh, path.substr(0, at).c_str(), nullptr, -1, &ZOO_OPEN_ACL_UNSAFE,
                              ZOO_PERSISTENT, nullptr, 0);
    if (rc != ZOK && rc != ZNODEEXISTS) return rc;
  }
  return createOrProtect(zh, url, path, aclFor(url, /*publicRead=*/true), protect);
}

// The members under `path`, oldest first, with a watch for the next change.
int members(zhandle_t* zh, const std::string& path, Signals& signals,
            std::vector<std::string>& out) {
  String_vector children{};
  const int rc = zoo_wget_children(zh, path.c_str(), watcher, &signals, &children);
  out.clear();
  if (rc != ZOK) return rc;
  for (int i = 0; i < children.count; ++i) {
    std::string_view name = children.data[i];
    if (name.starts_with(kMemberPrefix)) out.emplace_back(name);
  }
  deallocate_String_vector(&children);
  // Sequence numbers are ten digits: names sort as their numbers.
  std::sort(out.begin(), out.end());
  return ZOK;
}

int readInfo(zhandle_t* zh, const std::string& node, std::optional<MasterInfo>& out) {
  std::string buffer(64 * 1024, '\0');
  int length = static_cast<int>(buffer.size());
  const int rc = zoo_get(zh, node.c_str(), 0, buffer.data(), &length, nullptr);
  if (rc != ZOK) return rc;
  buffer.resize(length < 0 ? 0 : static_cast<std::size_t>(length));
  out = MasterInfo::fromJson(buffer);
  return ZOK;
}

// The leader's info under `path` into `out` (nullopt when no member leads),
// its members into `names`, with a watch for their next change.
int readLeader(zhandle_t* zh, const std::string& path, Signals& signals,
               std::vector<std::string>& names, std::optional<MasterInfo>& out) {
  out.reset();
  int rc = members(zh, path, signals, names);
  if (rc == ZOK && !names.empty()) rc = readInfo(zh, path + "/" + names.front(), out);
  return rc;
}

// Waits for the session's first connection, up to `timeout`.
void awaitConnection(zhandle_t* zh, const ZkUrl& url, Duration timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!connected(zh)) {
    if (expired(zh) || std::chrono::steady_clock::now() > end) {
      throw Error(fmt::format(
          "ZooKeeper {}: no connection within the session timeout ({:.1f} s); is it running?",
          url.text(), toSeconds(timeout)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

// --------------------------------------------------------------- contender

struct MasterContender::Impl {
  ZkUrl url;
  Duration timeout;
  Signals signals;
  zhandle_t* zh = nullptr;
  std::string node;  // our member's full path

  std::mutex mutex;  // guards what follows
  std::condition_variable changed;
  bool leading = false;
  std::optional<std::string> failure;  // the candidacy ended before leading
  std::optional<MasterInfo> leader;
  std::uint64_t leaderVersion = 0;
  std::function<void(const std::string&)> lost;
  bool lostReported = false;

  std::thread worker;

  void run();
  void end(const std::string& why);
};

MasterContender::MasterContender(const ZkUrl& url, MasterInfo self, Duration sessionTimeout)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.url = url;
  m.timeout = sessionTimeout;
  m.zh = openSession(url, sessionTimeout, m.signals);
  try {
    awaitConnection(m.zh, url, sessionTimeout);
    if (int rc = ensurePath(m.zh, url, url.path); rc != ZOK) {
      throw Error(fmt::format("ZooKeeper {}: cannot create {}: {}", url.text(), url.path, why(rc)));
    }
    const std::string data = self.toJson();
    const std::string prefix = url.path + "/" + std::string(kMemberPrefix);
    std::string created(prefix.size() + 64, '\0');
    const int rc = zoo_create(m.zh, prefix.c_str(), data.data(), static_cast<int>(data.size()),
                              aclFor(url, /*publicRead=*/true), ZOO_EPHEMERAL_SEQUENTIAL,
                              created.data(), static_cast<int>(created.size()));
    if (rc != ZOK) {
      throw Error(
          fmt::format("ZooKeeper {}: cannot create this master's node: {}", url.text(), why(rc)));
    }
    m.node = created.c_str();
  } catch (...) {
    zookeeper_close(m.zh);
    throw;
  }
  spdlog::info("master: candidate in ZooKeeper {} as {}", url.text(), m.node);
  m.worker = std::thread([&m] { m.run(); });
}

MasterContender::~MasterContender() {
  impl_->signals.stop();
  impl_->worker.join();
  zookeeper_close(impl_->zh);  // the ephemeral node goes with the session
}

void MasterContender::onLost(std::function<void(const std::string&)> lost) {
  std::lock_guard lock(impl_->mutex);
  impl_->lost = std::move(lost);
}

bool MasterContender::waitForLeadership(
    const std::function<bool()>& stop,
    const std::function<void(const std::optional<MasterInfo>&)>& onStandby) {
  std::uint64_t seen = 0;
  for (;;) {
    std::optional<MasterInfo> leader;
    bool report = false;
    {
      std::unique_lock lock(impl_->mutex);
      impl_->changed.wait_for(lock, std::chrono::milliseconds(100));
      if (impl_->leading) return true;
      if (impl_->failure) throw Error(*impl_->failure);
      if (impl_->leaderVersion != seen) {
        seen = impl_->leaderVersion;
        leader = impl_->leader;
        report = true;
      }
    }
    if (report && onStandby) onStandby(leader);
    if (stop()) return false;
  }
}

// Ends the candidacy: a loss if this master led, else a failure that
// waitForLeadership reports.
void MasterContender::Impl::end(const std::string& why) {
  std::function<void(const std::string&)> call;
  {
    std::lock_guard lock(mutex);
    if (leading) {
      if (!lostReported && lost) call = lost;
      lostReported = true;
    } else if (!failure) {
      failure = fmt::format("ZooKeeper {}: {} while standing by", url.text(), why);
    }
  }
  changed.notify_all();
  if (call) call(why);
}

void MasterContender::Impl::run() {
  using Steady = std::chrono::steady_clock;
  // When the connection dropped; the epoch while connected.
  Steady::time_point cutSince{};
  const std::string name = node.substr(url.path.size() + 1);
  std::vector<std::string> names;
  for (;;) {
    bool dirty = false;
    {
      std::unique_lock lock(signals.mutex);
      signals.wake.wait_for(lock, std::chrono::milliseconds(100),
                            [&] { return signals.dirty || signals.stopping; });
      if (signals.stopping) return;
      dirty = std::exchange(signals.dirty, false);
    }
    if (expired(zh)) return end("the ZooKeeper session expired");
    if (!connected(zh)) {
      // While cut off, the session may live or not; past its timeout it
      // is gone for ZooKeeper, and another master may lead.
      if (cutSince == Steady::time_point{}) cutSince = Steady::now();
      if (Steady::now() - cutSince > timeout) {
        return end(fmt::format("cut from ZooKeeper for longer than the session timeout ({:.1f} s)",
                               toSeconds(timeout)));
      }
      continue;
    }
    cutSince = Steady::time_point{};
    if (!dirty) continue;
    if (int rc = members(zh, url.path, signals, names); rc != ZOK) {
      spdlog::warn("master: ZooKeeper {}: cannot list {}: {}", url.text(), url.path, zerror(rc));
      std::this_thread::sleep_for(kRetryPause);
      signals.markDirty();
      continue;
    }
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      return end(fmt::format("this master's node {} was deleted", node));
    }
    if (names.front() == name) {
      {
        std::lock_guard lock(mutex);
        leading = true;
      }
      changed.notify_all();
      continue;
    }
    std::optional<MasterInfo> current;
    if (int rc = readInfo(zh, url.path + "/" + names.front(), current); rc != ZOK) {
      std::this_thread::sleep_for(kRetryPause);
      signals.markDirty();  // it went between the two reads: list again
      continue;
    }
    {
      std::lock_guard lock(mutex);
      if (!sameInfo(current, leader) || leaderVersion == 0) {
        leader = current;
        ++leaderVersion;
      }
    }
    changed.notify_all();
  }
}

const std::string& MasterContender::node() const {
  return impl_->node;
}

// ------------------------------------------------------------------- store

struct ZkStore::Impl {
  Signals signals;  // the session's watcher needs one; nothing is watched
  zhandle_t* zh = nullptr;
};

ZkStore::ZkStore(const ZkUrl& url, Duration sessionTimeout)
    : impl_(std::make_unique<Impl>()), url_(url) {
  impl_->zh = openSession(url, sessionTimeout, impl_->signals);
  try {
    awaitConnection(impl_->zh, url, sessionTimeout);
  } catch (...) {
    zookeeper_close(impl_->zh);
    throw;
  }
}

ZkStore::~ZkStore() {
  zookeeper_close(impl_->zh);
}

std::size_t ZkStore::maxNodeBytes() {
  return kMaxNodeBytes;
}

std::string ZkStore::readOrCreate(const std::string& node) {
  return std::move(readOrCreate(std::span<const std::string>(&node, 1)).front());
}

std::vector<std::string> ZkStore::readOrCreate(std::span<const std::string> nodes) {
  std::vector<std::string> parents;
  for (const std::string& node : nodes) {
    const auto slash = node.rfind('/');
    if (slash == 0 || slash == std::string::npos) continue;
    std::string parent = node.substr(0, slash);
    if (std::find(parents.begin(), parents.end(), parent) != parents.end()) continue;
    // A missing parent is made readable by anyone (as PATH is); an existing
    // one keeps its ACL: the registry node, parent of its shards, is private.
    if (int rc = ensurePath(impl_->zh, url_, parent, /*protect=*/false); rc != ZOK) {
      throw Error(fmt::format("ZooKeeper {}: cannot create {}: {}", url_.text(), parent, why(rc)));
    }
    parents.push_back(std::move(parent));
  }
  std::vector<std::string> out;
  out.reserve(nodes.size());
  std::string buffer(kMaxNodeBytes, '\0');
  for (const std::string& node : nodes) {
    int rc = createOrProtect(impl_->zh, url_, node, aclFor(url_, /*publicRead=*/false));
    if (rc != ZOK) {
      throw Error(fmt::format("ZooKeeper {}: cannot create {}: {}", url_.text(), node, why(rc)));
    }
    int length = static_cast<int>(buffer.size());
    rc = zoo_get(impl_->zh, node.c_str(), 0, buffer.data(), &length, nullptr);
    if (rc != ZOK) {
      throw Error(fmt::format("ZooKeeper {}: cannot read {}: {}", url_.text(), node, why(rc)));
    }
    out.emplace_back(buffer.data(), length < 0 ? 0 : static_cast<std::size_t>(length));
  }
  return out;
}

bool ZkStore::writeGuarded(const std::string& node, std::string_view data,
                           const std::string& guard) {
  const Write write{node, data};
  return writeGuarded(std::span<const Write>(&write, 1), guard);
}

bool ZkStore::writeGuarded(std::span<const Write> writes, const std::string& guard) {
  for (const Write& w : writes) {
    if (w.data.size() >= kMaxNodeBytes) {
      throw Error(fmt::format("ZooKeeper {}: {} would hold {} bytes, over the {} a node may hold",
                              url_.text(), w.node, w.data.size(), kMaxNodeBytes));
    }
  }
  // A request made while cut off waits for the connection to come back:
  // the master's loop must not.
  if (!connected(impl_->zh)) {
    throw Error(fmt::format("ZooKeeper {}: cannot write {}: not connected", url_.text(),
                            writes.empty() ? std::string_view(guard) : writes.front().node));
  }
  // What an operation adds to a request besides its path and data (its
  // header, lengths and version), with room to spare.
  constexpr std::size_t kOpBytes = 64;
  const auto cost = [&](std::size_t path, std::size_t data) { return path + data + kOpBytes; };
  std::vector<std::string> paths;  // NUL-terminated copies for the C client
  std::vector<zoo_op_t> ops;
  std::vector<zoo_op_result_t> results;
  std::vector<Stat> stats;
  for (std::size_t first = 0; first < writes.size();) {
    // As many writes as fit in one request with the guard's check.
    std::size_t bytes = cost(guard.size(), 0);
    std::size_t last = first;
    while (last < writes.size() &&
           (last == first ||
            bytes + cost(writes[last].node.size(), writes[last].data.size()) <= kMaxNodeBytes)) {
      bytes += cost(writes[last].node.size(), writes[last].data.size());
      ++last;
    }
    const std::size_t n = last - first + 1;
    paths.assign(n - 1, {});
    ops.assign(n, {});
    results.assign(n, {});
    stats.assign(n, {});
    zoo_check_op_init(&ops[0], guard.c_str(), -1);
    for (std::size_t i = 1; i < n; ++i) {
      const Write& w = writes[first + i - 1];
      paths[i - 1] = std::string(w.node);
      zoo_set_op_init(&ops[i], paths[i - 1].c_str(), w.data.data(), static_cast<int>(w.data.size()),
                      -1, &stats[i]);
    }
    const int rc = zoo_multi(impl_->zh, static_cast<int>(n), ops.data(), results.data());
    if (rc != ZOK) {
      if (results[0].err == ZNONODE) return false;
      std::string_view failed = writes[first].node;
      for (std::size_t i = 1; i < n; ++i) {
        if (results[i].err != ZOK && results[i].err != ZRUNTIMEINCONSISTENCY) {
          failed = writes[first + i - 1].node;
          break;
        }
      }
      throw Error(fmt::format("ZooKeeper {}: cannot write {}: {}", url_.text(), failed, why(rc)));
    }
    first = last;
  }
  return true;
}

std::optional<MasterInfo> ZkStore::leader() {
  std::vector<std::string> names;
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::optional<MasterInfo> info;
    const int rc = readLeader(impl_->zh, url_.path, impl_->signals, names, info);
    if (rc == ZOK) return info;
    // No path: no master ever ran under it.
    if (rc == ZNONODE && names.empty()) return std::nullopt;
    if (rc != ZNONODE) {
      throw Error(fmt::format("ZooKeeper {}: cannot read the leader: {}", url_.text(), zerror(rc)));
    }
    // The leader went between the two reads: ask again.
  }
  throw Error(fmt::format("ZooKeeper {}: the leader keeps changing; try again", url_.text()));
}

// ---------------------------------------------------------------- detector

struct MasterDetector::Impl {
  ZkUrl url;
  Duration timeout;
  std::function<void(const std::optional<MasterInfo>&)> changed;
  Signals signals;
  // The leaders the worker saw; the loop takes the latest of a batch.
  LoopInbox<std::optional<MasterInfo>> leaders;

  std::thread worker;

  explicit Impl(EventLoop& loop)
      : leaders(loop,
                [this](std::deque<std::optional<MasterInfo>> seen) { changed(seen.back()); }) {}
  void run();
  void publish(const std::optional<MasterInfo>& leader) { leaders.post(leader); }
};

MasterDetector::MasterDetector(const ZkUrl& url, Duration sessionTimeout, EventLoop& loop,
                               std::function<void(const std::optional<MasterInfo>&)> changed)
    : impl_(std::make_unique<Impl>(loop)) {
  Impl& d = *impl_;
  d.url = url;
  d.timeout = sessionTimeout;
  d.changed = std::move(changed);
  d.worker = std::thread([&d] { d.run(); });
}

MasterDetector::~MasterDetector() {
  impl_->signals.stop();
  impl_->worker.join();
}

void MasterDetector::Impl::run() {
  zhandle_t* zh = nullptr;
  bool reported = false;
  std::optional<MasterInfo> last;
  std::vector<std::string> names;
  for (;;) {
    if (zh != nullptr && expired(zh)) {
      spdlog::warn("ZooKeeper {}: session expired; starting a new one", url.text());
      zookeeper_close(zh);
      zh = nullptr;
    }
    if (zh == nullptr) {
      try {
        zh = openSession(url, timeout, signals);
      } catch (const Error& e) {
        spdlog::error("{}", e.what());
      }
      signals.markDirty();
    }
    bool dirty = false;
    {
      // Only a connected session can read: while cut off, a pending read
      // waits (polling every 250 ms) instead of spinning.
      std::unique_lock lock(signals.mutex);
      signals.wake.wait_for(lock, std::chrono::milliseconds(250), [&] {
        return signals.stopping || (signals.dirty && zh != nullptr && connected(zh));
      });
      if (signals.stopping) break;
      dirty = signals.dirty;
    }
    if (zh == nullptr || !connected(zh) || !dirty) continue;
    {
      std::lock_guard lock(signals.mutex);
      signals.dirty = false;
    }
    std::optional<MasterInfo> leader;
    int rc = ensurePath(zh, url, url.path, /*protect=*/false);
    if (rc == ZOK) rc = readLeader(zh, url.path, signals, names, leader);
    if (rc != ZOK) {
      // Lost between reads, or the connection dropped: read again, soon.
      std::this_thread::sleep_for(kRetryPause);
      signals.markDirty();
      continue;
    }
    if (!names.empty() && !leader) {
      spdlog::warn("ZooKeeper {}: {} holds no master's info; ignored", url.text(), names.front());
    }
    if (!reported || !sameInfo(leader, last)) {
      reported = true;
      last = leader;
      publish(leader);
    }
  }
  if (zh != nullptr) zookeeper_close(zh);
}

}  // namespace allot::runtime
