#include "allot/runtime/curve.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <vector>

#include "allot/core/error.h"
#include "allot/core/text.h"

namespace allot::runtime {

namespace {

constexpr std::size_t kKeyChars = 40;  // Z85 of 32 bytes
constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";

std::string z85(const std::uint8_t* key32) {
  std::array<char, kKeyChars + 1> text{};
  if (zmq_z85_encode(text.data(), key32, 32) == nullptr) throw Error("cannot encode a CURVE key");
  return std::string(text.data(), kKeyChars);
}

// The value of `name = "VALUE"` (or unquoted) on `line`, if the line sets it.
std::optional<std::string> settingOf(std::string_view line, std::string_view name) {
  std::string_view rest = trim(line);
  if (!rest.starts_with(name)) return std::nullopt;
  rest = trim(rest.substr(name.size()));
  if (!rest.starts_with('=')) return std::nullopt;
  rest = trim(rest.substr(1));
  if (rest.size() >= 2 && rest.front() == '"' && rest.back() == '"') {
    rest = rest.substr(1, rest.size() - 2);
  }
  return std::string(rest);
}

std::vector<std::string> readLines(const char* flag, const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    throw Error(fmt::format("{} {}: cannot read it: {}", flag, path, std::strerror(errno)));
  }
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(std::move(line));
  return lines;
}

}  // namespace

bool isCurveKey(std::string_view key) {
  if (key.size() != kKeyChars) return false;
  std::array<char, kKeyChars + 1> text{};
  std::memcpy(text.data(), key.data(), kKeyChars);
  std::array<std::uint8_t, 32> bytes{};
  return zmq_z85_decode(bytes.data(), text.data()) != nullptr;
}

CurveKeyPair generateCurveKeyPair() {
  std::array<char, kKeyChars + 1> pub{}, sec{};
  if (zmq_curve_keypair(pub.data(), sec.data()) != 0) {
    throw Error(fmt::format("cannot make a CURVE key pair: {} (is libzmq built with libsodium?)",
                            zmq_strerror(zmq_errno())));
  }
  return {std::string(pub.data(), kKeyChars), std::string(sec.data(), kKeyChars)};
}

void writeCurveKeyFile(const std::string& path, const CurveKeyPair& keys, bool overwrite) {
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL);
  const int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0) {
    throw Error(fmt::format("{}: cannot write it: {}{}", path, std::strerror(errno),
                            errno == EEXIST ? " (pass --force to replace it)" : ""));
  }
  // An existing file keeps its mode through O_TRUNC: make it private too.
  (void)::fchmod(fd, 0600);
  const std::string text = fmt::format(
      "#   allot CURVE key pair: keep this file private. Give the public key to\n"
      "#   whoever must know this master or admit this client.\n"
      "#   (The layout of czmq's certificates.)\n"
      "metadata\n"
      "curve\n"
      "    public-key = \"{}\"\n"
      "    secret-key = \"{}\"\n",
      keys.publicKey, keys.secretKey);
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int writeErrno = errno;
  if (::close(fd) != 0 || !ok) {
    throw Error(fmt::format("{}: cannot write it: {}", path, std::strerror(writeErrno)));
  }
}

CurveKeyPair readCurveKeyFile(const char* flag, const std::string& path,
                              const std::function<void(const std::string&)>& warn) {
  const std::vector<std::string> lines = readLines(flag, path);
  CurveKeyPair keys;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    for (auto [name, into] :
         {std::pair{"public-key", &keys.publicKey}, std::pair{"secret-key", &keys.secretKey}}) {
      std::optional<std::string> value = settingOf(lines[i], name);
      if (!value) continue;
      if (!isCurveKey(*value)) {
        throw Error(fmt::format("{} {}:{}: {} is not a CURVE key (40 Z85 characters)", flag, path,
                                i + 1, name));
      }
      *into = *value;
    }
  }
  if (keys.secretKey.empty()) {
    throw Error(
        fmt::format("{} {}: no secret-key line: not a key pair file (make one with "
                    "`allot keygen FILE`)",
                    flag, path));
  }
  std::array<char, kKeyChars + 1> pub{};
  if (zmq_curve_public(pub.data(), keys.secretKey.c_str()) != 0) {
    throw Error(fmt::format("{} {}: cannot derive the public key: {}", flag, path,
                            zmq_strerror(zmq_errno())));
  }
  const std::string derived(pub.data(), kKeyChars);
  if (!keys.publicKey.empty() && keys.publicKey != derived) {
    throw Error(fmt::format("{} {}: its public-key is not the secret key's", flag, path));
  }
  keys.publicKey = derived;
  struct stat st {};
  if (warn && ::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    warn(fmt::format("{} {}: others may read this secret key (mode {:o}); chmod 600 it", flag, path,
                     st.st_mode & 0777));
  }
  return keys;
}

