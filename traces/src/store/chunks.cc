#include "chunks.h"

#include <isa-l/igzip_lib.h>
#include <sys/mman.h>
#include <zlib.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "allot/core/error.h"
#include "allot/core/huge_pages.h"
#include "allot/traces/h5.h"

namespace allot::traces::h5 {
namespace {

// Undoes HDF5's shuffle for elements of E bytes: gathers byte b of element i
// from plane b (b * n + i), one element at a time, so each of the E input
// streams and the output are read and written sequentially. Elements
// [first, elements) only: the SSE2 versions below do the rest.
template <std::size_t E>
void unshuffleTail(const unsigned char* data, std::size_t n, std::size_t first,
                   std::size_t elements, unsigned char* dest) {
  std::array<const unsigned char*, E> planes;
  for (std::size_t b = 0; b < E; ++b) planes[b] = data + b * n;
  for (std::size_t i = first; i < elements; ++i) {
    std::array<unsigned char, E> bytes;
    for (std::size_t b = 0; b < E; ++b) bytes[b] = planes[b][i];
    std::memcpy(dest + i * E, bytes.data(), E);
  }
}

template <std::size_t E>
void unshuffle(const unsigned char* data, std::size_t n, std::size_t elements,
               unsigned char* dest) {
  std::size_t i = 0;
#if defined(__SSE2__)
  // 16 elements at a time: a byte transpose of E planes of 16 bytes by
  // interleaving bytes, then 16-bit and (for 8-byte elements) 32-bit units.
  auto load = [&](std::size_t b) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + b * n + i));
  };
  auto store = [&](std::size_t k, __m128i value) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dest + i * E + 16 * k), value);
  };
  if constexpr (E == 8) {
    for (; i + 16 <= elements; i += 16) {
      const __m128i a0 = load(0), a1 = load(1), a2 = load(2), a3 = load(3);
      const __m128i a4 = load(4), a5 = load(5), a6 = load(6), a7 = load(7);
      const __m128i t0 = _mm_unpacklo_epi8(a0, a1), t1 = _mm_unpackhi_epi8(a0, a1);
      const __m128i t2 = _mm_unpacklo_epi8(a2, a3), t3 = _mm_unpackhi_epi8(a2, a3);
      const __m128i t4 = _mm_unpacklo_epi8(a4, a5), t5 = _mm_unpackhi_epi8(a4, a5);
      const __m128i t6 = _mm_unpacklo_epi8(a6, a7), t7 = _mm_unpackhi_epi8(a6, a7);
      const __m128i u0 = _mm_unpacklo_epi16(t0, t2), u1 = _mm_unpackhi_epi16(t0, t2);
      const __m128i u2 = _mm_unpacklo_epi16(t1, t3), u3 = _mm_unpackhi_epi16(t1, t3);
      const __m128i u4 = _mm_unpacklo_epi16(t4, t6), u5 = _mm_unpackhi_epi16(t4, t6);
      const __m128i u6 = _mm_unpacklo_epi16(t5, t7), u7 = _mm_unpackhi_epi16(t5, t7);
      store(0, _mm_unpacklo_epi32(u0, u4));
      store(1, _mm_unpackhi_epi32(u0, u4));
      store(2, _mm_unpacklo_epi32(u1, u5));
      store(3, _mm_unpackhi_epi32(u1, u5));
      store(4, _mm_unpacklo_epi32(u2, u6));
      store(5, _mm_unpackhi_epi32(u2, u6));
      store(6, _mm_unpacklo_epi32(u3, u7));
      store(7, _mm_unpackhi_epi32(u3, u7));
    }
  } else if constexpr (E == 4) {
    for (; i + 16 <= elements; i += 16) {
      const __m128i a0 = load(0), a1 = load(1), a2 = load(2), a3 = load(3);
      const __m128i t0 = _mm_unpacklo_epi8(a0, a1), t1 = _mm_unpackhi_epi8(a0, a1);
      const __m128i t2 = _mm_unpacklo_epi8(a2, a3), t3 = _mm_unpackhi_epi8(a2, a3);
      store(0, _mm_unpacklo_epi16(t0, t2));
      store(1, _mm_unpackhi_epi16(t0, t2));
      store(2, _mm_unpacklo_epi16(t1, t3));
      store(3, _mm_unpackhi_epi16(t1, t3));
    }
  }
