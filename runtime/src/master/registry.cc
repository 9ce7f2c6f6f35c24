#include "registry.h"

#include <fmt/format.h>

#include <algorithm>
#include <system_error>

#include "allot/core/error.h"
#include "allot/core/hash.h"
#include "registry.pb.h"

namespace allot::runtime::master {

namespace {

std::string text(sqlite3_stmt* statement, int column) {
  const unsigned char* value = sqlite3_column_text(statement, column);
  const int size = sqlite3_column_bytes(statement, column);
  return value ? std::string(reinterpret_cast<const char*>(value), static_cast<std::size_t>(size))
               : std::string();
}

void bind(sqlite3_stmt* statement, int index, const std::string& value) {
  sqlite3_bind_text(statement, index, value.data(), static_cast<int>(value.size()),
                    SQLITE_TRANSIENT);
}

}  // namespace

SqliteRegistry::SqliteRegistry(const std::filesystem::path& file) : file_(file) {
  std::error_code ec;
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
  if (ec) {
    throw Error(fmt::format("registry: cannot create folder '{}': {}", file.parent_path().string(),
                            ec.message()));
  }
  const std::filesystem::path dir = file.has_parent_path() ? file.parent_path() : ".";
  lock_.emplace((dir / "master.lock").string(),
                fmt::format("registry: {} is in use by another master; stop it, or give this "
                            "one another --work-dir",
                            dir.string()));
  if (sqlite3_open(file.c_str(), &db_) != SQLITE_OK) {
    std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error(fmt::format("registry: cannot open '{}': {}", file.string(), why));
  }
  try {
    sqlite3_busy_timeout(db_, 5000);
    // WAL with synchronous=NORMAL: a killed master loses nothing committed;
    // only a power loss may drop the last commits.
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");
    exec(
        "CREATE TABLE IF NOT EXISTS agents (id TEXT PRIMARY KEY, hostname TEXT NOT NULL, "
        "resources TEXT NOT NULL, attributes TEXT NOT NULL)");
    exec("CREATE TABLE IF NOT EXISTS frameworks (id TEXT PRIMARY KEY, info BLOB NOT NULL)");
    exec("CREATE TABLE IF NOT EXISTS removed_frameworks (id TEXT PRIMARY KEY)");
    exec(
        "CREATE TABLE IF NOT EXISTS roles (name TEXT PRIMARY KEY, weight REAL NOT NULL, "
        "guarantee TEXT NOT NULL, limit_ TEXT NOT NULL)");
    // Registries written before reservations existed lack the column.
    if (!hasColumn("agents", "reserved")) {
      exec("ALTER TABLE agents ADD COLUMN reserved TEXT NOT NULL DEFAULT ''");
    }
    // ... and those before CURVE key names, this one.
    if (!hasColumn("agents", "key_name")) {
      exec("ALTER TABLE agents ADD COLUMN key_name TEXT NOT NULL DEFAULT ''");
    }
    // ... and those before maintenance (drain, deactivate), this one.
    if (!hasColumn("agents", "maintenance")) {
      exec("ALTER TABLE agents ADD COLUMN maintenance TEXT NOT NULL DEFAULT ''");
    }
    // ... and those before a drain's grace was kept, this one.
    if (!hasColumn("agents", "drain_grace_us")) {
      exec("ALTER TABLE agents ADD COLUMN drain_grace_us INTEGER NOT NULL DEFAULT 0");
    }
    putAgent_ = prepare(
        "INSERT OR REPLACE INTO agents (id, hostname, resources, attributes, reserved, key_name, "
        "maintenance, drain_grace_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    putFramework_ = prepare("INSERT OR REPLACE INTO frameworks (id, info) VALUES (?, ?)");
    deleteFramework_ = prepare("DELETE FROM frameworks WHERE id = ?");
    deleteAgent_ = prepare("DELETE FROM agents WHERE id = ?");
    putRemoved_ = prepare("INSERT OR REPLACE INTO removed_frameworks (id) VALUES (?)");
    putRole_ = prepare(
        "INSERT OR REPLACE INTO roles (name, weight, guarantee, limit_) VALUES (?, ?, ?, ?)");
    deleteRole_ = prepare("DELETE FROM roles WHERE name = ?");
  } catch (...) {
    finalizeAll();
    throw;
  }
}

SqliteRegistry::~SqliteRegistry() {
  try {
    flush();
  } catch (const Error&) {  // NOLINT(bugprone-empty-catch): nothing to report to in a destructor
  }
  finalizeAll();
}

void SqliteRegistry::finalizeAll() {
  for (sqlite3_stmt* s : {putAgent_, putFramework_, deleteFramework_, deleteAgent_, putRemoved_,
                          putRole_, deleteRole_}) {
    sqlite3_finalize(s);
  }
  sqlite3_close(db_);
}

bool SqliteRegistry::hasColumn(const char* table, const char* column) {
  sqlite3_stmt* info = prepare(fmt::format("PRAGMA table_info({})", table).c_str());
  bool found = false;
  while (!found && sqlite3_step(info) == SQLITE_ROW) found = text(info, 1) == column;
  sqlite3_finalize(info);
  return found;
}

void SqliteRegistry::exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string why = message ? message : sqlite3_errmsg(db_);
    sqlite3_free(message);
    throw Error(fmt::format("registry '{}': {} ({})", file_.string(), why, sql));
  }
}

