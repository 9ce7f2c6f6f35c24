#include "allot/traces/store.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "allot/core/error.h"
#include "allot/core/huge_pages.h"
#include "allot/traces/h5.h"
#include "allot/traces/whole_file.h"
#include "chunks.h"
#include "src/workload_checks.h"

namespace allot::traces {
namespace {

using h5::checkId;
using h5::Handle;

constexpr const char* kFormatAttr = "allot_format";
constexpr const char* kVersionAttr = "allot_format_version";
constexpr const char* kFormatName = "allot-workload";

// Datasets written per file, for progress reporting.
constexpr std::uint64_t kDatasetCount = 34;

// Fixed-length strings: chunks of at most this many bytes (so memory stays
// bounded however long the longest string), and no string longer than
// kMaxStringBytes is read (a larger size is a corrupt or hostile file).
constexpr std::size_t kStringChunkBytes = std::size_t{1} << 20;
constexpr std::size_t kMaxStringBytes = std::size_t{64} << 20;

hsize_t stringChunkRows(std::size_t stringBytes) {
  return std::max<hsize_t>(kStringChunkBytes / std::max<std::size_t>(stringBytes, 1), 1);
}

// ---------------------------------------------------------------- writing

class Writer {
 public:
  Writer(hid_t file, const std::string& path, const StoreOptions& options)
      : file_(file), path_(path), options_(options) {}

  Handle group(const char* name) {
    Handle gcpl = checkId(H5Pcreate(H5P_GROUP_CREATE), H5Pclose, path_, "cannot create plist");
    H5Pset_obj_track_times(gcpl.get(), false);  // same workload -> same bytes
    return checkId(H5Gcreate2(file_, name, H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), H5Gclose, path_,
                   std::string("cannot create group '") + name + "'");
  }

  // Writes a column of `rows` rows (1-D when width == 0, else rows x width),
  // asking `fill(begin, end, out)` for one chunk of rows at a time so that only
  // one chunk is ever buffered.
  //
  // Chunks that hold nothing but the dataset's fill value are not written
  // (HDF5 reads an unwritten chunk as the fill value, so h5py and H5Dread see
  // the same values): the fill value of a 1-D column is its first value, so a
  // constant column stores no chunk at all; that of a rows x width column is
  // 0. Chunks written go through h5::ChunkWriter (deflate only where it pays).
  template <class T, class Fill>
  void column(hid_t loc, const std::string& name, std::uint64_t rows, hsize_t width, Fill fill) {
    T fillValue{};
    if (width == 0 && rows > 0) fill(0, 1, &fillValue);
    auto isFill = [&](const T* values, std::uint64_t n) {
      for (std::uint64_t i = 0; i < n; ++i) {
        if (std::memcmp(&values[i], &fillValue, sizeof(T)) != 0) return false;
      }
      return true;
    };
    writeBlocks(loc, name, rows, width, h5::nativeType<T>(), &fillValue,
                [&](std::uint64_t begin, std::uint64_t end, auto&& write) {
                  const std::uint64_t n = end - begin;
                  buffer_.resize(sizeof(T) * n * std::max<hsize_t>(width, 1));
                  T* out = reinterpret_cast<T*>(buffer_.data());
                  fill(begin, end, out);
                  const std::uint64_t values = n * std::max<hsize_t>(width, 1);
                  if (!isFill(out, values)) write(static_cast<const void*>(out), 0);
                });
  }

  // Writes a column of strings; `get(row)` returns each one. Fixed-length
  // strings as long as the longest (NUL padded), in chunks of at most
  // kStringChunkBytes: their bytes sit in checksummed chunks, where
  // variable-length strings (versions 1-5) sit in HDF5's global heap, which
  // has no checksum (a corrupted heap crashed libhdf5).
  template <class Get>
  void strings(hid_t loc, const std::string& name, std::uint64_t rows, Get get) {
    std::size_t longest = 1;
    for (std::uint64_t row = 0; row < rows; ++row) longest = std::max(longest, get(row).size());
    Handle type = h5::fixedStringType(longest);
    std::vector<char> bytes;
    writeBlocks(
        loc, name, rows, 0, type.get(), nullptr,
        [&](std::uint64_t begin, std::uint64_t end, auto&& write) {
          bytes.assign((end - begin) * longest, '\0');
          for (std::uint64_t row = begin; row < end; ++row) {
            const std::string& value = get(row);
            std::memcpy(bytes.data() + (row - begin) * longest, value.data(), value.size());
          }
          write(static_cast<const void*>(bytes.data()), 0);
        },
        stringChunkRows(longest));
  }

