// Resource detection for agents started without --resources (or with some
// names left out), as the Mesos agent does.

#include <fmt/format.h>
#include <sched.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "allot/core/resources.h"
#include "allot/runtime/agent.h"
#include "files.h"

namespace allot::runtime {
namespace {

long detectCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN));
}

// MemTotal less what the system keeps: min(1 GB, half).
long detectMemMb() {
  auto text = agent::readFile("/proc/meminfo");
  long totalKb = 0;
  if (text) {
    std::istringstream in(*text);
    for (std::string key; in >> key;) {
      if (key == "MemTotal:") {
        in >> totalKb;
        break;
      }
      std::string rest;
      std::getline(in, rest);
    }
  }
  long totalMb = totalKb / 1024;
  return std::max(1L, totalMb - std::min(1024L, totalMb / 2));
}

long detectDiskMb(const std::string& dir) {
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0) return 0;
  return static_cast<long>(static_cast<unsigned long long>(fs.f_bavail) * fs.f_frsize >> 20);
}

}  // namespace

std::string detectResources(const std::string& workDir) {
  return fmt::format("cpus:{};mem:{};disk:{};ports:[31000-32000]", detectCpus(), detectMemMb(),
                     detectDiskMb(workDir));
}

std::string completeResources(const std::string& given, const std::string& workDir) {
  // Names given, with or without a role: "cpus(r):2" names cpus.
  std::set<std::string> named;
  std::istringstream items(given);
  for (std::string item; std::getline(items, item, ';');) {
    auto end = item.find_first_of("(:");
    std::string name = item.substr(0, end);
    name.erase(0, name.find_first_not_of(" \t"));
    name.erase(name.find_last_not_of(" \t") + 1);
    if (!name.empty()) named.insert(name);
  }
  std::string text = given;
  auto add = [&](const std::string& name, const std::string& value) {
    if (named.count(name) != 0) return;
    if (!text.empty() && text.back() != ';') text += ';';
    text += name + ":" + value;
  };
  add("cpus", std::to_string(detectCpus()));
  add("mem", std::to_string(detectMemMb()));
  add("disk", std::to_string(detectDiskMb(workDir)));
  add("ports", "[31000-32000]");
  Resources::parse(text);  // throws ParseError naming the bad token
  return text;
}

}  // namespace allot::runtime
