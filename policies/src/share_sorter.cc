#include "share_sorter.h"

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
  auto node = order_.extract(where_[client]);
  node.value().share = share;
  where_[client] = order_.insert(std::move(node)).position;
}

}  // namespace allot
