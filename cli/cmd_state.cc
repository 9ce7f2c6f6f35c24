// `allot state`, `allot tasks`, `allot agents`, `allot roles`: read the
// master's HTTP API (/api/v1/state) and print tables for people, or the JSON
// with --json. `allot weight`, `allot quota`, `allot reserve`, `allot
// unreserve`, `allot deactivate`, `allot drain`, `allot reactivate` and
// `allot teardown`: the operator API (POST /api/v1/...). `allot logs` and `allot ls`: files of a
// task's sandbox (GET /api/v1/files/read and /api/v1/files/browse).

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "allot/core/error.h"
#include "allot/runtime/zookeeper.h"
#include "commands.h"
#include "token_file.h"

namespace allot::cli {
namespace {

using nlohmann::json;

struct StateArgs {
  std::string master = "127.0.0.1:5051";
  std::string caFile;  // verifies an https:// master's certificate
  bool json = false;
  bool all = false;
};

// HOST:HTTP-PORT of the master: given, or the leader's under a zk:// URL.
std::string httpAddress(const std::string& master) {
  std::optional<runtime::ZkUrl> zk;
  try {
    zk = runtime::ZkUrl::parse(master);
  } catch (const ParseError& e) {
    throw ParseError(fmt::format("--master: {}", e.what()));
  }
  if (!zk) return master;
  runtime::ZkStore store(*zk, std::chrono::seconds(5));
  const std::optional<runtime::MasterInfo> leader = store.leader();
  if (!leader) throw Error(fmt::format("no master leads in ZooKeeper {}", zk->text()));
  if (leader->http.empty()) {
    throw Error(fmt::format("the leading master {} ({}) serves no HTTP (--http-port -1)",
                            leader->id, leader->endpoint));
  }
  return leader->http;
}

std::string text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  if (value.is_number_float()) return fmt::format("{:.3g}", value.get<double>());
  if (value.is_null()) return "";
  return value.dump();
}

// A client of the master's HTTP API (given or the leader's), and where it
// points, for messages.
struct Api {
  std::unique_ptr<httplib::Client> client;
  std::string where;
};

Api connect(const StateArgs& args) {
  std::string master = httpAddress(args.master);
  const bool https = master.starts_with("https://");
  if (https) {
    master = master.substr(8);
  } else if (master.starts_with("http://")) {
    master = master.substr(7);
  }
  const auto colon = master.rfind(':');
  int port = 0;
  try {
    if (colon == std::string::npos || colon == 0) throw std::invalid_argument("no port");
    port = std::stoi(master.substr(colon + 1));
  } catch (const std::exception&) {
    throw ParseError(fmt::format(
        "--master '{}': expected HOST:HTTP-PORT or https://HOST:HTTP-PORT, e.g. 127.0.0.1:5051",
        master));
  }
  const std::string host = master.substr(0, colon);
  const std::string url = fmt::format("{}://{}:{}", https ? "https" : "http", host, port);
  if (!args.caFile.empty() && !https) {
    throw ParseError(fmt::format("--ca-file: the master at {} is not https://", url));
  }
  Api api{std::make_unique<httplib::Client>(url), url};
  if (!args.caFile.empty()) api.client->set_ca_cert_path(args.caFile.c_str());
  api.client->set_connection_timeout(5, 0);
  api.client->set_read_timeout(15, 0);
  // A standby master redirects (307) to the leader: follow it, POSTs too.
  api.client->set_follow_location(true);
  return api;
}

[[noreturn]] void unreachable(const Api& api, httplib::Error error) {
  const std::string port = api.where.substr(api.where.rfind(':') + 1);
  const bool tls = error == httplib::Error::SSLConnection ||
                   error == httplib::Error::SSLServerVerification ||
                   error == httplib::Error::SSLLoadingCerts;
  throw Error(fmt::format(
      "cannot reach the master's HTTP API at {}: {} ({})", api.where, httplib::to_string(error),
      tls ? std::string("its certificate is not trusted here? pass its CA with --ca-file")
      : api.where.starts_with("https://")
          ? fmt::format("is `allot master` running with --http-port {}?", port)
          : fmt::format("is `allot master` running with --http-port {}? with --http-tls-cert, "
                        "use --master https://...",
                        port)));
}

// The state, or with `only` the lists named there (and the counts of all):
// `allot roles` on a cluster of 40,000 agents need not fetch 10 MB of them.
// A master of an earlier version ignores `only` and answers everything.
json fetchState(const StateArgs& args, const char* only = nullptr) {
  const Api api = connect(args);
  const std::string path =
      only == nullptr ? std::string("/api/v1/state") : fmt::format("/api/v1/state?only={}", only);
  auto response = api.client->Get(path);
  if (!response) unreachable(api, response.error());
  if (response->status != 200) {
    throw Error(fmt::format("{}/api/v1/state answered HTTP {}: {}", api.where, response->status,
                            response->body));
  }
  try {
    return json::parse(response->body);
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}/api/v1/state is not JSON: {}", api.where, e.what()));
  }
}

