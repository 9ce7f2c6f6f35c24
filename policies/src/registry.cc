#include "allot/policies/registry.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <limits>

#include "allot/core/error.h"
#include "allot/core/text.h"
#include "backfill.h"
#include "drf.h"
#include "fifo.h"
#include "fit.h"
#include "flow.h"
#include "queues.h"
#include "random.h"
#include "sparrow.h"
#include "tetris.h"

namespace allot {
namespace {

// Parses all of `text` as a 64-bit integer: std::errc() when it is one,
// result_out_of_range when it is one too large either way, else
// invalid_argument.
std::errc parseInt64(const std::string& text, std::int64_t& value) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc() && end != text.data() + text.size()) return std::errc::invalid_argument;
  return ec;
}

const std::vector<ParamSpec>& sharedParams() {
  static const std::vector<ParamSpec> params = {
      {"min_allocatable", "cpus:0.01|mem:32",
       "smallest offer worth making: any one of these '|'-separated amounts"}};
  return params;
}

std::vector<PolicyInfo> makeTable() {
  std::vector<PolicyInfo> table = {DrfAllocator::info(),
                                   FifoAllocator::info(),
                                   RandomAllocator::info(),
                                   BackfillAllocator::easyInfo(),
                                   BackfillAllocator::conservativeInfo(),
                                   QueueAllocator::capacityInfo(),
                                   QueueAllocator::fairInfo(),
                                   TetrisAllocator::info(),
                                   FitAllocator::bestFitInfo(),
                                   FitAllocator::worstFitInfo(),
                                   FlowAllocator::info(),
                                   SparrowAllocator::info()};
  for (PolicyInfo& info : table) {
    for (const ParamSpec& shared : sharedParams()) info.params.push_back(shared);
  }
  return table;
}

}  // namespace

Params Params::parse(std::string_view text) {
  Params params;
  forEachPiece(text, ',', [&](std::string_view item, std::size_t) {
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos || trim(item.substr(0, eq)).empty()) {
      throw ParseError(fmt::format("bad policy parameter '{}': expected name=value", item));
    }
    params.set(std::string(trim(item.substr(0, eq))), std::string(trim(item.substr(eq + 1))));
  });
  return params;
}

std::string Params::getString(std::string_view name, std::string_view fallback) const {
  auto it = values_.find(std::string(name));
  return it == values_.end() ? std::string(fallback) : it->second;
}

double Params::getDouble(std::string_view name, double fallback) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end()) return fallback;
  double value = 0;
  const std::string& text = it->second;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    throw InvalidArgument(fmt::format("parameter {}: '{}' is not a number", name, text));
  }
  return value;
}

std::int64_t Params::getInt(std::string_view name, std::int64_t fallback) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end()) return fallback;
  std::int64_t value = 0;
  const std::string& text = it->second;
  const std::errc ec = parseInt64(text, value);
  if (ec == std::errc::result_out_of_range) {
    throw InvalidArgument(fmt::format("parameter {}: '{}' is out of range ({} to {})", name, text,
                                      std::numeric_limits<std::int64_t>::min(),
                                      std::numeric_limits<std::int64_t>::max()));
  }
  if (ec != std::errc()) {
    throw InvalidArgument(fmt::format("parameter {}: '{}' is not an integer", name, text));
  }
  return value;
}

std::uint64_t Params::getSeed(std::string_view name, std::uint64_t fallback) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end()) return fallback;
  // --seed's range, so that a seed means the same given either way.
  std::int64_t value = 0;
  const std::string& text = it->second;
  if (parseInt64(text, value) != std::errc() || value < 0) {
    throw InvalidArgument(fmt::format("parameter {}: '{}' is not a whole number from 0 to {}", name,
                                      text, std::numeric_limits<std::int64_t>::max()));
  }
  return static_cast<std::uint64_t>(value);
}

bool Params::getBool(std::string_view name, bool fallback) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end()) return fallback;
  const std::string& v = it->second;
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  throw InvalidArgument(
      fmt::format("parameter {}: '{}' is not true or false (nor 1/0, yes/no, on/off)", name, v));
}

std::span<const PolicyInfo> builtinPolicies() {
  static const std::vector<PolicyInfo> table = makeTable();  // immutable after construction
  return table;
}

std::unique_ptr<Allocator> makeAllocator(std::string_view name, const Params& params) {
  std::vector<std::string> names;
  for (const PolicyInfo& info : builtinPolicies()) {
    names.push_back(info.name);
    if (info.name != name) continue;
    for (const auto& [key, value] : params.values()) {
      bool known = false;
      for (const ParamSpec& spec : info.params) known = known || spec.name == key;
      if (!known) {
        std::vector<std::string> accepted;
        for (const ParamSpec& spec : info.params) accepted.push_back(spec.name);
        throw InvalidArgument(fmt::format("policy '{}' has no parameter '{}' (it takes: {})", name,
                                          key, fmt::join(accepted, ", ")));
      }
    }
    return info.make(params);
  }
  throw NotFound(fmt::format("unknown policy '{}' (known: {})", name, fmt::join(names, ", ")));
}

AllocatorOptions parseAllocatorOptions(const Params& params) {
  AllocatorOptions options;
  const std::string text = params.getString("min_allocatable", "cpus:0.01|mem:32");
  forEachPiece(text, '|', [&](std::string_view item, std::size_t) {
    const Resources amount = Resources::parse(item);
    if (!amount.dimensions()->isPrefixOf(*Dimensions::standard()) &&
        !Dimensions::standard()->isPrefixOf(*amount.dimensions())) {
      throw InvalidArgument(fmt::format("min_allocatable: '{}' uses unknown resources", item));
    }
    options.minAllocatable.push_back(amount.totalScalars());
  });
  return options;
}

}  // namespace allot