sqlite3_stmt* SqliteRegistry::prepare(const char* sql) {
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &statement, nullptr) != SQLITE_OK) {
    throw Error(fmt::format("registry '{}': {} ({})", file_.string(), sqlite3_errmsg(db_), sql));
  }
  return statement;
}

void SqliteRegistry::step(sqlite3_stmt* statement, const char* what) {
  const int rc = sqlite3_step(statement);
  sqlite3_reset(statement);
  sqlite3_clear_bindings(statement);
  if (rc != SQLITE_DONE) {
    throw Error(fmt::format("registry '{}': {}: {}", file_.string(), what, sqlite3_errmsg(db_)));
  }
}

void SqliteRegistry::begin() {
  if (inTransaction_) return;
  exec("BEGIN");
  inTransaction_ = true;
}

void SqliteRegistry::flush() {
  if (!inTransaction_) return;
  try {
    exec("COMMIT");
  } catch (const Error&) {
    // A busy database leaves the transaction open, to commit at the next
    // flush; other failures roll it back.
    if (sqlite3_get_autocommit(db_) != 0) inTransaction_ = false;
    throw;
  }
  inTransaction_ = false;
}

Registry::Contents SqliteRegistry::load() {
  Contents contents;
  sqlite3_stmt* agents = prepare(
      "SELECT id, hostname, resources, attributes, reserved, key_name, maintenance, "
      "drain_grace_us FROM agents ORDER BY rowid");
  while (sqlite3_step(agents) == SQLITE_ROW) {
    contents.agents.push_back({text(agents, 0), text(agents, 1), text(agents, 2), text(agents, 3),
                               text(agents, 4), text(agents, 5), text(agents, 6),
                               sqlite3_column_int64(agents, 7)});
  }
  sqlite3_finalize(agents);
  sqlite3_stmt* frameworks = prepare("SELECT id, info FROM frameworks ORDER BY rowid");
  while (sqlite3_step(frameworks) == SQLITE_ROW) {
    wire::FrameworkInfo info;
    const void* blob = sqlite3_column_blob(frameworks, 1);
    const int size = sqlite3_column_bytes(frameworks, 1);
    if (!info.ParseFromArray(blob, size)) {
      const std::string id = text(frameworks, 0);
      sqlite3_finalize(frameworks);
      throw Error(
          fmt::format("registry '{}': framework '{}' is stored in a form that does not parse",
                      file_.string(), id));
    }
    contents.frameworks.push_back(std::move(info));
  }
  sqlite3_finalize(frameworks);
  sqlite3_stmt* removed = prepare("SELECT id FROM removed_frameworks ORDER BY rowid");
  while (sqlite3_step(removed) == SQLITE_ROW)
    contents.removedFrameworks.push_back(text(removed, 0));
  sqlite3_finalize(removed);
  sqlite3_stmt* roles = prepare("SELECT name, weight, guarantee, limit_ FROM roles ORDER BY rowid");
  while (sqlite3_step(roles) == SQLITE_ROW) {
    contents.roles.push_back(
        {text(roles, 0), sqlite3_column_double(roles, 1), text(roles, 2), text(roles, 3)});
  }
  sqlite3_finalize(roles);
  return contents;
}

void SqliteRegistry::putAgent(const AgentRow& agent) {
  begin();
  bind(putAgent_, 1, agent.id);
  bind(putAgent_, 2, agent.hostname);
  bind(putAgent_, 3, agent.resources);
  bind(putAgent_, 4, agent.attributes);
  bind(putAgent_, 5, agent.reserved);
  bind(putAgent_, 6, agent.keyName);
  bind(putAgent_, 7, agent.maintenance);
  sqlite3_bind_int64(putAgent_, 8, agent.drainGraceUs);
  step(putAgent_, "storing an agent");
}

void SqliteRegistry::putFramework(const wire::FrameworkInfo& framework) {
  begin();
  const std::string blob = framework.SerializeAsString();
  bind(putFramework_, 1, framework.framework_id());
  sqlite3_bind_blob(putFramework_, 2, blob.data(), static_cast<int>(blob.size()), SQLITE_TRANSIENT);
  step(putFramework_, "storing a framework");
}

