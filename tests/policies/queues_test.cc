#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "allot/core/error.h"
#include "allot/policies/registry.h"
#include "helpers.h"

namespace allot {
namespace {

using testing::agent;
using testing::at;
using testing::framework;
using ::testing::HasSubstr;
using testing::pending;

constexpr const char* kTask = "cpus:1;mem:128";

// A policy over `agents` agents of one cpu each.
std::unique_ptr<Allocator> make(const std::string& policy, const std::string& params, int agents) {
  auto p = makeAllocator(policy, Params::parse(params));
  for (int i = 0; i < agents; ++i) {
    p->addAgent(agent("a" + std::to_string(i), "cpus:1;mem:1024"));
  }
  return p;
}

// Framework `id` of role `role` publishing `count` one-cpu tasks (key 1).
void addDemanding(Allocator& p, const std::string& id, const std::string& role,
                  std::uint32_t count) {
  p.addFramework(framework(id, role));
  p.updateDemand(FrameworkId(id), {pending(kTask, count, 1)});
}

// Cpus granted per framework in one round.
std::map<std::string, double> cpusBy(const std::vector<Allocation>& round) {
  std::map<std::string, double> out;
  for (const Allocation& a : round) out[a.framework.str()] += a.resources.totalScalars()[0];
  return out;
}

// Params with `queues` set (the Params text syntax splits on ',').
Params withQueues(const std::string& queues, const std::string& more = "") {
  Params p = more.empty() ? Params() : Params::parse(more);
  p.set("queues", queues);
  return p;
}

std::unique_ptr<Allocator> makeQ(const std::string& policy, const std::string& queues, int agents,
                                 const std::string& more = "") {
  auto p = makeAllocator(policy, withQueues(queues, more));
  for (int i = 0; i < agents; ++i) {
    p->addAgent(agent("a" + std::to_string(i), "cpus:1;mem:1024"));
  }
  return p;
}

// Under contention each queue gets its guarantee: 75% and 25% of 8 cpus.
TEST(CapacityTest, GuaranteesHonouredUnderContention) {
  auto p = makeQ("capacity", "a:75;b:25", 8);
  addDemanding(*p, "A", "a", 10);
  addDemanding(*p, "B", "b", 10);
  const auto got = cpusBy(p->allocate(at(0)));
  EXPECT_DOUBLE_EQ(got.at("A"), 6);
  EXPECT_DOUBLE_EQ(got.at("B"), 2);
}

// A queue takes capacity another queue leaves idle (elasticity).
TEST(CapacityTest, IdleCapacityGoesToAnotherQueue) {
  auto p = makeQ("capacity", "a:25;b:75", 8);
  addDemanding(*p, "A", "a", 10);
  p->addFramework(framework("B", "b"));
  p->suppress(FrameworkId("B"));
  EXPECT_DOUBLE_EQ(cpusBy(p->allocate(at(0))).at("A"), 8);
}

// Elasticity stops at the maximum capacity, even with the rest idle.
TEST(CapacityTest, MaximumCapacityIsNeverExceeded) {
  auto p = makeQ("capacity", "a:25:60;b:75", 10);
  addDemanding(*p, "A", "a", 10);
  EXPECT_DOUBLE_EQ(cpusBy(p->allocate(at(0))).at("A"), 6);
  EXPECT_TRUE(p->allocate(at(1)).empty());
}

// A parent's maximum caps its children together.
TEST(CapacityTest, ParentMaximumCapsItsChildren) {
  auto p = makeQ("capacity", "eng:50:50;eng.x:50;eng.y:50;ads:50", 10);
  addDemanding(*p, "X", "x", 10);
  addDemanding(*p, "Y", "y", 10);
  const auto got = cpusBy(p->allocate(at(0)));
  EXPECT_DOUBLE_EQ(got.at("X") + got.at("Y"), 5);
}

// A parent's guarantee is split among its children by their own
// guarantees: eng 60% as 30% + 30%, ads 40%, of 10 cpus.
TEST(CapacityTest, HierarchySplitsParentGuarantee) {
  auto p = makeQ("capacity", "eng:60;eng.batch:50;eng.web:50;ads:40", 10);
  addDemanding(*p, "B", "batch", 10);
  addDemanding(*p, "W", "eng.web", 10);  // a role may name the leaf's path
  addDemanding(*p, "D", "ads", 10);
  const auto got = cpusBy(p->allocate(at(0)));
  EXPECT_DOUBLE_EQ(got.at("B"), 3);
  EXPECT_DOUBLE_EQ(got.at("W"), 3);
  EXPECT_DOUBLE_EQ(got.at("D"), 4);
}

// Frameworks of roles no leaf names go to `default`, guaranteed nothing:
// they get only what declared queues leave.
TEST(CapacityTest, UnknownRolesGoToDefaultWithoutGuarantee) {
  auto p = makeQ("capacity", "a:100", 5);
  addDemanding(*p, "A", "a", 3);
  addDemanding(*p, "X", "elsewhere", 5);
  const auto got = cpusBy(p->allocate(at(0)));
  EXPECT_DOUBLE_EQ(got.at("A"), 3);
  EXPECT_DOUBLE_EQ(got.at("X"), 2);
  auto q = makeQ("capacity", "a:100", 5);
  addDemanding(*q, "X", "elsewhere", 5);  // registered first: no matter
  addDemanding(*q, "A", "a", 5);
  EXPECT_EQ(cpusBy(q->allocate(at(0))).count("X"), 0u);
}

// Without a queues parameter each role is a leaf with an equal guarantee.
TEST(CapacityTest, WithoutQueuesEachRoleGetsAnEqualPart) {
  auto p = make("capacity", "", 6);
  addDemanding(*p, "A", "r1", 10);
  addDemanding(*p, "B", "r2", 10);
  addDemanding(*p, "C", "r3", 10);
  const auto got = cpusBy(p->allocate(at(0)));
  EXPECT_DOUBLE_EQ(got.at("A"), 2);
  EXPECT_DOUBLE_EQ(got.at("B"), 2);
  EXPECT_DOUBLE_EQ(got.at("C"), 2);
}

// Within a leaf frameworks are served in registration order (FIFO).
TEST(CapacityTest, FrameworksOfALeafAreServedFirstComeFirstServed) {
  auto p = makeQ("capacity", "a:100", 4);
  addDemanding(*p, "first", "a", 3);
  addDemanding(*p, "second", "a", 3);
  const auto got = cpusBy(p->allocate(at(0)));
  EXPECT_DOUBLE_EQ(got.at("first"), 3);
  EXPECT_DOUBLE_EQ(got.at("second"), 1);
}

// Task-sized grants name the pending task and place it first fit.
TEST(CapacityTest, GrantsAreSizedToTasksWithTheirKeys) {
  auto p = makeAllocator("capacity");
  p->addAgent(agent("small", "cpus:1;mem:1024"));
  p->addAgent(agent("big", "cpus:8;mem:8192"));
  p->addFramework(framework("F", "r"));
  p->updateDemand(FrameworkId("F"), {pending("cpus:2;mem:256", 1, 7), pending(kTask, 1, 8)});
  const auto round = p->allocate(at(0));
  ASSERT_EQ(round.size(), 2u);
  EXPECT_EQ(round[0].agent.str(), "big");
  EXPECT_EQ(round[0].task, 7u);
  EXPECT_EQ(round[0].resources, Resources::parse("cpus:2;mem:256"));
  EXPECT_EQ(round[1].agent.str(), "small");
  EXPECT_EQ(round[1].task, 8u);
}

// A gang starts whole or not at all; a later unit that fits still starts.
TEST(CapacityTest, GangsStartWholeOrNotAtAll) {
  auto p = make("capacity", "", 2);
  p->addFramework(framework("F", "r"));
  PendingTask wide = pending(kTask, 3, 1);
  wide.gang = true;
  PendingTask narrow = pending(kTask, 2, 2);
  narrow.gang = true;
  p->updateDemand(FrameworkId("F"), {wide, narrow});
  const auto round = p->allocate(at(0));
  ASSERT_EQ(round.size(), 2u);
  for (const Allocation& a : round) EXPECT_EQ(a.task, 2u);
}

// Frameworks that publish no demand (the runtime master) get whole agents,
// shared between queues by guarantee.
TEST(CapacityTest, WithoutDemandQueuesGetWholeAgents) {
  auto p = makeQ("capacity", "a:50;b:50", 4);
  p->addFramework(framework("A", "a"));
  p->addFramework(framework("B", "b"));
  const auto round = p->allocate(at(0));
  ASSERT_EQ(round.size(), 4u);
  for (const Allocation& a : round) EXPECT_EQ(a.resources, Resources::parse("cpus:1;mem:1024"));
  const auto got = cpusBy(round);
  EXPECT_DOUBLE_EQ(got.at("A"), 2);
  EXPECT_DOUBLE_EQ(got.at("B"), 2);
}

// Whole-agent offers are cut down to the queue's maximum capacity.
TEST(CapacityTest, WholeAgentOffersStopAtTheMaximum) {
  auto p = makeAllocator("capacity", withQueues("a:20:25;b:50"));
  p->addAgent(agent("a0", "cpus:4;mem:4096"));
  p->addFramework(framework("A", "a"));
  const auto round = p->allocate(at(0));
  ASSERT_EQ(round.size(), 1u);
  EXPECT_EQ(round[0].resources, Resources::parse("cpus:1;mem:1024"));
}

// Fair shares follow weights: 2:1 of 9 cpus when both queues want more.
TEST(FairTest, SharesFollowWeights) {
  auto p = makeQ("fair", "a:0:100:2;b:0:100:1", 9);
  addDemanding(*p, "A", "a", 20);
  addDemanding(*p, "B", "b", 20);
  const auto got = cpusBy(p->allocate(at(0)));
  EXPECT_DOUBLE_EQ(got.at("A"), 6);
  EXPECT_DOUBLE_EQ(got.at("B"), 3);
}

// Max-min: a queue that wants less than its share gets what it wants, the
// others split the rest by weight.
TEST(FairTest, SmallDemandIsMetAndTheRestIsShared) {
  auto p = makeQ("fair", "a:0;b:0;c:0", 10);
  addDemanding(*p, "A", "a", 2);
  addDemanding(*p, "B", "b", 20);
  addDemanding(*p, "C", "c", 20);
  const auto got = cpusBy(p->allocate(at(0)));
  EXPECT_DOUBLE_EQ(got.at("A"), 2);
  EXPECT_DOUBLE_EQ(got.at("B"), 4);
  EXPECT_DOUBLE_EQ(got.at("C"), 4);
}

// Fair shares are hierarchical: a parent's share is split among its
// children, whatever the number of leaves on each side.
TEST(FairTest, HierarchicalSharesSplitTheParentFirst) {
  auto p = makeQ("fair", "eng:0;eng.x:0;eng.y:0;eng.z:0;ads:0", 12);
  addDemanding(*p, "X", "x", 20);
  addDemanding(*p, "Y", "y", 20);
  addDemanding(*p, "Z", "z", 20);
  addDemanding(*p, "D", "ads", 20);
  const auto got = cpusBy(p->allocate(at(0)));
  EXPECT_DOUBLE_EQ(got.at("D"), 6);
  EXPECT_DOUBLE_EQ(got.at("X"), 2);
  EXPECT_DOUBLE_EQ(got.at("Y"), 2);
  EXPECT_DOUBLE_EQ(got.at("Z"), 2);
}

// Multi-resource: queues are ordered by dominant share (DRF across queues),
// the DRF paper's example on <9 cpus, 18 GB> with equal weights: A's tasks
// <1 cpu, 4 GB>, B's <3 cpus, 1 GB> give A 3 tasks and B 2.
TEST(FairTest, DominantSharesAcrossQueues) {
  auto p = makeAllocator("fair", withQueues("a:0;b:0"));
  p->addAgent(agent("m", "cpus:9;mem:18432"));
  p->addFramework(framework("A", "a"));
  p->updateDemand(FrameworkId("A"), {pending("cpus:1;mem:4096", 10, 1)});
  p->addFramework(framework("B", "b"));
  p->updateDemand(FrameworkId("B"), {pending("cpus:3;mem:1024", 10, 1)});
  const auto got = cpusBy(p->allocate(at(0)));
  EXPECT_DOUBLE_EQ(got.at("A"), 3);
  EXPECT_DOUBLE_EQ(got.at("B"), 6);
}

// In `fair` the guarantee is a minimum share: queue a (weight 1, 50%)
// keeps half against b (weight 9) when both want everything.
TEST(FairTest, GuaranteeIsAMinimumShare) {
  auto p = makeQ("fair", "a:50:100:1;b:0:100:9", 10);
  addDemanding(*p, "A", "a", 10);
  addDemanding(*p, "B", "b", 10);
  const auto got = cpusBy(p->allocate(at(0)));
  EXPECT_DOUBLE_EQ(got.at("A"), 5);
  EXPECT_DOUBLE_EQ(got.at("B"), 5);
}

// Without a queues parameter `fair` weights each role's leaf by the role's
// weight: 3:1 of 8 cpus.
TEST(FairTest, WithoutQueuesRolesAreWeighted) {
  auto p = make("fair", "", 8);
  p->setRoleWeight("r1", 3);
  addDemanding(*p, "A", "r1", 10);
  addDemanding(*p, "B", "r2", 10);
  const auto got = cpusBy(p->allocate(at(0)));
  EXPECT_DOUBLE_EQ(got.at("A"), 6);
  EXPECT_DOUBLE_EQ(got.at("B"), 2);
}

// Bad queue specs are refused with InvalidArgument naming the item.
TEST(QueuesSpecTest, BadSpecsAreRefusedNamingTheItem) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a", "expected PATH:GUARANTEED"},
      {"a:x", "'a:x': guaranteed capacity 'x' is not a number"},
      {"a:50:40", "'a:50:40': maximum capacity 40% is below the guaranteed 50%"},
      {"a:120", "'a:120': guaranteed capacity 120% is not in [0, 100]"},
      {"a:10:0", "'a:10:0': maximum capacity 0% is not in (0, 100]"},
      {"a:10:100:0", "'a:10:100:0': weight '0' is not a number > 0"},
      {"a.b:10", "'a.b:10': parent queue 'root.a' is not declared"},
      {"a:60;b:50", "children of 'root' are guaranteed 110%"},
      {"a:10;a:20", "'a:20': queue 'root.a' is already declared"},
      {"x:50;x.a:50;y:50;y.a:50", "leaf name 'a' is used by 'root.x.a' and 'root.y.a'"},
      {"a..b:10", "'a..b:10': bad queue path"},
      {"root:100", "root is the whole cluster"},
      {"default:10;default.x:100", "'default' receives frameworks of unknown roles"},
      {";", "no queue given"},
  };
  for (const auto& [spec, message] : cases) {
    for (const char* policy : {"capacity", "fair"}) {
      SCOPED_TRACE(std::string(policy) + " " + spec);
      try {
        makeAllocator(policy, withQueues(spec));
        ADD_FAILURE() << "expected InvalidArgument";
      } catch (const InvalidArgument& e) {
        EXPECT_THAT(e.what(), HasSubstr(message));
      }
    }
  }
}

