#include "queues.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "allot/core/error.h"
#include "allot/core/text.h"

namespace allot {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// Shares and ratios this close are equal: sums of task shares are rounded.
constexpr double kTie = 1e-9;
// The whole queue: fair shares and starvation need each queue's demand.
constexpr std::uint32_t kWholeQueue = 1'000'000;
constexpr std::size_t kMaxFailed = 256;
constexpr std::size_t kNone = ~std::size_t{0};
// A reclaim the host never recovered (a kill that went nowhere) stops
// counting after this long.
constexpr Duration kInFlightExpiry = std::chrono::seconds(60);

bool close(double a, double b) {
  if (a == b) return true;
  if (std::isinf(a) || std::isinf(b)) return false;
  return std::abs(a - b) <= kTie * std::max({1.0, std::abs(a), std::abs(b)});
}

bool isZero(const Scalars& v) {
  return v.maxCoeff() <= kTie;
}

double parsePercent(std::string_view item, std::string_view field, std::string_view text) {
  std::string_view t = trim(text);
  if (!t.empty() && t.back() == '%') t = trim(t.substr(0, t.size() - 1));
  double value = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  if (t.empty() || ec != std::errc() || end != t.data() + t.size() || !std::isfinite(value)) {
    throw InvalidArgument(
        fmt::format("queues: item '{}': {} '{}' is not a number", item, field, text));
  }
  return value;
}

// Weighted max-min with floors and caps: out[i] = clamp(w[i] * l, floor[i],
// cap[i]) for the level l at which the sum is `budget` (everyone's cap if
// the caps fit; floors scaled down if they do not).
void waterfill(double budget, const std::vector<double>& floor, const std::vector<double>& cap,
               const std::vector<double>& weight, std::vector<double>& out) {
  const std::size_t n = cap.size();
  out.assign(n, 0.0);
  const double sumCap = std::accumulate(cap.begin(), cap.end(), 0.0);
  const double sumFloor = std::accumulate(floor.begin(), floor.end(), 0.0);
  if (sumCap <= budget) {
    out = cap;
    return;
  }
  if (sumFloor >= budget) {
    const double scale = sumFloor > 0 ? budget / sumFloor : 0.0;
    for (std::size_t i = 0; i < n; ++i) out[i] = floor[i] * scale;
    return;
  }
  auto at = [&](double level) {
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum += std::clamp(weight[i] * level, floor[i], cap[i]);
    return sum;
  };
  // The sum is linear between breakpoints: find the segment, interpolate.
  std::vector<double> points;
  for (std::size_t i = 0; i < n; ++i) {
    points.push_back(floor[i] / weight[i]);
    points.push_back(cap[i] / weight[i]);
  }
  std::sort(points.begin(), points.end());
  double level = points.back();
  double prev = 0;
  double prevSum = sumFloor;
  for (double p : points) {
    if (p <= prev) continue;
    const double sum = at(p);
    if (sum >= budget) {
      level = prev + (budget - prevSum) * (p - prev) / (sum - prevSum);
      break;
    }
    prev = p;
    prevSum = sum;
  }
  for (std::size_t i = 0; i < n; ++i) out[i] = std::clamp(weight[i] * level, floor[i], cap[i]);
}

std::vector<ParamSpec> queueParams() {
  return {{"queues", "",
           "queue tree: ';'-separated PATH:GUARANTEED%[:MAX%[:WEIGHT]] (percent of the parent; "
           "max 100 and weight 1 by default; fair: the guarantee is a minimum share; capacity "
           "ignores weights), e.g. 'eng:60:100:2;eng.batch:50;eng.web:50:80;ads:40'; "
           "a framework goes to the leaf its role names (name or path), else to 'default' "
           "(guaranteed 0% unless declared); empty: one leaf per role (capacity: equal guarantees; "
           "fair: role weights)"},
          {"preemption", "false",
           "reclaim from queues above their target for a queue starved longer than "
           "preemption_timeout (capacity: target = guarantee; fair: fair share)"},
          {"preemption_timeout", "15", "seconds a queue stays starved before it preempts"}};
}

}  // namespace

