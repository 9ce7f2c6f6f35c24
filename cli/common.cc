#include "common.h"

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>

#include "allot/core/error.h"
#include "allot/core/text.h"
#include "token_file.h"

namespace allot::cli {

ProgressBar::ProgressBar(std::string label)
    : label_(std::move(label)), terminal_(isatty(STDERR_FILENO) == 1) {}

std::function<void(std::uint64_t, std::uint64_t)> ProgressBar::callback() {
  return [this](std::uint64_t done, std::uint64_t total) { update(done, total); };
}

void ProgressBar::finish() {
  if (drawn_) std::fputs("\r\033[K", stderr);
  drawn_ = false;
}

void ProgressBar::print(const std::string& line) {
  finish();
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
  last_ = -1;
}

void ProgressBar::update(std::uint64_t done, std::uint64_t total, const std::string& note) {
  if (total == 0) return;
  const int percent = static_cast<int>(
      std::min<std::uint64_t>(100, done * 100 / std::max<std::uint64_t>(total, 1)));
  if (!terminal_) {
    const auto now = std::chrono::steady_clock::now();
    if (now - lastLine_ < kLogInterval) return;
    lastLine_ = now;
    std::fprintf(
        stderr, "%s %3d%% %s (%s elapsed)\n", label_.c_str(), percent, note.c_str(),
        formatSpan(std::chrono::duration_cast<std::chrono::microseconds>(now - start_).count())
            .c_str());
    std::fflush(stderr);
    return;
  }
  if (percent == last_ && note == lastNote_) return;
  last_ = percent;
  lastNote_ = note;
  constexpr int kWidth = 30;
  const int filled = percent * kWidth / 100;
  std::fprintf(stderr, "\r\033[K%s [%s%s] %3d%% %s", label_.c_str(),
               std::string(static_cast<std::size_t>(filled), '#').c_str(),
               std::string(static_cast<std::size_t>(kWidth - filled), ' ').c_str(), percent,
               note.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

CLI::Validator numberFlag(const char* unit, double min, double max, bool aboveMin, bool seconds) {
  return CLI::Validator(
      [unit, min, max, aboveMin, seconds](std::string& text) -> std::string {
        double value = 0;
        if (!CLI::detail::lexical_cast(text, value) || !std::isfinite(value)) {
          return fmt::format("'{}' is not a finite number of {}", text, unit);
        }
        if (aboveMin && value <= min) return fmt::format("{} is not above {} {}", text, min, unit);
        if (value < min) {
          return fmt::format("{} is below the least allowed, {} {}", text, min, unit);
        }
        if (value > max) return fmt::format("{} is above the most allowed, {} {}", text, max, unit);
        if (seconds && roundsToZero(value)) {
          return fmt::format(
              "{} seconds is below allot's time resolution, 1 microsecond, and would become 0",
              text);
        }
        return "";
      },
      "NUMBER");
}

CLI::Validator wholeNumberFlag(std::uint64_t min, std::uint64_t max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        std::uint64_t value = 0;
        const char* end = text.data() + text.size();
        const auto [ptr, ec] = std::from_chars(text.data(), end, value);
        if (ec != std::errc() || ptr != end || value < min || value > max) {
          return fmt::format("'{}' is not a whole number from {} to {}", text, min, max);
        }
        return "";
      },
      fmt::format("UINT in [{} - {}]", min, max));
}

HeldSignals::HeldSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  sigprocmask(SIG_BLOCK, &set_, &previous_);
}

HeldSignals::~HeldSignals() {
  const timespec zero{};
  while (sigtimedwait(&set_, nullptr, &zero) > 0) {
  }
  sigprocmask(SIG_SETMASK, &previous_, nullptr);
}

int HeldSignals::pending() const {
  sigset_t now;
  sigpending(&now);
  for (const int s : {SIGINT, SIGTERM}) {
    if (sigismember(&now, s) == 1) return s;
  }
  return 0;
}

void interruptedExit(int signal, const std::string& what) {
  std::cerr << fmt::format("allot: interrupted by signal {} ({}): {}\n", signal, strsignal(signal),
                           what);
  throw CLI::RuntimeError(128 + signal);
}

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string formatSpan(std::int64_t us) {
  if (us < 0) return "-" + formatSpan(-us);
  const std::int64_t total = us / 1'000'000;
  const std::int64_t days = total / 86400;
  std::string out = days > 0 ? fmt::format("{}d ", days) : "";
  return out +
         fmt::format("{:02}:{:02}:{:02}", (total % 86400) / 3600, (total % 3600) / 60, total % 60);
}

std::string formatRate(double perSecond) {
  if (perSecond >= 1e6) return fmt::format("{:.2f} M", perSecond / 1e6);
  if (perSecond >= 1e3) return fmt::format("{:.1f} k", perSecond / 1e3);
  return fmt::format("{:.0f}", perSecond);
}