// A bad preemption_timeout is refused naming the parameter.
TEST(QueuesSpecTest, BadPreemptionTimeoutIsRefused) {
  for (const char* value : {"-1", "soon"}) {
    try {
      makeAllocator("capacity", Params::parse(std::string("preemption_timeout=") + value));
      ADD_FAILURE() << value;
    } catch (const InvalidArgument& e) {
      EXPECT_THAT(e.what(), HasSubstr("preemption_timeout"));
    }
  }
}

// Declaration order and the optional 'root.' prefix do not change the tree:
// children may come before their parents.
TEST(QueuesSpecTest, DeclarationOrderDoesNotMatter) {
  auto grants = [](const std::string& queues) {
    auto p = makeQ("capacity", queues, 10);
    addDemanding(*p, "B", "batch", 10);
    addDemanding(*p, "W", "web", 10);
    addDemanding(*p, "D", "ads", 10);
    return cpusBy(p->allocate(at(0)));
  };
  const auto ordered = grants("eng:60:100:2;eng.batch:50;eng.web:50:80;ads:40");
  EXPECT_EQ(grants("eng.web:50:80;root.eng:60:100:2;root.eng.batch:50;ads:40"), ordered);
  EXPECT_DOUBLE_EQ(ordered.at("D"), 4);
}

