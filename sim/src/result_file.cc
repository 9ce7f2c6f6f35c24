#include "allot/sim/result_file.h"

#include <hdf5.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "allot/core/error.h"
#include "allot/traces/h5.h"
#include "allot_code_version.h"  // generated at build time (sim/CMakeLists.txt)

namespace allot::sim {
namespace {

namespace h5 = allot::traces::h5;
using h5::checkId;
using h5::Handle;

constexpr const char* kFormatName = "allot-sim-result";
constexpr std::int64_t kFormatVersion = 1;
constexpr hsize_t kChunkRows = 1 << 16;

std::int64_t micros(TimePoint t) {
  return t == kTimeNever ? -1 : toMicros(t);
}

class Writer {
 public:
  explicit Writer(const std::string& path) : path_(path) {}

  Handle group(hid_t parent, const std::string& name) const {
    Handle gcpl = checkId(H5Pcreate(H5P_GROUP_CREATE), H5Pclose, path_, "cannot create plist");
    H5Pset_obj_track_times(gcpl.get(), false);  // same results -> same bytes
    return checkId(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), H5Gclose,
                   path_, "cannot create group '" + name + "'");
  }

  // A 1-D (width 0) or rows x width column, chunked and deflated when large.
  template <class T>
  void column(hid_t loc, const std::string& name, const std::vector<T>& data,
              hsize_t width = 0) const {
    const hsize_t rows = width == 0 ? data.size() : data.size() / width;
    const int rank = width == 0 ? 1 : 2;
    const std::array<hsize_t, 2> dims{rows, width};
    Handle space = checkId(H5Screate_simple(rank, dims.data(), nullptr), H5Sclose, path_,
                           "cannot create dataspace for " + name);
    Handle dcpl = checkId(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, path_, "cannot create plist");
    H5Pset_obj_track_times(dcpl.get(), false);
    if (rows > 4096) {
      const std::array<hsize_t, 2> chunk{std::min(rows, kChunkRows), std::max<hsize_t>(width, 1)};
      h5::check(H5Pset_chunk(dcpl.get(), rank, chunk.data()), path_, "cannot chunk " + name);
      h5::check(H5Pset_shuffle(dcpl.get()), path_, "cannot shuffle " + name);
      h5::check(H5Pset_deflate(dcpl.get(), 4), path_, "cannot deflate " + name);
    }
    const hid_t type = h5::nativeType<T>();
    Handle set = checkId(
        H5Dcreate2(loc, name.c_str(), type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT),
        H5Dclose, path_, "cannot create dataset " + name);
    if (rows > 0) {
      h5::check(H5Dwrite(set.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()), path_,
                "cannot write " + name);
    }
  }

  void strings(hid_t loc, const std::string& name, const std::vector<std::string>& values) const {
    std::vector<const char*> ptrs;
    for (const std::string& v : values) ptrs.push_back(v.c_str());
    const hsize_t n = values.size();
    Handle space =
        checkId(H5Screate_simple(1, &n, nullptr), H5Sclose, path_, "cannot create dataspace");
    Handle type = h5::stringType();
    Handle dcpl = checkId(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, path_, "cannot create plist");
    H5Pset_obj_track_times(dcpl.get(), false);
    Handle set = checkId(H5Dcreate2(loc, name.c_str(), type.get(), space.get(), H5P_DEFAULT,
                                    dcpl.get(), H5P_DEFAULT),
                         H5Dclose, path_, "cannot create dataset " + name);
    if (n > 0) {
      h5::check(H5Dwrite(set.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), path_,
                "cannot write " + name);
    }
  }

