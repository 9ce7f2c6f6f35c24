#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <limits>
#include <random>
#include <span>
#include <vector>

#include "allot/core/error.h"
#include "allot/policies/registry.h"
#include "allot/policies/word_set.h"
#include "helpers.h"

namespace allot {
namespace {

using testing::agent;
using testing::at;
using testing::framework;
using ::testing::HasSubstr;

// Events naming unknown agents or frameworks fail with NotFound naming the id.
TEST(AllocatorTest, UnknownIdsAreNotFound) {
  auto a = makeAllocator("drf");
  try {
    a->removeAgent(AgentId("ghost"));
    FAIL() << "expected NotFound";
  } catch (const NotFound& e) {
    EXPECT_THAT(e.what(), HasSubstr("'ghost'"));
  }
  EXPECT_THROW(a->suppress(FrameworkId("nobody")), NotFound);
  EXPECT_THROW(a->recoverResources(FrameworkId("nobody"), AgentId("ghost"),
                                   Resources::parse("cpus:1"), std::nullopt, at(0)),
               NotFound);
}

// Recovering by the slots an allocation named has the id form's effect, and
// a free or unknown slot is NotFound without changing the bookkeeping.
TEST(AllocatorTest, RecoverBySlotsAsById) {
  auto a = makeAllocator("drf");
  a->addAgent(agent("a1", "cpus:4;mem:4096"));
  a->addAgent(agent("a2", "cpus:4;mem:4096"));
  a->addFramework(framework("F", "r"));
  const auto offers = a->allocate(at(0));
  ASSERT_EQ(offers.size(), 2u);
  const Allocation& first = offers[0];
  a->recoverResources(first.frameworkIndex, first.agentIndex, Resources::parse("cpus:1"),
                      Filters{std::chrono::seconds(10)}, at(0));
  EXPECT_EQ(a->state().agent(first.agentIndex).available, Resources::parse("cpus:1"));
  EXPECT_EQ(a->state().allocatedOn(first.frameworkIndex, first.agentIndex),
            Resources::parse("cpus:3;mem:4096"));
  // The filter came with it: the recovered cpu is not offered back to F.
  EXPECT_TRUE(a->allocate(at(1)).empty());

  const Allocation& second = offers[1];
  a->removeAgent(second.agent);
  EXPECT_THROW(a->recoverResources(second.frameworkIndex, second.agentIndex,
                                   Resources::parse("cpus:1"), std::nullopt, at(2)),
               NotFound);
  EXPECT_THROW(a->recoverResources(first.frameworkIndex, AgentIndex{7}, Resources::parse("cpus:1"),
                                   std::nullopt, at(2)),
               NotFound);
  EXPECT_THROW(a->recoverResources(FrameworkIndex{3}, first.agentIndex, Resources::parse("cpus:1"),
                                   std::nullopt, at(2)),
               NotFound);
  EXPECT_EQ(a->state().allocatedOn(first.frameworkIndex, first.agentIndex),
            Resources::parse("cpus:3;mem:4096"));
}

// Duplicate ids and recovering resources a framework does not hold are
// refused without changing the bookkeeping.
TEST(AllocatorTest, BadEventsChangeNothing) {
  auto a = makeAllocator("drf");
  a->addAgent(agent("a1", "cpus:4;mem:4096"));
  EXPECT_THROW(a->addAgent(agent("a1", "cpus:1")), InvalidArgument);
  a->addFramework(framework("F", "r"));
  EXPECT_THROW(a->addFramework(framework("F", "r")), InvalidArgument);
  const auto offers = a->allocate(at(0));
  ASSERT_EQ(offers.size(), 1u);
  try {
    a->recoverResources(FrameworkId("F"), AgentId("a1"), Resources::parse("cpus:5"), std::nullopt,
                        at(0));
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("does not hold"));
  }
  EXPECT_EQ(a->state().allocatedOn(0, 0), Resources::parse("cpus:4;mem:4096"));
  EXPECT_TRUE(a->state().agent(0).available.empty());
  EXPECT_THROW(a->setRoleWeight("r", 0), InvalidArgument);
  EXPECT_THROW(a->setRoleWeight("r", -1), InvalidArgument);
}

// A policy that grants every agent whole to the first framework, then throws
// when told to: a bug the master survives (it logs the failed round).
class FailingPolicy final : public Allocator {
 public:
  std::string_view name() const override { return "failing"; }
  bool fail = true;

 private:
  void decide(TimePoint /*now*/) override {
    for (AgentIndex a = 0; a < state().agentSlots(); ++a) grantAll(0, a);
    if (fail) throw std::runtime_error("the policy's bug");
  }
};

// What a round granted before its policy threw goes back: the next round
// offers it again, instead of its staying allocated to no offer.
TEST(AllocatorTest, AFailedRoundGivesBackWhatItGranted) {
  FailingPolicy p;
  p.addAgent(agent("a1", "cpus:4;mem:4096"));
  p.addAgent(agent("a2", "cpus:2;mem:1024"));
  p.addFramework(framework("F", "r"));
  EXPECT_THROW(p.allocate(at(0)), std::runtime_error);
  for (AgentIndex a = 0; a < 2; ++a) {
    EXPECT_TRUE(p.state().allocatedOn(0, a).empty()) << a;
    EXPECT_EQ(p.state().agent(a).available, p.state().agent(a).info.resources) << a;
  }
  p.fail = false;
  const auto offers = p.allocate(at(1));
  ASSERT_EQ(offers.size(), 2u);
  EXPECT_EQ(offers[0].resources, Resources::parse("cpus:4;mem:4096"));
  EXPECT_EQ(offers[1].resources, Resources::parse("cpus:2;mem:1024"));
}

// A small policy for the interface's own tests: grants each framework's
// first pending task on agent 0 under its key, and reclaims what the
// framework `victim` holds on agent 0 when asked to.
class ProbePolicy final : public Allocator {
 public:
  std::string_view name() const override { return "probe"; }
  bool reclaimNext = false;
  std::vector<std::pair<std::uint64_t, Resources>> recovered;

