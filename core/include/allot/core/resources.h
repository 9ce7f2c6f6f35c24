#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <boost/container/small_vector.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iosfwd>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "allot/core/ranges.h"

namespace allot {

// Upper bound on distinct scalar resource names in one table. Fixed so that a
// scalar vector is a fixed-size Eigen vector (one cache line, no heap).
inline constexpr int kMaxScalarDims = 8;

// Scalar quantities, indexed by a Dimensions table. Unused slots are zero.
// Units are those of the resource names: cpus in cores, mem/disk in MB.
using Scalars = Eigen::Matrix<double, kMaxScalarDims, 1>;

// Returns true iff every component of `a` is <= the one of `b`, with a small
// tolerance so that sums of fractional cpus compare as people expect: no
// a[i] - b[i] exceeds 1e-9 * (1 + |b[i]|) (a NaN exceeds nothing). Inline,
// two lanes at a time and branch-free: the allocator calls it several times
// per offer, and neither a plain loop nor Eigen's .all() vectorizes.
inline bool fitsIn(const Scalars& a, const Scalars& b) {
  using Lanes = double __attribute__((vector_size(16)));
  using Mask = std::int64_t __attribute__((vector_size(16)));
  constexpr double kEpsilon = 1e-9;
  static_assert(kMaxScalarDims % 2 == 0);
  Mask over = {0, 0};
  for (int i = 0; i < kMaxScalarDims; i += 2) {
    Lanes x;
    Lanes y;
    Mask bits;
    std::memcpy(&x, a.data() + i, sizeof x);
    std::memcpy(&y, b.data() + i, sizeof y);
    std::memcpy(&bits, &y, sizeof bits);
    bits &= std::numeric_limits<std::int64_t>::max();  // clear the sign: |y|
    Lanes magnitude;
    std::memcpy(&magnitude, &bits, sizeof magnitude);
    over |= (x - y) > kEpsilon * (1.0 + magnitude);
  }
  return (over[0] | over[1]) == 0;
}

// Largest number of instances of `demand` that fit in `free`, at most `cap`,
// with fitsIn's tolerance (three tasks of 0.1 cpu fit in 0.3).
inline std::uint32_t fitCount(const Scalars& demand, const Scalars& free, std::uint32_t cap) {
  // Most candidates have no room: one vector compare turns them away before
  // any division.
  if (!fitsIn(demand, free)) return 0;
  constexpr double kEpsilon = 1e-9;
  double n = static_cast<double>(cap);
  for (int d = 0; d < kMaxScalarDims; ++d) {
    if (demand[d] <= 0) continue;
    n = std::min(n, std::floor((free[d] + kEpsilon * std::max(1.0, free[d])) / demand[d]));
    if (n <= 0) return 0;
  }
  return static_cast<std::uint32_t>(n);
}

// The role name of unreserved resources, as in Mesos.
inline constexpr std::string_view kUnreservedRole = "*";
// Whether `role` may name a role in the text syntax ("cpus(role):2"):
// letters, digits, '_', '-', '.' and '/'. kUnreservedRole is not such a name.
bool isValidRoleName(std::string_view role);
// Whether `role` is kUnreservedRole, without a call to memcmp (hot in the
// allocator's per-agent and filter checks); the one way to ask it.
inline bool isUnreservedRole(std::string_view role) {
  return role.size() == 1 && role.front() == '*';
}

// An immutable, ordered table of scalar resource names. Tables only grow by
// appending (`with`), so a vector indexed by a table is also valid for every
// table that extends it. Shared by value through std::shared_ptr<const>.
class Dimensions {
 public:
  // The standard table: cpus, mem, disk, gpus (indices 0..3).
  static const std::shared_ptr<const Dimensions>& standard();

  // Returns `base` if it has `name`, else a new table with `name` appended.
  // Throws InvalidArgument when the table already has kMaxScalarDims names.
  static std::shared_ptr<const Dimensions> with(const std::shared_ptr<const Dimensions>& base,
                                                std::string_view name);

