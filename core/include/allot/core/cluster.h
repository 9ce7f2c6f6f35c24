#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "allot/core/ids.h"
#include "allot/core/resources.h"
#include "allot/core/time.h"

namespace allot {

// Agent attributes such as "rack:r1;zone:a", kept in the order given.
class Attributes {
 public:
  Attributes() = default;
  // Parses "name:value;name:value". Throws ParseError naming the bad token.
  static Attributes parse(std::string_view text);

  void set(std::string name, std::string value);
  // The value of `name`, if present.
  std::optional<std::string_view> get(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  friend bool operator==(const Attributes&, const Attributes&) = default;

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

std::string toString(const Attributes& attributes);

// What an agent offers to the cluster. `resources` may hold reserved pools
// (static reservations, as the Mesos agent's --resources flag allows).
struct AgentInfo {
  AgentId id;
  std::string hostname;
  Resources resources;
  Attributes attributes;
};

// A framework as the allocator sees it. Frameworks subscribe in one role; the
// role's weight and quota are set on the allocator. `weight` orders frameworks
// within their role (the second level of hierarchical DRF).
struct FrameworkInfo {
  FrameworkId id;
  std::string name;
  std::string role{kUnreservedRole};
  double weight = 1.0;
  std::string principal;
  Duration failoverTimeout{0};
};

// A task to run: an amount of resources on one agent for one framework.
struct TaskInfo {
  TaskId id;
  FrameworkId framework;
  AgentId agent;
  Resources resources;
  std::string command;
};

// Resources of one agent lent to one framework until it launches tasks in
// them or gives them back.
struct Offer {
  OfferId id;
  FrameworkId framework;
  AgentId agent;
  Resources resources;
};

// A framework's answer to an offer it does not use: do not offer this agent's
// resources (or less) again for `refuseFor`. Mesos' default is 5 seconds.
struct Filters {
  Duration refuseFor = std::chrono::seconds(5);
};

// A role's quota: the guarantee is allocated before any fair sharing; the
// limit caps what the role may hold. An empty limit means no limit.
struct Quota {
  Resources guarantee;
  Resources limit;
};

}  // namespace allot
