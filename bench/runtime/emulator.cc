// allot-emulator: load for the master-scale benchmark (bench/runtime/).
//
//   agents      many lightweight agents multiplexed over a few DEALER sockets;
//               they run no processes: a task "runs" for the seconds named by
//               its command ("sleep 2.5"), else --task-seconds
//   frameworks  many busy frameworks that keep --tasks tasks each running
//   probe       one new framework at a time that runs one short task and
//               reports register -> offer -> launch -> status latencies (JSON)
//
// It speaks the wire protocol directly (runtime/proto/allot.proto), routing
// master messages by Envelope.recipient, so 10,000 agents need 16 sockets,
// not 10,000 connections.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <deque>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "allot/core/resources.h"
#include "allot/runtime/curve.h"
#include "allot/runtime/event_loop.h"
#include "allot/runtime/transport.h"

namespace allot::bench {
namespace {

using runtime::DealerSocket;
using runtime::EventLoop;
using runtime::SystemClock;

Duration seconds(double s) {
  return secondsToDuration(s);
}

double sinceSeconds(TimePoint a, TimePoint b) {
  return toSeconds(b - a);
}

// Parses the "sleep X" command of an emulated task; nullopt otherwise.
std::optional<double> sleepSeconds(const std::string& command) {
  if (!command.starts_with("sleep ")) return std::nullopt;
  double value = 0;
  const char* first = command.data() + 6;
  auto [ptr, ec] = std::from_chars(first, command.data() + command.size(), value);
  if (ec != std::errc{} || ptr == first) return std::nullopt;
  return value;
}

std::string newUuid(std::mt19937_64& rng) {
  std::uint64_t a = rng(), b = rng();
  std::string out(16, '\0');
  std::memcpy(out.data(), &a, 8);
  std::memcpy(out.data() + 8, &b, 8);
  return out;
}

// A pool of DEALER sockets; entity i talks through socket i % size.
class SocketPool {
 public:
  SocketPool(zmq::context_t& context, const std::string& endpoint, int count,
             const std::string& prefix, const runtime::CurveClientOptions* curve = nullptr) {
    std::random_device rd;
    for (int i = 0; i < count; ++i) {
      sockets_.push_back(std::make_unique<DealerSocket>(
          context, endpoint, fmt::format("{}-{}-{:x}", prefix, i, rd()), curve));
    }
  }
  DealerSocket& at(std::size_t entity) { return *sockets_[entity % sockets_.size()]; }
  std::size_t size() const { return sockets_.size(); }
  DealerSocket& socket(std::size_t i) { return *sockets_[i]; }

 private:
  std::vector<std::unique_ptr<DealerSocket>> sockets_;
};

void logBad(const runtime::WireError& e) {
  fmt::print(stderr, "emulator: bad frame from master: {}\n", e.message);
}

// ---------------------------------------------------------------------------
// agents

struct AgentOptions {
  std::string master;
  int count = 1000;
  int sockets = 16;
  std::string resources = "cpus:8;mem:16384;disk:100000";
  std::string prefix = "emu";
  double taskSeconds = 1.0;
  double retrySeconds = 2.0;
  // CURVE (--master-key, --curve-key): every connection with this key pair.
  std::optional<runtime::CurveClientOptions> curve;
};

class AgentEmulator {
 public:
  AgentEmulator(const AgentOptions& options, zmq::context_t& context, EventLoop& loop)
      : options_(options),
        loop_(loop),
        startedAt_(loop.now()),
        pool_(context, runtime::masterEndpoint(options.master), options.sockets, options.prefix,
              options.curve ? &*options.curve : nullptr),
        rng_(42) {
    Resources::parse(options.resources);  // fail early with a clear message
    for (int i = 0; i < options.count; ++i) {
      Agent agent;
      agent.id = fmt::format("{}-{}", options.prefix, i);
      index_.emplace(agent.id, agents_.size());
      agents_.push_back(std::move(agent));
    }
    for (std::size_t s = 0; s < pool_.size(); ++s) {
      loop_.watch(pool_.socket(s).socket(), [this, s] { drain(s); });
    }
    for (std::size_t i = 0; i < agents_.size(); ++i) registerAgent(i);
    loop_.every(seconds(options.retrySeconds), [this] { retry(); });
    loop_.every(seconds(5), [this] {
      fmt::print(stderr, "agents: {}/{} registered, {} tasks running, {} finished\n", registered_,
                 agents_.size(), running_, finished_);
    });
  }

