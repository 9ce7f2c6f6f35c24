#include "acl.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "allot/core/error.h"

namespace allot::runtime::master {
namespace {

using Type = AclEntity::Type;

// Mesos' match matrix (src/authorizer/local/authorizer.cpp): a request's
// subject or object is SOME (named), or ANY (unnamed); a rule's entity of
// type NONE matches every request, and then refuses it.
bool matches(const std::optional<std::string>& request, const AclEntity& rule) {
  if (rule.type != Type::kSome) return true;
  if (!request) return false;
  return std::find(rule.values.begin(), rule.values.end(), *request) != rule.values.end();
}

bool allows(const std::optional<std::string>& request, const AclEntity& rule) {
  if (rule.type == Type::kNone) return false;
  return matches(request, rule);
}

struct ActionNames {
  std::string_view list;
  std::string_view object;
};
constexpr std::array<ActionNames, kAclActions> kNames{{
    {"register_frameworks", "roles"},
    {"run_tasks", "users"},
    {"register_agents", "agents"},
}};

AclEntity parseEntity(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw Error(fmt::format("{}: must be an object, not {}", where, j.dump()));
  AclEntity entity;
  bool typed = false;
  for (const auto& [key, value] : j.items()) {
    if (key == "type") {
      const std::string type = value.is_string() ? value.get<std::string>() : std::string();
      if (type == "ANY") {
        entity.type = Type::kAny;
      } else if (type == "NONE") {
        entity.type = Type::kNone;
      } else if (type == "SOME") {
        entity.type = Type::kSome;
      } else {
        throw Error(fmt::format("{}.type: must be \"ANY\", \"NONE\" or \"SOME\", not {}", where,
                                value.dump()));
      }
      typed = true;
    } else if (key == "values") {
      if (!value.is_array() || value.empty()) {
        throw Error(fmt::format("{}.values: must be a non-empty list of names, not {}", where,
                                value.dump()));
      }
      for (const auto& v : value) {
        if (!v.is_string() || v.get<std::string>().empty()) {
          throw Error(
              fmt::format("{}.values: {} is not a name (a non-empty string)", where, v.dump()));
        }
        entity.values.push_back(v.get<std::string>());
      }
    } else {
      throw Error(fmt::format("{}: unknown field \"{}\" (an entity has \"values\" or \"type\")",
                              where, key));
    }
  }
  if (!entity.values.empty()) {
    if (typed && entity.type != Type::kSome) {
      throw Error(fmt::format("{}: \"values\" go with no type (or \"SOME\"), not with \"{}\"",
                              where, entity.type == Type::kAny ? "ANY" : "NONE"));
    }
    entity.type = Type::kSome;
  } else if (!typed || entity.type == Type::kSome) {
    throw Error(fmt::format(
        "{}: names no one: give \"values\": [...] or \"type\": \"ANY\" or \"NONE\"", where));
  }
  return entity;
}

AclRule parseRule(const nlohmann::json& j, AclAction action, const std::string& where) {
  const std::string_view object = aclObjectName(action);
  if (!j.is_object()) throw Error(fmt::format("{}: a rule must be an object", where));
  std::optional<AclEntity> subjects;
  std::optional<AclEntity> objects;
  for (const auto& [key, value] : j.items()) {
    if (key == "principals") {
      subjects = parseEntity(value, where + ".principals");
    } else if (key == object) {
      objects = parseEntity(value, fmt::format("{}.{}", where, object));
    } else {
      throw Error(
          fmt::format("{}: unknown field \"{}\" (a rule of {} has \"principals\" and "
                      "\"{}\")",
                      where, key, aclActionName(action), object));
    }
  }
  if (!subjects) throw Error(fmt::format("{}: \"principals\" missing", where));
  if (!objects) throw Error(fmt::format("{}: \"{}\" missing", where, object));
  if (action == AclAction::kRegisterAgent && objects->type == Type::kSome) {
    throw Error(
        fmt::format("{}.agents: must be {{\"type\": \"ANY\"}} or {{\"type\": \"NONE\"}}", where));
  }
  return {std::move(*subjects), std::move(*objects)};
}

// Line and column of byte `offset` (1-based, as nlohmann's parse_error::byte).
std::pair<std::size_t, std::size_t> lineColumn(std::string_view text, std::size_t offset) {
  std::size_t line = 1;
  std::size_t column = 1;
  for (std::size_t i = 0; i + 1 < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

}  // namespace

std::string_view aclActionName(AclAction action) {
  return kNames[static_cast<std::size_t>(action)].list;
}

std::string_view aclObjectName(AclAction action) {
  return kNames[static_cast<std::size_t>(action)].object;
}

Acls::Decision Acls::authorize(AclAction action, const std::optional<std::string>& principal,
                               const std::optional<std::string>& object) const {
  const auto& list = rules[static_cast<std::size_t>(action)];
  for (std::size_t i = 0; i < list.size(); ++i) {
    const AclRule& rule = list[i];
    if (matches(principal, rule.subjects) && matches(object, rule.objects)) {
      return {allows(principal, rule.subjects) && allows(object, rule.objects),
              fmt::format("{}[{}]", aclActionName(action), i)};
    }
  }
  return {permissive, permissive ? "no rule matched; the ACLs are permissive"
                                 : "no rule matched and the ACLs are not permissive"};
}

std::size_t Acls::ruleCount() const {
  std::size_t n = 0;
  for (const auto& list : rules) n += list.size();
  return n;
}

Acls parseAcls(std::string_view text, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    const auto [line, column] = lineColumn(text, e.byte);
    // nlohmann's message starts "[json.exception.parse_error.101] parse
    // error at line 1, column 2: ..."; keep what follows the position.
    std::string what = e.what();
    if (auto colon = what.find(": "); colon != std::string::npos) what = what.substr(colon + 2);
    throw Error(fmt::format("{}:{}:{}: not JSON: {}", where, line, column, what));
  }
  if (!j.is_object()) throw Error(fmt::format("{}: ACLs are a JSON object", where));
  Acls acls;
  for (const auto& [key, value] : j.items()) {
    if (key == "permissive") {
      if (!value.is_boolean()) {
        throw Error(
            fmt::format("{}: permissive: must be true or false, not {}", where, value.dump()));
      }
      acls.permissive = value.get<bool>();
      continue;
    }
    std::optional<AclAction> action;
    for (std::size_t a = 0; a < kAclActions; ++a) {
      if (key == kNames[a].list) action = static_cast<AclAction>(a);
    }
    if (!action) {
      // Mesos has more lists (teardown_frameworks, reserve_resources, ...):
      // refused by name, so that no one believes them enforced.
      throw Error(
          fmt::format("{}: \"{}\" is not a list allot enforces: it knows \"permissive\", "
                      "\"register_frameworks\", \"run_tasks\" and \"register_agents\"",
                      where, key));
    }
    if (!value.is_array()) {
      throw Error(fmt::format("{}: {}: must be a list of rules", where, key));
    }
    auto& list = acls.rules[static_cast<std::size_t>(*action)];
    for (std::size_t i = 0; i < value.size(); ++i) {
      list.push_back(parseRule(value[i], *action, fmt::format("{}: {}[{}]", where, key, i)));
    }
  }
  return acls;
}

Acls readAclFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("--acls {}: cannot read it: {}", path, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw Error(fmt::format("--acls {}: cannot read it", path));
  return parseAcls(text.str(), "--acls " + path);
}

}  // namespace allot::runtime::master
