// libFuzzer target: the SWF reader on one file (plain or gzip).
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto path = allot::fuzz::scratchDir() / "trace.swf";
  allot::fuzz::writeFile(path, input);
  allot::fuzz::readExpectingOnlyErrors(path.string(), "swf", allot::fuzz::optionsFrom(input));
  return 0;
}