// capacity and fair are registered with their parameters and ask for the
// whole pending queue to be published.
TEST(QueuesSpecTest, RegisteredWithParametersAndDemand) {
  for (const PolicyInfo& info : builtinPolicies()) {
    if (info.name != "capacity" && info.name != "fair") continue;
    std::vector<std::string> names;
    for (const ParamSpec& spec : info.params) names.push_back(spec.name);
    EXPECT_THAT(names, ::testing::IsSupersetOf({"queues", "preemption", "preemption_timeout"}));
    EXPECT_GT(info.demand, 0u);
  }
  EXPECT_EQ(makeAllocator("capacity")->name(), "capacity");
  EXPECT_EQ(makeAllocator("fair")->name(), "fair");
}

// A: everything of a 4-cpu cluster in 4 one-cpu grants at time 0; B of
// queue b then publishes 2 tasks at time 10.
struct Starved {
  std::unique_ptr<Allocator> p;
  explicit Starved(const std::string& policy, const std::string& more) {
    p = makeQ(policy, "a:50;b:50", 4, more);
    addDemanding(*p, "A", "a", 4);
    EXPECT_EQ(p->allocate(at(0)).size(), 4u);
    addDemanding(*p, "B", "b", 2);
  }
};

// Without preemption a starving queue only waits: no reclaims.
TEST(PreemptionTest, OffMeansNoReclaims) {
  Starved c("capacity", "preemption_timeout=15");
  for (double t : {10.0, 20.0, 30.0, 100.0}) {
    EXPECT_TRUE(c.p->allocate(at(t)).empty());
    EXPECT_TRUE(c.p->takeReclaims().empty());
  }
}

