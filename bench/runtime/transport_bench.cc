// What CURVE costs a link between the master and an agent or framework,
// against plain TCP in the same run (loopback, one process, the master's
// ROUTER and one DEALER):
// - RoundTrip: one envelope each way (the DEALER sends, the ROUTER answers),
//   by payload size;
// - EncodeFrame: one frame serialized for the socket, the former way (two
//   strings and a copy) against encodeInto, by payload size;
// - Connect: a new connection's handshake up to its first delivered message
//   (with CURVE: the key exchange and the clients file's answer), as 10,000
//   agents pay after a master failover.
//
//   build/release/bench/runtime/transport_bench

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "allot/runtime/curve.h"
#include "allot/runtime/transport.h"

namespace allot::runtime {
namespace {

// A ROUTER, CURVE or plain, and what its clients need.
struct Link {
  explicit Link(bool curve) {
    if (curve) {
      server.keys = generateCurveKeyPair();
      client.serverKey = server.keys.publicKey;
      client.keys = generateCurveKeyPair();
      char dir[] = "/tmp/allot-transport-bench-XXXXXX";
      if (::mkdtemp(dir) == nullptr) std::abort();
      clientsDir = dir;
      server.clientsFile = clientsDir + "/clients";
      std::ofstream(server.clientsFile) << client.keys.publicKey << " bench\n";
      auth = std::make_unique<CurveAuthenticator>(context, server.clientsFile);
    }
    router =
        std::make_unique<RouterSocket>(context, "tcp://127.0.0.1:*", curve ? &server : nullptr);
  }
  ~Link() {
    if (!clientsDir.empty()) std::filesystem::remove_all(clientsDir);
  }

  // Waits for one message at the ROUTER, answering ZAP requests meanwhile.
  Incoming receive() {
    Incoming in;
    auto onBad = [](const std::string&, const WireError&) { std::abort(); };
    while (!router->receive(in, onBad)) {
      zmq::pollitem_t items[2] = {{router->socket().handle(), 0, ZMQ_POLLIN, 0},
                                  {auth ? auth->socket().handle() : nullptr, 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, auth ? 2 : 1, std::chrono::milliseconds(1000));
      if (auth) auth->handle({}, {});
    }
    return in;
  }

  zmq::context_t context;
  CurveServerOptions server;
  CurveClientOptions client;
  std::string clientsDir;
  std::unique_ptr<CurveAuthenticator> auth;
  std::unique_ptr<RouterSocket> router;
};

void waitReadable(DealerSocket& dealer, wire::Envelope& out) {
  auto onBad = [](const WireError&) { std::abort(); };
  while (!dealer.receive(out, onBad)) {
    zmq::pollitem_t item{dealer.socket().handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(1000));
  }
}

void RoundTrip(benchmark::State& state) {
  const bool curve = state.range(0) != 0;
  Link link(curve);
  DealerSocket dealer(link.context, link.router->endpoint(), "agent#1",
                      curve ? &link.client : nullptr);
  wire::Error body;
  body.set_message(std::string(static_cast<std::size_t>(state.range(1)), 'x'));
  wire::Envelope back;
  // The first exchange connects (and, with CURVE, shakes hands).
  dealer.send(wire::ERROR, "agent", body);
  link.router->send(link.receive().routingId, wire::ERROR, "master", body);
  waitReadable(dealer, back);
  for (auto _ : state) {
    dealer.send(wire::ERROR, "agent", body);
    const Incoming in = link.receive();
    link.router->send(in.routingId, wire::ERROR, "master", body);
    waitReadable(dealer, back);
  }
  state.SetItemsProcessed(2 * state.iterations());  // messages
  state.SetLabel(curve ? "curve" : "plain");
}
BENCHMARK(RoundTrip)
    ->ArgsProduct({{0, 1}, {64, 4096, 65536}})
    ->ArgNames({"curve", "bytes"})
    ->UseRealTime();

// One frame ready for the socket, by payload size: as encode() made it
// until 2026-12-05 (way 0: the body serialized into the envelope's payload
// string, the envelope into another string, which the socket copied into
// its message), against encodeInto writing it once into the message (way 1).
void EncodeFrame(benchmark::State& state) {
  const bool once = state.range(0) != 0;
  wire::FileData body;
  body.set_request_id(7);
  body.set_data(std::string(static_cast<std::size_t>(state.range(1)), 'x'));
  for (auto _ : state) {
    zmq::message_t frame;
    if (once) {
      encodeInto(wire::FILE_DATA, "agent-1", 42, body, {}, [&](std::size_t bytes) {
        frame.rebuild(bytes);
        return frame.data<std::uint8_t>();
      });
    } else {
      wire::Envelope envelope;
      envelope.set_version(kProtocolVersion);
      envelope.set_type(wire::FILE_DATA);
      envelope.set_sender("agent-1");
      envelope.set_sequence(42);
      body.SerializeToString(envelope.mutable_payload());
      const std::string bytes = envelope.SerializeAsString();
      frame.rebuild(bytes.data(), bytes.size());
    }
    benchmark::DoNotOptimize(frame.data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(1));
  state.SetLabel(once ? "encodeInto" : "before (two strings and a copy)");
}
BENCHMARK(EncodeFrame)->ArgsProduct({{0, 1}, {100, 65536, 1 << 20}})->ArgNames({"once", "bytes"});

void Connect(benchmark::State& state) {
  const bool curve = state.range(0) != 0;
  Link link(curve);
  wire::Error body;
  body.set_message("register");
  int n = 0;
  for (auto _ : state) {
    DealerSocket dealer(link.context, link.router->endpoint(), "agent#" + std::to_string(++n),
                        curve ? &link.client : nullptr);
    dealer.send(wire::ERROR, "agent", body);
    benchmark::DoNotOptimize(link.receive());
  }
  state.SetLabel(curve ? "curve" : "plain");
}
BENCHMARK(Connect)->Arg(0)->Arg(1)->ArgName("curve")->UseRealTime();

}  // namespace
}  // namespace allot::runtime

BENCHMARK_MAIN();
