// PLACEHOLDER: replaced by the runtime work (issue 5) before it lands.
#include "commands.h"

namespace allot::cli {

void addMasterCommand(CLI::App& /*app*/) {}

}  // namespace allot::cli