 private:
  void decide(TimePoint /*now*/) override {
    const ClusterState& s = state();
    for (FrameworkIndex fw = 0; fw < s.frameworkSlots(); ++fw) {
      const FrameworkState& f = s.framework(fw);
      if (!f.alive) continue;
      if (reclaimNext && f.info.id == FrameworkId("victim")) {
        reclaim(fw, 0, s.allocatedOn(fw, 0));
        continue;
      }
      for (const PendingTask& t : f.demand) {
        for (std::uint32_t i = 0; i < t.count; ++i) grant(fw, 0, t.shape, t.key);
      }
    }
  }
  void onRecovered(FrameworkIndex /*fw*/, AgentIndex /*agent*/, const Resources& resources,
                   std::uint64_t task) override {
    recovered.emplace_back(task, resources);
  }
};

// Grants name the pending task they were sized for; grants of different
// tasks on one agent stay separate offers, those of one task merge.
TEST(AllocatorTest, GrantsCarryTheirTaskKey) {
  ProbePolicy p;
  p.addAgent(agent("a1", "cpus:8;mem:8192"));
  p.addFramework(framework("F", "r"));
  p.updateDemand(FrameworkId("F"), {testing::pending("cpus:1;mem:100", 2, 41),
                                    testing::pending("cpus:2;mem:100", 1, 42)});
  const auto offers = p.allocate(at(0));
  ASSERT_EQ(offers.size(), 2u);
  EXPECT_EQ(offers[0].task, 41u);
  EXPECT_EQ(offers[0].resources, Resources::parse("cpus:2;mem:200"));
  EXPECT_EQ(offers[1].task, 42u);
  EXPECT_EQ(offers[1].resources, Resources::parse("cpus:2;mem:100"));
  // The host names the finished task when it gives its resources back.
  p.recoverResources(FrameworkId("F"), AgentId("a1"), Resources::parse("cpus:2;mem:100"),
                     std::nullopt, at(1), 42);
  ASSERT_EQ(p.recovered.size(), 1u);
  EXPECT_EQ(p.recovered[0].first, 42u);
  EXPECT_EQ(p.recovered[0].second, Resources::parse("cpus:2;mem:100"));
}

// A pending task of count 0 is refused, naming the framework.
TEST(AllocatorTest, DemandWithCountZeroIsRefused) {
  ProbePolicy p;
  p.addFramework(framework("F", "r"));
  try {
    p.updateDemand(FrameworkId("F"), {testing::pending("cpus:1", 0, 5)});
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("'F'"));
    EXPECT_THAT(e.what(), HasSubstr("count 0"));
  }
}

// A policy's reclaims reach the host through takeReclaims, once; the books
// change only when the host recovers the resources.
TEST(AllocatorTest, ReclaimsGoToTheHostOnce) {
  ProbePolicy p;
  p.addAgent(agent("a1", "cpus:4;mem:4096"));
  p.addFramework(framework("victim", "r"));
  p.updateDemand(FrameworkId("victim"), {testing::pending("cpus:3;mem:1000", 1, 1)});
  ASSERT_EQ(p.allocate(at(0)).size(), 1u);
  p.reclaimNext = true;
  EXPECT_TRUE(p.allocate(at(1)).empty());
  const std::vector<Reclaim> reclaims = p.takeReclaims();
  ASSERT_EQ(reclaims.size(), 1u);
  EXPECT_EQ(reclaims[0].framework, FrameworkId("victim"));
  EXPECT_EQ(reclaims[0].agent, AgentId("a1"));
  EXPECT_EQ(reclaims[0].resources, Resources::parse("cpus:3;mem:1000"));
  EXPECT_TRUE(p.takeReclaims().empty());
  EXPECT_EQ(p.state().allocatedOn(0, 0), Resources::parse("cpus:3;mem:1000"));
}

// Removing a framework returns what it held to the agents; removing an
// agent drops what frameworks held there and shrinks the cluster total.
TEST(AllocatorTest, RemovalsReturnResources) {
  auto a = makeAllocator("drf");
  a->addAgent(agent("a1", "cpus:4;mem:4096"));
  a->addAgent(agent("a2", "cpus:2;mem:2048"));
  a->addFramework(framework("F", "r"));
  EXPECT_EQ(a->allocate(at(0)).size(), 2u);
  EXPECT_DOUBLE_EQ(a->state().framework(0).allocated[0], 6);
  a->removeAgent(AgentId("a2"));
  EXPECT_DOUBLE_EQ(a->state().framework(0).allocated[0], 4);
  EXPECT_DOUBLE_EQ(a->state().totalScalars()[0], 4);
  a->removeFramework(FrameworkId("F"));
  EXPECT_EQ(a->state().agent(0).available, Resources::parse("cpus:4;mem:4096"));
  EXPECT_DOUBLE_EQ(a->state().role(0).allocated[0], 0);
}

