// The machine's ceiling for "one process per task": how many short commands
// per second the kernel starts and reaps when nothing else runs, with one
// spawning thread per core. launch_throughput.sh runs it beside the runtime as
// the same-run baseline, because process creation varies several-fold
// between VMs of the same kind and caps what any agent that runs each task as
// its own process can reach.
//
//   spawn_ceiling [--seconds S] [--threads N] [--executor PATH] [--dir D]
//
// Without --executor it measures `/bin/sh -c true` (the task alone, as the
// agent's executor starts it). With --executor it measures the agent's whole
// per-task chain without agent or master: `allot-executor` spawned as the
// agent spawns it, creating a sandbox under D and running `sh -c true`.

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

struct Options {
  double seconds = 3;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::string executor;
  std::string dir = "/tmp";
};

// Spawns and reaps one command; returns false when it could not run or failed.
bool runOnce(const Options& o, unsigned thread, std::uint64_t n) {
  std::vector<std::string> args;
  if (o.executor.empty()) {
    args = {"/bin/sh", "-c", "true"};
  } else {
    const std::string base = o.dir + "/t" + std::to_string(thread) + "-" + std::to_string(n);
    // As the agent starts it for launch_throughput.sh's tasks (cpus 0.1, mem 16).
    args = {o.executor,    "--sandbox", base,     "--status-file", base + ".status",
            "--mem-bytes", "16777216",  "--cpus", "0.1",           "--",
            "true"};
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return false;
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Process-creation ceiling: short commands started and reaped per second"};
  app.add_option("--seconds", o.seconds, "How long to spawn")->check(CLI::PositiveNumber);
  app.add_option("--threads", o.threads, "Spawning threads (default: one per core)")
      ->check(CLI::PositiveNumber);
  app.add_option("--executor", o.executor,
                 "Spawn this allot-executor per task (sandbox and status file under --dir) "
                 "instead of `/bin/sh -c true`")
      ->check(CLI::ExistingFile);
  app.add_option("--dir", o.dir, "Where executor sandboxes go (with --executor)")
      ->check(CLI::ExistingDirectory);
  CLI11_PARSE(app, argc, argv);

  std::atomic<std::uint64_t> done{0};
  std::atomic<std::uint64_t> failed{0};
  const auto start = std::chrono::steady_clock::now();
  const auto stop = start + std::chrono::duration<double>(o.seconds);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < o.threads; ++t) {
    threads.emplace_back([&, t] {
      for (std::uint64_t n = 0; std::chrono::steady_clock::now() < stop; ++n) {
        (runOnce(o, t, n) ? done : failed).fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!o.executor.empty()) {
    // The sandboxes and status files are only the measurement's litter.
    for (const auto& e : std::filesystem::directory_iterator(o.dir)) {
      const std::string name = e.path().filename().string();
      if (name.size() > 1 && name[0] == 't' && std::isdigit(static_cast<unsigned char>(name[1]))) {
        std::filesystem::remove_all(e.path());
      }
    }
  }
  std::printf(
      "{\"command\": \"%s\", \"threads\": %u, \"spawned\": %llu, \"failed\": %llu, "
      "\"wall_s\": %.3f, \"per_s\": %.1f}\n",
      o.executor.empty() ? "sh -c true" : "allot-executor -- true", o.threads,
      static_cast<unsigned long long>(done.load()), static_cast<unsigned long long>(failed.load()),
      wall, static_cast<double>(done.load()) / wall);
  return failed.load() == 0 ? 0 : 1;
}
