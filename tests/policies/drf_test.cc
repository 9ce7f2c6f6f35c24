#include <gtest/gtest.h>

#include <cmath>

#include "allot/core/error.h"
#include "allot/policies/registry.h"
#include "allot/policies/rounds.h"
#include "helpers.h"

namespace allot {
namespace {

using testing::agent;
using testing::at;
using testing::framework;
using testing::roundsFramework;

const RoundsFrameworkResult& resultOf(const RoundsResult& r, const std::string& id) {
  for (const auto& f : r.frameworks) {
    if (f.id.str() == id) return f;
  }
  throw std::runtime_error("no framework " + id);
}

// The example of the DRF paper (Ghodsi et al., NSDI 2011, section 4): a
// cluster of <9 CPU, 18 GB>, user A's tasks need <1 CPU, 4 GB> and user B's
// <3 CPU, 1 GB>. Progressive filling gives A three tasks and B two, and both
// dominant shares equal 2/3.
TEST(DrfTest, PaperExampleEqualizesDominantShares) {
  auto drf = makeAllocator("drf");
  drf->addAgent(agent("a1", "cpus:9;mem:18432"));
  const RoundsResult result = runRounds(*drf,
                                        {roundsFramework("A", "userA", "cpus:1;mem:4096"),
                                         roundsFramework("B", "userB", "cpus:3;mem:1024")},
                                        {});
  EXPECT_EQ(resultOf(result, "A").tasks, 3);
  EXPECT_EQ(resultOf(result, "B").tasks, 2);
  EXPECT_NEAR(resultOf(result, "A").dominantShare, 2.0 / 3.0, 1e-9);
  EXPECT_NEAR(resultOf(result, "B").dominantShare, 2.0 / 3.0, 1e-9);
}

// The same example with both users as frameworks of one role: the second
// level of hierarchical DRF (frameworks within a role) gives the same result.
TEST(DrfTest, PaperExampleWithinOneRole) {
  auto drf = makeAllocator("drf");
  drf->addAgent(agent("a1", "cpus:9;mem:18432"));
  const RoundsResult result = runRounds(*drf,
                                        {roundsFramework("A", "users", "cpus:1;mem:4096"),
                                         roundsFramework("B", "users", "cpus:3;mem:1024")},
                                        {});
  EXPECT_EQ(resultOf(result, "A").tasks, 3);
  EXPECT_EQ(resultOf(result, "B").tasks, 2);
}

// With role weights 2:1 and identical tasks on 9 CPUs, the heavier role gets
// twice as much: 6 tasks against 3, equal weighted shares.
TEST(DrfTest, WeightedSharesSplitExactly) {
  auto drf = makeAllocator("drf");
  drf->addAgent(agent("a1", "cpus:9;mem:9216"));
  drf->setRoleWeight("heavy", 2);
  drf->setRoleWeight("light", 1);
  const RoundsResult result = runRounds(*drf,
                                        {roundsFramework("H", "heavy", "cpus:1;mem:1024"),
                                         roundsFramework("L", "light", "cpus:1;mem:1024")},
                                        {});
  EXPECT_EQ(resultOf(result, "H").tasks, 6);
  EXPECT_EQ(resultOf(result, "L").tasks, 3);
}

// Framework weights order frameworks within one role the same way (the
// second level of hierarchical DRF).
TEST(DrfTest, FrameworkWeightsWithinRole) {
  auto drf = makeAllocator("drf");
  drf->addAgent(agent("a1", "cpus:9;mem:9216"));
  const RoundsResult result = runRounds(*drf,
                                        {roundsFramework("H", "shared", "cpus:1;mem:1024", 2),
                                         roundsFramework("L", "shared", "cpus:1;mem:1024", 1)},
                                        {});
  EXPECT_EQ(resultOf(result, "H").tasks, 6);
  EXPECT_EQ(resultOf(result, "L").tasks, 3);
}

// When whole tasks cannot split the cluster in the weight ratio, weighted
// shares (share / weight) end within one task's weighted share of each other
// and no task that fits is left unlaunched.
TEST(DrfTest, WeightedSharesAsCloseAsWholeTasksAllow) {
  auto drf = makeAllocator("drf");
  drf->addAgent(agent("a1", "cpus:10;mem:10240"));
  drf->setRoleWeight("heavy", 2);
  drf->setRoleWeight("light", 1);
  const RoundsResult result = runRounds(*drf,
                                        {roundsFramework("H", "heavy", "cpus:1;mem:1024"),
                                         roundsFramework("L", "light", "cpus:1;mem:1024")},
                                        {.rounds = 50});
  const auto& h = resultOf(result, "H");
  const auto& l = resultOf(result, "L");
  EXPECT_EQ(h.tasks + l.tasks, 10);
  const double gap = std::abs(h.dominantShare / 2 - l.dominantShare / 1);
  EXPECT_LE(gap, 0.1 / 1 + 1e-9);  // one light task's weighted share
  EXPECT_EQ(h.tasks, 7);
  EXPECT_EQ(l.tasks, 3);
}

// Mesos' quota scenario: 100 CPUs, role rA has a quota guarantee of 50 CPUs,
// role rB is greedy and present from the start. rB cannot take the CPUs set
// aside for rA, and rA receives its 50 when its framework arrives later.
TEST(DrfTest, QuotaGuaranteeHoldsAgainstGreedyRole) {
  auto drf = makeAllocator("drf");
  for (int i = 0; i < 10; ++i) drf->addAgent(agent("a" + std::to_string(i), "cpus:10;mem:10240"));
  drf->setQuota("rA", Quota{Resources::parse("cpus:50"), {}});
  RoundsOptions greedy{.rounds = 5, .tasksPerOffer = 1000};
  const RoundsResult first = runRounds(*drf, {roundsFramework("B", "rB", "cpus:1;mem:1")}, greedy);
  EXPECT_EQ(resultOf(first, "B").tasks, 50);

  const RoundsResult second = runRounds(*drf, {roundsFramework("A", "rA", "cpus:1;mem:1")}, greedy);
  EXPECT_EQ(resultOf(second, "A").tasks, 50);
  const auto ra = drf->state().findRole("rA");
  ASSERT_TRUE(ra.has_value());
  EXPECT_DOUBLE_EQ(drf->state().role(*ra).allocated[0], 50);
}

// An unmet guarantee is kept as headroom, cluster-wide, by shrinking what
// other roles are offered to the surplus over it (Mesos 1.9 on): on one
// agent of 12 cpus with rA guaranteed 10 and absent, greedy rB gets 2, not
// the whole agent and not nothing. Once rA comes, it gets its 10.
TEST(DrfTest, QuotaHeadroomShrinksOffersToTheSurplus) {
  auto drf = makeAllocator("drf");
  drf->addAgent(agent("a1", "cpus:12;mem:12288"));
  drf->setQuota("rA", Quota{Resources::parse("cpus:10"), {}});
  RoundsOptions greedy{.rounds = 5, .tasksPerOffer = 1000};
  const RoundsResult first = runRounds(*drf, {roundsFramework("B", "rB", "cpus:1;mem:1")}, greedy);
  EXPECT_EQ(resultOf(first, "B").tasks, 2);
  const RoundsResult second = runRounds(*drf, {roundsFramework("A", "rA", "cpus:1;mem:1")}, greedy);
  EXPECT_EQ(resultOf(second, "A").tasks, 10);
}

// A quota names unreserved scalars: a reserved amount or ports are refused
// naming the role and the part (the master and the simulator show it).
TEST(DrfTest, QuotaOfReservedOrNonScalarResourcesIsRefused) {
  auto drf = makeAllocator("drf");
  for (const auto& [quota, words] :
       {std::pair{Quota{Resources::parse("cpus(web):2"), {}},
                  "role 'web': guarantee cpus(web):2: quota is unreserved scalars only"},
        std::pair{Quota{{}, Resources::parse("ports:[1-2]")},
                  "role 'web': limit ports:[1-2]: quota is unreserved scalars only"}}) {
    try {
      drf->setQuota("web", quota);
      ADD_FAILURE() << "accepted " << words;
    } catch (const InvalidArgument& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  }
}

// With both roles present, the quota stage serves rA's guarantee first even
// though rB registered first and would win the fair-share tie.
TEST(DrfTest, QuotaIsMetBeforeFairSharing) {
  auto drf = makeAllocator("drf");
  for (int i = 0; i < 10; ++i) drf->addAgent(agent("a" + std::to_string(i), "cpus:10;mem:10240"));
  drf->setQuota("rA", Quota{Resources::parse("cpus:50"), {}});
  const RoundsResult result = runRounds(
      *drf,
      {roundsFramework("B", "rB", "cpus:1;mem:1"), roundsFramework("A", "rA", "cpus:1;mem:1")},
      {.rounds = 5, .tasksPerOffer = 1000});
  EXPECT_GE(resultOf(result, "A").tasks, 50);
  EXPECT_EQ(resultOf(result, "A").tasks + resultOf(result, "B").tasks, 100);
}

// A quota limit caps what a role may hold, even when it is the only role.
TEST(DrfTest, QuotaLimitCapsRole) {
  auto drf = makeAllocator("drf");
  drf->addAgent(agent("a1", "cpus:10;mem:10240"));
  drf->setQuota("capped", Quota{Resources::parse("cpus:2"), Resources::parse("cpus:4")});
  const RoundsResult result = runRounds(*drf, {roundsFramework("C", "capped", "cpus:1;mem:1")},
                                        {.rounds = 10, .tasksPerOffer = 1000});
  EXPECT_EQ(resultOf(result, "C").tasks, 4);
}

// After a decline with refuse_seconds, the framework is not offered that
// agent again until the filter expires; other agents and other frameworks are
// not affected.
TEST(DrfTest, DeclineFilterHoldsUntilExpiry) {
  auto drf = makeAllocator("drf");
  drf->addAgent(agent("a1", "cpus:4;mem:4096"));
  drf->addFramework(framework("F", "r"));
  auto offers = drf->allocate(at(0));
  ASSERT_EQ(offers.size(), 1u);
  drf->recoverResources(offers[0].framework, offers[0].agent, offers[0].resources,
                        Filters{std::chrono::seconds(10)}, at(0));
  for (double t : {1.0, 5.0, 9.999}) {
    EXPECT_TRUE(drf->allocate(at(t)).empty()) << "offered at t=" << t;
  }
  // A new agent is offered at once; the filtered one still is not.
  drf->addAgent(agent("a2", "cpus:1;mem:1024"));
  offers = drf->allocate(at(9.999));
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].agent.str(), "a2");
  // Another framework may take the filtered agent.
  drf->addFramework(framework("G", "r"));
  offers = drf->allocate(at(9.999));
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].framework.str(), "G");
  EXPECT_EQ(offers[0].agent.str(), "a1");
  drf->recoverResources(offers[0].framework, offers[0].agent, offers[0].resources, std::nullopt,
                        at(9.999));
  drf->removeFramework(FrameworkId("G"));
  EXPECT_TRUE(drf->allocate(at(9.999)).empty());
  // At expiry F gets a1 again.
  offers = drf->allocate(at(10));
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].framework.str(), "F");
  EXPECT_EQ(offers[0].agent.str(), "a1");
}