// An agent re-registering with tasks running reports them as used: those
// resources are not offered again.
TEST(AllocatorTest, AgentWithUsedResources) {
  auto a = makeAllocator("drf");
  a->addFramework(framework("F", "r"));
  const std::vector<std::pair<FrameworkId, Resources>> used = {
      {FrameworkId("F"), Resources::parse("cpus:3;mem:1024")}};
  a->addAgent(agent("a1", "cpus:4;mem:4096"), used);
  const auto offers = a->allocate(at(0));
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0].resources, Resources::parse("cpus:1;mem:3072"));
  // Used resources of an unknown framework are refused and leave no agent behind.
  const std::vector<std::pair<FrameworkId, Resources>> bad = {
      {FrameworkId("ghost"), Resources::parse("cpus:1")}};
  EXPECT_THROW(a->addAgent(agent("a2", "cpus:4;mem:4096"), bad), NotFound);
  EXPECT_FALSE(a->state().findAgent(AgentId("a2")).has_value());
}

// Inactive agents and frameworks keep their allocations but get no offers.
TEST(AllocatorTest, InactiveAgentsAndFrameworksGetNoOffers) {
  auto a = makeAllocator("drf");
  a->addAgent(agent("a1", "cpus:4;mem:4096"));
  a->addFramework(framework("F", "r"));
  a->setAgentActive(AgentId("a1"), false);
  EXPECT_TRUE(a->allocate(at(0)).empty());
  a->setAgentActive(AgentId("a1"), true);
  a->setFrameworkActive(FrameworkId("F"), false);
  EXPECT_TRUE(a->allocate(at(1)).empty());
  a->setFrameworkActive(FrameworkId("F"), true);
  EXPECT_EQ(a->allocate(at(2)).size(), 1u);
}

// The registry lists every policy and refuses unknown names and parameters.
// The per-agent available scalars kept beside the books agree with the
// agent's available resources after every kind of event, and the sum over
// agents agrees with them too.
TEST(AllocatorTest, CachedAvailableScalarsFollowTheBooks) {
  auto a = makeAllocator("drf");
  a->addFramework(framework("F", "r"));
  a->addFramework(framework("G", "web"));
  a->addAgent(agent("a1", "cpus:4;mem:4096;ports:[1-10]"),
              std::vector<std::pair<FrameworkId, Resources>>{
                  {FrameworkId("F"), Resources::parse("cpus:1;mem:1024")}});
  a->addAgent(agent("a2", "cpus:2;mem:2048;cpus(web):1"));
  const ClusterState& s = a->state();
  auto check = [&](const char* when) {
    Scalars sum = Scalars::Zero();
    for (AgentIndex i = 0; i < s.agentSlots(); ++i) {
      const Resources& available = s.agent(i).available;
      EXPECT_EQ(s.availableUnreserved(i), available.scalars(kUnreservedRole)) << when;
      EXPECT_EQ(s.availableTotal(i), available.totalScalars()) << when;
      EXPECT_EQ(s.availableEmpty(i), available.empty()) << when;
      if (s.agent(i).alive) sum += available.scalars(kUnreservedRole);
    }
    EXPECT_EQ(s.availableUnreserved(), sum) << when;
  };
  check("added");
  const auto offers = a->allocate(at(0));
  check("allocated");
  for (const Allocation& offer : offers) {
    a->recoverResources(offer.framework, offer.agent, offer.resources, std::nullopt, at(0));
  }
  check("recovered");
  a->reserve(AgentId("a1"), Resources::parse("cpus(web):1"));
  check("reserved");
  a->updateAgentTotal(AgentId("a2"), Resources::parse("cpus:3;mem:2048;cpus(web):1"));
  check("resized");
  a->allocate(at(1));
  a->removeFramework(FrameworkId("G"));
  check("framework removed");
  const std::uint64_t before = s.agentSetVersion();
  a->setAgentActive(AgentId("a1"), false);
  EXPECT_NE(s.agentSetVersion(), before);
  a->removeAgent(AgentId("a2"));
  check("agent removed");
}

// Filter checks compare plain scalars inline (no reserved pool, ranges or
// sets on either side) and otherwise ask Resources::contains; either way the
// answer must be contains' own, for every pair of shapes.
TEST(AllocatorTest, FilterChecksAgreeWithContainsForEveryShape) {
  const std::vector<std::string> shapes = {
      "cpus:2;mem:2048",     "cpus:1;mem:1024",        "cpus:2.0000000001;mem:2048",
      "cpus:3;mem:1024",     "cpus:2;mem:2048;disk:1", "cpus:2;mem:2048;ports:[31000-31009]",
      "ports:[31000-31004]", "cpus(web):1;mem:1024",   "cpus:0.5",
  };
  for (const std::string& refusedText : shapes) {
    for (const std::string& candidateText : shapes) {
      ClusterState s;
      const FrameworkIndex fw = s.addFramework(framework("F", "r"));
      const AgentIndex a = s.addAgent(agent("a1", "cpus:8;mem:8192;disk:100;ports:[31000-32000]"));
      const Resources refused = s.adopt(Resources::parse(refusedText));
      const Resources candidate = s.adopt(Resources::parse(candidateText));
      s.addFilter(fw, a, refused, kTimeNever);
      EXPECT_EQ(s.isFiltered(fw, a, candidate), refused.contains(candidate))
          << refusedText << " refused, " << candidateText << " offered";
      std::uint64_t filtered = ~std::uint64_t{0};
      s.filteredFrameworks(a, candidate, std::span(&filtered, 1));
      EXPECT_EQ(((filtered >> fw) & 1U) != 0, refused.contains(candidate))
          << refusedText << " refused, " << candidateText << " offered";
    }
  }
}

