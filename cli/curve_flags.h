#pragma once

// CURVE flags of the runtime's commands (allot/runtime/curve.h); `allot
// keygen` (commands.h) makes the keys.

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "allot/runtime/curve.h"

namespace allot::cli {

// A master's: --curve-key, --curve-clients, --curve-allow-any.
struct CurveServerFlags {
  std::string keyFile;
  std::string clientsFile;
  bool allowAny = false;

  void add(CLI::App* cmd);
  // Nullopt without --curve-key. Throws InvalidArgument (a flag without the
  // others it needs, an unreadable file) naming the flag and file.
  std::optional<runtime::CurveServerOptions> options() const;
};

// An agent's or framework's: --master-key, --curve-key.
struct CurveClientFlags {
  std::string masterKey;
  std::string keyFile;

  void add(CLI::App* cmd);
  // Empty options without --master-key. Throws as above.
  runtime::CurveClientOptions options() const;
};

}  // namespace allot::cli