  // A fixed-length string attribute: stored in the object header, which has
  // a checksum (variable-length ones go to the global heap, which has not).
  void stringAttribute(hid_t loc, const std::string& name, const std::string& value) {
    Handle type = h5::fixedStringType(std::max<std::size_t>(value.size(), 1));
    Handle space = checkId(H5Screate(H5S_SCALAR), H5Sclose, path_, "cannot create dataspace");
    Handle attr =
        checkId(H5Acreate2(loc, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                H5Aclose, path_, "cannot create attribute '" + name + "'");
    std::string padded = value;
    padded.resize(std::max<std::size_t>(value.size(), 1), '\0');
    h5::check(H5Awrite(attr.get(), type.get(), padded.data()), path_,
              "cannot write attribute '" + name + "'");
  }

  void intAttribute(hid_t loc, const std::string& name, std::int32_t value) {
    Handle space = checkId(H5Screate(H5S_SCALAR), H5Sclose, path_, "cannot create dataspace");
    Handle attr =
        checkId(H5Acreate2(loc, name.c_str(), H5T_STD_I32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                H5Aclose, path_, "cannot create attribute '" + name + "'");
    h5::check(H5Awrite(attr.get(), H5T_NATIVE_INT32, &value), path_,
              "cannot write attribute '" + name + "'");
  }

 private:
  // `block(begin, end, write)` produces rows [begin, end) and calls
  // write(data, 0) with the block's rows x width values when it stores them.
  // `fillValue` (a T, or nullptr for strings) is the dataset's fill value.
  // `maxChunkRows` (when not 0) bounds the chunk rows below
  // options_.chunkRows.
  template <class Block>
  void writeBlocks(hid_t loc, const std::string& name, std::uint64_t rows, hsize_t width,
                   hid_t type, const void* fillValue, Block block, hsize_t maxChunkRows = 0) {
    const int rank = width == 0 ? 1 : 2;
    const std::array<hsize_t, 2> dims{rows, width};
    const std::array<hsize_t, 2> maxdims{H5S_UNLIMITED, width};
    // Equal chunks of at most options_.chunkRows rows: a shuffled chunk is
    // decoded whole, so a last chunk that is mostly padding costs as much
    // to load as a full one (Google's 5 parts were 5 full chunks and one 31%
    // full; HPC2N 3 and one 10% full).
    hsize_t maxRows = std::max<hsize_t>(options_.chunkRows, 1);
    if (maxChunkRows != 0) maxRows = std::min(maxRows, maxChunkRows);
    const hsize_t chunks = std::max<hsize_t>((rows + maxRows - 1) / maxRows, 1);
    const hsize_t chunkRows = std::clamp<hsize_t>((rows + chunks - 1) / chunks, 1, maxRows);
    const bool numeric = fillValue != nullptr;
    const std::array<hsize_t, 2> chunk{chunkRows, std::max<hsize_t>(width, 1)};
    const std::string what = "dataset '" + name + "'";

    Handle space = checkId(H5Screate_simple(rank, dims.data(), maxdims.data()), H5Sclose, path_,
                           "cannot create dataspace for " + what);
    Handle dcpl = checkId(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, path_, "cannot create plist");
    // No modification times: the same workload always gives the same bytes.
    H5Pset_obj_track_times(dcpl.get(), false);
    h5::check(H5Pset_chunk(dcpl.get(), rank, chunk.data()), path_, "cannot chunk " + what);
    if (numeric) {
      h5::check(H5Pset_fill_value(dcpl.get(), type, fillValue), path_,
                "cannot set the fill value of " + what);
    }
    // Shuffle groups the bytes of equal significance, which is what makes
    // columns of small integers and repeated doubles compress well.
    h5::check(H5Pset_shuffle(dcpl.get()), path_, "cannot set shuffle on " + what);
    if (options_.deflateLevel > 0) {
      h5::check(
          H5Pset_deflate(dcpl.get(), static_cast<unsigned>(std::min(options_.deflateLevel, 9))),
          path_, "cannot set deflate on " + what);
    }
    // A checksum on every chunk (version 6): HDF5, h5py and ChunkReader
    // check it, so a changed byte is an error, not a changed value.
    h5::check(H5Pset_fletcher32(dcpl.get()), path_, "cannot set a checksum on " + what);
    Handle dset = checkId(
        H5Dcreate2(loc, name.c_str(), type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
        H5Dclose, path_, "cannot create " + what);

    for (std::uint64_t begin = 0; begin < rows; begin += chunkRows) {
      const std::uint64_t end = std::min<std::uint64_t>(rows, begin + chunkRows);
      block(begin, end, [&](const void* data, hsize_t part) {
        const std::array<hsize_t, 2> start{begin, part == 0 ? 0 : part - 1};
        if (numeric) {
          // One chunk exactly: rows x width values.
          const hsize_t w = std::max<hsize_t>(width, 1);
          chunks_.write(dset.get(), start.data(), data, (end - begin) * w, chunkRows * w,
                        H5Tget_size(type), fillValue, path_, name);
          return;
        }
        const std::array<hsize_t, 2> count{end - begin, part == 0 ? width : 1};
        h5::check(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr,
                                      count.data(), nullptr),
                  path_, "cannot select rows of " + what);
        Handle mem = checkId(H5Screate_simple(rank, count.data(), nullptr), H5Sclose, path_,
                             "cannot create dataspace for " + what);
        h5::check(H5Dwrite(dset.get(), type, mem.get(), space.get(), H5P_DEFAULT, data), path_,
                  "cannot write " + what);
      });
    }
    ++done_;
    if (options_.progress) options_.progress(done_, kDatasetCount);
  }

  hid_t file_;
  const std::string& path_;
  const StoreOptions& options_;
  std::vector<unsigned char> buffer_, columnBuffer_;
  h5::ChunkWriter chunks_{options_.deflateLevel};
  std::uint64_t done_ = 0;
};

// Copies the first `width` components of each vector in rows [begin, end).
template <class Get>
auto scalarsFill(hsize_t width, Get get) {
  return [width, get](std::uint64_t begin, std::uint64_t end, double* out) {
    for (std::uint64_t row = begin; row < end; ++row) {
      const Scalars& s = get(row);
      for (hsize_t d = 0; d < width; ++d) *out++ = s[static_cast<Eigen::Index>(d)];
    }
  };
}

template <class T, class Get>
auto fieldFill(Get get) {
  return [get](std::uint64_t begin, std::uint64_t end, T* out) {
    for (std::uint64_t row = begin; row < end; ++row) *out++ = static_cast<T>(get(row));
  };
}

// ---------------------------------------------------------------- reading

[[noreturn]] void corrupt(const std::string& path, const std::string& what) {
  throw Error(path + ": " + what + "; the file is corrupt or was not written by allot");
}

class Reader {
 public:
  Reader(hid_t file, const std::string& path, const StoreOptions& options)
      : file_(file), path_(path), options_(options) {}

  // A column opened for reading in blocks of rows: `width` == 0 means 1-D,
  // otherwise the dataset must be rows x width. The group's row count `rows`
  // is checked when known, set otherwise.
  template <class T>
  class Column {
   public:
    Column(Reader& reader, const std::string& name, hsize_t width,
           std::optional<std::uint64_t>& rows)
        : reader_(reader),
          name_(name),
          width_(width),
          dset_(reader.open(name)),
          chunks_(dset_.get(), h5::nativeType<T>(), width, reader.path_, name, reader.buffers_) {
      space_ = checkId(H5Dget_space(dset_.get()), H5Sclose, reader.path_,
                       "cannot read the shape of dataset '" + name + "'");
      const int rank = H5Sget_simple_extent_ndims(space_.get());
      std::array<hsize_t, 2> dims{0, 0};
      if (rank != (width == 0 ? 1 : 2) ||
          H5Sget_simple_extent_dims(space_.get(), dims.data(), nullptr) < 0 ||
          (width != 0 && dims[1] != width)) {
        throw Error(reader.path_ + ": dataset '" + name + "' has the wrong shape (expected " +
                    (width == 0 ? std::string("1-D") : "N x " + std::to_string(width)) +
                    "); the file is not a valid allot workload store");
      }
      if (rows && *rows != dims[0]) {
        throw Error(reader.path_ + ": dataset '" + name + "' has " + std::to_string(dims[0]) +
                    " rows where its group has " + std::to_string(*rows) +
                    "; the file is corrupt or was not written by allot");
      }
      rows = rows_ = dims[0];
    }
    Column(const Column&) = delete;
    Column& operator=(const Column&) = delete;
    ~Column() { reader_.step(); }

    std::uint64_t rows() const { return rows_; }

    // Rows [begin, end) into a buffer reused across calls (so memory stays at
    // one block per column); valid until the next call.
    const T* read(std::uint64_t begin, std::uint64_t end) {
      T* out = reinterpret_cast<T*>(buffer_.reserve(
          (end - begin) * std::max<hsize_t>(width_, 1) * sizeof(T) + h5::kChecksumBytes));
      // (Room for a chunk's checksum after the rows: chunks stored as the
      // values are then read straight into the buffer.)
      readInto(begin, end, out, h5::kChecksumBytes);
      return out;
    }

    // The whole column.
    std::vector<T> all() {
      std::vector<T> out(rows_ * std::max<hsize_t>(width_, 1));
      const std::uint64_t step =
          chunks_.usable() ? chunks_.chunkRows() : std::max<std::uint64_t>(rows_, 1);
      for (std::uint64_t begin = 0; begin < rows_; begin += step) {
        readInto(begin, std::min(rows_, begin + step),
                 out.data() + begin * std::max<hsize_t>(width_, 1), 0);
      }
      return out;
    }

   private:
    // Whole chunks take the direct path (ChunkReader); anything else one
    // H5Dread of the selected rows.
    // `slack`: bytes `out` has beyond the rows (see ChunkReader::read).
    void readInto(std::uint64_t begin, std::uint64_t end, T* out, std::size_t slack) {
      if (end == begin) return;
      if (chunks_.usable() && begin % chunks_.chunkRows() == 0 &&
          end - begin <= chunks_.chunkRows() &&
          chunks_.read(begin / chunks_.chunkRows(), end - begin, out, slack)) {
        return;
      }
      const int rank = width_ == 0 ? 1 : 2;
      const std::array<hsize_t, 2> start{begin, 0};
      const std::array<hsize_t, 2> count{end - begin, width_};
      h5::check(H5Sselect_hyperslab(space_.get(), H5S_SELECT_SET, start.data(), nullptr,
                                    count.data(), nullptr),
                reader_.path_, "cannot select rows of dataset '" + name_ + "'");
      Handle mem = checkId(H5Screate_simple(rank, count.data(), nullptr), H5Sclose, reader_.path_,
                           "cannot create a dataspace");
      h5::check(
          H5Dread(dset_.get(), h5::nativeType<T>(), mem.get(), space_.get(), H5P_DEFAULT, out),
          reader_.path_, "cannot read dataset '" + name_ + "'");
    }

    Reader& reader_;
    std::string name_;
    hsize_t width_;
    std::uint64_t rows_ = 0;
    Handle dset_, space_;
    h5::ChunkReader chunks_;
    h5::Scratch buffer_;  // one block of rows
  };

  // Reads a whole column with one H5Dread (for the small tables).
  template <class T>
  std::vector<T> column(const std::string& name, hsize_t width,
                        std::optional<std::uint64_t>& rows) {
    return Column<T>(*this, name, width, rows).all();
  }

  std::vector<std::string> strings(const std::string& name,
                                   std::optional<std::uint64_t> rows = std::nullopt) {
    Handle dset = open(name);
    Handle space = checkId(H5Dget_space(dset.get()), H5Sclose, path_,
                           "cannot read the shape of dataset '" + name + "'");
    hsize_t n = 0;
    Handle fileType = checkId(H5Dget_type(dset.get()), H5Tclose, path_,
                              "cannot read the type of dataset '" + name + "'");
    if (H5Sget_simple_extent_ndims(space.get()) != 1 ||
        H5Sget_simple_extent_dims(space.get(), &n, nullptr) < 0 ||
        H5Tget_class(fileType.get()) != H5T_STRING) {
      throw Error(path_ + ": dataset '" + name +
                  "' is not a 1-D string dataset; the file is not a valid allot workload store");
    }
    if (rows && *rows != n) {
      throw Error(path_ + ": dataset '" + name + "' has " + std::to_string(n) + " rows, expected " +
                  std::to_string(*rows) + "; the file is corrupt or was not written by allot");
    }
    std::vector<std::string> out;
    out.reserve(n);
    if (n > 0 && H5Tis_variable_str(fileType.get()) <= 0) {
      // Fixed-length (version 6 on), read a chunk's rows at a time.
      const std::size_t size = H5Tget_size(fileType.get());
      if (size == 0 || size > kMaxStringBytes) {
        corrupt(path_,
                "dataset '" + name + "' holds strings of " + std::to_string(size) + " bytes");
      }
      Handle type = h5::fixedStringType(size);
      const hsize_t block = stringChunkRows(size);
      std::vector<char> bytes;
      for (hsize_t begin = 0; begin < n; begin += block) {
        const hsize_t count = std::min<hsize_t>(block, n - begin);
        bytes.resize(count * size);
        h5::check(
            H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &begin, nullptr, &count, nullptr),
            path_, "cannot select rows of dataset '" + name + "'");
        Handle mem = checkId(H5Screate_simple(1, &count, nullptr), H5Sclose, path_,
                             "cannot create dataspace");
        h5::check(
            H5Dread(dset.get(), type.get(), mem.get(), space.get(), H5P_DEFAULT, bytes.data()),
            path_, "cannot read dataset '" + name + "'");
        for (hsize_t row = 0; row < count; ++row) {
          const char* s = bytes.data() + row * size;
          out.emplace_back(s, strnlen(s, size));
        }
      }
    } else if (n > 0) {
      // Variable-length (versions 1-5).
      Handle type = h5::stringType();
      // Variable-length strings go through HDF5's type conversion, whose
      // buffer is 1 MiB by default, allocated zeroed for each read: 256 page
      // faults, 2.6 ms of the first load in a process (dims, users, roles,
      // a few ms of 20 for a small store). 4,096 strings a strip do as well.
      Handle transfer = checkId(H5Pcreate(H5P_DATASET_XFER), H5Pclose, path_,
                                "cannot create a transfer property list");
      h5::check(H5Pset_buffer(transfer.get(), 64 << 10, nullptr, nullptr), path_,
                "cannot size the type conversion buffer");
      std::vector<char*> raw(n, nullptr);
      h5::check(H5Dread(dset.get(), type.get(), H5S_ALL, H5S_ALL, transfer.get(), raw.data()),
                path_, "cannot read dataset '" + name + "'");
      for (char* s : raw) out.emplace_back(s != nullptr ? s : "");
      H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, raw.data());
    }
    step();
    return out;
  }

