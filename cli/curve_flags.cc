// The CURVE flags of `allot master`, `allot agent` and `allot run`.

#include "curve_flags.h"

#include <fmt/format.h>

#include <iostream>

#include "allot/core/error.h"

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
  cmd->add_option(
      "--curve-clients", clientsFile,
      "With --curve-key: the agents' and frameworks' public keys admitted, one per "
      "line, each optionally followed by a name; '#' at a line's start or after a space "
      "starts a comment. Edits apply to new connections without a restart");
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

}  // namespace allot::cli
