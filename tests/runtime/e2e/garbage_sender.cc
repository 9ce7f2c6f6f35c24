// allot-test-garbage: sends malformed and unwelcome messages to a master's
// ROUTER socket over a real DEALER and reports, as one JSON object on
// stdout, which ERROR code (if any) came back for each. Exit status 0 when
// every case that must be answered was answered with an ERROR, 1 otherwise.
//
// Cases: bytes that are no Envelope, an empty frame, another protocol
// version, an unknown type, a payload that does not parse for every message
// type a peer may send, several frames in one message, a frame over the
// 4 MiB limit, well-formed messages from a sender the master does not know,
// and last a frame over ZMQ_MAXMSGSIZE (64 MiB), which ZeroMQ answers by
// closing the connection (no reply expected).

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "allot/runtime/transport.h"
#include "allot/runtime/wire.h"

namespace allot::runtime {
namespace {

using namespace std::chrono_literals;

struct Case {
  std::string name;
  std::vector<std::string> frames;  // raw frames of one message
  bool mustAnswer = true;
};

std::string envelope(std::uint32_t version, int type, const std::string& sender,
                     const std::string& payload) {
  wire::Envelope e;
  e.set_version(version);
  e.set_type(static_cast<wire::MessageType>(type));
  e.set_sender(sender);
  e.set_sequence(1);
  e.set_payload(payload);
  return e.SerializeAsString();
}

std::vector<Case> cases() {
  std::mt19937 random(42);
  std::string noise(300, '\0');
  for (char& c : noise) c = static_cast<char>(random() & 0xff);
  std::vector<Case> list;
  list.push_back({"random bytes", {noise}});
  list.push_back({"empty frame", {std::string()}});
  list.push_back({"protocol version 99", {envelope(99, wire::SUBSCRIBE, "x", "")}});
  list.push_back({"unknown type 77", {envelope(kProtocolVersion, 77, "x", "")}});
  list.push_back({"two frames", {envelope(kProtocolVersion, wire::SUBSCRIBE, "", ""), "extra"}});
  list.push_back({"5 MiB frame", {std::string(5u << 20, 'x')}});
  // Every type a peer sends, with a payload that is not that message. Types
  // with an empty payload ignore it; answers there are optional.
  for (wire::MessageType type :
       {wire::REGISTER_AGENT, wire::STATUS_UPDATE, wire::SUBSCRIBE, wire::ACCEPT, wire::DECLINE,
        wire::KILL, wire::RECONCILE, wire::ACKNOWLEDGE, wire::AGENT_HEARTBEAT,
        wire::FRAMEWORK_HEARTBEAT, wire::ERROR}) {
    const bool empty = type == wire::AGENT_HEARTBEAT || type == wire::FRAMEWORK_HEARTBEAT;
    list.push_back({fmt::format("bad {} payload", messageTypeName(type)),
                    {envelope(kProtocolVersion, type, "garbage-sender", "\xff\xff\xff\xff")},
                    !empty && type != wire::ERROR});
  }
  // Well formed, but from nobody the master knows: NOT_REGISTERED.
  wire::Accept accept;
  accept.add_offer_ids("no-such-offer");
  accept.add_tasks()->set_task_id("t");
  list.push_back({"ACCEPT from an unknown framework",
                  {envelope(kProtocolVersion, wire::ACCEPT, "no-such-framework",
                            accept.SerializeAsString())}});
  list.push_back(
      {"FRAMEWORK_HEARTBEAT from an unknown framework",
       {envelope(kProtocolVersion, wire::FRAMEWORK_HEARTBEAT, "no-such-framework", "")}});
  list.push_back({"AGENT_HEARTBEAT from an unknown agent",
                  {envelope(kProtocolVersion, wire::AGENT_HEARTBEAT, "no-such-agent", "")}});
  wire::StatusUpdate update;
  update.mutable_status()->set_task_id("t");
  update.mutable_status()->set_framework_id("no-such-framework");
  update.mutable_status()->set_state(wire::TASK_RUNNING);
  update.mutable_status()->set_uuid("0123456789abcdef");
  list.push_back({"STATUS_UPDATE from an unknown agent",
                  {envelope(kProtocolVersion, wire::STATUS_UPDATE, "no-such-agent",
                            update.SerializeAsString())}});
  // Messages only the master sends, sent to it.
  list.push_back({"OFFERS sent to the master",
                  {envelope(kProtocolVersion, wire::OFFERS, "no-such-framework", "")}});
  // Bad field values: resources that do not parse, a state out of range.
  wire::RegisterAgent bad;
  bad.set_hostname("garbage");
  bad.set_resources("cpus:lots;mem:-5");
  list.push_back({"REGISTER_AGENT with bad resources",
                  {envelope(kProtocolVersion, wire::REGISTER_AGENT, "", bad.SerializeAsString())}});
  return list;
}

// The code of the first ERROR that arrives within `wait`, if any.
std::optional<int> awaitError(DealerSocket& socket, std::chrono::milliseconds wait,
                              std::string& message) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    zmq::pollitem_t item{socket.socket().handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, 20ms);
    wire::Envelope in;
    while (socket.receive(in, [](const WireError&) {})) {
      if (in.type() != wire::ERROR) continue;
      wire::Error error;
      if (!error.ParseFromString(in.payload())) continue;
      message = error.message();
      return static_cast<int>(error.code());
    }
  }
  return std::nullopt;
}

