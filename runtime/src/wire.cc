#include "allot/runtime/wire.h"

#include <fmt/format.h>

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

std::string encode(wire::MessageType type, std::string_view sender, std::uint64_t sequence,
                   const google::protobuf::MessageLite& body, std::string_view recipient) {
  wire::Envelope envelope;
  envelope.set_version(kProtocolVersion);
  envelope.set_type(type);
  envelope.set_sender(std::string(sender));
  envelope.set_sequence(sequence);
  if (!recipient.empty()) envelope.set_recipient(std::string(recipient));
  body.SerializeToString(envelope.mutable_payload());
  return envelope.SerializeAsString();
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

}  // namespace allot::runtime