#endif
  unshuffleTail<E>(data, n, i, elements, dest);
}

// Fills `bytes` bytes at `dest` with copies of the `size`-byte `value`: a
// typed loop for the sizes of the store's columns (a memcpy call per element
// cost about 5 ns: 0.25 ms per block of 50,000 rows of a column such as
// SWF's gang flags, all 1).
template <class T>
void fillTyped(unsigned char* dest, std::size_t bytes, const unsigned char* value) {
  T v;
  std::memcpy(&v, value, sizeof(T));
  const std::size_t n = bytes / sizeof(T);
  for (std::size_t i = 0; i < n; ++i) std::memcpy(dest + i * sizeof(T), &v, sizeof(T));
}

void fillWith(unsigned char* dest, std::size_t bytes, const unsigned char* value,
              std::size_t size) {
  switch (size) {
    case 1:
      std::memset(dest, value[0], bytes);
      return;
    case 2:
      return fillTyped<std::uint16_t>(dest, bytes, value);
    case 4:
      return fillTyped<std::uint32_t>(dest, bytes, value);
    case 8:
      return fillTyped<std::uint64_t>(dest, bytes, value);
    default:
      for (std::size_t at = 0; at < bytes; at += size) std::memcpy(dest + at, value, size);
  }
}

// Chunks inflate as raw deflate: the store checks the 2-byte zlib header
// itself (for its own error message) and skips the Adler-32 trailer.
// Verifying it (ISAL_ZLIB_NO_HDR_VER) costs about 5% of an HPC2N load
// (perf, ISA-L 2.30's adler32_avx2_4).
constexpr std::uint32_t kCheck = ISAL_DEFLATE;

std::uint32_t littleEndian32(const unsigned char* bytes) {
  return std::uint32_t{bytes[0]} | (std::uint32_t{bytes[1]} << 8) |
         (std::uint32_t{bytes[2]} << 16) | (std::uint32_t{bytes[3]} << 24);
}

// The two running sums folded toward 16 bits, as HDF5 folds them.
void fold(std::uint32_t& sum) {
  sum = (sum & 0xffff) + (sum >> 16);
}

// Fletcher-32 block sums, vectorized. Over a block of n words w_i HDF5's
// serial loop (sum1 += w; sum2 += sum1) adds S = sum of the w_i to sum1 and
// n * sum1 + T to sum2, T = sum over i of (n - i) * w_i. A step loads L
// words; lane l accumulates A_l, the sum of its words, and B_l, the sum of
// A_l after each step, so that over G steps B_l = sum over g of (G - g) *
// w_{g,l}, and T = L * sum B_l - sum p_l * A_l + (n - L * G) * S, p_l the
// lane's word position in a step. u32 arithmetic wraps, and T itself fits
// (HDF5 folds every 360 words for that). Each adds the first L * `steps`
// words of the block to `plain` (S) and `weighted` (T).
#if defined(__x86_64__)
void sse2Sums(const unsigned char* data, std::uint32_t n, std::uint32_t steps, std::uint32_t& plain,
              std::uint32_t& weighted) {
  const __m128i zero = _mm_setzero_si128();
  __m128i a0 = zero, a1 = zero, b0 = zero, b1 = zero;
  for (std::uint32_t g = 0; g < steps; ++g) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + 16 * g));
    v = _mm_or_si128(_mm_slli_epi16(v, 8), _mm_srli_epi16(v, 8));  // big endian
    a0 = _mm_add_epi32(a0, _mm_unpacklo_epi16(v, zero));           // words 0-3
    a1 = _mm_add_epi32(a1, _mm_unpackhi_epi16(v, zero));           // words 4-7
    b0 = _mm_add_epi32(b0, a0);
    b1 = _mm_add_epi32(b1, a1);
  }
  std::array<std::uint32_t, 8> a{}, b{};
  _mm_storeu_si128(reinterpret_cast<__m128i*>(a.data()), a0);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(a.data() + 4), a1);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(b.data()), b0);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(b.data() + 4), b1);
  std::uint32_t s = 0, t = 0;
  for (std::uint32_t l = 0; l < 8; ++l) {
    s += a[l];
    t += 8 * b[l] - l * a[l];
  }
  plain += s;
  weighted += t + (n - 8 * steps) * s;
}

