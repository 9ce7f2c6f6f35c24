#pragma once

// Apart from common.h: cmd_state.cc includes httplib.h, whose <resolv.h>
// defines _res, a name Eigen (through common.h's headers) uses.

#include <string>

namespace allot::cli {

// The operator token in `path` (given as `flag`): its first line, without
// surrounding whitespace. Throws InvalidArgument naming the flag and file
// when it cannot be read, is empty, or holds characters an HTTP header
// cannot carry. Warns on stderr when others than its owner may read it.
std::string readTokenFile(const char* flag, const std::string& path);

}  // namespace allot::cli