  std::optional<std::string> stringAttribute(hid_t loc, const char* name) {
    if (H5Aexists(loc, name) <= 0) return std::nullopt;
    Handle attr = checkId(H5Aopen(loc, name, H5P_DEFAULT), H5Aclose, path_,
                          std::string("cannot open attribute '") + name + "'");
    Handle fileType = checkId(H5Aget_type(attr.get()), H5Tclose, path_,
                              std::string("cannot read attribute '") + name + "'");
    if (H5Tget_class(fileType.get()) != H5T_STRING) {
      throw Error(path_ + ": attribute '" + name +
                  "' is not a string; the file is not a valid allot workload store");
    }
    if (H5Tis_variable_str(fileType.get()) <= 0) {
      // Fixed-length (version 6 on).
      const std::size_t size = H5Tget_size(fileType.get());
      if (size == 0 || size > kMaxStringBytes) {
        corrupt(path_, std::string("attribute '") + name + "' is a string of " +
                           std::to_string(size) + " bytes");
      }
      Handle type = h5::fixedStringType(size);
      std::string value(size, '\0');
      h5::check(H5Aread(attr.get(), type.get(), value.data()), path_,
                std::string("cannot read attribute '") + name + "'");
      value.resize(strnlen(value.data(), size));
      return value;
    }
    Handle type = h5::stringType();
    char* raw = nullptr;
    h5::check(H5Aread(attr.get(), type.get(), static_cast<void*>(&raw)), path_,
              std::string("cannot read attribute '") + name + "'");
    std::string value = raw != nullptr ? raw : "";
    H5free_memory(raw);
    return value;
  }

