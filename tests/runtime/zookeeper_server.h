// A real ZooKeeper server for tests (Debian's `zookeeper` package), started
// as a child process on a free port with a 100 ms tick, so that session
// timeouts of 1-2 s are allowed. Shared by the runtime's test files.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "allot/runtime/zookeeper.h"

extern char** environ;

namespace allot::runtime::zktest {

namespace fs = std::filesystem;

inline int freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t length = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// The four-letter command `srvr`: true once the server answers as ZooKeeper.
inline bool zookeeperAnswers(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  std::string answer;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, "srvr", 4, MSG_NOSIGNAL) == 4) {
    char buffer[512];
    ssize_t n = 0;
    while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) answer.append(buffer, buffer + n);
  }
  ::close(fd);
  return answer.starts_with("Zookeeper version");
}

inline std::string tailOf(const std::string& path, std::size_t lines = 30) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string out;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
    out += all[i] + "\n";
  }
  return out.empty() ? "(empty log " + path + ")" : out;
}

// A standalone ZooKeeper server: `java -cp zookeeper.jar ZooKeeperServerMain
// PORT DATADIR 100`, its output in DIR/zookeeper.log. Killed (SIGKILL) and
// reaped by kill() or the destructor; the directory is removed.
class ZooKeeperServer {
 public:
  ZooKeeperServer() {
    std::string pattern = (fs::temp_directory_path() / "allot-zk-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) dir_ = pattern;
    log_ = dir_ + "/zookeeper.log";
  }
  ~ZooKeeperServer() {
    kill();
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }
  ZooKeeperServer(const ZooKeeperServer&) = delete;
  ZooKeeperServer& operator=(const ZooKeeperServer&) = delete;

  // Starts the server and waits (up to 30 s) until it answers `srvr`; after
  // kill(), on the same port with the same data (its clients reconnect).
  // Returns what went wrong, with the log's tail, or nullopt.
  std::optional<std::string> start() {
    if (dir_.empty()) return "cannot create a temporary directory";
    const char* jarEnv = std::getenv("ALLOT_ZOOKEEPER_JAR");
    const std::string jar = jarEnv != nullptr ? jarEnv : "/usr/share/java/zookeeper.jar";
    if (!fs::exists(jar)) {
      return "no " + jar +
             ": install Debian's zookeeper package (scripts/debian-packages-test.txt)";
    }
    if (port_ <= 0) port_ = freePort();  // again after kill(): the same port and data
    if (port_ <= 0) return "no free port";
    const int out = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0) return "cannot open " + log_ + ": " + std::strerror(errno);
    const std::string data = dir_ + "/data";
    // No admin server (Jetty on 8080 by default: parallel tests would
    // fight for it); a small heap.
    std::vector<std::string> args = {"java",
                                     "-Xmx256m",
                                     "-Dzookeeper.admin.enableServer=false",
                                     "-cp",
                                     jar,
                                     "org.apache.zookeeper.server.ZooKeeperServerMain",
                                     std::to_string(port_),
                                     data,
                                     "100"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out, 1);
    posix_spawn_file_actions_adddup2(&actions, out, 2);
    const int rc = ::posix_spawnp(&pid_, "java", &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out);
    if (rc != 0) {
      pid_ = -1;
      return std::string("cannot start java: ") + std::strerror(rc);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!zookeeperAnswers(port_)) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "ZooKeeper exited (status " + std::to_string(status) + ") before answering; " +
               log_ + ":\n" + tailOf(log_);
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return "ZooKeeper on port " + std::to_string(port_) + " did not answer within 30 s; " +
               log_ + ":\n" + tailOf(log_);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return std::nullopt;
  }

  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

  int port() const { return port_; }
  std::string servers() const { return "127.0.0.1:" + std::to_string(port_); }
  ZkUrl url(const std::string& path, const std::string& credentials = "") const {
    return ZkUrl{servers(), path, credentials};
  }
  std::string logTail() const { return tailOf(log_); }

 private:
  std::string dir_;
  std::string log_;
  int port_ = -1;
  pid_t pid_ = -1;
};

}  // namespace allot::runtime::zktest
