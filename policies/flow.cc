#include "flow.h"

#include <fmt/format.h>

#include <algorithm>
// GCC's flow analysis sees Boost's edge iterators (a boost::optional inside)
// as maybe uninitialized where the min-cost flow algorithms inline them; a
// known false positive of GCC 12 on Boost.Graph, silenced for this file only.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/cycle_canceling.hpp>
#include <boost/graph/edmonds_karp_max_flow.hpp>
#include <boost/graph/find_flow_cost.hpp>
#include <boost/graph/successive_shortest_path_nonnegative_weights.hpp>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <tuple>

#include "allot/core/error.h"
#include "src/shuffle.h"

namespace allot {

namespace {

// Node numbers of the fixed part of the network.
constexpr std::int32_t kSource = 0;
constexpr std::int32_t kSink = 1;
constexpr std::int32_t kAggregator = 2;   // X
constexpr std::int32_t kUnscheduled = 3;  // U
constexpr std::int32_t kFirstMachine = 4;

// Placement costs run 0..kCostScale; integers, as Quincy's, so that cycle
// canceling's negative-cycle test is exact.
constexpr double kCostScale = 1000;
// Keeps waiting costs (and their sums over a round) far from overflow.
constexpr double kMaxCost = 1e12;

using Traits = boost::adjacency_list_traits<boost::vecS, boost::vecS, boost::directedS>;
struct ArcProps {
  std::int64_t capacity = 0;
  std::int64_t residual = 0;
  std::int64_t cost = 0;
  Traits::edge_descriptor reverse;
};
using BoostGraph =
    boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, boost::no_property, ArcProps>;
using Edge = Traits::edge_descriptor;

}  // namespace

// The Boost graph of a network, kept between rounds: when the next network
// has the same arcs (endpoints, in order), only capacities and costs are
// rewritten.
class FlowGraph {
 public:
  // Returns true iff the graph was updated in place.
  bool load(const FlowNetwork& net, bool reuse) {
    bool same = reuse && net.nodes == nodes_ && net.arcs.size() == forward_.size();
    for (std::size_t i = 0; same && i < net.arcs.size(); ++i) {
      same = endpoints_[i] == std::pair{net.arcs[i].from, net.arcs[i].to};
    }
    if (same) {
      for (std::size_t i = 0; i < net.arcs.size(); ++i) {
        ArcProps& a = g_[forward_[i]];
        a.capacity = net.arcs[i].capacity;
        a.cost = net.arcs[i].cost;
        g_[a.reverse].cost = -a.cost;
      }
      return true;
    }
    g_ = BoostGraph(static_cast<std::size_t>(net.nodes));
    nodes_ = net.nodes;
    forward_.clear();
    endpoints_.clear();
    forward_.reserve(net.arcs.size());
    endpoints_.reserve(net.arcs.size());
    for (const FlowNetwork::Arc& arc : net.arcs) {
      const auto from = static_cast<std::size_t>(arc.from);
      const auto to = static_cast<std::size_t>(arc.to);
      const Edge e = boost::add_edge(from, to, g_).first;
      const Edge r = boost::add_edge(to, from, g_).first;
      g_[e].capacity = arc.capacity;
      g_[e].cost = arc.cost;
      g_[e].reverse = r;
      g_[r].capacity = 0;
      g_[r].cost = -arc.cost;
      g_[r].reverse = e;
      forward_.push_back(e);
      endpoints_.emplace_back(arc.from, arc.to);
    }
    return false;
  }

  FlowSolution solve(std::int32_t sourceNode, std::int32_t sinkNode, FlowSolver solver) {
    const auto source = static_cast<std::size_t>(sourceNode);
    const auto sink = static_cast<std::size_t>(sinkNode);
    const auto n = static_cast<std::size_t>(boost::num_vertices(g_));
    auto capacity = boost::get(&ArcProps::capacity, g_);
    auto residual = boost::get(&ArcProps::residual, g_);
    auto weight = boost::get(&ArcProps::cost, g_);
    auto reverse = boost::get(&ArcProps::reverse, g_);
    auto index = boost::get(boost::vertex_index, g_);
    pred_.assign(n, Edge());
    distance_.assign(n, 0);
    auto pred = boost::make_iterator_property_map(pred_.begin(), index);
    auto distance = boost::make_iterator_property_map(distance_.begin(), index);
    FlowSolution out;
    if (solver == FlowSolver::kSuccessiveShortestPath) {
      potential_.assign(n, 0);
      boost::successive_shortest_path_nonnegative_weights(
          g_, source, sink, capacity, residual, weight, reverse, index, pred, distance,
          boost::make_iterator_property_map(potential_.begin(), index));
    } else {
      color_.assign(n, boost::default_color_type::white_color);
      boost::edmonds_karp_max_flow(g_, source, sink, capacity, residual, reverse,
                                   boost::make_iterator_property_map(color_.begin(), index), pred);
      boost::cycle_canceling(g_, weight, reverse, residual, pred, distance);
    }
    out.cost = boost::find_flow_cost(g_, capacity, residual, weight);
    out.arcs.reserve(forward_.size());
    for (const Edge& e : forward_) {
      const ArcProps& a = g_[e];
      out.arcs.push_back(a.capacity - a.residual);
      if (boost::source(e, g_) == source) out.flow += out.arcs.back();
    }
    return out;
  }

