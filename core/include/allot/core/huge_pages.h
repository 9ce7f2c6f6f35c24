#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <vector>

namespace allot {

// Asks for transparent huge pages (a hint, where the kernel allows them on
// request) for a large array about to be filled. Big tables are fresh
// memory: on our VMs each first touch of a 4 KiB page costs 2.5-10 us, which
// was about half of loading Google's 45 MB of tasks from the store, 70% of
// parsing HPC2N's SWF log and a fifth of replaying it (the task records).
inline void adviseHugePages(const void* data, std::size_t bytes) {
#if defined(MADV_HUGEPAGE)
  constexpr std::uintptr_t kHuge = std::uintptr_t{2} << 20;
  const auto first = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t begin = (first + kHuge - 1) & ~(kHuge - 1);
  const std::uintptr_t end = (first + bytes) & ~(kHuge - 1);
  if (end > begin) {
    // Failure only means small pages, as without the hint.
    (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
  }
#else
  (void)data;
  (void)bytes;
#endif
}

// Gives `v` room for at least `n` elements in fresh memory advised for huge
// pages before its first touch (the reserve a plain reserve() would do, on
// up to 512x fewer page faults). Elements move; nothing when there is room.
template <class T, class A>
void reserveHuge(std::vector<T, A>& v, std::size_t n) {
  if (n <= v.capacity()) return;
  std::vector<T, A> grown(v.get_allocator());
  grown.reserve(n);
  adviseHugePages(grown.data(), grown.capacity() * sizeof(T));
  grown.insert(grown.end(), std::make_move_iterator(v.begin()), std::make_move_iterator(v.end()));
  v.swap(grown);
}

// Makes room for one more element of `v` as push_back would (doubling), but
// through reserveHuge.
template <class T, class A>
void growHuge(std::vector<T, A>& v) {
  if (v.size() == v.capacity()) reserveHuge(v, std::max<std::size_t>(2 * v.capacity(), 1024));
}

}  // namespace allot
