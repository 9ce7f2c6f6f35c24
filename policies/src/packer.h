#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <unordered_map>
#include <utility>
#include <vector>

#include "allot/policies/allocator.h"

namespace allot::packing {

using BucketId = std::uint32_t;
using ShapeId = std::uint32_t;
inline constexpr BucketId kNoBucket = ~BucketId{0};
inline constexpr AgentIndex kNoAgent = ~AgentIndex{0};

// How a placement rates an agent for a task (higher is better).
enum class Score {
  // Tetris' alignment: demand . free, both divided by the agent's capacity.
  kAlignment,
  // Minus the leftover sum over dimensions of (free - demand) / capacity (best fit).
  kLeastLeftover,
  // The leftover itself (worst fit).
  kMostLeftover,
};

// Finds, for task shapes, the agent with the best score among those where
// the shape fits in the available unreserved resources, and keeps the
// answer up to date as placements take resources, so that a round placing P
// tasks on A agents costs far less than P x A.
//
// Agents with identical (capacity, free) vectors score alike for every
// shape, so they share one bucket (an idle cluster of a few machine types is
// a few buckets); agents with nothing worth offering are left out. Buckets
// never change: an agent whose free vector changes moves to another. They
// live across rounds, and a round re-buckets only the agents whose version
// changed. Per shape, the packer keeps the buckets scoring at least a
// threshold (the K-th best at its last full scan) in a lazy max-heap:
// emptied buckets are dropped when they reach the top, new ones are offered
// to the shape when it is next asked for, and the full scan is repeated only
// when the heap runs dry. Shapes, and so their heaps, are kept across rounds
// while they keep being asked for. This is exact: the best bucket is always
// the best of all fitting buckets (ties: the lowest bucket id).
//
// Placements are tentative (for gangs) until the policy grants them; it
// then calls refresh() with the agent's books.
class Packer {
 public:
  explicit Packer(Score score, std::uint64_t seed);

  // Brings the buckets up to date with the state (agents whose version
  // changed since they were bucketed) and forgets shapes not asked for in a
  // while (shape ids of earlier rounds are void). `worth` tells which free
  // vectors are worth offering.
  void beginRound(const ClusterState& s, const std::function<bool(const Scalars&)>& worth);

  // The id of `demand` in this round (equal vectors share one).
  ShapeId shape(const Scalars& demand);
  const Scalars& demand(ShapeId shape) const { return shapes_[shape].demand; }

  struct Choice {
    double score;
    BucketId bucket;
  };
  // The best bucket where `shape` fits, if any.
  std::optional<Choice> best(ShapeId shape);
  // The best agent for `shape` for which `ok` holds — `ok` says whether the
  // framework may be offered it there (decline filters) — or kNoAgent. Among
  // equal agents the choice is a seeded draw, so that rounds do not pile
  // onto the same ones.
  template <class Ok>
  AgentIndex find(ShapeId shape, Ok&& ok) {
    const auto choice = best(shape);
    if (!choice) return kNoAgent;
    const AgentIndex agent = pick(choice->bucket, ok);
    return agent != kNoAgent ? agent : pickBelow(shape, ok);
  }
  // Same, and takes `shape` there, tentatively (until commit() or rollback()).
  template <class Ok>
  AgentIndex take(ShapeId shape, Ok&& ok) {
    const AgentIndex agent = find(shape, ok);
    if (agent != kNoAgent) takeOn(agent, shape);
    return agent;
  }

  // Takes `shape` on `agent`. REQUIRES: it fits there.
  void takeOn(AgentIndex agent, ShapeId shape);
  // Undoes every take since the last commit, newest first.
  void rollback();
  // Forgets the takes since the last commit (the policy granted them).
  void commit() { journal_.clear(); }
  // The agents taken since the last commit, in order.
  struct Taken {
    AgentIndex agent;
    ShapeId shape;
    Scalars freeBefore;
  };
  const std::vector<Taken>& taken() const { return journal_; }
  // Re-buckets `agent` from the state (after a grant there).
  void refresh(const ClusterState& s, AgentIndex agent);

  // Distinct (capacity, free) vectors among agents worth offering.
  std::size_t bucketCount() const { return index_.size(); }

 private:
  struct Bucket {
    Scalars cap = Scalars::Zero();
    Scalars free = Scalars::Zero();
    std::vector<AgentIndex> agents;
    std::uint32_t generation = 0;  // changes when the bucket empties
  };
  struct Key {
    Scalars cap;
    Scalars free;
    bool operator==(const Key& o) const {
      return std::memcmp(cap.data(), o.cap.data(), sizeof(double) * kMaxScalarDims) == 0 &&
             std::memcmp(free.data(), o.free.data(), sizeof(double) * kMaxScalarDims) == 0;
    }
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const;
  };
  struct Entry {
    double score;
    BucketId bucket;
    std::uint32_t generation;
    // Heap order: higher score first, then the lower bucket id.
    bool operator<(const Entry& o) const {
      return score != o.score ? score < o.score : bucket > o.bucket;
    }
  };
  struct Shape {
    Scalars demand;
    std::vector<Entry> heap;
    double threshold = std::numeric_limits<double>::infinity();  // +inf: never scanned
    std::size_t seen = 0;    // created_ entries already offered to the heap
    std::uint64_t used = 0;  // the last round that asked for it
  };
  struct AgentSlot {
    BucketId bucket = kNoBucket;
    std::uint32_t position = 0;  // in the bucket's agents
    std::uint64_t version = ~std::uint64_t{0};
    Scalars cap = Scalars::Zero();
  };

