#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "allot/core/error.h"
#include "commands.h"
#include "curve_flags.h"

namespace allot::cli {

namespace {

void warnOnStderr(const std::string& warning) {
  std::cerr << "allot: warning: " << warning << "\n";
}

}  // namespace

void CurveServerFlags::add(CLI::App* cmd) {
  cmd->add_option("--curve-key", keyFile,
                  "Secure the agents' and frameworks' links with CURVE (encrypted; clients must "
                  "know this master's public key): this master's key pair file, from `allot "
                  "keygen FILE`. Every master of a --zk path uses the same one. Default: plain "
                  "TCP, on which anyone who reaches --port may run commands on every agent");
  cmd->add_option("--curve-clients", clientsFile,
                  "With --curve-key: the agents' and frameworks' public keys admitted, one per "
                  "line, each optionally followed by a name; '#' starts a comment. Edits apply "
                  "to new connections without a restart");
  cmd->add_flag("--curve-allow-any", allowAny,
                "With --curve-key and no --curve-clients: admit any client that knows this "
                "master's public key (encryption without a list of clients)");
}

std::optional<runtime::CurveServerOptions> CurveServerFlags::options() const {
  if (keyFile.empty()) {
    if (!clientsFile.empty() || allowAny) {
      throw InvalidArgument(
          fmt::format("{} needs --curve-key (the master's key pair)",
                      clientsFile.empty() ? "--curve-allow-any" : "--curve-clients"));
    }
    return std::nullopt;
  }
  if (clientsFile.empty() == !allowAny) {
    throw InvalidArgument(
        "--curve-key needs either --curve-clients FILE (the client keys admitted) or "
        "--curve-allow-any (any client that knows the master's public key)");
  }
  runtime::CurveServerOptions o;
  o.keys = runtime::readCurveKeyFile("--curve-key", keyFile, warnOnStderr);
  o.clientsFile = clientsFile;
  return o;
}

void CurveClientFlags::add(CLI::App* cmd) {
  cmd->add_option("--master-key", masterKey,
                  "The master's CURVE public key (as `allot keygen` prints it), or a file "
                  "holding it: needed when the master runs with --curve-key");
  cmd->add_option("--curve-key", keyFile,
                  "With --master-key: this client's key pair file (from `allot keygen FILE`), "
                  "whose public key the master's --curve-clients lists. Default: a fresh key "
                  "pair, which only a master with --curve-allow-any admits");
}

runtime::CurveClientOptions CurveClientFlags::options() const {
  runtime::CurveClientOptions o;
  if (masterKey.empty()) {
    if (!keyFile.empty()) {
      throw InvalidArgument("--curve-key needs --master-key (the master's public key)");
    }
    return o;
  }
  o.serverKey = runtime::readCurvePublicKey("--master-key", masterKey);
  if (!keyFile.empty()) o.keys = runtime::readCurveKeyFile("--curve-key", keyFile, warnOnStderr);
  return o;
}

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
      "  allot keygen master.key && allot keygen agent-1.key\n"
      "  allot keygen --json agent-1.key --force | jq -r .public_key\n"
      "  echo \"$(allot keygen agent-2.key) agent-2\" >> clients\n"
      "  allot master --curve-key master.key --curve-clients clients\n"
      "  allot agent --master HOST:5050 --master-key master.key --curve-key agent-1.key");
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