void SqliteRegistry::removeFramework(const std::string& id) {
  begin();
  bind(deleteFramework_, 1, id);
  step(deleteFramework_, "removing a framework");
  bind(putRemoved_, 1, id);
  step(putRemoved_, "remembering a removed framework");
}

void SqliteRegistry::removeAgent(const std::string& id) {
  begin();
  bind(deleteAgent_, 1, id);
  step(deleteAgent_, "removing an agent");
}

void SqliteRegistry::putRole(const RoleRow& role) {
  begin();
  bind(putRole_, 1, role.name);
  sqlite3_bind_double(putRole_, 2, role.weight);
  bind(putRole_, 3, role.guarantee);
  bind(putRole_, 4, role.limit);
  step(putRole_, "storing a role");
}

void SqliteRegistry::removeRole(const std::string& name) {
  begin();
  bind(deleteRole_, 1, name);
  step(deleteRole_, "removing a role");
}

// ---------------------------------------------------------------- ZooKeeper

namespace {

constexpr std::size_t kRemovedKept = 10'000;

template <class Row, class Id>
void putById(std::vector<Row>& rows, Row row, Id id) {
  auto it = std::find_if(rows.begin(), rows.end(), [&](const Row& r) { return id(r) == id(row); });
  if (it == rows.end()) {
    rows.push_back(std::move(row));
  } else {
    *it = std::move(row);
  }
}

Registry::AgentRow agentRow(const RegistrySnapshot::Agent& agent) {
  return {agent.id(),       agent.hostname(), agent.resources(),   agent.attributes(),
          agent.reserved(), agent.key_name(), agent.maintenance(), agent.drain_grace_us()};
}

void addAgent(RegistrySnapshot& snapshot, const Registry::AgentRow& row) {
  auto* agent = snapshot.add_agents();
  agent->set_id(row.id);
  agent->set_hostname(row.hostname);
  agent->set_resources(row.resources);
  agent->set_attributes(row.attributes);
  agent->set_reserved(row.reserved);
  agent->set_key_name(row.keyName);
  agent->set_maintenance(row.maintenance);
  agent->set_drain_grace_us(row.drainGraceUs);
}

}  // namespace

ZkRegistry::ZkRegistry(const ZkUrl& url, Duration sessionTimeout, std::string memberNode)
    : store_(url, sessionTimeout),
      node_(url.path + "/registry"),
      memberNode_(std::move(memberNode)),
      shards_(kShards) {
  const std::string data = store_.readOrCreate(node_);
  RegistrySnapshot header;
  if (!header.ParseFromString(data)) {
    throw Error(fmt::format("registry {}: {} bytes that are not a registry", where(), data.size()));
  }
  for (std::size_t i = 0; i < kShards; ++i) {
    shardNodes_.push_back(fmt::format("{}/shard-{}", node_, i));
  }
  // The shards the header names hold rows (none in a registry of an
  // earlier version, whose header holds them all). Shards this version
  // does not name are made, empty, for flush() to set.
  std::vector<std::string> names = shardNodes_;
  for (std::size_t i = kShards; i < header.shards(); ++i) {
    names.push_back(fmt::format("{}/shard-{}", node_, i));
  }
  const std::vector<std::string> shardData = store_.readOrCreate(names);
  std::vector<RegistrySnapshot> parts(1, std::move(header));
  for (std::size_t i = 0; i < parts.front().shards(); ++i) {
    RegistrySnapshot part;
    if (!part.ParseFromString(shardData[i])) {
      throw Error(fmt::format("registry {}: {} holds {} bytes that are not a registry shard",
                              where(), names[i], shardData[i].size()));
    }
    parts.push_back(std::move(part));
  }
  for (const RegistrySnapshot& part : parts) {
    for (const auto& agent : part.agents()) {
      shardOf(agent.id()).agents.push_back(agentRow(agent));
    }
    for (const std::string& blob : part.frameworks()) {
      wire::FrameworkInfo info;
      if (!info.ParseFromString(blob)) {
        throw Error(fmt::format("registry {}: a framework is stored in a form that does not parse",
                                where()));
      }
      shardOf(info.framework_id()).frameworks.push_back(std::move(info));
    }
  }
  const RegistrySnapshot& head = parts.front();
  for (const std::string& id : head.removed_frameworks()) removedFrameworks_.push_back(id);
  for (const auto& role : head.roles()) {
    roles_.push_back({role.name(), role.weight(), role.guarantee(), role.limit()});
  }
  // A registry in another layout (an earlier version's, or another shard
  // count) is rewritten in this one by the first flush.
  if (head.shards() != kShards) {
    for (Shard& shard : shards_) shard.dirty = true;
    headerDirty_ = true;
  }
}