// Declining again extends a filter to the later deadline, never shortens it;
// a decline "for good" outlives any finite one.
TEST(DrfTest, RepeatedDeclinesKeepTheLatestDeadline) {
  auto drf = makeAllocator("drf");
  drf->addAgent(agent("a1", "cpus:4;mem:4096"));
  drf->addFramework(framework("F", "r"));
  auto declineAll = [&](double now, double seconds) {
    auto offers = drf->allocate(at(now));
    ASSERT_EQ(offers.size(), 1u) << "at t=" << now;
    drf->recoverResources(offers[0].framework, offers[0].agent, offers[0].resources,
                          Filters{secondsToDuration(seconds)}, at(now));
  };
  declineAll(0, 10);  // until t=10
  // Re-offered at 10; declined for 30 s, then (after revive) for 5 s: the
  // later deadline of the two wins only when it is later.
  declineAll(10, 30);  // until t=40
  EXPECT_TRUE(drf->allocate(at(39)).empty());
  declineAll(40, 5);  // until t=45
  EXPECT_TRUE(drf->allocate(at(44.9)).empty());
  declineAll(45, 1e12);  // for good
  EXPECT_TRUE(drf->allocate(at(1e6)).empty());
  drf->revive(FrameworkId("F"));
  EXPECT_EQ(drf->allocate(at(1e6)).size(), 1u);
}

