#include "allot/core/cluster.h"

#include <fmt/format.h>

#include "allot/core/error.h"
#include "allot/core/text.h"

namespace allot {

Attributes Attributes::parse(std::string_view text) {
  Attributes result;
  forEachPiece(text, ';', [&](std::string_view token, std::size_t position) {
    const std::size_t colon = token.find(':');
    if (colon == std::string_view::npos || trim(token.substr(0, colon)).empty() ||
        trim(token.substr(colon + 1)).empty()) {
      throw ParseError(
          fmt::format("bad attribute '{}' at position {} of \"{}\": expected 'name:value'", token,
                      position, text));
    }
    result.set(std::string(trim(token.substr(0, colon))),
               std::string(trim(token.substr(colon + 1))));
  });
  return result;
}

void Attributes::set(std::string name, std::string value) {
  for (auto& entry : entries_) {
    if (entry.first == name) {
      entry.second = std::move(value);
      return;
    }
  }
  entries_.emplace_back(std::move(name), std::move(value));
}

std::optional<std::string_view> Attributes::get(std::string_view name) const {
  for (const auto& entry : entries_) {
    if (entry.first == name) return entry.second;
  }
  return std::nullopt;
}

std::string toString(const Attributes& attributes) {
  std::string out;
  for (const auto& [name, value] : attributes.entries()) {
    if (!out.empty()) out += ';';
    out += name + ":" + value;
  }
  return out;
}

}  // namespace allot
