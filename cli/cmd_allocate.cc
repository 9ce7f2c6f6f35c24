#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "allot/core/error.h"
#include "allot/policies/registry.h"
#include "allot/policies/rounds.h"
#include "commands.h"

namespace allot::cli {
namespace {

struct AllocateArgs {
  std::string policy = "drf";
  std::vector<std::string> params;
  std::vector<std::string> agents;
  std::vector<std::string> frameworks;
  std::vector<std::string> roleWeights;
  std::vector<std::string> quotas;
  int rounds = 10;
  int tasksPerOffer = 1;
  double refuseSeconds = 0;
  bool verbose = false;
  bool json = false;
};

// Splits "key=value,key=value" where values may themselves hold commas
// (port ranges): a piece that does not start with "word=" continues the
// previous value.
std::vector<std::pair<std::string, std::string>> splitFields(std::string_view text,
                                                             std::string_view what) {
  std::vector<std::pair<std::string, std::string>> fields;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view piece = text.substr(start, end - start);
    start = end + 1;
    const std::size_t eq = piece.find('=');
    const bool isKey = eq != std::string_view::npos && eq > 0 &&
                       piece.substr(0, eq).find_first_not_of("abcdefghijklmnopqrstuvwxyz_") ==
                           std::string_view::npos;
    if (isKey) {
      fields.emplace_back(std::string(piece.substr(0, eq)), std::string(piece.substr(eq + 1)));
    } else if (!fields.empty()) {
      fields.back().second += "," + std::string(piece);
    } else if (!piece.empty()) {
      throw ParseError(
          fmt::format("{} '{}': expected key=value fields, got '{}'", what, text, piece));
    }
  }
  return fields;
}

std::pair<std::string, std::string> splitAssignment(const std::string& text,
                                                    std::string_view what) {
  const std::size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ParseError(fmt::format("{} '{}': expected ROLE=VALUE", what, text));
  }
  return {text.substr(0, eq), text.substr(eq + 1)};
}

AgentInfo parseAgent(const std::string& spec, std::size_t index) {
  AgentInfo agent;
  std::string_view rest = spec;
  agent.id = AgentId(fmt::format("agent{}", index + 1));
  if (const std::size_t eq = rest.find('='); eq != std::string_view::npos) {
    agent.id = AgentId(std::string(rest.substr(0, eq)));
    rest.remove_prefix(eq + 1);
  }
  if (const std::size_t at = rest.find('@'); at != std::string_view::npos) {
    agent.attributes = Attributes::parse(rest.substr(at + 1));
    rest = rest.substr(0, at);
  }
  agent.hostname = agent.id.str();
  agent.resources = Resources::parse(rest);
  if (agent.resources.empty()) {
    throw ParseError(fmt::format("agent '{}' has no resources", spec));
  }
  return agent;
}

RoundsFramework parseFramework(const std::string& spec, std::size_t index) {
  RoundsFramework f;
  f.info.name = fmt::format("framework{}", index + 1);
  for (const auto& [key, value] : splitFields(spec, "framework")) {
    if (key == "name") {
      f.info.name = value;
    } else if (key == "role") {
      f.info.role = value;
    } else if (key == "weight") {
      try {
        f.info.weight = std::stod(value);
      } catch (const std::exception&) {
        throw ParseError(fmt::format("framework '{}': weight '{}' is not a number", spec, value));
      }
    } else if (key == "task") {
      f.task = Resources::parse(value);
    } else if (key == "tasks") {
      try {
        f.maxTasks = std::stoll(value);
      } catch (const std::exception&) {
        throw ParseError(fmt::format("framework '{}': tasks '{}' is not an integer", spec, value));
      }
    } else {
      throw ParseError(fmt::format(
          "framework '{}': unknown field '{}' (fields: name, role, weight, task, tasks)", spec,
          key));
    }
  }
  if (f.task.empty()) {
    throw ParseError(
        fmt::format("framework '{}' needs a task shape, e.g. task=cpus:1;mem:1024", spec));
  }
  f.info.id = FrameworkId(f.info.name);
  return f;
}