std::vector<QueueSpec> parseQueues(std::string_view text) {
  struct Item {
    std::string text, path;
    double guaranteed, maximum, weight;
  };
  std::vector<Item> items;
  forEachPiece(text, ';', [&](std::string_view item, std::size_t) {
    std::vector<std::string_view> fields;
    std::size_t start = 0;
    while (true) {
      const std::size_t colon = item.find(':', start);
      fields.push_back(item.substr(start, colon == std::string_view::npos ? colon : colon - start));
      if (colon == std::string_view::npos) break;
      start = colon + 1;
    }
    if (fields.size() < 2 || fields.size() > 4) {
      throw InvalidArgument(fmt::format(
          "queues: item '{}': expected PATH:GUARANTEED[:MAX[:WEIGHT]] (e.g. 'eng.batch:50:100:1')",
          item));
    }
    std::string_view path = trim(fields[0]);
    if (path == "root") {
      throw InvalidArgument(
          fmt::format("queues: item '{}': root is the whole cluster and is not configured", item));
    }
    if (path.starts_with("root.")) path.remove_prefix(5);
    std::size_t from = 0;
    while (true) {
      const std::size_t dot = path.find('.', from);
      const std::string_view part =
          path.substr(from, dot == std::string_view::npos ? dot : dot - from);
      const bool bad = part.empty() || part.find_first_of(" \t\r\n=,") != std::string_view::npos;
      if (bad) {
        throw InvalidArgument(
            fmt::format("queues: item '{}': bad queue path '{}'", item, trim(fields[0])));
      }
      if (dot == std::string_view::npos) break;
      from = dot + 1;
    }
    Item it{std::string(item), "root." + std::string(path), 0, 100, 1};
    it.guaranteed = parsePercent(item, "guaranteed capacity", fields[1]);
    if (fields.size() > 2) it.maximum = parsePercent(item, "maximum capacity", fields[2]);
    if (fields.size() > 3) {
      std::string_view w = trim(fields[3]);
      auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), it.weight);
      if (w.empty() || ec != std::errc() || end != w.data() + w.size() ||
          !std::isfinite(it.weight) || it.weight <= 0) {
        throw InvalidArgument(
            fmt::format("queues: item '{}': weight '{}' is not a number > 0", item, fields[3]));
      }
    }
    if (it.guaranteed < 0 || it.guaranteed > 100) {
      throw InvalidArgument(fmt::format(
          "queues: item '{}': guaranteed capacity {}% is not in [0, 100]", item, it.guaranteed));
    }
    if (it.maximum <= 0 || it.maximum > 100) {
      throw InvalidArgument(fmt::format(
          "queues: item '{}': maximum capacity {}% is not in (0, 100]", item, it.maximum));
    }
    if (it.maximum < it.guaranteed) {
      throw InvalidArgument(
          fmt::format("queues: item '{}': maximum capacity {}% is below the guaranteed {}%", item,
                      it.maximum, it.guaranteed));
    }
    for (const Item& other : items) {
      if (other.path == it.path) {
        throw InvalidArgument(
            fmt::format("queues: item '{}': queue '{}' is already declared as '{}'", item, it.path,
                        other.text));
      }
    }
    items.push_back(std::move(it));
  });
  if (items.empty()) throw InvalidArgument("queues: no queue given");

  auto parentOf = [](const std::string& path) { return path.substr(0, path.rfind('.')); };
  for (const Item& it : items) {
    const std::string parent = parentOf(it.path);
    if (parent == "root") continue;
    const bool declared =
        std::any_of(items.begin(), items.end(), [&](const Item& o) { return o.path == parent; });
    if (!declared) {
      throw InvalidArgument(
          fmt::format("queues: item '{}': parent queue '{}' is not declared", it.text, parent));
    }
  }
  auto hasChildren = [&](const std::string& path) {
    return std::any_of(items.begin(), items.end(),
                       [&](const Item& o) { return parentOf(o.path) == path; });
  };
  bool hasDefault = false;
  for (const Item& it : items) {
    if (it.path.substr(it.path.rfind('.') + 1) != "default") continue;
    if (hasChildren(it.path)) {
      throw InvalidArgument(fmt::format(
          "queues: item '{}': 'default' receives frameworks of unknown roles and must be a leaf",
          it.text));
    }
    hasDefault = true;
  }
  if (!hasDefault) items.push_back({"root.default:0:100:1", "root.default", 0, 100, 1});

  // Breadth first from the root: parents before children, siblings in
  // declaration order.
  std::vector<QueueSpec> tree(1);
  tree[0].path = "root";
  tree[0].name = "root";
  for (std::size_t i = 0; i < tree.size(); ++i) {
    double sum = 0;
    for (const Item& it : items) {
      if (parentOf(it.path) != tree[i].path) continue;
      QueueSpec q;
      q.path = it.path;
      q.name = it.path.substr(it.path.rfind('.') + 1);
      q.parent = static_cast<int>(i);
      q.guaranteed = it.guaranteed / 100;
      q.maximum = it.maximum / 100;
      q.weight = it.weight;
      q.absGuaranteed = tree[i].absGuaranteed * q.guaranteed;
      q.absMaximum = tree[i].absMaximum * q.maximum;
      sum += it.guaranteed;
      tree[i].children.push_back(static_cast<int>(tree.size()));
      tree.push_back(std::move(q));
    }
    if (sum > 100 + 1e-9) {
      throw InvalidArgument(fmt::format(
          "queues: the children of '{}' are guaranteed {}% of it in total (at most 100%)",
          tree[i].path, sum));
    }
  }
  std::map<std::string, std::string> leaves;
  for (const QueueSpec& q : tree) {
    if (!q.children.empty() || q.parent < 0) continue;
    auto [it, added] = leaves.emplace(q.name, q.path);
    if (!added) {
      throw InvalidArgument(fmt::format(
          "queues: leaf name '{}' is used by '{}' and '{}' (a role names its leaf by name)", q.name,
          it->second, q.path));
    }
  }
  return tree;
}

PolicyInfo QueueAllocator::capacityInfo() {
  PolicyInfo info{"capacity",
                  "YARN CapacityScheduler: hierarchical queues with guaranteed and maximum "
                  "capacity, the least used / guaranteed first, elastic up to the maximum; "
                  "optional preemption",
                  queueParams(), [](const Params& p) {
                    return std::make_unique<QueueAllocator>(Mode::kCapacity, p);
                  }};
  info.demand = kWholeQueue;
  return info;
}

PolicyInfo QueueAllocator::fairInfo() {
  PolicyInfo info{"fair",
                  "YARN FairScheduler (DRF): hierarchical weighted max-min fair shares of queues "
                  "with demand, the furthest below its fair share first, maximum capacities; "
                  "optional preemption",
                  queueParams(),
                  [](const Params& p) { return std::make_unique<QueueAllocator>(Mode::kFair, p); }};
  info.demand = kWholeQueue;
  return info;
}