 private:
  struct Pending {
    wire::TaskStatus status;
  };
  struct Agent {
    std::string id;
    bool registered = false;
    TimePoint lastAck{};
    std::int64_t heartbeatUs = 1'000'000;
    std::optional<EventLoop::TimerId> heartbeat;
  };
  struct Task {
    std::size_t agent = 0;
    wire::TaskInfo info;
    std::string frameworkId;
    std::deque<wire::TaskStatus> unacked;
    EventLoop::TimerId finish = 0;
    bool terminal = false;
  };

  void registerAgent(std::size_t i) {
    wire::RegisterAgent msg;
    msg.set_agent_id(agents_[i].id);
    msg.set_hostname(agents_[i].id);
    msg.set_resources(options_.resources);
    for (auto& [key, task] : tasks_) {
      if (task.agent != i || task.terminal) continue;
      *msg.add_tasks() = task.info;
      wire::TaskStatus* st = msg.add_task_statuses();
      st->set_task_id(task.info.task_id());
      st->set_framework_id(task.frameworkId);
      st->set_agent_id(agents_[i].id);
      st->set_state(wire::TASK_RUNNING);
    }
    pool_.at(i).send(wire::REGISTER_AGENT, agents_[i].id, msg);
  }

  void drain(std::size_t s) {
    wire::Envelope env;
    while (pool_.socket(s).receive(env, logBad)) handle(env);
  }

  void handle(const wire::Envelope& env) {
    auto it = index_.find(env.recipient());
    if (it == index_.end()) {
      fmt::print(stderr, "emulator: message {} for unknown agent '{}'\n",
                 runtime::messageTypeName(env.type()), env.recipient());
      return;
    }
    std::size_t i = it->second;
    Agent& agent = agents_[i];
    switch (env.type()) {
      case wire::AGENT_REGISTERED: {
        wire::AgentRegistered msg;
        if (runtime::decodePayload(env, msg)) return;
        if (!agent.registered && ++registered_ == agents_.size() && !allRegisteredOnce_) {
          // What bench/runtime/curve_connect.sh reads: connections and
          // handshakes of a whole cluster at once.
          allRegisteredOnce_ = true;
          fmt::print(stderr,
                     "agents: all {} registered in {:.3f} s over {} connections{}, {} "
                     "registrations resent\n",
                     agents_.size(), sinceSeconds(startedAt_, loop_.now()), pool_.size(),
                     options_.curve ? " (CURVE)" : "", registrationsResent_);
        }
        agent.registered = true;
        agent.lastAck = loop_.now();
        if (msg.heartbeat_interval_us() > 0) agent.heartbeatUs = msg.heartbeat_interval_us();
        if (agent.heartbeat) loop_.cancel(*agent.heartbeat);
        agent.heartbeat = loop_.every(Duration{agent.heartbeatUs}, [this, i] {
          wire::AgentHeartbeat hb;
          pool_.at(i).send(wire::AGENT_HEARTBEAT, agents_[i].id, hb);
        });
        for (const std::string& key : msg.kill_task_keys()) finishTask(key, std::nullopt);
        break;
      }
      case wire::AGENT_HEARTBEAT_ACK:
        agent.lastAck = loop_.now();
        break;
      case wire::RUN_TASK: {
        wire::RunTask msg;
        if (runtime::decodePayload(env, msg)) return;
        std::string key = msg.framework().framework_id() + "/" + msg.task().task_id();
        Task& task = tasks_[key];
        task.agent = i;
        task.info = msg.task();
        task.frameworkId = msg.framework().framework_id();
        ++running_;
        sendUpdate(key, wire::TASK_RUNNING, "");
        double s = sleepSeconds(msg.task().command()).value_or(options_.taskSeconds);
        task.finish =
            loop_.after(seconds(s), [this, key] { finishTask(key, wire::TASK_FINISHED); });
        break;
      }
      case wire::KILL_TASK: {
        wire::KillTask msg;
        if (runtime::decodePayload(env, msg)) return;
        std::string key = msg.framework_id() + "/" + msg.task_id();
        finishTask(key, wire::TASK_KILLED);
        break;
      }
      case wire::SHUTDOWN_FRAMEWORK: {
        wire::ShutdownFramework msg;
        if (runtime::decodePayload(env, msg)) return;
        std::vector<std::string> keys;
        for (auto& [key, task] : tasks_) {
          if (task.frameworkId == msg.framework_id() && task.agent == i) keys.push_back(key);
        }
        for (auto& key : keys) finishTask(key, wire::TASK_KILLED);
        break;
      }
      case wire::STATUS_UPDATE_ACK: {
        wire::StatusUpdateAck msg;
        if (runtime::decodePayload(env, msg)) return;
        auto t = tasks_.find(msg.framework_id() + "/" + msg.task_id());
        if (t == tasks_.end()) return;
        auto& q = t->second.unacked;
        std::erase_if(q, [&](const wire::TaskStatus& st) { return st.uuid() == msg.uuid(); });
        if (t->second.terminal && q.empty()) tasks_.erase(t);
        break;
      }
      case wire::ERROR: {
        wire::Error msg;
        if (runtime::decodePayload(env, msg)) return;
        if (msg.code() == wire::Error::NOT_REGISTERED) {
          agent.registered = false;
          --registered_;
          registerAgent(i);
        } else {
          fmt::print(stderr, "emulator: agent {}: master error: {}\n", agent.id, msg.message());
        }
        break;
      }
      default:
        break;
    }
  }

