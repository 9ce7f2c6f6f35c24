#pragma once

#include <compare>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>

namespace allot {

// A typed string id: an AgentId cannot be passed where a FrameworkId is wanted.
template <class Tag>
class Id {
 public:
  Id() = default;
  explicit Id(std::string value) : value_(std::move(value)) {}
  const std::string& str() const { return value_; }
  bool empty() const { return value_.empty(); }
  friend auto operator<=>(const Id&, const Id&) = default;
  friend bool operator==(const Id&, const Id&) = default;

 private:
  std::string value_;
};

template <class Tag>
std::ostream& operator<<(std::ostream& out, const Id<Tag>& id) {
  return out << id.str();
}

using AgentId = Id<struct AgentIdTag>;
using FrameworkId = Id<struct FrameworkIdTag>;
using TaskId = Id<struct TaskIdTag>;
using OfferId = Id<struct OfferIdTag>;

}  // namespace allot

template <class Tag>
struct std::hash<allot::Id<Tag>> {
  std::size_t operator()(const allot::Id<Tag>& id) const noexcept {
    return std::hash<std::string>{}(id.str());
  }
};