// A filter group keeps its frameworks' bits inline for the first 512 slots
// and grows past them; every way of asking must agree with isFiltered, for
// slots on either side of that line, for a slot registered after the filters
// were made, and after frameworks leave the group.
TEST(AllocatorTest, FilterSetsAgreeAcrossFrameworkSlots) {
  ClusterState s;
  std::vector<FrameworkIndex> fws;
  for (int i = 0; i < 700; ++i)
    fws.push_back(s.addFramework(framework(fmt::format("F{}", i), "r")));
  const AgentIndex plain = s.addAgent(agent("plain", "cpus:8;mem:8192"));
  const AgentIndex ports = s.addAgent(agent("ports", "cpus:8;mem:8192;ports:[31000-31009]"));
  const std::vector<FrameworkIndex> declined = {fws[3],   fws[63],  fws[64],
                                                fws[511], fws[512], fws[699]};
  for (AgentIndex a : {plain, ports}) {
    for (FrameworkIndex fw : declined) s.addFilter(fw, a, s.agent(a).available, kTimeNever);
  }
  // A second group on the plain agent: a larger refused set covers it too.
  s.addFilter(fws[600], plain, s.adopt(Resources::parse("cpus:16;mem:16384")), kTimeNever);
  ASSERT_EQ(s.filterGroupCount(plain), 2U);
  const FrameworkIndex late = s.addFramework(framework("late", "r"));
  auto expectAgreement = [&](const char* when) {
    for (AgentIndex a : {plain, ports}) {
      const std::span<const std::uint64_t> kept = s.filteredFrameworksOfAvailable(a);
      const std::vector<std::uint64_t> words(kept.begin(), kept.end());
      ASSERT_EQ(words.size(), word_set::wordsFor(s.frameworkSlots())) << when;
      std::vector<std::uint64_t> set(words.size(), ~std::uint64_t{0});
      s.filteredFrameworks(a, s.agent(a).available, set);
      FrameworkSet eligible(s.frameworkSlots());
      eligible.set();
      FrameworkSet open;
      s.unfilteredFrameworks(a, s.agent(a).available, eligible, open);
      std::size_t filtered = 0;
      const Resources available = s.agent(a).available;  // a copy: see below
      for (FrameworkIndex fw = 0; fw < s.frameworkSlots(); ++fw) {
        const bool expected = s.isFiltered(fw, a, available);
        filtered += expected ? 1 : 0;
        EXPECT_EQ(((words[fw / 64] >> (fw % 64)) & 1U) != 0, expected) << when << ", slot " << fw;
        EXPECT_EQ(((set[fw / 64] >> (fw % 64)) & 1U) != 0, expected) << when << ", slot " << fw;
        EXPECT_EQ(open.test(fw), !expected) << when << ", slot " << fw;
      }
      std::size_t setCount = 0;
      for (std::uint64_t w : set) setCount += static_cast<std::size_t>(std::popcount(w));
      EXPECT_EQ(setCount, filtered) << when;
    }
  };
  for (FrameworkIndex fw : declined) EXPECT_TRUE(s.isFiltered(fw, plain, s.agent(plain).available));
  EXPECT_FALSE(s.isFiltered(late, plain, s.agent(plain).available));
  EXPECT_FALSE(s.isFiltered(fws[100], ports, s.agent(ports).available));
  expectAgreement("filtered");
  // The highest slots leave: the group's words shrink, the rest stay.
  s.clearFilters(fws[699]);
  s.clearFilters(fws[512]);
  EXPECT_FALSE(s.isFiltered(fws[699], plain, s.agent(plain).available));
  EXPECT_TRUE(s.isFiltered(fws[511], plain, s.agent(plain).available));
  expectAgreement("after two cleared");
  s.addFilter(late, plain, s.agent(plain).available, kTimeNever);
  EXPECT_TRUE(s.isFiltered(late, plain, s.agent(plain).available));
  expectAgreement("late framework filtered");
  for (FrameworkIndex fw : declined) s.clearFilters(fw);
  s.clearFilters(fws[600]);
  s.clearFilters(late);
  EXPECT_FALSE(s.hasFilters(plain));
  EXPECT_FALSE(s.hasFilters(ports));
  expectAgreement("all cleared");
}

