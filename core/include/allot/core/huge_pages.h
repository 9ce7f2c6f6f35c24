#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory_resource>
#include <utility>
#include <vector>

namespace allot {

inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;
inline constexpr std::size_t kSmallPageBytes = 4096;

// Asks for transparent huge pages (a hint, where the kernel allows them on
// request) for a large array about to be filled. Big tables are fresh
// memory: on our VMs each first touch of a 4 KiB page costs 2.5-12 us, which
// was about half of loading Google's 45 MB of tasks from the store, 70% of
// parsing HPC2N's SWF log and a fifth of replaying it (the task records).
// The advice covers every page the array overlaps, so that a mapping made
// for the array alone (see hugeCapacity) is advised whole and can be backed
// by huge pages from its first byte to its last; the edge pages it shares
// with an allocator's header or a neighbour only get the hint too.
inline void adviseHugePages(const void* data, std::size_t bytes) {
#if defined(MADV_HUGEPAGE)
  if (bytes < kHugePageBytes) return;
  const auto first = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t begin = first & ~(kSmallPageBytes - 1);
  const std::uintptr_t end = (first + bytes + kSmallPageBytes - 1) & ~(kSmallPageBytes - 1);
  // Failure only means small pages, as without the hint.
  (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
  // The allocator wrote its header into the first page before this advice,
  // so that page is a small one, and a huge page can no longer be faulted in
  // over its 2 MiB: the first 2 MiB of every table took 512 small faults
  // (a sixth of HPC2N's store load). Collapsing that region now makes it one
  // huge page (Linux 6.1 and later; older kernels refuse, and it stays as
  // it was). Only when the array starts in the region's first page, as in a
  // mapping of its own, so that the region is nearly all the array's.
  constexpr int kCollapse = 25;  // MADV_COLLAPSE, not named by glibc 2.36
  const std::uintptr_t region = first & ~(kHugePageBytes - 1);
  if (first - region < kSmallPageBytes && region + kHugePageBytes <= end) {
    (void)::madvise(reinterpret_cast<void*>(region), kHugePageBytes, kCollapse);
  }
#else
  (void)data;
  (void)bytes;
#endif
}

// A capacity of at least `n` elements of T whose array fills its mapping to
// a whole number of huge pages. glibc serves a large request with a mapping
// of its own (a 16-byte header, the length rounded to pages), and Linux
// (6.7 and later) places an anonymous mapping whose length is a multiple of
// 2 MiB on a 2 MiB boundary. With the length of the request alone, the first
// and last 2 MiB of the mapping were not whole huge pages: up to 1,024 small
// page faults per array (HPC2N's store load touched 2,800 pages, most of them
// at such edges). The extra capacity is address space, touched only if used.
template <class T>
std::size_t hugeCapacity(std::size_t n) {
  const std::size_t bytes = n * sizeof(T);
  if (bytes < kHugePageBytes) return n;
  constexpr std::size_t kHeaderRoom = 64;  // glibc's chunk header, with room to spare
  const std::size_t mapped =
      (bytes + kHeaderRoom + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  return std::max(n, (mapped - kHeaderRoom) / sizeof(T));
}

// Gives `v` room for at least `n` elements in fresh memory advised for huge
// pages before its first touch (the reserve a plain reserve() would do, on
// up to 512x fewer page faults). Elements move; nothing when there is room.
template <class T, class A>
void reserveHuge(std::vector<T, A>& v, std::size_t n) {
  if (n <= v.capacity()) return;
  std::vector<T, A> grown(v.get_allocator());
  grown.reserve(hugeCapacity<T>(n));
  adviseHugePages(grown.data(), grown.capacity() * sizeof(T));
  grown.insert(grown.end(), std::make_move_iterator(v.begin()), std::make_move_iterator(v.end()));
  v.swap(grown);
}

// Makes room for `more` elements of `v` as push_back would (doubling), but
// through reserveHuge.
template <class T, class A>
void growHuge(std::vector<T, A>& v, std::size_t more = 1) {
  if (v.size() + more > v.capacity()) {
    reserveHuge(v, std::max({v.size() + more, 2 * v.capacity(), std::size_t{1024}}));
  }
}

// `bytes` rounded up to whole huge pages.
constexpr std::size_t wholeHugePages(std::size_t bytes) {
  return (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
}

// Maps `bytes` (a multiple of kHugePageBytes) of fresh memory aligned to
// `alignment` (a power of two), advised for huge pages before its first
// touch. Throws std::bad_alloc.
void* mapHugePages(std::size_t bytes, std::size_t alignment = kSmallPageBytes);
void unmapHugePages(void* p, std::size_t bytes) noexcept;

// A byte buffer of whole huge pages in a mapping of its own. Unlike a
// vector given reserveHuge, it does not depend on where glibc puts a large
// block: once a large block has been freed, glibc serves later ones from
// its heaps (its mmap threshold rises), where they need not start on a
// 2 MiB boundary, and then mostly sit on small pages (the gzip blocks of
// Google parts 1-4 took 1,000 small page faults each).
class HugeBuffer {
 public:
  HugeBuffer() = default;
  // At least `bytes`, rounded up to whole huge pages.
  explicit HugeBuffer(std::size_t bytes)
      : capacity_(wholeHugePages(bytes)),
        data_(capacity_ == 0 ? nullptr : static_cast<char*>(mapHugePages(capacity_))) {}
  HugeBuffer(HugeBuffer&& other) noexcept
      : capacity_(std::exchange(other.capacity_, 0)), data_(std::exchange(other.data_, nullptr)) {}
  HugeBuffer& operator=(HugeBuffer&& other) noexcept {
    if (this != &other) {
      if (data_ != nullptr) unmapHugePages(data_, capacity_);
      capacity_ = std::exchange(other.capacity_, 0);
      data_ = std::exchange(other.data_, nullptr);
    }
    return *this;
  }
  ~HugeBuffer() {
    if (data_ != nullptr) unmapHugePages(data_, capacity_);
  }

  char* data() const { return data_; }
  std::size_t capacity() const { return capacity_; }

 private:
  std::size_t capacity_ = 0;
  char* data_ = nullptr;
};

// Memory for many small, growing arrays (a reader's state per open job) on
// huge pages. On our VMs first touches of 4 KiB pages were a quarter of the
// Google reader's main thread; glibc's heap gets huge pages only with the
// tunable of cli/huge_heap.h, which a library cannot set.
// - Blocks up to kLargestPooled bytes come from pools (a freed block serves
//   later requests of its size), cut from regions that grow 2 MiB, 3 MiB,
//   ... (as monotonic_buffer_resource grows) and go back to the system when
//   the pool is destroyed.
// - Larger blocks are mappings of their own (see HugeBuffer), unmapped when
//   freed: held in the pools, a table that doubled past them would keep
//   every size it passed through.
// Memory therefore stays bounded by the most the arrays held at once (plus
// the pools' part-used chunks), whatever the input's length. Not thread
// safe.
class HugePagePool final : public std::pmr::memory_resource {
 public:
  static constexpr std::size_t kLargestPooled = std::size_t{1} << 20;

  HugePagePool();
  HugePagePool(const HugePagePool&) = delete;
  HugePagePool& operator=(const HugePagePool&) = delete;
  ~HugePagePool() override;

 private:
  // Regions mapped for the pools.
  class Regions final : public std::pmr::memory_resource {
   public:
    Regions() = default;
    Regions(const Regions&) = delete;
    Regions& operator=(const Regions&) = delete;
    ~Regions() override;

   private:
    void* do_allocate(std::size_t bytes, std::size_t alignment) override;
    void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override;
    bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
      return this == &other;
    }
    std::vector<std::pair<void*, std::size_t>> mapped_;
  };

  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* p, std::size_t bytes, std::size_t alignment) override;
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  Regions regions_;
  std::pmr::monotonic_buffer_resource carved_;
  std::pmr::unsynchronized_pool_resource pool_;
};

}  // namespace allot