QueueAllocator::QueueAllocator(Mode mode, const Params& params)
    : Allocator(parseAllocatorOptions(params)),
      mode_(mode),
      preemption_(params.getBool("preemption", false)) {
  const double timeout = params.getDouble("preemption_timeout", 15);
  if (!std::isfinite(timeout) || timeout < 0) {
    throw InvalidArgument(
        fmt::format("parameter preemption_timeout: '{}' is not a number of seconds >= 0", timeout));
  }
  preemptionTimeout_ = secondsToDuration(timeout);
  const std::string text = params.getString("queues", "");
  dynamic_ = trim(text).empty();
  if (dynamic_) {
    tree_.resize(1);
    tree_[0].path = tree_[0].name = "root";
  } else {
    tree_ = parseQueues(text);
  }
  starvedSince_.assign(tree_.size(), std::nullopt);
}

// ------------------------------------------------------------------ the tree

void QueueAllocator::refreshTree() {
  const ClusterState& s = state();
  if (!dynamic_) {
    // Roles only come: map the new ones.
    for (RoleIndex r = static_cast<RoleIndex>(leafOfRole_.size()); r < s.roleCount(); ++r) {
      const std::string& name = s.role(r).name;
      const std::string path = name.starts_with("root.") ? name : "root." + name;
      int leaf = -1;
      int fallback = -1;
      for (std::size_t q = 1; q < tree_.size(); ++q) {
        if (!tree_[q].children.empty()) continue;
        if (tree_[q].path == path || tree_[q].name == name) leaf = static_cast<int>(q);
        if (tree_[q].name == "default") fallback = static_cast<int>(q);
      }
      leafOfRole_.push_back(leaf >= 0 ? leaf : fallback);
    }
    return;
  }
  if (treeConfigVersion_ == s.configVersion() && leafOfRole_.size() == s.roleCount()) {
    for (std::size_t q = 1; q < tree_.size(); ++q)
      tree_[q].weight = s.role(treeRoles_[q - 1]).weight;
    return;
  }
  treeConfigVersion_ = s.configVersion();
  std::vector<RoleIndex> roles;
  for (RoleIndex r = 0; r < s.roleCount(); ++r) {
    if (!s.role(r).frameworks.empty()) roles.push_back(r);
  }
  leafOfRole_.resize(s.roleCount(), -1);
  if (roles != treeRoles_) {
    // Starvation clocks follow their queue by path; reclaims in flight keep
    // counting against their victims but forget whom they were for.
    std::map<std::string, TimePoint> since;
    for (std::size_t q = 0; q < tree_.size(); ++q) {
      if (starvedSince_[q]) since.emplace(tree_[q].path, *starvedSince_[q]);
    }
    for (InFlight& f : inFlight_) f.beneficiary = -1;
    treeRoles_ = roles;
    tree_.resize(1);
    tree_[0].children.clear();
    leafOfRole_.assign(s.roleCount(), -1);
    const double part = roles.empty() ? 0.0 : 1.0 / static_cast<double>(roles.size());
    for (RoleIndex r : roles) {
      QueueSpec q;
      q.name = s.role(r).name;
      q.path = "root." + q.name;
      q.parent = 0;
      // fair: the roles' weights alone (equal minimum shares would override them).
      q.guaranteed = q.absGuaranteed = mode_ == Mode::kCapacity ? part : 0.0;
      leafOfRole_[r] = static_cast<int>(tree_.size());
      tree_[0].children.push_back(static_cast<int>(tree_.size()));
      tree_.push_back(std::move(q));
    }
    starvedSince_.assign(tree_.size(), std::nullopt);
    for (std::size_t q = 0; q < tree_.size(); ++q) {
      if (auto it = since.find(tree_[q].path); it != since.end()) starvedSince_[q] = it->second;
    }
  }
  for (std::size_t q = 1; q < tree_.size(); ++q) tree_[q].weight = s.role(treeRoles_[q - 1]).weight;
}

int QueueAllocator::leafOf(RoleIndex role) const {
  return role < leafOfRole_.size() ? leafOfRole_[role] : -1;
}

double QueueAllocator::share(const Scalars& v) const {
  return v.cwiseProduct(inverseTotal_).maxCoeff();
}

void QueueAllocator::collect() {
  const ClusterState& s = state();
  const std::size_t n = tree_.size();
  used_.assign(n, Scalars::Zero());
  pending_.assign(n, Scalars::Zero());
  unbounded_.assign(n, 0);
  leafCursors_.resize(n);
  for (auto& list : leafCursors_) list.clear();
  cursors_.clear();
  for (FrameworkIndex fw = 0; fw < s.frameworkSlots(); ++fw) {
    const FrameworkState& f = s.framework(fw);
    if (!f.alive) continue;
    const int leaf = leafOf(f.role);
    if (leaf < 0) continue;
    used_[static_cast<std::size_t>(leaf)] += f.allocated;
    if (!f.active || f.suppressed) continue;
    Cursor c;
    c.fw = fw;
    c.leaf = leaf;
    c.registration = f.registration;
    c.noDemand = f.demand.empty();
    if (c.noDemand) {
      unbounded_[static_cast<std::size_t>(leaf)] = 1;
    } else {
      pending_[static_cast<std::size_t>(leaf)] += f.demandTotal;
    }
    cursors_.push_back(c);
  }
  std::sort(cursors_.begin(), cursors_.end(),
            [](const Cursor& a, const Cursor& b) { return a.registration < b.registration; });
  for (std::size_t i = 0; i < cursors_.size(); ++i) {
    leafCursors_[static_cast<std::size_t>(cursors_[i].leaf)].push_back(
        static_cast<std::uint32_t>(i));
  }
  for (std::size_t q = n; q-- > 1;) {
    const auto p = static_cast<std::size_t>(tree_[q].parent);
    used_[p] += used_[q];
    pending_[p] += pending_[q];
    unbounded_[p] |= unbounded_[q];
  }
  usedShare_.resize(n);
  for (std::size_t q = 0; q < n; ++q) usedShare_[q] = share(used_[q]);
}

