// Every built-in policy in the simulator, on what each must handle whatever
// its rule: work that asks for nothing.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "allot/policies/registry.h"
#include "allot/sim/simulator.h"
#include "workload_builder.h"

namespace allot::sim {
namespace {

using testing::Builder;
using testing::kSec;

struct Case {
  std::string policy;
  std::uint32_t demandWindow = 0;  // as `allot sim --demand`
};

// Each policy with the demand window it declares (what `allot sim` uses by
// default), and the policies that need none also with one: they then place
// the published shapes themselves (fifo's first fit, for one).
std::vector<Case> cases() {
  std::vector<Case> out;
  for (const PolicyInfo& info : builtinPolicies()) {
    out.push_back({info.name, info.demand});
    if (info.demand == 0) out.push_back({info.name, 256});
  }
  return out;
}

class EveryPolicySimTest : public ::testing::TestWithParam<Case> {
 protected:
  Result run(const traces::Workload& w) const {
    Config c;
    c.demandWindow = GetParam().demandWindow;
    auto allocator = makeAllocator(GetParam().policy, Params{});
    return simulate(w, *allocator, c);
  }
};

// A job whose tasks ask for nothing (Alibaba 2017 rows with empty cpu and
// memory requests), alone in the cluster, starts when it arrives (or at the
// next allocation round): an empty grant is no offer, so a policy must size
// it with the token (Allocator::tokenScalars).
TEST_P(EveryPolicySimTest, AJobAskingForNothingStartsAlone) {
  Builder b;
  b.machine(4, 4096).machine(4, 4096);
  b.job(10, 0, 3, 0, 0, 5);
  const Result r = run(b.w);
  ASSERT_EQ(r.jobs.size(), 1u);
  EXPECT_EQ(r.jobs[0].state, JobState::kFinished);
  EXPECT_GE(r.jobs[0].firstStart, fromMicros(10 * kSec));
  EXPECT_LE(r.jobs[0].firstStart, fromMicros(11 * kSec));
  EXPECT_EQ(r.counters.instancesLaunched, 3u);
}

// Among work that asks for something, before, between and after it, and as a
// gang: every job finishes and every instance starts once.
TEST_P(EveryPolicySimTest, WorkAskingForNothingFinishesAmongOtherWork) {
  Builder b;
  b.machine(4, 4096).machine(4, 4096);
  b.job(0, 0, 20, 0, 0, 5)
      .job(0, 0, 6, 1, 512, 10)
      .job(1, 1, 4, 2, 1024, 10, /*gang=*/true)
      .job(2, 1, 4, 0, 0, 5, /*gang=*/true)
      .job(3, 2, 3, 0.5, 256, 5)
      .job(100, 0, 3, 0, 0, 5);
  const Result r = run(b.w);
  ASSERT_EQ(r.jobs.size(), 6u);
  for (const JobRecord& j : r.jobs) EXPECT_EQ(j.state, JobState::kFinished) << j.traceId;
  EXPECT_EQ(r.counters.instancesLaunched, 20u + 6 + 4 + 4 + 3 + 3);
  EXPECT_LE(r.jobs[5].firstStart, fromMicros(101 * kSec));
}

INSTANTIATE_TEST_SUITE_P(Policies, EveryPolicySimTest, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& p) {
                           return p.param.policy +
                                  (p.param.demandWindow == 0
                                       ? std::string("_NoDemand")
                                       : "_Demand" + std::to_string(p.param.demandWindow));
                         });

}  // namespace
}  // namespace allot::sim