// With preemption, a queue starved past the timeout reclaims what it needs
// (room for two one-cpu tasks, from A on two agents: the cpu, since memory
// is free there), no more; the round that starts the clock asks for a
// wake-up at the deadline.
TEST(PreemptionTest, ReclaimsAfterTheTimeout) {
  Starved c("capacity", "preemption=true,preemption_timeout=15");
  EXPECT_TRUE(c.p->allocate(at(10)).empty());
  EXPECT_TRUE(c.p->takeReclaims().empty());
  EXPECT_EQ(c.p->takeWakeup(), at(25));
  c.p->allocate(at(24));
  EXPECT_TRUE(c.p->takeReclaims().empty());
  c.p->allocate(at(25));
  const auto reclaims = c.p->takeReclaims();
  ASSERT_EQ(reclaims.size(), 2u);
  EXPECT_EQ(reclaims[0].framework.str(), "A");
  EXPECT_EQ(reclaims[0].resources, Resources::parse("cpus:1"));
  EXPECT_NE(reclaims[0].agent, reclaims[1].agent);
}

// Reclaims in flight are not repeated: until the host recovers them, later
// rounds ask for nothing more; once recovered, the starved queue gets them.
TEST(PreemptionTest, InFlightReclaimsAreNotRepeated) {
  Starved c("capacity", "preemption=true,preemption_timeout=0");
  c.p->allocate(at(10));
  const auto reclaims = c.p->takeReclaims();
  ASSERT_EQ(reclaims.size(), 2u);
  c.p->allocate(at(11));
  EXPECT_TRUE(c.p->takeReclaims().empty());
  for (const Reclaim& r : reclaims) {
    c.p->recoverResources(r.framework, r.agent, r.resources, std::nullopt, at(12));
  }
  const auto got = cpusBy(c.p->allocate(at(12)));
  EXPECT_DOUBLE_EQ(got.at("B"), 2);
  EXPECT_TRUE(c.p->takeReclaims().empty());
}