  std::optional<std::int64_t> intAttribute(hid_t loc, const char* name) {
    if (H5Aexists(loc, name) <= 0) return std::nullopt;
    Handle attr = checkId(H5Aopen(loc, name, H5P_DEFAULT), H5Aclose, path_,
                          std::string("cannot open attribute '") + name + "'");
    std::int64_t value = 0;
    h5::check(H5Aread(attr.get(), H5T_NATIVE_INT64, &value), path_,
              std::string("cannot read attribute '") + name + "' as an integer");
    return value;
  }

  // Rows per block for block-wise reads: the dataset's chunk rows, so every
  // chunk is decompressed exactly once (at least 4096 rows per block).
  std::uint64_t blockRows(const std::string& name) {
    constexpr std::uint64_t kDefault = 1u << 16;
    Handle dset = open(name);
    Handle dcpl = checkId(H5Dget_create_plist(dset.get()), H5Pclose, path_,
                          "cannot read the layout of dataset '" + name + "'");
    std::array<hsize_t, 2> chunk{0, 0};
    if (H5Pget_layout(dcpl.get()) != H5D_CHUNKED ||
        H5Pget_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()) < 1) {
      return kDefault;
    }
    return std::max<std::uint64_t>(chunk[0], 4096);
  }

  // Counts a dataset this file version does not have, for progress.
  void skipDataset() { step(); }
  // Datasets read so far.
  std::uint64_t done() const { return done_; }

  // Rows of a 1-D dataset (its first dimension).
  std::uint64_t rows(const std::string& name) {
    Handle dset = open(name);
    Handle space = checkId(H5Dget_space(dset.get()), H5Sclose, path_,
                           "cannot read the shape of dataset '" + name + "'");
    std::array<hsize_t, 2> dims{0, 0};
    if (H5Sget_simple_extent_ndims(space.get()) != 1 ||
        H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0) {
      throw Error(path_ + ": dataset '" + name +
                  "' has the wrong shape (expected 1-D); the file is not a valid allot workload "
                  "store");
    }
    return dims[0];
  }

 private:
  Handle open(const std::string& name) {
    if (H5Lexists(file_, name.substr(0, name.find('/')).c_str(), H5P_DEFAULT) <= 0 ||
        H5Lexists(file_, name.c_str(), H5P_DEFAULT) <= 0) {
      throw Error(path_ + ": dataset '" + name +
                  "' is missing; the file is corrupt or was not written by allot");
    }
    return checkId(H5Dopen2(file_, name.c_str(), H5P_DEFAULT), H5Dclose, path_,
                   "cannot open dataset '" + name + "'");
  }

  void step() {
    ++done_;
    if (options_.progress) options_.progress(done_, kDatasetCount);
  }

  hid_t file_;
  const std::string& path_;
  const StoreOptions& options_;
  std::uint64_t done_ = 0;
  h5::ChunkReader::Buffers buffers_;
};

// Checks that every value of rows [firstRow, firstRow + n) of a column is
// below `limit`.
template <class T>
void checkIndexes(const std::string& path, const std::string& name, const T* values,
                  std::uint64_t n, std::uint64_t firstRow, std::uint64_t limit) {
  // The largest value first (a loop the compiler vectorizes); the rows are
  // searched only when it is out of range.
  static_assert(std::is_unsigned_v<T>, "indexes are unsigned");
  T largest{};
  for (std::uint64_t row = 0; row < n; ++row) largest = std::max(largest, values[row]);
  const auto top = static_cast<std::uint64_t>(largest);
  if (top < limit) return;
  for (std::uint64_t row = 0; row < n; ++row) {
    const auto value = static_cast<std::uint64_t>(values[row]);
    if (value >= limit) {
      corrupt(path, "dataset '" + name + "' row " + std::to_string(firstRow + row) +
                        " holds index " + std::to_string(value) + ", out of range [0, " +
                        std::to_string(limit) + ")");
    }
  }
}

// Task counts of rows [firstRow, firstRow + n) must be at least 1.
void checkCounts(const std::string& path, const std::uint32_t* counts, std::uint64_t n,
                 std::uint64_t firstRow) {
  for (std::uint64_t row = 0; row < n; ++row) {
    if (counts[row] == 0) {
      corrupt(path, "dataset 'tasks/count' row " + std::to_string(firstRow + row) +
                        " holds 0 (a task record stands for at least one instance)");
    }
  }
}

template <class T>
void checkIndexes(const std::string& path, const std::string& name, const std::vector<T>& column,
                  std::uint64_t limit) {
  checkIndexes(path, name, column.data(), column.size(), 0, limit);
}

herr_t collectMeta(hid_t loc, const char* name, const H5A_info_t* /*info*/, void* data) {
  auto* names = static_cast<std::vector<std::string>*>(data);
  names->emplace_back(name);
  (void)loc;
  return 0;
}

}  // namespace

void skipHdf5ExitHandler() {
  H5dont_atexit();
}

