#include "allot/traces/load.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <string>

#include "allot/core/error.h"
#include "allot/traces/store.h"
#include "src/readers/line_reader.h"

namespace allot::traces {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool endsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

std::string knownNames() {
  std::string known;
  for (const FormatInfo& f : loadFormats()) {
    if (f.name != "auto") known += (known.empty() ? "" : ", ") + f.name;
  }
  return known;
}

// The first line of a text file that is not empty (gzip read transparently).
std::string firstLine(const std::string& path) {
  detail::LineReader reader(path);
  std::string_view line;
  for (int i = 0; i < 100 && reader.next(line); ++i) {
    if (line.find_first_not_of(" \t") != std::string_view::npos) return std::string(line);
  }
  return {};
}

std::size_t countFields(std::string_view line, char separator) {
  return static_cast<std::size_t>(std::count(line.begin(), line.end(), separator)) + 1;
}

// SWF data line: 18 whitespace-separated numbers.
bool looksLikeSwf(std::string_view line) {
  if (!line.empty() && line.front() == ';') return true;
  std::size_t fields = 0;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size()) break;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') {
      const char c = line[i];
      if (!std::isdigit(static_cast<unsigned char>(c)) && c != '-' && c != '.') return false;
      ++i;
    }
    if (i > start) ++fields;
  }
  return fields == 18;
}

std::string batchTaskFormat(const std::string& file) {
  const std::string line = firstLine(file);
  if (line.find("task_create_time") != std::string::npos) return "alibaba2017";
  const std::size_t fields = countFields(line, ',');
  if (fields == 8) {
    // v2017 rows start with a time; v2018 rows with a task name (M1, task_...).
    const std::string_view first = std::string_view(line).substr(0, line.find(','));
    double time = 0;
    const auto [end, ec] = std::from_chars(first.data(), first.data() + first.size(), time);
    if (ec == std::errc() && end == first.data() + first.size()) return "alibaba2017";
    throw Error(fmt::format(
        "{}: looks like an Alibaba batch_task file with 8 columns, as v2017 has, but its first "
        "field '{}' is not a time: a v2018 task name? (v2018 has 9 columns); check the file, or "
        "pass --format alibaba2017 or alibaba2018",
        file, first));
  }
  if (fields == 9) return "alibaba2018";
  throw Error(file + ": looks like an Alibaba batch_task file but its first line has " +
              std::to_string(fields) +
              " columns (v2017 has 8, v2018 has 9); pass --format alibaba2017 or alibaba2018");
}

std::string findBatchTask(const fs::path& dir) {
  for (const char* name : {"batch_task.csv", "batch_task.csv.gz", "batch_task"}) {
    if (fs::is_regular_file(dir / name)) return (dir / name).string();
  }
  return {};
}

}  // namespace

std::vector<FormatInfo> loadFormats() {
  std::vector<FormatInfo> out{
      {"auto",
       "guess from the file: HDF5 signature, name (.swf, task_events, batch_task) or "
       "first line"},
      {"h5", "allot HDF5 workload store (written by `allot trace convert` or `generate`)"}};
  for (FormatInfo& f : traceFormats()) out.push_back(std::move(f));
  return out;
}

std::string detectFormat(const std::string& path) {
  std::error_code ec;
  const fs::path p(path);
  const fs::file_status status = fs::status(p, ec);
  if (ec || !fs::exists(status)) throw Error(path + ": no such file or folder");
  const std::string name = lower(p.filename().string());
  const std::string whole = lower(p.generic_string());

  if (fs::is_directory(status)) {
    if (fs::is_directory(p / "task_events") || name == "task_events") return "google2011";
    if (std::string batch = findBatchTask(p); !batch.empty()) return batchTaskFormat(batch);
    throw Error(path +
                ": cannot tell the trace format of this folder (no task_events/ or "
                "batch_task file in it); pass --format NAME (known: " +
                knownNames() + ")");
  }
  if (isHdf5File(path)) return "h5";
  if (endsWith(name, ".h5") || endsWith(name, ".hdf5")) {
    throw Error(path +
                ": named like an HDF5 file but does not start with the HDF5 signature; "
                "the file is truncated or not HDF5");
  }
  if (endsWith(name, ".swf") || endsWith(name, ".swf.gz")) return "swf";
  if (whole.find("task_events") != std::string::npos) return "google2011";
  if (name.find("batch_task") != std::string::npos) return batchTaskFormat(path);
  if (looksLikeSwf(firstLine(path))) return "swf";
  throw Error(path +
              ": cannot tell the trace format from its name or first line; pass --format "
              "NAME (known: " +
              knownNames() + ")");
}

Workload loadWorkload(const std::string& path, std::string_view format, const ReadOptions& options,
                      ReadReport* report) {
  const std::vector<FormatInfo> known = loadFormats();
  if (format != "hdf5" && std::none_of(known.begin(), known.end(),
                                       [&](const FormatInfo& f) { return f.name == format; })) {
    std::string names;
    for (const FormatInfo& f : known) names += (names.empty() ? "" : ", ") + f.name;
    throw InvalidArgument(fmt::format("unknown trace format '{}' (known: {})", format, names));
  }
  const std::string resolved = format == "auto" ? detectFormat(path) : std::string(format);
  if (resolved == "h5" || resolved == "hdf5") {
    checkReadOptions(path, "h5", options);
    StoreOptions storeOptions;
    storeOptions.progress = options.progress;
    Workload w = readWorkloadStore(path, storeOptions);
    if (report != nullptr) {
      *report = ReadReport{};
      report->records = w.jobs.size();
      report->counts["jobs"] = w.jobs.size();
      report->counts["task_records"] = w.tasks.size();
      report->counts["task_instances"] = instanceCount(w);
      report->counts["machines"] = w.machines.size();
    }
    return w;
  }
  return readWorkload(path, resolved, options, report);
}

namespace {

// ": N with REASON, M with REASON" over the meta keys PREFIX<REASON>; with
// `firstPrefix`, each reason followed by " (first: VALUE)" of the meta key
// firstPrefix<REASON> where there is one.
std::string byReason(const Workload& w, std::string_view prefix,
                     std::string_view firstPrefix = {}) {
  std::string text;
  const char* separator = ": ";
  for (auto it = w.meta.lower_bound(std::string(prefix));
       it != w.meta.end() && it->first.starts_with(prefix); ++it) {
    const std::string reason = it->first.substr(prefix.size());
    text += separator + it->second + " with " + reason;
    if (!firstPrefix.empty()) {
      if (const auto first = w.meta.find(std::string(firstPrefix) + reason);
          first != w.meta.end()) {
        text += " (first: " + first->second + ")";
      }
    }
    separator = ", ";
  }
  return text;
}

}  // namespace

std::string skippedLinesNote(const Workload& w) {
  const auto count = w.meta.find("count.skipped_lines");
  if (count == w.meta.end() || count->second == "0") return {};
  return count->second + (count->second == "1" ? " malformed line" : " malformed lines") +
         " skipped" + byReason(w, "skipped.", "skipped_first.");
}

std::string leftOutNote(const Workload& w) {
  constexpr std::string_view kPrefix = "left_out.";
  std::uint64_t total = 0;
  for (auto it = w.meta.lower_bound(std::string(kPrefix));
       it != w.meta.end() && it->first.starts_with(kPrefix); ++it) {
    total += std::stoull(it->second);
  }
  if (total == 0) return {};
  return std::to_string(total) + (total == 1 ? " record" : " records") +
         " left out as not replayable" + byReason(w, kPrefix);
}

}  // namespace allot::traces
