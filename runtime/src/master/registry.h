#pragma once

#include <sqlite3.h>

#include <filesystem>
#include <string>
#include <vector>

#include "proto/allot.pb.h"

namespace allot::runtime::master {

// The master's registry: admitted agents and frameworks, and the ids of
// removed frameworks, in one SQLite file (WAL mode). Writes are gathered in
// one open transaction and committed by flush(), which the master calls once
// per batch of messages: registrations stay cheap when 10,000 agents arrive
// at once. Not thread-safe.
class Registry {
 public:
  struct AgentRow {
    std::string id;
    std::string hostname;
    std::string resources;   // core text syntax
    std::string attributes;  // core text syntax
  };
  struct Contents {
    std::vector<AgentRow> agents;
    std::vector<wire::FrameworkInfo> frameworks;
    std::vector<std::string> removedFrameworks;
  };

  // Opens or creates `file` (its folder is created). Throws allot::Error
  // naming the file when it cannot be opened or is not a registry.
  explicit Registry(const std::filesystem::path& file);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  const std::filesystem::path& file() const { return file_; }

  // Everything stored, in insertion order. Throws allot::Error.
  Contents load();

  // Inserts or replaces. Throw allot::Error on a failed write.
  void putAgent(const AgentRow& agent);
  void putFramework(const wire::FrameworkInfo& framework);
  // Deletes the framework and remembers its id as removed.
  void removeFramework(const std::string& id);
  void removeAgent(const std::string& id);

  // Commits pending writes; does nothing when there are none.
  void flush();

 private:
  void exec(const char* sql);
  void begin();
  sqlite3_stmt* prepare(const char* sql);
  void step(sqlite3_stmt* statement, const char* what);

  std::filesystem::path file_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* putAgent_ = nullptr;
  sqlite3_stmt* putFramework_ = nullptr;
  sqlite3_stmt* deleteFramework_ = nullptr;
  sqlite3_stmt* deleteAgent_ = nullptr;
  sqlite3_stmt* putRemoved_ = nullptr;
  bool inTransaction_ = false;
};

}  // namespace allot::runtime::master