bool isHdf5File(const std::string& path) {
  static constexpr std::array<unsigned char, 8> kSignature{0x89, 'H',  'D',  'F',
                                                           '\r', '\n', 0x1a, '\n'};
  std::ifstream in(path, std::ios::binary);
  std::array<char, 8> head{};
  if (!in.read(head.data(), head.size())) return false;
  return std::memcmp(head.data(), kSignature.data(), kSignature.size()) == 0;
}

namespace {

// Writes the store into the file `partial`; errors name `path`, the file the
// caller asked for.
void writeStoreFile(const std::string& partial, const std::string& path, const Workload& w,
                    const StoreOptions& options) {
  const Dimensions& dims = *w.dims;
  const auto width = static_cast<hsize_t>(dims.size());
  h5::QuietErrors quiet;
  // Version 1.10 structures at least (store version 6 on): object headers,
  // chunk indexes and the superblock all carry checksums, so a corrupted
  // file is refused with an error (1.8's B-trees have none); 1.8 and later
  // headers allow any number of attributes of any size, which /meta needs.
  Handle fapl = checkId(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, path, "cannot create plist");
  h5::check(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V110, H5F_LIBVER_LATEST), path,
            "cannot set the file format version");
  // No modification times on the root group either (the file creation list
  // is a group creation list): two writes a second apart gave other bytes.
  Handle fcpl = checkId(H5Pcreate(H5P_FILE_CREATE), H5Pclose, path, "cannot create plist");
  h5::check(H5Pset_obj_track_times(fcpl.get(), false), path, "cannot set the file properties");
  Handle file = checkId(H5Fcreate(partial.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()), H5Fclose,
                        path, "cannot create the workload file");
  Writer out(file.get(), path, options);
  out.stringAttribute(file.get(), kFormatAttr, kFormatName);
  out.intAttribute(file.get(), kVersionAttr, kStoreFormatVersion);

  const hid_t root = file.get();
  out.strings(root, "dims", width, [&](std::uint64_t i) -> const std::string& {
    return dims.name(static_cast<int>(i));
  });
  out.strings(root, "users", w.users.size(),
              [&](std::uint64_t i) -> const std::string& { return w.users[i]; });
  out.strings(root, "roles", w.roles.size(),
              [&](std::uint64_t i) -> const std::string& { return w.roles[i]; });
  {
    Handle meta = out.group("meta");
    for (const auto& [key, value] : w.meta) out.stringAttribute(meta.get(), key, value);
  }

  {
    Handle g = out.group("machines");
    const auto& m = w.machines;
    out.column<std::int64_t>(g.get(), "trace_id", m.size(), 0,
                             fieldFill<std::int64_t>([&](auto i) { return m[i].traceId; }));
    out.column<double>(g.get(), "capacity", m.size(), width,
                       scalarsFill(width, [&](auto i) -> const Scalars& { return m[i].capacity; }));
    out.column<std::uint32_t>(
        g.get(), "attr_count", m.size(), 0,
        fieldFill<std::uint32_t>([&](auto i) { return m[i].attributes.entries().size(); }));
    std::vector<const std::string*> keys, values;
    for (const Machine& machine : m) {
      for (const auto& [key, value] : machine.attributes.entries()) {
        keys.push_back(&key);
        values.push_back(&value);
      }
    }
    out.strings(g.get(), "attr_key", keys.size(),
                [&](std::uint64_t i) -> const std::string& { return *keys[i]; });
    out.strings(g.get(), "attr_value", values.size(),
                [&](std::uint64_t i) -> const std::string& { return *values[i]; });
  }

  {
    Handle g = out.group("machine_events");
    const auto& e = w.machineEvents;
    out.column<std::int64_t>(g.get(), "time_us", e.size(), 0,
                             fieldFill<std::int64_t>([&](auto i) { return toMicros(e[i].time); }));
    out.column<std::uint32_t>(g.get(), "machine", e.size(), 0,
                              fieldFill<std::uint32_t>([&](auto i) { return e[i].machine; }));
    out.column<std::uint8_t>(g.get(), "kind", e.size(), 0,
                             fieldFill<std::uint8_t>([&](auto i) { return e[i].kind; }));
    out.column<double>(g.get(), "capacity", e.size(), width,
                       scalarsFill(width, [&](auto i) -> const Scalars& { return e[i].capacity; }));
  }

  out.column<double>(root, "demands", w.demands.size(), width,
                     scalarsFill(width, [&](auto i) -> const Scalars& { return w.demands[i]; }));

  {
    Handle g = out.group("jobs");
    const auto& j = w.jobs;
    const auto n = j.size();
    out.column<std::int64_t>(g.get(), "trace_id", n, 0,
                             fieldFill<std::int64_t>([&](auto i) { return j[i].traceId; }));
    out.column<std::int64_t>(g.get(), "submit_us", n, 0, fieldFill<std::int64_t>([&](auto i) {
                               return toMicros(j[i].submit);
                             }));
    out.column<std::uint32_t>(g.get(), "user", n, 0,
                              fieldFill<std::uint32_t>([&](auto i) { return j[i].user; }));
    out.column<std::uint32_t>(g.get(), "role", n, 0,
                              fieldFill<std::uint32_t>([&](auto i) { return j[i].role; }));
    out.column<std::int32_t>(g.get(), "priority", n, 0,
                             fieldFill<std::int32_t>([&](auto i) { return j[i].priority; }));
    out.column<std::uint8_t>(g.get(), "gang", n, 0,
                             fieldFill<std::uint8_t>([&](auto i) { return j[i].gang ? 1 : 0; }));
    out.column<std::uint64_t>(g.get(), "first_task", n, 0,
                              fieldFill<std::uint64_t>([&](auto i) { return j[i].firstTask; }));
    out.column<std::uint32_t>(g.get(), "task_count", n, 0,
                              fieldFill<std::uint32_t>([&](auto i) { return j[i].taskCount; }));
    out.column<std::uint32_t>(g.get(), "dep_count", n, 0, fieldFill<std::uint32_t>([&](auto i) {
                                return j[i].dependsOn.size();
                              }));
    std::vector<std::uint32_t> deps;
    for (const Job& job : j) deps.insert(deps.end(), job.dependsOn.begin(), job.dependsOn.end());
    out.column<std::uint32_t>(g.get(), "depends_on", deps.size(), 0,
                              [&](std::uint64_t begin, std::uint64_t end, std::uint32_t* o) {
                                std::copy(deps.begin() + static_cast<std::ptrdiff_t>(begin),
                                          deps.begin() + static_cast<std::ptrdiff_t>(end), o);
                              });
  }

