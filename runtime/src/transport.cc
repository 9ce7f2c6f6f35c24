#include "allot/runtime/transport.h"

#include <fmt/format.h>

#include "allot/core/error.h"

namespace allot::runtime {

namespace {

// encode()'s frame, serialized into the message the socket sends: no copy.
zmq::message_t frameOf(wire::MessageType type, std::string_view sender, std::uint64_t sequence,
                       const google::protobuf::MessageLite& body, std::string_view recipient) {
  zmq::message_t frame;
  encodeInto(type, sender, sequence, body, recipient, [&](std::size_t bytes) {
    frame.rebuild(bytes);
    return frame.data<std::uint8_t>();
  });
  return frame;
}

constexpr int kHighWaterMark = 1'000'000;  // messages queued per peer before drops
constexpr int kListenBacklog = 65'535;     // capped by net.core.somaxconn

std::span<const std::byte> bytesOf(const zmq::message_t& m) {
  return {static_cast<const std::byte*>(m.data()), m.size()};
}

}  // namespace

RouterSocket::RouterSocket(zmq::context_t& context, const std::string& endpoint,
                           const CurveServerOptions* curve)
    : socket_(context, zmq::socket_type::router) {
  if (curve) {
    curve_ = true;
    socket_.set(zmq::sockopt::curve_server, 1);
    socket_.set(zmq::sockopt::curve_secretkey, curve->keys.secretKey);
    socket_.set(zmq::sockopt::zap_domain, "allot");
  }
  socket_.set(zmq::sockopt::router_mandatory, 1);
  socket_.set(zmq::sockopt::sndhwm, kHighWaterMark);
  socket_.set(zmq::sockopt::rcvhwm, kHighWaterMark);
  socket_.set(zmq::sockopt::maxmsgsize, kHardMaxMessageBytes);
  socket_.set(zmq::sockopt::linger, 0);
  // A whole cluster connects at once after a master start or failover.
  // ZeroMQ's listen backlog of 100 overflows while its I/O thread is busy
  // (CURVE handshakes cost about 1.2 ms each): dropped SYNs are retried by
  // the kernel after 1, 3, 7, 15 and 31 s, and the last of 4,000 agents took
  // 16 or 34 s to register instead of 7 (bench/runtime/curve_connect.sh). The kernel caps this at
  // net.core.somaxconn.
  socket_.set(zmq::sockopt::backlog, kListenBacklog);
  socket_.bind(endpoint);
}

std::string RouterSocket::endpoint() const {
  return socket_.get(zmq::sockopt::last_endpoint);
}

bool RouterSocket::receive(
    Incoming& out,
    const std::function<void(const std::string& routingId, const WireError&)>& onBadFrame) {
  while (true) {
    zmq::message_t identity;
    if (!socket_.recv(identity, zmq::recv_flags::dontwait)) return false;
    out.routingId.assign(static_cast<const char*>(identity.data()), identity.size());
    // A peer may send several frames; an envelope is exactly one. Read them
    // all so the next message starts clean.
    std::vector<zmq::message_t> frames;
    while (socket_.get(zmq::sockopt::rcvmore)) {
      zmq::message_t frame;
      (void)socket_.recv(frame, zmq::recv_flags::none);
      frames.push_back(std::move(frame));
    }
    std::optional<WireError> error;
    if (frames.size() != 1) {
      error = WireError{wire::Error::MALFORMED,
                        fmt::format("{} frames in one message (expected 1)", frames.size())};
    } else {
      error = decode(bytesOf(frames[0]), out.envelope);
    }
    out.keyName.clear();
    if (curve_ && !frames.empty()) {
      if (const char* name = zmq_msg_gets(frames[0].handle(), "User-Id")) out.keyName = name;
    }
    if (!error) return true;
    onBadFrame(out.routingId, *error);
    sendError(out.routingId, error->code, error->message);
  }
}

bool RouterSocket::send(const std::string& routingId, wire::MessageType type,
                        std::string_view sender, const google::protobuf::MessageLite& body,
                        std::string_view recipient) {
  zmq::message_t frame = frameOf(type, sender, ++sequence_, body, recipient);
  try {
    if (!socket_.send(zmq::buffer(routingId),
                      zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      ++dropped_;
      return false;
    }
    (void)socket_.send(frame, zmq::send_flags::dontwait);
    return true;
  } catch (const zmq::error_t&) {
    // EHOSTUNREACH: the peer is gone (ZMQ_ROUTER_MANDATORY).
    ++dropped_;
    return false;
  }
}

void RouterSocket::sendError(const std::string& routingId, wire::Error::Code code,
                             std::string message, wire::MessageType about,
                             std::uint64_t aboutSequence) {
  wire::Error error;
  error.set_code(code);
  error.set_message(std::move(message));
  error.set_about(about);
  error.set_about_sequence(aboutSequence);
  send(routingId, wire::ERROR, "master", error);
}

DealerSocket::DealerSocket(zmq::context_t& context, const std::string& endpoint,
                           const std::string& routingId, const CurveClientOptions* curve)
    : socket_(context, zmq::socket_type::dealer) {
  if (curve && !curve->serverKey.empty()) {
    const CurveKeyPair keys = curve->keys.secretKey.empty() ? generateCurveKeyPair() : curve->keys;
    socket_.set(zmq::sockopt::curve_serverkey, curve->serverKey);
    socket_.set(zmq::sockopt::curve_publickey, keys.publicKey);
    socket_.set(zmq::sockopt::curve_secretkey, keys.secretKey);
    secure_ = true;
  }
  // Also without CURVE: a plain client of a CURVE master learns why nothing
  // gets through.
  if (curve) monitor_ = std::make_unique<HandshakeMonitor>(context, socket_);
  socket_.set(zmq::sockopt::routing_id, routingId);
  socket_.set(zmq::sockopt::sndhwm, kHighWaterMark);
  socket_.set(zmq::sockopt::rcvhwm, kHighWaterMark);
  socket_.set(zmq::sockopt::maxmsgsize, kHardMaxMessageBytes);
  socket_.set(zmq::sockopt::linger, 0);
  // Reconnect quickly after a master restart; back off to 1 s.
  socket_.set(zmq::sockopt::reconnect_ivl, 50);
  socket_.set(zmq::sockopt::reconnect_ivl_max, 1000);
  socket_.connect(endpoint);
}

bool DealerSocket::receive(wire::Envelope& out,
                           const std::function<void(const WireError&)>& onBadFrame) {
  while (true) {
    zmq::message_t frame;
    if (!socket_.recv(frame, zmq::recv_flags::dontwait)) return false;
    std::optional<WireError> error;
    if (frame.more()) {
      while (socket_.get(zmq::sockopt::rcvmore)) {
        zmq::message_t rest;
        (void)socket_.recv(rest, zmq::recv_flags::none);
      }
      error = WireError{wire::Error::MALFORMED, "several frames in one message (expected 1)"};
    } else {
      error = decode(bytesOf(frame), out);
    }
    if (!error) return true;
    onBadFrame(*error);
  }
}

bool DealerSocket::send(wire::MessageType type, std::string_view sender,
                        const google::protobuf::MessageLite& body) {
  zmq::message_t frame = frameOf(type, sender, ++sequence_, body, {});
  return socket_.send(frame, zmq::send_flags::dontwait).has_value();
}

void watchDealer(EventLoop& loop, DealerSocket& socket, EventLoop::Callback onReadable,
                 std::function<void(const HandshakeEvent&)> onHandshake) {
  loop.watch(socket.socket(), std::move(onReadable));
  if (HandshakeMonitor* monitor = socket.handshakeMonitor()) {
    loop.watch(monitor->socket(),
               [monitor, onHandshake = std::move(onHandshake)] { monitor->drain(onHandshake); });
  }
}

void unwatchDealer(EventLoop& loop, DealerSocket& socket) {
  loop.unwatch(socket.socket());
  if (HandshakeMonitor* monitor = socket.handshakeMonitor()) loop.unwatch(monitor->socket());
}

std::string masterEndpoint(std::string_view hostPort) {
  std::string_view rest = hostPort;
  if (rest.starts_with("tcp://")) rest.remove_prefix(6);
  auto colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == rest.size()) {
    throw ParseError(fmt::format("master address '{}': expected HOST:PORT", hostPort));
  }
  for (char c : rest.substr(colon + 1)) {
    if (c < '0' || c > '9') {
      throw ParseError(fmt::format("master address '{}': port is not a number", hostPort));
    }
  }
  return fmt::format("tcp://{}", rest);
}

}  // namespace allot::runtime
