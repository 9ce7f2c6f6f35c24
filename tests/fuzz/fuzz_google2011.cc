// libFuzzer target: the Google 2011 reader on a trace folder made from the
// input: task_events, "@@", job_events, "@@", then machine_events, or a
// machine table when that part starts with '#' or "count".
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fs = std::filesystem;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto parts = allot::fuzz::splitParts(input, 3);
  const fs::path root = allot::fuzz::scratchDir() / "google2011";
  std::error_code error;
  fs::remove_all(root, error);
  allot::fuzz::writeFile(root / "task_events" / "part-00000-of-00001.csv", parts[0]);
  allot::fuzz::writeFile(root / "job_events" / "part-00000-of-00001.csv", parts[1]);
  if (parts[2].starts_with("#") || parts[2].starts_with("count")) {
    allot::fuzz::writeFile(root / "machines.csv", parts[2]);
  } else if (!parts[2].empty()) {
    allot::fuzz::writeFile(root / "machine_events" / "part-00000-of-00001.csv", parts[2]);
  }
  allot::fuzz::readExpectingOnlyErrors(root.string(), "google2011",
                                       allot::fuzz::optionsFrom(input));
  return 0;
}