// The operator token's header, from --token-file FILE (none without one).
httplib::Headers authorization(const std::string& tokenFile) {
  httplib::Headers headers;
  if (!tokenFile.empty()) {
    headers.emplace("Authorization", "Bearer " + readTokenFile("--token-file", tokenFile));
  }
  return headers;
}

// POSTs `body` to the operator call `path`; returns the master's answer or
// throws its refusal as an Error.
json post(const StateArgs& args, const std::string& path, const json& body,
          const std::string& tokenFile) {
  const Api api = connect(args);
  const httplib::Headers headers = authorization(tokenFile);
  auto response = api.client->Post(path, headers, body.dump(), "application/json");
  if (!response) unreachable(api, response.error());
  json answer;
  try {
    answer = json::parse(response->body);
  } catch (const json::exception&) {
    throw Error(fmt::format("{}{} answered HTTP {}: {}", api.where, path, response->status,
                            response->body));
  }
  if (response->status != 200) {
    throw Error(fmt::format("the master refused (HTTP {}): {}", response->status,
                            answer.value("error", response->body)));
  }
  if (answer.contains("warning"))
    std::cerr << "allot: warning: " << text(answer["warning"]) << "\n";
  return answer;
}

// Prints rows under headers, columns padded to their widest cell.
void printTable(const std::vector<std::string>& headers,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(headers.size());
  for (std::size_t c = 0; c < headers.size(); ++c) width[c] = headers[c].size();
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size() && c < width.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      out += c + 1 == cells.size() ? cells[c] : fmt::format("{:<{}}  ", cells[c], width[c]);
    }
    std::cout << out << "\n";
  };
  line(headers);
  for (const auto& row : rows) line(row);
}

// text(value), or `none` when that is empty.
std::string textOr(const json& value, const char* none) {
  std::string s = text(value);
  return s.empty() ? std::string(none) : s;
}

void printAgents(const json& state) {
  std::vector<std::vector<std::string>> rows;
  for (const json& a : state.value("agents", json::array())) {
    std::string reserved = textOr(a["reserved"], "-");
    if (!a.value("reservation_applied", true)) reserved += " (not applied)";
    std::string status = text(a["status"]);
    if (!text(a["maintenance"]).empty()) status += ", " + text(a["maintenance"]);
    rows.push_back({text(a["id"]), text(a["hostname"]), status, text(a["total"]), reserved,
                    text(a["used"]), text(a["free"]), text(a["tasks"])});
  }
  std::sort(rows.begin(), rows.end());
  printTable({"ID", "HOSTNAME", "STATUS", "TOTAL", "RESERVED", "USED", "FREE", "TASKS"}, rows);
}