void QueueAllocator::computeFairShares() {
  const std::size_t n = tree_.size();
  target_.assign(n, 0.0);
  target_[0] = 1.0;
  std::vector<double> floor, cap, weight, out;
  std::vector<int> members;
  for (std::size_t q = 0; q < n; ++q) {
    if (tree_[q].children.empty() || target_[q] <= 0) continue;
    floor.clear();
    cap.clear();
    weight.clear();
    members.clear();
    for (int c : tree_[q].children) {
      const auto ci = static_cast<std::size_t>(c);
      const double demand = unbounded_[ci] != 0 ? kInf : share(used_[ci] + pending_[ci]);
      if (demand <= 0) continue;
      const double top = std::min(tree_[ci].absMaximum, demand);
      members.push_back(c);
      cap.push_back(top);
      floor.push_back(std::min(tree_[ci].absGuaranteed, top));
      weight.push_back(tree_[ci].weight);
    }
    if (members.empty()) continue;
    waterfill(target_[q], floor, cap, weight, out);
    for (std::size_t i = 0; i < members.size(); ++i) {
      target_[static_cast<std::size_t>(members[i])] = out[i];
    }
  }
}

bool QueueAllocator::before(int a, int b) const {
  const auto ai = static_cast<std::size_t>(a);
  const auto bi = static_cast<std::size_t>(b);
  const double ka = target_[ai] > 0 ? usedShare_[ai] / target_[ai] : kInf;
  const double kb = target_[bi] > 0 ? usedShare_[bi] / target_[bi] : kInf;
  if (!close(ka, kb)) return ka < kb;
  if (!close(usedShare_[ai], usedShare_[bi])) return usedShare_[ai] < usedShare_[bi];
  return a < b;
}

int QueueAllocator::pickLeaf() const {
  if (servable_[0] == 0) return -1;
  int node = 0;
  while (!tree_[static_cast<std::size_t>(node)].children.empty()) {
    int best = -1;
    for (int c : tree_[static_cast<std::size_t>(node)].children) {
      if (servable_[static_cast<std::size_t>(c)] != 0 && (best < 0 || before(c, best))) best = c;
    }
    if (best < 0) return -1;
    node = best;
  }
  return node;
}

void QueueAllocator::markDone(int leaf) {
  servable_[static_cast<std::size_t>(leaf)] = 0;
  for (int p = tree_[static_cast<std::size_t>(leaf)].parent; p >= 0;
       p = tree_[static_cast<std::size_t>(p)].parent) {
    const auto& children = tree_[static_cast<std::size_t>(p)].children;
    if (std::any_of(children.begin(), children.end(),
                    [&](int c) { return servable_[static_cast<std::size_t>(c)] != 0; })) {
      return;
    }
    servable_[static_cast<std::size_t>(p)] = 0;
  }
}

void QueueAllocator::account(int leaf, const Scalars& amount) {
  for (int q = leaf; q >= 0; q = tree_[static_cast<std::size_t>(q)].parent) {
    const auto qi = static_cast<std::size_t>(q);
    used_[qi] += amount;
    usedShare_[qi] = share(used_[qi]);
  }
  freeTotal_ -= amount;
}

Scalars QueueAllocator::headroom(int leaf) const {
  const Scalars& total = state().totalScalars();
  Scalars room = Scalars::Constant(kInf);
  for (int q = leaf; q > 0; q = tree_[static_cast<std::size_t>(q)].parent) {
    const auto qi = static_cast<std::size_t>(q);
    room = room.cwiseMin(total * tree_[qi].absMaximum - used_[qi]);
  }
  return room;
}

// ------------------------------------------------------------------ rounds

void QueueAllocator::decide(TimePoint now) {
  const ClusterState& s = state();
  now_ = now;
  refreshTree();
  const Scalars& total = s.totalScalars();
  inverseTotal_ = (total.array() > 0).select(total.cwiseInverse(), 0.0);
  collect();
  const std::size_t n = tree_.size();
  if (mode_ == Mode::kFair) {
    computeFairShares();
  } else {
    target_.resize(n);
    for (std::size_t q = 0; q < n; ++q) target_[q] = tree_[q].absGuaranteed;
  }

  if (activeAgentsVersion_ != s.agentSetVersion()) {
    activeAgents_.clear();
    for (AgentIndex a = 0; a < s.agentSlots(); ++a) {
      if (s.agent(a).alive && s.agent(a).active) activeAgents_.push_back(a);
    }
    activeAgentsVersion_ = s.agentSetVersion();
  }
  open_.clear();
  freeTotal_.setZero();
  for (AgentIndex a : activeAgents_) {
    if (!allocatable(s.availableTotal(a))) continue;
    open_.push_back(a);
    freeTotal_ += s.availableUnreserved(a);
  }
  buildFreeTree();
  tentative_.resize(s.agentSlots(), Scalars::Zero());
  shapeCursors_.clear();
  failed_.clear();
  unplaced_.clear();

  servable_.assign(n, 0);
  for (std::size_t q = n; q-- > 0;) {
    if (tree_[q].children.empty()) {
      servable_[q] = q > 0 && !leafCursors_[q].empty() ? 1 : 0;
    }
    if (servable_[q] != 0 && q > 0) servable_[static_cast<std::size_t>(tree_[q].parent)] = 1;
  }
  leafNext_.assign(n, 0);
  // One unit at a time to the queue first in order: the order changes with
  // every grant. Queues leave the round when nothing of theirs fits.
  for (int leaf = pickLeaf(); leaf >= 0; leaf = pickLeaf()) {
    if (!serve(leaf)) markDone(leaf);
  }
  if (preemption_) preempt(now);
}

