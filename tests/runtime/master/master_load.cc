// A load check of the master, not a gtest: N emulated agents over a few
// DEALER sockets and one framework that launches short tasks, which the
// emulated agents finish at once. Prints registration time, tasks/s and the
// master's /metrics latencies. Usage: master_load [AGENTS] [TASKS] [SOCKETS]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "allot/core/resources.h"
#include "allot/runtime/clock.h"
#include "allot/runtime/master.h"
#include "allot/runtime/transport.h"
#include "allot/runtime/wire.h"
// After Eigen (through allot headers): <resolv.h> defines a macro `_res`
// that breaks Eigen.
#include <httplib.h>

namespace allot::runtime {
namespace {

int loadCheck(int argc, char** argv) {
  const int agents = argc > 1 ? std::atoi(argv[1]) : 10'000;
  const int total = argc > 2 ? std::atoi(argv[2]) : 10'000;
  const int sockets = argc > 3 ? std::atoi(argv[3]) : 10;
  zmq::context_t context;
  SystemClock clock;
  MasterOptions o;
  o.endpoint = "tcp://127.0.0.1:*";
  o.httpHost = "127.0.0.1";
  o.httpPort = 0;
  o.workDir = "/tmp/allot-master-load-" + std::to_string(::getpid());
  o.masterId = "L";
  auto master = std::make_unique<Master>(context, clock, o);
  const std::string endpoint = master->endpoint();
  const int httpPort = master->httpPort();
  std::thread loop([&] { master->run(); });

  std::vector<std::unique_ptr<DealerSocket>> dealers;
  for (int s = 0; s < sockets; ++s) {
    dealers.push_back(
        std::make_unique<DealerSocket>(context, endpoint, "agents-" + std::to_string(s)));
  }
  DealerSocket driver(context, endpoint, "driver");
  auto onBad = [](const WireError& e) { std::cerr << "bad frame: " << e.message << "\n"; };
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < agents; ++i) {
    wire::RegisterAgent reg;
    reg.set_agent_id("a" + std::to_string(i));
    reg.set_hostname("h" + std::to_string(i));
    reg.set_resources("cpus:8;mem:16384");
    dealers[static_cast<std::size_t>(i % sockets)]->send(wire::REGISTER_AGENT, reg.agent_id(), reg);
  }
  int registered = 0;
  std::vector<zmq::pollitem_t> items;
  for (auto& d : dealers) items.push_back({d->socket().handle(), 0, ZMQ_POLLIN, 0});
  items.push_back({driver.socket().handle(), 0, ZMQ_POLLIN, 0});
  wire::Envelope e;
  while (registered < agents) {
    zmq::poll(items, std::chrono::milliseconds(100));
    for (auto& d : dealers) {
      while (d->receive(e, onBad)) registered += e.type() == wire::AGENT_REGISTERED ? 1 : 0;
    }
  }
  const double regSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%d agents registered in %.2f s\n", agents, regSeconds);

  wire::Subscribe sub;
  sub.mutable_framework()->set_name("load");
  sub.mutable_framework()->set_role("*");
  driver.send(wire::SUBSCRIBE, "", sub);
  std::string fw;
  int launched = 0, finished = 0, n = 0;
  const auto t1 = std::chrono::steady_clock::now();
  while (finished < total) {
    zmq::poll(items, std::chrono::milliseconds(100));
    while (driver.receive(e, onBad)) {
      if (e.type() == wire::SUBSCRIBED) {
        wire::Subscribed s;
        s.ParseFromString(e.payload());
        fw = s.framework_id();
      } else if (e.type() == wire::OFFERS) {
        wire::Offers offers;
        offers.ParseFromString(e.payload());
        for (const wire::Offer& offer : offers.offers()) {
          wire::Accept acc;
          acc.add_offer_ids(offer.offer_id());
          const Resources r = Resources::parse(offer.resources());
          const int fit = static_cast<int>(std::min(r.scalar("cpus"), r.scalar("mem") / 128));
          for (int k = 0; k < fit && launched < total; ++k, ++launched) {
            wire::TaskInfo* t = acc.add_tasks();
            t->set_task_id("t" + std::to_string(n++));
            t->set_resources("cpus:1;mem:128");
            t->set_command("true");
          }
          acc.mutable_filters()->set_refuse_seconds(0);
          driver.send(wire::ACCEPT, fw, acc);
        }
      } else if (e.type() == wire::UPDATE) {
        wire::Update u;
        u.ParseFromString(e.payload());
        if (isTerminal(u.status().state())) ++finished;
        wire::Acknowledge ack;
        ack.set_agent_id(u.status().agent_id());
        ack.set_task_id(u.status().task_id());
        ack.set_uuid(u.status().uuid());
        if (!ack.uuid().empty()) driver.send(wire::ACKNOWLEDGE, fw, ack);
      }
    }
    for (auto& d : dealers) {
      while (d->receive(e, onBad)) {
        if (e.type() != wire::RUN_TASK) continue;
        wire::RunTask run;
        run.ParseFromString(e.payload());
        wire::StatusUpdate up;
        up.mutable_status()->set_task_id(run.task().task_id());
        up.mutable_status()->set_framework_id(run.framework().framework_id());
        up.mutable_status()->set_state(wire::TASK_FINISHED);
        up.mutable_status()->set_uuid("u" + run.task().task_id());
        d->send(wire::STATUS_UPDATE, run.task().agent_id(), up);
      }
    }
  }
  const double runSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  std::printf("%d tasks launched and finished in %.2f s: %.0f tasks/s\n", total, runSeconds,
              total / runSeconds);
  httplib::Client client("127.0.0.1", httpPort);
  if (auto r = client.Get("/metrics")) {
    for (const char* key :
         {"allot_master_offer_to_launch_seconds{", "allot_master_allocation_round_seconds{",
          "allot_master_offers_total", "allot_master_bad"}) {
      std::size_t pos = 0;
      while ((pos = r->body.find(key, pos)) != std::string::npos) {
        std::size_t end = r->body.find('\n', pos);
        std::cout << r->body.substr(pos, end - pos) << "\n";
        pos = end;
      }
    }
  }
  const auto s0 = std::chrono::steady_clock::now();
  auto state = client.Get("/api/v1/state");
  std::printf("/api/v1/state: %zu bytes in %.3f s\n", state ? state->body.size() : 0,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count());
  master->stop();
  loop.join();
  master.reset();
  std::filesystem::remove_all(o.workDir);
  return 0;
}

}  // namespace
}  // namespace allot::runtime

int main(int argc, char** argv) {
  return allot::runtime::loadCheck(argc, argv);
}
