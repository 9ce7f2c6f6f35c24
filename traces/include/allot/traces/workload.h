#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "allot/core/cluster.h"
#include "allot/core/resources.h"
#include "allot/core/time.h"

namespace allot::traces {

// The normalized workload every reader produces and the simulator replays.
// Plain data, struct-of-records; indexes (not pointers) link the tables so a
// workload can be copied, compared and written column by column to HDF5.
//
// Tasks are stored run-length encoded: one Task record stands for `count`
// identical instances (same demand, duration, constraints and recorded
// outcome), so a rigid gang of N one-processor tasks (an SWF job) or an
// Alibaba task of N instances is one record, not N. A simulator that needs
// individual tasks expands a record into instances index .. index+count-1.
// Job::taskCount counts records; instanceCount() counts instances.
//
// Units: time in microseconds from the trace's own origin (trace time 0);
// demands and capacities in the units of their dimension names (cpus in
// cores, mem and disk in MB). Traces that normalize demands (Google 2011)
// keep their normalized units and say so in `Workload::meta["units"]`.

inline constexpr std::int64_t kUnknown = -1;

struct Machine {
  std::int64_t traceId = kUnknown;  // id in the source trace
  Scalars capacity = Scalars::Zero();
  Attributes attributes;
  friend bool operator==(const Machine&, const Machine&) = default;
};

struct MachineEvent {
  enum class Kind : std::uint8_t { kAdd = 0, kRemove = 1, kUpdate = 2 };
  TimePoint time;
  std::uint32_t machine = 0;  // index into Workload::machines
  Kind kind = Kind::kAdd;
  Scalars capacity = Scalars::Zero();  // new capacity for kAdd and kUpdate
  friend bool operator==(const MachineEvent&, const MachineEvent&) = default;
};

// How a replay applies machine events, the rule the simulator and the
// accounting of a recorded schedule share: a machine without events is up
// from the start with Machine::capacity; one with events is down until an
// add. An add or an update of a machine that is up sets its capacity (traces
// repeat ADD to change it); an update of a machine that is down, or a removal
// of one, does nothing.
// (machinesWithEvents, below Workload, tells which machines start down.)
enum class MachineChange : std::uint8_t { kNone, kUp, kDown, kResize };
MachineChange machineChange(bool up, MachineEvent::Kind kind);

struct Job {
  std::int64_t traceId = kUnknown;
  TimePoint submit;
  std::uint32_t user = 0;  // index into Workload::users
  std::uint32_t role = 0;  // index into Workload::roles
  std::int32_t priority = 0;
  // A gang starts all of its tasks together or none (SWF parallel jobs).
  bool gang = false;
  // Task records of this job are Workload::tasks[firstTask, firstTask +
  // taskCount). taskCount counts records, not instances (see Task::count and
  // instanceCount()).
  std::uint64_t firstTask = 0;
  std::uint32_t taskCount = 0;
  // Jobs that must finish before this one starts (indexes into jobs).
  std::vector<std::uint32_t> dependsOn;
  friend bool operator==(const Job&, const Job&) = default;
};

// What the source trace says happened to a task, so a replay can be compared
// with history. kUnknown where the trace does not say.
struct Outcome {
  std::int64_t startUs = kUnknown;
  std::int64_t endUs = kUnknown;
  std::int64_t machine = kUnknown;  // trace machine id
  std::int32_t status = -1;         // trace's own status code
  friend bool operator==(const Outcome&, const Outcome&) = default;
};

// One record of `count` identical task instances. demand, duration,
// estimate and outcome are those of each instance.
struct Task {
  std::uint32_t job = 0;  // index into Workload::jobs
  // Position within its job (trace task index); the record's instances are
  // index, index + 1, ..., index + count - 1.
  std::uint32_t index = 0;
  // Per instance: index into Workload::demands (see demandOf). Records share
  // entries: traces have few distinct demands (HPC2N 96 for 202,876 records,
  // Google's first 5 parts 2,696 for 348,312), and a 64-byte demand in every
  // record was half of the task table.
  std::uint32_t demand = 0;
  // Identical instances (same demand, duration, constraints); a gang of N
  // one-processor tasks is one record with count N. Always >= 1.
  std::uint32_t count = 1;
  Duration duration{0};  // of each instance
  // The user's estimate of each instance's run time (SWF requested time,
  // field 9), as backfilling policies use it; 0 where the trace gives none
  // (unknown, or a format without estimates).
  Duration estimate{0};
  // Must not share a machine with another task (instance) of its job
  // (Google's different-machine constraint).
  bool differentMachine = false;
  Outcome outcome;  // shared by the record's instances
  // Field by field, with `demand` an index: Workload's == compares the
  // demands themselves.
  friend bool operator==(const Task&, const Task&) = default;
};

struct Workload {
  DimensionsPtr dims = Dimensions::standard();
  std::vector<Machine> machines;
  std::vector<MachineEvent> machineEvents;  // sorted by time
  std::vector<Job> jobs;                    // sorted by submit time
  std::vector<Task> tasks;                  // records, grouped by job, in job order
  // Per-instance demands the task records index (Task::demand). Entries may
  // repeat: readers share them through DemandTable, other builders need not.
  std::vector<Scalars> demands;
  std::vector<std::string> users;
  std::vector<std::string> roles;
  // Trace header fields and reader notes, e.g. "MaxProcs" -> "100",
  // "format" -> "swf", "units" -> "normalized".
  std::map<std::string, std::string> meta;
};

// The demand of each of `task`'s instances.
inline const Scalars& demandOf(const Workload& workload, const Task& task) {
  return workload.demands[task.demand];
}

// Numbers distinct demands (equal bit for bit) for Task::demand, as a
// table grows chunk by chunk (WorkloadChunk::demands) or at once
// (Workload::demands): readers intern every record's demand through it.
class DemandTable {
 public:
  // The index of `demand`: the one it got before, or, when new, the count of
  // demands interned so far, `demand` being appended to `added`.
  std::uint32_t intern(const Scalars& demand, std::vector<Scalars>& added);

