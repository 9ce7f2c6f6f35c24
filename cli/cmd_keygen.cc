// `allot keygen`: CURVE key pairs (the flags that use them: curve_flags.h).

#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "curve_flags.h"

namespace allot::cli {

void addKeygenCommand(CLI::App& app) {
  struct Args {
    std::string file;
    bool force = false;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "keygen", "Make a CURVE key pair for a master, agent or framework (secured links)");
  cmd->add_option("FILE", args->file, "Key pair file to write (mode 600)")->required();
  cmd->add_flag("--force", args->force, "Replace FILE if it exists");
  cmd->add_flag("--json", args->json, "Print {\"file\", \"public_key\"} as JSON");
  cmd->footer(
      "Prints the public key: give a master's to its agents and frameworks (--master-key),\n"
      "and list theirs in the master's --curve-clients file.\n"
      "Example:\n"
      "  allot keygen master.key > master.pub && allot keygen agent-1.key\n"
      "  allot keygen --json agent-1.key --force | jq -r .public_key\n"
      "  echo \"$(allot keygen agent-2.key) agent-2\" >> clients\n"
      "  allot master --curve-key master.key --curve-clients clients\n"
      "  allot agent --master HOST:5050 --master-key master.pub --curve-key agent-1.key");
  cmd->callback([args] {
    const runtime::CurveKeyPair keys = runtime::generateCurveKeyPair();
    runtime::writeCurveKeyFile(args->file, keys, args->force);
    if (args->json) {
      std::cout << nlohmann::json{{"file", args->file}, {"public_key", keys.publicKey}}.dump()
                << "\n";
    } else {
      std::cout << keys.publicKey << "\n";
    }
  });
}

}  // namespace allot::cli
