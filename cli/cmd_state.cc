// `allot state`, `allot tasks`, `allot agents`: read the master's HTTP API
// (/api/v1/state) and print tables for people, or the JSON with --json.

#include <fmt/format.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "allot/core/error.h"
#include "allot/runtime/zookeeper.h"
#include "commands.h"

namespace allot::cli {
namespace {

using nlohmann::json;

struct StateArgs {
  std::string master = "127.0.0.1:5051";
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
  if (!leader) throw Error(fmt::format("no master leads in ZooKeeper {}", master));
  if (leader->http.empty()) {
    throw Error(fmt::format("the leading master {} ({}) serves no HTTP (--http-port -1)",
                            leader->id, leader->endpoint));
  }
  return leader->http;
}

json fetchState(const std::string& given) {
  const std::string master = httpAddress(given);
  const auto colon = master.rfind(':');
  int port = 0;
  try {
    if (colon == std::string::npos || colon == 0) throw std::invalid_argument("no port");
    port = std::stoi(master.substr(colon + 1));
  } catch (const std::exception&) {
    throw ParseError(
        fmt::format("--master '{}': expected HOST:HTTP-PORT, e.g. 127.0.0.1:5051", master));
  }
  std::string host = master.substr(0, colon);
  if (host.starts_with("http://")) host = host.substr(7);
  httplib::Client client(host, port);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(15, 0);
  auto response = client.Get("/api/v1/state");
  if (!response) {
    throw Error(
        fmt::format("cannot reach the master's HTTP API at {}:{}: {} (is `allot master` "
                    "running with --http-port {}?)",
                    host, port, httplib::to_string(response.error()), port));
  }
  if (response->status != 200) {
    throw Error(fmt::format("{}:{}/api/v1/state answered HTTP {}: {}", host, port, response->status,
                            response->body));
  }
  try {
    return json::parse(response->body);
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}:{}/api/v1/state is not JSON: {}", host, port, e.what()));
  }
}

std::string text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "yes" : "no";
  if (value.is_number_float()) return fmt::format("{:.3g}", value.get<double>());
  if (value.is_null()) return "";
  return value.dump();
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

void printAgents(const json& state) {
  std::vector<std::vector<std::string>> rows;
  for (const json& a : state.value("agents", json::array())) {
    rows.push_back({text(a["id"]), text(a["hostname"]), text(a["status"]), text(a["total"]),
                    text(a["used"]), text(a["free"]), text(a["tasks"])});
  }
  std::sort(rows.begin(), rows.end());
  printTable({"ID", "HOSTNAME", "STATUS", "TOTAL", "USED", "FREE", "TASKS"}, rows);
}

void printTasks(const json& state, bool all) {
  std::vector<std::vector<std::string>> rows;
  auto add = [&](const json& list) {
    for (const json& t : list) {
      rows.push_back({text(t["framework_id"]), text(t["id"]), text(t["state"]), text(t["agent_id"]),
                      text(t["resources"]), text(t["message"])});
    }
  };
  add(state.value("tasks", json::array()));
  if (all) add(state.value("completed_tasks", json::array()));
  std::sort(rows.begin(), rows.end());
  printTable({"FRAMEWORK", "TASK", "STATE", "AGENT", "RESOURCES", "MESSAGE"}, rows);
}

void printState(const json& state) {
  std::size_t active = 0;
  for (const json& a : state.value("agents", json::array())) {
    active += a.value("status", "") == "active" ? 1u : 0u;
  }
  std::cout << fmt::format("master {}  policy {}  endpoint {}\n", text(state["master_id"]),
                           text(state["policy"]), text(state["endpoint"]));
  std::cout << fmt::format("agents {} ({} active)  frameworks {}  tasks {}  offers {}\n\n",
                           state.value("agents", json::array()).size(), active,
                           state.value("frameworks", json::array()).size(),
                           state.value("tasks", json::array()).size(),
                           state.value("offers", json::array()).size());
  std::vector<std::vector<std::string>> frameworks;
  for (const json& f : state.value("frameworks", json::array())) {
    frameworks.push_back({text(f["id"]), text(f["name"]), text(f["role"]), text(f["weight"]),
                          text(f["active"]), text(f["tasks"]), text(f["offers"])});
  }
  std::sort(frameworks.begin(), frameworks.end());
  printTable({"FRAMEWORK", "NAME", "ROLE", "WEIGHT", "ACTIVE", "TASKS", "OFFERS"}, frameworks);
  std::cout << "\n";
  std::vector<std::vector<std::string>> roles;
  for (const json& r : state.value("roles", json::array())) {
    roles.push_back({text(r["name"]), text(r["weight"]), text(r["frameworks"]),
                     text(r["allocated"]), fmt::format("{:.3f}", r.value("share", 0.0))});
  }
  std::sort(roles.begin(), roles.end());
  printTable({"ROLE", "WEIGHT", "FRAMEWORKS", "ALLOCATED", "DOMINANT SHARE"}, roles);
}

CLI::App* reader(CLI::App& app, const std::string& name, const std::string& help,
                 const std::shared_ptr<StateArgs>& args) {
  auto* cmd = app.add_subcommand(name, help);
  cmd->add_option("--master", args->master,
                  "The master's HTTP address, HOST:HTTP-PORT, or zk://HOST:PORT/PATH (the "
                  "leading master's)")
      ->capture_default_str();
  cmd->add_flag("--json", args->json, "Print the master's JSON instead of a table");
  return cmd;
}

}  // namespace

void addStateCommand(CLI::App& app) {
  auto stateArgs = std::make_shared<StateArgs>();
  reader(app, "state", "Show the master's frameworks and roles (from its HTTP API)", stateArgs)
      ->callback([stateArgs] {
        const json state = fetchState(stateArgs->master);
        if (stateArgs->json) {
          std::cout << state.dump(2) << "\n";
        } else {
          printState(state);
        }
      });
  auto taskArgs = std::make_shared<StateArgs>();
  auto* tasks =
      reader(app, "tasks", "List the tasks the master knows (from its HTTP API)", taskArgs);
  tasks->add_flag("--all", taskArgs->all, "Include the latest finished tasks");
  tasks->callback([taskArgs] {
    const json state = fetchState(taskArgs->master);
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
  auto agentArgs = std::make_shared<StateArgs>();
  reader(app, "agents", "List the agents and their resources (from its HTTP API)", agentArgs)
      ->callback([agentArgs] {
        const json state = fetchState(agentArgs->master);
        if (agentArgs->json) {
          std::cout << state.value("agents", json::array()).dump(2) << "\n";
        } else {
          printAgents(state);
        }
      });
}

}  // namespace allot::cli