// filteredFrameworksOfAvailable keeps its answer per agent and updates it as
// frameworks' filters change; whatever happens in between (resources taken
// and given back to the same amounts, filters made, outgrown, expired and
// cleared, frameworks coming past a word's end and leaving, agents replaced,
// an agent with ports beside plain ones), the answer must be isFiltered's for
// every framework on every agent, asked after any number of changes.
TEST(AllocatorTest, KeptFilteredAnswersFollowEveryChange) {
  ClusterState s;
  std::mt19937_64 rng(7);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  std::vector<FrameworkIndex> fws;
  int named = 0;
  auto addFramework = [&] {
    fws.push_back(s.addFramework(framework(fmt::format("F{}", named++), "r")));
  };
  for (int i = 0; i < 60; ++i) addFramework();
  const std::vector<std::string> machines = {"cpus:8;mem:8192", "cpus:3;mem:3072",
                                             "cpus:4;mem:4096", "cpus:8;mem:8192;ports:[1-9]"};
  std::vector<AgentIndex> agents;
  for (std::size_t m = 0; m < machines.size(); ++m) {
    agents.push_back(s.addAgent(agent(fmt::format("a{}", m), machines[m])));
  }
  struct Held {
    FrameworkIndex fw;
    AgentIndex agent;
    Resources resources;
  };
  std::vector<Held> held;
  const std::vector<Resources> shapes = {
      s.adopt(Resources::parse("cpus:1;mem:1024")), s.adopt(Resources::parse("cpus:2;mem:512")),
      s.adopt(Resources::parse("cpus:8;mem:8192")), s.adopt(Resources::parse("cpus:3;mem:4096")),
      // Groups with more than scalars, on agents with only scalars available.
      s.adopt(Resources::parse("cpus:8;mem:8192;ports:[1-9]")),
      s.adopt(Resources::parse("cpus:2;mem:2048;ports:[1-3]"))};
  std::int64_t now = 0;
  std::size_t checks = 0, filteredSeen = 0;
  for (int step = 0; step < 8000; ++step) {
    const AgentIndex a = agents[pick(agents.size())];
    const FrameworkIndex fw = fws[pick(fws.size())];
    switch (pick(10)) {
      case 0:
      case 1: {  // take some of the agent
        const Resources& r = shapes[pick(2)];
        if (s.agent(a).available.contains(r)) {
          s.allocate(fw, a, r);
          held.push_back({fw, a, r});
        }
        break;
      }
      case 2:
      case 3:  // give some back (often back to the amounts answered for)
        if (!held.empty()) {
          const std::size_t i = pick(held.size());
          s.recover(held[i].fw, held[i].agent, held[i].resources);
          held.erase(held.begin() + static_cast<std::ptrdiff_t>(i));
        }
        break;
      case 4:
      case 5:  // decline what is there, for good or for a while
        if (!s.agent(a).available.empty()) {
          s.addFilter(fw, a, s.agent(a).available,
                      pick(3) == 0 ? at(static_cast<double>(now + 5)) : kTimeNever);
        }
        break;
      case 6:  // decline another amount
        s.addFilter(fw, a, shapes[pick(shapes.size())],
                    pick(2) == 0 ? at(static_cast<double>(now + 3)) : kTimeNever);
        break;
      case 7:  // revive
        s.clearFilters(fw);
        break;
      case 8:  // time passes
        now += 2;
        s.expireFilters(at(static_cast<double>(now)));
        break;
      case 9:  // frameworks come and go; now and then an agent is replaced
        if (pick(4) == 0) {
          const std::size_t m = pick(agents.size());
          std::erase_if(held, [&](const Held& h) { return h.agent == agents[m]; });
          s.removeAgent(agents[m]);
          agents[m] = s.addAgent(agent(fmt::format("a{}", named++), machines[m]));
        } else if (pick(3) == 0 && fws.size() > 40) {
          const std::size_t i = pick(fws.size());
          std::erase_if(held, [&](const Held& h) { return h.fw == fws[i]; });
          s.removeFramework(fws[i]);
          fws.erase(fws.begin() + static_cast<std::ptrdiff_t>(i));
        } else {
          addFramework();
        }
        break;
    }
    // Asked after some steps only: changes pile up between two answers, as
    // between two rounds; isFiltered for the agent's own `available`, which
    // may use the kept answer, is asked in between too.
    for (AgentIndex agentSlot : agents) {
      const FrameworkIndex f = fws[pick(fws.size())];
      const Resources& available = s.agent(agentSlot).available;
      ASSERT_EQ(s.isFiltered(f, agentSlot, available),
                s.isFiltered(f, agentSlot, Resources(available)))
          << "step " << step << ", agent " << agentSlot << ", framework slot " << f;
    }
    if (pick(2) == 0) continue;
    for (AgentIndex agentSlot : agents) {
      const std::span<const std::uint64_t> words = s.filteredFrameworksOfAvailable(agentSlot);
      ASSERT_EQ(words.size(), word_set::wordsFor(s.frameworkSlots())) << "step " << step;
      // A copy: isFiltered answers for the agent's own `available` from the
      // kept answer too, and for anything else from the groups.
      const Resources available = s.agent(agentSlot).available;
      for (FrameworkIndex f = 0; f < s.frameworkSlots(); ++f) {
        const bool expected = s.isFiltered(f, agentSlot, available);
        ASSERT_EQ(word_set::test(words, f), expected)
            << "step " << step << ", agent " << agentSlot << ", framework slot " << f;
        ASSERT_EQ(s.isFiltered(f, agentSlot, s.agent(agentSlot).available), expected)
            << "step " << step << ", agent " << agentSlot << ", framework slot " << f;
        filteredSeen += expected ? 1 : 0;
        ++checks;
      }
    }
  }
  EXPECT_GT(s.frameworkSlots(), 128U);  // slots grew past two words' end
  EXPECT_GT(filteredSeen, checks / 100) << "too few filters to test anything";
  EXPECT_LT(filteredSeen, checks / 2) << "too many filters to test anything";

  // A group with more than scalars is tested against the agent's resources
  // of now, not the ones a kept answer was found for: the answer is dropped.
  ClusterState t;
  const FrameworkIndex f = t.addFramework(framework("F", "r"));
  const AgentIndex small = t.addAgent(agent("s", "cpus:3;mem:3072"));
  EXPECT_FALSE(word_set::test(t.filteredFrameworksOfAvailable(small), f));  // kept for all 3
  const Resources one = t.adopt(Resources::parse("cpus:1;mem:1024"));
  t.allocate(f, small, one);
  t.addFilter(f, small, t.adopt(Resources::parse("cpus:2;mem:2048;ports:[1-3]")), kTimeNever);
  t.recover(f, small, one);
  EXPECT_FALSE(t.isFiltered(f, small, Resources(t.agent(small).available)));
  EXPECT_FALSE(word_set::test(t.filteredFrameworksOfAvailable(small), f));
}