  // A nullopt state ends the task quietly (the master asked to kill it).
  void finishTask(const std::string& key, std::optional<wire::TaskState> state) {
    auto t = tasks_.find(key);
    if (t == tasks_.end() || t->second.terminal) return;
    loop_.cancel(t->second.finish);
    t->second.terminal = true;
    --running_;
    ++finished_;
    if (state) {
      sendUpdate(key, *state, *state == wire::TASK_KILLED ? "killed" : "exited with status 0");
    } else if (t->second.unacked.empty()) {
      tasks_.erase(t);
    }
  }

  void sendUpdate(const std::string& key, wire::TaskState state, const std::string& message) {
    Task& task = tasks_[key];
    wire::TaskStatus st;
    st.set_task_id(task.info.task_id());
    st.set_framework_id(task.frameworkId);
    st.set_agent_id(agents_[task.agent].id);
    st.set_state(state);
    st.set_message(message);
    st.set_timestamp_us(toMicros(loop_.now()));
    st.set_uuid(newUuid(rng_));
    task.unacked.push_back(st);
    wire::StatusUpdate msg;
    *msg.mutable_status() = st;
    pool_.at(task.agent).send(wire::STATUS_UPDATE, agents_[task.agent].id, msg);
  }

  void retry() {
    TimePoint now = loop_.now();
    for (std::size_t i = 0; i < agents_.size(); ++i) {
      Agent& a = agents_[i];
      // No ack for 3 heartbeats: the master is gone or restarted.
      if (!a.registered || now - a.lastAck > Duration{3 * a.heartbeatUs}) {
        registerAgent(i);
        ++registrationsResent_;
      }
    }
    for (auto& [key, task] : tasks_) {
      for (const wire::TaskStatus& st : task.unacked) {
        wire::StatusUpdate msg;
        *msg.mutable_status() = st;
        pool_.at(task.agent).send(wire::STATUS_UPDATE, agents_[task.agent].id, msg);
      }
    }
  }

