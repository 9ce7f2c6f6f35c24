#include "chunks.h"

#include <isa-l/igzip_lib.h>

#include <array>
#include <cstring>
#include <limits>

#include "allot/core/error.h"
#include "h5.h"

namespace allot::traces::h5 {
namespace {

// Undoes HDF5's shuffle for elements of E bytes: gathers byte b of element i
// from plane b (b * n + i), one element at a time, so each of the E input
// streams and the output are read and written sequentially.
template <std::size_t E>
void unshuffle(const unsigned char* data, std::size_t n, std::size_t elements,
               unsigned char* dest) {
  std::array<const unsigned char*, E> planes;
  for (std::size_t b = 0; b < E; ++b) planes[b] = data + b * n;
  for (std::size_t i = 0; i < elements; ++i) {
    std::array<unsigned char, E> bytes;
    for (std::size_t b = 0; b < E; ++b) bytes[b] = planes[b][i];
    std::memcpy(dest + i * E, bytes.data(), E);
  }
}

// Chunks inflate as raw deflate: the store checks the 2-byte zlib header
// itself (for its own error message) and skips the Adler-32 trailer.
// Verifying it (ISAL_ZLIB_NO_HDR_VER) costs about 5% of an HPC2N load
// (perf, ISA-L 2.30's adler32_avx2_4).
constexpr std::uint32_t kCheck = ISAL_DEFLATE;

}  // namespace

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
      (rank == 2 && chunk[1] != width)) {
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
    // Shuffle must come first (it is undone last), deflate after it.
    if (id == H5Z_FILTER_SHUFFLE && i == 0) {
      shuffleIndex_ = i;
    } else if (id == H5Z_FILTER_DEFLATE && deflateIndex_ < 0) {
      deflateIndex_ = i;
    } else {
      return;
    }
  }
  elementBytes_ = H5Tget_size(memType);
  rowBytes_ = elementBytes_ * static_cast<std::size_t>(width == 0 ? 1 : width);
  chunkRows_ = chunk[0];
  if (deflateIndex_ >= 0) {
    inflater_ = std::make_unique<inflate_state>();
    isal_inflate_init(inflater_.get());
  }
  usable_ = true;
}

ChunkReader::~ChunkReader() = default;

bool ChunkReader::read(std::uint64_t index, std::uint64_t rows, void* out) {
  const std::array<hsize_t, 2> offset{index * chunkRows_, 0};
  hsize_t stored = 0;
  if (H5Dget_chunk_storage_size(dset_, offset.data(), &stored) < 0 || stored == 0) return false;
  std::vector<unsigned char>& raw = buffers_.raw;
  std::vector<unsigned char>& inflated = buffers_.inflated;
  if (raw.size() < stored) raw.resize(stored);
  std::uint32_t mask = 0;
  check(H5Dread_chunk(dset_, H5P_DEFAULT, offset.data(), &mask, raw.data()), path_,
        "cannot read a chunk of dataset '" + name_ + "'");
  const std::size_t chunkBytes = rowBytes_ * chunkRows_;
  auto corrupt = [&](const char* what) {
    throw Error(path_ + ": chunk " + std::to_string(index) + " of dataset '" + name_ + "' " + what +
                "; the file is corrupt");
  };

  const unsigned char* data = raw.data();
  std::size_t size = stored;
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
    if (inflated.size() < chunkBytes) inflated.resize(chunkBytes);
    inflate_state& state = *inflater_;
    isal_inflate_reset(&state);
    state.crc_flag = kCheck;
    state.next_in = const_cast<std::uint8_t*>(data + 2);
    state.avail_in = static_cast<std::uint32_t>(size - 2);
    state.next_out = inflated.data();
    state.avail_out = static_cast<std::uint32_t>(chunkBytes);
    const int rc = isal_inflate_stateless(&state);
    if (rc != ISAL_DECOMP_OK || state.total_out != chunkBytes) corrupt("does not inflate");
    data = inflated.data();
    size = chunkBytes;
  }
  if (size != chunkBytes) corrupt("has the wrong size");

  auto* dest = static_cast<unsigned char*>(out);
  const std::size_t wanted = rowBytes_ * rows;
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

}  // namespace allot::traces::h5
