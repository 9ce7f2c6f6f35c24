#pragma once

// The agent <-> allot-executor protocol. One executor per framework on each
// agent runs all of that framework's tasks there (Mesos' default executor),
// so a task costs one process, not two. The agent creates a listening
// SOCK_SEQPACKET socket in the abstract namespace, hands it to the executor
// as fd 3 and connects; a restarted agent connects again by name (the name
// is in each task's checkpoint). The executor accepts only peers of its own
// uid (or root), one at a time: a new connection replaces the old one once
// the executor has handled what the old one still held.
//
// One message per packet, its fields separated by NUL bytes: no field can
// hold one, since commands and environment strings are C strings at exec.
//   agent -> executor:
//     LAUNCH key sandbox status_file cgroup uid gid mem_bytes cpus command [NAME=value ...]
//     CHECK key type delay_ms interval_ms timeout_ms grace_ms failures port command path
//           kill_grace_ms
//                               (before the LAUNCH of a task with a health
//                               check; type COMMAND, TCP, HTTP or HTTPS)
//     KILL key grace_ms
//     EXIT                      (sent when the executor has no task left)
//   executor -> agent:
//     ENDED key                 (after the task's status file is written)
//     HEALTH key 1|0 message    (the task's health changed; sent again for
//                               every checked task to an agent that connects)
// `key` is the agent's "framework_id/task_id"; cgroup is empty for none; uid
// and gid are -1 for "do not switch"; mem_bytes 0 for no limit. The status
// file stays the durable record of a task's end: ENDED only says "read it
// now", and an agent that connects reads the status files of the tasks it
// expects, so an ENDED lost with a dead agent loses nothing.
//
// Header-only and standard C++ only: allot-executor links nothing else but
// OpenSSL (for HTTPS checks).

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace allot::executor {

// Larger LAUNCH messages (command plus environment) are refused by the
// agent: the kernel's default socket send buffer must hold one packet.
inline constexpr std::size_t kMaxMessage = 64 * 1024;

// The executor's copy of the listening socket.
inline constexpr int kListenFd = 3;

struct Launch {
  std::string key;
  std::string sandbox;
  std::string statusFile;
  std::string cgroup;
  long uid = -1;
  long gid = -1;
  std::uint64_t memBytes = 0;
  double cpus = 0;
  std::string command;
  std::vector<std::string> environment;  // "NAME=value"
};

inline std::string encode(const std::vector<std::string_view>& fields) {
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += '\0';
    out.append(fields[i]);
  }
  return out;
}

inline std::vector<std::string_view> split(std::string_view packet) {
  std::vector<std::string_view> fields;
  std::size_t begin = 0;
  while (true) {
    std::size_t end = packet.find('\0', begin);
    if (end == std::string_view::npos) {
      fields.push_back(packet.substr(begin));
      return fields;
    }
    fields.push_back(packet.substr(begin, end - begin));
    begin = end + 1;
  }
}

inline std::string encodeLaunch(const Launch& l) {
  const std::string uid = std::to_string(l.uid), gid = std::to_string(l.gid),
                    mem = std::to_string(l.memBytes), cpus = std::to_string(l.cpus);
  std::vector<std::string_view> fields = {"LAUNCH", l.key, l.sandbox, l.statusFile, l.cgroup,
                                          uid,      gid,   mem,       cpus,         l.command};
  for (const std::string& e : l.environment) fields.push_back(e);
  return encode(fields);
}

// Fields of a LAUNCH packet (fields[0] == "LAUNCH"), or nullopt when they do
// not make one.
inline std::optional<Launch> decodeLaunch(const std::vector<std::string_view>& f) {
  if (f.size() < 10 || f[0] != "LAUNCH" || f[1].empty() || f[2].empty() || f[3].empty() ||
      f[9].empty()) {
    return std::nullopt;
  }
  auto number = [](std::string_view text, auto& out, auto parse) {
    std::string s(text);
    char* end = nullptr;
    out = parse(s.c_str(), &end);
    return !s.empty() && end == s.c_str() + s.size();
  };
  Launch l;
  l.key = f[1];
  l.sandbox = f[2];
  l.statusFile = f[3];
  l.cgroup = f[4];
  bool ok =
      number(f[5], l.uid, [](const char* s, char** e) { return std::strtol(s, e, 10); }) &&
      number(f[6], l.gid, [](const char* s, char** e) { return std::strtol(s, e, 10); }) &&
      number(f[7], l.memBytes, [](const char* s, char** e) { return std::strtoull(s, e, 10); }) &&
      number(f[8], l.cpus, [](const char* s, char** e) { return std::strtod(s, e); });
  if (!ok) return std::nullopt;
  l.command = f[9];
  for (std::size_t i = 10; i < f.size(); ++i) l.environment.emplace_back(f[i]);
  return l;
}

// A task's health check (HealthCheck in allot.proto, defaults applied).
struct Check {
  std::string key;
  std::string type;  // COMMAND, TCP, HTTP or HTTPS
  std::int64_t delayMs = 0;
  std::int64_t intervalMs = 0;
  std::int64_t timeoutMs = 0;
  std::int64_t graceMs = 0;
  std::uint32_t failures = 0;    // in a row that kill the task; 0: never
  std::int64_t killGraceMs = 0;  // SIGTERM -> SIGKILL when they do
  unsigned port = 0;
  std::string command;
  std::string path;
};

inline std::string encodeCheck(const Check& c) {
  const std::string delay = std::to_string(c.delayMs), interval = std::to_string(c.intervalMs),
                    timeout = std::to_string(c.timeoutMs), grace = std::to_string(c.graceMs),
                    failures = std::to_string(c.failures), port = std::to_string(c.port),
                    kill = std::to_string(c.killGraceMs);
  return encode({"CHECK", c.key, c.type, delay, interval, timeout, grace, failures, port, c.command,
                 c.path, kill});
}

// Fields of a CHECK packet (fields[0] == "CHECK"), or nullopt when they do
// not make one.
inline std::optional<Check> decodeCheck(const std::vector<std::string_view>& f) {
  if (f.size() != 12 || f[0] != "CHECK" || f[1].empty() ||
      (f[2] != "COMMAND" && f[2] != "TCP" && f[2] != "HTTP" && f[2] != "HTTPS")) {
    return std::nullopt;
  }
  auto number = [](std::string_view text, auto& out) {
    std::string s(text);
    char* end = nullptr;
    const long long value = std::strtoll(s.c_str(), &end, 10);
    out = static_cast<std::remove_reference_t<decltype(out)>>(value);
    return !s.empty() && end == s.c_str() + s.size() && value >= 0;
  };
  Check c;
  c.key = f[1];
  c.type = f[2];
  if (!number(f[3], c.delayMs) || !number(f[4], c.intervalMs) || !number(f[5], c.timeoutMs) ||
      !number(f[6], c.graceMs) || !number(f[7], c.failures) || !number(f[8], c.port) ||
      !number(f[11], c.killGraceMs) || c.intervalMs < 1 || c.timeoutMs < 1) {
    return std::nullopt;
  }
  c.command = f[9];
  c.path = f[10];
  if (c.type == "COMMAND" ? c.command.empty() : c.port == 0 || c.port > 65535) return std::nullopt;
  return c;
}

}  // namespace allot::executor
