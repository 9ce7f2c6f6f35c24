// DeclineOffers (see allocator_bench.cc) as a plain program, for instruction
// counts that do not depend on the machine's load:
//
//   valgrind --tool=callgrind --instr-atstart=no
//       BUILD/bench/policies/allocator_rounds 10000 1000 3 2 3    (one command)
//
// counts only the allocate() calls of rounds 2 and 3 (10,000 offers each),
// including the release of the previous round's offers, as the benchmark
// times it. Without valgrind it prints each listed round's time and the
// mean over rounds that made offers.
//
// Usage: allocator_rounds AGENTS FRAMEWORKS ROUNDS [MEASURED_ROUND...]
// With ALLOT_DIGEST set, it also prints a digest (FNV-1a) of every offer made
// (framework, agent, resources): equal digests before and after a change
// mean the same offers were made.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "allot/policies/registry.h"
#include "decline_offers_setup.h"

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_START_INSTRUMENTATION \
  do {                                  \
  } while (0)
#define CALLGRIND_STOP_INSTRUMENTATION \
  do {                                 \
  } while (0)
#endif

namespace allot {
namespace {

std::size_t argument(char** argv, int i) {
  return static_cast<std::size_t>(std::strtoul(argv[i], nullptr, 10));
}

int run(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s AGENTS FRAMEWORKS ROUNDS [MEASURED_ROUND...]\n", argv[0]);
    return 2;
  }
  const std::size_t agentCount = argument(argv, 1);
  const std::size_t frameworkCount = argument(argv, 2);
  const std::size_t rounds = argument(argv, 3);
  std::set<std::size_t> measured;
  for (int i = 4; i < argc; ++i) measured.insert(argument(argv, i));

  auto allocator = bench::declineOffersCluster(agentCount, frameworkCount);

  TimePoint now = kTimeZero;
  const Filters forever{secondsToDuration(2147483647.0)};
  std::vector<Allocation> offers;
  const bool digestWanted = std::getenv("ALLOT_DIGEST") != nullptr;
  std::uint64_t digest = 14695981039346656037ULL;
  double offerSeconds = 0;
  std::size_t offerRounds = 0;
  for (std::size_t round = 1; round <= rounds; ++round) {
    for (const Allocation& offer : offers) {
      allocator->recoverResources(offer.framework, offer.agent, offer.resources, forever, now);
    }
    now += std::chrono::seconds(1);
    const bool measure = measured.count(round) > 0;
    const auto start = std::chrono::steady_clock::now();
    if (measure) {
      CALLGRIND_START_INSTRUMENTATION;
    }
    offers = allocator->allocate(now);
    if (measure) {
      CALLGRIND_STOP_INSTRUMENTATION;
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (digestWanted) {
      for (const Allocation& offer : offers) {
        const std::string text =
            offer.framework.str() + "|" + offer.agent.str() + "|" + toString(offer.resources) + ";";
        for (const char c : text) {
          digest = (digest ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
        }
      }
    }
    if (!offers.empty()) {
      offerSeconds += seconds;
      ++offerRounds;
    }
    if (measure)
      std::printf("round %zu: %zu offers, %.3f ms\n", round, offers.size(), seconds * 1e3);
  }
  if (digestWanted) std::printf("digest %016llx\n", static_cast<unsigned long long>(digest));
  std::printf("rounds that made offers: %zu, mean %.3f ms\n", offerRounds,
              offerRounds ? offerSeconds / static_cast<double>(offerRounds) * 1e3 : 0.0);
  return 0;
}

}  // namespace
}  // namespace allot

int main(int argc, char** argv) {
  return allot::run(argc, argv);
}
