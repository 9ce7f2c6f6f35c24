#include "allot/core/resources.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <ostream>
#include <utility>

#include "allot/core/error.h"
#include "allot/core/text.h"

namespace allot {
namespace {

// Relative slack for comparing sums of fractional quantities (0.1 + 0.2 cpus).
constexpr double kEpsilon = 1e-9;

[[noreturn]] void fail(std::string_view text, std::size_t position, std::string_view token,
                       std::string_view why) {
  throw ParseError(
      fmt::format("bad resource '{}' at position {} of \"{}\": {}", token, position, text, why));
}

template <class T>
bool parseNumber(std::string_view s, T& value) {
  s = trim(s);
  if (s.empty()) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  return ec == std::errc() && end == s.data() + s.size();
}

bool validName(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ||
           c == '/';
  });
}

template <class Entries>
auto findNamed(Entries& entries, std::string_view name) {
  return std::find_if(entries.begin(), entries.end(),
                      [&](const auto& entry) { return entry.first == name; });
}

template <class Entries, class Value>
Value& namedSlot(Entries& entries, std::string_view name) {
  auto it = std::lower_bound(entries.begin(), entries.end(), name,
                             [](const auto& entry, std::string_view n) { return entry.first < n; });
  if (it == entries.end() || it->first != name) {
    it = entries.insert(it, {std::string(name), Value{}});
  }
  return it->second;
}

void addItems(std::vector<std::string>& into, const std::vector<std::string>& items) {
  std::vector<std::string> merged;
  merged.reserve(into.size() + items.size());
  std::set_union(into.begin(), into.end(), items.begin(), items.end(), std::back_inserter(merged));
  into = std::move(merged);
}

void subtractItems(std::vector<std::string>& from, const std::vector<std::string>& items) {
  std::vector<std::string> left;
  std::set_difference(from.begin(), from.end(), items.begin(), items.end(),
                      std::back_inserter(left));
  from = std::move(left);
}