  {
    Handle g = out.group("tasks");
    const auto& t = w.tasks;
    const auto n = t.size();
    out.column<std::uint32_t>(g.get(), "job", n, 0,
                              fieldFill<std::uint32_t>([&](auto i) { return t[i].job; }));
    out.column<std::uint32_t>(g.get(), "index", n, 0,
                              fieldFill<std::uint32_t>([&](auto i) { return t[i].index; }));
    out.column<std::uint32_t>(g.get(), "demand", n, 0,
                              fieldFill<std::uint32_t>([&](auto i) { return t[i].demand; }));
    out.column<std::int64_t>(g.get(), "duration_us", n, 0, fieldFill<std::int64_t>([&](auto i) {
                               return toMicros(t[i].duration);
                             }));
    out.column<std::int64_t>(g.get(), "estimate_us", n, 0, fieldFill<std::int64_t>([&](auto i) {
                               return toMicros(t[i].estimate);
                             }));
    out.column<std::uint8_t>(
        g.get(), "different_machine", n, 0,
        fieldFill<std::uint8_t>([&](auto i) { return t[i].differentMachine ? 1 : 0; }));
    out.column<std::uint32_t>(g.get(), "count", n, 0,
                              fieldFill<std::uint32_t>([&](auto i) { return t[i].count; }));
    out.column<std::int64_t>(g.get(), "start_us", n, 0,
                             fieldFill<std::int64_t>([&](auto i) { return t[i].outcome.startUs; }));
    out.column<std::int64_t>(g.get(), "end_us", n, 0,
                             fieldFill<std::int64_t>([&](auto i) { return t[i].outcome.endUs; }));
    out.column<std::int64_t>(g.get(), "machine", n, 0,
                             fieldFill<std::int64_t>([&](auto i) { return t[i].outcome.machine; }));
    out.column<std::int32_t>(g.get(), "status", n, 0,
                             fieldFill<std::int32_t>([&](auto i) { return t[i].outcome.status; }));
  }
  h5::check(H5Fflush(file.get(), H5F_SCOPE_LOCAL), path, "cannot flush the workload file");
}

}  // namespace

void writeWorkloadStore(const std::string& path, const Workload& w, const StoreOptions& options) {
  // What the reader would refuse is not written.
  try {
    checkWorkload(w);
  } catch (const InvalidArgument& e) {
    throw InvalidArgument(path + ": " + e.what());
  }
  for (const auto& [key, value] : w.meta) {
    if (key.empty()) throw InvalidArgument(path + ": workload meta has an empty key");
  }
  // A write that fails or is interrupted (Ctrl-C during `allot trace
  // convert`) leaves what `path` held before, not a truncated store.
  const WholeFile out(path);
  try {
    writeStoreFile(out.partial, path, w, options);
  } catch (...) {
    out.discard();
    throw;
  }
  out.commit();
}