// A filter covers only what was refused: when more becomes available on the
// agent than the framework declined, it is offered again (Mesos' semantics).
TEST(DrfTest, FilterDoesNotCoverLargerOffers) {
  auto drf = makeAllocator("drf");
  drf->addAgent(agent("a1", "cpus:4;mem:4096"));
  drf->addFramework(framework("F", "r"));
  drf->addFramework(framework("T", "other"));
  drf->suppress(FrameworkId("T"));
  auto offers = drf->allocate(at(0));
  ASSERT_EQ(offers.size(), 1u);
  // F keeps one CPU (a task) and declines the rest for an hour.
  const Resources task = Resources::parse("cpus:1;mem:1024");
  drf->recoverResources(FrameworkId("F"), AgentId("a1"), offers[0].resources - task,
                        Filters{std::chrono::hours(1)}, at(0));
  EXPECT_TRUE(drf->allocate(at(1)).empty());
  // The task finishes: now the agent has more than F refused.
  drf->recoverResources(FrameworkId("F"), AgentId("a1"), task, std::nullopt, at(2));
  offers = drf->allocate(at(3));
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].framework.str(), "F");
}

// Reserved resources go only to frameworks of their role; others see only
// the unreserved part of the agent.
TEST(DrfTest, ReservedResourcesGoOnlyToTheirRole) {
  auto drf = makeAllocator("drf");
  drf->addAgent(agent("a1", "cpus:2;mem:2048;cpus(web):4;mem(web):4096"));
  drf->addFramework(framework("batch", "batch"));
  auto offers = drf->allocate(at(0));
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].framework.str(), "batch");
  EXPECT_EQ(offers[0].resources, Resources::parse("cpus:2;mem:2048"));
  // The reservation stays unused while only batch is there.
  EXPECT_TRUE(drf->allocate(at(1)).empty());
  drf->addFramework(framework("web", "web"));
  offers = drf->allocate(at(2));
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].framework.str(), "web");
  EXPECT_EQ(offers[0].resources, Resources::parse("cpus(web):4;mem(web):4096"));
}

