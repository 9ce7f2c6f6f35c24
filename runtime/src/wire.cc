#include "allot/runtime/wire.h"

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>

#include <algorithm>
#include <cmath>

namespace allot::runtime {

std::string messageTypeName(wire::MessageType type) {
  if (wire::MessageType_IsValid(type) && type != wire::MESSAGE_TYPE_UNSPECIFIED) {
    return wire::MessageType_Name(type);
  }
  return fmt::format("type {}", static_cast<int>(type));
}

std::string messageTypeName(int type) {
  if (wire::MessageType_IsValid(type)) return messageTypeName(static_cast<wire::MessageType>(type));
  return fmt::format("type {}", type);
}

std::size_t encodeInto(wire::MessageType type, std::string_view sender, std::uint64_t sequence,
                       const google::protobuf::MessageLite& body, std::string_view recipient,
                       const std::function<std::uint8_t*(std::size_t)>& buffer) {
  // The body is serialized once, straight into the frame, after the
  // envelope's other fields, as its `payload` field (5, length-delimited):
  // parsers take fields in any order. Serializing it into the envelope's
  // payload string and that into another string cost two zero-filled copies,
  // which for a megabyte of a task's log took more than reading it.
  wire::Envelope envelope;
  envelope.set_version(kProtocolVersion);
  envelope.set_type(type);
  envelope.set_sender(std::string(sender));
  envelope.set_sequence(sequence);
  if (!recipient.empty()) envelope.set_recipient(std::string(recipient));
  using google::protobuf::io::CodedOutputStream;
  constexpr std::uint8_t kPayloadTag = (wire::Envelope::kPayloadFieldNumber << 3) | 2;
  const std::size_t head = envelope.ByteSizeLong();
  const std::size_t bodySize = body.ByteSizeLong();
  // As SerializeToString would: an empty payload is no field at all.
  const std::size_t tail =
      bodySize == 0 ? 0 : 1 + CodedOutputStream::VarintSize64(bodySize) + bodySize;
  std::uint8_t* out = buffer(head + tail);
  out = envelope.SerializeWithCachedSizesToArray(out);
  if (bodySize > 0) {
    *out++ = kPayloadTag;
    out = CodedOutputStream::WriteVarint64ToArray(bodySize, out);
    body.SerializeWithCachedSizesToArray(out);
  }
  return head + tail;
}

std::string encode(wire::MessageType type, std::string_view sender, std::uint64_t sequence,
                   const google::protobuf::MessageLite& body, std::string_view recipient) {
  std::string frame;
  encodeInto(type, sender, sequence, body, recipient, [&](std::size_t bytes) {
    frame.resize(bytes);
    return reinterpret_cast<std::uint8_t*>(frame.data());
  });
  return frame;
}

std::optional<WireError> decode(std::span<const std::byte> frame, wire::Envelope& out) {
  if (frame.size() > kMaxMessageBytes) {
    return WireError{wire::Error::TOO_LARGE,
                     fmt::format("message of {} bytes exceeds the limit of {} bytes", frame.size(),
                                 kMaxMessageBytes)};
  }
  if (!out.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
    return WireError{wire::Error::MALFORMED,
                     fmt::format("{} bytes that are not an allot Envelope", frame.size())};
  }
  if (out.version() != kProtocolVersion) {
    return WireError{
        wire::Error::BAD_VERSION,
        fmt::format("protocol version {} (this side speaks {})", out.version(), kProtocolVersion)};
  }
  // Proto3 enums are open: an unknown number parses; refuse it here.
  if (!wire::MessageType_IsValid(out.type()) || out.type() == wire::MESSAGE_TYPE_UNSPECIFIED) {
    return WireError{
        wire::Error::UNKNOWN_TYPE,
        fmt::format("unknown message {}", messageTypeName(static_cast<int>(out.type())))};
  }
  return std::nullopt;
}

std::optional<WireError> decodePayload(const wire::Envelope& envelope,
                                       google::protobuf::MessageLite& out) {
  if (!out.ParseFromString(envelope.payload())) {
    return WireError{wire::Error::MALFORMED,
                     fmt::format("{} payload of {} bytes does not parse",
                                 messageTypeName(envelope.type()), envelope.payload().size())};
  }
  return std::nullopt;
}

std::string_view taskStateName(wire::TaskState state) {
  if (!wire::TaskState_IsValid(state)) return "TASK_STATE_INVALID";
  return wire::TaskState_Name(state);
}

bool isTerminal(wire::TaskState state) {
  switch (state) {
    case wire::TASK_FINISHED:
    case wire::TASK_FAILED:
    case wire::TASK_KILLED:
    case wire::TASK_LOST:
    case wire::TASK_ERROR:
    case wire::TASK_GONE:
      return true;
    default:
      return false;
  }
}

namespace {

// Longest time a health check or a kill's grace takes: a day, so that
// milliseconds fit any int.
constexpr double kMaxCheckSeconds = 86'400;

std::int64_t millis(double seconds) {
  return std::llround(seconds * 1000.0);
}

}  // namespace

std::optional<Duration> killGrace(const wire::KillPolicy& policy) {
  if (!policy.has_grace_period_seconds()) return std::nullopt;
  return Duration{std::llround(policy.grace_period_seconds() * 1e6)};
}

std::optional<std::string> killPolicyProblem(const wire::KillPolicy& policy) {
  if (!policy.has_grace_period_seconds()) return std::nullopt;
  const double seconds = policy.grace_period_seconds();
  if (!(std::isfinite(seconds) && seconds >= 0 && seconds <= kMaxCheckSeconds)) {
    return fmt::format(
        "kill_policy.grace_period_seconds: {} is not a number of seconds from 0 to {}", seconds,
        kMaxCheckSeconds);
  }
  return std::nullopt;
}

HealthCheckTimes healthCheckTimes(const wire::HealthCheck& check) {
  HealthCheckTimes t;
  if (check.has_delay_seconds()) t.delayMs = millis(check.delay_seconds());
  if (check.has_interval_seconds()) t.intervalMs = millis(check.interval_seconds());
  if (check.has_timeout_seconds()) t.timeoutMs = millis(check.timeout_seconds());
  if (check.has_grace_period_seconds()) t.graceMs = millis(check.grace_period_seconds());
  if (check.has_consecutive_failures()) t.consecutiveFailures = check.consecutive_failures();
  return t;
}

std::optional<std::string> sandboxPathProblem(std::string_view path) {
  if (path.size() > 4096) return std::string("longer than 4096 bytes");
  if (path.find('\0') != std::string_view::npos) return std::string("holds a NUL byte");
  if (path.starts_with('/')) {
    return fmt::format("'{}' is absolute; name a path inside the sandbox, as 'out/result.csv'",
                       path);
  }
  if (path.empty()) return std::nullopt;
  for (std::size_t at = 0; at <= path.size();) {
    const std::size_t end = std::min(path.find('/', at), path.size());
    const std::string_view part = path.substr(at, end - at);
    if (part.empty() || part == "." || part == "..") {
      return fmt::format(
          "'{}' has an empty, '.' or '..' component; name each directory on the "
          "way down from the sandbox",
          path);
    }
    at = end + 1;
  }
  return std::nullopt;
}

std::optional<std::string> healthCheckProblem(const wire::HealthCheck& check) {
  const auto bad = [](std::string_view field, const std::string& why) {
    return fmt::format("health_check.{}: {}", field, why);
  };
  switch (check.type()) {
    case wire::HealthCheck::COMMAND:
      if (check.command().empty()) return bad("command", "empty (a COMMAND check runs it)");
      if (check.command().find('\0') != std::string::npos)
        return bad("command", "holds a NUL byte");
      break;
    case wire::HealthCheck::HTTP:
    case wire::HealthCheck::HTTPS:
      if (!check.path().empty() && check.path().front() != '/') {
        return bad("path", fmt::format("'{}' does not start with '/'", check.path()));
      }
      if (check.path().size() > 2048) return bad("path", "longer than 2048 bytes");
      for (char c : check.path()) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
          return bad("path", "holds a space or a control character (escape it as %XX)");
        }
      }
      [[fallthrough]];
    case wire::HealthCheck::TCP:
      if (check.port() == 0 || check.port() > 65535) {
        return bad("port", fmt::format("{} is not a port (1-65535)", check.port()));
      }
      break;
    default:
      return bad("type", fmt::format("{} is not COMMAND, TCP, HTTP or HTTPS",
                                     static_cast<int>(check.type())));
  }
  const std::pair<std::string_view, std::optional<double>> times[] = {
      {"delay_seconds",
       check.has_delay_seconds() ? std::optional(check.delay_seconds()) : std::nullopt},
      {"interval_seconds",
       check.has_interval_seconds() ? std::optional(check.interval_seconds()) : std::nullopt},
      {"timeout_seconds",
       check.has_timeout_seconds() ? std::optional(check.timeout_seconds()) : std::nullopt},
      {"grace_period_seconds", check.has_grace_period_seconds()
                                   ? std::optional(check.grace_period_seconds())
                                   : std::nullopt}};
  for (const auto& [field, value] : times) {
    if (!value) continue;
    // NaN passes every `< 0` test: check for what is allowed.
    if (!(std::isfinite(*value) && *value >= 0 && *value <= kMaxCheckSeconds)) {
      return bad(field, fmt::format("{} is not a number of seconds from 0 to {}", *value,
                                    kMaxCheckSeconds));
    }
  }
  const HealthCheckTimes t = healthCheckTimes(check);
  if (t.intervalMs < 1) return bad("interval_seconds", "must be at least 0.001");
  if (t.timeoutMs < 1) return bad("timeout_seconds", "must be at least 0.001");
  return std::nullopt;
}

}  // namespace allot::runtime