  std::optional<int> find(std::string_view name) const;
  int size() const { return static_cast<int>(names_.size()); }
  const std::string& name(int index) const { return names_[static_cast<std::size_t>(index)]; }
  const std::vector<std::string>& names() const { return names_; }
  // Returns true iff this table's names are the first names of `other`.
  bool isPrefixOf(const Dimensions& other) const;

  explicit Dimensions(std::vector<std::string> names);

 private:
  std::vector<std::string> names_;
};

using DimensionsPtr = std::shared_ptr<const Dimensions>;

// The resources of one role on one place: scalars, ranges (ports) and sets.
struct Pool {
  std::string role{kUnreservedRole};
  Scalars scalars = Scalars::Zero();
  std::vector<std::pair<std::string, Ranges>> ranges;  // sorted by name
  std::vector<std::pair<std::string, std::vector<std::string>>>
      sets;  // sorted by name, items sorted

  bool empty() const;
};

namespace detail {
// The pools of a Resources value, shared by its copies until one of them
// changes (copy on write). Immutable while shared.
struct ResourcesBody {
  std::atomic<std::uint32_t> refs{1};
  // Inline room for one pool: most resources are unreserved only.
  boost::container::small_vector<Pool, 1> pools;
};
}  // namespace detail

// A bag of resources as Mesos models it: named scalars (cpus, mem, disk, gpus
// or any other name), ranges (ports) and sets, each unreserved ("*") or
// reserved for a role. A value type; arithmetic works pool by pool (role by
// role), so reserved and unreserved resources never mix.
//
// Text syntax (Mesos'): "cpus:4;mem:8192;ports:[31000-32000];disks:{a,b}",
// with an optional role: "cpus(analytics):2".
//
// Copies share their pools until one of them changes (copy on write, with an
// atomic count, so copies may live on different threads): the allocator hands
// the same resources to an agent's books, an offer and a decline filter, and a
// copy then costs a counter increment instead of heap copies of port
// intervals. References from pools() or ranges() stay valid until this value
// changes, as with any container.
class Resources {
 public:
  Resources();
  explicit Resources(DimensionsPtr dims);
  Resources(const Resources& other) noexcept;
  Resources(Resources&& other) noexcept;
  Resources& operator=(const Resources& other) noexcept;
  Resources& operator=(Resources&& other) noexcept;
  ~Resources();

  // Parses the text syntax. Names not in `dims` extend the table.
  // Throws ParseError naming the bad token and its position.
  static Resources parse(std::string_view text, DimensionsPtr dims = Dimensions::standard());

  // Unreserved scalars given as a vector over `dims`.
  static Resources fromScalars(const Scalars& scalars, DimensionsPtr dims = Dimensions::standard());

  const DimensionsPtr& dimensions() const { return dims_ ? dims_ : Dimensions::standard(); }
  std::span<const Pool> pools() const {
    return body_ ? std::span<const Pool>{body_->pools.data(), body_->pools.size()}
                 : std::span<const Pool>{};
  }

  // Scalar amount of `name` in `role`'s pool (0 when absent).
  double scalar(std::string_view name, std::string_view role = kUnreservedRole) const;
  // Sets a scalar amount; a new name extends the table.
  void setScalar(std::string_view name, double value, std::string_view role = kUnreservedRole);
  // The ranges of `name` in `role`'s pool (empty when absent).
  const Ranges& ranges(std::string_view name, std::string_view role = kUnreservedRole) const;
  void setRanges(std::string_view name, Ranges value, std::string_view role = kUnreservedRole);
  void setItems(std::string_view name, std::vector<std::string> items,
                std::string_view role = kUnreservedRole);

  // The scalars of one pool; zero when the pool is absent.
  Scalars scalars(std::string_view role = kUnreservedRole) const;
  // Sum of scalars over all pools.
  Scalars totalScalars() const;

  // The pool of `role` only, as Resources (empty when absent).
  Resources reserved(std::string_view role) const;
  Resources unreserved() const { return reserved(kUnreservedRole); }
  // Every pool moved to `role` ("*" to unreserve).
  Resources withRole(std::string_view role) const;