 private:
  struct Hash {
    std::size_t operator()(const Scalars& s) const noexcept;
  };
  struct BitsEqual {
    bool operator()(const Scalars& a, const Scalars& b) const noexcept;
  };
  std::unordered_map<Scalars, std::uint32_t, Hash, BitsEqual> ids_;
  // Consecutive records mostly repeat a demand (a job's tasks look alike).
  Scalars last_ = Scalars::Zero();
  std::uint32_t lastId_ = 0;
};

// The longest time from the trace's origin, or duration, a workload holds:
// 100 years (readers refuse longer ones), so that a replay's microsecond
// clock cannot overflow.
inline constexpr std::int64_t kMaxTraceMicros = std::int64_t{100} * 366 * 24 * 3600 * 1'000'000;

// Checks what consumers of a workload rely on, and throws InvalidArgument
// naming the first record at fault: indexes within their tables (demands,
// jobs, machines, dependencies, users and roles, which may be empty with
// index 0; no job depending on itself), every task
// record in the range of the job it names and no two ranges overlapping,
// counts of at least 1, demands and capacities finite and not negative,
// durations and estimates within [0, kMaxTraceMicros], times within
// +-kMaxTraceMicros. Readers of raw traces refuse such values line by line;
// this is for workloads from elsewhere (a store, a program).
void checkWorkload(const Workload& workload);

// By machine index: whether the machine has events, and so starts down in a
// replay (see machineChange).
std::vector<bool> machinesWithEvents(const Workload& workload);

// Task instances of `job` (the sum of its records' counts).
std::uint64_t instanceCount(const Workload& workload, const Job& job);
// Task instances of the whole workload (the sum of all counts).
std::uint64_t instanceCount(const Workload& workload);

// N identical machines of one capacity: the cluster a trace without a machine
// table (Alibaba 2017's batch_task) is replayed on, or a what-if cluster for
// any trace (`--cluster` of `allot sim` and `allot trace`).
struct UniformCluster {
  std::uint32_t count = 0;
  Resources capacity;  // unreserved scalars only
};

// Parses "N*RESOURCES", e.g. "1300*cpus:64;mem:1" (RESOURCES in the Mesos
// syntax of Resources::parse). Throws ParseError naming the part at fault,
// also when the capacity is not what useUniformCluster takes.
UniformCluster parseUniformCluster(std::string_view spec);

// Replaces the machines of `workload`, and drops its machine events, with
// `cluster`'s machines (trace ids 0..N-1, no attributes), noting the cluster
// in meta["cluster"]. Capacity names the workload's dimension table lacks are
// appended to it. Throws InvalidArgument when the capacity holds anything but
// unreserved scalars, or nothing.
void useUniformCluster(Workload& workload, const UniformCluster& cluster);

// Scales the load the workload offers by `factor`, as load sweeps over a
// real trace do: every job's time since the first submission is divided by
// it (2: jobs arrive twice as fast; 0.5: half as fast), rounded to the
// microsecond, so the order of submissions stays. Tasks, machines and machine
// events keep their times; the recorded outcomes no longer describe this
// workload, which meta["load_factor"] says (the product, when scaled again).
// Throws InvalidArgument for a factor not above 0 (or not finite), or one
// that would take a submission past kMaxTraceMicros.
void scaleLoad(Workload& workload, double factor);
// The factor meta["load_factor"] records (scaleLoad), if any. Throws
// InvalidArgument when it is not a number above 0.
std::optional<double> loadFactorOf(const Workload& workload);

// Field-by-field equality; the dimension tables compare by their names, and
// task records by the demands they index (not the indexes: two readers may
// number the same demands differently).
bool operator==(const Workload& a, const Workload& b);

}  // namespace allot::traces