// Demand that asks for nothing reaches policies as the token (an empty grant
// is no offer): at once when the cluster has something, else when the first
// agent arrives; the total and the rest of the demand are left as published.
TEST(AllocatorTest, DemandAskingForNothingCarriesTheToken) {
  ClusterState s;
  const FrameworkIndex f = s.addFramework(framework("F", "r"));
  s.setDemand(f, {testing::pending("", 3, 1), testing::pending("cpus:1;mem:10", 2, 2)});
  const FrameworkState& fs = s.framework(f);
  EXPECT_TRUE(fs.demand[0].asksNothing);
  EXPECT_TRUE(fs.demand[0].shape.empty());  // no agent: nothing to make a token of
  EXPECT_FALSE(fs.demand[1].asksNothing);
  EXPECT_DOUBLE_EQ(fs.demandTotal[0], 2.0);

  s.addAgent(agent("a1", "cpus:8;mem:8192"));
  s.addAgent(agent("a2", "cpus:4;mem:4096"));
  ASSERT_FALSE(fs.demand[0].shape.empty());
  // Made when a1 arrived: a millionth of its 8 cpus, and nothing else.
  EXPECT_DOUBLE_EQ(fs.demand[0].shape.totalScalars()[0], 8e-6);
  EXPECT_DOUBLE_EQ(fs.demand[0].shape.totalScalars().sum(), 8e-6);
  EXPECT_DOUBLE_EQ(fs.demandTotal[0], 2.0);  // one token grant starts them all
  EXPECT_EQ(fs.demand[1].shape, Resources::parse("cpus:1;mem:10"));

  // Published again with a cluster: the token of the cluster now.
  s.setDemand(f, {testing::pending("", 1, 1)});
  EXPECT_TRUE(fs.demand[0].asksNothing);
  EXPECT_DOUBLE_EQ(fs.demand[0].shape.totalScalars()[0], 1e-6 * 12 / 2);
  EXPECT_DOUBLE_EQ(fs.demandTotal[1], 0.0);
}

// A framework that declines ever different amounts on an agent keeps only
// the filters that add something (those not inside a later one that lives as
// long): checks answer as if every filter were kept, and the groups a check
// scans stay few. Random declines against a list of every filter.
TEST(AllocatorTest, FiltersInsideLaterOnesAreDroppedWithoutChangingAnswers) {
  ClusterState s;
  const FrameworkIndex f = s.addFramework(framework("F", "r"));
  const FrameworkIndex g = s.addFramework(framework("G", "r"));
  const AgentIndex a = s.addAgent(agent("a1", "cpus:8;mem:8192"));
  struct Kept {
    FrameworkIndex fw;
    Resources refused;
    TimePoint until;
  };
  std::vector<Kept> all;
  std::vector<Resources> shapes;
  for (int cpus = 0; cpus <= 4; ++cpus) {
    for (int mem = 0; mem <= 4; ++mem) {
      shapes.push_back(s.adopt(Resources::parse(fmt::format("cpus:{};mem:{}", cpus, mem * 256))));
    }
  }
  std::mt19937_64 rng(7);
  std::size_t covered = 0, checks = 0;
  for (int step = 0; step < 3000; ++step) {
    const double now = step * 0.01;
    s.expireFilters(at(static_cast<double>(now)));
    std::erase_if(all, [&](const Kept& k) { return k.until <= at(now); });
    if (step % 40 == 0) {  // a revive: its filters go, and the other's stay
      const FrameworkIndex reviving = step % 80 == 0 ? f : g;
      s.clearFilters(reviving);
      std::erase_if(all, [&](const Kept& k) { return k.fw == reviving; });
    }
    const FrameworkIndex fw = rng() % 4 == 0 ? g : f;
    const Resources& refused = shapes[1 + rng() % (shapes.size() - 1)];  // not the empty one
    const TimePoint until =
        rng() % 8 == 0 ? kTimeNever : at(now + 0.01 * static_cast<double>(1 + rng() % 30));
    s.addFilter(fw, a, refused, until);
    all.push_back({fw, refused, until});
    for (const Resources& candidate : shapes) {
      for (FrameworkIndex who : {f, g}) {
        const bool wanted = std::any_of(all.begin(), all.end(), [&](const Kept& k) {
          return k.fw == who && k.until > at(now) && k.refused.contains(candidate);
        });
        ASSERT_EQ(s.isFiltered(who, a, candidate), wanted)
            << "step " << step << ", framework " << who << ", " << candidate;
        covered += wanted ? 1 : 0;
        ++checks;
      }
    }
  }
  // Both answers came up often: the walk neither filtered everything nor nothing.
  EXPECT_GT(covered, checks / 5);
  EXPECT_LT(covered, checks * 4 / 5);
  // Declines of ever more memory, then ever less, held for good: one group
  // (each new one holds the last, then lies inside it), not 199.
  ClusterState t;
  const FrameworkIndex h = t.addFramework(framework("H", "r"));
  const AgentIndex b = t.addAgent(agent("b", "cpus:8;mem:8192"));
  for (int i = 1; i < 200; ++i) {
    const int mem = i <= 100 ? i : 200 - i;
    t.addFilter(h, b, t.adopt(Resources::parse(fmt::format("cpus:1;mem:{}", mem))), kTimeNever);
  }
  EXPECT_EQ(t.filterGroupCount(b), 1U);
  EXPECT_TRUE(t.isFiltered(h, b, t.adopt(Resources::parse("cpus:1;mem:100"))));
  EXPECT_FALSE(t.isFiltered(h, b, t.adopt(Resources::parse("cpus:1;mem:101"))));
}

// drf with frameworks F and G of one role, on agents a0, a1, ... of one cpu.
struct TwoFrameworks {
  explicit TwoFrameworks(int agents) {
    allocator->addFramework(framework("F", "r"));
    allocator->addFramework(framework("G", "r"));
    f = *allocator->state().findFramework(FrameworkId("F"));
    g = *allocator->state().findFramework(FrameworkId("G"));
    for (int i = 0; i < agents; ++i) {
      allocator->addAgent(agent("a" + std::to_string(i), "cpus:1;mem:1024"));
    }
  }
  std::unique_ptr<Allocator> allocator = makeAllocator("drf");
  FrameworkIndex f = 0;
  FrameworkIndex g = 0;
};

