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
// many jobs, while a round's cost (which grows with the distinct jobs and
// shapes published, not the instances) stays small; see notes/tetris.md.
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
           {"seed", "0", "seed of tie-breaking between equal frameworks and equal agents"}},
          [](const Params& p) { return std::make_unique<TetrisAllocator>(p); },
          kDemandWindow};
}

TetrisAllocator::TetrisAllocator(const Params& params)
    : PlacingAllocator(params, packing::Score::kAlignment),
      fairness_(boundedParam(params, "fairness", 0.25, 0.0, 1.0)),
      srptWeight_(
          boundedParam(params, "srpt_weight", 1.0, 0.0, std::numeric_limits<double>::max())) {}

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
      auto [jt, newJob] = jobOf_.try_emplace(toMicros(task(first).submitted.time_since_epoch()),
                                             static_cast<std::uint32_t>(jobWork_.size()));
      if (newJob) jobWork_.push_back(0);
      const std::uint32_t job = jt->second;
      for (std::uint32_t p = 0; p < item.parts; ++p) {
        const Unit& u = units_[members_[item.first + p]];
        jobWork_[job] += u.left * estimate(u);
      }
      std::uint32_t g = static_cast<std::uint32_t>(groups_.size());
      if (item.gang) {
        groups_.push_back({job, 0, 0, 0});
      } else {
        const std::uint64_t key = (std::uint64_t{job} << 32) | first.shape;
        auto [gt, newGroup] = groupByKey_.try_emplace(key, g);
        if (newGroup) groups_.push_back({job, 0, 0, 0});
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

  while (!order_.empty()) {
    const std::size_t n = order_.size();
    const auto k = std::clamp<std::size_t>(
        static_cast<std::size_t>(std::ceil((1.0 - fairness_) * static_cast<double>(n) - 1e-9)), 1,
        n);
    const Group* best = nullptr;
    double bestValue = -std::numeric_limits<double>::infinity();
    std::uint32_t bestSlot = 0;
    bool emptied = false;
    for (std::size_t c = 0; c < k; ++c) {
      std::vector<std::uint32_t>& live = groupsOf_[order_[c].slot];
      std::size_t kept = 0;
      for (std::uint32_t id : live) {
        Group& g = groups_[id];
        while (g.next < g.end && items_[groupItems_[g.next]].done) ++g.next;
        if (g.next == g.end) continue;
        // A group's items share a shape: if the next fits nowhere, none
        // will this round (resources only shrink).
        const auto value = bestScore(items_[groupItems_[g.next]]);
        if (!value) continue;
        live[kept++] = id;
        const double total = *value - epsilon * jobWork_[g.job];
        if (total > bestValue) {
          bestValue = total;
          best = &g;
          bestSlot = order_[c].slot;
        }
      }
      live.resize(kept);
      emptied = emptied || kept == 0;
    }
    if (best != nullptr) {
      Item& item = items_[groupItems_[best->next]];
      double placedWork = 0;
      for (std::uint32_t p = 0; p < item.parts; ++p) {
        const Unit& u = units_[members_[item.first + p]];
        placedWork += (item.gang ? u.left : 1) * estimate(u);
      }
      if (item.gang ? placeGang(item) : placeInstance(item)) {
        jobWork_[best->job] = std::max(0.0, jobWork_[best->job] - placedWork);
        // Its share grew: move it back in the order.
        std::size_t c = 0;
        while (order_[c].slot != bestSlot) ++c;
        order_[c].share = share(order_[c].fw);
        for (; c + 1 < order_.size() && order_[c + 1] < order_[c]; ++c) {
          std::swap(order_[c], order_[c + 1]);
        }
      }
    } else if (!emptied) {
      break;  // cannot happen: a step without a candidate drops a framework
    }
    if (emptied) {
      std::erase_if(order_, [&](const Contender& c) { return groupsOf_[c.slot].empty(); });
    }
  }
}

}  // namespace allot