  void stringAttribute(hid_t loc, const std::string& name, std::string_view value) const {
    Handle type = h5::stringType();
    Handle space = checkId(H5Screate(H5S_SCALAR), H5Sclose, path_, "cannot create dataspace");
    Handle attr =
        checkId(H5Acreate2(loc, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                H5Aclose, path_, "cannot create attribute " + name);
    const std::string copy(value);
    const char* ptr = copy.c_str();
    h5::check(H5Awrite(attr.get(), type.get(), &ptr), path_, "cannot write attribute " + name);
  }

  void intAttribute(hid_t loc, const std::string& name, std::int64_t value) const {
    Handle space = checkId(H5Screate(H5S_SCALAR), H5Sclose, path_, "cannot create dataspace");
    Handle attr = checkId(
        H5Acreate2(loc, name.c_str(), H5T_NATIVE_INT64, space.get(), H5P_DEFAULT, H5P_DEFAULT),
        H5Aclose, path_, "cannot create attribute " + name);
    h5::check(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), path_,
              "cannot write attribute " + name);
  }

 private:
  const std::string& path_;
};

template <class T, class Record, class Field>
std::vector<T> columnOf(const std::vector<Record>& records, Field field) {
  std::vector<T> out;
  out.reserve(records.size());
  for (const Record& r : records) out.push_back(static_cast<T>(field(r)));
  return out;
}

// Keeps the first `width` of every kMaxScalarDims values.
std::vector<double> narrow(const std::vector<double>& wide, std::size_t width) {
  std::vector<double> out;
  const auto stride = static_cast<std::size_t>(kMaxScalarDims);
  out.reserve(wide.size() / stride * width);
  for (std::size_t i = 0; i + stride <= wide.size(); i += stride) {
    out.insert(out.end(), wide.begin() + static_cast<std::ptrdiff_t>(i),
               wide.begin() + static_cast<std::ptrdiff_t>(i + width));
  }
  return out;
}

}  // namespace

std::string_view codeVersion() {
  return ALLOT_CODE_VERSION;
}

ResultFile::ResultFile(const std::string& path, std::string_view configJson)
    : path_(path), out_(path), file_(-1) {
  h5::QuietErrors quiet;
  Handle fapl = checkId(H5Pcreate(H5P_FILE_ACCESS), H5Pclose, path, "cannot create plist");
  h5::check(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V18, H5F_LIBVER_LATEST), path,
            "cannot set the file format version");
  // No modification times on the root group either: same results, same bytes.
  Handle fcpl = checkId(H5Pcreate(H5P_FILE_CREATE), H5Pclose, path, "cannot create plist");
  H5Pset_obj_track_times(fcpl.get(), false);
  const hid_t file = H5Fcreate(out_.partial.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get());
  if (file < 0) h5::check(-1, path, "cannot create the result file");
  file_ = file;
  try {
    Writer out(path_);
    out.stringAttribute(file, "allot_format", kFormatName);
    out.intAttribute(file, "allot_format_version", kFormatVersion);
    out.stringAttribute(file, "allot_version", codeVersion());
    out.stringAttribute(file, "config", configJson);
    Handle runs = out.group(file, "runs");
  } catch (...) {
    discard();  // no destructor runs for a constructor that throws
    throw;
  }
}

ResultFile::~ResultFile() {
  if (file_ < 0) return;
  try {
    // A file of no run would replace what PATH held with nothing to read.
    if (runs_ == 0) {
      discard();
    } else {
      commit();
    }
  } catch (const std::exception&) {  // an exception is on its way; the .partial file stays
  }
}

void ResultFile::commit() {
  if (file_ < 0) throw Error(path_ + ": result file already closed");
  const herr_t closed = H5Fclose(static_cast<hid_t>(file_));
  file_ = -1;
  h5::check(closed, path_, "cannot close the result file");
  out_.commit();
}

void ResultFile::discard() {
  if (file_ < 0) return;
  H5Fclose(static_cast<hid_t>(file_));
  file_ = -1;
  out_.discard();
}