// Revive clears exactly the reviving framework's filters wherever they are
// (the state finds them through a per-framework list of agents): on every
// agent it declined, also after some expired, after an agent slot was reused
// and after hundreds of expired filters made the list compact itself; other
// frameworks' filters stay.
// Frameworks that decline equal resources on an agent share one filter
// group: equal as == says (containment both ways, with fitsIn's tolerance),
// over tables of any age; other resources get groups of their own.
TEST(AllocatorTest, EqualRefusedSetsShareOneFilterGroup) {
  ClusterState s;
  const AgentIndex a = s.addAgent(agent("a", "cpus:8;mem:8192"));
  std::vector<FrameworkIndex> fws;
  for (int i = 0; i < 6; ++i) fws.push_back(s.addFramework(framework(fmt::format("f{}", i), "r")));
  s.addFilter(fws[0], a, s.adopt(Resources::parse("cpus:1;mem:100")), kTimeNever);
  s.addFilter(fws[1], a, s.adopt(Resources::parse("cpus:1;mem:100")), kTimeNever);
  EXPECT_EQ(s.filterGroupCount(a), 1U);
  // Within the tolerance of ==: the same group.
  s.addFilter(fws[2], a, s.adopt(Resources::parse("cpus:1.0000000001;mem:100")), kTimeNever);
  EXPECT_EQ(s.filterGroupCount(a), 1U);
  // A table grown since (a new name) holds the same resources.
  s.adopt(Resources::parse("cpus:1;fpgas:2"));
  s.addFilter(fws[3], a, s.adopt(Resources::parse("cpus:1;mem:100")), kTimeNever);
  EXPECT_EQ(s.filterGroupCount(a), 1U);
  s.addFilter(fws[4], a, s.adopt(Resources::parse("cpus:2;mem:100")), kTimeNever);
  EXPECT_EQ(s.filterGroupCount(a), 2U);
  s.addFilter(fws[5], a, s.adopt(Resources::parse("cpus:1;mem:100;ports:[1-2]")), kTimeNever);
  EXPECT_EQ(s.filterGroupCount(a), 3U);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_TRUE(s.isFiltered(fws[i], a, s.adopt(Resources::parse("cpus:1;mem:100")))) << i;
    EXPECT_FALSE(s.isFiltered(fws[i], a, s.adopt(Resources::parse("cpus:1.5;mem:100")))) << i;
  }
}

TEST(AllocatorTest, ReviveClearsOnlyTheFrameworksFilters) {
  TwoFrameworks two(4);
  auto& [a, f, g] = two;
  const ClusterState& s = a->state();
  const Filters forever{std::chrono::hours(1000)};
  // Only `fw` is offered anything; it declines every agent, a3 for 1 s only.
  // (The other is deactivated, not suppressed: suppress drops its filters.)
  auto declineAll = [&](const char* fw, const char* other, double now) {
    a->setFrameworkActive(FrameworkId(other), false);
    a->setFrameworkActive(FrameworkId(fw), true);
    a->revive(FrameworkId(fw));
    const auto offers = a->allocate(at(now));
    ASSERT_EQ(offers.size(), 4u) << fw;
    for (const Allocation& o : offers) {
      const bool brief = o.agent.str() == "a3";
      a->recoverResources(o.framework, o.agent, o.resources,
                          brief ? Filters{std::chrono::seconds(1)} : forever, at(now));
    }
  };
  declineAll("G", "F", 0);
  declineAll("F", "G", 0);
  // F's filter on a3 comes and goes 300 times: more list entries than agents.
  for (int i = 1; i <= 300; ++i) {
    const auto offers = a->allocate(at(i));
    ASSERT_EQ(offers.size(), 1u) << i;
    a->recoverResources(offers[0].framework, offers[0].agent, offers[0].resources,
                        Filters{std::chrono::seconds(1)}, at(i));
  }
  // a0 leaves; a newcomer reuses its slot, with no filters.
  const AgentIndex a0 = *s.findAgent(AgentId("a0"));
  a->removeAgent(AgentId("a0"));
  a->addAgent(agent("a4", "cpus:1;mem:1024"));
  ASSERT_EQ(*s.findAgent(AgentId("a4")), a0);
  EXPECT_FALSE(s.hasFilters(a0));
  for (const char* id : {"a1", "a2"}) {
    const AgentIndex i = *s.findAgent(AgentId(id));
    EXPECT_TRUE(s.isFiltered(f, i, s.agent(i).available)) << id;
  }
  a->revive(FrameworkId("F"));
  for (const char* id : {"a1", "a2", "a3", "a4"}) {
    const AgentIndex i = *s.findAgent(AgentId(id));
    EXPECT_FALSE(s.isFiltered(f, i, s.agent(i).available)) << id;
  }
  for (const char* id : {"a1", "a2"}) {
    const AgentIndex i = *s.findAgent(AgentId(id));
    EXPECT_TRUE(s.isFiltered(g, i, s.agent(i).available)) << id;
  }
  // Revived, F is offered all four agents again.
  EXPECT_EQ(a->allocate(at(400)).size(), 4u);
}