void printTasks(const json& state, bool all) {
  std::vector<std::vector<std::string>> rows;
  auto add = [&](const json& list) {
    for (const json& t : list) {
      // A task with a health check: its last health after the state, as the UI.
      std::string stateText = text(t["state"]);
      if (t.contains("healthy"))
        stateText += t["healthy"].get<bool>() ? ", healthy" : ", unhealthy";
      rows.push_back({text(t["framework_id"]), text(t["id"]), stateText, text(t["agent_id"]),
                      text(t["resources"]), text(t["message"])});
    }
  };
  add(state.value("tasks", json::array()));
  if (all) add(state.value("completed_tasks", json::array()));
  std::sort(rows.begin(), rows.end());
  printTable({"FRAMEWORK", "TASK", "STATE", "AGENT", "RESOURCES", "MESSAGE"}, rows);
}

void printRoles(const json& state) {
  std::vector<std::vector<std::string>> roles;
  auto orNone = [](const json& value) { return textOr(value, "-"); };
  for (const json& r : state.value("roles", json::array())) {
    roles.push_back({text(r["name"]), text(r["weight"]), orNone(r["guarantee"]), orNone(r["limit"]),
                     text(r["frameworks"]), text(r["allocated"]),
                     fmt::format("{:.3f}", r.value("share", 0.0))});
  }
  std::sort(roles.begin(), roles.end());
  printTable({"ROLE", "WEIGHT", "GUARANTEE", "LIMIT", "FRAMEWORKS", "ALLOCATED", "DOMINANT SHARE"},
             roles);
}

void printState(const json& state) {
  // From the counts; a master of an earlier version has none, but all lists.
  const json counts = state.value("counts", json::object());
  auto count = [&](const char* list) {
    return counts.contains(list) ? counts[list].get<std::size_t>()
                                 : state.value(list, json::array()).size();
  };
  std::size_t active = 0;
  if (counts.contains("agents_active")) {
    active = counts["agents_active"].get<std::size_t>();
  } else {
    for (const json& a : state.value("agents", json::array())) {
      active += a.value("status", "") == "active" ? 1u : 0u;
    }
  }
  std::cout << fmt::format("master {}  policy {}  endpoint {}\n", text(state["master_id"]),
                           text(state["policy"]), text(state["endpoint"]));
  std::cout << fmt::format("agents {} ({} active)  frameworks {}  tasks {}  offers {}\n\n",
                           count("agents"), active, count("frameworks"), count("tasks"),
                           count("offers"));
  std::vector<std::vector<std::string>> frameworks;
  for (const json& f : state.value("frameworks", json::array())) {
    frameworks.push_back({text(f["id"]), text(f["name"]), text(f["role"]), text(f["weight"]),
                          text(f["active"]), text(f["tasks"]), text(f["offers"])});
  }
  std::sort(frameworks.begin(), frameworks.end());
  printTable({"FRAMEWORK", "NAME", "ROLE", "WEIGHT", "ACTIVE", "TASKS", "OFFERS"}, frameworks);
  std::cout << "\n";
  // Removed ones (torn down, failed over too late), newest first.
  std::vector<std::vector<std::string>> removed;
  for (const json& f : state.value("completed_frameworks", json::array())) {
    const auto at = static_cast<std::time_t>(f.value("removed_at_us", std::int64_t{0}) / 1'000'000);
    removed.push_back({text(f["id"]), text(f["name"]), text(f["role"]),
                       fmt::format("{:%Y-%m-%d %H:%M:%S}", fmt::localtime(at)),
                       text(f["tasks_killed"]), text(f["reason"])});
  }
  if (!removed.empty()) {
    printTable({"REMOVED FRAMEWORK", "NAME", "ROLE", "REMOVED AT", "KILLED", "WHY"}, removed);
    std::cout << "\n";
  }
  printRoles(state);
}

CLI::App* reader(CLI::App& app, const std::string& name, const std::string& help,
                 const std::shared_ptr<StateArgs>& args,
                 const char* jsonHelp = "Print the master's JSON instead of a table") {
  auto* cmd = app.add_subcommand(name, help);
  cmd->add_option("--master", args->master,
                  "The master's HTTP address, HOST:HTTP-PORT, https://HOST:HTTP-PORT (a master "
                  "with --http-tls-cert), or zk://HOST:PORT/PATH (the leading master's)")
      ->capture_default_str();
  cmd->add_option("--ca-file", args->caFile,
                  "CA certificate (PEM) that signed an https:// master's certificate, when the "
                  "system's CAs did not (a private CA, a self-signed certificate)");
  cmd->add_flag("--json", args->json, jsonHelp);
  return cmd;
}