bool QueueAllocator::serve(int leaf) {
  const auto& list = leafCursors_[static_cast<std::size_t>(leaf)];
  std::size_t& next = leafNext_[static_cast<std::size_t>(leaf)];
  for (; next < list.size(); ++next) {
    Cursor& c = cursors_[list[next]];
    if (c.noDemand ? serveWholeAgent(c) : serveDemand(c)) return true;
  }
  return false;
}

void QueueAllocator::noteGrant(FrameworkIndex fw, AgentIndex agent) {
  if (grantedAt_.size() <= agent) grantedAt_.resize(agent + 1);
  for (auto& [f, t] : grantedAt_[agent]) {
    if (f == fw) {
      t = now_;
      return;
    }
  }
  grantedAt_[agent].emplace_back(fw, now_);
}

TimePoint QueueAllocator::grantedAt(FrameworkIndex fw, AgentIndex agent) const {
  if (agent < grantedAt_.size()) {
    for (const auto& [f, t] : grantedAt_[agent]) {
      if (f == fw) return t;
    }
  }
  return kTimeZero;  // held since before this policy knew (re-registered agent)
}

Scalars QueueAllocator::freeOn(AgentIndex a) const {
  return state().availableUnreserved(a) - tentative_[a];
}

std::size_t& QueueAllocator::cursorFor(const Scalars& shape) {
  std::array<double, kMaxScalarDims> key;
  std::copy(shape.data(), shape.data() + kMaxScalarDims, key.begin());
  return shapeCursors_.try_emplace(key, 0).first->second;
}

void QueueAllocator::buildFreeTree() {
  const ClusterState& s = state();
  leaves_ = 1;
  while (leaves_ < open_.size()) leaves_ *= 2;
  // Padding leaves hold -1: nothing fits there, not even an empty shape.
  freeMax_.assign(2 * leaves_, Scalars::Constant(-1.0));
  positionOf_.resize(s.agentSlots());
  for (std::size_t i = 0; i < open_.size(); ++i) {
    freeMax_[leaves_ + i] = s.availableUnreserved(open_[i]);
    positionOf_[open_[i]] = static_cast<std::uint32_t>(i);
  }
  for (std::size_t n = leaves_; n-- > 1;)
    freeMax_[n] = freeMax_[2 * n].cwiseMax(freeMax_[2 * n + 1]);
}

void QueueAllocator::updateFreeTree(AgentIndex agent) {
  std::size_t n = leaves_ + positionOf_[agent];
  freeMax_[n] = state().availableUnreserved(agent);
  for (n /= 2; n >= 1; n /= 2) freeMax_[n] = freeMax_[2 * n].cwiseMax(freeMax_[2 * n + 1]);
}

std::size_t QueueAllocator::firstFit(const Scalars& shape, std::size_t from) const {
  return from < open_.size() ? firstFitIn(shape, from, 1, 0, leaves_) : kNone;
}

// Descends where the component-wise largest free vector of a subtree holds
// the shape: a necessary condition, so whole runs of full agents are passed
// over at once.
std::size_t QueueAllocator::firstFitIn(const Scalars& shape, std::size_t from, std::size_t n,
                                       std::size_t lo, std::size_t width) const {
  if (lo + width <= from || !fitsIn(shape, freeMax_[n])) return kNone;
  if (width == 1) return lo;
  const std::size_t half = width / 2;
  const std::size_t found = firstFitIn(shape, from, 2 * n, lo, half);
  return found != kNone ? found : firstFitIn(shape, from, 2 * n + 1, lo + half, half);
}

int QueueAllocator::findAgent(FrameworkIndex fw, const Resources& shapeRes, const Scalars& shape,
                              std::size_t& pos, bool learn) const {
  for (const Scalars& f : failed_) {
    if (fitsIn(f, shape)) return -1;
  }
  const ClusterState& s = state();
  bool seen = false;
  for (std::size_t i = firstFit(shape, pos); i != kNone; i = firstFit(shape, i + 1)) {
    const AgentIndex a = open_[i];
    // The tree holds free space without a gang's tentative takes.
    if (!learn && !fitsIn(shape, freeOn(a))) continue;
    if (!seen) pos = i;  // free space only shrinks within a round
    seen = true;
    if (s.hasFilters(a) && s.isFiltered(fw, a, shapeRes)) continue;
    return static_cast<int>(a);
  }
  if (!seen) pos = open_.size();
  if (!seen && learn) {
    // Keep the minimal failed shapes only: one that fits nowhere rejects
    // every shape at least as large in each resource.
    std::erase_if(failed_, [&](const Scalars& f) { return fitsIn(shape, f); });
    if (failed_.size() < kMaxFailed) failed_.push_back(shape);
  }
  return -1;
}

