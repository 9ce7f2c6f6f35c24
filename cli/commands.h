#pragma once

#include <CLI/CLI.hpp>

namespace allot::cli {

// Each function adds one subcommand (and its own subcommands) to `app`.
void addPoliciesCommand(CLI::App& app);
void addAllocateCommand(CLI::App& app);
void addTraceCommand(CLI::App& app);
void addSimCommand(CLI::App& app);
// Runtime: `allot master`, `allot agent`, `allot run`, and `allot state|tasks|agents`
// (the HTTP API's readers).
void addMasterCommand(CLI::App& app);
void addAgentCommand(CLI::App& app);
void addRunCommand(CLI::App& app);
void addStateCommand(CLI::App& app);
void addLogsCommand(CLI::App& app);
void addLsCommand(CLI::App& app);
// `allot keygen`: CURVE key pairs for secured links.
void addKeygenCommand(CLI::App& app);

}  // namespace allot::cli