bool poolContains(const Pool& mine, const Pool& other) {
  if (!fitsIn(other.scalars, mine.scalars)) return false;
  for (const auto& [name, ranges] : other.ranges) {
    if (ranges.empty()) continue;
    auto it = findNamed(mine.ranges, name);
    if (it == mine.ranges.end() || !it->second.contains(ranges)) return false;
  }
  for (const auto& [name, items] : other.sets) {
    if (items.empty()) continue;
    auto it = findNamed(mine.sets, name);
    if (it == mine.sets.end() ||
        !std::includes(it->second.begin(), it->second.end(), items.begin(), items.end())) {
      return false;
    }
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------
// Dimensions

Dimensions::Dimensions(std::vector<std::string> names) : names_(std::move(names)) {
  if (names_.size() > static_cast<std::size_t>(kMaxScalarDims)) {
    throw InvalidArgument(
        fmt::format("too many scalar resource names ({}); allot supports at most {}", names_.size(),
                    kMaxScalarDims));
  }
}

const std::shared_ptr<const Dimensions>& Dimensions::standard() {
  // An immutable constant shared by all default-constructed resources.
  static const std::shared_ptr<const Dimensions> table =
      std::make_shared<const Dimensions>(std::vector<std::string>{"cpus", "mem", "disk", "gpus"});
  return table;
}

std::shared_ptr<const Dimensions> Dimensions::with(const std::shared_ptr<const Dimensions>& base,
                                                   std::string_view name) {
  if (base->find(name)) return base;
  if (base->size() >= kMaxScalarDims) {
    throw InvalidArgument(fmt::format(
        "cannot add scalar resource '{}': allot supports at most {} scalar names (have: {})", name,
        kMaxScalarDims, fmt::join(base->names(), ", ")));
  }
  std::vector<std::string> names = base->names();
  names.emplace_back(name);
  return std::make_shared<const Dimensions>(std::move(names));
}

std::optional<int> Dimensions::find(std::string_view name) const {
  for (std::size_t i = 0; i < names_.size(); ++i) {
    if (names_[i] == name) return static_cast<int>(i);
  }
  return std::nullopt;
}

bool Dimensions::isPrefixOf(const Dimensions& other) const {
  return names_.size() <= other.names_.size() &&
         std::equal(names_.begin(), names_.end(), other.names_.begin());
}

// ---------------------------------------------------------------------------
// Pool

bool Pool::empty() const {
  if ((scalars.array() > kEpsilon).any()) return false;
  for (const auto& entry : ranges) {
    if (!entry.second.empty()) return false;
  }
  for (const auto& entry : sets) {
    if (!entry.second.empty()) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Resources

Resources::Resources() = default;

Resources::Resources(DimensionsPtr dims) : dims_(canonical(std::move(dims))) {}

DimensionsPtr Resources::canonical(DimensionsPtr dims) {
  return dims == Dimensions::standard() ? nullptr : std::move(dims);
}

Resources::Resources(const Resources& other) noexcept : dims_(other.dims_), body_(other.body_) {
  if (body_) body_->refs.fetch_add(1, std::memory_order_relaxed);
}

Resources::Resources(Resources&& other) noexcept
    : dims_(other.dims_), body_(std::exchange(other.body_, nullptr)) {}

Resources& Resources::operator=(const Resources& other) noexcept {
  if (other.body_) other.body_->refs.fetch_add(1, std::memory_order_relaxed);
  release();
  body_ = other.body_;
  dims_ = other.dims_;
  return *this;
}

Resources& Resources::operator=(Resources&& other) noexcept {
  if (this != &other) {
    release();
    body_ = std::exchange(other.body_, nullptr);
    dims_ = other.dims_;
  }
  return *this;
}

Resources::~Resources() {
  release();
}

void Resources::release() {
  if (body_ && body_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete body_;
  body_ = nullptr;
}

const Resources::PoolList& Resources::poolList() const {
  static const PoolList kNoPools;  // immutable
  return body_ ? body_->pools : kNoPools;
}

Resources::PoolList& Resources::mutablePools() {
  if (body_ == nullptr) {
    body_ = new detail::ResourcesBody;
  } else if (body_->refs.load(std::memory_order_acquire) != 1) {
    auto* copy = new detail::ResourcesBody;
    copy->pools = body_->pools;
    release();
    body_ = copy;
  }
  return body_->pools;
}

Resources Resources::fromScalars(const Scalars& scalars, DimensionsPtr dims) {
  Resources result(std::move(dims));
  Pool pool;
  pool.scalars = scalars;
  if (!pool.empty()) result.mutablePools().push_back(std::move(pool));
  return result;
}

Resources Resources::parse(std::string_view text, DimensionsPtr dims) {
  Resources result(std::move(dims));
  // Semicolons inside [] or {} do not occur in the syntax, so a plain split works.
  forEachPiece(text, ';', [&](std::string_view token, std::size_t position) {
    const std::size_t colon = token.find(':');
    if (colon == std::string_view::npos) {
      fail(text, position, token, "expected 'name:value'");
    }
    std::string_view name = trim(token.substr(0, colon));
    const std::string_view value = trim(token.substr(colon + 1));
    std::string_view role = kUnreservedRole;
    if (const std::size_t open = name.find('('); open != std::string_view::npos) {
      if (name.back() != ')') fail(text, position, token, "role must be written as 'name(role)'");
      role = trim(name.substr(open + 1, name.size() - open - 2));
      name = trim(name.substr(0, open));
      if (!validName(role) && !isUnreservedRole(role)) {
        fail(text, position, token, fmt::format("invalid role '{}'", role));
      }
    }
    if (!validName(name)) fail(text, position, token, fmt::format("invalid name '{}'", name));
    if (value.empty()) fail(text, position, token, "missing value");

    if (value.front() == '[') {
      if (value.back() != ']') fail(text, position, token, "ranges must end with ']'");
      Ranges ranges;
      const std::string_view inner = value.substr(1, value.size() - 2);
      forEachPiece(inner, ',', [&](std::string_view piece, std::size_t) {
        const std::size_t dash = piece.find('-');
        Interval interval;
        if (dash == std::string_view::npos || !parseNumber(piece.substr(0, dash), interval.first) ||
            !parseNumber(piece.substr(dash + 1), interval.last)) {
          fail(text, position, token, fmt::format("range '{}' is not 'first-last'", piece));
        }
        if (interval.first > interval.last) {
          fail(text, position, token, fmt::format("range '{}' ends before it starts", piece));
        }
        ranges.add(interval);
      });
      Pool& pool = result.pool(role);
      namedSlot<decltype(pool.ranges), Ranges>(pool.ranges, name) += ranges;
    } else if (value.front() == '{') {
      if (value.back() != '}') fail(text, position, token, "sets must end with '}'");
      std::vector<std::string> items;
      const std::string_view inner = value.substr(1, value.size() - 2);
      forEachPiece(inner, ',',
                   [&](std::string_view item, std::size_t) { items.emplace_back(item); });
      std::sort(items.begin(), items.end());
      items.erase(std::unique(items.begin(), items.end()), items.end());
      Pool& pool = result.pool(role);
      addItems(namedSlot<decltype(pool.sets), std::vector<std::string>>(pool.sets, name), items);
    } else {
      double amount = 0;
      if (!parseNumber(value, amount) || !std::isfinite(amount)) {
        fail(text, position, token, fmt::format("value '{}' is not a number", value));
      }
      if (amount < 0) fail(text, position, token, "scalar values must not be negative");
      const int index = result.dimension(name);
      result.pool(role).scalars[index] += amount;
    }
  });
  result.dropEmptyPools();
  return result;
}

int Resources::dimension(std::string_view name) {
  if (auto index = table().find(name)) return *index;
  dims_ = canonical(Dimensions::with(dimensions(), name));
  return *table().find(name);
}

Pool* Resources::findPool(std::string_view role) {
  const Pool* found = std::as_const(*this).findPool(role);
  if (found == nullptr) return nullptr;
  const auto index = found - body_->pools.data();
  return &mutablePools()[static_cast<std::size_t>(index)];  // unshared first
}

const Pool* Resources::findPool(std::string_view role) const {
  if (body_ == nullptr) return nullptr;
  const bool unreserved = isUnreservedRole(role);
  for (const Pool& p : body_->pools) {
    if (unreserved ? isUnreservedRole(p.role) : p.role == role) return &p;
  }
  return nullptr;
}

Pool& Resources::pool(std::string_view role) {
  if (Pool* existing = findPool(role)) return *existing;
  // "*" sorts before letters, so the unreserved pool comes first.
  PoolList& pools = mutablePools();
  auto it = std::lower_bound(pools.begin(), pools.end(), role,
                             [](const Pool& p, std::string_view r) { return p.role < r; });
  Pool fresh;
  fresh.role = std::string(role);
  return *pools.insert(it, std::move(fresh));
}

void Resources::dropEmptyPools() {
  if (body_ == nullptr) return;
  if (std::none_of(body_->pools.begin(), body_->pools.end(),
                   [](const Pool& p) { return p.empty(); })) {
    return;
  }
  PoolList& pools = mutablePools();
  pools.erase(std::remove_if(pools.begin(), pools.end(), [](const Pool& p) { return p.empty(); }),
              pools.end());
  if (pools.empty()) release();
}

double Resources::scalar(std::string_view name, std::string_view role) const {
  const auto index = table().find(name);
  const Pool* p = findPool(role);
  return index && p ? p->scalars[*index] : 0.0;
}

void Resources::setScalar(std::string_view name, double value, std::string_view role) {
  if (!std::isfinite(value) || value < 0) {
    throw InvalidArgument(
        fmt::format("resource '{}' must be a finite, non-negative number, not {}", name, value));
  }
  const int index = dimension(name);
  pool(role).scalars[index] = value;
  dropEmptyPools();
}

const Ranges& Resources::ranges(std::string_view name, std::string_view role) const {
  static const Ranges kEmpty;  // immutable
  const Pool* p = findPool(role);
  if (!p) return kEmpty;
  auto it = findNamed(p->ranges, name);
  return it == p->ranges.end() ? kEmpty : it->second;
}

void Resources::setRanges(std::string_view name, Ranges value, std::string_view role) {
  Pool& p = pool(role);
  namedSlot<decltype(p.ranges), Ranges>(p.ranges, name) = std::move(value);
  dropEmptyPools();
}

void Resources::setItems(std::string_view name, std::vector<std::string> items,
                         std::string_view role) {
  std::sort(items.begin(), items.end());
  items.erase(std::unique(items.begin(), items.end()), items.end());
  Pool& p = pool(role);
  namedSlot<decltype(p.sets), std::vector<std::string>>(p.sets, name) = std::move(items);
  dropEmptyPools();
}

Scalars Resources::scalars(std::string_view role) const {
  const Pool* p = findPool(role);
  return p ? p->scalars : Scalars::Zero();
}

Scalars Resources::totalScalars() const {
  Scalars total = Scalars::Zero();
  for (const Pool& p : poolList()) total += p.scalars;
  return total;
}

Resources Resources::reserved(std::string_view role) const {
  Resources result(dims_);
  if (const Pool* p = findPool(role)) {
    if (poolList().size() == 1) return *this;  // the only pool: share it
    result.mutablePools().push_back(*p);
  }
  return result;
}

Resources Resources::withRole(std::string_view role) const {
  Resources result(dims_);
  for (const Pool& p : poolList()) {
    Resources one(dims_);
    one.mutablePools().push_back(p);
    one.mutablePools().back().role = std::string(role);
    result += one;
  }
  return result;
}

const Resources& Resources::aligned(const Resources& other, Resources& storage) {
  if (other.dims_ == dims_ || other.table().isPrefixOf(table())) return other;
  if (table().isPrefixOf(other.table())) {
    dims_ = other.dims_;
    return other;
  }
  // Rare: two tables that diverged. Extend ours with the other's names (our
  // indices stay valid because tables only grow by appending) and re-index
  // the other side.
  DimensionsPtr merged = dimensions();
  for (const std::string& name : other.table().names()) merged = Dimensions::with(merged, name);
  dims_ = canonical(std::move(merged));
  storage = other.rebased(dimensions());
  return storage;
}

Resources Resources::rebased(const DimensionsPtr& dims) const {
  const DimensionsPtr target = canonical(dims);
  const Dimensions& to = target ? *target : *Dimensions::standard();
  if (target == dims_ || table().isPrefixOf(to)) {
    Resources result = *this;
    result.dims_ = target;
    return result;
  }
  Resources result(dims);
  if (body_ == nullptr) return result;
  const PoolList& pools = body_->pools;
  PoolList& into = result.mutablePools();
  into = pools;
  for (Pool& p : into) {
    p.scalars.setZero();
  }
  for (std::size_t i = 0; i < pools.size(); ++i) {
    for (int d = 0; d < table().size(); ++d) {
      const double value = pools[i].scalars[d];
      if (value == 0) continue;
      const auto index = to.find(table().name(d));
      if (!index) {
        throw InvalidArgument(fmt::format("resource '{}' is not known here (known: {})",
                                          table().name(d), fmt::join(to.names(), ", ")));
      }
      into[i].scalars[*index] = value;
    }
  }
  return result;
}

bool Resources::contains(const Resources& other) const {
  if (other.dims_ != dims_ && !other.table().isPrefixOf(table())) {
    Resources copy = *this;
    Resources storage;
    const Resources& rhs = copy.aligned(other, storage);
    return copy.contains(rhs);
  }
  if (other.body_ == body_) return true;  // an unchanged copy (or both empty)
  for (const Pool& wanted : other.poolList()) {
    const Pool* mine = findPool(wanted.role);
    if (mine == nullptr) {
      if (!wanted.empty()) return false;
      continue;
    }
    if (!poolContains(*mine, wanted)) return false;
  }
  return true;
}

Resources& Resources::operator+=(const Resources& other) {
  if (other.empty()) return *this;
  Resources storage;
  const Resources& rhs = aligned(other, storage);
  if (empty()) {  // common: a fresh holder takes a whole offer, shared
    DimensionsPtr dims = dims_;
    *this = rhs;
    dims_ = std::move(dims);  // aligned() made ours the wider table
    return *this;
  }
  // Adding a value to itself: read from a second reference to the pools so
  // that ours are copied before they change.
  const Resources keep = &rhs == this ? rhs : Resources();
  for (const Pool& add : rhs.poolList()) {
    Pool& into = pool(add.role);
    into.scalars += add.scalars;
    for (const auto& [name, ranges] : add.ranges) {
      namedSlot<decltype(into.ranges), Ranges>(into.ranges, name) += ranges;
    }
    for (const auto& [name, items] : add.sets) {
      addItems(namedSlot<decltype(into.sets), std::vector<std::string>>(into.sets, name), items);
    }
  }
  return *this;
}

Resources& Resources::operator-=(const Resources& other) {
  if (other.empty()) return *this;
  Resources storage;
  const Resources& rhs = aligned(other, storage);
  if (rhs.body_ == body_) {  // common: giving back exactly what was held
    release();
    return *this;
  }
  for (const Pool& sub : rhs.poolList()) {
    Pool* from = findPool(sub.role);
    if (from == nullptr) continue;
    from->scalars = (from->scalars - sub.scalars).cwiseMax(0.0);
    // Remove float dust so that "all used" compares as empty.
    from->scalars = (from->scalars.array() <= kEpsilon * (1.0 + sub.scalars.array().abs()))
                        .select(0.0, from->scalars);
    for (const auto& [name, ranges] : sub.ranges) {
      auto it = findNamed(from->ranges, name);
      if (it != from->ranges.end()) it->second -= ranges;
    }
    for (const auto& [name, items] : sub.sets) {
      auto it = findNamed(from->sets, name);
      if (it != from->sets.end()) subtractItems(it->second, items);
    }
    from->ranges.erase(std::remove_if(from->ranges.begin(), from->ranges.end(),
                                      [](const auto& entry) { return entry.second.empty(); }),
                       from->ranges.end());
    std::erase_if(from->sets, [](const auto& entry) { return entry.second.empty(); });
  }
  dropEmptyPools();
  return *this;
}

Resources& Resources::capScalars(const Resources& limit) {
  if (empty()) return *this;
  Resources storage;
  const Resources& rhs = aligned(limit, storage);
  if (rhs.body_ == body_) return *this;  // an unchanged copy: nothing exceeds it
  auto capOf = [&](const Pool& p) {
    const Pool* held = rhs.findPool(p.role);
    return held ? held->scalars : Scalars::Zero();
  };
  // Most requests are within their limit: look before unsharing the pools.
  const PoolList& pools = poolList();
  if (std::none_of(pools.begin(), pools.end(),
                   [&](const Pool& p) { return (p.scalars.array() > capOf(p).array()).any(); })) {
    return *this;
  }
  for (Pool& p : mutablePools()) p.scalars = p.scalars.cwiseMin(capOf(p));
  dropEmptyPools();
  return *this;
}

bool operator==(const Resources& a, const Resources& b) {
  return a.contains(b) && b.contains(a);
}

bool Resources::identical(const Resources& other) const {
  if (dims_ != other.dims_) return false;
  if (body_ == other.body_) return true;
  const PoolList& mine = poolList();
  const PoolList& theirs = other.poolList();
  if (mine.size() != theirs.size()) return false;
  for (std::size_t i = 0; i < mine.size(); ++i) {
    const Pool& a = mine[i];
    const Pool& b = theirs[i];
    if (a.role != b.role || a.scalars != b.scalars || a.ranges.size() != b.ranges.size() ||
        a.sets != b.sets) {
      return false;
    }
    for (std::size_t r = 0; r < a.ranges.size(); ++r) {
      if (a.ranges[r].first != b.ranges[r].first || !(a.ranges[r].second == b.ranges[r].second)) {
        return false;
      }
    }
  }
  return true;
}

std::string toString(const Scalars& scalars, const Dimensions& dims) {
  std::string out;
  for (int d = 0; d < dims.size(); ++d) {
    if (scalars[d] == 0) continue;
    if (!out.empty()) out += ';';
    out += fmt::format("{}:{}", dims.name(d), scalars[d]);
  }
  return out;
}

std::string toString(const Resources& resources) {
  std::string out;
  const Dimensions& dims = *resources.dimensions();
  for (const Pool& p : resources.pools()) {
    const std::string suffix = isUnreservedRole(p.role) ? "" : "(" + p.role + ")";
    auto append = [&](const std::string& name, const std::string& value) {
      if (!out.empty()) out += ';';
      out += name + suffix + ":" + value;
    };
    for (int d = 0; d < dims.size(); ++d) {
      if (p.scalars[d] != 0) append(dims.name(d), fmt::format("{}", p.scalars[d]));
    }
    for (const auto& [name, ranges] : p.ranges) {
      if (!ranges.empty()) append(name, toString(ranges));
    }
    for (const auto& [name, items] : p.sets) {
      if (!items.empty()) append(name, fmt::format("{{{}}}", fmt::join(items, ",")));
    }
  }
  return out.empty() ? "{}" : out;
}

std::ostream& operator<<(std::ostream& out, const Resources& resources) {
  return out << toString(resources);
}

bool isValidRoleName(std::string_view role) {
  return validName(role);
}

}  // namespace allot
