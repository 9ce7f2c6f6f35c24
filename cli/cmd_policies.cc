#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "allot/policies/registry.h"
#include "commands.h"

namespace allot::cli {

void addPoliciesCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("policies", "List the allocation policies and their parameters");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "Print machine-readable JSON");
  cmd->footer(
      "Pass parameters to a policy as --param name=value (e.g. allot allocate --policy drf "
      "--param seed=7).");
  cmd->callback([json] {
    if (*json) {
      nlohmann::json out = nlohmann::json::array();
      for (const PolicyInfo& info : builtinPolicies()) {
        nlohmann::json params = nlohmann::json::array();
        for (const ParamSpec& p : info.params) {
          params.push_back({{"name", p.name}, {"default", p.defaultValue}, {"help", p.help}});
        }
        out.push_back({{"name", info.name},
                       {"summary", info.summary},
                       {"demand", info.demand},
                       {"params", params}});
      }
      std::cout << out.dump(2) << "\n";
      return;
    }
    for (const PolicyInfo& info : builtinPolicies()) {
      std::cout << fmt::format("{}\n    {}\n", info.name, info.summary);
      if (info.demand > 0) {
        std::cout << fmt::format(
            "    needs published demand: `allot sim` defaults to --demand {}\n", info.demand);
      }
      for (const ParamSpec& p : info.params) {
        std::cout << fmt::format("    --param {}={:<18} {}\n", p.name, p.defaultValue, p.help);
      }
      std::cout << "\n";
    }
  });
}

}  // namespace allot::cli