// CLI11 2.1 reads config files for the main app only, so the subcommand
// reads its own: each key sets the option of that long name unless the
// command line gave it.
void applyConfigFile(CLI::App& cmd, const std::string& path) {
  std::vector<CLI::ConfigItem> items;
  try {
    items = CLI::ConfigTOML().from_file(path);
  } catch (const CLI::Error& e) {
    throw ParseError(fmt::format("{}: {}", path, e.what()));
  }
  for (const CLI::ConfigItem& item : items) {
    if (item.name == "++" || item.name == "--") continue;  // section markers
    CLI::Option* option = cmd.get_option_no_throw("--" + item.name);
    if (option == nullptr || item.name == "config") {
      throw ParseError(
          fmt::format("{}: unknown key '{}' (keys are the long options of `allot allocate`)", path,
                      item.fullname()));
    }
    if (option->count() > 0) continue;
    option->add_result(item.inputs);
    try {
      option->run_callback();
    } catch (const CLI::Error& e) {
      throw ParseError(fmt::format("{}: key '{}': {}", path, item.name, e.what()));
    }
  }
}

void run(const AllocateArgs& args) {
  Params params;
  for (const std::string& p : args.params) {
    const Params parsed = Params::parse(p);
    for (const auto& [key, value] : parsed.values()) params.set(key, value);
  }
  std::unique_ptr<Allocator> allocator = makeAllocator(args.policy, params);
  if (args.agents.empty()) throw InvalidArgument("give at least one --agent");
  if (args.frameworks.empty()) throw InvalidArgument("give at least one --framework");
  for (std::size_t i = 0; i < args.agents.size(); ++i) {
    allocator->addAgent(parseAgent(args.agents[i], i));
  }
  for (const std::string& w : args.roleWeights) {
    const auto [role, value] = splitAssignment(w, "--role-weight");
    double weight = 0;
    try {
      weight = std::stod(value);
    } catch (const std::exception&) {
      throw ParseError(fmt::format("--role-weight '{}': '{}' is not a number", w, value));
    }
    allocator->setRoleWeight(role, weight);
  }
  for (const std::string& q : args.quotas) {
    const auto [role, value] = splitAssignment(q, "--quota");
    allocator->setQuota(role, Quota{Resources::parse(value), {}});
  }
  std::vector<RoundsFramework> frameworks;
  for (std::size_t i = 0; i < args.frameworks.size(); ++i) {
    frameworks.push_back(parseFramework(args.frameworks[i], i));
  }
  RoundsOptions options;
  options.rounds = args.rounds;
  options.tasksPerOffer = args.tasksPerOffer;
  options.refuseFor = secondsToDuration(args.refuseSeconds);
  const RoundsResult result = runRounds(*allocator, frameworks, options);

  if (args.json) {
    nlohmann::json out;
    out["policy"] = args.policy;
    out["rounds"] = result.roundsRun;
    out["cluster"] = toString(
        Resources::fromScalars(allocator->state().totalScalars(), allocator->state().dimensions()));
    for (const RoundsFrameworkResult& f : result.frameworks) {
      out["frameworks"].push_back({{"name", f.id.str()},
                                   {"role", f.role},
                                   {"tasks", f.tasks},
                                   {"allocated", toString(f.allocated)},
                                   {"dominant_share", f.dominantShare}});
    }
    for (const RoundsRoleResult& r : result.roles) {
      out["roles"].push_back({{"role", r.role},
                              {"weight", r.weight},
                              {"allocated", toString(r.allocated)},
                              {"dominant_share", r.dominantShare}});
    }
    if (args.verbose) {
      for (const RoundsOffer& o : result.offers) {
        out["offers"].push_back({{"round", o.round},
                                 {"framework", o.framework.str()},
                                 {"agent", o.agent.str()},
                                 {"offered", toString(o.offered)},
                                 {"launched", o.launched}});
      }
    }
    std::cout << out.dump(2) << "\n";
    return;
  }

  const ClusterState& state = allocator->state();
  std::cout << fmt::format(
      "policy {} on {} agent(s), cluster {}; {} rounds run\n\n", args.policy, state.agentCount(),
      toString(Resources::fromScalars(state.totalScalars(), state.dimensions())), result.roundsRun);
  if (args.verbose) {
    for (const RoundsOffer& o : result.offers) {
      std::cout << fmt::format("round {:>3}: {} offered {} on {}: launched {} task(s)\n", o.round,
                               o.framework.str(), toString(o.offered), o.agent.str(), o.launched);
    }
    std::cout << "\n";
  }
  std::cout << fmt::format("{:<16} {:<12} {:>6}  {:<32} {:>15}\n", "framework", "role", "tasks",
                           "allocated", "dominant share");
  for (const RoundsFrameworkResult& f : result.frameworks) {
    std::cout << fmt::format("{:<16} {:<12} {:>6}  {:<32} {:>15.4f}\n", f.id.str(), f.role, f.tasks,
                             toString(f.allocated), f.dominantShare);
  }
  std::cout << fmt::format("\n{:<16} {:>6}  {:<32} {:>15}\n", "role", "weight", "allocated",
                           "dominant share");
  for (const RoundsRoleResult& r : result.roles) {
    std::cout << fmt::format("{:<16} {:>6}  {:<32} {:>15.4f}\n", r.role, r.weight,
                             toString(r.allocated), r.dominantShare);
  }
}

}  // namespace

