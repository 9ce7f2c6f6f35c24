#pragma once

// CURVE security for the ZeroMQ links between the master and its agents and
// frameworks (ZeroMQ RFC 26, CurveZMQ): the links are encrypted, clients know
// the master by its public key, and the master admits only the client keys
// an operator listed (ZAP, RFC 27). Without it anyone who reaches the
// master's port can subscribe a framework and run commands on every agent.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <zmq.hpp>

#include "allot/runtime/reloading_file.h"

namespace allot::runtime {

// A CURVE key pair, each key in Z85 text (40 characters).
struct CurveKeyPair {
  std::string publicKey;
  std::string secretKey;
};

// A fresh key pair (libsodium through libzmq). Throws allot::Error when the
// ZeroMQ library was built without CURVE.
CurveKeyPair generateCurveKeyPair();

// Writes `keys` to `path` (created with mode 0600; an existing file is
// refused unless `overwrite`). Throws allot::Error naming the file.
void writeCurveKeyFile(const std::string& path, const CurveKeyPair& keys, bool overwrite);

// Reads a key pair file, as written by writeCurveKeyFile (in the layout of
// czmq's certificates): lines `public-key = "..."` and `secret-key = "..."`.
// The public key may be left out (it is derived). Throws allot::Error naming
// `flag`, the file, and the line at fault; warns (through `warn`) when
// others than its owner may read it.
CurveKeyPair readCurveKeyFile(const char* flag, const std::string& path,
                              const std::function<void(const std::string&)>& warn = {});

// A public key given as 40 Z85 characters, or the path of a file holding one
// (bare, or as `public-key = "..."`, e.g. a key pair file or czmq's public
// certificate). Throws allot::Error naming `flag`.
std::string readCurvePublicKey(const char* flag, std::string_view keyOrPath);

// True when `key` is 40 characters of valid Z85 text.
bool isCurveKey(std::string_view key);

// The master's side (RouterSocket): its key pair, and who may connect.
struct CurveServerOptions {
  CurveKeyPair keys;
  // File of the client public keys admitted, one per line, each optionally
  // followed by a name ("KEY agent-r1-07"); '#' at the start of a line or
  // after white space starts a comment (Z85 keys may contain '#'). Read again
  // when it changes, so a key is added or revoked without a restart (for new
  // connections). Empty: any client that knows the master's public key.
  std::string clientsFile;
};

// An agent's or framework's side (DealerSocket).
struct CurveClientOptions {
  std::string serverKey;  // the master's public key; empty: no CURVE
  CurveKeyPair keys;      // this client's; empty: a fresh pair per connection
};

// The admitted client keys of a clients file.
class CurveClientList {
 public:
  // Reads `path`. Throws allot::Error naming file:line for a line that is
  // not a key (and a name).
  explicit CurveClientList(std::string path);

  // The name of `publicKey` (Z85), or nullopt when it is not admitted.
  // Re-reads the file first when its size or modification time changed; a
  // file that no longer reads keeps the last good list and is reported once
  // through `warn`.
  std::optional<std::string> admit(std::string_view publicKey,
                                   const std::function<void(const std::string&)>& warn);
  std::size_t size() const { return file_.value().size(); }
  const std::string& path() const { return file_.path(); }

 private:
  using Keys = std::map<std::string, std::string, std::less<>>;  // Z85 -> name
  static Keys readClientsFile(const std::string& path);          // throws
  ReloadingFile<Keys> file_;
};

// The ZAP handler of one ZeroMQ context: a REP socket on
// inproc://zeromq.zap.01 that libzmq asks about each CURVE handshake of the
// context's sockets. Runs on the owner's loop: watch socket() and call
// handle() when it is readable.
class CurveAuthenticator {
 public:
  struct Decision {
    std::string address;              // the client's IP address
    std::string key;                  // its public key, Z85
    std::optional<std::string> name;  // set when admitted
  };
  // Binds the handler. Throws allot::Error when the context has one already
  // (one CURVE master per context) or the clients file does not read.
  CurveAuthenticator(zmq::context_t& context, const std::string& clientsFile);

  zmq::socket_t& socket() { return socket_; }
  // Answers every waiting request; `decided` sees each answer, `warn` a
  // clients file that no longer reads.
  void handle(const std::function<void(const Decision&)>& decided,
              const std::function<void(const std::string&)>& warn);

  std::size_t clientCount() const { return clients_.size(); }
  std::uint64_t admitted() const { return admitted_; }
  std::uint64_t refused() const { return refused_; }

 private:
  zmq::socket_t socket_;
  CurveClientList clients_;
  std::uint64_t admitted_ = 0, refused_ = 0;
};

// What a socket monitor reports of a connection's CURVE handshake.
struct HandshakeEvent {
  enum Kind { kSucceeded, kFailedAuth, kFailedProtocol, kFailedOther };
  Kind kind = kSucceeded;
  int detail = 0;  // libzmq's value: the ZAP status code, or a ZMQ_PROTOCOL_ERROR_*
  std::string endpoint;
};

// A monitor of one socket's handshakes (zmq_socket_monitor on an inproc PAIR).
class HandshakeMonitor {
 public:
  HandshakeMonitor(zmq::context_t& context, zmq::socket_t& monitored);
  zmq::socket_t& socket() { return pair_; }
  // Reads every waiting event.
  void drain(const std::function<void(const HandshakeEvent&)>& onEvent);

 private:
  zmq::socket_t pair_;
};

// Which of a client's handshake events deserve a log line: the first
// outcome and each change (a refusal after success, success after
// failures, another master), not every retry of a connection that keeps
// failing.
// A plain (not `secure`) connection's first success is not worth a line,
// nor its failures other than a mechanism mismatch.
class HandshakeLogFilter {
 public:
  bool worthLogging(const HandshakeEvent& event, bool secure);
  // Logs `event` for the client `who` ("agent X", "driver") when it is
  // worth a line: success as info, failure as error, `suffix` after it.
  void log(const HandshakeEvent& event, bool secure, std::string_view who,
           std::string_view suffix = {});

 private:
  std::optional<std::tuple<HandshakeEvent::Kind, int, std::string>> last_;
};

// A sentence for a client's log: why its handshake with the master at
// `endpoint` failed, and what to check; or that it succeeded.
std::string describeClientHandshake(const HandshakeEvent& event, bool secure);
// Why a handshake failed, in a few words: "no CURVE", a protocol error, an errno.
std::string handshakeFailureDetail(const HandshakeEvent& event);

}  // namespace allot::runtime
