// libFuzzer target: the Alibaba 2018 reader on a folder made from the
// input: batch_task, "@@", batch_instance, "@@", machine_meta.
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fs = std::filesystem;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto parts = allot::fuzz::splitParts(input, 3);
  const fs::path root = allot::fuzz::scratchDir() / "alibaba2018";
  std::error_code error;
  fs::remove_all(root, error);
  allot::fuzz::writeFile(root / "batch_task.csv", parts[0]);
  if (!parts[1].empty()) allot::fuzz::writeFile(root / "batch_instance.csv", parts[1]);
  if (!parts[2].empty()) allot::fuzz::writeFile(root / "machine_meta.csv", parts[2]);
  allot::fuzz::readExpectingOnlyErrors(root.string(), "alibaba2018",
                                       allot::fuzz::optionsFrom(input));
  return 0;
}
