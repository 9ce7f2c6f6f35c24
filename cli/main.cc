#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>

#include "allot/core/error.h"
#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"allot: a cluster manager and allocation-policy simulator"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "allot 0.1.0");
  allot::cli::addPoliciesCommand(app);
  allot::cli::addAllocateCommand(app);
  allot::cli::addTraceCommand(app);
  allot::cli::addSimCommand(app);
  allot::cli::addMasterCommand(app);
  allot::cli::addAgentCommand(app);
  allot::cli::addRunCommand(app);
  allot::cli::addStateCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const allot::Error& e) {
    std::cerr << "allot: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