bool QueueAllocator::serveDemand(Cursor& c) {
  const ClusterState& s = state();
  const std::vector<PendingTask>& demand = s.framework(c.fw).demand;
  while (c.unit < demand.size()) {
    const PendingTask& t = demand[c.unit];
    if (t.gang) {
      std::uint32_t end = c.unit + 1;
      while (end < demand.size() && demand[end].gang && demand[end].key == t.key) ++end;
      const std::uint32_t first = c.unit;
      c.unit = end;
      c.done = 0;
      if (placeGang(c, first, end)) return true;
      unplaced_.push_back({c.leaf, c.fw, first, end, 0});
      continue;
    }
    const Scalars shape = t.shape.totalScalars();
    if (c.done < t.count && fitsIn(shape, headroom(c.leaf))) {
      const int a = findAgent(c.fw, t.shape, shape, cursorFor(shape), true);
      if (a >= 0 && grant(c.fw, static_cast<AgentIndex>(a), t.shape, t.key)) {
        noteGrant(c.fw, static_cast<AgentIndex>(a));
        updateFreeTree(static_cast<AgentIndex>(a));
        account(c.leaf, shape);
        if (++c.done >= t.count) {
          ++c.unit;
          c.done = 0;
        }
        return true;
      }
    }
    if (c.done < t.count) unplaced_.push_back({c.leaf, c.fw, c.unit, c.unit + 1, t.count - c.done});
    ++c.unit;
    c.done = 0;
  }
  return false;
}

bool QueueAllocator::placeGang(Cursor& c, std::uint32_t first, std::uint32_t end) {
  const ClusterState& s = state();
  const std::vector<PendingTask>& demand = s.framework(c.fw).demand;
  Scalars total = Scalars::Zero();
  for (std::uint32_t k = first; k < end; ++k) {
    total += demand[k].shape.totalScalars() * static_cast<double>(demand[k].count);
  }
  if (!fitsIn(total, freeTotal_) || !fitsIn(total, headroom(c.leaf))) return false;
  std::vector<std::pair<AgentIndex, std::uint32_t>> plan;
  bool placed = true;
  for (std::uint32_t k = first; k < end && placed; ++k) {
    const Scalars shape = demand[k].shape.totalScalars();
    std::size_t pos = cursorFor(shape);  // a copy: tentative takes move it
    for (std::uint32_t i = 0; i < demand[k].count; ++i) {
      const int a = findAgent(c.fw, demand[k].shape, shape, pos, false);
      if (a < 0) {
        placed = false;
        break;
      }
      tentative_[static_cast<AgentIndex>(a)] += shape;
      touched_.push_back(static_cast<AgentIndex>(a));
      plan.emplace_back(static_cast<AgentIndex>(a), k);
    }
  }
  for (AgentIndex a : touched_) tentative_[a].setZero();
  touched_.clear();
  if (!placed) return false;
  // Checked above: free, unfiltered, within the framework's demand.
  for (const auto& [a, k] : plan) {
    grant(c.fw, a, demand[k].shape, demand[k].key);
    noteGrant(c.fw, a);
    updateFreeTree(a);
  }
  account(c.leaf, total);
  return true;
}

bool QueueAllocator::serveWholeAgent(Cursor& c) {
  const ClusterState& s = state();
  const Scalars room = headroom(c.leaf).cwiseMax(0.0);
  for (; c.agentPos < open_.size(); ++c.agentPos) {
    const AgentIndex a = open_[c.agentPos];
    if (!allocatable(s.availableTotal(a))) continue;
    Resources offer = s.offerable(c.fw, a);
    const Scalars unreserved = offer.scalars(kUnreservedRole);
    const Scalars capped = unreserved.cwiseMin(room);
    const bool whole = capped == unreserved;
    if (!whole) {
      const Dimensions& dims = *offer.dimensions();
      for (int d = 0; d < dims.size(); ++d) {
        if (capped[d] != unreserved[d]) offer.setScalar(dims.name(d), capped[d]);
      }
    }
    if (!allocatable(offer)) continue;
    const Scalars amount = offer.totalScalars();
    if (!(whole ? grantAll(c.fw, a) : grant(c.fw, a, std::move(offer)))) continue;
    noteGrant(c.fw, a);
    updateFreeTree(a);
    ++c.agentPos;
    account(c.leaf, amount);
    return true;
  }
  return false;
}

// ------------------------------------------------------------------ preemption

std::vector<int> QueueAllocator::victimOrder(const std::vector<double>& outgoing) const {
  std::vector<int> victims;
  for (std::size_t q = 1; q < tree_.size(); ++q) {
    if (!tree_[q].children.empty()) continue;
    if (usedShare_[q] - outgoing[q] - target_[q] > kTie) victims.push_back(static_cast<int>(q));
  }
  auto over = [&](int q) {
    const auto qi = static_cast<std::size_t>(q);
    return target_[qi] > 0 ? (usedShare_[qi] - outgoing[qi]) / target_[qi] : kInf;
  };
  std::sort(victims.begin(), victims.end(), [&](int a, int b) {
    const double oa = over(a);
    const double ob = over(b);
    if (!close(oa, ob)) return oa > ob;
    const auto ai = static_cast<std::size_t>(a);
    const auto bi = static_cast<std::size_t>(b);
    const double ea = usedShare_[ai] - outgoing[ai] - target_[ai];
    const double eb = usedShare_[bi] - outgoing[bi] - target_[bi];
    if (!close(ea, eb)) return ea > eb;
    return a < b;
  });
  return victims;
}

Scalars QueueAllocator::Ledger::taken(FrameworkIndex fw, AgentIndex agent) const {
  Scalars sum = Scalars::Zero();
  for (const Take& t : takes) {
    if (t.fw == fw && t.agent == agent) sum += t.amount;
  }
  return sum;
}

namespace {

Scalars lookup(const std::map<AgentIndex, Scalars>& m, AgentIndex a) {
  auto it = m.find(a);
  return it == m.end() ? Scalars::Zero() : it->second;
}

void addTo(std::map<AgentIndex, Scalars>& m, AgentIndex a, const Scalars& v) {
  auto [it, added] = m.emplace(a, v);
  if (!added) it->second += v;
}

}  // namespace

