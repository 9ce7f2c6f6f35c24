#pragma once

#include <stdexcept>
#include <string>

namespace allot {

// Base of every exception allot throws at a library boundary. The message is
// meant for a person: it names the place (file:line, token, id) and the problem.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Text that does not follow a documented syntax (resources, attributes, flags).
class ParseError : public Error {
 public:
  using Error::Error;
};

// A request that names something the receiver does not know (agent, framework, role).
class NotFound : public Error {
 public:
  using Error::Error;
};

// A request that is well formed but not allowed in the current state
// (duplicate id, resources not available, too many dimensions).
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

}  // namespace allot