struct OperatorArgs : StateArgs {
  std::string role;
  double weight = 0;
  std::string guarantee;
  std::string limit;
  bool remove = false;
  std::string agent;
  std::string framework;
  std::string resources;
  std::string tokenFile;
  double gracePeriod = -1;  // drain: seconds; negative: the master's --kill-grace-period
};

void printRole(const json& role) {
  auto orNone = [](const json& value) { return textOr(value, "none"); };
  std::cout << fmt::format("role {}: weight {}, quota guarantee {}, limit {}\n", text(role["role"]),
                           text(role["weight"]), orNone(role["guarantee"]), orNone(role["limit"]));
}

// An operator command: a reader's --master and --json, and --token-file.
CLI::App* writer(CLI::App& app, const std::string& name, const std::string& help,
                 const std::shared_ptr<OperatorArgs>& args) {
  auto* cmd = reader(app, name, help, args, "Print the master's JSON answer");
  cmd->add_option("--token-file", args->tokenFile,
                  "File holding the master's operator token (its --operator-token-file)");
  return cmd;
}

void addOperatorCommands(CLI::App& app) {
  auto weightArgs = std::make_shared<OperatorArgs>();
  auto* weight = writer(app, "weight",
                        "Set a role's weight: weighted DRF gives it shares in proportion (kept in "
                        "the master's registry)",
                        weightArgs);
  weight->add_option("role", weightArgs->role, "Role ('*' for frameworks without one)")->required();
  weight->add_option("weight", weightArgs->weight, "A positive number (default of every role: 1)")
      ->required();
  weight->footer("Example: allot weight analytics 2 --master 127.0.0.1:5051");
  weight->callback([weightArgs] {
    const json answer =
        post(*weightArgs, "/api/v1/weights",
             {{"role", weightArgs->role}, {"weight", weightArgs->weight}}, weightArgs->tokenFile);
    weightArgs->json ? void(std::cout << answer.dump(2) << "\n") : printRole(answer);
  });

  auto quotaArgs = std::make_shared<OperatorArgs>();
  auto* quota = writer(app, "quota",
                       "Set or remove a role's quota: its guarantee is offered to it before any "
                       "fair sharing, and it never holds more than its limit",
                       quotaArgs);
  quota->add_option("role", quotaArgs->role, "Role")->required();
  auto* guarantee = quota->add_option("--guarantee", quotaArgs->guarantee,
                                      "Resources guaranteed, e.g. 'cpus:8;mem:16384'");
  auto* limit = quota->add_option("--limit", quotaArgs->limit,
                                  "Resources the role may hold at most, e.g. 'cpus:16'");
  quota->add_flag("--remove", quotaArgs->remove, "Remove the role's quota")
      ->excludes(guarantee)
      ->excludes(limit);
  quota->footer(
      "Setting replaces both parts: a part left out is none.\n"
      "Examples:\n"
      "  allot quota analytics --guarantee 'cpus:8;mem:16384' --limit 'cpus:16'\n"
      "  allot quota analytics --remove");
  quota->callback([quotaArgs, guarantee, limit] {
    if (!quotaArgs->remove && guarantee->count() == 0 && limit->count() == 0) {
      throw CLI::ValidationError("quota", "give --guarantee and/or --limit, or --remove");
    }
    const json answer = post(*quotaArgs, "/api/v1/quota",
                             {{"role", quotaArgs->role},
                              {"guarantee", quotaArgs->guarantee},
                              {"limit", quotaArgs->limit}},
                             quotaArgs->tokenFile);
    quotaArgs->json ? void(std::cout << answer.dump(2) << "\n") : printRole(answer);
  });

  // Maintenance: the master's /api/v1/deactivate, drain and reactivate.
  struct Maintenance {
    const char* name;
    const char* help;
  };
  for (const Maintenance& m :
       {Maintenance{"deactivate",
                    "Stop offering an agent's resources; its tasks keep running (kept in the "
                    "master's registry until `allot reactivate`)"},
        Maintenance{"drain",
                    "Stop offering an agent's resources and kill its tasks (frameworks see "
                    "TASK_KILLED with reason AGENT_DRAINING); the agent is drained when none "
                    "is left, and stays so until `allot reactivate`"},
        Maintenance{"reactivate", "Offer a deactivated, draining or drained agent again"}}) {
    auto args = std::make_shared<OperatorArgs>();
    auto* cmd = writer(app, m.name, m.help, args);
    cmd->add_option("agent", args->agent, "Agent id (see `allot agents`)")->required();
    const bool drain = std::string_view(m.name) == "drain";
    if (drain) {
      cmd->add_option("--grace-period", args->gracePeriod,
                      "Seconds between each task's SIGTERM and SIGKILL. Default: the master's "
                      "--kill-grace-period")
          ->check(CLI::NonNegativeNumber);
    }
    cmd->footer(fmt::format("Example: allot {} node-1-a3f2 --master 127.0.0.1:5051{}", m.name,
                            drain ? " --grace-period 30" : ""));
    const std::string path = fmt::format("/api/v1/{}", m.name);
    cmd->callback([args, path, drain] {
      json request{{"agent_id", args->agent}};
      if (drain && args->gracePeriod >= 0) request["grace_period_seconds"] = args->gracePeriod;
      const json answer = post(*args, path, request, args->tokenFile);
      if (args->json) {
        std::cout << answer.dump(2) << "\n";
        return;
      }
      const std::string state = text(answer["maintenance"]);
      std::cout << fmt::format(
          "agent {}: {}{}\n", text(answer["agent_id"]),
          state.empty() ? "offered (no maintenance)" : state,
          drain ? fmt::format(", {} task(s) being killed", text(answer["tasks_killed"]))
                : std::string());
    });
  }

  auto teardownArgs = std::make_shared<OperatorArgs>();
  auto* teardown = writer(app, "teardown",
                          "Remove a framework: its offers are rescinded, its tasks killed, and its "
                          "id is not taken again (its driver is told and stops), as Mesos' "
                          "/teardown",
                          teardownArgs);
  teardown->add_option("framework", teardownArgs->framework, "Framework id (see `allot state`)")
      ->required();
  teardown->footer("Example: allot teardown 7c1e-F3 --master 127.0.0.1:5051");
  teardown->callback([teardownArgs] {
    const json answer = post(*teardownArgs, "/api/v1/teardown",
                             {{"framework_id", teardownArgs->framework}}, teardownArgs->tokenFile);
    if (teardownArgs->json) {
      std::cout << answer.dump(2) << "\n";
      return;
    }
    std::cout << fmt::format("framework {}: torn down, {} task(s) being killed\n",
                             text(answer["framework_id"]), text(answer["tasks_killed"]));
  });

  for (const bool unreserve : {false, true}) {
    auto args = std::make_shared<OperatorArgs>();
    auto* cmd = writer(
        app, unreserve ? "unreserve" : "reserve",
        unreserve ? "Give back resources an operator reserved on an agent to the unreserved pool"
                  : "Reserve part of an agent's unreserved resources for a role: only its "
                    "frameworks are offered them (kept in the master's registry)",
        args);
    cmd->add_option("agent", args->agent, "Agent id (see `allot agents`)")->required();
    cmd->add_option("resources", args->resources,
                    "Resources with their role, e.g. 'cpus(web):2;mem(web):4096'")
        ->required();
    cmd->footer(fmt::format("Example: allot {} node-1-a3f2 'cpus(web):2;mem(web):4096'",
                            unreserve ? "unreserve" : "reserve"));
    cmd->callback([args, unreserve] {
      const json answer =
          post(*args, unreserve ? "/api/v1/unreserve" : "/api/v1/reserve",
               {{"agent_id", args->agent}, {"resources", args->resources}}, args->tokenFile);
      if (args->json) {
        std::cout << answer.dump(2) << "\n";
        return;
      }
      std::cout << fmt::format("agent {}: reservations now {}; total {}\n",
                               text(answer["agent_id"]), textOr(answer["reserved"], "none"),
                               text(answer["total"]));
    });
  }
}