// Preemption takes the newest grants first: A's cpus granted at 5 s go
// before those granted at 0 s.
TEST(PreemptionTest, NewestGrantsAreReclaimedFirst) {
  auto p = makeQ("capacity", "a:50;b:50", 4, "preemption=true,preemption_timeout=0");
  addDemanding(*p, "A", "a", 2);
  ASSERT_EQ(p->allocate(at(0)).size(), 2u);
  p->updateDemand(FrameworkId("A"), {pending(kTask, 2, 2)});
  const auto later = p->allocate(at(5));
  ASSERT_EQ(later.size(), 2u);
  addDemanding(*p, "B", "b", 2);
  p->allocate(at(6));
  std::set<std::string> agents;
  for (const Reclaim& r : p->takeReclaims()) agents.insert(r.agent.str());
  EXPECT_EQ(agents, (std::set<std::string>{later[0].agent.str(), later[1].agent.str()}));
}

// Victims are never taken below their own target: with guarantees 75/25,
// A (holding all 4) gives up one cpu for B's 25%, however much B wants.
TEST(PreemptionTest, VictimsKeepTheirGuarantee) {
  auto p = makeQ("capacity", "a:75;b:25", 4, "preemption=true,preemption_timeout=0");
  addDemanding(*p, "A", "a", 4);
  p->allocate(at(0));
  addDemanding(*p, "B", "b", 4);
  p->allocate(at(1));
  EXPECT_EQ(p->takeReclaims().size(), 1u);
}

