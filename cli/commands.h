#pragma once

#include <CLI/CLI.hpp>

namespace allot::cli {

// Each function adds one subcommand (and its own subcommands) to `app`.
void addPoliciesCommand(CLI::App& app);
void addAllocateCommand(CLI::App& app);
void addTraceCommand(CLI::App& app);
void addSimCommand(CLI::App& app);

}  // namespace allot::cli
