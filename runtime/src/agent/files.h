#pragma once

// The agent's files: where things live in the work directory, and atomic
// writes. Layout:
//   <work>/meta/agent_id                the agent's id (writeAtomically)
//   <work>/meta/lock                    flock: one agent per work directory
//   <work>/meta/tasks/<fw>+<task>.task  TaskRecords (checkpoint.proto) by appendRecord
//   <work>/meta/tasks/<fw>+<task>.status  the executor's report when the task ended
//   <work>/meta/trash/<time>/           old sandboxes moved aside, until `rm -rf` removes them
//   <work>/frameworks/<fw>/executor.log  the framework's executor's own log
//   <work>/frameworks/<fw>/tasks/<task>/  the sandbox: stdout, stderr
// Ids are escaped (escapeName) so any id names exactly one file. A name that
// would pass NAME_MAX (255 bytes) with its suffix is shortened (fitName).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace allot::runtime::agent {

// Owns a file descriptor; closes it when destroyed.
struct UniqueFd {
  int fd = -1;
  UniqueFd() = default;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
};

// `id` with every byte outside [A-Za-z0-9._-] (and a leading '.') as %XX.
std::string escapeName(std::string_view id);

// Longest name fitName leaves as it is: NAME_MAX (255) less the longest
// suffix a stem gets (".status.tmp", 11 bytes).
inline constexpr std::size_t kMaxNameStem = 244;

// `name` if it has at most kMaxNameStem bytes, else its first 200 bytes, '~'
// and a hash of the whole (escaped names hold no '~', so no escaped name is
// mistaken for a shortened one).
std::string fitName(std::string name);

struct Layout {
  std::string workDir;

  std::string metaDir() const { return workDir + "/meta"; }
  std::string tasksDir() const { return workDir + "/meta/tasks"; }
  std::string agentIdFile() const { return workDir + "/meta/agent_id"; }
  std::string trashDir() const { return workDir + "/meta/trash"; }
  // The stem of a task's meta files.
  std::string taskStem(std::string_view frameworkId, std::string_view taskId) const;
  std::string frameworkDir(std::string_view frameworkId) const;
  std::string sandbox(std::string_view frameworkId, std::string_view taskId) const;
};

// Writes `path` through a temporary file and rename(), so readers see the
// old or the new content, never a mix. No fsync: a machine crash may lose the
// last writes, an agent crash does not. Returns an error message on failure.
std::optional<std::string> writeAtomically(const std::string& path, std::string_view data);

// Appends one record (length, checksum, bytes) to `path` with a single
// write(), creating the file when needed. An agent crash cannot leave half a
// record; a torn tail (machine crash, full disk) fails its checksum and is
// dropped by readRecords. No fsync, as for writeAtomically. Creating no
// file per write matters: on ext4, a temporary file per update made inode
// allocation 80% of the agent's CPU time.
std::optional<std::string> appendRecord(const std::string& path, std::string_view record);

// The records of `path` in order. A torn or corrupt tail is cut off the
// file (so later appends follow the last good record) and reported in
// `problem`.
struct Records {
  std::vector<std::string> records;
  std::string problem;
};
std::optional<Records> readRecords(const std::string& path);

// The content of `path`, or nullopt when it cannot be read.
std::optional<std::string> readFile(const std::string& path);

// Opens `path` beneath the directory `root` ("" is `root` itself; callers
// check it with sandboxPathProblem first), one component at a time, each
// with O_NOFOLLOW: a task owns its sandbox and may leave a symbolic link to
// anywhere in it, in place of a file or of a directory on the way. `flags`
// are for the last component (O_NOFOLLOW and O_CLOEXEC are added). Returns
// the descriptor, or -1 with errno set (ELOOP: a symbolic link on the way).
int openBeneath(const std::string& root, std::string_view path, int flags);

}  // namespace allot::runtime::agent