// Dynamic reservations made on a running agent behave as static ones, and
// unreserving returns the resources to everyone.
TEST(DrfTest, DynamicReservationAndUnreserve) {
  auto drf = makeAllocator("drf");
  drf->addAgent(agent("a1", "cpus:4;mem:4096"));
  drf->reserve(AgentId("a1"), Resources::parse("cpus(web):3;mem(web):3072"));
  drf->addFramework(framework("batch", "batch"));
  auto offers = drf->allocate(at(0));
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].resources, Resources::parse("cpus:1;mem:1024"));
  drf->recoverResources(FrameworkId("batch"), AgentId("a1"), offers[0].resources, std::nullopt,
                        at(0));
  drf->unreserve(AgentId("a1"), Resources::parse("cpus(web):3;mem(web):3072"));
  offers = drf->allocate(at(1));
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].resources, Resources::parse("cpus:4;mem:4096"));
  EXPECT_THROW(drf->reserve(AgentId("a1"), Resources::parse("cpus(web):1")), InvalidArgument);
}

// DRF skips agents that every framework declined while nothing changes. A
// role that drops back under its quota limit is a change: the agent it never
// saw must be offered to it.
TEST(DrfTest, SkippedAgentsReturnWhenARoleComesBackUnderItsLimit) {
  auto drf = makeAllocator("drf", Params::parse("shuffle_agents=false"));
  drf->addAgent(agent("a1", "cpus:1;mem:1024"));
  drf->addAgent(agent("a2", "cpus:1;mem:1024"));
  drf->setQuota("x", Quota{{}, Resources::parse("cpus:1")});
  drf->addFramework(framework("X", "x"));
  auto offers = drf->allocate(at(0));  // a1 to X (now at its limit), a2 to nobody else yet
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].agent.str(), "a1");
  drf->addFramework(framework("O", "other"));
  offers = drf->allocate(at(1));  // a2 to O, which declines it for good
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].agent.str(), "a2");
  const Filters forever{std::chrono::hours(1000)};
  drf->recoverResources(FrameworkId("O"), AgentId("a2"), offers[0].resources, forever, at(1));
  EXPECT_TRUE(drf->allocate(at(2)).empty());  // a2: declined by O, X is at its limit
  // X gives a1 back and refuses it for good: X is under its limit again, and
  // only a2, which it has never been offered, can serve it.
  drf->recoverResources(FrameworkId("X"), AgentId("a1"), Resources::parse("cpus:1;mem:1024"),
                        forever, at(3));
  offers = drf->allocate(at(3));
  bool xGotA2 = false;
  for (const Allocation& o : offers) {
    xGotA2 = xGotA2 || (o.framework.str() == "X" && o.agent.str() == "a2");
  }
  EXPECT_TRUE(xGotA2);  // (O may take a1 in the same round)
}

