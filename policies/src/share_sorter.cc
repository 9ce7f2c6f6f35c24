#include "share_sorter.h"

#include <algorithm>

namespace allot {

void ShareSorter::clear() {
  for (std::uint32_t client : order_) present_[client] = false;
  order_.clear();
  unsorted_ = false;
}

bool ShareSorter::contains(std::uint32_t client) const {
  return client < present_.size() && present_[client];
}

void ShareSorter::sortIfNeeded() {
  if (!unsorted_) return;
  std::sort(order_.begin(), order_.end(),
            [this](std::uint32_t a, std::uint32_t b) { return before(a, b); });
  unsorted_ = false;
}

std::vector<std::uint32_t>::iterator ShareSorter::find(std::uint32_t client) {
  sortIfNeeded();
  // Keys are unique (the client breaks every tie), so this is the client.
  return std::lower_bound(order_.begin(), order_.end(), client,
                          [this](std::uint32_t a, std::uint32_t b) { return before(a, b); });
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
  if (!order_.empty() && !before(order_.back(), client)) unsorted_ = true;
  order_.push_back(client);
}

void ShareSorter::remove(std::uint32_t client) {
  if (!contains(client)) return;
  order_.erase(find(client));
  present_[client] = false;
}

void ShareSorter::update(std::uint32_t client, double share) {
  const auto at = find(client);
  const Entry old = keys_[client];
  keys_[client].share = share;
  auto less = [this](std::uint32_t a, std::uint32_t b) { return before(a, b); };
  if (old < keys_[client]) {
    // Later in the order: the ids it passes shift one place forward.
    const auto to = std::upper_bound(at + 1, order_.end(), client, less);
    std::move(at + 1, to, at);
    *(to - 1) = client;
  } else {
    // Earlier (or in place): the ids it passes shift one place back.
    const auto to = std::upper_bound(order_.begin(), at, client, less);
    std::move_backward(to, at, at + 1);
    *to = client;
  }
}

}  // namespace allot