namespace {

// The jobs table, each job checked as checkWorkload checks it (`sizes`:
// the tables' row counts). Each job's task range also goes to `firstTasks`
// and `taskCounts`, for checkTaskRanges.
std::vector<Job> readJobs(Reader& in, const std::string& path, const detail::TableSizes& sizes,
                          std::vector<std::uint64_t>& firstTasks,
                          std::vector<std::uint32_t>& taskCounts) {
  const std::uint64_t taskRows = sizes.tasks;
  std::vector<Job> jobs;
  {
    std::optional<std::uint64_t> rows;
    Reader::Column<std::int64_t> traceId(in, "jobs/trace_id", 0, rows);
    Reader::Column<std::int64_t> submit(in, "jobs/submit_us", 0, rows);
    Reader::Column<std::uint32_t> user(in, "jobs/user", 0, rows);
    Reader::Column<std::uint32_t> role(in, "jobs/role", 0, rows);
    Reader::Column<std::int32_t> priority(in, "jobs/priority", 0, rows);
    Reader::Column<std::uint8_t> gang(in, "jobs/gang", 0, rows);
    Reader::Column<std::uint64_t> firstTask(in, "jobs/first_task", 0, rows);
    Reader::Column<std::uint32_t> taskCount(in, "jobs/task_count", 0, rows);
    const std::vector<std::uint32_t> depCount = in.column<std::uint32_t>("jobs/dep_count", 0, rows);
    std::optional<std::uint64_t> depRows =
        std::accumulate(depCount.begin(), depCount.end(), std::uint64_t{0});
    const std::vector<std::uint32_t> deps = in.column<std::uint32_t>("jobs/depends_on", 0, depRows);
    checkIndexes(path, "jobs/depends_on", deps.data(), deps.size(), 0, *rows);
    const std::uint64_t block = in.blockRows("jobs/trace_id");
    reserveHuge(jobs, *rows);
    firstTasks.reserve(*rows);
    taskCounts.reserve(*rows);
    std::size_t dep = 0;
    for (std::uint64_t begin = 0; begin < *rows; begin += block) {
      const std::uint64_t end = std::min(*rows, begin + block);
      const std::int64_t* traceIds = traceId.read(begin, end);
      const std::int64_t* submits = submit.read(begin, end);
      const std::uint32_t* users = user.read(begin, end);
      const std::uint32_t* roles = role.read(begin, end);
      const std::int32_t* priorities = priority.read(begin, end);
      const std::uint8_t* gangs = gang.read(begin, end);
      const std::uint64_t* firsts = firstTask.read(begin, end);
      const std::uint32_t* counts = taskCount.read(begin, end);
      firstTasks.insert(firstTasks.end(), firsts, firsts + (end - begin));
      taskCounts.insert(taskCounts.end(), counts, counts + (end - begin));
      for (std::uint64_t i = 0; i < end - begin; ++i) {
        Job& j = jobs.emplace_back();
        j.traceId = traceIds[i];
        j.submit = fromMicros(submits[i]);
        j.user = users[i];
        j.role = roles[i];
        j.priority = priorities[i];
        j.gang = gangs[i] != 0;
        j.firstTask = firsts[i];
        j.taskCount = counts[i];
        if (j.firstTask > taskRows || j.taskCount > taskRows - j.firstTask) {
          corrupt(path, "job row " + std::to_string(begin + i) + " names tasks beyond the " +
                            std::to_string(taskRows) + " stored");
        }
        if (const std::uint32_t n = depCount[begin + i]; n > 0) {
          j.dependsOn.assign(deps.begin() + static_cast<std::ptrdiff_t>(dep),
                             deps.begin() + static_cast<std::ptrdiff_t>(dep + n));
          dep += n;
        }
        detail::checkJob(j, begin + i, sizes);
      }
    }
  }
  return jobs;
}

// The tasks table of a store of format `version`, `width` dimensions;
// `jobRows` (the rows of /jobs) bounds tasks/job. From version 5 the
// records index `demands` (read from /demands); older stores hold each
// record's demand, interned here into `demands`. Each record is checked as
// checkWorkload checks it (indexes and counts by the dataset row), and its
// job goes to `jobOf`, for checkTaskRanges.
std::vector<Task> readTasks(Reader& in, const std::string& path, std::int64_t version,
                            hsize_t width, std::uint64_t jobRows, std::vector<Scalars>& demands,
                            std::vector<std::uint32_t>& jobOf) {
  const auto D = static_cast<std::size_t>(width);
  std::vector<Task> tasks;
  std::optional<std::uint64_t> rows;
  Reader::Column<std::uint32_t> job(in, "tasks/job", 0, rows);
  Reader::Column<std::uint32_t> index(in, "tasks/index", 0, rows);
  std::optional<Reader::Column<std::uint32_t>> demandId;
  std::optional<Reader::Column<double>> demand;  // before version 5
  if (version >= 5) {
    demandId.emplace(in, "tasks/demand", 0, rows);
  } else {
    demand.emplace(in, "tasks/demand", width, rows);
  }
  Reader::Column<std::int64_t> duration(in, "tasks/duration_us", 0, rows);
  // Stores before version 4 had no estimate column: every estimate is 0
  // (unknown), as readers of formats without estimates give.
  std::optional<Reader::Column<std::int64_t>> estimate;
  if (version >= 4) {
    estimate.emplace(in, "tasks/estimate_us", 0, rows);
  } else {
    in.skipDataset();
  }
  Reader::Column<std::uint8_t> different(in, "tasks/different_machine", 0, rows);
  // Version 1 stores had no count column: one record per instance, so
  // every count is 1 (the same workload, expanded).
  std::optional<Reader::Column<std::uint32_t>> count;
  if (version >= 2) {
    count.emplace(in, "tasks/count", 0, rows);
  } else {
    in.skipDataset();
  }
  Reader::Column<std::int64_t> start(in, "tasks/start_us", 0, rows);
  Reader::Column<std::int64_t> end(in, "tasks/end_us", 0, rows);
  Reader::Column<std::int64_t> machine(in, "tasks/machine", 0, rows);
  Reader::Column<std::int32_t> status(in, "tasks/status", 0, rows);
  const std::uint64_t block = in.blockRows("tasks/job");
  // The loop below tests each index as it copies it, and checkIndexes,
  // which names the dataset and row, runs only when one is out of range (a
  // separate pass over each index column cost 4% of a load).
  const std::uint64_t demandCount = demands.size();
  reserveHuge(tasks, *rows);
  jobOf.reserve(*rows);
  DemandTable table;  // before version 5
  for (std::uint64_t first = 0; first < *rows; first += block) {
    const std::uint64_t last = std::min(*rows, first + block);
    const std::uint32_t* jobs = job.read(first, last);
    jobOf.insert(jobOf.end(), jobs, jobs + (last - first));
    const std::uint32_t* indexes = index.read(first, last);
    const std::uint32_t* demandIds = demandId ? demandId->read(first, last) : nullptr;
    const double* demandRows = demand ? demand->read(first, last) : nullptr;
    const std::int64_t* durations = duration.read(first, last);
    const std::int64_t* estimates = estimate ? estimate->read(first, last) : nullptr;
    const std::uint8_t* differents = different.read(first, last);
    const std::uint32_t* counts = count ? count->read(first, last) : nullptr;
    if (counts != nullptr) checkCounts(path, counts, last - first, first);
    const std::int64_t* starts = start.read(first, last);
    const std::int64_t* ends = end.read(first, last);
    const std::int64_t* machines = machine.read(first, last);
    const std::int32_t* statuses = status.read(first, last);
    bool outOfRange = false;
    // Each record is built in `t` (in cache) and copied once: emplace_back()
    // value-initialized each record in place first (a `rep stos` per record,
    // 45% of this function's time in perf with 144-byte records).
    Task t;
    for (std::uint64_t i = 0; i < last - first; ++i) {
      t.job = jobs[i];
      t.index = indexes[i];
      if (demandIds != nullptr) {
        t.demand = demandIds[i];
        outOfRange |= demandIds[i] >= demandCount;
      } else {
        Scalars row = Scalars::Zero();
        for (std::size_t d = 0; d < D; ++d)
          row[static_cast<Eigen::Index>(d)] = demandRows[i * D + d];
        t.demand = table.intern(row, demands);
      }
      t.duration = Duration{durations[i]};
      if (estimates != nullptr) t.estimate = Duration{estimates[i]};
      t.differentMachine = differents[i] != 0;
      if (counts != nullptr) t.count = counts[i];
      t.outcome.startUs = starts[i];
      t.outcome.endUs = ends[i];
      t.outcome.machine = machines[i];
      t.outcome.status = statuses[i];
      outOfRange |= jobs[i] >= jobRows;
      detail::checkTaskDurations(t, first + i);
      tasks.push_back(t);
    }
    if (outOfRange) {
      checkIndexes(path, "tasks/job", jobs, last - first, first, jobRows);
      if (demandIds != nullptr) {
        checkIndexes(path, "tasks/demand", demandIds, last - first, first, demandCount);
      }
    }
  }
  return tasks;
}

}  // namespace

