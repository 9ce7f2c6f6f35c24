// Tests of the HDF5 workload store (traces/include/allot/traces/store.h) and
// of loadWorkload (load.h): round trips field by field, on generated and
// real traces, and clear errors for files that are not allot workloads.

#include "allot/traces/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "allot/core/error.h"
#include "allot/traces/h5.h"
#include "allot/traces/load.h"
#include "allot/traces/readers.h"
#include "allot/traces/synthetic.h"
#include "traces/src/store/chunks.h"

namespace allot::traces {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

const std::string kShared = ALLOT_SHARED_TRACES_DIR;

// A scratch folder per test, removed afterwards.
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("allot_store_test_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string file(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

// Field-by-field comparison that names the first difference, then the
// workload's own operator== as the final word.
void expectSameWorkload(const Workload& a, const Workload& b) {
  ASSERT_NE(a.dims, nullptr);
  ASSERT_NE(b.dims, nullptr);
  EXPECT_EQ(a.dims->names(), b.dims->names());
  EXPECT_EQ(a.meta, b.meta);
  EXPECT_EQ(a.users, b.users);
  EXPECT_EQ(a.roles, b.roles);
  ASSERT_EQ(a.machines.size(), b.machines.size());
  for (std::size_t i = 0; i < a.machines.size(); ++i) {
    ASSERT_EQ(a.machines[i].traceId, b.machines[i].traceId) << "machine " << i;
    ASSERT_EQ(a.machines[i].capacity, b.machines[i].capacity) << "machine " << i;
    ASSERT_EQ(a.machines[i].attributes, b.machines[i].attributes) << "machine " << i;
  }
  ASSERT_EQ(a.machineEvents.size(), b.machineEvents.size());
  for (std::size_t i = 0; i < a.machineEvents.size(); ++i) {
    ASSERT_EQ(a.machineEvents[i], b.machineEvents[i]) << "machine event " << i;
  }
  ASSERT_EQ(a.jobs.size(), b.jobs.size());
  for (std::size_t i = 0; i < a.jobs.size(); ++i) {
    const Job& x = a.jobs[i];
    const Job& y = b.jobs[i];
    ASSERT_EQ(x.traceId, y.traceId) << "job " << i;
    ASSERT_EQ(x.submit, y.submit) << "job " << i;
    ASSERT_EQ(x.user, y.user) << "job " << i;
    ASSERT_EQ(x.role, y.role) << "job " << i;
    ASSERT_EQ(x.priority, y.priority) << "job " << i;
    ASSERT_EQ(x.gang, y.gang) << "job " << i;
    ASSERT_EQ(x.firstTask, y.firstTask) << "job " << i;
    ASSERT_EQ(x.taskCount, y.taskCount) << "job " << i;
    ASSERT_EQ(x.dependsOn, y.dependsOn) << "job " << i;
  }
  ASSERT_EQ(a.tasks.size(), b.tasks.size());
  for (std::size_t i = 0; i < a.tasks.size(); ++i) {
    const Task& x = a.tasks[i];
    const Task& y = b.tasks[i];
    ASSERT_EQ(x.job, y.job) << "task " << i;
    ASSERT_EQ(x.index, y.index) << "task " << i;
    ASSERT_LT(x.demand, a.demands.size()) << "task " << i;
    ASSERT_LT(y.demand, b.demands.size()) << "task " << i;
    ASSERT_EQ(demandOf(a, x), demandOf(b, y)) << "task " << i;
    ASSERT_EQ(x.duration, y.duration) << "task " << i;
    ASSERT_EQ(x.estimate, y.estimate) << "task " << i;
    ASSERT_EQ(x.differentMachine, y.differentMachine) << "task " << i;
    ASSERT_EQ(x.count, y.count) << "task " << i;
    ASSERT_EQ(x.outcome, y.outcome) << "task " << i;
  }
  EXPECT_TRUE(a == b);
}

// A small workload that uses every field: odd dimensions, attributes,
// machine events of each kind, dependencies, outcomes, task counts from 1 to
// 2^20 + 1, estimates known and unknown, unusual meta keys.
Workload handMade() {
  Workload w;
  w.dims = Dimensions::with(Dimensions::standard(), "fpga");
  Machine m;
  m.traceId = 42;
  m.capacity[0] = 16;
  m.capacity[1] = 65536;
  m.capacity[4] = 2;
  m.attributes.set("rack", "r1");
  m.attributes.set("zone", "a");
  w.machines.push_back(m);
  m.traceId = 43;
  m.attributes = Attributes{};
  w.machines.push_back(m);
  w.machineEvents.push_back({fromMicros(0), 0, MachineEvent::Kind::kAdd, m.capacity});
  w.machineEvents.push_back({fromMicros(5), 1, MachineEvent::Kind::kUpdate, m.capacity * 2});
  w.machineEvents.push_back({fromMicros(9), 0, MachineEvent::Kind::kRemove, Scalars::Zero()});
  w.users = {"alice", "bob", "\xc3\xa9milie"};
  w.roles = {"*", "prod"};
  DemandTable demands;
  for (std::uint32_t j = 0; j < 3; ++j) {
    Job job;
    job.traceId = 100 + j;
    job.submit = fromMicros(j * 1'000'000LL);
    job.user = j;
    job.role = j % 2;
    job.priority = -static_cast<std::int32_t>(j);
    job.gang = j == 1;
    job.firstTask = w.tasks.size();
    job.taskCount = j + 1;
    if (j == 2) job.dependsOn = {0, 1};
    for (std::uint32_t k = 0; k <= j; ++k) {
      Task t;
      t.job = j;
      t.index = k;
      Scalars demand = Scalars::Zero();
      demand[0] = 0.5 + k;
      demand[1] = 1024.25;
      demand[4] = 1;
      t.demand = demands.intern(demand, w.demands);
      t.duration = Duration{1'000'000LL * (k + 1)};
      t.estimate = k == 1 ? Duration{0} : Duration{3'600'000'000LL * (j + 1) + k};
      t.differentMachine = k == 1;
      t.count = j == 1 ? 64 : k == 2 ? (1u << 20) + 1 : 1;
      t.outcome = {10, 20 + k, 42, 4};
      w.tasks.push_back(t);
    }
    w.jobs.push_back(job);
  }
  w.meta = {
      {"format", "test"}, {"a/b", "slash"}, {"Note", std::string(100'000, 'x')}, {"empty", ""}};
  return w;
}

// Every field of a hand-made workload survives the store, including a
// dimension table beyond the standard one and a 100 kB meta value.
TEST_F(StoreTest, RoundTripsEveryField) {
  const Workload w = handMade();
  writeWorkloadStore(file("w.h5"), w);
  expectSameWorkload(readWorkloadStore(file("w.h5")), w);
}

// An empty workload (no machines, jobs or tasks) round trips.
TEST_F(StoreTest, RoundTripsEmptyWorkload) {
  const Workload w;
  writeWorkloadStore(file("empty.h5"), w);
  expectSameWorkload(readWorkloadStore(file("empty.h5")), w);
}

// Blocks that do not divide the row count, tiny chunks and no deflate all
// give the same workload back (the direct chunk path and its edges).
TEST_F(StoreTest, RoundTripsWithAnyChunkingAndCompression) {
  SyntheticOptions o = syntheticPreset("google-like");
  o.maxTasks = 5000;
  o.machines = 300;
  const Workload w = generateWorkload(o);
  for (std::uint32_t chunk : {7u, 4096u, 1u << 20}) {
    for (int level : {0, 1, 9}) {
      StoreOptions options;
      options.chunkRows = chunk;
      options.deflateLevel = level;
      const std::string path = file("g.h5");
      writeWorkloadStore(path, w, options);
      SCOPED_TRACE("chunk " + std::to_string(chunk) + " level " + std::to_string(level));
      expectSameWorkload(readWorkloadStore(path), w);
    }
  }
}

// Writing is reproducible: the same workload gives a byte-identical file
// (no timestamps), so generated stores can be compared by checksum.
TEST_F(StoreTest, SameWorkloadGivesIdenticalBytes) {
  SyntheticOptions o = syntheticPreset("hpc-like");
  o.maxTasks = 3000;
  writeWorkloadStore(file("a.h5"), generateWorkload(o));
  writeWorkloadStore(file("b.h5"), generateWorkload(o));
  auto bytes = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(bytes(file("a.h5")), bytes(file("b.h5")));
}

// Progress goes from 1 to its total on both sides.
TEST_F(StoreTest, ReportsProgress) {
  std::uint64_t last = 0, total = 0;
  StoreOptions options;
  options.progress = [&](std::uint64_t done, std::uint64_t all) {
    EXPECT_EQ(done, last + 1);
    last = done;
    total = all;
  };
  writeWorkloadStore(file("p.h5"), handMade(), options);
  EXPECT_EQ(last, total);
  last = 0;
  readWorkloadStore(file("p.h5"), options);
  EXPECT_GT(last, 10u);
}

// Real traces: raw -> .h5 -> workload equals raw -> workload, field by
// field, for the KTH SWF log and the first Google 2011 part.
TEST_F(StoreTest, RoundTripsKthSwf) {
  const Workload raw = readWorkload(kShared + "/swf/KTH-SP2-1996-2.1-cln.swf.gz", "swf");
  ASSERT_EQ(raw.jobs.size(), 27992u);
  ASSERT_EQ(raw.tasks.size(), 27992u);  // one gang record per job
  ASSERT_GT(instanceCount(raw), 2 * raw.tasks.size());
  // Every KTH job has a requested time: the round trip carries estimates.
  ASSERT_TRUE(std::all_of(raw.tasks.begin(), raw.tasks.end(),
                          [](const Task& t) { return t.estimate > Duration{0}; }));
  writeWorkloadStore(file("kth.h5"), raw);
  expectSameWorkload(loadWorkload(file("kth.h5")), raw);
}

// Alibaba 2018 (hand-written files): instance records of count 1 beside
// records of instance_num instances.
TEST_F(StoreTest, RoundTripsAlibaba2018Counts) {
  const Workload raw =
      readWorkload(std::string(ALLOT_SOURCE_DIR) + "/tests/data/traces/alibaba2018", "alibaba2018");
  ASSERT_LT(raw.tasks.size(), instanceCount(raw));
  writeWorkloadStore(file("ali.h5"), raw);
  expectSameWorkload(loadWorkload(file("ali.h5")), raw);
}

TEST_F(StoreTest, RoundTripsGoogleFirstPart) {
  const std::string part = kShared + "/google2011/task_events/part-00000-of-00500.csv.gz";
  const Workload raw = readWorkload(part, "google2011");
  ASSERT_GT(raw.tasks.size(), 10'000u);
  writeWorkloadStore(file("google.h5"), raw);
  expectSameWorkload(loadWorkload(file("google.h5")), raw);
  // Google gives no estimates: all 0, a constant column that stores no chunk.
  for (const Task& t : raw.tasks) ASSERT_EQ(t.estimate, Duration{0});
  hid_t f = H5Fopen(file("google.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = H5Dopen2(f, "tasks/estimate_us", H5P_DEFAULT);
  ASSERT_GE(d, 0);
  EXPECT_EQ(H5Dget_storage_size(d), 0u);
  H5Dclose(d);
  H5Fclose(f);
}

// A text file given as a store is rejected as "not an HDF5 file".
TEST_F(StoreTest, RejectsNonHdf5File) {
  std::ofstream(file("text.h5")) << "hello\n";
  try {
    readWorkloadStore(file("text.h5"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not an HDF5 file"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("text.h5"), std::string::npos) << e.what();
  }
}

// An HDF5 file from elsewhere (no allot_format attribute) is rejected by name.
TEST_F(StoreTest, RejectsForeignHdf5File) {
  const std::string path = file("foreign.h5");
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t n = 3;
  hid_t space = H5Screate_simple(1, &n, nullptr);
  hid_t d = H5Dcreate2(f, "x", H5T_NATIVE_INT, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dclose(d);
  H5Sclose(space);
  H5Fclose(f);
  try {
    readWorkloadStore(path);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not an allot workload store"), std::string::npos)
        << e.what();
  }
}

// A truncated store gives an allot::Error naming the file, not a crash.
TEST_F(StoreTest, RejectsTruncatedStore) {
  SyntheticOptions o = syntheticPreset("hpc-like");
  o.maxTasks = 20000;
  writeWorkloadStore(file("full.h5"), generateWorkload(o));
  const auto size = fs::file_size(file("full.h5"));
  for (double keep : {0.1, 0.5, 0.9}) {
    fs::copy_file(file("full.h5"), file("cut.h5"), fs::copy_options::overwrite_existing);
    fs::resize_file(file("cut.h5"), static_cast<std::uintmax_t>(static_cast<double>(size) * keep));
    try {
      readWorkloadStore(file("cut.h5"));
      ADD_FAILURE() << "no error at " << keep;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cut.h5"), std::string::npos) << e.what();
    }
  }
}

// Every byte of a store changed, one at a time: the read either refuses the
// file with an allot::Error naming it, or returns the workload unchanged
// (the byte was padding, free space or a field that does not change what is
// read). Never a crash and never other values: every chunk carries a
// Fletcher-32 checksum, and the HDF5 1.10 structures (superblock, object
// headers, chunk indexes) carry their own. Version 5 stores crashed in
// libhdf5 (variable-length strings in the unchecked global heap) or were read
// with other values.
TEST_F(StoreTest, EveryChangedByteIsRefusedOrReadsTheSame) {
  Workload w = handMade();
  w.meta.erase("Note");  // a smaller file: each byte is a read
  StoreOptions options;
  options.chunkRows = 2;  // several chunks per column
  writeWorkloadStore(file("good.h5"), w, options);
  std::string bytes;
  {
    std::ifstream in(file("good.h5"), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_GT(bytes.size(), 1000u);
  const std::string bad = file("bad.h5");
  // Every 13th byte (about 2,000 reads; all of them, 26,000, pass too but
  // take 90 s).
  std::size_t refused = 0, same = 0;
  for (std::size_t at = 0; at < bytes.size(); at += 13) {
    std::string changed = bytes;
    changed[at] = static_cast<char>(changed[at] ^ 0xa5);
    std::ofstream(bad, std::ios::binary | std::ios::trunc) << changed;
    try {
      const Workload read = readWorkloadStore(bad);
      ASSERT_TRUE(read == w) << "byte " << at << " changed: read other values without an error";
      ++same;
    } catch (const Error& e) {
      ASSERT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
      ++refused;
      // Nothing left open by the read that failed. (HDF5 1.10.8 still
      // prints "infinite loop closing library" at this test's exit: some
      // malformed files leave its own bookkeeping unable to shut down, a
      // bounded leak inside the library, HDFGroup/hdf5#6677.)
      ASSERT_EQ(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0) << "byte " << at;
    }
  }
  // Most of the file is structure or data the workload depends on.
  EXPECT_GT(refused, 2 * same) << refused << " refused, " << same << " read the same";
}

// HDF5's Fletcher-32 (H5_checksum_fletcher32, word by word), to check the
// store's blocked, vectorized one against.
std::uint32_t referenceFletcher32(const unsigned char* data, std::size_t bytes) {
  std::size_t len = bytes / 2;
  std::uint32_t sum1 = 0, sum2 = 0;
  while (len) {
    std::size_t tlen = len > 360 ? 360 : len;
    len -= tlen;
    do {
      sum1 += (std::uint32_t{data[0]} << 8) | data[1];
      data += 2;
      sum2 += sum1;
    } while (--tlen);
    sum1 = (sum1 & 0xffff) + (sum1 >> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >> 16);
  }
  if (bytes % 2) {
    sum1 += std::uint32_t{*data} << 8;
    sum2 += sum1;
    sum1 = (sum1 & 0xffff) + (sum1 >> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >> 16);
  }
  sum1 = (sum1 & 0xffff) + (sum1 >> 16);
  sum2 = (sum2 & 0xffff) + (sum2 >> 16);
  return (sum2 << 16) | sum1;
}

// Every length from 0 to 2,000 bytes and some large ones, of random bytes
// and of all 0xff (the largest sums), give HDF5's checksum, on each path.
TEST(Fletcher32Test, EqualsHdf5sChecksum) {
  std::uint64_t random = 99;
  std::vector<unsigned char> bytes(1 << 20);
  for (unsigned char& b : bytes) {
    random = random * 6364136223846793005ULL + 1442695040888963407ULL;
    b = static_cast<unsigned char>(random >> 56);
  }
  std::vector<unsigned char> ones(bytes.size(), 0xff);
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= 2000; ++n) lengths.push_back(n);
  for (std::size_t n : {4096u, 65535u, 65536u, 524288u, 1048575u, 1048576u}) lengths.push_back(n);
  for (h5::SumPath path : {h5::SumPath::kBest, h5::SumPath::kSse2, h5::SumPath::kScalar}) {
    const int p = static_cast<int>(path);
    for (std::size_t n : lengths) {
      ASSERT_EQ(h5::fletcher32(bytes.data(), n, path), referenceFletcher32(bytes.data(), n))
          << n << " bytes, path " << p;
      ASSERT_EQ(h5::fletcher32(ones.data(), n, path), referenceFletcher32(ones.data(), n))
          << n << " bytes, path " << p;
      ASSERT_EQ(h5::fletcher32(bytes.data() + 1, n - (n > 0), path),  // unaligned
                referenceFletcher32(bytes.data() + 1, n - (n > 0)))
          << n << " bytes, path " << p;
    }
  }
}

// A store whose version is newer than this build says so.
TEST_F(StoreTest, RejectsNewerFormatVersion) {
  writeWorkloadStore(file("v.h5"), handMade());
  hid_t f = H5Fopen(file("v.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t a = H5Aopen(f, "allot_format_version", H5P_DEFAULT);
  const int version = kStoreFormatVersion + 1;
  H5Awrite(a, H5T_NATIVE_INT, &version);
  H5Aclose(a);
  H5Fclose(f);
  try {
    readWorkloadStore(file("v.h5"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos) << e.what();
  }
}

// Rewrites the version attribute of a store.
void setVersion(const std::string& path, int version) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t a = H5Aopen(f, "allot_format_version", H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_INT, &version);
  H5Aclose(a);
  H5Fclose(f);
}

void deleteDataset(const std::string& path, const char* name) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  H5Ldelete(f, name, H5P_DEFAULT);
  H5Fclose(f);
}

// Replaces dataset `name` of the store at `path` with `values`, `width` to a
// row (0: one-dimensional), unchunked and unfiltered: a store as another
// writer could make it, holding what allot's writer refuses to write.
template <class T>
void rewriteDataset(const std::string& path, const char* name, const std::vector<T>& values,
                    hsize_t width = 0) {
  deleteDataset(path, name);
  hid_t fileType = H5T_IEEE_F64LE, memType = H5T_NATIVE_DOUBLE;
  if constexpr (std::is_same_v<T, std::uint32_t>) {
    fileType = H5T_STD_U32LE;
    memType = H5T_NATIVE_UINT32;
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    fileType = H5T_STD_I64LE;
    memType = H5T_NATIVE_INT64;
  } else {
    static_assert(std::is_same_v<T, double>);
  }
  const std::array<hsize_t, 2> shape{width == 0 ? values.size() : values.size() / width, width};
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t space = H5Screate_simple(width == 0 ? 1 : 2, shape.data(), nullptr);
  hid_t d = H5Dcreate2(f, name, fileType, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(d, 0) << name;
  if (!values.empty()) {
    ASSERT_GE(H5Dwrite(d, memType, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0) << name;
  }
  H5Dclose(d);
  H5Sclose(space);
  H5Fclose(f);
}

// The error reading the store at `path` gives, or "(read)" when there is none.
std::string readError(const std::string& path) {
  try {
    readWorkloadStore(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(read)";
}

// Field `field` of every task record of `w`, as a column.
template <class T, class Field>
std::vector<T> taskColumn(const Workload& w, Field field) {
  std::vector<T> out;
  for (const Task& t : w.tasks) out.push_back(static_cast<T>(field(t)));
  return out;
}

// Stores before version 5 held each record's demand in tasks/demand
// (f64[N][D]) and had no /demands: rewrites a store that way, with a
// chunked, unfiltered dataset.
void writeDemandsPerRecord(const std::string& path, const Workload& w) {
  deleteDataset(path, "demands");
  deleteDataset(path, "tasks/demand");
  const auto width = static_cast<hsize_t>(w.dims->size());
  std::vector<double> rows;
  for (const Task& t : w.tasks) {
    for (hsize_t d = 0; d < width; ++d)
      rows.push_back(demandOf(w, t)[static_cast<Eigen::Index>(d)]);
  }
  const std::array<hsize_t, 2> shape{w.tasks.size(), width};
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t space = H5Screate_simple(2, shape.data(), nullptr);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 2, shape.data());
  hid_t d = H5Dcreate2(f, "tasks/demand", H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  ASSERT_GE(d, 0);
  ASSERT_GE(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows.data()), 0);
  H5Dclose(d);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Fclose(f);
}

// Rewrites a string dataset (or attribute of the root) as variable-length
// strings, as versions 1-5 wrote them (h5::stringType, their type).
void writeVariableLengthStrings(const std::string& path, const char* name,
                                const std::vector<std::string>& values) {
  deleteDataset(path, name);
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  const h5::Handle type = h5::stringType();
  const hsize_t n = values.size();
  hid_t space = H5Screate_simple(1, &n, nullptr);
  hid_t d = H5Dcreate2(f, name, type.get(), space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(d, 0);
  std::vector<const char*> pointers;
  for (const std::string& v : values) pointers.push_back(v.c_str());
  ASSERT_GE(H5Dwrite(d, type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()), 0);
  H5Dclose(d);
  H5Sclose(space);
  H5Fclose(f);
}

void writeVariableLengthStringAttribute(const std::string& path, const char* name,
                                        const std::string& value) {
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  H5Adelete(f, name);
  const h5::Handle type = h5::stringType();
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(f, name, type.get(), space, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(a, 0);
  const char* data = value.c_str();
  ASSERT_GE(H5Awrite(a, type.get(), static_cast<const void*>(&data)), 0);
  H5Aclose(a);
  H5Sclose(space);
  H5Fclose(f);
}

// A version-4 store (each record's demand in tasks/demand) reads with the
// demands interned: the same workload, and one /demands entry per distinct
// demand.
TEST_F(StoreTest, ReadsVersionFourWithDemandPerRecord) {
  const Workload w = handMade();
  writeWorkloadStore(file("v4.h5"), w);
  writeDemandsPerRecord(file("v4.h5"), w);
  // Versions before 6 held variable-length strings.
  writeVariableLengthStrings(file("v4.h5"), "users", w.users);
  writeVariableLengthStringAttribute(file("v4.h5"), "allot_format", "allot-workload");
  setVersion(file("v4.h5"), 4);
  const Workload read = readWorkloadStore(file("v4.h5"));
  expectSameWorkload(read, w);
  EXPECT_EQ(read.demands.size(), 3u);  // 0.5, 1.5 and 2.5 cpus
  // Version 5 requires /demands.
  setVersion(file("v4.h5"), 5);
  try {
    readWorkloadStore(file("v4.h5"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("demands"), std::string::npos) << e.what();
  }
}

// A version-1 store (written before tasks/count existed: one row per
// instance) reads with every count 1, i.e. as the same, expanded workload.
TEST_F(StoreTest, ReadsVersionOneWithCountOne) {
  Workload w = handMade();
  writeWorkloadStore(file("v1.h5"), w);
  writeDemandsPerRecord(file("v1.h5"), w);
  deleteDataset(file("v1.h5"), "tasks/count");
  setVersion(file("v1.h5"), 1);
  for (Task& t : w.tasks) {
    t.count = 1;
    t.estimate = Duration{0};  // version 1 predates tasks/estimate_us
  }
  expectSameWorkload(readWorkloadStore(file("v1.h5")), w);
  // Version 2 requires the column.
  setVersion(file("v1.h5"), 2);
  try {
    readWorkloadStore(file("v1.h5"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tasks/count"), std::string::npos) << e.what();
  }
}

// A store written before tasks/estimate_us existed (versions 1 to 3) reads
// with every estimate 0 (unknown); from version 4 the column is required.
TEST_F(StoreTest, ReadsVersionThreeWithEstimateZero) {
  Workload w = handMade();
  writeWorkloadStore(file("v3.h5"), w);
  writeDemandsPerRecord(file("v3.h5"), w);
  deleteDataset(file("v3.h5"), "tasks/estimate_us");
  setVersion(file("v3.h5"), 3);
  for (Task& t : w.tasks) t.estimate = Duration{0};
  expectSameWorkload(readWorkloadStore(file("v3.h5")), w);
  expectSameWorkload(loadWorkload(file("v3.h5")), w);

  // Version 1 (no count, no estimate) as well.
  deleteDataset(file("v3.h5"), "tasks/count");
  setVersion(file("v3.h5"), 1);
  for (Task& t : w.tasks) t.count = 1;
  expectSameWorkload(readWorkloadStore(file("v3.h5")), w);

  writeWorkloadStore(file("v4.h5"), handMade());
  writeDemandsPerRecord(file("v4.h5"), handMade());
  setVersion(file("v4.h5"), 4);
  deleteDataset(file("v4.h5"), "tasks/estimate_us");
  try {
    readWorkloadStore(file("v4.h5"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tasks/estimate_us"), std::string::npos) << e.what();
  }
}

// This build writes version 6, with a uint32 tasks/count column, an int64
// tasks/estimate_us column chunked and filtered as tasks/duration_us is (with
// a Fletcher-32 checksum last), a uint32 tasks/demand indexing the distinct
// demands of /demands, and fixed-length strings.
TEST_F(StoreTest, WritesVersionSixWithCountEstimateAndDemandColumns) {
  EXPECT_EQ(kStoreFormatVersion, 6);
  StoreOptions options;
  options.chunkRows = 2;  // several chunks
  writeWorkloadStore(file("v4.h5"), handMade(), options);
  hid_t f = H5Fopen(file("v4.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t a = H5Aopen(f, "allot_format_version", H5P_DEFAULT);
  int version = 0;
  H5Aread(a, H5T_NATIVE_INT, &version);
  H5Aclose(a);
  EXPECT_EQ(version, 6);
  // Strings, in datasets and attributes, are fixed-length (none in HDF5's
  // global heap, which has no checksum).
  for (const char* name : {"dims", "users", "roles", "machines/attr_key", "machines/attr_value"}) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    ASSERT_GE(d, 0) << name;
    hid_t type = H5Dget_type(d);
    EXPECT_EQ(H5Tget_class(type), H5T_STRING) << name;
    EXPECT_EQ(H5Tis_variable_str(type), 0) << name;
    H5Tclose(type);
    H5Dclose(d);
  }
  {
    hid_t format = H5Aopen(f, "allot_format", H5P_DEFAULT);
    hid_t type = H5Aget_type(format);
    EXPECT_EQ(H5Tis_variable_str(type), 0);
    H5Tclose(type);
    H5Aclose(format);
  }
  for (const char* name : {"tasks/count", "tasks/demand"}) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    ASSERT_GE(d, 0) << name;
    hid_t type = H5Dget_type(d);
    EXPECT_GT(H5Tequal(type, H5T_STD_U32LE), 0) << name;
    H5Tclose(type);
    H5Dclose(d);
  }
  {
    hid_t d = H5Dopen2(f, "demands", H5P_DEFAULT);
    ASSERT_GE(d, 0);
    hid_t space = H5Dget_space(d);
    std::array<hsize_t, 2> shape{};
    EXPECT_EQ(H5Sget_simple_extent_dims(space, shape.data(), nullptr), 2);
    EXPECT_EQ(shape[0], 3u);  // distinct demands of handMade()
    EXPECT_EQ(shape[1], 5u);  // its dimensions
    H5Sclose(space);
    H5Dclose(d);
  }

  // Chunk shape and filter pipeline of a column, to compare two columns.
  auto layout = [&](const char* name) {
    hid_t dset = H5Dopen2(f, name, H5P_DEFAULT);
    EXPECT_GE(dset, 0) << name;
    hid_t dcpl = H5Dget_create_plist(dset);
    hsize_t chunk = 0;
    EXPECT_EQ(H5Pget_chunk(dcpl, 1, &chunk), 1) << name;
    std::vector<H5Z_filter_t> filters;
    for (int i = 0; i < H5Pget_nfilters(dcpl); ++i) {
      unsigned flags = 0;
      std::size_t elements = 0;
      unsigned config = 0;
      filters.push_back(H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &elements, nullptr,
                                       0, nullptr, &config));
    }
    hid_t t = H5Dget_type(dset);
    const bool int64 = H5Tequal(t, H5T_STD_I64LE) > 0;
    H5Tclose(t);
    H5Pclose(dcpl);
    H5Dclose(dset);
    return std::make_tuple(chunk, filters, int64);
  };
  const auto estimate = layout("tasks/estimate_us");
  EXPECT_EQ(estimate, layout("tasks/duration_us"));
  EXPECT_EQ(std::get<0>(estimate), 2u);
  EXPECT_TRUE(std::get<2>(estimate));
  EXPECT_EQ(
      std::get<1>(estimate),
      (std::vector<H5Z_filter_t>{H5Z_FILTER_SHUFFLE, H5Z_FILTER_DEFLATE, H5Z_FILTER_FLETCHER32}));
  // h5py-style whole read: the values, in microseconds.
  hid_t d = H5Dopen2(f, "tasks/estimate_us", H5P_DEFAULT);
  std::vector<std::int64_t> values(handMade().tasks.size());
  EXPECT_GE(H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
  H5Dclose(d);
  H5Fclose(f);
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(values[i], toMicros(handMade().tasks[i].estimate)) << "task " << i;
  }
}

// Each chunk's filters follow its data (the filter mask): values that do not
// deflate to 30% are stored as they are (shuffle and deflate skipped), runs
// of repeated wide values deflate unshuffled, small increasing integers
// shuffled; HDF5's own pipeline (what h5py uses) reads the same values as the
// store's reader, whole and in a slice that starts mid-chunk.
TEST_F(StoreTest, ChunkFiltersFollowTheData) {
  Workload w;
  w.users = {"u"};
  w.roles = {"r"};
  constexpr std::uint32_t kTasks = 6000;
  std::uint64_t random = 12345;
  auto next = [&random] {
    random = random * 6364136223846793005ULL + 1442695040888963407ULL;
    return random;
  };
  std::int64_t estimate = 0;
  std::uint64_t runLeft = 0;
  w.demands.push_back(Scalars::Unit(0));  // every task's: one cpu
  for (std::uint32_t i = 0; i < kTasks; ++i) {
    Job job;
    job.traceId = i;
    job.submit = fromMicros(i);
    job.firstTask = i;
    job.taskCount = 1;
    w.jobs.push_back(job);
    Task t;
    t.job = i;
    t.outcome.startUs = static_cast<std::int64_t>(next() >> 1);  // does not compress
    // Requested times: runs of 1 to 10 jobs asking for one of 39
    // multiples of 15 minutes (in microseconds).
    if (runLeft == 0) {
      estimate = static_cast<std::int64_t>((next() >> 33) % 39 + 1) * 900'000'000;
      runLeft = 1 + (next() >> 40) % 10;
    }
    --runLeft;
    t.estimate = Duration{estimate};
    t.duration = Duration{1'000'000};
    w.tasks.push_back(t);
  }
  StoreOptions options;
  options.chunkRows = 1024;
  writeWorkloadStore(file("f.h5"), w, options);
  expectSameWorkload(readWorkloadStore(file("f.h5")), w);

  hid_t f = H5Fopen(file("f.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  // The filter masks of a dataset's stored chunks.
  auto masks = [&](const char* name) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    hid_t space = H5Dget_space(d);
    hsize_t n = 0;
    H5Dget_num_chunks(d, space, &n);
    std::vector<unsigned> out;
    for (hsize_t i = 0; i < n; ++i) {
      hsize_t offset = 0, size = 0;
      unsigned mask = 0;
      haddr_t address = 0;
      H5Dget_chunk_info(d, space, i, &offset, &mask, &address, &size);
      out.push_back(mask);
    }
    H5Sclose(space);
    H5Dclose(d);
    return out;
  };
  const std::vector<unsigned> start = masks("tasks/start_us");
  ASSERT_FALSE(start.empty());
  for (unsigned m : start) EXPECT_EQ(m, 3u) << "tasks/start_us stored unfiltered";
  for (unsigned m : masks("tasks/estimate_us")) EXPECT_EQ(m, 1u) << "estimate deflated unshuffled";
  for (unsigned m : masks("tasks/job")) EXPECT_EQ(m, 0u) << "tasks/job shuffled and deflated";

  // HDF5's reads: every row, and rows 1500.. (mid-chunk) of each column.
  auto column = [&](const char* name, hsize_t first) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    hid_t space = H5Dget_space(d);
    const hsize_t count = kTasks - first;
    H5Sselect_hyperslab(space, H5S_SELECT_SET, &first, nullptr, &count, nullptr);
    hid_t mem = H5Screate_simple(1, &count, nullptr);
    std::vector<std::int64_t> values(count);
    EXPECT_GE(H5Dread(d, H5T_NATIVE_INT64, mem, space, H5P_DEFAULT, values.data()), 0) << name;
    H5Sclose(mem);
    H5Sclose(space);
    H5Dclose(d);
    return values;
  };
  for (hsize_t first : {hsize_t{0}, hsize_t{1500}}) {
    const std::vector<std::int64_t> starts = column("tasks/start_us", first);
    const std::vector<std::int64_t> estimates = column("tasks/estimate_us", first);
    const std::vector<std::int64_t> jobs = column("tasks/job", first);
    for (hsize_t i = first; i < kTasks; ++i) {
      ASSERT_EQ(starts[i - first], w.tasks[i].outcome.startUs) << "row " << i;
      ASSERT_EQ(estimates[i - first], toMicros(w.tasks[i].estimate)) << "row " << i;
      ASSERT_EQ(jobs[i - first], w.tasks[i].job) << "row " << i;
    }
  }
  H5Fclose(f);
}

// Version 3: a constant column stores no chunk (its fill value is the
// constant), a column of varied values does, and both read back exactly,
// also with several chunks and a partial last one.
TEST_F(StoreTest, ConstantColumnsStoreNoChunks) {
  Workload w = handMade();
  for (Job& j : w.jobs) j.priority = 7;
  for (std::size_t i = 0; i < w.tasks.size(); ++i) {
    w.tasks[i].outcome.machine = 42;
    w.tasks[i].outcome.startUs = static_cast<std::int64_t>(i) * 1000003;
  }
  for (std::uint32_t rows : {1u, 2u, 1u << 16}) {
    StoreOptions options;
    options.chunkRows = rows;
    writeWorkloadStore(file("c.h5"), w, options);
    expectSameWorkload(readWorkloadStore(file("c.h5")), w);
    hid_t f = H5Fopen(file("c.h5").c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    for (const char* name : {"jobs/priority", "tasks/machine"}) {
      hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
      EXPECT_EQ(H5Dget_storage_size(d), 0u) << name;
      std::vector<std::int64_t> values(name[0] == 'j' ? w.jobs.size() : w.tasks.size());
      H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
      for (std::int64_t v : values) EXPECT_EQ(v, name[0] == 'j' ? 7 : 42) << name;
      H5Dclose(d);
    }
    hid_t d = H5Dopen2(f, "tasks/start_us", H5P_DEFAULT);
    EXPECT_GT(H5Dget_storage_size(d), 0u);
    H5Dclose(d);
    H5Fclose(f);
  }
}

// A count of 0 (a record of no instance) is refused, naming the row.
TEST_F(StoreTest, RejectsZeroCount) {
  const Workload w = handMade();
  writeWorkloadStore(file("zero.h5"), w);
  std::vector<std::uint32_t> counts =
      taskColumn<std::uint32_t>(w, [](const Task& t) { return t.count; });
  counts[2] = 0;
  rewriteDataset(file("zero.h5"), "tasks/count", counts);
  EXPECT_THAT(readError(file("zero.h5")), HasSubstr("'tasks/count' row 2"));
}

// A missing column and an out-of-range index are named in the error.
TEST_F(StoreTest, NamesMissingAndInconsistentDatasets) {
  writeWorkloadStore(file("m.h5"), handMade());
  hid_t f = H5Fopen(file("m.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  H5Ldelete(f, "tasks/duration_us", H5P_DEFAULT);
  H5Fclose(f);
  try {
    readWorkloadStore(file("m.h5"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tasks/duration_us"), std::string::npos) << e.what();
  }

  const Workload w = handMade();
  writeWorkloadStore(file("bad.h5"), w);
  std::vector<std::uint32_t> jobs =
      taskColumn<std::uint32_t>(w, [](const Task& t) { return t.job; });
  jobs[0] = 7;  // only 3 jobs
  rewriteDataset(file("bad.h5"), "tasks/job", jobs);
  EXPECT_THAT(readError(file("bad.h5")), HasSubstr("tasks/job"));
}

// Indexes into a table that is empty are refused as out of range: a store
// whose tasks name demand 0 of no demands, and one whose machine events name
// machine 0 of no machines (before, index 0 passed the check for any table,
// as it must for users and roles, and the first read crashed the process).
TEST_F(StoreTest, RejectsIndexesIntoEmptyTables) {
  const Workload w = handMade();
  writeWorkloadStore(file("nodemands.h5"), w);
  rewriteDataset(file("nodemands.h5"), "demands", std::vector<double>{},
                 static_cast<hsize_t>(w.dims->size()));
  rewriteDataset(file("nodemands.h5"), "tasks/demand", std::vector<std::uint32_t>(w.tasks.size()));
  EXPECT_THAT(readError(file("nodemands.h5")),
              HasSubstr("'tasks/demand' row 0 holds index 0, out of range [0, 0)"));

  Workload plain = w;  // no attributes: their string columns are empty already
  for (Machine& m : plain.machines) m.attributes = Attributes{};
  writeWorkloadStore(file("nomachines.h5"), plain);
  rewriteDataset(file("nomachines.h5"), "machines/trace_id", std::vector<std::int64_t>{});
  rewriteDataset(file("nomachines.h5"), "machines/capacity", std::vector<double>{},
                 static_cast<hsize_t>(w.dims->size()));
  rewriteDataset(file("nomachines.h5"), "machines/attr_count", std::vector<std::uint32_t>{});
  // Its events still name machines 0 and 1.
  EXPECT_THAT(readError(file("nomachines.h5")),
              HasSubstr("'machine_events/machine' row 0 holds index 0, out of range"));
}

// A store holds whatever its writer gave it: values a replay cannot take
// (checkWorkload's) are refused on reading, naming the record.
TEST_F(StoreTest, RejectsValuesAReplayCannotTake) {
  const Workload w = handMade();
  writeWorkloadStore(file("negative.h5"), w);
  std::vector<std::int64_t> durations =
      taskColumn<std::int64_t>(w, [](const Task& t) { return toMicros(t.duration); });
  durations[1] = -5;
  rewriteDataset(file("negative.h5"), "tasks/duration_us", durations);
  EXPECT_THAT(readError(file("negative.h5")), AllOf(HasSubstr("task record 1 duration is -5 us"),
                                                    HasSubstr("the file is corrupt")));

  writeWorkloadStore(file("nan.h5"), w);
  const auto D = static_cast<std::size_t>(w.dims->size());
  std::vector<double> demands;
  for (const Scalars& d : w.demands) {
    for (std::size_t k = 0; k < D; ++k) demands.push_back(d[static_cast<Eigen::Index>(k)]);
  }
  demands[1] = std::nan("");
  rewriteDataset(file("nan.h5"), "demands", demands, D);
  EXPECT_THAT(readError(file("nan.h5")), HasSubstr("demand 0: mem is nan"));
}

// The load checks job and task records as it builds them, on two threads,
// not with checkWorkload afterwards: each piece of checkWorkload is still
// made, and names the record as checkWorkload does.
TEST_F(StoreTest, ChecksRecordsAsTheyAreRead) {
  const Workload w = handMade();  // jobs 0, 1, 2 with task records [0,1), [1,3), [3,6)
  const auto refusal = [&](const char* name, const auto& values) {
    writeWorkloadStore(file("r.h5"), w);
    rewriteDataset(file("r.h5"), name, values);
    return readError(file("r.h5"));
  };
  const std::int64_t beyond = kMaxTraceMicros + 1;
  EXPECT_THAT(refusal("jobs/submit_us", std::vector<std::int64_t>{0, beyond, 2'000'000}),
              HasSubstr("job 1 (trace id 101) submit time is " + std::to_string(beyond) +
                        " us, beyond 100 years"));
  EXPECT_THAT(refusal("jobs/user", std::vector<std::uint32_t>{7, 1, 2}),
              HasSubstr("job 0 (trace id 100) names user 7 of 3"));
  EXPECT_THAT(refusal("jobs/depends_on", std::vector<std::uint32_t>{0, 2}),
              HasSubstr("job 2 (trace id 102) depends on job 2, itself"));
  EXPECT_THAT(refusal("tasks/estimate_us", std::vector<std::int64_t>{0, 0, -1, 0, 0, 0}),
              HasSubstr("task record 2 estimate is -1 us"));
  // Records 0 and 1 swapped: each names a job whose range holds the other.
  EXPECT_THAT(refusal("tasks/job", std::vector<std::uint32_t>{1, 0, 1, 2, 2, 2}),
              HasSubstr("task record 0 names job 1 (trace id 101), whose records are [1, 3)"));
  // Job 0's range also takes job 1's first record: the ranges overlap.
  EXPECT_THAT(refusal("jobs/task_count", std::vector<std::uint32_t>{2, 2, 3}),
              HasSubstr("the jobs' ranges cover 7 task records, not the 6 there are"));
  // Each message is a corrupt store's.
  EXPECT_THAT(refusal("jobs/user", std::vector<std::uint32_t>{7, 1, 2}),
              HasSubstr("the file is corrupt"));
}

// The writer refuses what the reader would, naming the record, and writes
// nothing.
TEST_F(StoreTest, WriterRefusesWhatAReplayCannotTake) {
  Workload bad = handMade();
  bad.tasks[1].duration = Duration{-5};
  try {
    writeWorkloadStore(file("refused.h5"), bad);
    FAIL() << "no error";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find(file("refused.h5") + ": workload: task record 1 duration"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(file("refused.h5")));
}

// A write stopped midway (here by its progress callback; Ctrl-C or a full
// disk alike) leaves the store that was there before, whole, and no partial
// file; a write that completes replaces it. The writer used to truncate the
// old store first.
TEST_F(StoreTest, StoppedWriteLeavesTheEarlierStore) {
  const Workload before = handMade();
  writeWorkloadStore(file("s.h5"), before);
  Workload after = handMade();
  after.meta["Note"] = "the second write";
  StoreOptions options;
  options.progress = [](std::uint64_t done, std::uint64_t all) {
    if (2 * done >= all) throw Error("stopped halfway");
  };
  EXPECT_THROW(writeWorkloadStore(file("s.h5"), after, options), Error);
  EXPECT_EQ(readWorkloadStore(file("s.h5")), before);
  EXPECT_FALSE(fs::exists(file("s.h5.partial")));
  writeWorkloadStore(file("s.h5"), after);
  EXPECT_EQ(readWorkloadStore(file("s.h5")), after);
  EXPECT_FALSE(fs::exists(file("s.h5.partial")));
  // A partial file a killed write left (here with no permissions at all) is
  // not reused: the store gets a fresh file's mode.
  std::ofstream(file("s.h5.partial")) << "stale";
  fs::permissions(file("s.h5.partial"), fs::perms::none);
  writeWorkloadStore(file("s.h5"), after);
  EXPECT_NE(fs::status(file("s.h5")).permissions() & fs::perms::owner_read, fs::perms::none);
  EXPECT_EQ(readWorkloadStore(file("s.h5")), after);

  // Renaming over a device or a folder would replace it: refused. A
  // symbolic link is followed, and stays a link.
  fs::create_directory(file("folder.h5"));
  EXPECT_THROW(writeWorkloadStore(file("folder.h5"), before), Error);
  EXPECT_TRUE(fs::is_directory(file("folder.h5")));
  EXPECT_THROW(writeWorkloadStore("/dev/null", before), Error);
  fs::create_symlink(file("s.h5"), file("link.h5"));
  writeWorkloadStore(file("link.h5"), before);
  EXPECT_TRUE(fs::is_symlink(file("link.h5")));
  EXPECT_EQ(readWorkloadStore(file("s.h5")), before);
}

// The HDF5 signature decides, whatever the name; names decide otherwise.
TEST_F(StoreTest, DetectsFormats) {
  writeWorkloadStore(file("store.data"), handMade());
  EXPECT_EQ(detectFormat(file("store.data")), "h5");
  EXPECT_EQ(loadWorkload(file("store.data")), handMade());
  EXPECT_EQ(detectFormat(kShared + "/swf/KTH-SP2-1996-2.1-cln.swf.gz"), "swf");
  EXPECT_EQ(detectFormat(kShared + "/google2011/task_events"), "google2011");
  EXPECT_EQ(detectFormat(kShared + "/google2011"), "google2011");
  EXPECT_EQ(detectFormat(kShared + "/google2011/task_events/part-00001-of-00500.csv.gz"),
            "google2011");
  EXPECT_EQ(detectFormat(kShared + "/alibaba2017/batch_task.csv.gz"), "alibaba2017");
  EXPECT_EQ(detectFormat(kShared + "/alibaba2017"), "alibaba2017");
  // A batch_task file by its columns: 8 starting with a time is v2017, 9 is
  // v2018; 8 starting with a task name is neither, and the error says why.
  fs::create_directory(file("v2017"));
  std::ofstream(file("v2017/batch_task.csv")) << "6459,6524,3,4,15740,Terminated,50,0.0079\n";
  EXPECT_EQ(detectFormat(file("v2017")), "alibaba2017");
  std::ofstream(file("v2018_batch_task.csv")) << "M1,2,j_1,1,Terminated,100,200,100,0.5\n";
  EXPECT_EQ(detectFormat(file("v2018_batch_task.csv")), "alibaba2018");
  std::ofstream(file("cut_batch_task.csv")) << "M1,2,j_1,1,Terminated,100,200,100\n";
  try {
    detectFormat(file("cut_batch_task.csv"));
    ADD_FAILURE() << "an 8-column batch_task starting with a task name was taken";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("its first field 'M1' is not a time"), std::string::npos)
        << e.what();
  }

  // SWF by content, whatever the name.
  std::ofstream(file("log.txt")) << "; MaxProcs: 4\n1 0 1 10 2 -1 -1 2 20 -1 1 1 1 -1 1 -1 -1 -1\n";
  EXPECT_EQ(detectFormat(file("log.txt")), "swf");

  std::ofstream(file("notes.txt")) << "nothing to see\n";
  EXPECT_THROW(detectFormat(file("notes.txt")), Error);
  EXPECT_THROW(detectFormat(file("missing.swf")), Error);
  std::ofstream(file("fake.h5")) << "not hdf5\n";
  EXPECT_THROW(detectFormat(file("fake.h5")), Error);
  // Everything --format takes is listed, auto and h5 too.
  try {
    loadWorkload(file("notes.txt"), "SWF");
    ADD_FAILURE() << "an unknown format was taken";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "unknown trace format 'SWF' (known: auto, h5, swf, google2011, alibaba2017, "
                  "alibaba2018)"),
              std::string::npos)
        << e.what();
  }
}

// loadWorkload through "auto" gives what the reader gives, and fills the
// report for stores.
TEST_F(StoreTest, LoadsRawAndStoreAlike) {
  const std::string kth = kShared + "/swf/KTH-SP2-1996-2.1-cln.swf.gz";
  ReadReport rawReport;
  const Workload raw = loadWorkload(kth, "auto", {}, &rawReport);
  EXPECT_EQ(rawReport.records, 27992u);
  writeWorkloadStore(file("kth.h5"), raw);
  ReadReport report;
  EXPECT_EQ(loadWorkload(file("kth.h5"), "auto", {}, &report), raw);
  EXPECT_EQ(report.counts["task_records"], raw.tasks.size());
  EXPECT_EQ(report.counts["task_instances"], instanceCount(raw));
  EXPECT_EQ(loadWorkload(file("kth.h5"), "h5"), raw);
}

// Lines a read with skipBad left out are said by skippedLinesNote, by
// reason, for the raw read and for a store converted from it; a clean read
// notes nothing.
TEST_F(StoreTest, SkippedLinesStayNotedInTheStore) {
  const std::string line = "2 5 0 10 2 -1 -1 2 -1 -1 1 1 1 -1 1 1 -1 -1\n";
  {
    std::ofstream out(file("mixed.swf"));
    out << "; MaxProcs: 4\n"
        << line << "3 5 0 x 2 -1 -1 2 -1 -1 1 1 1 -1 1 1 -1 -1\n"
        << "4 5 0\n"
        << line << "5 5 0 y 2 -1 -1 2 -1 -1 1 1 1 -1 1 1 -1 -1\n";
  }
  ReadOptions options;
  options.skipBad = true;
  const Workload raw = loadWorkload(file("mixed.swf"), "swf", options);
  EXPECT_EQ(raw.jobs.size(), 2u);
  const std::string mixed = file("mixed.swf");
  const std::string note =
      "3 malformed lines skipped: 2 with run_time: not a number (first: " + mixed +
      ":3: column 4 (run_time): bad value 'x': not a number), 1 with wrong number of fields "
      "(first: " +
      mixed + ":4: expected 18 fields, found 3)";
  EXPECT_EQ(skippedLinesNote(raw), note);
  writeWorkloadStore(file("mixed.h5"), raw);
  const Workload stored = loadWorkload(file("mixed.h5"));
  EXPECT_EQ(stored.meta, raw.meta);
  EXPECT_EQ(skippedLinesNote(stored), note);

  {
    std::ofstream out(file("clean.swf"));
    out << "; MaxProcs: 4\n" << line;
  }
  EXPECT_EQ(skippedLinesNote(loadWorkload(file("clean.swf"), "swf", options)), "");
  options.skipBad = false;
  EXPECT_EQ(skippedLinesNote(loadWorkload(file("clean.swf"), "swf", options)), "");
  std::ofstream(file("one.swf")) << line << "x\n";
  options.skipBad = true;
  EXPECT_EQ(skippedLinesNote(loadWorkload(file("one.swf"), "swf", options)),
            "1 malformed line skipped: 1 with wrong number of fields (first: " + file("one.swf") +
                ":2: expected 18 fields, found 1)");
}

}  // namespace
}  // namespace allot::traces