  // What a scan reads of bucket `b`, dense: its free vector, and the score
  // of a demand d as base + d . coef — alignment: coef = free / cap^2;
  // least leftover: coef = 1 / cap, base = -sum(free / cap); most leftover:
  // the negatives. Only the dimensions in use (dims_).
  const double* row(BucketId b) const { return rows_.data() + b * stride_; }
  bool fits(BucketId b, const Scalars& demand) const {
    const double* free = row(b);
    for (std::size_t i = 0; i < dims_; ++i) {
      // fitsIn's tolerance, so that the packer and the books agree.
      if (demand[static_cast<int>(i)] - free[i] > 1e-9 * (1.0 + std::abs(free[i]))) return false;
    }
    return true;
  }
  double score(BucketId b, const Scalars& demand) const {
    const double* r = row(b);
    double value = r[2 * dims_];
    for (std::size_t i = 0; i < dims_; ++i) value += demand[static_cast<int>(i)] * r[dims_ + i];
    return value;
  }
  void fillRow(BucketId b);
  // An agent of `bucket` for which `ok` holds (from a seeded start), or kNoAgent.
  template <class Ok>
  AgentIndex pick(BucketId bucket, Ok& ok) {
    const std::vector<AgentIndex>& agents = buckets_[bucket].agents;
    const std::size_t n = agents.size();
    const std::size_t start = n > 1 ? static_cast<std::size_t>(rng_() % n) : 0;
    for (std::size_t i = 0; i < n; ++i) {
      const AgentIndex a = agents[(start + i) % n];
      if (ok(a)) return a;
    }
    return kNoAgent;
  }
  // The best bucket `ok` refused everywhere: the next ones down the shape's
  // heap (set aside, then put back), and, if every listed one is refused,
  // a scan of all fitting buckets.
  template <class Ok>
  AgentIndex pickBelow(ShapeId id, Ok& ok) {
    Shape& shape = shapes_[id];
    aside_.clear();
    AgentIndex agent = kNoAgent;
    while (agent == kNoAgent) {
      while (!shape.heap.empty() && !live(shape.heap.front())) popTop(shape);
      if (shape.heap.empty()) break;
      agent = pick(shape.heap.front().bucket, ok);
      if (agent == kNoAgent) aside_.push_back(popTop(shape));
    }
    for (const Entry& e : aside_) {
      shape.heap.push_back(e);
      std::push_heap(shape.heap.begin(), shape.heap.end());
    }
    if (agent != kNoAgent || shape.threshold == -std::numeric_limits<double>::infinity()) {
      return agent;
    }
    double bestScore = -std::numeric_limits<double>::infinity();
    for (BucketId b = 0; b < buckets_.size(); ++b) {
      if (live_[b] == 0 || !fits(b, shape.demand)) continue;
      const double value = score(b, shape.demand);
      if (agent != kNoAgent && value <= bestScore) continue;
      for (AgentIndex a : buckets_[b].agents) {
        if (ok(a)) {
          agent = a;
          bestScore = value;
          break;
        }
      }
    }
    return agent;
  }
  Entry popTop(Shape& shape) {
    std::pop_heap(shape.heap.begin(), shape.heap.end());
    const Entry top = shape.heap.back();
    shape.heap.pop_back();
    return top;
  }
  bool live(const Entry& e) const {
    return live_[e.bucket] != 0 && buckets_[e.bucket].generation == e.generation;
  }
  void scan(Shape& shape);
  // Moves `agent` to the bucket of `free` (or out of every bucket when not worth offering).
  void place(AgentIndex agent, const Scalars& free);
  void leave(AgentIndex agent);
  // A bucket just got its first agent: shapes that would rank it get it
  // when next asked (most buckets made in a busy round die before that).
  void enlist(BucketId bucket);
  void catchUp(Shape& shape);
  void forgetShapes();

  static constexpr std::size_t kKeep = 1024;         // buckets kept per shape at a full scan
  static constexpr std::uint64_t kShapeRounds = 64;  // rounds an unused shape is kept

  Score score_;
  std::mt19937_64 rng_;
  std::function<bool(const Scalars&)> worth_;
  std::vector<Bucket> buckets_;
  std::size_t dims_ = 0;  // dimensions in use: the state's table
  std::size_t stride_ = 1;
  std::vector<double> rows_;        // by bucket: see row()
  std::vector<std::uint8_t> live_;  // by bucket: has agents
  std::vector<BucketId> freeBuckets_;
  std::unordered_map<Key, BucketId, KeyHash> index_;  // looked up only, never iterated
  std::vector<AgentSlot> slots_;
  std::vector<AgentIndex> activeAgents_;
  std::uint64_t agentSetVersion_ = ~std::uint64_t{0};
  std::vector<Shape> shapes_;
  std::unordered_map<Key, ShapeId, KeyHash> shapeIndex_;  // cap unused (zero)
  std::vector<Taken> journal_;
  std::vector<Entry> scratch_;
  std::vector<Entry> aside_;
  std::vector<std::pair<BucketId, std::uint32_t>> created_;  // (bucket, generation), oldest first
  std::uint64_t round_ = 0;
};

}  // namespace allot::packing