 private:
  BoostGraph g_;
  std::int32_t nodes_ = -1;
  std::vector<Edge> forward_;
  std::vector<std::pair<std::int32_t, std::int32_t>> endpoints_;
  std::vector<Edge> pred_;
  std::vector<std::int64_t> distance_;
  std::vector<std::int64_t> potential_;
  std::vector<boost::default_color_type> color_;
};

FlowSolution solveFlowNetwork(const FlowNetwork& network, FlowSolver solver) {
  FlowGraph graph;
  graph.load(network, false);
  return graph.solve(network.source, network.sink, solver);
}

PolicyInfo FlowAllocator::info() {
  PolicyInfo info{
      "flow",
      "Quincy/Firmament min-cost max-flow placement of published tasks (task -> machine, "
      "cluster aggregator or unscheduled; waiting raises the cost of staying unscheduled)",
      {{"solver", "ssp",
        "min-cost flow solver: ssp (successive shortest path) or cycle (cycle "
        "canceling; slow, for comparison)"},
       {"candidates", "8", "direct task -> machine arcs per task: the k best-fitting agents"},
       {"fit", "pack", "placement cost: pack (least normalized leftover first) or spread (most)"},
       {"aggregator_cost", "100",
        "cost of the cluster aggregator route beyond the task's worst "
        "direct arc"},
       {"unscheduled_cost", "2500",
        "cost of leaving an instance unscheduled before it waited "
        "(above every placement cost: place whatever fits)"},
       {"wait_cost", "1", "added to the unscheduled cost per second waited"},
       {"incremental", "true",
        "keep agent classes, candidate lists and the Boost graph between "
        "rounds where nothing changed"},
       {"window", "1000",
        "most pending instances in one round's network, longest waiting first "
        "(0: every published one)"},
       {"seed", "0", "order among equally good agents"}},
      [](const Params& p) { return std::make_unique<FlowAllocator>(p); }};
  // Quincy and Firmament put every runnable task in the graph; a window of
  // 1,000 instances bounds a round's solve (successive shortest path runs at
  // least one Dijkstra per task record) and still exceeds what one round of
  // a busy cluster can start. Tasks past it join as the window moves.
  info.demand = 1000;
  return info;
}

FlowAllocator::FlowAllocator(const Params& params)
    : Allocator(parseAllocatorOptions(params)), graph_(std::make_unique<FlowGraph>()) {
  const std::string solver = params.getString("solver", "ssp");
  if (solver == "ssp") {
    solver_ = FlowSolver::kSuccessiveShortestPath;
  } else if (solver == "cycle") {
    solver_ = FlowSolver::kCycleCanceling;
  } else {
    throw InvalidArgument(fmt::format("parameter solver: '{}' is not ssp or cycle", solver));
  }
  const std::int64_t k = params.getInt("candidates", 8);
  if (k < 1 || k > 1'000'000) {
    throw InvalidArgument(fmt::format("parameter candidates: '{}' is not in 1..1000000", k));
  }
  k_ = static_cast<std::uint32_t>(k);
  const std::string fit = params.getString("fit", "pack");
  if (fit != "pack" && fit != "spread") {
    throw InvalidArgument(fmt::format("parameter fit: '{}' is not pack or spread", fit));
  }
  spread_ = fit == "spread";
  auto cost = [&](const char* name, std::int64_t fallback) {
    const std::int64_t v = params.getInt(name, fallback);
    if (v < 0 || static_cast<double>(v) > kMaxCost) {
      throw InvalidArgument(
          fmt::format("parameter {}: '{}' is not an integer from 0 to 1000000000000", name, v));
    }
    return v;
  };
  aggregatorCost_ = cost("aggregator_cost", 100);
  unscheduledCost_ = cost("unscheduled_cost", 2500);
  waitCost_ = params.getDouble("wait_cost", 1);
  if (!(waitCost_ >= 0) || !std::isfinite(waitCost_)) {
    throw InvalidArgument(fmt::format("parameter wait_cost: '{}' is not a finite number >= 0",
                                      params.getString("wait_cost", "")));
  }
  incremental_ = params.getBool("incremental", true);
  const std::int64_t window = params.getInt("window", 1000);
  if (window < 0) {
    throw InvalidArgument(fmt::format("parameter window: '{}' is negative", window));
  }
  window_ = static_cast<std::uint64_t>(window);
  seed_ = params.getSeed("seed", 0);
}

FlowAllocator::~FlowAllocator() = default;

bool FlowAllocator::ScalarsLess::operator()(const Scalars& a, const Scalars& b) const {
  return std::lexicographical_compare(a.data(), a.data() + kMaxScalarDims, b.data(),
                                      b.data() + kMaxScalarDims);
}

std::int64_t FlowAllocator::fitCost(const Scalars& shape, const AgentClass& cls) const {
  double sum = 0;
  int dims = 0;
  for (int d = 0; d < kMaxScalarDims; ++d) {
    if (cls.capacity[d] <= 0) continue;
    sum += (cls.free[d] - shape[d]) / cls.capacity[d];
    ++dims;
  }
  const double left = std::clamp(dims == 0 ? 0.0 : sum / dims, 0.0, 1.0);
  return std::llround(kCostScale * (spread_ ? 1 - left : left));
}

void FlowAllocator::decide(TimePoint now) {
  stats_ = {};
  network_ = {};
  refreshAgents();
  collectRecords(now);
  if (!records_.empty() || !nothing_.empty()) {
    spreadOn_.clear();
    for (const auto& [owner, entries] : spreadRunning_) {
      for (const auto& entry : entries) spreadOn_.insert(owner.first, entry.first);
    }
  }
  if (!records_.empty()) {
    buildNetwork();
    stats_.graphReused = graph_->load(network_, incremental_);
    const FlowSolution solution = graph_->solve(network_.source, network_.sink, solver_);
    stats_.cost = solution.cost;
    place(solution);
    askForNextRound(solution, now);
  }
  if (!nothing_.empty()) grantTokens();
  grantWholeAgentsWithoutDemand();
}

// Agents change far less often than rounds run in a quiet cluster; their
// classes (and every shape's candidates) are rebuilt only when one did.
void FlowAllocator::refreshAgents() {
  const ClusterState& s = state();
  const std::size_t n = s.agentSlots();
  if (s.agentSetVersion() != seenAgentSet_ || rank_.size() != n) {
    seenAgentSet_ = s.agentSetVersion();
    rank_.resize(n);
    std::iota(rank_.begin(), rank_.end(), 0u);
    std::mt19937_64 rng(seed_);
    shuffleSeeded(rank_, rng);
    seenVersion_.assign(n, ~std::uint64_t{0});
    classesChanged_ = true;
  }
  for (AgentIndex a = 0; a < n; ++a) {
    if (s.agentVersion(a) == seenVersion_[a]) continue;
    seenVersion_[a] = s.agentVersion(a);
    classesChanged_ = true;
  }
  stats_.classesReused = incremental_ && !classesChanged_;
  if (stats_.classesReused) {
    stats_.classes = static_cast<std::uint32_t>(classes_.size());
    return;
  }
  classesChanged_ = false;
  ++epoch_;
  shapes_.clear();
  sortedAgents_.clear();
  classOf_.assign(n, ~std::uint32_t{0});
  std::vector<Scalars> capacity(n, Scalars::Zero());
  for (AgentIndex a = 0; a < n; ++a) {
    const AgentState& agent = s.agent(a);
    if (!agent.alive || !agent.active || !allocatable(s.availableUnreserved(a))) continue;
    capacity[a] = agent.info.resources.totalScalars();
    sortedAgents_.push_back(a);
  }
  const ScalarsLess less;
  std::sort(sortedAgents_.begin(), sortedAgents_.end(), [&](AgentIndex a, AgentIndex b) {
    if (capacity[a] != capacity[b]) return less(capacity[a], capacity[b]);
    const Scalars& fa = s.availableUnreserved(a);
    const Scalars& fb = s.availableUnreserved(b);
    if (fa != fb) return less(fa, fb);
    return rank_[a] < rank_[b];
  });
  classes_.clear();
  for (std::uint32_t i = 0; i < sortedAgents_.size(); ++i) {
    const AgentIndex a = sortedAgents_[i];
    if (classes_.empty() || classes_.back().capacity != capacity[a] ||
        classes_.back().free != s.availableUnreserved(a)) {
      AgentClass c;
      c.capacity = capacity[a];
      c.free = s.availableUnreserved(a);
      c.first = i;
      classes_.push_back(c);
      classes_.back().loadCost = fitCost(Scalars::Zero(), classes_.back());
    }
    ++classes_.back().count;
    classOf_[a] = static_cast<std::uint32_t>(classes_.size() - 1);
  }
  classesByLoad_.resize(classes_.size());
  std::iota(classesByLoad_.begin(), classesByLoad_.end(), 0u);
  std::stable_sort(classesByLoad_.begin(), classesByLoad_.end(),
                   [&](std::uint32_t a, std::uint32_t b) {
                     return classes_[a].loadCost < classes_[b].loadCost;
                   });
  byLoad_.clear();
  for (std::uint32_t c : classesByLoad_) {
    for (std::uint32_t i = 0; i < classes_[c].count; ++i) {
      byLoad_.push_back(sortedAgents_[classes_[c].first + i]);
    }
  }
  stats_.classes = static_cast<std::uint32_t>(classes_.size());
}

// The k best agents for `shape`: one pass over the classes (not the agents)
// keeping the k best classes, then agents of those in order.
const FlowAllocator::ShapeInfo& FlowAllocator::shapeInfo(const Scalars& shape) {
  ShapeInfo& info = shapes_[shape];
  if (info.epoch == epoch_) return info;
  info.epoch = epoch_;
  info.candidates.clear();
  using Entry = std::pair<std::int64_t, std::uint32_t>;  // (cost, class): a max-heap
  std::vector<Entry> best;
  best.reserve(k_ + 1);
  for (std::uint32_t c = 0; c < classes_.size(); ++c) {
    if (!fitsIn(shape, classes_[c].free)) continue;
    const Entry e{fitCost(shape, classes_[c]), c};
    if (best.size() == k_ && !(e < best.front())) continue;
    best.push_back(e);
    std::push_heap(best.begin(), best.end());
    if (best.size() > k_) {
      std::pop_heap(best.begin(), best.end());
      best.pop_back();
    }
  }
  std::sort_heap(best.begin(), best.end());
  for (const auto& [cost, c] : best) {
    const AgentClass& cls = classes_[c];
    for (std::uint32_t i = 0; i < cls.count && info.candidates.size() < k_; ++i) {
      info.candidates.push_back({sortedAgents_[cls.first + i], c, cost});
    }
  }
  return info;
}

// Quincy's machines have slots of one task each; here a machine's slots are
// how many instances of the round's mean pending shape (weighted by count)
// fit in its free resources, and at least one when any pending shape fits.
// Mixed shapes can make that more than fits in sum (the placement checks),
// or less (room stays for the next round).
std::uint32_t FlowAllocator::slots(std::uint32_t cls) const {
  const auto cap = static_cast<std::uint32_t>(std::min<std::uint64_t>(instances_, 0xffffffffu));
  const Scalars& free = classes_[cls].free;
  const std::uint32_t n = fitCount(meanShape_, free, cap);
  if (n > 0) return n;
  for (const Scalars& shape : shapeList_) {
    if (fitsIn(shape, free)) return 1;
  }
  return 0;
}

void FlowAllocator::collectRecords(TimePoint now) {
  const ClusterState& s = state();
  records_.clear();
  nothing_.clear();
  gangs_.clear();
  shapeList_.clear();
  instances_ = 0;
  if (classes_.empty()) return;
  std::vector<FrameworkIndex> order;
  for (FrameworkIndex fw = 0; fw < s.frameworkSlots(); ++fw) {
    const FrameworkState& f = s.framework(fw);
    if (f.alive && f.active && !f.suppressed && !f.demand.empty()) order.push_back(fw);
  }
  std::sort(order.begin(), order.end(), [&](FrameworkIndex a, FrameworkIndex b) {
    return s.framework(a).registration < s.framework(b).registration;
  });
  Scalars freeTotal = Scalars::Zero();
  for (const AgentClass& c : classes_) freeTotal += c.free * static_cast<double>(c.count);

  // Gang totals first: a gang whose whole does not fit in the free total
  // cannot start this round, and would only take room from others.
  std::map<std::pair<FrameworkIndex, std::uint64_t>, std::pair<Scalars, bool>> gangs;
  for (FrameworkIndex fw : order) {
    for (const PendingTask& t : s.framework(fw).demand) {
      if (!t.gang) continue;
      auto it = gangs.try_emplace({fw, t.key}, Scalars::Zero(), true).first;
      if (!t.asksNothing) it->second.first += t.shape.totalScalars() * static_cast<double>(t.count);
    }
  }
  std::map<std::pair<FrameworkIndex, std::uint64_t>, std::uint32_t> gangIndex;
  for (auto& [key, value] : gangs) {
    value.second = fitsIn(value.first, freeTotal);
    if (value.second) {
      gangIndex[key] = static_cast<std::uint32_t>(gangs_.size());
      gangs_.push_back(key);
    }
  }

  std::vector<std::uint8_t> gangOk(gangs_.size(), 1);
  for (FrameworkIndex fw : order) {
    for (const PendingTask& t : s.framework(fw).demand) {
      Record r;
      r.fw = fw;
      r.task = &t;
      r.shape = t.shape.totalScalars();
      if (t.asksNothing) {
        // Asks for nothing: no node, a token after the placements (see the
        // class comment). A part of a gang that asks for something starts
        // with that gang's grants, which carry the key.
        if (t.gang && !gangs.at({fw, t.key}).first.isZero()) continue;
        r.spread = t.spread;
        nothing_.push_back(r);
        continue;
      }
      if (t.gang) {
        auto it = gangIndex.find({fw, t.key});
        if (it == gangIndex.end()) continue;
        r.gang = it->second;
      }
      r.spread = t.spread;
      r.info = &shapeInfo(r.shape);
      if (r.info->candidates.empty()) {
        // Fits nowhere now: a gang with such a part cannot start either.
        if (r.gang != ~std::uint32_t{0}) gangOk[r.gang] = 0;
        continue;
      }
      const double waited = std::max(0.0, toSeconds(now - t.submitted));
      r.unscheduledCost = std::llround(
          std::min(kMaxCost, static_cast<double>(unscheduledCost_) + waitCost_ * waited));
      records_.push_back(r);
    }
  }
  std::erase_if(records_,
                [&](const Record& r) { return r.gang != ~std::uint32_t{0} && !gangOk[r.gang]; });
  windowCut_ = false;
  // A round's solve grows with the records in the network (successive
  // shortest path runs one Dijkstra per augmenting path), and the host's
  // demand window is per framework: keep the longest waiting instances
  // across frameworks, up to `window`, gangs whole.
  if (window_ > 0) {
    std::vector<std::uint32_t> byWait(records_.size());
    std::iota(byWait.begin(), byWait.end(), 0u);
    std::stable_sort(byWait.begin(), byWait.end(), [&](std::uint32_t a, std::uint32_t b) {
      return records_[a].task->submitted < records_[b].task->submitted;
    });
    std::vector<std::uint8_t> keep(records_.size(), 0);
    std::vector<std::int8_t> gangIn(gangs_.size(), -1);
    std::uint64_t taken = 0;
    for (std::uint32_t i : byWait) {
      const Record& r = records_[i];
      if (r.gang != ~std::uint32_t{0}) {
        if (gangIn[r.gang] < 0) gangIn[r.gang] = taken < window_ ? 1 : 0;
        if (gangIn[r.gang] == 0) continue;
      } else if (taken >= window_) {
        continue;
      }
      keep[i] = 1;
      taken += r.task->count;
    }
    std::size_t out = 0;
    for (std::size_t i = 0; i < records_.size(); ++i) {
      if (keep[i] != 0) records_[out++] = records_[i];
    }
    windowCut_ = out < records_.size();
    records_.resize(out);
  }
  meanShape_.setZero();
  minShape_.setConstant(std::numeric_limits<double>::infinity());
  for (const Record& r : records_) {
    instances_ += r.task->count;
    shapeList_.push_back(r.shape);
    meanShape_ += r.shape * static_cast<double>(r.task->count);
    minShape_ = minShape_.cwiseMin(r.shape);
  }
  if (instances_ > 0) meanShape_ /= static_cast<double>(instances_);
  std::sort(shapeList_.begin(), shapeList_.end(), ScalarsLess{});
  shapeList_.erase(std::unique(shapeList_.begin(), shapeList_.end()), shapeList_.end());
}

void FlowAllocator::buildNetwork() {
  const ClusterState& s = state();
  // X's machines: the cheapest (by load cost) prefix of agents whose slots
  // cover every instance. Any optimum that routes through X to an agent
  // outside it can move that unit to one inside with room, at no higher cost.
  xMachines_.clear();
  std::vector<std::pair<AgentIndex, std::uint32_t>> xAgents;  // (agent, slots)
  std::uint64_t covered = 0;
  for (std::uint32_t c : classesByLoad_) {
    if (covered >= instances_) break;
    const std::uint32_t n = slots(c);
    if (n == 0) continue;
    const AgentClass& cls = classes_[c];
    for (std::uint32_t i = 0; i < cls.count && covered < instances_; ++i) {
      xAgents.emplace_back(sortedAgents_[cls.first + i], n);
      covered += n;
    }
  }
  // Machine nodes: every candidate and every X agent, by agent index.
  machines_.clear();
  for (const Scalars& shape : shapeList_) {
    for (const Candidate& c : shapes_.find(shape)->second.candidates) machines_.push_back(c.agent);
  }
  for (const auto& [agent, n] : xAgents) machines_.push_back(agent);
  std::sort(machines_.begin(), machines_.end());
  machines_.erase(std::unique(machines_.begin(), machines_.end()), machines_.end());
  nodeOf_.resize(s.agentSlots(), -1);
  for (std::size_t i = 0; i < machines_.size(); ++i) {
    nodeOf_[machines_[i]] = kFirstMachine + static_cast<std::int32_t>(i);
  }

  FlowNetwork& net = network_;
  net.source = kSource;
  net.sink = kSink;
  net.nodes = kFirstMachine + static_cast<std::int32_t>(machines_.size() + records_.size());
  auto arc = [&](std::int32_t from, std::int32_t to, std::int64_t capacity, std::int64_t cost) {
    net.arcs.push_back({from, to, capacity, cost});
  };
  std::vector<std::uint32_t> machineSlots(machines_.size());
  for (std::size_t i = 0; i < machines_.size(); ++i) {
    machineSlots[i] = slots(classOf_[machines_[i]]);
    arc(kFirstMachine + static_cast<std::int32_t>(i), kSink, machineSlots[i], 0);
  }
  for (const auto& [agent, n] : xAgents) {
    xMachines_.push_back(static_cast<std::uint32_t>(nodeOf_[agent] - kFirstMachine));
    arc(kAggregator, nodeOf_[agent], n, classes_[classOf_[agent]].loadCost);
  }
  arc(kUnscheduled, kSink, static_cast<std::int64_t>(instances_), 0);
  std::int32_t node = kFirstMachine + static_cast<std::int32_t>(machines_.size());
  for (Record& r : records_) {
    r.node = node++;
    r.firstArc = static_cast<std::uint32_t>(net.arcs.size());
    const auto count = static_cast<std::int64_t>(r.task->count);
    arc(kSource, r.node, count, 0);
    arc(r.node, kUnscheduled, count, r.unscheduledCost);
    arc(r.node, kAggregator, xAgents.empty() ? 0 : count, 0);  // cost set below
    const std::size_t xArc = net.arcs.size() - 1;
    std::int64_t worst = -1;
    for (const Candidate& c : r.info->candidates) {
      if (s.hasFilters(c.agent) &&
          s.isFiltered(r.fw, c.agent, Resources::fromScalars(r.shape, s.dimensions()))) {
        continue;
      }
      if (r.spread && spreadOn_.contains(r.fw, c.agent)) continue;
      const std::uint32_t fit = fitCount(r.shape, classes_[c.cls].free,
                                         r.spread ? 1u : static_cast<std::uint32_t>(count));
      arc(r.node, nodeOf_[c.agent], fit, c.cost);
      worst = std::max(worst, c.cost);
    }
    net.arcs[xArc].cost =
        (worst < 0 ? static_cast<std::int64_t>(kCostScale) : worst) + aggregatorCost_;
    r.arcCount = static_cast<std::uint32_t>(net.arcs.size() - r.firstArc);
  }
  for (AgentIndex a : machines_) nodeOf_[a] = -1;
  stats_.tasks = static_cast<std::uint32_t>(records_.size());
  stats_.instances = instances_;
  stats_.machines = static_cast<std::uint32_t>(machines_.size());
  stats_.nodes = static_cast<std::uint32_t>(net.nodes);
  stats_.arcs = static_cast<std::uint32_t>(net.arcs.size());
}

// Turns the flow into grants without ever over-committing: the solution
// routes instances; their placement is checked on a running copy of the free
// resources.
void FlowAllocator::place(const FlowSolution& solution) {
  const ClusterState& s = state();
  std::vector<Scalars> free(machines_.size());
  for (std::size_t i = 0; i < machines_.size(); ++i)
    free[i] = classes_[classOf_[machines_[i]]].free;
  // Agents outside the network join machines_ when the repair reaches them.
  machineOf_.assign(s.agentSlots(), -1);
  for (std::size_t i = 0; i < machines_.size(); ++i) {
    machineOf_[machines_[i]] = static_cast<std::int32_t>(i);
  }
  auto machineFor = [&](AgentIndex agent) {
    if (machineOf_[agent] < 0) {
      machineOf_[agent] = static_cast<std::int32_t>(machines_.size());
      machines_.push_back(agent);
      free.push_back(classes_[classOf_[agent]].free);
    }
    return static_cast<std::uint32_t>(machineOf_[agent]);
  };
  // Agents in X's order before this one have no room for any pending shape.
  std::size_t cursor = 0;

  std::vector<std::uint32_t> order(records_.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    return records_[a].unscheduledCost > records_[b].unscheduledCost;
  });
  struct Placement {
    std::uint32_t record, machine, count;
  };
  std::vector<Placement> placements;
  std::vector<std::uint64_t> gangPlaced(gangs_.size(), 0), gangWanted(gangs_.size(), 0);
  // Shapes for which the walk below found no agent with room (free room
  // only shrinks here; Google: most of `flow`'s round).
  NoRoomShapes fitsNowhere;
  for (std::uint32_t ri : order) {
    const Record& r = records_[ri];
    const std::uint32_t directBegin = r.firstArc + 3;
    const std::uint32_t end = r.firstArc + r.arcCount;
    auto put = [&](std::uint32_t m, std::int64_t want) -> std::int64_t {
      if (r.spread) {
        // One spread instance of the framework per agent, this round's and
        // running ones (see the class comment). Room first: it is a compare
        // of scalars, the set a tree walk.
        if (!fitsIn(r.shape, free[m])) return 0;
        if (spreadOn_.contains(r.fw, machines_[m])) return 0;
        want = std::min<std::int64_t>(want, 1);
        spreadOn_.insert(r.fw, machines_[m]);
      }
      const std::uint32_t n = fitCount(r.shape, free[m], static_cast<std::uint32_t>(want));
      if (n == 0) return 0;
      free[m] -= r.shape * static_cast<double>(n);
      placements.push_back({ri, m, n});
      return n;
    };
    std::int64_t left = solution.arcs[r.firstArc + 2];  // via X
    for (std::uint32_t a = directBegin; a < end; ++a) {
      const std::int64_t f = solution.arcs[a];
      if (f <= 0) continue;
      const std::int64_t missed =
          f - put(static_cast<std::uint32_t>(network_.arcs[a].to - kFirstMachine), f);
      stats_.spilled += static_cast<std::uint64_t>(missed);
      left += missed;
    }
    // What X carried, and what no longer fit where the flow sent it: the
    // task's own candidates first, then X's machines.
    for (std::uint32_t a = directBegin; a < end && left > 0; ++a) {
      left -= put(static_cast<std::uint32_t>(network_.arcs[a].to - kFirstMachine), left);
    }
    for (std::size_t i = 0; i < xMachines_.size() && left > 0; ++i) {
      const std::uint32_t m = xMachines_[i];
      const AgentIndex agent = machines_[m];
      if (!fitsIn(r.shape, free[m])) continue;
      if (s.hasFilters(agent) &&
          s.isFiltered(r.fw, agent, Resources::fromScalars(r.shape, s.dimensions()))) {
        continue;
      }
      left -= put(m, left);
    }
    // Then the next agents in X's order, outside the network. (An earlier
    // walk that found no room went to the end: the agents it reached are
    // in machines_ already, so skipping this one changes nothing.)
    const bool walk = left > 0 && !fitsNowhere.covers(r.shape);
    bool room = false;
    for (std::size_t pos = cursor; walk && pos < byLoad_.size() && left > 0; ++pos) {
      const AgentIndex agent = byLoad_[pos];
      const std::uint32_t m = machineFor(agent);
      if (!fitsIn(minShape_, free[m])) {
        if (pos == cursor) ++cursor;
        continue;
      }
      if (!fitsIn(r.shape, free[m])) continue;
      room = true;
      if (s.hasFilters(agent) &&
          s.isFiltered(r.fw, agent, Resources::fromScalars(r.shape, s.dimensions()))) {
        continue;
      }
      const std::int64_t n = put(m, left);
      stats_.beyond += static_cast<std::uint64_t>(n);
      left -= n;
    }
    if (walk && !room) fitsNowhere.add(r.shape);
    const std::int64_t unscheduled = solution.arcs[r.firstArc + 1];
    stats_.unscheduled += static_cast<std::uint64_t>(unscheduled);
    stats_.routed += r.task->count - static_cast<std::uint64_t>(unscheduled);
    if (r.gang != ~std::uint32_t{0}) gangWanted[r.gang] += r.task->count;
  }
  for (const Placement& p : placements) {
    const Record& r = records_[p.record];
    if (r.gang != ~std::uint32_t{0}) gangPlaced[r.gang] += p.count;
  }
  for (const Placement& p : placements) {
    const Record& r = records_[p.record];
    if (r.gang != ~std::uint32_t{0} && gangPlaced[r.gang] < gangWanted[r.gang]) continue;
    const AgentIndex agent = machines_[p.machine];
    const PendingTask& t = *r.task;
    if (t.shape.plain()) {
      if (grant(r.fw, agent,
                Resources::fromScalars(r.shape * static_cast<double>(p.count), s.dimensions()),
                t.key)) {
        stats_.placed += p.count;
        if (r.spread) spreadRunning_[{r.fw, t.key}].emplace_back(agent, r.shape);
      }
      continue;
    }
    for (std::uint32_t i = 0; i < p.count; ++i) {
      if (!s.offerable(r.fw, agent).contains(t.shape) || !grant(r.fw, agent, t.shape, t.key)) break;
      ++stats_.placed;
      if (r.spread) spreadRunning_[{r.fw, t.key}].emplace_back(agent, r.shape);
    }
  }
}