void ResultFile::write(std::string_view label, const Result& r, std::string_view paramsJson) {
  if (file_ < 0) throw Error(path_ + ": result file already closed");
  if (label.empty() || label.find('/') != std::string_view::npos || label == "." || label == "..") {
    throw InvalidArgument(path_ + ": bad run label '" + std::string(label) + "'");
  }
  h5::QuietErrors quiet;
  const auto file = static_cast<hid_t>(file_);
  const std::string name = "runs/" + std::string(label);
  if (H5Lexists(file, name.c_str(), H5P_DEFAULT) > 0) {
    throw InvalidArgument(path_ + ": run '" + std::string(label) + "' written twice");
  }
  Writer out(path_);
  Handle run = out.group(file, name);
  out.stringAttribute(run.get(), "policy", r.policy);
  out.stringAttribute(run.get(), "params", paramsJson);
  out.strings(run.get(), "dims", r.dimensions);
  out.strings(run.get(), "roles", r.roles);
  {
    Handle g = out.group(run.get(), "frameworks");
    out.strings(g.get(), "name",
                columnOf<std::string>(r.frameworks, [](auto& f) { return f.name; }));
    out.column(g.get(), "role",
               columnOf<std::uint32_t>(r.frameworks, [](auto& f) { return f.role; }));
  }
  {
    Handle g = out.group(run.get(), "jobs");
    const auto& j = r.jobs;
    out.column(g.get(), "job", columnOf<std::uint32_t>(j, [](auto& x) { return x.job; }));
    out.column(g.get(), "trace_id", columnOf<std::int64_t>(j, [](auto& x) { return x.traceId; }));
    out.column(g.get(), "user", columnOf<std::uint32_t>(j, [](auto& x) { return x.user; }));
    out.column(g.get(), "role", columnOf<std::uint32_t>(j, [](auto& x) { return x.role; }));
    out.column(g.get(), "framework",
               columnOf<std::uint32_t>(j, [](auto& x) { return x.framework; }));
    out.column(g.get(), "submit_us",
               columnOf<std::int64_t>(j, [](auto& x) { return micros(x.submit); }));
    out.column(g.get(), "ready_us",
               columnOf<std::int64_t>(j, [](auto& x) { return micros(x.ready); }));
    out.column(g.get(), "first_start_us",
               columnOf<std::int64_t>(j, [](auto& x) { return micros(x.firstStart); }));
    out.column(g.get(), "end_us", columnOf<std::int64_t>(j, [](auto& x) { return micros(x.end); }));
    out.column(g.get(), "work_us",
               columnOf<std::int64_t>(j, [](auto& x) { return toMicros(x.work); }));
    out.column(g.get(), "instances",
               columnOf<std::uint64_t>(j, [](auto& x) { return x.instances; }));
    out.column(g.get(), "lost_instances",
               columnOf<std::uint32_t>(j, [](auto& x) { return x.lostInstances; }));
    out.column(g.get(), "state", columnOf<std::uint8_t>(j, [](auto& x) { return x.state; }));
  }
  {
    Handle g = out.group(run.get(), "tasks");
    const auto& t = r.tasks;
    out.column(g.get(), "job", columnOf<std::uint32_t>(t, [](auto& x) { return x.job; }));
    out.column(g.get(), "task", columnOf<std::uint32_t>(t, [](auto& x) { return x.task; }));
    out.column(g.get(), "count", columnOf<std::uint32_t>(t, [](auto& x) { return x.count; }));
    out.column(g.get(), "machine", columnOf<std::uint32_t>(t, [](auto& x) { return x.machine; }));
    out.column(g.get(), "attempt", columnOf<std::uint32_t>(t, [](auto& x) { return x.attempt; }));
    out.column(g.get(), "ready_us",
               columnOf<std::int64_t>(t, [](auto& x) { return micros(x.ready); }));
    out.column(g.get(), "start_us",
               columnOf<std::int64_t>(t, [](auto& x) { return micros(x.start); }));
    out.column(g.get(), "end_us", columnOf<std::int64_t>(t, [](auto& x) { return micros(x.end); }));
    out.column(g.get(), "state", columnOf<std::uint8_t>(t, [](auto& x) { return x.state; }));
  }
  {
    Handle g = out.group(run.get(), "timeseries");
    const TimeSeries& s = r.series;
    const auto width = r.dimensions.size();
    out.intAttribute(g.get(), "interval_us", toMicros(s.interval));
    out.column(g.get(), "time_us", s.timeUs);
    out.column(g.get(), "used", narrow(s.used, width), width);
    out.column(g.get(), "allocated", narrow(s.allocated, width), width);
    out.column(g.get(), "total", narrow(s.total, width), width);
    out.column(g.get(), "pending", s.pendingInstances);
    out.column(g.get(), "running", s.runningInstances);
    out.column(g.get(), "offers", s.outstandingOffers);
    out.column(g.get(), "role_share", s.roleShare, r.roles.size());
    out.column(g.get(), "jain", s.jain);
  }
  {
    Handle g = out.group(run.get(), "summary");
    std::vector<std::string> names;
    std::vector<double> values;
    for (const auto& [key, value] : r.summary) {
      names.push_back(key);
      values.push_back(value);
    }
    out.strings(g.get(), "name", names);
    out.column(g.get(), "value", values);
  }
  {
    Handle g = out.group(run.get(), "integrals");
    out.column(g.get(), "used", r.usedIntegral);
    out.column(g.get(), "capacity", r.capacityIntegral);
  }
  ++runs_;
}