Workload readWorkloadStore(const std::string& path, const StoreOptions& options) {
  if (!isHdf5File(path)) {
    std::ifstream probe(path, std::ios::binary);
    if (!probe) throw Error(path + ": cannot open the file");
    throw Error(path +
                ": not an HDF5 file (no HDF5 signature); raw traces load with their format "
                "name, e.g. --format swf");
  }
  h5::QuietErrors quiet;
  Handle file = checkId(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, path,
                        "cannot open the HDF5 file");
  Reader in(file.get(), path, options);

  const std::optional<std::string> format = in.stringAttribute(file.get(), kFormatAttr);
  if (!format || *format != kFormatName) {
    throw Error(path + ": HDF5 file is not an allot workload store (attribute '" + kFormatAttr +
                "' on '/' is " + (format ? "'" + *format + "'" : std::string("missing")) +
                "); write one with `allot trace convert` or `allot trace generate`");
  }
  const std::optional<std::int64_t> version = in.intAttribute(file.get(), kVersionAttr);
  if (!version || *version < 1) {
    throw Error(path + ": allot workload store without a valid '" + kVersionAttr + "' attribute");
  }
  if (*version > kStoreFormatVersion) {
    throw Error(path + ": allot workload store format version " + std::to_string(*version) +
                " is newer than this build reads (up to " + std::to_string(kStoreFormatVersion) +
                "); upgrade allot");
  }

  Workload w;
  std::vector<std::string> dimNames = in.strings("dims");
  if (dimNames.empty() || dimNames.size() > static_cast<std::size_t>(kMaxScalarDims)) {
    corrupt(path, "dataset 'dims' has " + std::to_string(dimNames.size()) +
                      " names, expected 1 to " + std::to_string(kMaxScalarDims));
  }
  w.dims = dimNames == Dimensions::standard()->names()
               ? Dimensions::standard()
               : std::make_shared<const Dimensions>(std::move(dimNames));
  const auto width = static_cast<hsize_t>(w.dims->size());
  const auto D = static_cast<std::size_t>(width);
  w.users = in.strings("users");
  w.roles = in.strings("roles");

  {
    Handle meta = checkId(H5Gopen2(file.get(), "meta", H5P_DEFAULT), H5Gclose, path,
                          "cannot open group 'meta'");
    std::vector<std::string> names;
    hsize_t index = 0;
    h5::check(H5Aiterate2(meta.get(), H5_INDEX_NAME, H5_ITER_INC, &index, collectMeta, &names),
              path, "cannot list the attributes of 'meta'");
    for (const std::string& name : names) {
      w.meta.emplace(name, in.stringAttribute(meta.get(), name.c_str()).value_or(""));
    }
  }

  {
    std::optional<std::uint64_t> rows;
    auto traceId = in.column<std::int64_t>("machines/trace_id", 0, rows);
    auto capacity = in.column<double>("machines/capacity", width, rows);
    auto attrCount = in.column<std::uint32_t>("machines/attr_count", 0, rows);
    const std::uint64_t attrs =
        std::accumulate(attrCount.begin(), attrCount.end(), std::uint64_t{0});
    auto keys = in.strings("machines/attr_key", attrs);
    auto values = in.strings("machines/attr_value", attrs);
    w.machines.resize(*rows);
    std::size_t a = 0;
    for (std::size_t i = 0; i < *rows; ++i) {
      Machine& m = w.machines[i];
      m.traceId = traceId[i];
      for (std::size_t d = 0; d < D; ++d)
        m.capacity[static_cast<Eigen::Index>(d)] = capacity[i * D + d];
      for (std::uint32_t k = 0; k < attrCount[i]; ++k, ++a) {
        m.attributes.set(std::move(keys[a]), std::move(values[a]));
      }
    }
  }

  {
    std::optional<std::uint64_t> rows;
    auto time = in.column<std::int64_t>("machine_events/time_us", 0, rows);
    auto machine = in.column<std::uint32_t>("machine_events/machine", 0, rows);
    auto kind = in.column<std::uint8_t>("machine_events/kind", 0, rows);
    auto capacity = in.column<double>("machine_events/capacity", width, rows);
    checkIndexes(path, "machine_events/machine", machine, w.machines.size());
    checkIndexes(path, "machine_events/kind", kind, 3);
    w.machineEvents.resize(*rows);
    for (std::size_t i = 0; i < *rows; ++i) {
      MachineEvent& e = w.machineEvents[i];
      e.time = fromMicros(time[i]);
      e.machine = machine[i];
      e.kind = static_cast<MachineEvent::Kind>(kind[i]);
      for (std::size_t d = 0; d < D; ++d)
        e.capacity[static_cast<Eigen::Index>(d)] = capacity[i * D + d];
    }
  }

  if (*version >= 5) {
    std::optional<std::uint64_t> rows;
    auto values = in.column<double>("demands", width, rows);
    w.demands.resize(*rows, Scalars::Zero());
    for (std::size_t i = 0; i < *rows; ++i) {
      for (std::size_t d = 0; d < D; ++d)
        w.demands[i][static_cast<Eigen::Index>(d)] = values[i * D + d];
    }
  } else {
    in.skipDataset();
  }

  // The two big tables are read block by block (one chunk's worth of rows
  // per column at a time), so the temporary buffers stay in cache and the
  // only large allocation is the workload itself. They are independent, so
  // the jobs are read on a second thread while this one reads the tasks:
  // building the tables (first touch of their memory included) and decoding
  // the columns is the load's work, and HDF5 (a thread-safe build, Debian's)
  // is only called to fetch chunks. Errors are reported as a sequential load
  // reports them: those of the jobs first.
  const std::uint64_t jobRows = in.rows("jobs/trace_id");
  const std::uint64_t taskRows = in.rows("tasks/job");
  // The values themselves: a store holds what its writer gave it, and only
  // readers of raw traces check each value as they parse it. The records
  // are checked as they are built (a pass over the finished tables, which
  // do not fit in cache, cost a fifth of a load): checkWorkload in pieces.
  detail::TableSizes sizes = detail::tableSizes(w);
  sizes.jobs = jobRows;
  sizes.tasks = taskRows;
  // Each job's range and each record's job, for checkTaskRanges (compact
  // copies: the finished tables would be read again from memory).
  std::vector<std::uint64_t> firstTasks;
  std::vector<std::uint32_t> taskCounts, jobOf;
  std::exception_ptr jobsFailure;
  std::uint64_t jobDatasets = 0;
  std::thread jobsThread([&] {
    try {
      h5::QuietErrors quietHere;  // HDF5 error stacks are per thread
      StoreOptions silent = options;
      silent.progress = nullptr;  // progress is reported on the calling thread
      Reader jobsIn(file.get(), path, silent);
      w.jobs = readJobs(jobsIn, path, sizes, firstTasks, taskCounts);
      jobDatasets = jobsIn.done();
    } catch (...) {
      jobsFailure = std::current_exception();
    }
  });
  std::exception_ptr tasksFailure;
  try {
    w.tasks = readTasks(in, path, *version, width, jobRows, w.demands, jobOf);
  } catch (...) {
    tasksFailure = std::current_exception();
  }
  jobsThread.join();
  try {
    if (jobsFailure) std::rethrow_exception(jobsFailure);
    if (tasksFailure) std::rethrow_exception(tasksFailure);
    for (std::uint64_t i = 0; i < jobDatasets; ++i) in.skipDataset();
    detail::checkSmallTables(w);
    detail::checkTaskRanges(
        w.jobs, taskRows, [&](std::size_t j) { return firstTasks[j]; },
        [&](std::size_t j) { return taskCounts[j]; }, [&](std::uint64_t t) { return jobOf[t]; });
  } catch (const InvalidArgument& e) {
    corrupt(path, e.what());
  }
  return w;
}

}  // namespace allot::traces