// Tasks that ask for nothing, longest waiting first: the token under the
// task's key on the first agent in X's order with room for it and not
// filtered for it, a spread task's on up to `count` agents without a spread
// instance of the framework. The framework launches the instances there (they
// take nothing) and gives the token back. Their end frees nothing, so spread
// ones are not booked in spreadRunning_.
void FlowAllocator::grantTokens() {
  const ClusterState& s = state();
  std::stable_sort(nothing_.begin(), nothing_.end(), [](const Record& a, const Record& b) {
    return a.task->submitted < b.task->submitted;
  });
  // Agents before this one in X's order have no room for the token; room
  // only shrinks within a round.
  std::size_t cursor = 0;
  for (const Record& r : nothing_) {
    const Resources& token = r.task->shape;  // empty while the cluster has nothing
    if (token.empty()) continue;
    const Scalars tokenScalars = token.totalScalars();
    std::uint32_t left = r.spread ? r.task->count : 1;
    for (std::size_t pos = cursor; pos < byLoad_.size() && left > 0 && wantsMore(r.fw); ++pos) {
      const AgentIndex agent = byLoad_[pos];
      if (!fitsIn(tokenScalars, s.availableUnreserved(agent))) {
        if (pos == cursor) ++cursor;
        continue;
      }
      if (r.spread && spreadOn_.contains(r.fw, agent)) continue;
      if (!grant(r.fw, agent, token, r.task->key)) continue;
      if (r.spread) spreadOn_.insert(r.fw, agent);
      --left;
    }
  }
}