// DRF remembers, per agent, which frameworks' filters cover all of it while
// the agent does not change. The answer follows a filter expiring, a second
// framework declining and resources coming free, also when the frameworks
// that take part change in between (another framework added and suppressed).
TEST(DrfTest, CoveredFrameworksFollowTheAgent) {
  auto drf = makeAllocator("drf");
  drf->addAgent(agent("a1", "cpus:4;mem:4096"));
  drf->addFramework(framework("F", "r"));
  drf->addFramework(framework("G", "r"));
  const Filters forever{std::chrono::hours(1000)};
  auto offers = drf->allocate(at(0));
  ASSERT_EQ(offers.size(), 1u);
  const FrameworkId first = offers[0].framework;
  const FrameworkId second(first.str() == "F" ? "G" : "F");
  drf->recoverResources(first, AgentId("a1"), offers[0].resources, forever, at(0));
  offers = drf->allocate(at(1));
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].framework, second);
  drf->recoverResources(second, AgentId("a1"), offers[0].resources,
                        Filters{std::chrono::seconds(10)}, at(1));
  EXPECT_TRUE(drf->allocate(at(2)).empty());
  drf->addFramework(framework("H", "r"));
  drf->suppress(FrameworkId("H"));
  EXPECT_TRUE(drf->allocate(at(3)).empty());
  // The second framework's filter expires: a1 is its again. It keeps one
  // CPU (a task) and declines the rest for good.
  offers = drf->allocate(at(11));
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].framework, second);
  const Resources task = Resources::parse("cpus:1;mem:1024");
  drf->recoverResources(second, AgentId("a1"), offers[0].resources - task, forever, at(11));
  drf->suppress(FrameworkId("H"));
  EXPECT_TRUE(drf->allocate(at(12)).empty());
  // The task ends: a1 has more than the second framework refused, and no
  // more than the first one did.
  drf->recoverResources(second, AgentId("a1"), task, std::nullopt, at(13));
  offers = drf->allocate(at(13));
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].framework, second);
}