std::size_t ZkRegistry::shardIndex(std::string_view id) {
  // A stable hash: the shard of an id must not change between builds or machines.
  return static_cast<std::size_t>(fnv1a64(id) % kShards);
}

ZkRegistry::Shard& ZkRegistry::shardOf(std::string_view id) {
  return shards_[shardIndex(id)];
}

Registry::Contents ZkRegistry::load() {
  Contents contents;
  for (const Shard& shard : shards_) {
    contents.agents.insert(contents.agents.end(), shard.agents.begin(), shard.agents.end());
    contents.frameworks.insert(contents.frameworks.end(), shard.frameworks.begin(),
                               shard.frameworks.end());
  }
  contents.removedFrameworks = removedFrameworks_;
  contents.roles = roles_;
  return contents;
}

void ZkRegistry::putAgent(const AgentRow& agent) {
  Shard& shard = shardOf(agent.id);
  putById(shard.agents, agent, [](const AgentRow& r) { return r.id; });
  shard.dirty = true;
}

void ZkRegistry::putFramework(const wire::FrameworkInfo& framework) {
  Shard& shard = shardOf(framework.framework_id());
  putById(shard.frameworks, framework,
          [](const wire::FrameworkInfo& f) { return f.framework_id(); });
  shard.dirty = true;
}

void ZkRegistry::removeFramework(const std::string& id) {
  Shard& shard = shardOf(id);
  shard.dirty |= std::erase_if(shard.frameworks, [&](const wire::FrameworkInfo& f) {
                   return f.framework_id() == id;
                 }) > 0;
  auto& removed = removedFrameworks_;
  if (std::find(removed.begin(), removed.end(), id) == removed.end()) removed.push_back(id);
  if (removed.size() > kRemovedKept) {
    removed.erase(removed.begin(),
                  removed.begin() + static_cast<std::ptrdiff_t>(removed.size() - kRemovedKept));
  }
  headerDirty_ = true;
}

void ZkRegistry::removeAgent(const std::string& id) {
  Shard& shard = shardOf(id);
  shard.dirty |= std::erase_if(shard.agents, [&](const AgentRow& r) { return r.id == id; }) > 0;
}

void ZkRegistry::putRole(const RoleRow& role) {
  putById(roles_, role, [](const RoleRow& r) { return r.name; });
  headerDirty_ = true;
}

void ZkRegistry::removeRole(const std::string& name) {
  std::erase_if(roles_, [&](const RoleRow& r) { return r.name == name; });
  headerDirty_ = true;
}

void ZkRegistry::flush() {
  std::vector<std::string> data;  // owns what `writes` points into
  std::vector<ZkStore::Write> writes;
  data.reserve(kShards + 1);
  writes.reserve(kShards + 1);
  std::size_t agents = 0;
  std::size_t frameworks = 0;
  for (std::size_t i = 0; i < kShards; ++i) {
    const Shard& shard = shards_[i];
    agents += shard.agents.size();
    frameworks += shard.frameworks.size();
    if (!shard.dirty) continue;
    RegistrySnapshot part;
    for (const AgentRow& row : shard.agents) addAgent(part, row);
    for (const auto& info : shard.frameworks) part.add_frameworks(info.SerializeAsString());
    data.push_back(part.SerializeAsString());
    writes.push_back({shardNodes_[i], data.back()});
  }
  // Last: a registry of an earlier version stays whole until every shard
  // holds its rows.
  if (headerDirty_) {
    RegistrySnapshot header;
    for (const RoleRow& row : roles_) {
      auto* role = header.add_roles();
      role->set_name(row.name);
      role->set_weight(row.weight);
      role->set_guarantee(row.guarantee);
      role->set_limit(row.limit);
    }
    for (const std::string& id : removedFrameworks_) header.add_removed_frameworks(id);
    header.set_shards(static_cast<std::uint32_t>(kShards));
    data.push_back(header.SerializeAsString());
    writes.push_back({node_, data.back()});
  }
  lastFlushBytes_ = 0;
  if (writes.empty()) return;
  for (const ZkStore::Write& w : writes) {
    if (w.data.size() >= ZkStore::maxNodeBytes()) {
      throw Error(fmt::format(
          "registry {}: {} would hold {} bytes, over the {} a ZooKeeper node may hold ({} agents "
          "and {} frameworks in {} shards)",
          where(), w.node, w.data.size(), ZkStore::maxNodeBytes(), agents, frameworks, kShards));
    }
  }
  if (!store_.writeGuarded(writes, memberNode_)) {
    throw RegistryFenced(fmt::format(
        "registry {}: not written: this master's node {} is gone, so another master may lead",
        where(), memberNode_));
  }
  for (Shard& shard : shards_) shard.dirty = false;
  headerDirty_ = false;
  for (const ZkStore::Write& w : writes) lastFlushBytes_ += w.data.size();
}

}  // namespace allot::runtime::master
