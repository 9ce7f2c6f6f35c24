#pragma once

// Authorization of what frameworks and agents ask the master, by access
// control lists in Mesos' format (its local authorizer's `--acls` JSON) and
// with its rules: the lists are asked in order, the first rule whose subject
// and object both match the request decides, and when none matches the
// request is allowed only if the ACLs are permissive.
//
// The subject is a principal: with a CURVE clients file, the name of the
// connection's key (authenticated); without one, what a framework claims in
// FrameworkInfo.principal (agents claim none), so that ACLs then only guard
// against mistakes, not against hostile peers.

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace allot::runtime::master {

// The actions the master authorizes, each with its list in the file.
enum class AclAction {
  kRegisterFramework,  // "register_frameworks": principals -> roles
  kRunTask,            // "run_tasks": principals -> users
  kRegisterAgent,      // "register_agents": principals -> agents (ANY or NONE)
};
inline constexpr std::size_t kAclActions = 3;

// The list's name in the file ("register_frameworks") and its object's key
// ("roles").
std::string_view aclActionName(AclAction action);
std::string_view aclObjectName(AclAction action);

// A rule's subjects or objects: some named values, anyone, or no one.
struct AclEntity {
  enum class Type { kSome, kAny, kNone };
  Type type = Type::kAny;
  std::vector<std::string> values;  // kSome only
};

struct AclRule {
  AclEntity subjects;  // principals
  AclEntity objects;   // roles, users or agents
};

struct Acls {
  // When no rule matches a request: allowed (Mesos' default) or refused.
  bool permissive = true;
  std::array<std::vector<AclRule>, kAclActions> rules;

  struct Decision {
    bool allowed = true;
    // Which rule decided ("register_frameworks[1]"), or that none matched.
    std::string rule;
  };
  // Whether `principal` (nullopt: none, which only ANY and NONE subjects
  // match) may do `action` on `object` (nullopt: unnamed, e.g. a framework
  // that names no user, matched by ANY and NONE objects only, as in Mesos).
  Decision authorize(AclAction action, const std::optional<std::string>& principal,
                     const std::optional<std::string>& object) const;

  std::size_t ruleCount() const;
};

// Parses ACLs in Mesos' JSON form:
//   {"permissive": false,
//    "register_frameworks": [{"principals": {"values": ["alpha"]},
//                             "roles": {"values": ["analytics"]}},
//                            {"principals": {"type": "ANY"}, "roles": {"type": "NONE"}}],
//    "run_tasks": [{"principals": {"type": "ANY"}, "users": {"values": ["nobody"]}}],
//    "register_agents": [{"principals": {"values": ["agents"]}, "agents": {"type": "ANY"}}]}
// Throws allot::Error naming `where` (the file), the line and column of bad
// JSON, or the rule and field at fault; Mesos lists allot does not enforce
// (e.g. "teardown_frameworks") are refused by name rather than ignored.
Acls parseAcls(std::string_view text, const std::string& where);

// Reads and parses the ACL file `path` (throws allot::Error naming it).
Acls readAclFile(const std::string& path);

}  // namespace allot::runtime::master
