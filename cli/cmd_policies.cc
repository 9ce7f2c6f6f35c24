#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "allot/policies/registry.h"
#include "commands.h"

namespace allot::cli {
namespace {

// `text` broken at spaces into lines of at most `width` characters (longer
// words stay whole), each indented by `indent` spaces.
std::string wrap(std::string_view text, std::size_t indent, std::size_t width) {
  const std::size_t room = width > indent + 20 ? width - indent : 20;
  std::string out;
  std::string line;
  auto flush = [&] {
    if (!out.empty()) out += '\n';
    out += std::string(indent, ' ') + line;
    line.clear();
  };
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t space = text.find(' ', pos);
    const std::string_view word =
        text.substr(pos, space == std::string_view::npos ? std::string_view::npos : space - pos);
    pos = space == std::string_view::npos ? text.size() : space + 1;
    if (word.empty()) continue;
    if (!line.empty() && line.size() + 1 + word.size() > room) flush();
    if (!line.empty()) line += ' ';
    line += word;
  }
  if (!line.empty() || out.empty()) flush();
  return out;
}

}  // namespace

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
    // One column of "--param name=default" for every policy, the help text
    // after it wrapped to kLine characters with its lines aligned.
    constexpr std::size_t kLine = 100;
    std::size_t column = 0;
    for (const PolicyInfo& info : builtinPolicies()) {
      for (const ParamSpec& p : info.params) {
        column = std::max(column, fmt::format("    --param {}={}", p.name, p.defaultValue).size());
      }
    }
    column += 2;
    for (const PolicyInfo& info : builtinPolicies()) {
      std::cout << fmt::format("{}\n{}\n", info.name, wrap(info.summary, 4, kLine));
      if (info.demand > 0) {
        std::cout << fmt::format(
            "    needs published demand: `allot sim` defaults to --demand {}\n", info.demand);
      }
      for (const ParamSpec& p : info.params) {
        const std::string head = fmt::format("    --param {}={}", p.name, p.defaultValue);
        const std::string help = wrap(p.help, column, kLine);
        std::cout << head << help.substr(std::min(head.size(), column)) << "\n";
      }
      std::cout << "\n";
    }
  });
}

}  // namespace allot::cli
