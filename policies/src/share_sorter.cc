#include "share_sorter.h"

#include <iterator>

namespace allot {

void ShareSorter::clear() {
  for (const Entry& e : order_) present_[e.client] = false;
  order_.clear();
}

bool ShareSorter::contains(std::uint32_t client) const {
  return client < present_.size() && present_[client];
}

void ShareSorter::add(std::uint32_t client, double share, std::uint64_t rank) {
  if (client >= where_.size()) {
    where_.resize(client + 1, order_.end());
    present_.resize(client + 1, false);
  }
  if (present_[client]) {
    update(client, share);
    return;
  }
  where_[client] = order_.insert({share, rank, client}).first;
  present_[client] = true;
}

void ShareSorter::remove(std::uint32_t client) {
  if (!contains(client)) return;
  order_.erase(where_[client]);
  present_[client] = false;
}

void ShareSorter::update(std::uint32_t client, double share) {
  const Order::iterator at = where_[client];
  Entry moved = *at;
  moved.share = share;
  // Still between its neighbours (a lone role, a small change): change the
  // key in place. The stored Entry is not const, and the order is kept.
  if ((at == order_.begin() || *std::prev(at) < moved) &&
      (std::next(at) == order_.end() || moved < *std::next(at))) {
    const_cast<Entry&>(*at).share = share;
    return;
  }
  auto node = order_.extract(at);
  node.value().share = share;
  where_[client] = order_.insert(std::move(node)).position;
}

}  // namespace allot
