#include "allot/traces/swf_writer.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <string_view>

#include "allot/core/error.h"
#include "allot/traces/load.h"
#include "allot/traces/whole_file.h"
#include "src/readers/formats.h"

namespace allot::traces {
namespace {

// What the SWF reader accepts: processors per job.
constexpr double kMaxProcs = detail::kSwfMaxProcs;
// Header keys computed from what is written, never copied from meta.
constexpr std::string_view kComputedKeys[] = {"Version",  "MaxJobs",  "MaxRecords",
                                              "MaxNodes", "MaxProcs", "MaxMemory"};

std::string jobName(const Workload& w, std::size_t j) {
  const std::int64_t id = w.jobs[j].traceId;
  return id == kUnknown ? fmt::format("job {}", j) : fmt::format("job {} (trace id {})", j, id);
}

// The name as SWF writes it when it is a number ("12", "-1"), else nothing.
std::optional<std::int64_t> numberOf(const std::string& name) {
  std::int64_t value = 0;
  const char* end = name.data() + name.size();
  const auto [ptr, ec] = std::from_chars(name.data(), end, value);
  if (name.empty() || ec != std::errc() || ptr != end || std::to_string(value) != name) {
    return std::nullopt;
  }
  return value;
}

// Whole seconds, rounded to the nearest (times in a workload are not negative).
std::int64_t roundSeconds(std::int64_t us) {
  return (us + 500'000) / 1'000'000;
}

// SWF numbers of users or queues: the names themselves when every one is a
// number (queue "*" is -1), else 1, 2, ... in table order.
struct Numbering {
  std::vector<std::int64_t> numbers;
  bool renamed = false;
};
Numbering numberNames(const std::vector<std::string>& names, bool star) {
  Numbering out;
  for (const std::string& name : names) {
    const auto n = star && name == "*" ? std::optional<std::int64_t>(-1) : numberOf(name);
    if (!n || *n < -1) {
      out.renamed = true;
      break;
    }
    out.numbers.push_back(*n);
  }
  if (out.renamed) {
    out.numbers.clear();
    for (std::size_t i = 0; i < names.size(); ++i) {
      out.numbers.push_back(star && names[i] == "*" ? -1 : static_cast<std::int64_t>(i) + 1);
    }
  }
  return out;
}

std::string numberingNote(const char* what, const std::vector<std::string>& names,
                          const Numbering& numbering) {
  std::string text = fmt::format("{} are numbered in the workload's order", what);
  if (names.size() > 20) return text + fmt::format(" ({} of them)", names.size());
  text += ":";
  for (std::size_t i = 0; i < names.size(); ++i) {
    text += fmt::format(" {}={}", numbering.numbers[i], names[i]);
  }
  return text;
}

struct Shape {
  int cpus = 0;  // index of the cpus dimension
  int mem = -1;  // of mem, -1 when none
};

Shape shapeOf(const Workload& w) {
  Shape s;
  s.cpus = w.dims->find("cpus").value_or(-1);
  s.mem = w.dims->find("mem").value_or(-1);
  return s;
}

void writeValueLines(std::string& out, std::string_view key, std::string_view value) {
  // Indented past the key, so that the reader continues the key's value.
  const std::string indent(key.size() + 3, ' ');
  bool first = true;
  while (true) {
    const std::size_t newline = value.find('\n');
    const std::string_view line = value.substr(0, newline);
    if (first) {
      fmt::format_to(std::back_inserter(out), "; {}: {}\n", key, line);
    } else if (!line.empty()) {
      fmt::format_to(std::back_inserter(out), ";{}{}\n", indent, line);
    }
    first = false;
    if (newline == std::string_view::npos) break;
    value.remove_prefix(newline + 1);
  }
}

using Sink = std::function<void(std::string_view)>;

void writeSwfTo(const Workload& w, const SwfWriteOptions& options, const Sink& sink) {
  if (const std::string why = swfUnwritableReason(w); !why.empty()) throw InvalidArgument(why);
  if (!options.schedule.empty() && options.schedule.size() != w.jobs.size()) {
    throw InvalidArgument(fmt::format("an SWF schedule needs one entry per job: {} for {} jobs",
                                      options.schedule.size(), w.jobs.size()));
  }
  const Shape shape = shapeOf(w);
  const bool traceNumbers =
      std::all_of(w.jobs.begin(), w.jobs.end(), [](const Job& job) { return job.traceId > 0; });
  auto numberOfJob = [&](std::size_t j) {
    return traceNumbers ? w.jobs[j].traceId : static_cast<std::int64_t>(j) + 1;
  };
  const Numbering users = numberNames(w.users, false);
  const Numbering queues = numberNames(w.roles, true);

  // One record's fields; `rounded` when a time or the memory was not whole.
  struct Record {
    std::int64_t number, submit, wait, run, procs, estimate, mem, user, queue, preceding;
    std::int32_t status;
    bool rounded;
  };
  auto recordOf = [&](std::size_t j) {
    const Job& job = w.jobs[j];
    const Task& task = w.tasks[job.firstTask];
    const Scalars& demand = demandOf(w, task);
    const double cpus = demand[shape.cpus];
    const double memKb = shape.mem >= 0 ? demand[shape.mem] * 1024.0 / cpus : 0.0;
    bool rounded = memKb != std::round(memKb);
    auto seconds = [&](std::int64_t us) {
      if (us % 1'000'000 != 0) rounded = true;
      return roundSeconds(us);
    };
    Record r{};
    r.number = numberOfJob(j);
    r.submit = seconds(toMicros(job.submit));
    r.wait = -1;
    r.run = seconds(toMicros(task.duration));
    r.status = task.outcome.status;
    if (options.schedule.empty()) {
      if (task.outcome.startUs != kUnknown) r.wait = seconds(task.outcome.startUs) - r.submit;
    } else {
      const SwfJobSchedule& s = options.schedule[j];
      r.status = s.status;
      if (s.startUs != kUnknown && s.endUs != kUnknown) {
        const std::int64_t start = seconds(s.startUs);
        r.wait = start - r.submit;
        r.run = seconds(s.endUs) - start;
      }
    }
    r.procs = static_cast<std::int64_t>(cpus) * task.count;
    r.estimate = task.estimate > Duration::zero() ? seconds(toMicros(task.estimate)) : -1;
    r.mem = memKb > 0 ? static_cast<std::int64_t>(std::round(memKb)) : -1;
    r.user = users.numbers[job.user];
    r.queue = queues.numbers[job.role];
    r.preceding = job.dependsOn.empty() ? -1 : numberOfJob(job.dependsOn[0]);
    r.rounded = rounded;
    return r;
  };

  // A first pass for what the header says: jobs rounded, and the largest
  // per-processor memory (from which the reader infers the machines').
  std::size_t rounded = 0;
  std::int64_t maxMemKb = 0;
  for (std::size_t j = 0; j < w.jobs.size(); ++j) {
    const Record r = recordOf(j);
    if (r.rounded) ++rounded;
    maxMemKb = std::max(maxMemKb, r.mem);
  }

  std::string text = "; Version: 2.2\n";
  for (const auto& [key, value] : w.meta) {
    // SWF's keys (Computer, UnixStartTime, Note, ...): the reader's own notes
    // (format, units, count.records, ...) begin in lower case.
    if (key.empty() || key.front() < 'A' || key.front() > 'Z' ||
        !std::all_of(key.begin(), key.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }) ||
        std::find(std::begin(kComputedKeys), std::end(kComputedKeys), key) !=
            std::end(kComputedKeys)) {
      continue;
    }
    writeValueLines(text, key, value);
  }
  fmt::format_to(std::back_inserter(text), "; MaxJobs: {}\n; MaxRecords: {}\n", w.jobs.size(),
                 w.jobs.size());
  std::vector<std::string> notes;
  if (!w.machines.empty()) {
    const Scalars& capacity = w.machines.front().capacity;
    const auto cpus = static_cast<std::int64_t>(capacity[shape.cpus]);
    fmt::format_to(std::back_inserter(text), "; MaxNodes: {}\n; MaxProcs: {}\n", w.machines.size(),
                   static_cast<std::int64_t>(w.machines.size()) * cpus);
    // The reader gives each machine MaxMemory per processor, else the
    // largest per-processor memory of any job: written only when that differs.
    const double mem = shape.mem >= 0 ? capacity[shape.mem] : 0.0;
    const double inferred = static_cast<double>(maxMemKb) / 1024.0 * static_cast<double>(cpus);
    if (mem > 0 && mem != inferred) {
      fmt::format_to(std::back_inserter(text), "; MaxMemory: {}\n",
                     mem * 1024.0 / static_cast<double>(cpus));
    }
    std::vector<std::string> unwritten;
    for (int d = 0; d < w.dims->size(); ++d) {
      if (d != shape.cpus && d != shape.mem && capacity[d] != 0) {
        unwritten.push_back(fmt::format("{} ({} each)", w.dims->name(d), capacity[d]));
      }
    }
    if (!unwritten.empty()) {
      notes.push_back(
          fmt::format("the machines' {} not written: SWF has no field for it, and no "
                      "task asks for it",
                      fmt::join(unwritten, ", ")));
    }
  }
  // Not refused: no policy or the simulator reads a job's priority.
  if (const auto prioritized = std::count_if(w.jobs.begin(), w.jobs.end(),
                                             [](const Job& job) { return job.priority != 0; });
      prioritized > 0) {
    notes.push_back(
        fmt::format("{} jobs have a priority other than 0, not written: SWF has no "
                    "field for it",
                    prioritized));
  }
  if (users.renamed) notes.push_back(numberingNote("users", w.users, users));
  if (queues.renamed) notes.push_back(numberingNote("queues", w.roles, queues));
  if (const auto factor = loadFactorOf(w)) {
    notes.push_back(fmt::format(
        "times since the first submission are the trace's divided by the load factor {}", *factor));
  }
  if (const std::string leftOut = leftOutNote(w); !leftOut.empty()) {
    notes.push_back("the source had " + leftOut);
  }
  if (rounded > 0) {
    notes.push_back(
        fmt::format("{} of {} jobs had a time or memory that was not a whole second "
                    "or KB: rounded to the nearest",
                    rounded, w.jobs.size()));
  }
  for (const std::string& note : options.notes) notes.push_back(note);
  for (const std::string& note : notes) writeValueLines(text, "Note", note);
  text += ";\n";

  for (std::size_t j = 0; j < w.jobs.size(); ++j) {
    const Record r = recordOf(j);
    fmt::format_to(std::back_inserter(text),
                   "{:>7} {:>10} {:>7} {:>7} {:>5} -1 -1 {:>5} {:>7} {:>7} {:>2} {:>4} -1 -1 "
                   "{:>3} -1 {:>3} -1\n",
                   r.number, r.submit, r.wait, r.run, r.procs, r.procs, r.estimate, r.mem, r.status,
                   r.user, r.queue, r.preceding);
    if (text.size() >= (1u << 20)) {
      sink(text);
      text.clear();
    }
  }
  sink(text);
}

}  // namespace

std::string swfUnwritableReason(const Workload& w) {
  const Shape shape = shapeOf(w);
  const std::string why =
      " (SWF describes a job as one rigid gang of one-processor tasks on "
      "identical nodes: SWF logs and the hpc-like preset can be written)";
  if (shape.cpus < 0) return "the workload has no cpus dimension" + why;
  if (!w.machineEvents.empty()) {
    return fmt::format("the workload has {} machine events; SWF has none{}", w.machineEvents.size(),
                       why);
  }
  for (std::size_t m = 0; m < w.machines.size(); ++m) {
    const Scalars& capacity = w.machines[m].capacity;
    const double cpus = capacity[shape.cpus];
    if (cpus < 1 || cpus != std::floor(cpus)) {
      return fmt::format("machine {} has {} cpus, not a whole number of processors{}", m, cpus,
                         why);
    }
    const Scalars& first = w.machines.front().capacity;
    if (capacity[shape.cpus] != first[shape.cpus] ||
        (shape.mem >= 0 && capacity[shape.mem] != first[shape.mem])) {
      return fmt::format("machine {} differs from machine 0 in cpus or mem; SWF nodes are alike{}",
                         m, why);
    }
  }
  for (std::size_t j = 0; j < w.jobs.size(); ++j) {
    const Job& job = w.jobs[j];
    if (job.taskCount != 1) {
      return fmt::format("{} has {} task records, not one{}", jobName(w, j), job.taskCount, why);
    }
    const Task& task = w.tasks[job.firstTask];
    const Scalars& demand = demandOf(w, task);
    const double cpus = demand[shape.cpus];
    if (cpus < 1 || cpus != std::floor(cpus) || cpus * task.count > kMaxProcs) {
      return fmt::format(
          "{}: its tasks ask for {} cpus each, not a whole number of processors "
          "(1 to {} in all){}",
          jobName(w, j), cpus, kMaxProcs, why);
    }
    for (int d = 0; d < w.dims->size(); ++d) {
      if (d != shape.cpus && d != shape.mem && demand[d] != 0) {
        return fmt::format("{}: its tasks ask for {}, which SWF has no field for{}", jobName(w, j),
                           w.dims->name(d), why);
      }
    }
    if (!job.gang && task.count > 1) {
      return fmt::format("{} is not a gang: its {} tasks may start apart{}", jobName(w, j),
                         task.count, why);
    }
    if (task.differentMachine) {
      return fmt::format("{} keeps its tasks on different machines{}", jobName(w, j), why);
    }
    if (job.dependsOn.size() > 1) {
      return fmt::format("{} depends on {} jobs; SWF names one preceding job{}", jobName(w, j),
                         job.dependsOn.size(), why);
    }
    if (!job.dependsOn.empty() && job.dependsOn[0] >= j) {
      return fmt::format("{} depends on a job submitted after it; SWF names a preceding job{}",
                         jobName(w, j), why);
    }
  }
  return {};
}

void writeSwf(const Workload& workload, std::ostream& out, const SwfWriteOptions& options) {
  writeSwfTo(workload, options, [&](std::string_view text) {
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
  });
}

void writeSwfFile(const std::string& path, const Workload& workload,
                  const SwfWriteOptions& options) {
  const WholeFile file(path);
  const bool gzip = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  auto fail = [&](const std::string& what) {
    file.discard();
    throw Error(fmt::format("{}: cannot write ({})", path, what));
  };
  if (gzip) {
    gzFile out = gzopen(file.partial.c_str(), "wb6");
    if (out == nullptr) fail(std::strerror(errno));
    try {
      writeSwfTo(workload, options, [&](std::string_view text) {
        if (!text.empty() && gzwrite(out, text.data(), static_cast<unsigned>(text.size())) == 0) {
          int code = 0;
          throw Error(fmt::format("{}: cannot write ({})", path, gzerror(out, &code)));
        }
      });
    } catch (...) {
      gzclose(out);
      file.discard();
      throw;
    }
    if (gzclose(out) != Z_OK) fail("gzip close failed");
  } else {
    std::FILE* out = std::fopen(file.partial.c_str(), "wb");
    if (out == nullptr) fail(std::strerror(errno));
    try {
      writeSwfTo(workload, options, [&](std::string_view text) {
        if (std::fwrite(text.data(), 1, text.size(), out) != text.size()) {
          throw Error(fmt::format("{}: cannot write ({})", path, std::strerror(errno)));
        }
      });
    } catch (...) {
      std::fclose(out);
      file.discard();
      throw;
    }
    if (std::fclose(out) != 0) fail(std::strerror(errno));
  }
  file.commit();
}

}  // namespace allot::traces