// Suppressed frameworks receive nothing; revive brings offers back and
// clears their filters.
TEST(DrfTest, SuppressAndRevive) {
  auto drf = makeAllocator("drf");
  drf->addAgent(agent("a1", "cpus:4;mem:4096"));
  drf->addFramework(framework("F", "r"));
  auto offers = drf->allocate(at(0));
  ASSERT_EQ(offers.size(), 1u);
  drf->recoverResources(FrameworkId("F"), AgentId("a1"), offers[0].resources,
                        Filters{std::chrono::hours(1)}, at(0));
  drf->suppress(FrameworkId("F"));
  EXPECT_TRUE(drf->allocate(at(1)).empty());
  drf->revive(FrameworkId("F"));
  offers = drf->allocate(at(2));
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].framework.str(), "F");
}

// Offers smaller than the minimum allocatable size are not made.
TEST(DrfTest, MinimumAllocatableSizeAvoidsCrumbs) {
  auto drf = makeAllocator("drf", Params::parse("min_allocatable=cpus:1|mem:1024"));
  drf->addAgent(agent("a1", "cpus:0.5;mem:512"));
  drf->addFramework(framework("F", "r"));
  EXPECT_TRUE(drf->allocate(at(0)).empty());
  drf->addAgent(agent("a2", "cpus:1;mem:16"));
  const auto offers = drf->allocate(at(1));
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].agent.str(), "a2");
}

// The same seed gives the same sequence of offers.
TEST(DrfTest, SeededRunsAreDeterministic) {
  auto run = [](int seed) {
    auto drf = makeAllocator("drf", Params::parse("seed=" + std::to_string(seed)));
    for (int i = 0; i < 20; ++i) drf->addAgent(agent("a" + std::to_string(i), "cpus:2;mem:2048"));
    std::vector<RoundsFramework> fws;
    for (int i = 0; i < 5; ++i) {
      fws.push_back(
          roundsFramework("f" + std::to_string(i), "r" + std::to_string(i % 2), "cpus:1;mem:512"));
    }
    std::vector<std::string> log;
    for (const RoundsOffer& o : runRounds(*drf, fws, {.rounds = 30}).offers) {
      log.push_back(o.framework.str() + "@" + o.agent.str());
    }
    return log;
  };
  EXPECT_EQ(run(1), run(1));
  EXPECT_NE(run(1), run(2));
}

}  // namespace
}  // namespace allot

namespace allot {
namespace {

// A framework that published its demand (two tasks of 1 CPU) is offered
// agents only until the round's offers cover it; one without demand still
// gets the rest, whole agents as Mesos offers them.
TEST(DrfTest, PublishedDemandCapsTheRoundsOffers) {
  auto drf = makeAllocator("drf");
  for (int i = 0; i < 10; ++i) drf->addAgent(agent("a" + std::to_string(i), "cpus:1;mem:1024"));
  drf->addFramework(framework("small", "r1"));
  drf->updateDemand(FrameworkId("small"), {testing::pending("cpus:1;mem:100", 2)});
  std::vector<Allocation> offers = drf->allocate(at(0));
  EXPECT_EQ(offers.size(), 2u);  // alone in the cluster, and still only what it asked for
  // It holds what it asked for; another round offers it its demand again
  // (the framework has not said it launched), so it suppresses, as done.
  drf->suppress(FrameworkId("small"));
  drf->addFramework(framework("greedy", "r2"));
  offers = drf->allocate(at(1));
  EXPECT_EQ(offers.size(), 8u);
  for (const Allocation& a : offers) EXPECT_EQ(a.framework, FrameworkId("greedy"));
}

}  // namespace
}  // namespace allot
