#include "packer.h"

#include <algorithm>

namespace allot::packing {

std::size_t Packer::KeyHash::operator()(const Key& k) const {
  std::uint64_t h = 0x9E3779B97F4A7C15ULL;
  auto mix = [&h](const Scalars& v) {
    for (int i = 0; i < kMaxScalarDims; ++i) {
      std::uint64_t bits = 0;
      std::memcpy(&bits, v.data() + i, sizeof bits);
      h ^= bits + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
    }
  };
  mix(k.cap);
  mix(k.free);
  return static_cast<std::size_t>(h);
}

Packer::Packer(Score score, std::uint64_t seed) : score_(score), rng_(seed) {}

void Packer::fillRow(BucketId id) {
  const Bucket& b = buckets_[id];
  const Scalars inverse = (b.cap.array() > 0).select(b.cap.cwiseInverse(), 0.0);
  const Scalars share = b.free.cwiseProduct(inverse);
  Scalars coef;
  double base = 0;
  switch (score_) {
    case Score::kAlignment:
      coef = share.cwiseProduct(inverse);
      break;
    case Score::kLeastLeftover:
      coef = inverse;
      base = -share.sum();
      break;
    case Score::kMostLeftover:
      coef = -inverse;
      base = share.sum();
      break;
  }
  double* r = rows_.data() + id * stride_;
  for (std::size_t i = 0; i < dims_; ++i) {
    r[i] = b.free[static_cast<int>(i)];
    r[dims_ + i] = coef[static_cast<int>(i)];
  }
  r[2 * dims_] = base;
}

void Packer::beginRound(const ClusterState& s, const std::function<bool(const Scalars&)>& worth) {
  if (!worth_) worth_ = worth;
  journal_.clear();
  ++round_;
  forgetShapes();
  // Agents came, went or changed activity: start over (rare; a pass over
  // every agent's state costs a cache miss per agent).
  const auto dims = static_cast<std::size_t>(s.dimensions()->size());
  if (agentSetVersion_ != s.agentSetVersion() || dims != dims_) {
    shapes_.clear();
    shapeIndex_.clear();
    created_.clear();
    dims_ = dims;
    stride_ = 2 * dims + 1;
    rows_.clear();
    live_.clear();
    buckets_.clear();
    freeBuckets_.clear();
    index_.clear();
    slots_.assign(s.agentSlots(), AgentSlot{});
    activeAgents_.clear();
    for (AgentIndex a = 0; a < s.agentSlots(); ++a) {
      if (s.agent(a).alive && s.agent(a).active) activeAgents_.push_back(a);
    }
    agentSetVersion_ = s.agentSetVersion();
  }
  // Only agents whose books changed since they were bucketed (a dense pass).
  for (AgentIndex a : activeAgents_) {
    if (slots_[a].version != s.agentVersion(a)) refresh(s, a);
  }
}

void Packer::refresh(const ClusterState& s, AgentIndex agent) {
  AgentSlot& slot = slots_[agent];
  slot.version = s.agentVersion(agent);
  const Scalars cap = s.agent(agent).info.resources.totalScalars();
  if (cap != slot.cap) {
    if (slot.bucket != kNoBucket) leave(agent);
    slot.cap = cap;
  }
  place(agent, s.availableUnreserved(agent));
}

ShapeId Packer::shape(const Scalars& demand) {
  auto [it, inserted] =
      shapeIndex_.try_emplace(Key{Scalars::Zero(), demand}, static_cast<ShapeId>(shapes_.size()));
  if (inserted) shapes_.push_back(Shape{demand, {}});
  shapes_[it->second].used = round_;
  return it->second;
}

void Packer::forgetShapes() {
  // Shapes not asked for in a while go (their heaps would only grow); ids
  // are renumbered, which is fine between rounds.
  const std::size_t before = shapes_.size();
  std::erase_if(shapes_, [&](const Shape& shape) { return shape.used + kShapeRounds < round_; });
  if (shapes_.size() != before) {
    shapeIndex_.clear();
    for (std::size_t i = 0; i < shapes_.size(); ++i) {
      shapeIndex_.emplace(Key{Scalars::Zero(), shapes_[i].demand}, static_cast<ShapeId>(i));
    }
  }
  // Buckets every shape has seen need not be remembered as new.
  std::size_t seen = created_.size();
  for (const Shape& shape : shapes_) {
    if (shape.threshold != std::numeric_limits<double>::infinity()) {
      seen = std::min(seen, shape.seen);
    }
  }
  created_.erase(created_.begin(), created_.begin() + static_cast<std::ptrdiff_t>(seen));
  for (Shape& shape : shapes_) shape.seen -= std::min(shape.seen, seen);
}

void Packer::scan(Shape& shape) {
  scratch_.clear();
  for (BucketId id = 0; id < buckets_.size(); ++id) {
    if (live_[id] == 0 || !fits(id, shape.demand)) continue;
    scratch_.push_back({score(id, shape.demand), id, buckets_[id].generation});
  }
  if (scratch_.size() > kKeep) {
    auto better = [](const Entry& a, const Entry& b) { return b < a; };
    std::nth_element(scratch_.begin(), scratch_.begin() + (kKeep - 1), scratch_.end(), better);
    const double threshold = scratch_[kKeep - 1].score;
    std::erase_if(scratch_, [&](const Entry& e) { return e.score < threshold; });
    shape.threshold = threshold;
  } else {
    shape.threshold = -std::numeric_limits<double>::infinity();
  }
  shape.heap.assign(scratch_.begin(), scratch_.end());
  std::make_heap(shape.heap.begin(), shape.heap.end());
  shape.seen = created_.size();
}

std::optional<Packer::Choice> Packer::best(ShapeId id) {
  Shape& shape = shapes_[id];
  if (shape.threshold == std::numeric_limits<double>::infinity()) {
    scan(shape);
  } else {
    catchUp(shape);
  }
  while (true) {
    while (!shape.heap.empty() && !live(shape.heap.front())) popTop(shape);
    if (!shape.heap.empty()) return Choice{shape.heap.front().score, shape.heap.front().bucket};
    // Every bucket that could rank was listed and is gone: none fits.
    if (shape.threshold == -std::numeric_limits<double>::infinity()) return std::nullopt;
    scan(shape);
  }
}

void Packer::takeOn(AgentIndex agent, ShapeId shape) {
  const Scalars before = buckets_[slots_[agent].bucket].free;
  journal_.push_back({agent, shape, before});
  // Clamped as the books clamp: fitsIn allows a hair of excess.
  place(agent, (before - shapes_[shape].demand).cwiseMax(0.0));
}

void Packer::rollback() {
  for (auto it = journal_.rbegin(); it != journal_.rend(); ++it) place(it->agent, it->freeBefore);
  journal_.clear();
}

void Packer::place(AgentIndex agent, const Scalars& free) {
  AgentSlot& slot = slots_[agent];
  if (slot.bucket != kNoBucket) {
    const Bucket& b = buckets_[slot.bucket];
    if (b.free == free) return;
    leave(agent);
  }
  if (!worth_(free)) return;
  auto [it, inserted] = index_.try_emplace(Key{slot.cap, free}, kNoBucket);
  if (inserted) {
    BucketId id;
    if (!freeBuckets_.empty()) {
      id = freeBuckets_.back();
      freeBuckets_.pop_back();
    } else {
      id = static_cast<BucketId>(buckets_.size());
      buckets_.emplace_back();
      rows_.resize(buckets_.size() * stride_);
      live_.push_back(0);
    }
    it->second = id;
    Bucket& b = buckets_[id];
    b.cap = slot.cap;
    b.free = free;
    fillRow(id);
  }
  const BucketId id = it->second;
  Bucket& b = buckets_[id];
  slot.bucket = id;
  slot.position = static_cast<std::uint32_t>(b.agents.size());
  b.agents.push_back(agent);
  if (b.agents.size() == 1) {
    live_[id] = 1;
    enlist(id);
  }
}

void Packer::leave(AgentIndex agent) {
  AgentSlot& slot = slots_[agent];
  Bucket& b = buckets_[slot.bucket];
  const AgentIndex last = b.agents.back();
  b.agents[slot.position] = last;
  slots_[last].position = slot.position;
  b.agents.pop_back();
  if (b.agents.empty()) {
    index_.erase(Key{b.cap, b.free});
    ++b.generation;
    live_[slot.bucket] = 0;
    freeBuckets_.push_back(slot.bucket);
  }
  slot.bucket = kNoBucket;
}

void Packer::enlist(BucketId id) {
  created_.emplace_back(id, buckets_[id].generation);
}

void Packer::catchUp(Shape& shape) {
  for (; shape.seen < created_.size(); ++shape.seen) {
    const auto [id, generation] = created_[shape.seen];
    if (live_[id] == 0 || buckets_[id].generation != generation) continue;  // gone since
    if (!fits(id, shape.demand)) continue;
    const double value = score(id, shape.demand);
    if (value < shape.threshold) continue;
    shape.heap.push_back({value, id, generation});
    std::push_heap(shape.heap.begin(), shape.heap.end());
  }
  // A shape kept while agents empty out gathers ever more buckets above its
  // threshold (and emptied ones that have not reached the top): start
  // again from the best K, under a higher threshold.
  if (shape.heap.size() > 4 * kKeep) scan(shape);
}

}  // namespace allot::packing
