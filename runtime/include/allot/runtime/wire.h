#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "allot/core/time.h"
#include "proto/allot.pb.h"

namespace google::protobuf {
class MessageLite;
}

namespace allot::runtime {

// Messages larger than this are refused with Error{TOO_LARGE} (the sockets
// also set ZMQ_MAXMSGSIZE to kHardMaxMessageBytes, past which ZeroMQ drops
// the connection before the bytes reach us).
inline constexpr std::size_t kMaxMessageBytes = 4u << 20;
inline constexpr std::int64_t kHardMaxMessageBytes = 64 << 20;

inline constexpr std::uint32_t kProtocolVersion = wire::PROTOCOL_VERSION_CURRENT;

// Longest agent, framework or task id, in bytes. Ids name files and cgroups
// on the agents, where every byte outside [A-Za-z0-9._-] is escaped as three
// ("%2F"): an id this long escapes to at most 240 bytes, under NAME_MAX (255)
// whatever it holds. The master refuses longer ids, and so does an agent its
// own.
inline constexpr std::size_t kMaxIdBytes = 80;

// Most bytes of a sandbox file one READ_FILE asks for: well inside a message.
inline constexpr std::uint32_t kMaxFileRead = 1024 * 1024;
// Most entries one LIST_FILES answers: some 100 bytes each, well inside a message.
inline constexpr std::uint32_t kMaxListEntries = 10'000;

// The name of a message type ("REGISTER_AGENT"), or "type 77" for unknown ones.
std::string messageTypeName(wire::MessageType type);
std::string messageTypeName(int type);

// Serializes `body` into an Envelope frame.
std::string encode(wire::MessageType type, std::string_view sender, std::uint64_t sequence,
                   const google::protobuf::MessageLite& body, std::string_view recipient = {});
// The same frame, written into the bytes `buffer(size)` returns (a socket's
// message, without a copy); returns the size.
std::size_t encodeInto(wire::MessageType type, std::string_view sender, std::uint64_t sequence,
                       const google::protobuf::MessageLite& body, std::string_view recipient,
                       const std::function<std::uint8_t*(std::size_t)>& buffer);

// Why a frame was refused: the code to answer with and a message for a
// person that names the problem.
struct WireError {
  wire::Error::Code code = wire::Error::MALFORMED;
  std::string message;
};

// Parses one frame into `out`. Returns the error when the frame is too large,
// is not an Envelope, has another protocol version or an unknown type.
// Never throws on bad bytes.
std::optional<WireError> decode(std::span<const std::byte> frame, wire::Envelope& out);

// Parses envelope.payload() as `out` (the message named by envelope.type()).
// Returns an error naming the type when the payload does not parse.
std::optional<WireError> decodePayload(const wire::Envelope& envelope,
                                       google::protobuf::MessageLite& out);

// A person-readable name of a task state ("TASK_RUNNING"), and whether it is terminal.
std::string_view taskStateName(wire::TaskState state);
bool isTerminal(wire::TaskState state);

// A task's health check with Mesos' defaults for the unset times, in
// milliseconds (see HealthCheck in allot.proto).
struct HealthCheckTimes {
  std::int64_t delayMs = 15'000;
  std::int64_t intervalMs = 10'000;
  std::int64_t timeoutMs = 20'000;
  std::int64_t graceMs = 10'000;
  std::uint32_t consecutiveFailures = 3;
};
HealthCheckTimes healthCheckTimes(const wire::HealthCheck& check);

// The grace period `policy` sets, if it sets one.
std::optional<Duration> killGrace(const wire::KillPolicy& policy);
// Why `policy` cannot be used, naming the field ("kill_policy.grace_period_seconds:
// nan is not ..."), or nullopt.
std::optional<std::string> killPolicyProblem(const wire::KillPolicy& policy);

// Why `check` cannot run, naming the field ("health_check.port: 0 is not a
// port"), or nullopt. The master refuses such a task (TASK_ERROR), and so
// does an agent.
std::optional<std::string> healthCheckProblem(const wire::HealthCheck& check);

// Why `path` does not name a place in a task's sandbox, or nullopt: it must be
// relative, at most 4096 bytes, with no NUL and no empty, "." or ".."
// component ("out/result.csv"; "" is the sandbox itself). The master refuses
// such a ReadFile.file or ListFiles.path (400), and so does an agent.
std::optional<std::string> sandboxPathProblem(std::string_view path);

}  // namespace allot::runtime
