#include "share_sorter.h"

#include <algorithm>

namespace allot {

void ShareSorter::clear() {
  for (std::uint32_t client : order_) present_[client] = false;
  order_.clear();
  sorted_ = 0;
  extent_ = 0;
}

bool ShareSorter::contains(std::uint32_t client) const {
  return client < present_.size() && present_[client];
}

void ShareSorter::sortPrefix(std::size_t n) {
  if (n <= sorted_) return;
  // At least twice the last sort since the order was filled (or 16): a walk
  // down the order, or grants that move its front out one by one, then cost
  // O(log size) partitions of the rest, not one per few steps.
  n = std::min(order_.size(), std::max({n, 2 * extent_, std::size_t{16}}));
  extent_ = n;
  auto less = [this](std::uint32_t a, std::uint32_t b) { return before(a, b); };
  const auto from = order_.begin() + static_cast<std::ptrdiff_t>(sorted_);
  const auto to = order_.begin() + static_cast<std::ptrdiff_t>(n);
  if (to != order_.end()) std::nth_element(from, to, order_.end(), less);
  std::sort(from, to, less);
  sorted_ = n;
}

std::size_t ShareSorter::find(std::uint32_t client) const {
  auto less = [this](std::uint32_t a, std::uint32_t b) { return before(a, b); };
  if (sorted_ > 0 && !before(order_[sorted_ - 1], client)) {
    // Keys are unique (the client breaks every tie), so this is the client.
    return static_cast<std::size_t>(
        std::lower_bound(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(sorted_),
                         client, less) -
        order_.begin());
  }
  return static_cast<std::size_t>(
      std::find(order_.begin() + static_cast<std::ptrdiff_t>(sorted_), order_.end(), client) -
      order_.begin());
}

void ShareSorter::leavePrefix(std::size_t at) {
  const std::uint32_t client = order_[at];
  std::move(order_.begin() + static_cast<std::ptrdiff_t>(at) + 1,
            order_.begin() + static_cast<std::ptrdiff_t>(sorted_),
            order_.begin() + static_cast<std::ptrdiff_t>(at));
  --sorted_;
  order_[sorted_] = client;
}

void ShareSorter::joinPrefix() {
  const std::uint32_t client = order_[sorted_];
  if (sorted_ + 1 == order_.size() || (sorted_ > 0 && before(client, order_[sorted_ - 1]))) {
    // Below the prefix's last entry (or the last client): its place is in it.
    auto less = [this](std::uint32_t a, std::uint32_t b) { return before(a, b); };
    const auto end = order_.begin() + static_cast<std::ptrdiff_t>(sorted_);
    const auto to = std::upper_bound(order_.begin(), end, client, less);
    std::move_backward(to, end, end + 1);
    *to = client;
    ++sorted_;
  }
}

void ShareSorter::add(std::uint32_t client, double share, std::uint64_t rank) {
  if (client >= keys_.size()) {
    keys_.resize(client + 1);
    present_.resize(client + 1, false);
  }
  if (present_[client]) {
    update(client, share);
    return;
  }
  keys_[client] = {share, rank, client};
  present_[client] = true;
  order_.push_back(client);
  if (sorted_ + 1 == order_.size() && (sorted_ == 0 || before(order_[sorted_ - 1], client))) {
    ++sorted_;  // after every other: the whole order stays sorted
  } else if (sorted_ > 0 && before(client, order_[sorted_ - 1])) {
    // Below the prefix's last entry: keep the part of the prefix below it
    // (filled anew every round, the order is read after all adds).
    auto less = [this](std::uint32_t a, std::uint32_t b) { return before(a, b); };
    sorted_ = static_cast<std::size_t>(
        std::lower_bound(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(sorted_),
                         client, less) -
        order_.begin());
  }
}

void ShareSorter::remove(std::uint32_t client) {
  if (!contains(client)) return;
  std::size_t at = find(client);
  if (at < sorted_) {
    leavePrefix(at);
    at = sorted_;
  }
  // The rest is in no order: the last client fills the gap.
  order_[at] = order_.back();
  order_.pop_back();
  present_[client] = false;
}

void ShareSorter::update(std::uint32_t client, double share) {
  std::size_t at = find(client);
  keys_[client].share = share;
  if (at < sorted_) {
    leavePrefix(at);
  } else {
    std::swap(order_[at], order_[sorted_]);
  }
  joinPrefix();
}

}  // namespace allot