  bool empty() const { return body_ == nullptr || body_->pools.empty(); }
  // Asks the CPU to start loading the pools, for loops that will read many
  // values' pools in an order the hardware cannot guess.
  void prefetch() const noexcept {
    if (body_ != nullptr) {
      __builtin_prefetch(body_);
      __builtin_prefetch(reinterpret_cast<const char*>(body_) + 64);
    }
  }
  // The unreserved pool's scalars when they are all this holds (one pool,
  // "*", no ranges or sets), else null. Valid while this value is unchanged.
  // Inline: filter checks ask it of every group on an agent.
  const Scalars* plainScalars() const {
    if (body_ == nullptr || body_->pools.size() != 1) return nullptr;
    const Pool& only = body_->pools.front();
    if (!isUnreservedRole(only.role) || !only.ranges.empty() || !only.sets.empty()) return nullptr;
    return &only.scalars;
  }
  // Only unreserved scalars, or nothing: what a scalar vector describes whole.
  bool plain() const { return pools().empty() || plainScalars() != nullptr; }
  // Returns true iff, pool by pool, every scalar, range and set item of
  // `other` is present here.
  bool contains(const Resources& other) const;

  // Returns true iff both hold exactly the same pools and values over the
  // same table: a cheap structural test, stricter than ==.
  bool identical(const Resources& other) const;
  // Returns true iff both share one storage (one is an unchanged copy of the
  // other) over the same table; implies identical().
  bool sharesWith(const Resources& other) const {
    return body_ != nullptr && body_ == other.body_ && dims_ == other.dims_;
  }

  Resources& operator+=(const Resources& other);
  // Subtracts pool by pool; scalars clamp at zero, ranges and sets drop the
  // values they share. Empty pools disappear.
  Resources& operator-=(const Resources& other);
  // Lowers each scalar to what `limit` has of it in the same pool (none in a
  // pool `limit` lacks); ranges and sets stay. What a holder of `limit` can
  // lend when `contains`' tolerance let a request exceed it by a hair: the
  // lender then gets back exactly what it lent.
  Resources& capScalars(const Resources& limit);
  friend Resources operator+(Resources a, const Resources& b) { return a += b; }
  friend Resources operator-(Resources a, const Resources& b) { return a -= b; }
  friend bool operator==(const Resources& a, const Resources& b);

  // Same resources expressed over `dims`, which must contain every scalar name
  // in use. Throws InvalidArgument otherwise.
  Resources rebased(const DimensionsPtr& dims) const;

 private:
  using PoolList = boost::container::small_vector<Pool, 1>;
  // The pools, read-only (possibly shared).
  const PoolList& poolList() const;
  // The pools, unshared first (copied when another value shares them).
  PoolList& mutablePools();
  void release();
  Pool* findPool(std::string_view role);
  const Pool* findPool(std::string_view role) const;
  Pool& pool(std::string_view role);
  int dimension(std::string_view name);  // extends dims_ when needed
  // Makes dims_ cover other's names; returns `other` when its indices agree
  // with ours, else a re-indexed copy kept in `storage`.
  const Resources& aligned(const Resources& other, Resources& storage);
  void dropEmptyPools();
  const Dimensions& table() const { return dims_ ? *dims_ : *Dimensions::standard(); }
  // Null for the standard table, so that values over it (nearly all) are
  // created, moved, copied and destroyed without touching its atomic count.
  static DimensionsPtr canonical(DimensionsPtr dims);

  // The scalar names; null means Dimensions::standard() (see canonical).
  DimensionsPtr dims_;
  // Pools sorted by role, "*" first when present; null for none (no heap).
  detail::ResourcesBody* body_ = nullptr;
};

// Formats in the text syntax, e.g. "cpus:4;mem:8192;ports:[31000-32000]".
std::string toString(const Resources& resources);
std::string toString(const Scalars& scalars, const Dimensions& dims);
std::ostream& operator<<(std::ostream& out, const Resources& resources);

}  // namespace allot