// A suppressed framework's decline filters go at once: only a revive ends
// a suppression, and it would clear them, so they could never apply again.
// The others' stay, and the revived framework is offered everything.
TEST(AllocatorTest, SuppressDropsTheFrameworksFilters) {
  TwoFrameworks two(3);
  auto& [a, f, g] = two;
  const ClusterState& s = a->state();
  const Filters forever{std::chrono::hours(1000)};
  // Both decline every agent they are offered until each agent is filtered
  // for both (each round offers an agent to one of them).
  for (int round = 0; round < 4; ++round) {
    for (const Allocation& o : a->allocate(at(round))) {
      a->recoverResources(o.framework, o.agent, o.resources, forever, at(round));
    }
  }
  for (int i = 0; i < 3; ++i) {
    const AgentIndex agent = *s.findAgent(AgentId("a" + std::to_string(i)));
    ASSERT_TRUE(s.isFiltered(f, agent, s.agent(agent).available)) << i;
    ASSERT_TRUE(s.isFiltered(g, agent, s.agent(agent).available)) << i;
  }
  a->suppress(FrameworkId("F"));
  for (int i = 0; i < 3; ++i) {
    const AgentIndex agent = *s.findAgent(AgentId("a" + std::to_string(i)));
    EXPECT_FALSE(s.isFiltered(f, agent, s.agent(agent).available)) << i;
    EXPECT_TRUE(s.isFiltered(g, agent, s.agent(agent).available)) << i;
    EXPECT_EQ(s.filterGroupCount(agent), 1U) << i;  // G's alone
  }
  EXPECT_TRUE(a->allocate(at(10)).empty());  // F suppressed, G filtered
  a->revive(FrameworkId("F"));
  const auto offers = a->allocate(at(11));
  EXPECT_EQ(offers.size(), 3U);
  for (const Allocation& o : offers) EXPECT_EQ(o.framework, FrameworkId("F"));
}

TEST(RegistryTest, FindsPoliciesByName) {
  std::vector<std::string> names;
  for (const PolicyInfo& info : builtinPolicies()) names.push_back(info.name);
  EXPECT_THAT(names, ::testing::IsSupersetOf({"drf", "fifo", "random"}));
  for (const std::string& name : names) EXPECT_EQ(makeAllocator(name)->name(), name);
  try {
    makeAllocator("nope");
    FAIL();
  } catch (const NotFound& e) {
    EXPECT_THAT(e.what(), HasSubstr("drf"));
  }
  EXPECT_THROW(makeAllocator("drf", Params::parse("sede=1")), InvalidArgument);
  EXPECT_THROW(makeAllocator("drf", Params::parse("seed=abc")), InvalidArgument);
  EXPECT_THROW(Params::parse("seed"), ParseError);
}

// A negative seed is refused by every policy that takes one, as `--seed`
// refuses it, instead of wrapping to a huge unsigned one.
TEST(RegistryTest, SeedsAreWholeNumbers) {
  std::size_t seeded = 0;
  for (const PolicyInfo& info : builtinPolicies()) {
    const bool hasSeed = std::any_of(info.params.begin(), info.params.end(),
                                     [](const ParamSpec& p) { return p.name == "seed"; });
    if (!hasSeed) continue;
    ++seeded;
    EXPECT_EQ(makeAllocator(info.name, Params::parse("seed=9223372036854775807"))->name(),
              info.name);
    try {
      makeAllocator(info.name, Params::parse("seed=-5"));
      ADD_FAILURE() << info.name << " took seed=-5";
    } catch (const InvalidArgument& e) {
      EXPECT_THAT(e.what(), HasSubstr("parameter seed: '-5' is not a whole number from 0 to "
                                      "9223372036854775807"))
          << info.name;
    }
    for (const char* bad : {"9223372036854775808", "1.5", "x"}) {
      try {
        makeAllocator(info.name, Params::parse(std::string("seed=") + bad));
        ADD_FAILURE() << info.name << " took seed=" << bad;
      } catch (const InvalidArgument& e) {
        EXPECT_THAT(e.what(), HasSubstr(fmt::format("parameter seed: '{}' is not a whole number "
                                                    "from 0 to 9223372036854775807",
                                                    bad)))
            << info.name;
      }
    }
  }
  EXPECT_GE(seeded, 5U);  // drf, random, sparrow, flow and the placing policies
}

// Integer parameters say whether the text is no integer or one out of range.
TEST(RegistryTest, IntegerParametersNameTheirRange) {
  const Params p = Params::parse("a=-9223372036854775808,b=9223372036854775808,c=12x");
  EXPECT_EQ(p.getInt("a", 0), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(p.getInt("missing", 7), 7);
  try {
    p.getInt("b", 0);
    ADD_FAILURE() << "took b";
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(),
                 "parameter b: '9223372036854775808' is out of range "
                 "(-9223372036854775808 to 9223372036854775807)");
  }
  try {
    p.getInt("c", 0);
    ADD_FAILURE() << "took c";
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "parameter c: '12x' is not an integer");
  }
}

// Word sets at the word edges: bits 0, 63, 64 and 129 in three words.
TEST(WordSetTest, SetsTestsAndVisitsAcrossWords) {
  std::vector<std::uint64_t> words(word_set::wordsFor(130), 0);
  ASSERT_EQ(words.size(), 3U);
  EXPECT_EQ(word_set::wordsFor(128), 2U);
  for (std::size_t i : {0U, 63U, 64U, 129U}) word_set::set(words, i);
  EXPECT_EQ(words[0], 0x8000000000000001ULL);
  EXPECT_EQ(words[1], 1U);
  EXPECT_EQ(words[2], 2U);
  EXPECT_TRUE(word_set::test(words, 63));
  EXPECT_FALSE(word_set::test(words, 62));
  EXPECT_FALSE(word_set::test(words, 192));  // past the last word
  word_set::reset(words, 63);
  word_set::reset(words, 500);  // past the last word: nothing
  std::vector<std::size_t> seen;
  word_set::forEach(words, [&](std::size_t i) { seen.push_back(i); });
  EXPECT_EQ(seen, (std::vector<std::size_t>{0, 64, 129}));
}

}  // namespace
}  // namespace allot