void ResultFile::copyRun(const std::string& from, std::string_view label) {
  if (file_ < 0) throw Error(path_ + ": result file already closed");
  h5::QuietErrors quiet;
  Handle src = checkId(H5Fopen(from.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, from,
                       "cannot open the result file");
  const std::string name = "runs/" + std::string(label);
  Handle ocpy = checkId(H5Pcreate(H5P_OBJECT_COPY), H5Pclose, path_, "cannot create plist");
  h5::check(H5Ocopy(src.get(), name.c_str(), static_cast<hid_t>(file_), name.c_str(), ocpy.get(),
                    H5P_DEFAULT),
            path_, "cannot copy run '" + std::string(label) + "' from " + from);
  ++runs_;
}

std::vector<std::string> readRunLabels(const std::string& path) {
  h5::QuietErrors quiet;
  Handle file = checkId(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, path,
                        "cannot open the result file");
  Handle runs = checkId(H5Gopen2(file.get(), "runs", H5P_DEFAULT), H5Gclose, path,
                        "not an allot result file (no /runs)");
  std::vector<std::string> labels;
  H5Literate(
      runs.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr,
      [](hid_t, const char* linkName, const H5L_info_t*, void* data) -> herr_t {
        static_cast<std::vector<std::string>*>(data)->emplace_back(linkName);
        return 0;
      },
      &labels);
  return labels;
}

std::map<std::string, double> readSummary(const std::string& path, std::string_view label) {
  h5::QuietErrors quiet;
  Handle file = checkId(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, path,
                        "cannot open the result file");
  const std::string base = "runs/" + std::string(label) + "/summary/";
  Handle names = checkId(H5Dopen2(file.get(), (base + "name").c_str(), H5P_DEFAULT), H5Dclose, path,
                         "no summary for run '" + std::string(label) + "'");
  Handle values = checkId(H5Dopen2(file.get(), (base + "value").c_str(), H5P_DEFAULT), H5Dclose,
                          path, "no summary values for run '" + std::string(label) + "'");
  Handle space = checkId(H5Dget_space(names.get()), H5Sclose, path, "cannot read summary");
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  std::vector<char*> keys(static_cast<std::size_t>(std::max<hssize_t>(n, 0)));
  std::vector<double> numbers(keys.size());
  Handle type = h5::stringType();
  std::map<std::string, double> out;
  if (keys.empty()) return out;
  h5::check(H5Dread(names.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, keys.data()), path,
            "cannot read summary names");
  h5::check(H5Dread(values.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, numbers.data()),
            path, "cannot read summary values");
  for (std::size_t i = 0; i < keys.size(); ++i) out[keys[i]] = numbers[i];
  H5Dvlen_reclaim(type.get(), space.get(), H5P_DEFAULT, keys.data());
  return out;
}

}  // namespace allot::sim