__attribute__((target("avx2"))) void avx2Sums(const unsigned char* data, std::uint32_t n,
                                              std::uint32_t steps, std::uint32_t& plain,
                                              std::uint32_t& weighted) {
  const __m256i zero = _mm256_setzero_si256();
  __m256i a0 = zero, a1 = zero, b0 = zero, b1 = zero;
  for (std::uint32_t g = 0; g < steps; ++g) {
    __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + 32 * g));
    v = _mm256_or_si256(_mm256_slli_epi16(v, 8), _mm256_srli_epi16(v, 8));  // big endian
    // Unpacking works within each 128-bit half: a0 holds words 0-3 and
    // 8-11, a1 words 4-7 and 12-15.
    a0 = _mm256_add_epi32(a0, _mm256_unpacklo_epi16(v, zero));
    a1 = _mm256_add_epi32(a1, _mm256_unpackhi_epi16(v, zero));
    b0 = _mm256_add_epi32(b0, a0);
    b1 = _mm256_add_epi32(b1, a1);
  }
  std::array<std::uint32_t, 16> a{}, b{};
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(a.data()), a0);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(a.data() + 8), a1);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(b.data()), b0);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(b.data() + 8), b1);
  constexpr std::array<std::uint32_t, 16> kPosition{0, 1, 2, 3, 8,  9,  10, 11,
                                                    4, 5, 6, 7, 12, 13, 14, 15};
  std::uint32_t s = 0, t = 0;
  for (std::uint32_t l = 0; l < 16; ++l) {
    s += a[l];
    t += 16 * b[l] - kPosition[l] * a[l];
  }
  plain += s;
  weighted += t + (n - 16 * steps) * s;
}
#endif

}  // namespace

std::uint32_t fletcher32(const unsigned char* data, std::size_t bytes, SumPath path) {
#if defined(__x86_64__)
  const bool avx2 = path == SumPath::kBest && __builtin_cpu_supports("avx2");
  const bool sse2 = path != SumPath::kScalar;
#else
  (void)path;
#endif
  std::uint32_t sum1 = 0, sum2 = 0;
  std::size_t words = bytes / 2;
  while (words > 0) {
    const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(words, 360));
    std::uint32_t plain = 0, weighted = 0;
    std::uint32_t i = 0;
#if defined(__x86_64__)
    if (avx2) {
      avx2Sums(data, n, n / 16, plain, weighted);
      i = n / 16 * 16;
    }
    if (sse2 && n - i >= 8) {
      // The AVX2 block's tail, or the whole block: words from i on, whose
      // weights count from n - i.
      sse2Sums(data + 2 * i, n - i, (n - i) / 8, plain, weighted);
      i += (n - i) / 8 * 8;
    }
#endif
    for (; i < n; ++i) {
      const std::uint32_t word = (std::uint32_t{data[2 * i]} << 8) | data[2 * i + 1];
      plain += word;
      weighted += (n - i) * word;
    }
    sum2 += n * sum1 + weighted;
    sum1 += plain;
    fold(sum1);
    fold(sum2);
    data += 2 * std::size_t{n};
    words -= n;
  }
  if (bytes % 2 != 0) {
    sum1 += std::uint32_t{*data} << 8;
    sum2 += sum1;
    fold(sum1);
    fold(sum2);
  }
  fold(sum1);
  fold(sum2);
  return (sum2 << 16) | sum1;
}