void FlowAllocator::onRecovered(FrameworkIndex fw, AgentIndex agent, const Resources& /*resources*/,
                                std::uint64_t task) {
  if (spreadRunning_.empty()) return;
  if (task != kNoTask) {
    // A finished instance of a spread key: the agent is free for the key again.
    auto found = spreadRunning_.find({fw, task});
    if (found == spreadRunning_.end()) return;
    std::erase_if(found->second, [&](const auto& e) { return e.first == agent; });
    if (found->second.empty()) spreadRunning_.erase(found);
    return;
  }
  // Declined or rescinded: bookings beyond what the framework still holds
  // there never ran (which key is unknown: drop the latest keys first).
  const Scalars held = state().allocatedOn(fw, agent).totalScalars();
  auto begin = spreadRunning_.lower_bound({fw, 0});
  auto end = spreadRunning_.lower_bound({fw + 1, 0});
  Scalars booked = Scalars::Zero();
  for (auto it = begin; it != end; ++it) {
    for (const auto& [a, amount] : it->second) {
      if (a == agent) booked += amount;
    }
  }
  for (auto it = end; it != begin && !fitsIn(booked, held);) {
    --it;
    auto& entries = it->second;
    for (auto e = entries.begin(); e != entries.end();) {
      if (e->first != agent || fitsIn(booked, held)) {
        ++e;
        continue;
      }
      booked -= e->second;
      e = entries.erase(e);
    }
  }
  std::erase_if(spreadRunning_, [](const auto& entry) { return entry.second.empty(); });
}