void QueueAllocator::preempt(TimePoint now) {
  const ClusterState& s = state();
  const std::size_t n = tree_.size();
  // Reclaims the host never honoured, or that what their framework still
  // holds there no longer covers, are forgotten or shrunk.
  std::erase_if(inFlight_, [&](InFlight& f) {
    if (now - f.issued > kInFlightExpiry) return true;
    f.amount = f.amount.cwiseMin(s.allocatedOn(f.fw, f.agent).scalars(kUnreservedRole));
    return isZero(f.amount);
  });
  incoming_.assign(n, 0.0);
  outgoing_.assign(n, 0.0);
  for (const InFlight& f : inFlight_) {
    const int victim = leafOf(s.framework(f.fw).role);
    if (victim >= 0) outgoing_[static_cast<std::size_t>(victim)] += share(f.amount);
    if (f.beneficiary >= 0) incoming_[static_cast<std::size_t>(f.beneficiary)] += f.credit;
  }
  std::vector<std::uint8_t> waiting(n, 0);
  for (const Unplaced& u : unplaced_) waiting[static_cast<std::size_t>(u.leaf)] = 1;

  std::vector<int> due;
  for (std::size_t q = 1; q < n; ++q) {
    if (!tree_[q].children.empty()) continue;
    const bool wants = waiting[q] != 0 || unbounded_[q] != 0;
    const bool below = target_[q] - usedShare_[q] - incoming_[q] > kTie;
    if (!wants || !below) {
      starvedSince_[q].reset();
      continue;
    }
    if (!starvedSince_[q]) starvedSince_[q] = now;
    const TimePoint at = saturatingAdd(*starvedSince_[q], preemptionTimeout_);
    if (at <= now) {
      due.push_back(static_cast<int>(q));
    } else {
      wakeAt(at);
    }
  }
  if (due.empty()) return;
  std::sort(due.begin(), due.end(), [&](int a, int b) { return before(a, b); });

  // Where each leaf's frameworks hold resources, the newest grant first
  // (ties: slot order).
  std::vector<std::vector<std::pair<TimePoint, AgentIndex>>> held(n);
  for (AgentIndex a : activeAgents_) {
    for (const auto& [fw, resources] : s.agent(a).allocated) {
      const int leaf = leafOf(s.framework(fw).role);
      if (leaf < 0) continue;
      auto& list = held[static_cast<std::size_t>(leaf)];
      const TimePoint t = grantedAt(fw, a);
      if (!list.empty() && list.back().second == a) {
        list.back().first = std::max(list.back().first, t);
      } else {
        list.emplace_back(t, a);
      }
    }
  }
  victimAgents_.assign(n, {});
  for (std::size_t q = 0; q < n; ++q) {
    std::stable_sort(held[q].begin(), held[q].end(),
                     [](const auto& x, const auto& y) { return x.first > y.first; });
    for (const auto& [t, a] : held[q]) victimAgents_[q].push_back(a);
  }

  ledger_ = Ledger{};
  for (int leaf : due) {
    const auto li = static_cast<std::size_t>(leaf);
    for (const Unplaced& u : unplaced_) {
      if (u.leaf != leaf) continue;
      if (target_[li] - usedShare_[li] - incoming_[li] <= kTie) break;
      const std::vector<PendingTask>& demand = s.framework(u.fw).demand;
      if (u.count == 0) {  // a gang: every record, all or nothing
        reclaimForUnit(leaf, u.fw, &demand[u.first], u.end - u.first, now);
        continue;
      }
      for (std::uint32_t i = 0; i < u.count; ++i) {
        if (target_[li] - usedShare_[li] - incoming_[li] <= kTie) break;
        if (!reclaimForUnit(leaf, u.fw, &demand[u.first], 1, now)) break;
      }
    }
    const double deficit = target_[li] - usedShare_[li] - incoming_[li];
    if (unbounded_[li] != 0 && deficit > kTie) reclaimDeficit(leaf, deficit, now);
  }
}

// Frameworks of `leaf` with unreserved resources on `agent` that may still
// be reclaimed, newest first, with how much.
std::vector<std::pair<FrameworkIndex, Scalars>> QueueAllocator::reclaimable(
    int leaf, AgentIndex agent) const {
  const ClusterState& s = state();
  std::vector<std::pair<FrameworkIndex, Scalars>> out;
  for (const auto& [fw, held] : s.agent(agent).allocated) {
    if (leafOf(s.framework(fw).role) != leaf) continue;
    Scalars left = held.scalars(kUnreservedRole) - ledger_.taken(fw, agent);
    for (const InFlight& f : inFlight_) {
      if (f.fw == fw && f.agent == agent) left -= f.amount;
    }
    left = left.cwiseMax(0.0);
    if (!isZero(left)) out.emplace_back(fw, left);
  }
  std::sort(out.begin(), out.end(), [&](const auto& a, const auto& b) {
    const TimePoint ta = grantedAt(a.first, agent);
    const TimePoint tb = grantedAt(b.first, agent);
    if (ta != tb) return ta > tb;
    return s.framework(a.first).registration > s.framework(b.first).registration;
  });
  return out;
}

