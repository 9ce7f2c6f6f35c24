#pragma once

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "allot/policies/allocator.h"

namespace allot {

// One tunable of a policy, as listed by `allot policies`.
struct ParamSpec {
  std::string name;
  std::string defaultValue;
  std::string help;
};

// Policy parameters as text ("name=value"), checked against the policy's
// ParamSpecs when the policy is made. Getters throw InvalidArgument naming the
// parameter and the bad value.
class Params {
 public:
  Params() = default;
  // Parses "a=1,b=x". Throws ParseError naming the bad item.
  static Params parse(std::string_view text);

  void set(std::string name, std::string value) { values_[std::move(name)] = std::move(value); }
  bool has(std::string_view name) const { return values_.find(std::string(name)) != values_.end(); }
  std::string getString(std::string_view name, std::string_view fallback) const;
  double getDouble(std::string_view name, double fallback) const;
  std::int64_t getInt(std::string_view name, std::int64_t fallback) const;
  // A random seed: a whole number from 0 to 2^63 - 1, the range of
  // `allot sim --seed` and Python's `seed` (a negative one would wrap).
  std::uint64_t getSeed(std::string_view name, std::uint64_t fallback) const;
  bool getBool(std::string_view name, bool fallback) const;
  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  std::map<std::string, std::string> values_;
};

struct PolicyInfo {
  std::string name;
  std::string summary;
  std::vector<ParamSpec> params;  // the policy's own and the shared ones
  std::function<std::unique_ptr<Allocator>(const Params&)> make;
  // Pending instances frameworks should publish for this policy to work as
  // designed (a host's demand window, e.g. `allot sim --demand`, when the
  // user gives none); 0: the policy needs no published demand.
  std::uint32_t demand = 0;
};

// Every built-in policy, in a fixed order. A constant table: policies written
// in Python are passed as objects, not registered here.
std::span<const PolicyInfo> builtinPolicies();

// Makes the policy called `name`. Throws NotFound listing the known names for
// an unknown policy, InvalidArgument for an unknown or bad parameter.
std::unique_ptr<Allocator> makeAllocator(std::string_view name, const Params& params = {});

// Parses the shared option min_allocatable, e.g. "cpus:0.01|mem:32".
AllocatorOptions parseAllocatorOptions(const Params& params);

}  // namespace allot