std::string readCurvePublicKey(const char* flag, std::string_view keyOrPath) {
  if (isCurveKey(keyOrPath)) return std::string(keyOrPath);
  const std::string path(keyOrPath);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw Error(fmt::format("{} '{}': neither a public key (40 Z85 characters) nor a file", flag,
                            keyOrPath));
  }
  const std::vector<std::string> lines = readLines(flag, path);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = trim(lines[i]);
    std::optional<std::string> value = settingOf(line, "public-key");
    if (!value && isCurveKey(line)) value = std::string(line);
    if (!value) continue;
    if (!isCurveKey(*value)) {
      throw Error(fmt::format("{} {}:{}: public-key is not a CURVE key (40 Z85 characters)", flag,
                              path, i + 1));
    }
    return *value;
  }
  throw Error(fmt::format("{} {}: no public key in it", flag, path));
}

// ---------------------------------------------------------------------------

CurveClientList::CurveClientList(std::string path) : file_(std::move(path), readClientsFile) {}

std::map<std::string, std::string, std::less<>> CurveClientList::readClientsFile(
    const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw Error(fmt::format("--curve-clients {}: cannot read it: {}", path, std::strerror(errno)));
  }
  const std::vector<std::string> lines = readLines("--curve-clients", path);
  std::map<std::string, std::string, std::less<>> keys;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    // Z85 has '#' among its characters: a comment is a line, or the end of
    // one, that starts with '#' after white space.
    std::string_view line = trim(lines[i]);
    if (line.empty() || line.front() == '#') continue;
    const std::size_t space = line.find_first_of(" \t");
    const std::string_view key = line.substr(0, space);
    std::string_view name =
        space == std::string_view::npos ? std::string_view() : line.substr(space);
    for (std::size_t at = 0; (at = name.find('#', at)) != std::string_view::npos; ++at) {
      if (at == 0 || name[at - 1] == ' ' || name[at - 1] == '\t') {
        name = name.substr(0, at);
        break;
      }
    }
    name = trim(name);
    if (!isCurveKey(key)) {
      throw Error(
          fmt::format("--curve-clients {}:{}: '{}' is not a public key (40 Z85 "
                      "characters, as `allot keygen` prints)",
                      path, i + 1, key));
    }
    keys.insert_or_assign(std::string(key), name.empty() ? std::string(key) : std::string(name));
  }
  return keys;
}

std::optional<std::string> CurveClientList::admit(
    std::string_view publicKey, const std::function<void(const std::string&)>& warn) {
  const auto& keys = file_.get([&](const std::string& error) {
    if (warn) {
      warn(fmt::format("{}; the {} key(s) read before stay admitted", error, file_.value().size()));
    }
  });
  auto it = keys.find(publicKey);
  if (it == keys.end()) return std::nullopt;
  return it->second;
}

// ---------------------------------------------------------------------------

CurveAuthenticator::CurveAuthenticator(zmq::context_t& context, const std::string& clientsFile)
    : socket_(context, zmq::socket_type::rep), clients_(clientsFile) {
  socket_.set(zmq::sockopt::linger, 0);
  try {
    socket_.bind(kZapEndpoint);
  } catch (const zmq::error_t& e) {
    throw Error(
        fmt::format("cannot serve CURVE authentication on {}: {} (one CURVE master "
                    "per ZeroMQ context)",
                    kZapEndpoint, e.what()));
  }
}

void CurveAuthenticator::handle(const std::function<void(const Decision&)>& decided,
                                const std::function<void(const std::string&)>& warn) {
  while (true) {
    std::vector<zmq::message_t> frames;
    zmq::message_t frame;
    if (!socket_.recv(frame, zmq::recv_flags::dontwait)) return;
    frames.push_back(std::move(frame));
    while (frames.back().more()) {
      zmq::message_t next;
      (void)socket_.recv(next, zmq::recv_flags::none);
      frames.push_back(std::move(next));
    }
    // RFC 27: version, request id, domain, address, identity, mechanism,
    // credentials (CURVE: the client's 32-byte public key).
    const auto text = [&](std::size_t i) {
      return i < frames.size() ? frames[i].to_string() : std::string();
    };
    Decision decision;
    decision.address = text(3);
    std::string status = "400", statusText = "not a CURVE request";
    if (frames.size() >= 7 && text(5) == "CURVE" && frames[6].size() == 32) {
      decision.key = z85(static_cast<const std::uint8_t*>(frames[6].data()));
      decision.name = clients_.admit(decision.key, warn);
      if (decision.name) {
        status = "200";
        statusText = "OK";
      } else {
        statusText = "this client's key is not in the master's --curve-clients file";
      }
    }
    (decision.name ? admitted_ : refused_) += 1;
    const std::string userId = decision.name.value_or("");
    socket_.send(zmq::buffer(std::string_view("1.0")), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(text(1)), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(status), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(statusText), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(userId), zmq::send_flags::sndmore);
    socket_.send(zmq::str_buffer(""), zmq::send_flags::none);
    if (decided) decided(decision);
  }
}