bool QueueAllocator::reclaimForUnit(int leaf, FrameworkIndex fw, const PendingTask* first,
                                    std::size_t records, TimePoint now) {
  const ClusterState& s = state();
  Ledger& ledger = ledger_;
  const Ledger saved = ledger;
  const std::size_t takesBefore = ledger.takes.size();
  std::vector<double> out(outgoing_);  // this unit's takes counted on their victims
  Scalars unitTotal = Scalars::Zero();
  for (std::size_t k = 0; k < records; ++k) {
    const PendingTask& t = first[k];
    const Scalars shape = t.shape.totalScalars();
    const std::uint32_t count = records == 1 && !t.gang ? 1 : t.count;
    for (std::uint32_t i = 0; i < count; ++i) {
      unitTotal += shape;
      bool found = false;
      for (int v : victimOrder(out)) {
        const auto vi = static_cast<std::size_t>(v);
        const double excess = usedShare_[vi] - out[vi] - target_[vi];
        if (excess <= kTie) continue;
        for (AgentIndex a : victimAgents_[vi]) {
          if (s.hasFilters(a) && s.isFiltered(fw, a, t.shape)) continue;
          const Scalars free =
              s.availableUnreserved(a) + lookup(ledger.freed, a) - lookup(ledger.promised, a);
          const Scalars need = (shape - free).cwiseMax(0.0);
          if (share(need) > excess + kTie) continue;
          const auto holders = reclaimable(v, a);
          Scalars held = Scalars::Zero();
          for (const auto& h : holders) held += h.second;
          if (!fitsIn(need, held)) continue;
          // The host frees whole offers and whole running groups, so a
          // framework taken from may lose all it holds here: the victim must
          // stay at its target even then. (Counting only `need` let a
          // queue lose a fresh 2-cpu grant for a 0.5-cpu need, fall below
          // its target, win the freed agent back in the next round, and lose
          // it again, a round a second.)
          Scalars left = need;
          Scalars loses = Scalars::Zero();
          const std::size_t takesHere = ledger.takes.size();
          for (const auto& [vfw, amount] : holders) {
            if (isZero(left)) break;
            const Scalars take = left.cwiseMin(amount);
            if (isZero(take)) continue;
            ledger.takes.push_back({vfw, a, take, v});
            left -= take;
            loses += amount;
          }
          if (share(loses) > excess + kTie) {
            ledger.takes.resize(takesHere);
            continue;
          }
          addTo(ledger.promised, a, shape);
          addTo(ledger.freed, a, need);
          out[vi] += share(loses);
          found = true;
          break;
        }
        if (found) break;
      }
      if (!found) {
        ledger = saved;
        return false;
      }
    }
  }
  if (ledger.takes.size() == takesBefore) {
    // It fits without taking anything: not placed for another reason.
    ledger = saved;
    return false;
  }
  const double credit = share(unitTotal);
  bool credited = false;
  for (std::size_t i = takesBefore; i < ledger.takes.size(); ++i) {
    const Ledger::Take& t = ledger.takes[i];
    const Scalars amount = t.amount.cwiseMin(s.allocatedOn(t.fw, t.agent).scalars(kUnreservedRole));
    reclaim(t.fw, t.agent, Resources::fromScalars(amount, s.dimensions()));
    inFlight_.push_back({t.fw, t.agent, amount, leaf, credited ? 0.0 : credit, now});
    credited = true;
    outgoing_[static_cast<std::size_t>(t.victim)] += share(amount);
  }
  incoming_[static_cast<std::size_t>(leaf)] += credit;
  return true;
}

void QueueAllocator::reclaimDeficit(int leaf, double deficit, TimePoint now) {
  const ClusterState& s = state();
  const Scalars& total = s.totalScalars();
  Scalars need = total * deficit;
  for (int v : victimOrder(outgoing_)) {
    const auto vi = static_cast<std::size_t>(v);
    Scalars excess = total * (usedShare_[vi] - outgoing_[vi] - target_[vi]);
    for (AgentIndex a : victimAgents_[vi]) {
      for (const auto& [vfw, amount] : reclaimable(v, a)) {
        const Scalars take = amount.cwiseMin(need).cwiseMin(excess).cwiseMax(0.0);
        if (isZero(take)) continue;
        reclaim(vfw, a, Resources::fromScalars(take, s.dimensions()));
        ledger_.takes.push_back({vfw, a, take, v});
        inFlight_.push_back({vfw, a, take, leaf, share(take), now});
        need -= take;
        excess -= take;
        outgoing_[vi] += share(take);
        incoming_[static_cast<std::size_t>(leaf)] += share(take);
        if (share(need.cwiseMax(0.0)) <= kTie) return;
      }
      if (share(excess.cwiseMax(0.0)) <= kTie) break;
    }
  }
}

// ------------------------------------------------------------------ events

void QueueAllocator::onRecovered(FrameworkIndex fw, AgentIndex agent, const Resources& resources,
                                 std::uint64_t /*task*/) {
  if (agent < grantedAt_.size() && state().allocatedOn(fw, agent).empty()) {
    std::erase_if(grantedAt_[agent], [&](const auto& g) { return g.first == fw; });
  }
  if (inFlight_.empty()) return;
  Scalars back = resources.totalScalars();
  std::erase_if(inFlight_, [&](InFlight& f) {
    if (f.fw != fw || f.agent != agent) return false;
    const Scalars part = f.amount.cwiseMin(back).cwiseMax(0.0);
    f.amount -= part;
    back -= part;
    return isZero(f.amount);
  });
}

void QueueAllocator::onAgentRemoved(AgentIndex agent) {
  std::erase_if(inFlight_, [&](const InFlight& f) { return f.agent == agent; });
  if (agent < grantedAt_.size()) grantedAt_[agent].clear();
}

void QueueAllocator::onFrameworkRemoved(FrameworkIndex fw) {
  std::erase_if(inFlight_, [&](const InFlight& f) { return f.fw == fw; });
  for (auto& list : grantedAt_) {
    std::erase_if(list, [&](const auto& g) { return g.first == fw; });
  }
}

}  // namespace allot