// --- allot logs ------------------------------------------------------------------

// A task's sandbox, for `allot logs` and `allot ls`.
struct SandboxArgs : StateArgs {
  std::string task;
  std::string framework;
  std::string tokenFile;
};

struct LogArgs : SandboxArgs {
  std::string file;  // in the sandbox; empty: stdout (stderr with --stderr)
  bool stderrFile = false;
  std::size_t tail = 0;  // lines; 0: the whole file
  bool follow = false;
  double interval = 1;  // seconds between reads with --follow
};

struct LsArgs : SandboxArgs {
  std::string path;  // in the sandbox; empty: the sandbox
};

// The framework of task `taskId`: the one given, else the only one with a
// task of that id (running or completed); and whether it still runs.
std::pair<std::string, bool> findTask(const SandboxArgs& args) {
  const json state = fetchState(args, "tasks,completed_tasks");
  std::vector<std::string> running, done;
  for (const char* list : {"tasks", "completed_tasks"}) {
    for (const json& t : state.value(list, json::array())) {
      if (text(t["id"]) != args.task) continue;
      if (!args.framework.empty() && text(t["framework_id"]) != args.framework) continue;
      (std::string_view(list) == "tasks" ? running : done).push_back(text(t["framework_id"]));
    }
  }
  std::vector<std::string> all = running;
  all.insert(all.end(), done.begin(), done.end());
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  if (all.empty()) {
    throw Error(fmt::format(
        "no task '{}'{} among the master's running and completed tasks (`allot "
        "tasks --all` lists them)",
        args.task, args.framework.empty() ? "" : " of framework '" + args.framework + "'"));
  }
  if (all.size() > 1) {
    throw Error(fmt::format("frameworks {} each have a task '{}': choose one with --framework",
                            fmt::join(all, ", "), args.task));
  }
  return {all[0], std::find(running.begin(), running.end(), all[0]) != running.end()};
}

