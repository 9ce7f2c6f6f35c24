// libFuzzer target: the Alibaba 2017 batch_task reader on one file.
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto path = allot::fuzz::scratchDir() / "alibaba2017" / "batch_task.csv";
  allot::fuzz::writeFile(path, input);
  allot::fuzz::readExpectingOnlyErrors(path.string(), "alibaba2017",
                                       allot::fuzz::optionsFrom(input));
  return 0;
}