int run(const std::string& master, int waitMs, bool huge) {
  zmq::context_t context(1);
  nlohmann::json report = nlohmann::json::array();
  bool ok = true;
  const std::string endpoint = masterEndpoint(master);
  int n = 0;
  for (const Case& c : cases()) {
    // One connection per case, so a reply is not confused with another's.
    DealerSocket socket(context, endpoint, fmt::format("garbage-{}-{}", ::getpid(), ++n));
    // A master that refuses the connection (CURVE, to this plain socket)
    // leaves no pipe to queue on: a send would block for ever.
    socket.socket().set(zmq::sockopt::sndtimeo, std::max(waitMs, 1000));
    bool sent = true;
    for (std::size_t i = 0; i < c.frames.size() && sent; ++i) {
      const bool more = i + 1 < c.frames.size();
      sent = socket.socket()
                 .send(zmq::buffer(c.frames[i]),
                       more ? zmq::send_flags::sndmore : zmq::send_flags::none)
                 .has_value();
    }
    std::string message;
    auto code = awaitError(socket, std::chrono::milliseconds(waitMs), message);
    nlohmann::json entry{{"case", c.name}, {"must_answer", c.mustAnswer}, {"sent", sent}};
    entry["code"] =
        code ? nlohmann::json(wire::Error::Code_Name(static_cast<wire::Error::Code>(*code)))
             : nlohmann::json();
    entry["message"] = message;
    if (c.mustAnswer && !code) ok = false;
    report.push_back(entry);
  }
  if (huge) {
    // Over ZMQ_MAXMSGSIZE: ZeroMQ drops the connection; nothing to await.
    DealerSocket socket(context, endpoint, fmt::format("garbage-{}-huge", ::getpid()));
    socket.socket().set(zmq::sockopt::linger, 2000);
    socket.socket().send(zmq::buffer(std::string((65u << 20), 'z')), zmq::send_flags::none);
    std::string message;
    auto code = awaitError(socket, std::chrono::milliseconds(waitMs), message);
    report.push_back({{"case", "65 MiB frame"},
                      {"must_answer", false},
                      {"code", code ? nlohmann::json(*code) : nlohmann::json()},
                      {"message", message}});
  }
  std::cout << nlohmann::json{{"ok", ok}, {"cases", report}}.dump(1) << std::endl;
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace allot::runtime

int main(int argc, char** argv) {
  std::string master;
  int waitMs = 2000;
  bool huge = false;
  CLI::App app{"allot-test-garbage: sends bad messages to a master and reports its answers"};
  app.add_option("--master", master, "Master address, HOST:PORT")->required();
  app.add_option("--wait-ms", waitMs, "How long to wait for each answer")->capture_default_str();
  app.add_flag("--huge", huge, "Also send one 65 MiB frame (ZeroMQ cuts the connection)");
  CLI11_PARSE(app, argc, argv);
  try {
    return allot::runtime::run(master, waitMs, huge);
  } catch (const std::exception& e) {
    std::cerr << "allot-test-garbage: " << e.what() << "\n";
    return 1;
  }
}