void FlowAllocator::onAgentRemoved(AgentIndex agent) {
  for (auto& [key, entries] : spreadRunning_) {
    std::erase_if(entries, [&](const auto& e) { return e.first == agent; });
  }
  std::erase_if(spreadRunning_, [](const auto& entry) { return entry.second.empty(); });
}

void FlowAllocator::onFrameworkRemoved(FrameworkIndex fw) {
  spreadRunning_.erase(spreadRunning_.lower_bound({fw, 0}),
                       spreadRunning_.lower_bound({fw + 1, 0}));
}

// Hosts whose rounds follow events (the simulator) need a round even when
// nothing else happens: right away when the window left placeable instances
// out, and when a waiting cost will have outgrown the cheapest placement of
// an instance the flow left unscheduled for its cost (not for want of room,
// which a release will end).
void FlowAllocator::askForNextRound(const FlowSolution& solution, TimePoint now) {
  std::optional<TimePoint> wake;
  if (windowCut_) wake = now + Duration{1};
  if (waitCost_ > 0) {
    std::int64_t xLeast = std::numeric_limits<std::int64_t>::max();
    for (std::size_t i = 0; i < network_.arcs.size(); ++i) {
      const FlowNetwork::Arc& a = network_.arcs[i];
      if (a.from == kAggregator && a.capacity > solution.arcs[i]) xLeast = std::min(xLeast, a.cost);
    }
    for (const Record& r : records_) {
      if (solution.arcs[r.firstArc + 1] == 0) continue;  // nothing unscheduled
      std::int64_t least = std::numeric_limits<std::int64_t>::max();
      for (std::uint32_t a = r.firstArc + 3; a < r.firstArc + r.arcCount; ++a) {
        if (network_.arcs[a].capacity > solution.arcs[a])
          least = std::min(least, network_.arcs[a].cost);
      }
      const FlowNetwork::Arc& x = network_.arcs[r.firstArc + 2];
      if (xLeast != std::numeric_limits<std::int64_t>::max() && x.capacity > 0) {
        least = std::min(least, x.cost + xLeast);
      }
      if (least == std::numeric_limits<std::int64_t>::max() || least < r.unscheduledCost) continue;
      const double seconds = static_cast<double>(least - r.unscheduledCost + 1) / waitCost_;
      const TimePoint when = now + secondsToDuration(std::ceil(seconds));
      if (!wake || when < *wake) wake = when;
    }
  }
  if (wake) wakeAt(*wake);
}

}  // namespace allot
