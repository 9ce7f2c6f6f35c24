#pragma once

#include <sqlite3.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "allot/core/error.h"
#include "allot/core/time.h"
#include "allot/runtime/file_lock.h"
#include "allot/runtime/zookeeper.h"
#include "proto/allot.pb.h"

namespace allot::runtime::master {

// The master's registry: admitted agents (with the reservations operators
// made on them), frameworks, the ids of removed frameworks, and the roles
// operators configured (weight, quota), recovered when a master (re)starts or takes the lead.
// Writes are gathered and made durable by flush(), which the master calls
// once per batch of messages: registrations stay cheap when 10,000 agents
// arrive at once. Not thread-safe.
class Registry {
 public:
  struct AgentRow {
    std::string id;
    std::string hostname;
    std::string resources;          // core text syntax
    std::string attributes;         // core text syntax
    std::string reserved;           // dynamic reservations (core text syntax); empty: none
    std::string keyName;            // the CURVE key name it registered with; empty: none
    std::string maintenance;        // "deactivated", "draining" or "drained"; empty: none
    std::int64_t drainGraceUs = 0;  // the grace a drain's kills take; 0: the default
  };
  // A role an operator configured: its weight and quota (guarantee and
  // limit in core text syntax; empty: none).
  struct RoleRow {
    std::string name;
    double weight = 1.0;
    std::string guarantee;
    std::string limit;
  };
  struct Contents {
    std::vector<AgentRow> agents;
    std::vector<wire::FrameworkInfo> frameworks;
    std::vector<std::string> removedFrameworks;
    std::vector<RoleRow> roles;
  };

  virtual ~Registry() = default;

  // Where it is kept, for messages.
  virtual std::string where() const = 0;

  // Everything stored (SqliteRegistry: in insertion order). Throws allot::Error.
  virtual Contents load() = 0;

  // Inserts or replaces. Throw allot::Error on a failed write.
  virtual void putAgent(const AgentRow& agent) = 0;
  virtual void putFramework(const wire::FrameworkInfo& framework) = 0;
  // Deletes the framework and remembers its id as removed.
  virtual void removeFramework(const std::string& id) = 0;
  virtual void removeAgent(const std::string& id) = 0;
  virtual void putRole(const RoleRow& role) = 0;
  virtual void removeRole(const std::string& name) = 0;

  // Makes pending writes durable; does nothing when there are none. Throws
  // allot::Error (RegistryFenced when another master leads).
  virtual void flush() = 0;
};

// flush() found that this master no longer leads (its member node in
// ZooKeeper is gone): it must stop.
class RegistryFenced : public Error {
 public:
  using Error::Error;
};

// One SQLite file (WAL mode) in the master's --work-dir; writes are gathered
// in one open transaction.
class SqliteRegistry final : public Registry {
 public:
  // Opens or creates `file` (its folder is created). Throws allot::Error
  // naming the file when it cannot be opened or is not a registry.
  explicit SqliteRegistry(const std::filesystem::path& file);
  ~SqliteRegistry() override;
  SqliteRegistry(const SqliteRegistry&) = delete;
  SqliteRegistry& operator=(const SqliteRegistry&) = delete;

  std::string where() const override { return file_.string(); }
  Contents load() override;
  void putAgent(const AgentRow& agent) override;
  void putFramework(const wire::FrameworkInfo& framework) override;
  void removeFramework(const std::string& id) override;
  void removeAgent(const std::string& id) override;
  void putRole(const RoleRow& role) override;
  void removeRole(const std::string& name) override;
  void flush() override;

 private:
  void exec(const char* sql);
  bool hasColumn(const char* table, const char* column);
  void finalizeAll();  // and closes the database
  void begin();
  sqlite3_stmt* prepare(const char* sql);
  void step(sqlite3_stmt* statement, const char* what);

  std::filesystem::path file_;
  // master.lock beside the file: a second master on the same --work-dir
  // would write the registry with its own view of the cluster.
  std::optional<FileLock> lock_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* putAgent_ = nullptr;
  sqlite3_stmt* putFramework_ = nullptr;
  sqlite3_stmt* deleteFramework_ = nullptr;
  sqlite3_stmt* deleteAgent_ = nullptr;
  sqlite3_stmt* putRemoved_ = nullptr;
  sqlite3_stmt* putRole_ = nullptr;
  sqlite3_stmt* deleteRole_ = nullptr;
  bool inTransaction_ = false;
};

// With --zk: the registry in ZooKeeper, so that whichever master leads next
// recovers it. PATH/registry holds the roles and the removed frameworks'
// ids; its kShards children (PATH/registry/shard-N) the agents and
// frameworks, each in the shard its id hashes to, so that a registry of
// many agents is not one node (ZooKeeper's limit is 1 MB, about 5,000
// agents) and a change rewrites only the shards it touches. Kept in memory
// and written by flush(), only while this master's member node lives (see
// ZkStore::writeGuarded): shards first, PATH/registry last, in one
// transaction when the changes fit in ZooKeeper's 1 MB request, else in
// several, each with the guard. Holds some 300,000 agents; the latest
// 10,000 removed framework ids are kept.
class ZkRegistry final : public Registry {
 public:
  static constexpr std::size_t kShards = 64;

  // Connects and reads the registry (creating its nodes when missing).
  // Throws allot::Error.
  ZkRegistry(const ZkUrl& url, Duration sessionTimeout, std::string memberNode);

  std::string where() const override { return "zk://" + store_.url().servers + node_; }
  Contents load() override;
  void putAgent(const AgentRow& agent) override;
  void putFramework(const wire::FrameworkInfo& framework) override;
  void removeFramework(const std::string& id) override;
  void removeAgent(const std::string& id) override;
  void putRole(const RoleRow& role) override;
  void removeRole(const std::string& name) override;
  void flush() override;

  // The shard that holds the agent or framework of this id.
  static std::size_t shardIndex(std::string_view id);
  // Bytes the last flush() wrote (0 when it had nothing to write).
  std::size_t lastFlushBytes() const { return lastFlushBytes_; }

 private:
  struct Shard {
    std::vector<AgentRow> agents;
    std::vector<wire::FrameworkInfo> frameworks;
    bool dirty = false;
  };
  Shard& shardOf(std::string_view id);

  ZkStore store_;
  std::string node_;
  std::string memberNode_;
  std::vector<std::string> shardNodes_;
  std::vector<Shard> shards_;
  std::vector<std::string> removedFrameworks_;
  std::vector<RoleRow> roles_;
  bool headerDirty_ = false;
  std::size_t lastFlushBytes_ = 0;
};

}  // namespace allot::runtime::master