// One piece of the task's file from the master (which asks the agent): its
// bytes, where they start, and the file's size.
struct LogPiece {
  std::string data;
  std::int64_t offset = 0;
  std::int64_t size = 0;
};

// GETs `path` of the master's sandbox API; its answer, or its refusal
// thrown as an Error.
httplib::Result getSandbox(const Api& api, const std::string& path,
                           const httplib::Headers& headers) {
  auto response = api.client->Get(path, headers);
  if (!response) unreachable(api, response.error());
  if (response->status != 200) {
    std::string why = response->body;
    try {
      why = json::parse(response->body).value("error", why);
    } catch (const json::exception&) {
    }
    throw Error(fmt::format("the master answered HTTP {}: {}", response->status, why));
  }
  return response;
}

std::string sandboxQuery(const std::string& framework, const std::string& task) {
  return fmt::format("framework_id={}&task_id={}", httplib::detail::encode_query_param(framework),
                     httplib::detail::encode_query_param(task));
}

LogPiece readLog(const Api& api, const LogArgs& args, const std::string& framework,
                 std::int64_t offset, const httplib::Headers& headers) {
  const std::string file = !args.file.empty() ? args.file : args.stderrFile ? "stderr" : "stdout";
  auto response = getSandbox(api,
                             fmt::format("/api/v1/files/read?{}&file={}&offset={}&format=raw",
                                         sandboxQuery(framework, args.task),
                                         httplib::detail::encode_query_param(file), offset),
                             headers);
  LogPiece piece;
  piece.data = std::move(response->body);
  try {
    piece.offset = std::stoll(response->get_header_value("X-Allot-Offset"));
    piece.size = std::stoll(response->get_header_value("X-Allot-Size"));
  } catch (const std::exception&) {
    throw Error(
        fmt::format("{}/api/v1/files/read answered without its X-Allot-Offset and "
                    "X-Allot-Size headers (an older master?)",
                    api.where));
  }
  return piece;
}

