#include "tetris.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "allot/core/error.h"

namespace allot {
namespace {

// Instances a framework publishes for the task-placing policies by default:
// enough for a round to fill many agents and for the SRPT term to compare
// most jobs a Google user has waiting, while a round's cost (which grows with
// the distinct jobs and shapes published, not the instances) stays small.
// drf's usual 256 would cap a user's big job at 256 starts a round.
constexpr std::uint32_t kDemandWindow = 1000;

double boundedParam(const Params& params, std::string_view name, double fallback, double low,
                    double high) {
  const double value = params.getDouble(name, fallback);
  if (!(value >= low && value <= high)) {
    throw InvalidArgument(fmt::format("parameter {}: '{}' is not in [{}, {}]", name,
                                      params.getString(name, ""), low, high));
  }
  return value;
}

bool scopeParam(const Params& params) {
  const std::string scope = params.getString("srpt_scope", "unit");
  if (scope != "unit" && scope != "submission") {
    throw InvalidArgument(
        fmt::format("parameter srpt_scope: '{}' is not 'unit' or 'submission'", scope));
  }
  return scope == "submission";
}

}  // namespace

PolicyInfo TetrisAllocator::info() {
  return {"tetris",
          "multi-resource packing (Grandl et al. 2014): places published tasks by alignment of "
          "demand and free resources plus a shortest-remaining-work term, with a fairness knob",
          {{"fairness", "0.25",
            "fairness knob f in [0, 1]: each step only the ceil((1-f)N) frameworks furthest "
            "below their dominant share may place (0: pure packing, 1: DRF order)"},
           {"srpt_weight", "1",
            "weight of the shortest-remaining-work term, in units of mean alignment per mean "
            "remaining work (0: packing only)"},
           {"srpt_scope", "unit",
            "what the remaining work is summed over: 'unit' (each published task) or "
            "'submission' (a framework's units with one submission time, i.e. a job)"},
           {"seed", "0", "seed of tie-breaking between equal frameworks and equal agents"}},
          [](const Params& p) { return std::make_unique<TetrisAllocator>(p); },
          kDemandWindow};
}

TetrisAllocator::TetrisAllocator(const Params& params)
    : PlacingAllocator(params, packing::Score::kAlignment),
      fairness_(boundedParam(params, "fairness", 0.25, 0.0, 1.0)),
      srptWeight_(
          boundedParam(params, "srpt_weight", 1.0, 0.0, std::numeric_limits<double>::max())),
      jobBySubmission_(scopeParam(params)) {}

double TetrisAllocator::estimate(const Unit& u) const {
  const Duration e = task(u).estimate;
  return e > Duration{0} ? toSeconds(e) : fallbackEstimate_;
}

void TetrisAllocator::pack() {
  double known = 0;
  std::size_t knownCount = 0;
  for (const Unit& u : units_) {
    if (task(u).estimate > Duration{0}) {
      known += toSeconds(task(u).estimate);
      ++knownCount;
    }
  }
  fallbackEstimate_ = knownCount > 0 ? known / static_cast<double>(knownCount) : 1.0;

  // Jobs, groups and contenders, framework by framework (items_ holds each
  // framework's items together).
  groups_.clear();
  groupItems_.clear();
  jobWork_.clear();
  jobOfItem_.assign(items_.size(), 0);
  order_.clear();
  std::uint32_t contenders = 0;
  for (std::size_t begin = 0; begin < items_.size();) {
    const FrameworkIndex fw = items_[begin].fw;
    std::size_t end = begin;
    while (end < items_.size() && items_[end].fw == fw) ++end;
    jobOf_.clear();
    groupByKey_.clear();
    const auto firstGroup = static_cast<std::uint32_t>(groups_.size());
    itemGroup_.assign(end - begin, 0);
    for (std::size_t i = begin; i < end; ++i) {
      const Item& item = items_[i];
      const Unit& first = units_[members_[item.first]];
      const PendingTask& t = task(first);
      std::uint32_t job = static_cast<std::uint32_t>(jobWork_.size());
      if (jobBySubmission_) {
        job = jobOf_.try_emplace(toMicros(t.submitted.time_since_epoch()), job).first->second;
      }
      if (job == jobWork_.size()) jobWork_.push_back(0);
      jobOfItem_[i] = job;
      for (std::uint32_t p = 0; p < item.parts; ++p) {
        const Unit& u = units_[members_[item.first + p]];
        jobWork_[job] += u.left * estimate(u);
      }
      auto g = static_cast<std::uint32_t>(groups_.size());
      if (item.gang) {
        groups_.push_back({});
      } else {
        const GroupKey key = jobBySubmission_
                                 ? GroupKey{job, 0, first.shape}
                                 : GroupKey{first.left, toMicros(t.estimate), first.shape};
        auto [gt, newGroup] = groupByKey_.try_emplace(key, g);
        if (newGroup) groups_.push_back({});
        g = gt->second;
      }
      itemGroup_[i - begin] = g;
    }
    // Items into their groups' ranges, keeping publication order.
    for (std::uint32_t g = firstGroup; g < groups_.size(); ++g) groups_[g].end = 0;
    for (std::uint32_t g : itemGroup_) ++groups_[g].end;
    auto pos = static_cast<std::uint32_t>(groupItems_.size());
    for (std::uint32_t g = firstGroup; g < groups_.size(); ++g) {
      const std::uint32_t count = groups_[g].end;
      groups_[g].begin = groups_[g].next = groups_[g].end = pos;
      pos += count;
    }
    groupItems_.resize(pos);
    for (std::size_t i = begin; i < end; ++i) {
      Group& g = groups_[itemGroup_[i - begin]];
      groupItems_[g.end++] = static_cast<std::uint32_t>(i);
    }
    const std::uint32_t slot = contenders++;
    if (groupsOf_.size() <= slot) groupsOf_.emplace_back();
    groupsOf_[slot].clear();
    for (auto g = firstGroup; g < groups_.size(); ++g) groupsOf_[slot].push_back(g);
    order_.push_back({share(fw), rng_(), fw, slot});
    begin = end;
  }
  std::sort(order_.begin(), order_.end());

  // epsilon puts remaining work on the scale of alignment (paper, 3.3):
  // mean alignment over the pending instances that fit, mean work over jobs.
  double alignment = 0;
  double instances = 0;
  for (const Unit& u : units_) {
    if (const auto best = packer_.best(u.shape)) {
      alignment += best->score * u.left;
      instances += u.left;
    }
  }
  double work = 0;
  for (double w : jobWork_) work += w;
  const double meanWork = jobWork_.empty() ? 0 : work / static_cast<double>(jobWork_.size());
  const double epsilon =
      instances > 0 && meanWork > 0 ? srptWeight_ * (alignment / instances) / meanWork : 0.0;

  // Each contender's groups in a max-heap of their values. Within a round a
  // shape's best alignment only falls (placements take resources; a failed
  // gang gives back exactly what it took), so a stored value bounds the
  // group's value from above and only the top needs a fresh look (lazy
  // greedy, exact); values that rise — the remaining work of the job just
  // served falls — are pushed again at once.
  auto valueOf = [&](std::uint32_t id) -> std::optional<double> {
    Group& g = groups_[id];
    while (g.next < g.end && items_[groupItems_[g.next]].done) ++g.next;
    if (g.next == g.end) return std::nullopt;
    // A group's items share a shape: if the next fits nowhere, none will.
    const auto aligned = bestScore(items_[groupItems_[g.next]]);
    if (!aligned) return std::nullopt;
    return *aligned - epsilon * jobWork_[jobOfItem_[groupItems_[g.next]]];
  };
  // (Re)files a group; its older copies in the heap are dropped when met.
  auto push = [&](std::vector<Candidate>& heap, std::uint32_t id) {
    const std::uint32_t stamp = ++stamps_[id];
    if (const auto value = valueOf(id)) {
      heap.push_back({*value, id, stamp});
      std::push_heap(heap.begin(), heap.end());
    }
  };
  // The contender's best group now, if any is left.
  auto top = [&](std::vector<Candidate>& heap) -> std::optional<Candidate> {
    while (!heap.empty()) {
      const Candidate head = heap.front();
      std::pop_heap(heap.begin(), heap.end());
      heap.pop_back();
      if (head.stamp != stamps_[head.group]) continue;
      const auto value = valueOf(head.group);
      if (!value) continue;
      const Candidate fresh{*value, head.group, head.stamp};
      heap.push_back(fresh);
      std::push_heap(heap.begin(), heap.end());
      if (fresh.value >= head.value) return fresh;
    }
    return std::nullopt;
  };
  stamps_.assign(groups_.size(), 0);
  heapsOf_.resize(std::max<std::size_t>(heapsOf_.size(), contenders));
  for (std::uint32_t slot = 0; slot < contenders; ++slot) {
    heapsOf_[slot].clear();
    for (std::uint32_t id : groupsOf_[slot]) push(heapsOf_[slot], id);
  }

  while (!order_.empty()) {
    const std::size_t n = order_.size();
    const auto k = std::clamp<std::size_t>(
        static_cast<std::size_t>(std::ceil((1.0 - fairness_) * static_cast<double>(n) - 1e-9)), 1,
        n);
    std::optional<Candidate> best;
    std::size_t bestContender = 0;
    bool emptied = false;
    for (std::size_t c = 0; c < k; ++c) {
      const auto candidate = top(heapsOf_[order_[c].slot]);
      if (!candidate) {
        emptied = true;
      } else if (!best || best->value < candidate->value) {
        best = candidate;
        bestContender = c;
      }
    }
    if (best) {
      const std::uint32_t slot = order_[bestContender].slot;
      const std::uint32_t id = best->group;
      const std::uint32_t itemIndex = groupItems_[groups_[id].next];
      Item& item = items_[itemIndex];
      double placedWork = 0;
      for (std::uint32_t p = 0; p < item.parts; ++p) {
        const Unit& u = units_[members_[item.first + p]];
        placedWork += (item.gang ? u.left : 1) * estimate(u);
      }
      std::vector<Candidate>& heap = heapsOf_[slot];
      if (item.gang ? placeGang(item) : placeInstance(item)) {
        const std::uint32_t job = jobOfItem_[itemIndex];
        jobWork_[job] = std::max(0.0, jobWork_[job] - placedWork);
        if (jobBySubmission_) {
          // The job's other groups gained too.
          for (std::uint32_t other : groupsOf_[slot]) {
            const Group& g = groups_[other];
            if (other != id && g.next < g.end && jobOfItem_[groupItems_[g.next]] == job) {
              push(heap, other);
            }
          }
        }
        // Its share grew: move it back in the order.
        std::size_t c = bestContender;
        order_[c].share = share(order_[c].fw);
        for (; c + 1 < order_.size() && order_[c + 1] < order_[c]; ++c) {
          std::swap(order_[c], order_[c + 1]);
        }
      }
      push(heap, id);
      emptied = emptied || heap.empty();
    } else if (!emptied) {
      break;  // cannot happen: a step without a candidate drops a framework
    }
    if (emptied) {
      std::erase_if(order_, [&](const Contender& c) { return heapsOf_[c.slot].empty(); });
    }
  }
}

}  // namespace allot
