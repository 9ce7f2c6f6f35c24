#include "allot/core/huge_pages.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <new>

namespace allot {

namespace {

// Under AddressSanitizer the pool hands every block to operator new, so that
// each gets ASan's redzones: blocks cut from our own mappings have none, and
// an overrun of one would go unnoticed.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

}  // namespace

void* mapHugePages(std::size_t bytes, std::size_t alignment) {
  // Whole huge pages: Linux (6.7 and later) places such a mapping on a 2 MiB
  // boundary, so every page of it can be a huge one, and alignments up to
  // 2 MiB hold. libstdc++'s pools ask for more for large regions: then, as
  // on other kernels, the mapping is made larger and trimmed to it.
  const auto map = [](std::size_t n) {
    void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return static_cast<char*>(p);
  };
  char* p = map(bytes);
  if (reinterpret_cast<std::uintptr_t>(p) % alignment != 0) {
    ::munmap(p, bytes);
    char* wide = map(bytes + alignment);
    const std::uintptr_t at = reinterpret_cast<std::uintptr_t>(wide);
    p = wide + ((alignment - at % alignment) % alignment);
    if (p != wide) ::munmap(wide, static_cast<std::size_t>(p - wide));
    ::munmap(p + bytes, static_cast<std::size_t>(wide + bytes + alignment - (p + bytes)));
  }
#if defined(MADV_HUGEPAGE)
  (void)::madvise(p, bytes, MADV_HUGEPAGE);  // failure only means small pages
#endif
  return p;
}

void unmapHugePages(void* p, std::size_t bytes) noexcept {
  ::munmap(p, bytes);
}

void* HugePagePool::Regions::do_allocate(std::size_t bytes, std::size_t alignment) {
  const std::size_t length = wholeHugePages(bytes);
  mapped_.reserve(mapped_.size() + 1);  // nothing throws once mapped
  void* p = mapHugePages(length, alignment);
  mapped_.emplace_back(p, length);
  return p;
}

void HugePagePool::Regions::do_deallocate(void* p, std::size_t, std::size_t) {
  for (auto it = mapped_.begin(); it != mapped_.end(); ++it) {
    if (it->first == p) {
      unmapHugePages(it->first, it->second);
      mapped_.erase(it);
      return;
    }
  }
}

HugePagePool::Regions::~Regions() {
  for (const auto& [p, length] : mapped_) unmapHugePages(p, length);
}

// Regions from 2 MiB up (monotonic_buffer_resource asks for its next
// buffer 1.5 times the last); at most 8 blocks per pool chunk, so that a
// size class holds little it never used (the 5 Google parts' peak RSS: 87
// MB with libstdc++'s default chunking, 70 MB with 8).
HugePagePool::HugePagePool()
    : carved_(kHugePageBytes, &regions_),
      pool_(std::pmr::pool_options{8, kLargestPooled}, &carved_) {}

void* HugePagePool::do_allocate(std::size_t bytes, std::size_t alignment) {
  if (kSanitized) return std::pmr::new_delete_resource()->allocate(bytes, alignment);
  if (bytes > kLargestPooled) {
    return mapHugePages(wholeHugePages(bytes), std::max(alignment, kSmallPageBytes));
  }
  return pool_.allocate(bytes, alignment);
}

void HugePagePool::do_deallocate(void* p, std::size_t bytes, std::size_t alignment) {
  if (kSanitized) {
    std::pmr::new_delete_resource()->deallocate(p, bytes, alignment);
  } else if (bytes > kLargestPooled) {
    unmapHugePages(p, wholeHugePages(bytes));
  } else {
    pool_.deallocate(p, bytes, alignment);
  }
}

HugePagePool::~HugePagePool() = default;

}  // namespace allot
