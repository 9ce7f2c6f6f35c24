#pragma once

#include <hdf5.h>

#include <cstdint>
#include <memory>
#include <string>
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
// (chunked along rows, whole rows per chunk, native file type, filters among
// shuffle and deflate); usable() is false otherwise and the caller falls back
// to H5Dread. Not thread safe; one per open dataset.
class ChunkReader {
 public:
  // Scratch memory shared by the readers of one file (they run one at a
  // time), so that a load allocates it once rather than once per column.
  struct Buffers {
    std::vector<unsigned char> raw, inflated;
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
  // to `out`. REQUIRES: usable(), rows <= chunkRows(). Returns false when this
  // chunk is not stored (never written): the caller falls back to H5Dread.
  // Throws Error naming the dataset when the chunk does not decode.
  bool read(std::uint64_t index, std::uint64_t rows, void* out);

 private:
  hid_t dset_;
  std::string path_, name_;
  bool usable_ = false;
  hsize_t chunkRows_ = 0;
  std::size_t rowBytes_ = 0, elementBytes_ = 0;
  int shuffleIndex_ = -1, deflateIndex_ = -1;  // positions in the pipeline
  Buffers& buffers_;
  std::unique_ptr<inflate_state> inflater_;  // when deflateIndex_ >= 0
};

}  // namespace allot::traces::h5