  AgentOptions options_;
  EventLoop& loop_;
  TimePoint startedAt_;  // before the connections open
  SocketPool pool_;
  std::mt19937_64 rng_;
  bool allRegisteredOnce_ = false;
  std::uint64_t registrationsResent_ = 0;
  std::vector<Agent> agents_;
  std::unordered_map<std::string, std::size_t> index_;
  std::unordered_map<std::string, Task> tasks_;
  std::size_t registered_ = 0;
  std::int64_t running_ = 0;
  std::int64_t finished_ = 0;
};

// ---------------------------------------------------------------------------
// frameworks (busy load and the probe share this piece)

struct FrameworkOptions {
  std::string master;
  int count = 200;
  int sockets = 8;
  std::string prefix = "busy";
  int roles = 10;
  int tasks = 20;  // kept running per framework
  double taskSeconds = 10.0;
  std::string taskResources = "cpus:1;mem:1024";
  double refuseSeconds = 5.0;
};

class FrameworkEmulator {
 public:
  FrameworkEmulator(const FrameworkOptions& options, zmq::context_t& context, EventLoop& loop)
      : options_(options),
        loop_(loop),
        pool_(context, runtime::masterEndpoint(options.master), options.sockets, options.prefix),
        need_(Resources::parse(options.taskResources)) {
    for (int i = 0; i < options.count; ++i) {
      Framework fw;
      fw.id = fmt::format("{}-{}", options.prefix, i);
      fw.role = fmt::format("role{}", i % std::max(1, options.roles));
      index_.emplace(fw.id, frameworks_.size());
      frameworks_.push_back(std::move(fw));
    }
    for (std::size_t s = 0; s < pool_.size(); ++s) {
      loop_.watch(pool_.socket(s).socket(), [this, s] { drain(s); });
    }
    for (std::size_t i = 0; i < frameworks_.size(); ++i) subscribe(i);
    loop_.every(seconds(1), [this] {
      for (std::size_t i = 0; i < frameworks_.size(); ++i) {
        if (!frameworks_[i].subscribed) subscribe(i);
      }
    });
    loop_.every(seconds(5), [this] {
      fmt::print(stderr, "frameworks: {} launched, {} finished, {} running\n", launched_, finished_,
                 launched_ - finished_);
    });
  }

 private:
  struct Framework {
    std::string id;
    std::string role;
    bool subscribed = false;
    int running = 0;
    std::uint64_t next = 0;
    std::optional<EventLoop::TimerId> heartbeat;
    bool suppressed = false;
  };

  void subscribe(std::size_t i) {
    wire::Subscribe msg;
    wire::FrameworkInfo* info = msg.mutable_framework();
    info->set_framework_id(frameworks_[i].id);
    info->set_name(frameworks_[i].id);
    info->set_role(frameworks_[i].role);
    info->set_weight(1.0);
    info->set_failover_timeout_us(60'000'000);
    pool_.at(i).send(wire::SUBSCRIBE, frameworks_[i].id, msg);
  }

  void drain(std::size_t s) {
    wire::Envelope env;
    while (pool_.socket(s).receive(env, logBad)) handle(env);
  }

