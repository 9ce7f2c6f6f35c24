#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>
#include <new>
#include <string_view>

#include "allot/core/error.h"
#include "allot/traces/store.h"
#include "commands.h"
#include "huge_heap.h"

int main(int argc, char** argv) {
  // The data commands run on a huge-page heap (huge_heap.h says why).
  if (argc > 1 && (std::string_view(argv[1]) == "sim" || std::string_view(argv[1]) == "trace")) {
    allot::cli::restartWithHugeHeap(argv);
  }
  allot::traces::skipHdf5ExitHandler();
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
  allot::cli::addLogsCommand(app);
  allot::cli::addLsCommand(app);
  allot::cli::addKeygenCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const allot::Error& e) {
    std::cerr << "allot: " << e.what() << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "allot: out of memory (the input, or the options, ask for more than this "
                 "machine has)\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "allot: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
