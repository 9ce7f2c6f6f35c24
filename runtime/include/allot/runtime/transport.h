#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <zmq.hpp>

#include "allot/runtime/curve.h"
#include "allot/runtime/event_loop.h"
#include "allot/runtime/wire.h"

namespace google::protobuf {
class MessageLite;
}

namespace allot::runtime {

// One message as received: the decoded envelope, and on a ROUTER the peer's
// routing id.
struct Incoming {
  std::string routingId;
  wire::Envelope envelope;
  // The name the CURVE clients file gives the sender's key (ZAP's User-Id);
  // empty without CURVE or without a clients file.
  std::string keyName;
};

// The master's side: a ROUTER socket bound to `endpoint` ("tcp://*:5050").
// Sends are non-blocking; a message to a peer that is gone is dropped and
// counted (ZMQ_ROUTER_MANDATORY makes that visible instead of silent).
class RouterSocket {
 public:
  // With `curve`, the socket is a CURVE server: clients must know its public
  // key, and, with a clients file, the context's CurveAuthenticator (which
  // must exist before) admits them.
  RouterSocket(zmq::context_t& context, const std::string& endpoint,
               const CurveServerOptions* curve = nullptr);

  zmq::socket_t& socket() { return socket_; }
  // The endpoint actually bound (resolves port 0 / "*").
  std::string endpoint() const;

  // Receives one message without blocking. Returns false when none is
  // waiting. A frame that does not decode is answered with an Error (when
  // possible), reported through `onBadFrame`, and skipped: the loop goes on
  // to the next message.
  bool receive(
      Incoming& out,
      const std::function<void(const std::string& routingId, const WireError&)>& onBadFrame);

  // Returns false when the peer is unreachable or its queue is full.
  // `recipient` names the agent or framework the message is for (see
  // Envelope.recipient); the master always sets it.
  bool send(const std::string& routingId, wire::MessageType type, std::string_view sender,
            const google::protobuf::MessageLite& body, std::string_view recipient = {});
  void sendError(const std::string& routingId, wire::Error::Code code, std::string message,
                 wire::MessageType about = wire::MESSAGE_TYPE_UNSPECIFIED,
                 std::uint64_t aboutSequence = 0);

  std::uint64_t dropped() const { return dropped_; }
  // The Envelope.sequence of the last message sent (or sendError'd).
  std::uint64_t lastSequence() const { return sequence_; }

 private:
  zmq::socket_t socket_;
  bool curve_ = false;
  std::uint64_t sequence_ = 0;
  std::uint64_t dropped_ = 0;
};

// An agent's or driver's side: a DEALER socket connected to the master
// ("tcp://127.0.0.1:5050"). ZeroMQ reconnects by itself; the routing id is
// fixed so a restarted master sees the same peer id.
class DealerSocket {
 public:
  // With `curve`, the connection's handshakes are monitored (watch
  // handshakeMonitor(), or see watchDealer), and with its serverKey set it
  // is CURVE-secured. Null: neither (tests, the agent emulator).
  DealerSocket(zmq::context_t& context, const std::string& endpoint, const std::string& routingId,
               const CurveClientOptions* curve = nullptr);

  zmq::socket_t& socket() { return socket_; }
  // Null when constructed without `curve`.
  HandshakeMonitor* handshakeMonitor() { return monitor_.get(); }
  bool secure() const { return secure_; }

  // Receives one message without blocking; see RouterSocket::receive.
  bool receive(wire::Envelope& out, const std::function<void(const WireError&)>& onBadFrame);
  // Returns false when the queue to the master is full (the message is dropped).
  bool send(wire::MessageType type, std::string_view sender,
            const google::protobuf::MessageLite& body);

 private:
  zmq::socket_t socket_;
  std::unique_ptr<HandshakeMonitor> monitor_;
  bool secure_ = false;
  std::uint64_t sequence_ = 0;
};

// Watches `socket` on `loop`: `onReadable` for its messages and, with CURVE,
// `onHandshake` for each handshake outcome. unwatchDealer undoes both.
void watchDealer(EventLoop& loop, DealerSocket& socket, EventLoop::Callback onReadable,
                 std::function<void(const HandshakeEvent&)> onHandshake);
void unwatchDealer(EventLoop& loop, DealerSocket& socket);

// "HOST:PORT" or "tcp://HOST:PORT" -> "tcp://HOST:PORT". Throws ParseError.
std::string masterEndpoint(std::string_view hostPort);

}  // namespace allot::runtime