// ---------------------------------------------------------------------------

HandshakeMonitor::HandshakeMonitor(zmq::context_t& context, zmq::socket_t& monitored)
    : pair_(context, zmq::socket_type::pair) {
  // Unique in the context: the endpoint of a monitor closed a moment ago
  // may still be bound (ZeroMQ unbinds it on its reaper thread), so the
  // address alone could repeat.
  const std::string endpoint =
      fmt::format("inproc://allot-handshake-monitor-{}-{:016x}", static_cast<void*>(this),
                  (std::uint64_t{std::random_device{}()} << 32) ^ std::random_device{}());
  const int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
  if (zmq_socket_monitor(monitored.handle(), endpoint.c_str(), events) != 0) {
    throw Error(fmt::format("cannot monitor a socket: {}", zmq_strerror(zmq_errno())));
  }
  pair_.set(zmq::sockopt::linger, 0);
  pair_.connect(endpoint);
}

void HandshakeMonitor::drain(const std::function<void(const HandshakeEvent&)>& onEvent) {
  while (true) {
    zmq::message_t head;
    if (!pair_.recv(head, zmq::recv_flags::dontwait)) return;
    zmq::message_t where;
    if (head.more()) (void)pair_.recv(where, zmq::recv_flags::none);
    if (head.size() < 6) continue;
    std::uint16_t id = 0;
    std::uint32_t value = 0;
    std::memcpy(&id, head.data(), 2);
    std::memcpy(&value, static_cast<const char*>(head.data()) + 2, 4);
    HandshakeEvent event;
    event.detail = static_cast<int>(value);
    event.endpoint = where.to_string();
    switch (id) {
      case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        event.kind = HandshakeEvent::kSucceeded;
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        event.kind = HandshakeEvent::kFailedAuth;
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        event.kind = HandshakeEvent::kFailedProtocol;
        break;
      default:
        event.kind = HandshakeEvent::kFailedOther;
        break;
    }
    onEvent(event);
  }
}

bool HandshakeLogFilter::worthLogging(const HandshakeEvent& event, bool secure) {
  std::tuple<HandshakeEvent::Kind, int, std::string> now{event.kind, event.detail, event.endpoint};
  const bool first = !last_.has_value();
  // A plain client of a CURVE master sees a broken pipe before the
  // mechanism mismatch that explains it.
  if (!secure && event.kind == HandshakeEvent::kFailedOther) return false;
  if (last_ == now) return false;
  last_ = std::move(now);
  return !(first && !secure && event.kind == HandshakeEvent::kSucceeded);
}

void HandshakeLogFilter::log(const HandshakeEvent& event, bool secure, std::string_view who,
                             std::string_view suffix) {
  if (!worthLogging(event, secure)) return;
  const std::string what = describeClientHandshake(event, secure);
  if (event.kind == HandshakeEvent::kSucceeded) {
    spdlog::info("{}: {}{}", who, what, suffix);
  } else {
    spdlog::error("{}: {}{}", who, what, suffix);
  }
}

std::string handshakeFailureDetail(const HandshakeEvent& event) {
  switch (event.kind) {
    case HandshakeEvent::kSucceeded:
      return "succeeded";
    case HandshakeEvent::kFailedAuth:
      return fmt::format("refused, ZAP status {}", event.detail);
    case HandshakeEvent::kFailedProtocol:
      if (event.detail == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) return "no CURVE";
      if (event.detail == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC) return "cannot decrypt";
      return fmt::format("ZeroMQ protocol error {:#x}", event.detail);
    case HandshakeEvent::kFailedOther:
      break;
  }
  return std::strerror(event.detail);
}

std::string describeClientHandshake(const HandshakeEvent& event, bool secure) {
  switch (event.kind) {
    case HandshakeEvent::kSucceeded:
      return fmt::format("{} the master at {}",
                         secure ? "secure connection (CURVE) with" : "connected to",
                         event.endpoint);
    case HandshakeEvent::kFailedAuth:
      return fmt::format(
          "the master at {} refused this client's key (ZAP status {}): add its public key "
          "to the master's --curve-clients file",
          event.endpoint, event.detail);
    case HandshakeEvent::kFailedProtocol:
      if (event.detail == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
        return fmt::format("the master at {} and this client disagree on security: {}",
                           event.endpoint,
                           secure ? "this client uses CURVE (--master-key), the master does not"
                                  : "the master uses CURVE; pass its public key with --master-key");
      }
      break;
    case HandshakeEvent::kFailedOther:
      break;
  }
  return fmt::format("the {}handshake with the master at {} failed ({}){}", secure ? "secure " : "",
                     event.endpoint, handshakeFailureDetail(event),
                     secure ? ": is --master-key the master's public key?" : "");
}

}  // namespace allot::runtime
