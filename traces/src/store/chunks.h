#pragma once

#include <hdf5.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

struct inflate_state;  // ISA-L (isa-l/igzip_lib.h)

namespace allot::traces::h5 {

// Reads the chunks of a dataset as stored (H5Dread_chunk) and undoes the
// store's filters (shuffle, then deflate) itself, into buffers it reuses.
//
// Why: going through H5Dread costs, per chunk, fresh filter buffers from
// malloc (page faults on every chunk, which dominate loading on VMs) and an
// Adler-32 pass over the inflated bytes. Here ISA-L's igzip (about 3x faster
// than zlib) inflates raw deflate (the 2-byte zlib header is checked, the
// Adler-32 trailer is not: a corrupt deflate stream is still detected by
// inflate, a bit flip that keeps the stream valid is not), into one scratch
// buffer reused for every chunk.
//
// Only datasets written the way writeWorkloadStore writes them qualify
// (chunked along rows, whole rows per chunk or, for 2-D, one column per
// chunk; native file type; filters among shuffle, deflate and Fletcher-32,
// in that order); usable() is false otherwise and the caller falls back to
// H5Dread. A chunk with a Fletcher-32 checksum (every chunk from store
// version 6) is checked before it is decoded, as HDF5's filter checks it:
// a changed byte is an Error, not a changed value. Chunks never written
// (version 3 stores skip chunks that hold only the fill value) are filled
// with the dataset's fill value here. Not thread safe; one per open dataset.
// Scratch memory for decoded chunks and blocks of rows: grows to the size
// asked (its contents do not survive growth). Blocks of 256 KiB and more are
// 2 MiB aligned with transparent huge pages asked for (madvise): a load
// touches fresh scratch of several MB, and on our VMs a first touch costs
// about 3 us per 4 KiB page (about 0.75 ms per MB) against about 0.1 ms per
// MB for a huge page; that was about 12% of loading Google's 5 parts.
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  Scratch(Scratch&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  Scratch& operator=(Scratch&& other) noexcept;
  ~Scratch();

  // At least `bytes` bytes (unchanged while big enough); throws
  // std::bad_alloc.
  unsigned char* reserve(std::size_t bytes) {
    if (bytes > size_) grow(bytes);
    return data_;
  }

 private:
  void grow(std::size_t bytes);

  unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
};

// Which instructions fletcher32 sums with: the widest the CPU has, or a
// narrower set (tests check each against HDF5's word-by-word sum).
enum class SumPath : std::uint8_t { kBest, kSse2, kScalar };

// HDF5's Fletcher-32 checksum of `bytes` bytes (H5_checksum_fletcher32,
// which the library does not export; its fletcher32 filter appends it, little
// endian, to each chunk). Bit for bit the same value; sums a block of 360
// 16-bit words at a time, as HDF5 does, but without the serial dependency,
// 8 (SSE2) or 16 (AVX2, where the CPU has it) words a step.
std::uint32_t fletcher32(const unsigned char* data, std::size_t bytes,
                         SumPath path = SumPath::kBest);

// Bytes of the checksum at the end of each stored chunk.
inline constexpr std::size_t kChecksumBytes = 4;

class ChunkReader {
 public:
  struct InflaterDelete {
    void operator()(inflate_state* state) const;
  };
  // Scratch memory shared by the readers of one file (they run one at a
  // time), so that a load allocates it once rather than once per column.
  // The inflater too: ISA-L's state is 87 KB, and one per column
  // (value-initialized) cost a load in a fresh process 2 MB of memset on
  // fresh pages, a fifth of loading a small store.
  struct Buffers {
    Scratch raw, inflated, column;
    std::unique_ptr<inflate_state, InflaterDelete> inflater;  // made on first use
  };

  // `memType` is the native type the caller wants; `width` 0 means 1-D.
  // `buffers` must outlive this reader.
  ChunkReader(hid_t dset, hid_t memType, hsize_t width, std::string path, std::string name,
              Buffers& buffers);
  ChunkReader(const ChunkReader&) = delete;
  ChunkReader& operator=(const ChunkReader&) = delete;
  ~ChunkReader();

  bool usable() const { return usable_; }
  hsize_t chunkRows() const { return chunkRows_; }