// Preemption in `fair` restores fair shares: with weights 3:1, B (weight
// 1) regains a quarter of the cluster from A.
TEST(PreemptionTest, FairReclaimsUpToTheFairShare) {
  auto p = makeQ("fair", "a:0:100:3;b:0:100:1", 8, "preemption=true,preemption_timeout=5");
  addDemanding(*p, "A", "a", 8);
  p->allocate(at(0));
  addDemanding(*p, "B", "b", 8);
  p->allocate(at(1));
  EXPECT_TRUE(p->takeReclaims().empty());
  p->allocate(at(6));
  EXPECT_EQ(p->takeReclaims().size(), 2u);
}

// Frameworks without demand (the runtime master) reclaim their deficit
// itself: half of a fully used agent.
TEST(PreemptionTest, WithoutDemandTheDeficitIsReclaimed) {
  auto p =
      makeAllocator("capacity", withQueues("a:50;b:50", "preemption=true,preemption_timeout=0"));
  p->addAgent(agent("n", "cpus:4;mem:1024"));
  p->addFramework(framework("A", "a"));
  ASSERT_EQ(p->allocate(at(0)).size(), 1u);
  p->addFramework(framework("B", "b"));
  EXPECT_TRUE(p->allocate(at(1)).empty());
  const auto reclaims = p->takeReclaims();
  ASSERT_EQ(reclaims.size(), 1u);
  EXPECT_EQ(reclaims[0].framework.str(), "A");
  EXPECT_EQ(reclaims[0].resources, Resources::parse("cpus:2;mem:512"));
}

}  // namespace
}  // namespace allot
