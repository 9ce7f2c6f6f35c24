#include "share_sorter.h"

#include <algorithm>

namespace allot {

void ShareSorter::clear() {
  for (const Entry& e : entries_) where_[e.client] = 0;
  entries_.clear();
}

bool ShareSorter::contains(std::uint32_t client) const {
  return client < where_.size() && where_[client] != 0;
}

std::size_t ShareSorter::position(std::uint32_t client) const {
  return where_[client] - 1;
}

void ShareSorter::add(std::uint32_t client, double share, std::uint64_t rank) {
  if (client >= where_.size()) where_.resize(client + 1, 0);
  if (where_[client] != 0) {
    update(client, share);
    return;
  }
  const Entry entry{share, rank, client};
  auto at = std::upper_bound(entries_.begin(), entries_.end(), entry, before);
  const auto index = static_cast<std::size_t>(at - entries_.begin());
  entries_.insert(at, entry);
  for (std::size_t i = index; i < entries_.size(); ++i) {
    where_[entries_[i].client] = static_cast<std::uint32_t>(i + 1);
  }
}

void ShareSorter::remove(std::uint32_t client) {
  if (!contains(client)) return;
  const std::size_t index = position(client);
  entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(index));
  where_[client] = 0;
  for (std::size_t i = index; i < entries_.size(); ++i) {
    where_[entries_[i].client] = static_cast<std::uint32_t>(i + 1);
  }
}

void ShareSorter::update(std::uint32_t client, double share) {
  std::size_t i = position(client);
  Entry entry = entries_[i];
  entry.share = share;
  // Bubble toward the new place; shares change a little per grant, so the
  // distance moved is usually short.
  while (i + 1 < entries_.size() && before(entries_[i + 1], entry)) {
    entries_[i] = entries_[i + 1];
    where_[entries_[i].client] = static_cast<std::uint32_t>(i + 1);
    ++i;
  }
  while (i > 0 && before(entry, entries_[i - 1])) {
    entries_[i] = entries_[i - 1];
    where_[entries_[i].client] = static_cast<std::uint32_t>(i + 1);
    --i;
  }
  entries_[i] = entry;
  where_[client] = static_cast<std::uint32_t>(i + 1);
}

}  // namespace allot
