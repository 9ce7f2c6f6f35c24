#pragma once

#include <string>

#include "allot/core/cluster.h"
#include "allot/policies/registry.h"
#include "allot/policies/rounds.h"

namespace allot::testing {

inline AgentInfo agent(const std::string& id, const std::string& resources) {
  AgentInfo info;
  info.id = AgentId(id);
  info.hostname = id;
  info.resources = Resources::parse(resources);
  return info;
}

inline FrameworkInfo framework(const std::string& id, const std::string& role, double weight = 1) {
  FrameworkInfo info;
  info.id = FrameworkId(id);
  info.name = id;
  info.role = role;
  info.weight = weight;
  return info;
}

inline RoundsFramework roundsFramework(const std::string& id, const std::string& role,
                                       const std::string& task, double weight = 1) {
  return {framework(id, role, weight), Resources::parse(task), -1};
}

// `count` pending instances of `shape`, named `key`.
inline PendingTask pending(const std::string& shape, std::uint32_t count = 1,
                           std::uint64_t key = kNoTask) {
  PendingTask task;
  task.shape = Resources::parse(shape);
  task.count = count;
  task.key = key;
  return task;
}

inline TimePoint at(double seconds) {
  return kTimeZero + secondsToDuration(seconds);
}

}  // namespace allot::testing