Scratch& Scratch::operator=(Scratch&& other) noexcept {
  if (this != &other) {
    std::free(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

Scratch::~Scratch() {
  std::free(data_);
}

void Scratch::grow(std::size_t bytes) {
  std::free(data_);
  data_ = nullptr;
  size_ = 0;
  const bool huge = bytes >= kHugePageBytes / 8;
  const std::size_t align = huge ? kHugePageBytes : kSmallPageBytes;
  const std::size_t size = (bytes + align - 1) / align * align;
  auto* data = static_cast<unsigned char*>(std::aligned_alloc(align, size));
  if (data == nullptr) throw std::bad_alloc();
#if defined(MADV_HUGEPAGE)
  // A hint: without it (or where refused) the pages are small, as before.
  if (huge) (void)::madvise(data, size, MADV_HUGEPAGE);
#endif
  data_ = data;
  size_ = size;
}

ChunkReader::ChunkReader(hid_t dset, hid_t memType, hsize_t width, std::string path,
                         std::string name, Buffers& buffers)
    : dset_(dset), path_(std::move(path)), name_(std::move(name)), buffers_(buffers) {
  Handle dcpl(H5Dget_create_plist(dset), H5Pclose);
  Handle fileType(H5Dget_type(dset), H5Tclose);
  if (!dcpl.valid() || !fileType.valid() || H5Pget_layout(dcpl.get()) != H5D_CHUNKED ||
      H5Tequal(fileType.get(), memType) <= 0) {
    return;
  }
  const int rank = width == 0 ? 1 : 2;
  std::array<hsize_t, 2> chunk{0, 0};
  if (H5Pget_chunk(dcpl.get(), rank, chunk.data()) != rank || chunk[0] == 0 ||
      (rank == 2 && chunk[1] != width && chunk[1] != 1)) {
    return;
  }
  const int filters = H5Pget_nfilters(dcpl.get());
  for (int i = 0; i < filters; ++i) {
    unsigned flags = 0;
    std::size_t count = 0;
    std::array<unsigned, 8> values{};
    std::array<char, 64> filterName{};
    count = values.size();
    const H5Z_filter_t id =
        H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &count, values.data(),
                       filterName.size(), filterName.data(), nullptr);
    // Shuffle must come first (it is undone last), deflate after it, and
    // the checksum last (it is checked first).
    if (id == H5Z_FILTER_SHUFFLE && i == 0) {
      shuffleIndex_ = i;
    } else if (id == H5Z_FILTER_DEFLATE && deflateIndex_ < 0 && fletcherIndex_ < 0) {
      deflateIndex_ = i;
    } else if (id == H5Z_FILTER_FLETCHER32 && i == filters - 1) {
      fletcherIndex_ = i;
    } else {
      return;
    }
  }
  elementBytes_ = H5Tget_size(memType);
  width_ = width == 0 ? 1 : width;
  chunkWidth_ = rank == 2 ? chunk[1] : 1;
  rowBytes_ = elementBytes_ * static_cast<std::size_t>(width_);
  chunkRows_ = chunk[0];
  // HDF5's default fill value is all zero bytes.
  fill_.assign(elementBytes_, 0);
  H5D_fill_value_t defined = H5D_FILL_VALUE_UNDEFINED;
  if (H5Pfill_value_defined(dcpl.get(), &defined) < 0) return;
  if (defined == H5D_FILL_VALUE_USER_DEFINED &&
      H5Pget_fill_value(dcpl.get(), memType, fill_.data()) < 0) {
    return;
  }
  if (deflateIndex_ >= 0 && !buffers_.inflater) {
    // Default-initialized: isal_inflate_init sets what inflating reads.
    buffers_.inflater.reset(new inflate_state);
    isal_inflate_init(buffers_.inflater.get());
  }
  usable_ = true;
}

ChunkReader::~ChunkReader() = default;

void ChunkReader::InflaterDelete::operator()(inflate_state* state) const {
  delete state;
}

bool ChunkReader::read(std::uint64_t index, std::uint64_t rows, void* out, std::size_t slack) {
  auto* dest = static_cast<unsigned char*>(out);
  if (chunkWidth_ == width_) {
    // A run of unwritten chunks (a constant column) read into the same
    // buffer fills it once.
    const std::size_t wanted = rowBytes_ * rows;
    if (filled_ == dest && wanted <= filledBytes_ && !stored(index, 0)) return true;
    filled_ = nullptr;
    if (!readChunk(index, 0, rows, dest, slack)) return false;
    if (!lastStored_) {
      filled_ = dest;
      filledBytes_ = wanted;
    }
    return true;
  }
  // One chunk per column: decode each, then scatter it into the rows.
  unsigned char* column = buffers_.column.reserve(elementBytes_ * rows);
  for (hsize_t c = 0; c < width_; ++c) {
    if (!readChunk(index, c, rows, column, 0)) return false;
    const unsigned char* from = column;
    unsigned char* to = dest + c * elementBytes_;
    if (elementBytes_ == 8) {
      for (std::uint64_t i = 0; i < rows; ++i) std::memcpy(to + i * rowBytes_, from + i * 8, 8);
    } else {
      for (std::uint64_t i = 0; i < rows; ++i) {
        std::memcpy(to + i * rowBytes_, from + i * elementBytes_, elementBytes_);
      }
    }
  }
  return true;
}

bool ChunkReader::stored(std::uint64_t index, hsize_t column) const {
  const std::array<hsize_t, 2> offset{index * chunkRows_, column * chunkWidth_};
  hsize_t size = 0;
  unsigned filterMask = 0;
  haddr_t address = HADDR_UNDEF;
  // When HDF5 cannot tell, say stored: the caller then reads the chunk.
  return H5Dget_chunk_info_by_coord(dset_, offset.data(), &filterMask, &address, &size) < 0 ||
         size != 0;
}

bool ChunkReader::readChunk(std::uint64_t index, hsize_t column, std::uint64_t rows,
                            unsigned char* dest, std::size_t slack) {
  const std::array<hsize_t, 2> offset{index * chunkRows_, column * chunkWidth_};
  const std::size_t chunkRowBytes = elementBytes_ * static_cast<std::size_t>(chunkWidth_);
  const std::size_t wanted = chunkRowBytes * rows;
  // H5Dget_chunk_info_by_coord (not H5Dget_chunk_storage_size, which fails
  // for an unwritten chunk of a dataset that has others) says size 0 for a
  // chunk never written.
  hsize_t stored = 0;
  unsigned filterMask = 0;
  haddr_t address = HADDR_UNDEF;
  if (H5Dget_chunk_info_by_coord(dset_, offset.data(), &filterMask, &address, &stored) < 0) {
    return false;
  }
  lastStored_ = stored != 0;
  if (stored == 0) {
    // Never written: every element is the fill value.
    if (std::all_of(fill_.begin(), fill_.end(), [](unsigned char b) { return b == 0; })) {
      std::memset(dest, 0, wanted);
    } else {
      fillWith(dest, wanted, fill_.data(), elementBytes_);
    }
    return true;
  }
  auto corrupt = [&](const char* what) {
    throw Error(path_ + ": chunk " + std::to_string(index) + " of dataset '" + name_ + "' " + what +
                "; the file is corrupt");
  };
  // `bytes` bytes followed by their checksum, checked as HDF5's filter does.
  auto checkSum = [&](const unsigned char* bytes, std::size_t n) {
    if (fletcher32(bytes, n) != littleEndian32(bytes + n)) {
      corrupt("fails its Fletcher-32 checksum");
    }
  };
  const std::size_t chunkBytes = chunkRowBytes * chunkRows_;
  const bool shuffled =
      shuffleIndex_ >= 0 && (filterMask & (1u << shuffleIndex_)) == 0 && elementBytes_ > 1;
  const bool deflated = deflateIndex_ >= 0 && (filterMask & (1u << deflateIndex_)) == 0;
  const bool summed = fletcherIndex_ >= 0 && (filterMask & (1u << fletcherIndex_)) == 0;
  const std::size_t sum = summed ? kChecksumBytes : 0;
  if (!shuffled && !deflated && wanted == chunkBytes && stored == chunkBytes + sum &&
      slack >= sum) {
    // Stored as the values themselves (chunks that do not compress are
    // written with shuffle and deflate skipped): read straight into place,
    // the checksum into the slack after them.
    std::uint32_t mask = 0;
    check(H5Dread_chunk(dset_, H5P_DEFAULT, offset.data(), &mask, dest), path_,
          "cannot read a chunk of dataset '" + name_ + "'");
    if (mask == filterMask) {  // as the chunk index said; else decode below
      if (summed) checkSum(dest, chunkBytes);
      return true;
    }
  }
  unsigned char* raw = buffers_.raw.reserve(stored);
  std::uint32_t mask = 0;
  check(H5Dread_chunk(dset_, H5P_DEFAULT, offset.data(), &mask, raw), path_,
        "cannot read a chunk of dataset '" + name_ + "'");

  const unsigned char* data = raw;
  std::size_t size = stored;
  if (fletcherIndex_ >= 0 && (mask & (1u << fletcherIndex_)) == 0) {
    // Checked before anything reads the bytes, as HDF5's filter does.
    if (size < kChecksumBytes) corrupt("is too short for its checksum");
    size -= kChecksumBytes;
    checkSum(data, size);
  }
  if (deflateIndex_ >= 0 && (mask & (1u << deflateIndex_)) == 0) {
    // zlib wrapper: CMF/FLG header (deflate, no preset dictionary), then raw
    // deflate data, then the Adler-32 trailer (not checked, see kCheck).
    if (size < 2 || (data[0] & 0x0f) != 8 || ((data[0] << 8) | data[1]) % 31 != 0 ||
        (data[1] & 0x20) != 0) {
      corrupt("has no valid zlib header");
    }
    if (size - 2 > std::numeric_limits<std::uint32_t>::max() ||
        chunkBytes > std::numeric_limits<std::uint32_t>::max()) {
      corrupt("is too large");
    }
    // A chunk deflated unshuffled and wanted whole inflates straight into
    // place.
    const bool inPlace =
        (shuffleIndex_ < 0 || (mask & (1u << shuffleIndex_)) != 0 || elementBytes_ == 1) &&
        wanted == chunkBytes;
    unsigned char* inflated = inPlace ? dest : buffers_.inflated.reserve(chunkBytes);
    inflate_state& state = *buffers_.inflater;
    isal_inflate_reset(&state);
    state.crc_flag = kCheck;
    state.next_in = const_cast<std::uint8_t*>(data + 2);
    state.avail_in = static_cast<std::uint32_t>(size - 2);
    state.next_out = inflated;
    state.avail_out = static_cast<std::uint32_t>(chunkBytes);
    const int rc = isal_inflate_stateless(&state);
    if (rc != ISAL_DECOMP_OK || state.total_out != chunkBytes) corrupt("does not inflate");
    if (inPlace) return true;
    data = inflated;
    size = chunkBytes;
  }
  if (size != chunkBytes) corrupt("has the wrong size");

  if (shuffleIndex_ >= 0 && (mask & (1u << shuffleIndex_)) == 0 && elementBytes_ > 1) {
    // Shuffled layout: byte b of element i is at b * n + i (n elements).
    const std::size_t n = chunkBytes / elementBytes_;
    const std::size_t elements = wanted / elementBytes_;
    switch (elementBytes_) {
      case 8:
        unshuffle<8>(data, n, elements, dest);
        break;
      case 4:
        unshuffle<4>(data, n, elements, dest);
        break;
      case 2:
        unshuffle<2>(data, n, elements, dest);
        break;
      default:
        for (std::size_t b = 0; b < elementBytes_; ++b) {
          const unsigned char* plane = data + b * n;
          unsigned char* to = dest + b;
          for (std::size_t i = 0; i < elements; ++i) to[i * elementBytes_] = plane[i];
        }
    }
  } else {
    std::memcpy(dest, data, wanted);
  }
  return true;
}

ChunkWriter::ChunkWriter(int deflateLevel) : level_(std::clamp(deflateLevel, 0, 9)) {
  if (level_ > 0) levelBuffer_.resize(ISAL_DEF_LVL3_DEFAULT);
}

void ChunkWriter::write(hid_t dset, const hsize_t* offset, const void* data, std::size_t rows,
                        std::size_t chunkRows, std::size_t elementBytes, const void* fill,
                        const std::string& path, const std::string& name) {
  const std::size_t bytes = chunkRows * elementBytes;
  padded_.resize(bytes);
  std::memcpy(padded_.data(), data, rows * elementBytes);
  for (std::size_t i = rows; i < chunkRows; ++i) {
    std::memcpy(padded_.data() + i * elementBytes, fill, elementBytes);
  }
  // HDF5's shuffle: byte b of element i goes to b * chunkRows + i (elements
  // of one byte are left as they are).
  const unsigned char* shuffled = padded_.data();
  if (elementBytes > 1) {
    shuffled_.resize(bytes);
    for (std::size_t b = 0; b < elementBytes; ++b) {
      unsigned char* plane = shuffled_.data() + b * chunkRows;
      for (std::size_t i = 0; i < chunkRows; ++i) plane[i] = padded_[i * elementBytes + b];
    }
    shuffled = shuffled_.data();
  }
  const unsigned char* out = shuffled;
  std::size_t outBytes = bytes;
  std::uint32_t mask = 0;
  if (level_ > 0) {
    const auto keep = static_cast<std::size_t>(static_cast<double>(bytes) * kDeflateKeep);
    deflated_.resize(keep + 64);
    // ISA-L's deflated size of `input` into deflated_, or 0 when over `keep`.
    auto isal = [&](const unsigned char* input) -> std::size_t {
      // Zeroed first: isal_deflate_stateless_init leaves fields that
      // isal_deflate_stateless reads (valgrind), so two writes of the same
      // values could differ.
      isal_zstream stream{};
      isal_deflate_stateless_init(&stream);
      stream.level = level_ >= 3 ? 3 : 1;
      stream.level_buf = levelBuffer_.data();
      stream.level_buf_size = static_cast<std::uint32_t>(levelBuffer_.size());
      stream.gzip_flag = IGZIP_ZLIB;
      stream.end_of_stream = 1;
      stream.flush = NO_FLUSH;
      stream.next_in = const_cast<std::uint8_t*>(input);
      stream.avail_in = static_cast<std::uint32_t>(bytes);
      stream.next_out = deflated_.data();
      stream.avail_out = static_cast<std::uint32_t>(keep);
      const int rc = isal_deflate_stateless(&stream);
      if (rc == COMP_OK && stream.total_out <= keep) return stream.total_out;
      if (rc == STATELESS_OVERFLOW) return 0;
      throw Error(path + ": cannot deflate a chunk of dataset '" + name + "'");
    };
    // Shuffled or as they are, whichever ISA-L deflates smaller: shuffle
    // groups the bytes of equal significance (small integers, ids), while
    // runs of repeated wide values (SWF's requested times) deflate better
    // as they are (HPC2N's estimates: 16% -> 7.4%, inflating in half the
    // time, and nothing to unshuffle on load). The shuffle bit of the
    // filter mask says which (HDF5 and h5py honour it).
    const unsigned char* input = shuffled;
    std::size_t best = isal(shuffled);
    bool unshuffled = false;
    if (elementBytes > 1) {
      const std::size_t plain = isal(padded_.data());
      if (plain != 0 && (best == 0 || plain < best)) {
        input = padded_.data();
        best = plain;
        unshuffled = true;
      }
    }
    if (best != 0) {
      // Deflate pays. A chunk of long repeats (to at most kZlibBelow of its
      // size) is stored as zlib's level 1 gives it, whose streams ISA-L
      // inflates several times faster than its own (HPC2N's columns: 5.4 ->
      // 2.5 ms per load) for about the same size; zlib deflates 5-8x slower
      // than ISA-L, and on the chunks that compress less (time columns)
      // inflating its streams gains little (10-15%), so those keep ISA-L's.
      uLongf zlibBytes = compressBound(static_cast<uLong>(bytes));
      zlibBuffer_.resize(zlibBytes);
      if (static_cast<double>(best) <= static_cast<double>(bytes) * kZlibBelow &&
          compress2(zlibBuffer_.data(), &zlibBytes, input, static_cast<uLong>(bytes), 1) == Z_OK &&
          zlibBytes <= keep) {
        out = zlibBuffer_.data();
        outBytes = zlibBytes;
      } else {
        out = deflated_.data();
        outBytes = isal(input);
      }
      mask = unshuffled ? 1u << 0 : 0;
    } else {
      // Deflate (filter 1) skipped for this chunk, and shuffle (filter 0)
      // too, which only serves deflate: the chunk holds the values as they
      // are and is read straight into place (such chunks used to be stored
      // shuffled and were unshuffled on every load; readers of any version
      // honour the filter mask, as HDF5 and h5py do).
      out = padded_.data();
      mask = (1u << 0) | (1u << 1);
    }
  }
  // The checksum, as HDF5's fletcher32 filter appends it (little endian).
  framed_.resize(outBytes + kChecksumBytes);
  std::memcpy(framed_.data(), out, outBytes);
  const std::uint32_t sum = fletcher32(out, outBytes);
  for (std::size_t b = 0; b < kChecksumBytes; ++b) {
    framed_[outBytes + b] = static_cast<unsigned char>(sum >> (8 * b));
  }
  check(H5Dwrite_chunk(dset, H5P_DEFAULT, mask, offset, framed_.size(), framed_.data()), path,
        "cannot write a chunk of dataset '" + name + "'");
}

}  // namespace allot::traces::h5
