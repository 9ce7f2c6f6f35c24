#pragma once

#include <cstdint>
#include <vector>

#include "allot/core/cluster.h"
#include "allot/core/resources.h"
#include "allot/core/time.h"
#include "allot/policies/allocator.h"

namespace allot {

// A small closed-loop host for an Allocator: frameworks with one task shape
// each accept offers by launching tasks that fit, and give back the rest.
// Tasks never finish. This is the "progressive filling" setting of the DRF
// paper, used by `allot allocate` and by policy tests; the simulator (sim/)
// is the full, trace-driven host.
struct RoundsFramework {
  FrameworkInfo info;
  Resources task;              // the shape of every task
  std::int64_t maxTasks = -1;  // -1: no limit
};

struct RoundsOptions {
  int rounds = 10;
  Duration interval = std::chrono::seconds(1);
  // Tasks a framework launches from one offer; 1 gives progressive filling.
  int tasksPerOffer = 1;
  // Filter attached to the unused part of each offer (0: none).
  Duration refuseFor{0};
};

struct RoundsOffer {
  int round = 0;
  FrameworkId framework;
  AgentId agent;
  Resources offered;
  int launched = 0;
};

struct RoundsFrameworkResult {
  FrameworkId id;
  std::string role;
  std::int64_t tasks = 0;
  Resources allocated;
  double dominantShare = 0;  // of the cluster total
};

struct RoundsRoleResult {
  std::string role;
  double weight = 1;
  Resources allocated;
  double dominantShare = 0;
};

struct RoundsResult {
  std::vector<RoundsOffer> offers;  // in order
  std::vector<RoundsFrameworkResult> frameworks;
  std::vector<RoundsRoleResult> roles;
  int roundsRun = 0;
};

// Adds the frameworks to `allocator` (which must already know its agents,
// weights and quota) and runs the rounds. Stops early when a round makes no
// offer and nothing changed since the previous one.
RoundsResult runRounds(Allocator& allocator, const std::vector<RoundsFramework>& frameworks,
                       const RoundsOptions& options);

// Dominant share of `allocated` in a cluster of `total` (max over dimensions).
double dominantShare(const Scalars& allocated, const Scalars& total);

}  // namespace allot
