#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "allot/core/time.h"
#include "allot/runtime/event_loop.h"

namespace allot::runtime {

// High availability through ZooKeeper, as Mesos does it: every master
// creates an ephemeral sequential node under a path (`member_0000000007`)
// holding its MasterInfo; the oldest node leads. Agents and frameworks
// follow the leader by watching the path. A master that loses its session
// loses its node, and with it the lead.

// "zk://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]/PATH", or "file://FILE"
// naming a file that holds one (so that the password stays out of process
// listings).
//
// With credentials, sessions authenticate (ZooKeeper's "digest" scheme) and
// the nodes masters create are protected: PATH and the member nodes can be
// read by anyone (agents, frameworks and `allot state` find the leader
// without credentials) but changed only by that identity; the registry can
// be read and changed only by it. A PATH made earlier without credentials is
// restricted by the first master that comes with them.
struct ZkUrl {
  std::string servers;      // "h1:2181,h2:2181"
  std::string path;         // "/allot": absolute, no trailing '/'
  std::string credentials;  // "user:password"; empty: none

  // Nullopt when `text` starts with neither "zk://" nor "file://"; throws
  // ParseError naming the problem (and the file) when it does but is
  // malformed or unreadable.
  static std::optional<ZkUrl> parse(std::string_view text);
  // For messages: the password shown as "***".
  std::string text() const;
};

// What a master announces in its node.
struct MasterInfo {
  std::string id;
  std::string endpoint;  // "tcp://HOST:PORT": where agents and drivers connect
  // "HOST:PORT" of its HTTP API, "https://HOST:PORT" when it serves HTTPS;
  // empty without.
  std::string http;
  bool operator==(const MasterInfo&) const = default;
  std::string toJson() const;
  // Nullopt for data that is not a MasterInfo (another program's node).
  static std::optional<MasterInfo> fromJson(std::string_view json);
};

// The URL of a MasterInfo::http address: "http://HOST:PORT", or the
// "https://HOST:PORT" it holds.
std::string httpUrl(std::string_view http);

// A master's candidacy. Each object holds its own ZooKeeper session and a
// worker thread: ZooKeeper's client is asynchronous, the master's loop must
// never wait on it.
class MasterContender {
 public:
  // Connects and creates this master's node (and the path). Throws
  // allot::Error when ZooKeeper cannot be reached within the session
  // timeout, naming the URL.
  MasterContender(const ZkUrl& url, MasterInfo self, Duration sessionTimeout);
  ~MasterContender();  // closes the session: the node goes at once
  MasterContender(const MasterContender&) = delete;
  MasterContender& operator=(const MasterContender&) = delete;

  // Blocks until this master leads (true) or `stop()` returns true, checked
  // every 100 ms (false). `onStandby` is called with each new leader seen
  // meanwhile (nullopt: none), for the logs.
  bool waitForLeadership(const std::function<bool()>& stop,
                         const std::function<void(const std::optional<MasterInfo>&)>& onStandby);

  // Called once, on a worker thread, when a master that led no longer may:
  // its session expired, it was cut from ZooKeeper for longer than the
  // session timeout (it cannot know whether the session lives), or its node
  // was deleted. Set before waitForLeadership returns true.
  void onLost(std::function<void(const std::string& why)> lost);

  // This master's member node ("/allot/member_0000000007").
  const std::string& node() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Follows the leading master for an agent or a driver. `changed` runs on
// `loop`'s thread (through an eventfd) with the new leader, or nullopt when
// none leads; the first call comes as soon as the path has been read. A lost
// session is replaced by a new one; while cut from ZooKeeper the last leader
// stands.
class MasterDetector {
 public:
  MasterDetector(const ZkUrl& url, Duration sessionTimeout, EventLoop& loop,
                 std::function<void(const std::optional<MasterInfo>&)> changed);
  ~MasterDetector();
  MasterDetector(const MasterDetector&) = delete;
  MasterDetector& operator=(const MasterDetector&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Plain reads and writes on one ZooKeeper session: the leading master's
// registry (a node and its shards, see master/registry.h).
class ZkStore {
 public:
  // Connects, or throws allot::Error naming the URL.
  ZkStore(const ZkUrl& url, Duration sessionTimeout);
  ~ZkStore();
  ZkStore(const ZkStore&) = delete;
  ZkStore& operator=(const ZkStore&) = delete;

  // The node's data; creates it empty (and the path to it) when missing.
  // With credentials the node is private to them (given that ACL if it
  // exists); parents made are readable by anyone, existing ones keep their
  // ACL. Throws allot::Error.
  std::string readOrCreate(const std::string& node);
  // The same for each of `nodes`, in order; their parents are made once.
  std::vector<std::string> readOrCreate(std::span<const std::string> nodes);

  // What a node is set to.
  struct Write {
    std::string_view node;
    std::string_view data;
  };
  // Sets each (existing) node of `writes` if, in the same transaction,
  // `guard` still exists: a master writes only while its member node (its
  // lead) lives, so that a deposed leader cannot overwrite its successor's
  // registry. Writes go in order, as few transactions as ZooKeeper's limit
  // on a request (about 1 MB) allows: all of them in one when they fit, and
  // then all or none take effect. Returns false when `guard` is gone (the
  // transactions before that one stand); throws allot::Error on any other
  // failure (connection lost, a node's data over the 1 MB a node may hold:
  // then nothing is written).
  bool writeGuarded(std::span<const Write> writes, const std::string& guard);
  bool writeGuarded(const std::string& node, std::string_view data, const std::string& guard);
  // The most one node may hold, in bytes (ZooKeeper's jute.maxbuffer, less
  // room for the request around it).
  static std::size_t maxNodeBytes();
  // The master that leads under the URL's path now; nullopt when none does.
  // Throws allot::Error. (Tools: `allot state --master zk://...`.)
  std::optional<MasterInfo> leader();

  const ZkUrl& url() const { return url_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  ZkUrl url_;
};

// Where a DEALER connects while no master leads: an inproc endpoint nobody
// binds, so that messages wait in (and are dropped with) that socket.
inline constexpr std::string_view kNoMasterEndpoint = "inproc://allot-no-leading-master";

}  // namespace allot::runtime
