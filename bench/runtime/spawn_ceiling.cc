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
// per-task chain without agent or master: one `allot-executor` started as the
// agent starts it (one per framework), handed tasks over its socket as the
// agent hands them, each creating a sandbox under D, running `sh -c true`
// and writing its status file; N tasks in flight (--threads).

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
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

#include "runtime/executor/protocol.h"
#include "runtime/src/agent/isolation.h"

extern char** environ;

namespace {

struct Options {
  double seconds = 3;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::string executor;
  std::string dir = "/tmp";
};

// Spawns and reaps `/bin/sh -c true`; returns false when it could not run or failed.
bool runOnce() {
  const char* argv[] = {"/bin/sh", "-c", "true", nullptr};
  pid_t pid = 0;
  if (::posix_spawn(&pid, argv[0], nullptr, nullptr, const_cast<char**>(argv), environ) != 0) {
    return false;
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// One executor; `inFlight` tasks handed to it at a time until `stop`.
void runExecutor(const Options& o, unsigned inFlight, std::chrono::steady_clock::time_point stop,
                 std::atomic<std::uint64_t>& done, std::atomic<std::uint64_t>& failed) {
  namespace agent = allot::runtime::agent;
  namespace proto = allot::executor;
  const std::string socket = "allot-spawn-ceiling/" + std::to_string(::getpid());
  agent::ExecutorStart start{
      .executor = o.executor, .name = "spawn_ceiling", .log = o.dir + "/executor.log"};
  agent::StartedExecutor executor = agent::startExecutor(start, socket);
  if (executor.fd < 0) {
    std::fprintf(stderr, "spawn_ceiling: %s\n", executor.error.c_str());
    failed = 1;
    return;
  }
  std::uint64_t next = 0;
  unsigned pending = 0;
  auto launch = [&] {
    proto::Launch l;
    l.key = "t" + std::to_string(next++);
    l.sandbox = o.dir + "/" + l.key;
    l.statusFile = l.sandbox + ".status";
    // As the agent starts launch_throughput.sh's tasks (cpus 0.1, mem 16).
    l.memBytes = 16u << 20;
    l.cpus = 0.1;
    l.command = "true";
    l.environment = {"PATH=/usr/local/bin:/usr/bin:/bin"};
    if (agent::sendToExecutor(executor.fd, proto::encodeLaunch(l))) return false;
    ++pending;
    return true;
  };
  char buf[512];
  while (true) {
    const bool more = std::chrono::steady_clock::now() < stop;
    while (more && pending < inFlight && launch()) {
    }
    if (pending == 0) break;
    pollfd p{executor.fd, POLLIN, 0};
    if (::poll(&p, 1, 10'000) != 1) break;
    ssize_t n = ::recv(executor.fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    --pending;
    auto fields = proto::split(std::string_view(buf, static_cast<std::size_t>(n)));
    std::string status;
    if (fields.size() == 2) {
      std::FILE* f = std::fopen((o.dir + "/" + std::string(fields[1]) + ".status").c_str(), "r");
      if (f != nullptr) {
        char line[64] = {};
        if (std::fgets(line, sizeof line, f) != nullptr) status = line;
        std::fclose(f);
      }
    }
    (status == "wait_status 0\n" ? done : failed).fetch_add(1);
  }
  failed += pending;
  agent::sendToExecutor(executor.fd, proto::encode({"EXIT"}));
  ::close(executor.fd);
  ::waitpid(executor.pid, nullptr, 0);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Process-creation ceiling: short commands started and reaped per second"};
  app.add_option("--seconds", o.seconds, "How long to spawn")->check(CLI::PositiveNumber);
  app.add_option("--threads", o.threads,
                 "Spawning threads (default: one per core); with --executor, tasks in flight")
      ->check(CLI::PositiveNumber);
  app.add_option("--executor", o.executor,
                 "Run the tasks through this allot-executor, as the agent does (sandbox and "
                 "status file under --dir), instead of spawning `/bin/sh -c true` directly")
      ->check(CLI::ExistingFile);
  app.add_option("--dir", o.dir, "Where executor sandboxes go (with --executor)")
      ->check(CLI::ExistingDirectory);
  CLI11_PARSE(app, argc, argv);

  std::atomic<std::uint64_t> done{0};
  std::atomic<std::uint64_t> failed{0};
  const auto start = std::chrono::steady_clock::now();
  const auto stop = start + std::chrono::duration<double>(o.seconds);
  if (o.executor.empty()) {
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < o.threads; ++t) {
      threads.emplace_back([&] {
        while (std::chrono::steady_clock::now() < stop) (runOnce() ? done : failed).fetch_add(1);
      });
    }
    for (std::thread& t : threads) t.join();
  } else {
    runExecutor(o, o.threads,
                std::chrono::time_point_cast<std::chrono::steady_clock::duration>(stop), done,
                failed);
  }
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!o.executor.empty()) {
    // The sandboxes and status files are only the measurement's litter.
    for (const auto& e : std::filesystem::directory_iterator(o.dir)) {
      const std::string name = e.path().filename().string();
      if ((name.size() > 1 && name[0] == 't' &&
           std::isdigit(static_cast<unsigned char>(name[1]))) ||
          name == "executor.log") {
        std::filesystem::remove_all(e.path());
      }
    }
  }
  std::printf(
      "{\"command\": \"%s\", \"threads\": %u, \"spawned\": %llu, \"failed\": %llu, "
      "\"wall_s\": %.3f, \"per_s\": %.1f}\n",
      o.executor.empty() ? "sh -c true" : "allot-executor: true", o.threads,
      static_cast<unsigned long long>(done.load()), static_cast<unsigned long long>(failed.load()),
      wall, static_cast<double>(done.load()) / wall);
  return failed.load() == 0 ? 0 : 1;
}
