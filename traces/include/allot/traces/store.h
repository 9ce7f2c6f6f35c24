#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "allot/traces/workload.h"

namespace allot::traces {

// The HDF5 workload store: a Workload written column by column, one dataset
// per field, chunked and compressed (shuffle + deflate), so that loading it is
// a handful of bulk reads instead of a parse.
//
// Layout (format version kStoreFormatVersion; N = rows, D = dimensions):
//   /                     attrs allot_format = "allot-workload", allot_format_version
//   /dims                 string[D]            dimension names (cpus, mem, ...)
//                         (strings: fixed-length, NUL padded, UTF-8; h5py reads
//                         them as bytes)
//   /users, /roles        string[]
//   /meta                 group; one string attribute per Workload::meta entry
//   /machines/            trace_id i64, capacity f64[N][D], attr_count u32,
//                         attr_key string[], attr_value string[] (flattened)
//   /machine_events/      time_us i64, machine u32, kind u8, capacity f64[N][D]
//   /demands              f64[N][D]            per-instance demands, Workload::demands
//   /jobs/                trace_id i64, submit_us i64, user u32, role u32,
//                         priority i32, gang u8, first_task u64, task_count u32,
//                         dep_count u32, depends_on u32[] (flattened)
//   /tasks/               job u32, index u32, demand u32 (row of /demands), duration_us i64,
//                         estimate_us i64, different_machine u8, count u32,
//                         start_us i64, end_us i64, machine i64, status i32
// One /tasks row is one Task record of `count` identical instances (see
// workload.h); task_count of /jobs counts rows, not instances.
// Python reads it with h5py or pandas (one column = one dataset).
//
// Storage (version 3 and later): numeric columns have a fill value and
// chunks that hold only the fill value are not written; HDF5 (h5py, H5Dread)
// reads an unwritten chunk as the fill value, so the values read are the
// same. A 1-D
// column's fill value is its first value (a constant column stores no chunk),
// that of rows x D columns (capacity, demands) 0. Deflate is kept per chunk
// only where the deflated chunk is at most 30% of the raw one; other chunks
// are stored as the values are, with the shuffle and deflate bits of their
// filter mask set. A deflated chunk is shuffled or not, whichever deflates
// smaller (shuffle bit set when not). HDF5 and h5py honour the filter mask;
// stores written before 2026-12 always shuffled, which reads the same.
// Deflate is zlib's level 1 (see src/store/chunks.h).
//
// Integrity (version 6 on): every chunk of every dataset carries HDF5's
// Fletcher-32 checksum (the fletcher32 filter, last in the pipeline), and the
// file uses HDF5 1.10 structures, whose superblock, object headers and chunk
// indexes carry checksums too; strings are fixed-length, in chunks, and
// string attributes live in object headers. So a changed byte anywhere the
// workload depends on is refused with an Error naming the file, where
// versions 1-5 (1.8 B-trees, variable-length strings in the unchecked global
// heap) could be read as other values or crash libhdf5. Older files are
// still read, with the guarantees they had.
//
// Versions: 6 added the checksums above (same datasets and values; strings
// fixed-length instead of variable-length). 5 added /demands, and tasks/demand became a row of it
// (before: f64[N][D], each record's demand; older files read with their demands interned). 4 added
// tasks/estimate_us (Task::estimate; older files read with every estimate 0, i.e. unknown). 3
// changed only that storage (same datasets, types and values; version 2 and 1 files still read). 2
// added tasks/count. Version 1 files (one row per instance, no count column) are still read, with
// every count 1: the same workload, one record per instance.

// Version written by this build. Readers accept versions <= this one.
inline constexpr int kStoreFormatVersion = 6;

struct StoreOptions {
  // Rows per chunk at most (a table is split into equal chunks of at most
  // this many rows); also bounds the block size of streamed writes, so the
  // extra memory a write needs (about chunkRows * 8 * D bytes).
  std::uint32_t chunkRows = 1u << 16;
  // Deflate level 0..9; 0 stores chunks uncompressed (shuffle still applies).
  // Version 3 writes with ISA-L: level 1 for 1-2, level 3 from 3 up.
  int deflateLevel = 1;
  // Called with (datasets done, datasets total) as the work proceeds.
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;
};

// Writes `workload` to `path` (created or truncated). Columns are written in
// blocks of StoreOptions::chunkRows rows, so memory beyond the workload itself
// stays bounded. Throws InvalidArgument naming the path and the record for a
// workload checkWorkload refuses (nothing is written then), Error naming the
// path on I/O failure.
void writeWorkloadStore(const std::string& path, const Workload& workload,
                        const StoreOptions& options = {});

// Reads a workload written by writeWorkloadStore. Columns are read chunk by
// chunk; the jobs table is read on a second thread while the calling thread
// reads the tasks.
// Progress (options.progress) is reported on the calling thread. Throws Error when `path` is not
// HDF5, not an allot workload, of a newer format version, or inconsistent (naming the dataset at
// fault; errors of the jobs table first).
Workload readWorkloadStore(const std::string& path, const StoreOptions& options = {});

// Returns true iff the file at `path` starts with the HDF5 signature (at
// offset 0; user blocks are not supported). False when it cannot be opened.
bool isHdf5File(const std::string& path);

// Keeps libhdf5 from tearing itself down at process exit. Call it first in a
// program's main, before any HDF5 use (later it does nothing). Why: after a
// file with a failed checksum, libhdf5 1.10 keeps internal state it cannot
// free, and its exit handler then prints "HDF5: infinite loop closing
// library" after allot's own error message. allot closes every file it
// opens before main returns, so nothing is left to flush.
void skipHdf5ExitHandler();

}  // namespace allot::traces