void ReaderFlags::add(CLI::App* cmd) {
  cmd->add_option("--format,-f", format,
                  "Input format: auto, h5, or a reader name (see `allot trace formats`)")
      ->capture_default_str();
  cmd->add_flag("--skip-bad", skipBad,
                "Skip malformed lines, counting them by reason, instead of stopping at the first");
  cmd->add_option("--machines", machines,
                  "google2011: machine table CSV when there is no machine_events; alibaba2018: "
                  "machine_meta file");
  cmd->add_option("--job-events", jobEvents, "google2011: job_events file or folder of parts");
  cmd->add_option("--machine-events", machineEvents,
                  "google2011: machine_events file or folder of parts");
  cmd->add_option("--batch-instance", batchInstance, "alibaba2018: batch_instance file");
  cmd->add_option("--cluster", cluster,
                  "N*RESOURCES: replace the trace's machines with N identical ones, e.g. "
                  "'1300*cpus:64;mem:1' (quote it); for traces without a machine table "
                  "(alibaba2017) or what-if cluster sizes. Units are the trace's (`allot trace "
                  "inspect` shows them)")
      ->check([](const std::string& text) {
        try {
          traces::parseUniformCluster(text);
          return std::string();
        } catch (const Error& e) {
          return std::string(e.what());
        }
      });
  cmd->add_option("--load-factor", loadFactor,
                  "Scale the load the trace offers by X: every job's time since the first "
                  "submission is divided by X (1.25: jobs arrive 25% faster; 0.5: half as fast), "
                  "for load sweeps over a real trace. Tasks, machines and machine events keep "
                  "their times; the trace's recorded schedule (--history) no longer applies. "
                  "`allot trace inspect` shows the offered load")
      ->check(numberFlag("times the trace's load", 0, 1e6, /*aboveMin=*/true))
      ->type_name("X");
}

traces::ReadOptions ReaderFlags::options() const {
  traces::ReadOptions o;
  o.skipBad = skipBad;
  o.machinesFile = machines;
  o.jobEvents = jobEvents;
  o.machineEvents = machineEvents;
  o.batchInstance = batchInstance;
  return o;
}

void refuseOverwritingInput(const std::string& output, const std::string& option,
                            const std::string& trace, const ReaderFlags& flags) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (output.empty() || !fs::exists(output, ec)) return;  // a new file destroys nothing
  auto same = [&](const fs::path& input) {
    std::error_code e;
    return fs::equivalent(output, input, e) && !e;
  };
  auto refuse = [&](const fs::path& input, std::string_view what) {
    throw InvalidArgument(
        fmt::format("{} {} is {} {}: writing there would destroy the input; choose another file",
                    option, output, what, input.string()));
  };
  if (fs::is_directory(trace, ec)) {
    // A folder of parts (Google 2011, Alibaba): any file in it may be read.
    for (auto it = fs::recursive_directory_iterator(trace, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec) && same(it->path())) refuse(it->path(), "the trace's file");
    }
  } else if (same(trace)) {
    refuse(trace, "the input trace");
  }
  for (const std::string* side :
       {&flags.machines, &flags.jobEvents, &flags.machineEvents, &flags.batchInstance}) {
    if (!side->empty() && same(*side)) refuse(*side, "the input file");
  }
}

traces::Workload load(const std::string& path, const ReaderFlags& flags,
                      traces::ReadReport* report) {
  ProgressBar bar("reading");
  traces::ReadOptions options = flags.options();
  options.progress = bar.callback();
  traces::Workload w = traces::loadWorkload(path, flags.format, options, report);
  if (!flags.cluster.empty())
    traces::useUniformCluster(w, traces::parseUniformCluster(flags.cluster));
  if (flags.loadFactor) traces::scaleLoad(w, *flags.loadFactor);
  return w;
}

Duration parseDuration(const std::string& flag, const std::string& text, bool allowZero) {
  std::size_t end = 0;
  while (end < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[end])) || text[end] == '.')) {
    ++end;
  }
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + end, value);
  const std::string unit = text.substr(end);
  double scale = 0;
  if (unit.empty() || unit == "s") scale = 1;
  if (unit == "ms") scale = 1e-3;
  if (unit == "us") scale = 1e-6;
  if (unit == "m" || unit == "min") scale = 60;
  if (unit == "h") scale = 3600;
  if (unit == "d") scale = 86400;
  if (end == 0 || ec != std::errc() || ptr != text.data() + end || scale == 0 ||
      !std::isfinite(value) || (value == 0 && !allowZero)) {
    throw ParseError(
        fmt::format("{} '{}': expected a {}duration such as 1s, 250ms, 500us, 2m, 1h or 14d", flag,
                    text, allowZero ? "" : "positive "));
  }
  return secondsToDuration(value * scale);
}

void setUpLogging(const std::string& name, const std::string& level) {
  spdlog::set_default_logger(spdlog::stderr_color_mt(name));
  spdlog::set_level(spdlog::level::from_str(level));
}

std::string readTokenFile(const char* flag, const std::string& path) {
  std::ifstream in(path);
  std::string token;
  if (!in || !std::getline(in, token)) {
    throw InvalidArgument(fmt::format("{} '{}': cannot read it (or it is empty): {}", flag, path,
                                      std::strerror(errno)));
  }
  token = std::string(trim(token));
  if (token.empty()) throw InvalidArgument(fmt::format("{} '{}': the token is empty", flag, path));
  for (const char c : token) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      throw InvalidArgument(
          fmt::format("{} '{}': the token may hold printable ASCII characters without spaces only",
                      flag, path));
    }
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    std::cerr << fmt::format(
        "allot: warning: {} '{}' may be read by others than its owner "
        "(chmod 600 it)\n",
        flag, path);
  }
  return token;
}

}  // namespace allot::cli