  void handle(const wire::Envelope& env) {
    auto it = index_.find(env.recipient());
    if (it == index_.end()) return;
    std::size_t i = it->second;
    Framework& fw = frameworks_[i];
    switch (env.type()) {
      case wire::SUBSCRIBED: {
        wire::Subscribed msg;
        if (runtime::decodePayload(env, msg)) return;
        fw.subscribed = true;
        if (fw.heartbeat) loop_.cancel(*fw.heartbeat);
        auto period = Duration{std::max<std::int64_t>(msg.heartbeat_interval_us(), 100'000)};
        fw.heartbeat = loop_.every(period, [this, i] {
          wire::AgentHeartbeat empty;
          pool_.at(i).send(wire::FRAMEWORK_HEARTBEAT, frameworks_[i].id, empty);
        });
        break;
      }
      case wire::OFFERS: {
        wire::Offers msg;
        if (runtime::decodePayload(env, msg)) return;
        for (const wire::Offer& offer : msg.offers()) answer(i, offer);
        break;
      }
      case wire::UPDATE: {
        wire::Update msg;
        if (runtime::decodePayload(env, msg)) return;
        const wire::TaskStatus& st = msg.status();
        if (runtime::isTerminal(st.state())) {
          --fw.running;
          ++finished_;
          if (fw.suppressed) {
            fw.suppressed = false;
            wire::AgentHeartbeat empty;
            pool_.at(i).send(wire::REVIVE, fw.id, empty);
          }
        }
        if (!st.uuid().empty()) {
          wire::Acknowledge ack;
          ack.set_agent_id(st.agent_id());
          ack.set_task_id(st.task_id());
          ack.set_uuid(st.uuid());
          pool_.at(i).send(wire::ACKNOWLEDGE, fw.id, ack);
        }
        break;
      }
      case wire::ERROR: {
        wire::Error msg;
        if (runtime::decodePayload(env, msg)) return;
        if (msg.code() == wire::Error::NOT_REGISTERED) {
          fw.subscribed = false;
          subscribe(i);
        }
        break;
      }
      default:
        break;
    }
  }

  void answer(std::size_t i, const wire::Offer& offer) {
    Framework& fw = frameworks_[i];
    Resources left = Resources::parse(offer.resources());
    wire::Accept accept;
    accept.add_offer_ids(offer.offer_id());
    accept.mutable_filters()->set_refuse_seconds(options_.refuseSeconds);
    while (fw.running < options_.tasks && left.contains(need_)) {
      wire::TaskInfo* task = accept.add_tasks();
      task->set_task_id(fmt::format("t{}", fw.next++));
      task->set_agent_id(offer.agent_id());
      task->set_resources(options_.taskResources);
      task->set_command(fmt::format("sleep {}", options_.taskSeconds));
      left -= need_;
      ++fw.running;
      ++launched_;
    }
    pool_.at(i).send(wire::ACCEPT, fw.id, accept);  // no tasks: a decline with the filter
    if (fw.running >= options_.tasks && !fw.suppressed) {
      fw.suppressed = true;
      wire::AgentHeartbeat empty;
      pool_.at(i).send(wire::SUPPRESS, fw.id, empty);
    }
  }

  FrameworkOptions options_;
  EventLoop& loop_;
  SocketPool pool_;
  Resources need_;
  std::vector<Framework> frameworks_;
  std::unordered_map<std::string, std::size_t> index_;
  std::int64_t launched_ = 0;
  std::int64_t finished_ = 0;
};

// ---------------------------------------------------------------------------
// probe

struct ProbeOptions {
  std::string master;
  int repeat = 20;
  std::string role = "probe";
  std::string taskResources = "cpus:0.1;mem:32";
  double gapSeconds = 0.5;
  double timeoutSeconds = 30;
};

// Runs `repeat` new frameworks one after another; each subscribes, takes
// the first offer its task fits, launches "sleep 0", and tears down after
// the FINISHED update. Prints one JSON line per probe and a summary.
class Probe {
 public:
  Probe(const ProbeOptions& options, zmq::context_t& context, EventLoop& loop)
      : options_(options),
        context_(context),
        loop_(loop),
        need_(Resources::parse(options.taskResources)) {
    start();
  }
  bool ok() const { return failures_ == 0; }

 private:
  void start() {
    if (done_ == options_.repeat) {
      summary();
      loop_.stop();
      return;
    }
    id_ = fmt::format("probe-{}-{}", ::getpid(), done_);
    socket_ =
        std::make_unique<DealerSocket>(context_, runtime::masterEndpoint(options_.master), id_);
    loop_.watch(socket_->socket(), [this] { drain(); });
    t_ = {};
    t_.subscribe = loop_.now();
    wire::Subscribe msg;
    msg.mutable_framework()->set_framework_id(id_);
    msg.mutable_framework()->set_name(id_);
    msg.mutable_framework()->set_role(options_.role);
    socket_->send(wire::SUBSCRIBE, id_, msg);
    timeout_ = loop_.after(seconds(options_.timeoutSeconds), [this] {
      fmt::print(stderr, "probe {}: no FINISHED within {} s\n", id_, options_.timeoutSeconds);
      ++failures_;
      finish();
    });
  }

  void drain() {
    wire::Envelope env;
    while (socket_ && !finished_ && socket_->receive(env, logBad)) handle(env);
  }

  void handle(const wire::Envelope& env) {
    switch (env.type()) {
      case wire::SUBSCRIBED:
        if (!t_.subscribed) t_.subscribed = loop_.now();
        break;
      case wire::OFFERS: {
        wire::Offers msg;
        if (runtime::decodePayload(env, msg)) return;
        wire::Decline decline;
        for (const wire::Offer& offer : msg.offers()) {
          if (!t_.launched && Resources::parse(offer.resources()).contains(need_)) {
            t_.offered = loop_.now();
            wire::Accept accept;
            accept.add_offer_ids(offer.offer_id());
            wire::TaskInfo* task = accept.add_tasks();
            task->set_task_id("probe");
            task->set_agent_id(offer.agent_id());
            task->set_resources(options_.taskResources);
            task->set_command("sleep 0");
            socket_->send(wire::ACCEPT, id_, accept);
            t_.launched = loop_.now();
          } else {
            decline.add_offer_ids(offer.offer_id());
          }
        }
        if (decline.offer_ids_size() > 0) socket_->send(wire::DECLINE, id_, decline);
        break;
      }
      case wire::UPDATE: {
        wire::Update msg;
        if (runtime::decodePayload(env, msg)) return;
        if (!msg.status().uuid().empty()) {
          wire::Acknowledge ack;
          ack.set_agent_id(msg.status().agent_id());
          ack.set_task_id(msg.status().task_id());
          ack.set_uuid(msg.status().uuid());
          socket_->send(wire::ACKNOWLEDGE, id_, ack);
        }
        if (msg.status().state() == wire::TASK_RUNNING && !t_.running) t_.running = loop_.now();
        if (runtime::isTerminal(msg.status().state())) {
          t_.terminal = loop_.now();
          if (msg.status().state() == wire::TASK_FINISHED && t_.offered) {
            record();
          } else {
            fmt::print(stderr, "probe {}: task ended {} ({})\n", id_,
                       runtime::taskStateName(msg.status().state()), msg.status().message());
            ++failures_;
          }
          finish();
        }
        break;
      }
      default:
        break;
    }
  }

  // REQUIRES: subscribed and offered are set (FINISHED comes after both).
  void record() {
    double total = sinceSeconds(t_.subscribe, t_.terminal) * 1e3;
    totals_.push_back(total);
    fmt::print(
        "{{\"probe\": {}, \"subscribed_ms\": {:.3f}, \"first_offer_ms\": {:.3f}, "
        "\"running_ms\": {:.3f}, \"finished_ms\": {:.3f}}}\n",
        done_, sinceSeconds(t_.subscribe, *t_.subscribed) * 1e3,
        sinceSeconds(t_.subscribe, *t_.offered) * 1e3,
        t_.running ? sinceSeconds(t_.subscribe, *t_.running) * 1e3 : -1.0, total);
    std::fflush(stdout);
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    loop_.cancel(timeout_);
    wire::AgentHeartbeat empty;
    socket_->send(wire::TEARDOWN, id_, empty);
    loop_.unwatch(socket_->socket());
    ++done_;
    // Let the teardown leave before the socket closes.
    loop_.after(seconds(options_.gapSeconds), [this] {
      socket_.reset();
      finished_ = false;
      start();
    });
  }

  void summary() {
    std::vector<double> v = totals_;
    std::sort(v.begin(), v.end());
    auto pct = [&](double p) {
      if (v.empty()) return -1.0;
      auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
      return v[k];
    };
    fmt::print(
        "{{\"summary\": true, \"probes\": {}, \"failures\": {}, \"p50_ms\": {:.3f}, "
        "\"p90_ms\": {:.3f}, \"max_ms\": {:.3f}}}\n",
        v.size(), failures_, pct(0.5), pct(0.9), v.empty() ? -1.0 : v.back());
  }

  struct Times {
    TimePoint subscribe{};
    std::optional<TimePoint> subscribed, offered, launched, running;
    TimePoint terminal{};
  };

  ProbeOptions options_;
  zmq::context_t& context_;
  EventLoop& loop_;
  Resources need_;
  std::unique_ptr<DealerSocket> socket_;
  std::string id_;
  Times t_;
  EventLoop::TimerId timeout_ = 0;
  bool finished_ = false;  // this probe's task ended; the socket is closing
  int done_ = 0;
  int failures_ = 0;
  std::vector<double> totals_;
};

}  // namespace
}  // namespace allot::bench

int main(int argc, char** argv) {
  using namespace allot::bench;
  CLI::App app{
      "allot-emulator: emulated agents, busy frameworks and a latency probe, for "
      "benchmarking the allot master (bench/runtime/master_scale.sh)"};
  app.require_subcommand(1);
  AgentOptions agents;
  auto* a = app.add_subcommand("agents", "Register many agents that run no processes");
  a->add_option("--master", agents.master, "Master address HOST:PORT")->required();
  a->add_option("--count", agents.count, "Number of agents")->capture_default_str();
  a->add_option("--sockets", agents.sockets, "Connections they share")->capture_default_str();
  a->add_option("--resources", agents.resources, "Each agent's resources")->capture_default_str();
  a->add_option("--prefix", agents.prefix, "Agent id prefix")->capture_default_str();
  a->add_option("--task-seconds", agents.taskSeconds,
                "How long a task runs when its command is not 'sleep X'")
      ->capture_default_str();
  a->add_option("--retry-seconds", agents.retrySeconds,
                "Resend REGISTER_AGENT this often while unanswered")
      ->capture_default_str();
  std::string masterKey, curveKey;
  a->add_option("--master-key", masterKey, "CURVE: the master's public key, or its file");
  a->add_option("--curve-key", curveKey, "CURVE: the key pair file every connection uses")
      ->needs(a->get_option("--master-key"));
  FrameworkOptions fws;
  auto* f = app.add_subcommand("frameworks", "Subscribe many frameworks that keep tasks running");
  f->add_option("--master", fws.master, "Master address HOST:PORT")->required();
  f->add_option("--count", fws.count, "Number of frameworks")->capture_default_str();
  f->add_option("--sockets", fws.sockets, "Connections they share")->capture_default_str();
  f->add_option("--roles", fws.roles, "Spread over this many roles")->capture_default_str();
  f->add_option("--tasks", fws.tasks, "Tasks each keeps running")->capture_default_str();
  f->add_option("--task-seconds", fws.taskSeconds, "Duration of each task")->capture_default_str();
  f->add_option("--task-resources", fws.taskResources, "Resources of each task")
      ->capture_default_str();
  f->add_option("--refuse-seconds", fws.refuseSeconds, "Filter on what they decline")
      ->capture_default_str();
  ProbeOptions probe;
  auto* p = app.add_subcommand("probe", "Time new frameworks' short tasks, one after another");
  p->add_option("--master", probe.master, "Master address HOST:PORT")->required();
  p->add_option("--repeat", probe.repeat, "Number of probes")->capture_default_str();
  p->add_option("--role", probe.role, "Role of the probe frameworks")->capture_default_str();
  p->add_option("--task-resources", probe.taskResources, "Resources of the probe task")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    if (!masterKey.empty()) {
      allot::runtime::CurveClientOptions curve;
      curve.serverKey = allot::runtime::readCurvePublicKey("--master-key", masterKey);
      if (!curveKey.empty()) curve.keys = allot::runtime::readCurveKeyFile("--curve-key", curveKey);
      agents.curve = std::move(curve);
    }
    zmq::context_t context;
    // One connection per agent (curve_connect.sh) is more than ZeroMQ's
    // default of 1,023 sockets.
    context.set(zmq::ctxopt::max_sockets, 65'536);
    allot::runtime::SystemClock clock;
    allot::runtime::EventLoop loop(clock);
    loop.stopOnSignals();
    if (a->parsed()) {
      AgentEmulator emulator(agents, context, loop);
      loop.run();
    } else if (f->parsed()) {
      FrameworkEmulator emulator(fws, context, loop);
      loop.run();
    } else {
      Probe prober(probe, context, loop);
      loop.run();
      return prober.ok() ? 0 : 1;
    }
  } catch (const std::exception& e) {
    std::cerr << "allot-emulator: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