void addAllocateCommand(CLI::App& app) {
  auto args = std::make_shared<AllocateArgs>();
  auto* cmd = app.add_subcommand(
      "allocate",
      "Run allocation rounds on a small cluster and print who got what.\n"
      "Frameworks accept offers by launching tasks of their shape (tasks never finish) and give\n"
      "back the rest; with --tasks-per-offer 1 this is the DRF paper's progressive filling.");
  auto config = std::make_shared<std::string>();
  cmd->add_option("--config", *config,
                  "Read options from a TOML file: keys are the long option names, arrays give\n"
                  "repeated options; options on the command line win")
      ->check(CLI::ExistingFile);
  cmd->add_option("--policy,-p", args->policy, "Allocation policy (see `allot policies`)")
      ->capture_default_str();
  cmd->add_option("--param", args->params, "Policy parameter name=value (repeatable)");
  cmd->add_option("--agent,-a", args->agents,
                  "Agent as [ID=]RESOURCES[@ATTRIBUTES], e.g. 'cpus:9;mem:18432' or\n"
                  "'a1=cpus:4;mem:8192;cpus(web):2;ports:[31000-32000]@rack:r1' (repeatable)");
  cmd->add_option("--framework,-f", args->frameworks,
                  "Framework as name=N,role=R,weight=W,task=RESOURCES[,tasks=MAX] (repeatable)");
  cmd->add_option("--role-weight", args->roleWeights, "Role weight ROLE=W (repeatable)");
  cmd->add_option("--quota", args->quotas, "Role quota guarantee ROLE=RESOURCES (repeatable)");
  cmd->add_option("--rounds", args->rounds, "Allocation rounds, one per simulated second")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--tasks-per-offer", args->tasksPerOffer,
                  "Tasks a framework launches from one offer")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--refuse-seconds", args->refuseSeconds,
                  "Decline filter on the unused part of an offer (0: none)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--verbose,-v", args->verbose, "Also list every offer");
  cmd->add_flag("--json", args->json, "Print machine-readable JSON");
  cmd->callback([cmd, args, config] {
    if (!config->empty()) applyConfigFile(*cmd, *config);
    run(*args);
  });
}

}  // namespace allot::cli