void printLogs(const LogArgs& args) {
  auto [framework, running] = findTask(args);
  const Api api = connect(args);
  const httplib::Headers headers = authorization(args.tokenFile);
  auto write = [](std::string_view bytes) {
    std::fwrite(bytes.data(), 1, bytes.size(), stdout);
    std::fflush(stdout);
  };
  std::int64_t next = 0;
  if (args.tail > 0) {
    // The last lines within the last piece (1 MiB).
    LogPiece piece = readLog(api, args, framework, -1, headers);
    std::string_view data = piece.data;
    std::size_t at = data.size();
    if (!data.empty() && data.back() == '\n') --at;
    for (std::size_t lines = 0; lines < args.tail && at > 0; --at) {
      if (data[at - 1] == '\n' && ++lines == args.tail) break;
    }
    write(data.substr(at));
    next = piece.offset + static_cast<std::int64_t>(piece.data.size());
  } else {
    while (true) {
      LogPiece piece = readLog(api, args, framework, next, headers);
      write(piece.data);
      next = piece.offset + static_cast<std::int64_t>(piece.data.size());
      if (piece.data.empty() || next >= piece.size) break;
    }
  }
  // Until the task has ended and its file has nothing more.
  while (args.follow) {
    std::this_thread::sleep_for(std::chrono::duration<double>(args.interval));
    if (running) running = findTask(args).second;
    LogPiece piece = readLog(api, args, framework, next, headers);
    write(piece.data);
    next = piece.offset + static_cast<std::int64_t>(piece.data.size());
    if (!running && piece.data.empty()) break;
  }
}

// `allot ls`: a directory of the task's sandbox, as ls -l lists one.
void listSandbox(const LsArgs& args) {
  const std::string framework = findTask(args).first;
  const Api api = connect(args);
  auto response =
      getSandbox(api,
                 fmt::format("/api/v1/files/browse?{}&path={}", sandboxQuery(framework, args.task),
                             httplib::detail::encode_query_param(args.path)),
                 authorization(args.tokenFile));
  json listing;
  try {
    listing = json::parse(response->body);
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}/api/v1/files/browse is not JSON: {}", api.where, e.what()));
  }
  if (args.json) {
    std::cout << listing.dump(2) << "\n";
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const json& e : listing.value("entries", json::array())) {
    const auto mtime = static_cast<std::time_t>(e.value("mtime_us", std::int64_t{0}) / 1'000'000);
    std::string name = text(e["name"]);
    if (text(e["type"]) == "directory") name += "/";
    if (text(e["type"]) == "symlink") name += " (symbolic link, not followed)";
    rows.push_back({text(e["mode"]), fmt::format("{:>12}", text(e["size"])),
                    fmt::format("{:%Y-%m-%d %H:%M:%S}", fmt::localtime(mtime)), name});
  }
  printTable({"MODE", "        SIZE", "MODIFIED", "NAME"}, rows);
  if (listing.value("truncated", false)) {
    std::cerr << fmt::format("allot: the directory holds more entries than the {} shown\n",
                             rows.size());
  }
}

// The options `allot logs` and `allot ls` share, after the task's id.
void addSandboxOptions(CLI::App* cmd, SandboxArgs& args) {
  cmd->add_option("task", args.task, "Task id (see `allot tasks --all`)")->required();
  cmd->add_option("--framework", args.framework,
                  "The task's framework, when several frameworks have a task of that id");
  cmd->add_option("--token-file", args.tokenFile,
                  "File holding the operator token, when the master has --operator-token-file "
                  "(sandboxes need it then)");
}

}  // namespace

void addLsCommand(CLI::App& app) {
  auto args = std::make_shared<LsArgs>();
  auto* cmd = reader(app, "ls",
                     "List a directory of a task's sandbox on its agent, through the master", args);
  addSandboxOptions(cmd, *args);
  cmd->add_option("path", args->path,
                  "Directory in the sandbox, as out/results (default: the sandbox itself)");
  cmd->footer(
      "Symbolic links are listed, never followed: the agent reads nothing outside the sandbox. "
      "`allot logs TASK FILE` prints a file listed here.\n"
      "Example: allot ls web-1 out --master 127.0.0.1:5051");
  cmd->callback([args] { listSandbox(*args); });
}