  // Copies the first `rows` rows of chunk `index` (rows index*chunkRows()...)
  // to `out` (with 2-D column chunks: chunk `index` of every column).
  // REQUIRES: usable(), rows <= chunkRows(). Returns false when HDF5 cannot
  // say whether a chunk is stored: the caller falls back to H5Dread.
  // Throws Error naming the dataset when the chunk does not decode.
  // `slack`: bytes `out` has beyond the rows; with kChecksumBytes of slack,
  // a chunk stored as the values are (with its checksum) is read straight
  // into place, not through scratch memory.
  bool read(std::uint64_t index, std::uint64_t rows, void* out, std::size_t slack = 0);

 private:
  // Decodes the first `rows` rows of the chunk at (index, column) to `out`,
  // contiguous (rows x chunk width elements).
  bool readChunk(std::uint64_t index, hsize_t column, std::uint64_t rows, unsigned char* out,
                 std::size_t slack);
  // Whether the chunk at (index, column) was written (true when unknown).
  bool stored(std::uint64_t index, hsize_t column) const;

  hid_t dset_;
  std::string path_, name_;
  bool usable_ = false;
  hsize_t chunkRows_ = 0;
  std::size_t rowBytes_ = 0, elementBytes_ = 0;
  hsize_t width_ = 1, chunkWidth_ = 1;  // elements per row, per chunk row
  std::vector<unsigned char> fill_;     // the fill value, one element
  // Positions in the pipeline.
  int shuffleIndex_ = -1, deflateIndex_ = -1, fletcherIndex_ = -1;
  Buffers& buffers_;
  bool lastStored_ = false;  // whether readChunk's chunk was written
  // `filledBytes_` bytes at `filled_` hold the fill value, from the last
  // read(), which left them as they were.
  const unsigned char* filled_ = nullptr;
  std::size_t filledBytes_ = 0;
};

// Encodes chunks the way HDF5's shuffle + deflate filters would, for
// H5Dwrite_chunk, choosing per chunk with the filter mask (which HDF5, h5py
// and ChunkReader honour):
// - deflate only where it pays: a chunk whose deflated size would exceed
//   kDeflateKeep (30%) of its size is stored unfiltered (shuffle and deflate
//   bits set; ChunkReader reads it straight into place). Columns of values
//   with few repeats (times, ids) inflate slowly (about 1 GB/s of output)
//   for little saving; stored raw they are a copy.
// - shuffled or not: whichever deflates smaller (shuffle bit set when not).
//   Shuffle suits small integers and ids; runs of repeated wide values (SWF's
//   requested times) deflate better as they are.
// The choices are made with ISA-L's igzip (level 1, 3 from deflateLevel 3
// up; fast, above all on the chunks that do not compress); a chunk that
// deflates to kZlibBelow (10%) or less is stored as zlib's level 1 gives it
// (zlib wrapper, as HDF5's filter expects), because ISA-L's inflate runs
// 2-4x faster on zlib's streams of long repeats (zero bytes of shuffled
// small integers, constant demands) than on its own, for about the same
// size; others keep ISA-L's stream (zlib would gain them 10-15% on load
// for 5-8x the deflate time). Deterministic: the same
// values always give the same bytes (with the same zlib and ISA-L).
class ChunkWriter {
 public:
  // Keep deflate when the deflated chunk is at most this share of the raw one.
  static constexpr double kDeflateKeep = 0.3;
  // Store zlib's stream when ISA-L's deflated chunk is at most this share.
  static constexpr double kZlibBelow = 0.1;

  // `deflateLevel` 0 means no deflate filter on the dataset (shuffle only).
  explicit ChunkWriter(int deflateLevel);
  ChunkWriter(const ChunkWriter&) = delete;
  ChunkWriter& operator=(const ChunkWriter&) = delete;

  // Writes chunk `offset` of `dset` from `rows` elements of `elementBytes`
  // each; a partial (last) chunk is padded to `chunkRows` with `fill`.
  // Filters of the dataset must be shuffle (index 0), then deflate (1) when
  // the level is above 0, then Fletcher-32, whose checksum every chunk gets.
  void write(hid_t dset, const hsize_t* offset, const void* data, std::size_t rows,
             std::size_t chunkRows, std::size_t elementBytes, const void* fill,
             const std::string& path, const std::string& name);

 private:
  int level_;
  std::vector<unsigned char> padded_, shuffled_, deflated_, zlibBuffer_, levelBuffer_, framed_;
};

}  // namespace allot::traces::h5