void addLogsCommand(CLI::App& app) {
  auto args = std::make_shared<LogArgs>();
  auto* cmd = reader(app, "logs",
                     "Print a task's stdout, stderr or another file of its sandbox on its "
                     "agent, through the master; --follow as tail -f",
                     args);
  cmd->remove_option(cmd->get_option("--json"));
  addSandboxOptions(cmd, *args);
  auto* file = cmd->add_option(
      "file", args->file,
      "File in the sandbox: stdout (the default), stderr, or a path such as out/result.csv");
  cmd->add_flag("--stderr", args->stderrFile, "The task's stderr instead of its stdout")
      ->excludes(file);
  cmd->add_option("--tail", args->tail,
                  "Only the last N lines (of the file's last MiB); 0: the whole file")
      ->capture_default_str();
  cmd->add_flag("-f,--follow", args->follow,
                "Keep printing what the task writes, until it has ended and nothing more came");
  cmd->add_option("--interval", args->interval, "Seconds between reads with --follow")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->footer(
      "The master asks the task's agent over their secured link; the agent must be connected. "
      "Sandboxes stay on the agents after their tasks end, so the logs of completed tasks "
      "(those the master still lists) can be read too.\n"
      "Examples: allot logs web-1 --stderr --tail 50 --master 127.0.0.1:5051\n"
      "          allot logs web-1 out/result.csv > result.csv");
  cmd->callback([args] { printLogs(*args); });
}

void addStateCommand(CLI::App& app) {
  auto stateArgs = std::make_shared<StateArgs>();
  reader(app, "state", "Show the master's frameworks and roles (from its HTTP API)", stateArgs)
      ->callback([stateArgs] {
        if (stateArgs->json) {
          std::cout << fetchState(*stateArgs).dump(2) << "\n";
        } else {
          json state;
          try {
            state = fetchState(*stateArgs, "frameworks,completed_frameworks,roles");
          } catch (const Error& e) {
            // A master of an earlier version knows no completed_frameworks.
            if (std::string(e.what()).find("no list") == std::string::npos) throw;
            state = fetchState(*stateArgs, "frameworks,roles");
          }
          printState(state);
        }
      });
  auto taskArgs = std::make_shared<StateArgs>();
  auto* tasks =
      reader(app, "tasks", "List the tasks the master knows (from its HTTP API)", taskArgs);
  tasks->add_flag("--all", taskArgs->all, "Include the latest finished tasks");
  tasks->callback([taskArgs] {
    const json state = fetchState(*taskArgs, "tasks,completed_tasks");
    if (taskArgs->json) {
      json list = state.value("tasks", json::array());
      if (taskArgs->all) {
        for (const json& t : state.value("completed_tasks", json::array())) list.push_back(t);
      }
      std::cout << list.dump(2) << "\n";
    } else {
      printTasks(state, taskArgs->all);
    }
  });
  auto roleArgs = std::make_shared<StateArgs>();
  reader(app, "roles", "List the roles: weights, quotas and what they hold (from its HTTP API)",
         roleArgs)
      ->callback([roleArgs] {
        const json state = fetchState(*roleArgs, "roles");
        if (roleArgs->json) {
          std::cout << state.value("roles", json::array()).dump(2) << "\n";
        } else {
          printRoles(state);
        }
      });
  addOperatorCommands(app);
  auto agentArgs = std::make_shared<StateArgs>();
  reader(app, "agents", "List the agents and their resources (from its HTTP API)", agentArgs)
      ->callback([agentArgs] {
        const json state = fetchState(*agentArgs, "agents");
        if (agentArgs->json) {
          std::cout << state.value("agents", json::array()).dump(2) << "\n";
        } else {
          printAgents(state);
        }
      });
}

}  // namespace allot::cli
