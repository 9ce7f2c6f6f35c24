#include "allot/traces/synthetic.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <random>
#include <string>
#include <tuple>

#include "allot/core/error.h"

namespace allot::traces {
namespace {

// Portable sampling transforms over std::mt19937_64 (whose raw sequence the
// standard fixes). std::*_distribution are avoided on purpose: their
// algorithms are implementation-defined, so the same seed would give other
// workloads under libc++ or MSVC.
class Sampler {
 public:
  explicit Sampler(std::uint64_t seed) : engine_(seed) {}

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  // Uniform in (0, 1): safe for log().
  double uniformOpen() { return (static_cast<double>(engine_() >> 11) + 0.5) * 0x1.0p-53; }
  double exponential(double rate) { return -std::log(uniformOpen()) / rate; }
  // Standard normal by Box-Muller; one draw per call (the pair's second
  // value is dropped so that the sequence of draws stays simple to reason about).
  double normal() {
    const double r = std::sqrt(-2.0 * std::log(uniformOpen()));
    return r * std::cos(2.0 * std::numbers::pi * uniform());
  }
  // Uniform integer in [low, high] (for small ranges; 53 bits of resolution).
  std::int64_t integer(std::int64_t low, std::int64_t high) {
    const auto span = static_cast<double>(high - low) + 1;
    return std::min(high, low + static_cast<std::int64_t>(uniform() * span));
  }

 private:
  std::mt19937_64 engine_;
};

// A discrete distribution over indexes 0..n-1 by inverse CDF lookup.
class DiscreteTable {
 public:
  explicit DiscreteTable(const std::vector<double>& weights) {
    cdf_.reserve(weights.size());
    double total = 0;
    for (double w : weights) cdf_.push_back(total += w);
    for (double& c : cdf_) c /= total;
  }
  std::size_t sample(Sampler& s) const {
    const auto it = std::upper_bound(cdf_.begin(), cdf_.end(), s.uniform());
    return std::min(static_cast<std::size_t>(it - cdf_.begin()), cdf_.size() - 1);
  }

 private:
  std::vector<double> cdf_;
};

double normalCdf(double x) {
  return 0.5 * std::erfc(-x / std::numbers::sqrt2);
}

// Mean of clamp(exp(mu + sigma Z), lo, hi), Z standard normal.
double clampedLognormalMean(double mu, double sigma, double lo, double hi) {
  const double a = lo > 0 ? (std::log(lo) - mu) / sigma : -INFINITY;
  const double b = std::isfinite(hi) ? (std::log(hi) - mu) / sigma : INFINITY;
  return (lo > 0 ? lo * normalCdf(a) : 0.0) + (std::isfinite(hi) ? hi * (1 - normalCdf(b)) : 0.0) +
         std::exp(mu + sigma * sigma / 2) * (normalCdf(b - sigma) - normalCdf(a - sigma));
}

// A ClampedLognormal with its location solved so the clamped mean is `mean`.
class Lognormal {
 public:
  Lognormal(const ClampedLognormal& spec, const std::string& what) : spec_(spec) {
    if (spec.mean == 0) return;
    if (!(spec.mean > 0) || !(spec.sigma >= 0) || !(spec.min >= 0) || !(spec.min <= spec.max)) {
      throw InvalidArgument(what + ": needs mean > 0, sigma >= 0 and 0 <= min <= max");
    }
    if (!(spec.min <= spec.mean && spec.mean <= spec.max)) {
      throw InvalidArgument(what + ": mean " + std::to_string(spec.mean) +
                            " is outside [min, max] = [" + std::to_string(spec.min) + ", " +
                            std::to_string(spec.max) + "]");
    }
    if (spec.sigma == 0 || spec.min == spec.max) {
      mu_ = std::log(spec.mean);
      return;
    }
    // The clamped mean grows with mu: bisect.
    double low = std::log(spec.mean) - 60, high = std::log(spec.mean) + 60;
    for (int i = 0; i < 200; ++i) {
      const double mid = (low + high) / 2;
      (clampedLognormalMean(mid, spec.sigma, spec.min, spec.max) < spec.mean ? low : high) = mid;
    }
    mu_ = (low + high) / 2;
  }

  // Value for a standard normal draw z.
  double at(double z) const {
    if (spec_.mean == 0) return 0;
    return std::clamp(std::exp(mu_ + spec_.sigma * z), spec_.min, spec_.max);
  }
  double sample(Sampler& s) const { return spec_.mean == 0 ? 0 : at(s.normal()); }

 private:
  ClampedLognormal spec_;
  double mu_ = 0;
};

std::vector<double> jobSizeWeights(const JobSizeSpec& spec) {
  if (!(spec.singleTaskProb >= 0 && spec.singleTaskProb <= 1) || spec.maxTasks < 1 ||
      !(spec.powerOfTwoWeight > 0)) {
    throw InvalidArgument(
        "job size: needs singleTaskProb in [0, 1], maxTasks >= 1 and powerOfTwoWeight > 0");
  }
  // weights[k - 1] is the weight of size k.
  std::vector<double> weights(spec.maxTasks, 0.0);
  double tail = 0;
  for (std::uint32_t k = 2; k <= spec.maxTasks; ++k) {
    double w = std::pow(static_cast<double>(k), -spec.alpha);
    if ((k & (k - 1)) == 0) w *= spec.powerOfTwoWeight;
    weights[k - 1] = w;
    tail += w;
  }
  const double single = spec.maxTasks == 1 ? 1.0 : spec.singleTaskProb;
  for (double& w : weights) w = tail > 0 ? w / tail * (1 - single) : 0;
  weights[0] = single;
  return weights;
}

std::vector<std::uint32_t> scaleMix(const std::vector<MachineClass>& mix, std::uint32_t machines) {
  std::vector<std::uint32_t> counts;
  std::uint64_t total = 0;
  for (const MachineClass& c : mix) {
    counts.push_back(c.count);
    total += c.count;
  }
  if (machines == 0 || total == 0) return counts;
  // Largest remainder: floor each share, then give the leftover machines to
  // the classes with the largest fractional parts (earlier class on ties).
  std::vector<std::pair<double, std::size_t>> remainders;
  std::uint64_t assigned = 0;
  for (std::size_t i = 0; i < mix.size(); ++i) {
    const double share = static_cast<double>(mix[i].count) * machines / static_cast<double>(total);
    counts[i] = static_cast<std::uint32_t>(std::floor(share));
    assigned += counts[i];
    remainders.emplace_back(share - std::floor(share), i);
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t i = 0; assigned < machines; ++i, ++assigned) {
    ++counts[remainders[i % remainders.size()].second];
  }
  return counts;
}

Scalars standardScalars(double cpus, double mem, double disk) {
  Scalars s = Scalars::Zero();
  s[0] = cpus;
  s[1] = mem;
  s[2] = disk;
  return s;
}

// A user's request for a task of `duration`: the next queue limit at or
// above it (see SyntheticOptions::userEstimates).
Duration roundedUpEstimate(Duration duration) {
  using std::chrono::hours;
  using std::chrono::minutes;
  static constexpr std::array<Duration, 7> kLimits{minutes(15), hours(1),  hours(4), hours(12),
                                                   hours(24),   hours(48), hours(72)};
  for (const Duration limit : kLimits) {
    if (duration <= limit) return limit;
  }
  return std::chrono::ceil<hours>(duration);
}

std::string formatNumber(double value) {
  std::string text = std::to_string(value);
  text.erase(text.find_last_not_of('0') + 1);
  if (!text.empty() && text.back() == '.') text.pop_back();
  return text;
}

}  // namespace

std::vector<MachineClass> googleMachineMix() {
  // count, platform, cpu, memory: ../shared/traces/google2011/machines.csv
  // (Reiss et al., SoCC 2012, Table 1); the tests check this copy against it.
  struct Row {
    std::uint32_t count;
    const char* platform;
    double cpu, mem;
  };
  static constexpr Row kRows[] = {
      {6732, "B", 0.50, 0.50}, {3863, "B", 0.50, 0.25}, {1001, "B", 0.50, 0.75},
      {795, "C", 1.00, 1.00},  {126, "A", 0.25, 0.25},  {52, "B", 0.50, 0.12},
      {5, "B", 0.50, 0.03},    {5, "B", 0.50, 0.97},    {3, "C", 1.00, 0.50},
      {1, "B", 0.50, 0.06},
  };
  std::vector<MachineClass> mix;
  for (const Row& row : kRows) {
    MachineClass c;
    c.count = row.count;
    c.capacity = standardScalars(row.cpu, row.mem, 1.0);
    c.attributes.set("platform", row.platform);
    mix.push_back(std::move(c));
  }
  return mix;
}

std::vector<PresetInfo> syntheticPresets() {
  return {
      {"google-like",
       "12,583 machines in the Google 2011 mix (normalized units), diurnal arrivals, mostly "
       "single-task jobs with a power-law tail, heavy-tailed durations (mean 1 h), 3 roles"},
      {"hpc-like",
       "256 identical 16-core nodes; rigid gang jobs of one-processor tasks (sizes favour powers "
       "of two), heavy-tailed run times (mean 1.5 h) with users' estimates rounded up to queue "
       "limits, diurnal arrivals, SWF-like"},
  };
}

SyntheticOptions syntheticPreset(std::string_view name) {
  SyntheticOptions o;
  o.preset = std::string(name);
  if (name == "google-like") {
    o.machineMix = googleMachineMix();
    o.horizon = std::chrono::hours(6);
    o.arrivals = ArrivalProcess::kDiurnal;
    o.diurnalAmplitude = 0.3;
    o.load = 0.5;
    o.jobSize = {0.6, 5000, 1.5, 1.0};
    o.gang = false;
    o.differentMachineProb = 0.1;
    o.durationSeconds = {3600, 2.0, 1, 30.0 * 86400};
    o.cpus = {0.03, 1.0, 0.001, 0.5};
    o.mem = {0.03, 1.2, 0.0002, 0.5};
    o.disk = {0.0005, 1.0, 0.00001, 0.05};
    o.cpuMemCorrelation = 0.6;
    o.users = 500;
    o.userSkew = 1.1;
    o.roles = {{"production", 0.1, 9, 11}, {"batch", 0.5, 2, 8}, {"free", 0.4, 0, 1}};
    o.units = "normalized";
    return o;
  }
  if (name == "hpc-like") {
    MachineClass node;
    node.count = 256;
    node.capacity = standardScalars(16, 65536, 512000);
    o.machineMix = {node};
    o.horizon = std::chrono::hours(24 * 7);
    o.arrivals = ArrivalProcess::kDiurnal;
    o.diurnalAmplitude = 0.5;
    o.load = 0.7;
    o.jobSize = {0.25, 1024, 1.5, 6.0};
    o.gang = true;
    o.durationSeconds = {5400, 1.6, 30, 72.0 * 3600};
    o.userEstimates = true;
    o.cpus = {1, 0, 1, 1};
    o.mem = {1024, 1.0, 32, 4096};
    o.disk = {0, 0, 0, 0};
    o.cpuMemCorrelation = 0;
    o.users = 64;
    o.userSkew = 1.2;
    o.roles = {{"batch", 0.85, 0, 0}, {"debug", 0.1, 1, 1}, {"long", 0.05, 0, 0}};
    o.units = "cores, MB";
    return o;
  }
  std::string known;
  for (const PresetInfo& p : syntheticPresets()) known += (known.empty() ? "" : ", ") + p.name;
  throw InvalidArgument("unknown synthetic preset '" + std::string(name) + "' (known: " + known +
                        ")");
}

double meanJobSize(const JobSizeSpec& spec) {
  const std::vector<double> weights = jobSizeWeights(spec);
  double mean = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) mean += weights[i] * static_cast<double>(i + 1);
  return mean;
}

namespace {

// The cpus of the cluster the options describe.
double clusterCpus(const SyntheticOptions& o) {
  double cpus = 0;
  const std::vector<std::uint32_t> counts = scaleMix(o.machineMix, o.machines);
  for (std::size_t i = 0; i < counts.size(); ++i) cpus += counts[i] * o.machineMix[i].capacity[0];
  return cpus;
}

// The job sizes drawn: o.jobSize, but gangs no wider than the whole cluster
// can hold at the largest per-instance cpu demand (hpc-like on --machines 16
// drew 1,024-wide gangs for 256 cores: unschedulable).
JobSizeSpec jobSizeFor(const SyntheticOptions& o) {
  JobSizeSpec spec = o.jobSize;
  if (!o.gang || !(o.cpus.max > 0) || !std::isfinite(o.cpus.max)) return spec;
  const double widest = std::floor(clusterCpus(o) / o.cpus.max);
  if (widest >= 1 && widest < spec.maxTasks) spec.maxTasks = static_cast<std::uint32_t>(widest);
  return spec;
}

}  // namespace

double arrivalRate(const SyntheticOptions& o) {
  if (!(o.jobsPerHour >= 0 && o.jobsPerHour <= kMaxJobsPerHour)) {
    throw InvalidArgument(fmt::format(
        "synthetic workload: jobs per hour must be above 0 and at most {} (0: derive it from "
        "the load), got {}",
        kMaxJobsPerHour, o.jobsPerHour));
  }
  if (o.jobsPerHour > 0) return o.jobsPerHour / 3600.0;
  if (!(o.load > 0 && o.load <= kMaxLoad)) {
    throw InvalidArgument(fmt::format(
        "synthetic workload: load must be above 0 and at most {} (or set jobs per hour), got {}",
        kMaxLoad, o.load));
  }
  const double cpus = clusterCpus(o);
  const double work = meanJobSize(jobSizeFor(o)) * o.cpus.mean * o.durationSeconds.mean;
  if (!(cpus > 0) || !(work > 0)) {
    throw InvalidArgument(
        "synthetic workload: cannot derive an arrival rate from the load (the machines have no "
        "cpus or tasks need no cpu time); set jobs/hour instead");
  }
  return o.load * cpus / work;
}

Workload generateWorkload(const SyntheticOptions& o) {
  if (o.machineMix.empty()) throw InvalidArgument("synthetic workload: no machine classes");
  if (o.users < 1) throw InvalidArgument("synthetic workload: needs at least one user");
  if (o.roles.empty()) throw InvalidArgument("synthetic workload: needs at least one role");
  if (o.horizon < Duration::zero()) {
    throw InvalidArgument("synthetic workload: negative horizon (" +
                          std::to_string(toMicros(o.horizon)) + " us)");
  }
  if (o.horizon > kMaxSyntheticHorizon) {
    throw InvalidArgument(
        fmt::format("synthetic workload: horizon at most {} hours, got {} s",
                    std::chrono::duration_cast<std::chrono::hours>(kMaxSyntheticHorizon).count(),
                    toSeconds(o.horizon)));
  }
  for (const auto& [what, value, most] :
       {std::tuple{"machines", std::uint64_t{o.machines}, std::uint64_t{kMaxSyntheticMachines}},
        {"users", std::uint64_t{o.users}, std::uint64_t{kMaxSyntheticUsers}},
        {"jobs", o.maxJobs, kMaxSyntheticJobs},
        {"task instances", o.maxTasks, kMaxSyntheticTasks}}) {
    if (value > most) {
      throw InvalidArgument(
          fmt::format("synthetic workload: at most {} {}, got {}", most, what, value));
    }
  }
  if (o.horizon == Duration::zero() && o.maxJobs == 0 && o.maxTasks == 0) {
    throw InvalidArgument("synthetic workload: no end (horizon 0 and no job or task limit)");
  }
  if (!(o.diurnalAmplitude >= 0 && o.diurnalAmplitude <= 1) ||
      o.diurnalPeriod <= Duration::zero()) {
    throw InvalidArgument("synthetic workload: diurnal amplitude must be in [0, 1], period > 0");
  }
  if (!(o.differentMachineProb >= 0 && o.differentMachineProb <= 1) ||
      !(o.cpuMemCorrelation >= -1 && o.cpuMemCorrelation <= 1)) {
    throw InvalidArgument(
        "synthetic workload: differentMachineProb must be in [0, 1], cpuMemCorrelation in [-1, 1]");
  }
  const double rate = arrivalRate(o);
  if (!std::isfinite(rate) || !(rate > 0)) {
    throw InvalidArgument("synthetic workload: the arrival rate must be positive");
  }

  const Lognormal duration(o.durationSeconds, "duration");
  const Lognormal cpus(o.cpus, "cpus demand");
  const Lognormal mem(o.mem, "mem demand");
  const Lognormal disk(o.disk, "disk demand");
  const DiscreteTable sizes(jobSizeWeights(jobSizeFor(o)));
  std::vector<double> userWeights(o.users);
  for (std::uint32_t u = 0; u < o.users; ++u) {
    userWeights[u] = std::pow(static_cast<double>(u + 1), -o.userSkew);
  }
  const DiscreteTable users(userWeights);
  std::vector<double> roleWeights;
  for (const RoleSpec& r : o.roles) {
    if (!(r.weight >= 0) || r.priorityLow > r.priorityHigh) {
      throw InvalidArgument("synthetic workload: role '" + r.name +
                            "' needs weight >= 0 and priorityLow <= priorityHigh");
    }
    roleWeights.push_back(r.weight);
  }
  const DiscreteTable roles(roleWeights);

  Workload w;
  w.dims = Dimensions::standard();
  const std::vector<std::uint32_t> counts = scaleMix(o.machineMix, o.machines);
  for (std::size_t c = 0; c < counts.size(); ++c) {
    for (std::uint32_t i = 0; i < counts[c]; ++i) {
      Machine m;
      m.traceId = static_cast<std::int64_t>(w.machines.size());
      m.capacity = o.machineMix[c].capacity;
      m.attributes = o.machineMix[c].attributes;
      w.machines.push_back(std::move(m));
    }
  }
  if (w.machines.empty()) throw InvalidArgument("synthetic workload: zero machines");
  for (std::uint32_t u = 0; u < o.users; ++u) {
    std::string name = std::to_string(u + 1);
    w.users.push_back("u" + std::string(name.size() < 4 ? 4 - name.size() : 0, '0') + name);
  }
  for (const RoleSpec& r : o.roles) w.roles.push_back(r.name);

  Sampler s(o.seed);
  const double horizon = o.horizon > Duration::zero() ? toSeconds(o.horizon) : INFINITY;
  const double peakRate =
      rate * (o.arrivals == ArrivalProcess::kDiurnal ? 1 + o.diurnalAmplitude : 1);
  const double period = toSeconds(o.diurnalPeriod);
  const double rho = o.cpuMemCorrelation;
  double t = 0;
  std::uint64_t instances = 0;  // task instances so far (sum of counts)
  while (true) {
    // Next arrival; diurnal arrivals by thinning a Poisson process of the
    // peak rate (Lewis and Shedler), which keeps the mean rate exact.
    t += s.exponential(peakRate);
    if (o.arrivals == ArrivalProcess::kDiurnal) {
      while (s.uniform() * (1 + o.diurnalAmplitude) >
             1 + o.diurnalAmplitude * std::sin(2 * std::numbers::pi * t / period)) {
        t += s.exponential(peakRate);
      }
    }
    if (t >= horizon) break;
    if (o.maxJobs != 0 && w.jobs.size() >= o.maxJobs) break;

    Job job;
    job.traceId = static_cast<std::int64_t>(w.jobs.size());
    job.submit = fromMicros(std::llround(t * 1e6));
    auto size = static_cast<std::uint32_t>(sizes.sample(s) + 1);
    if (o.maxTasks != 0) {
      size = static_cast<std::uint32_t>(std::min<std::uint64_t>(size, o.maxTasks - instances));
    }
    job.user = static_cast<std::uint32_t>(users.sample(s));
    const std::size_t role = roles.sample(s);
    job.role = static_cast<std::uint32_t>(role);
    job.priority =
        static_cast<std::int32_t>(s.integer(o.roles[role].priorityLow, o.roles[role].priorityHigh));
    job.gang = o.gang;
    job.firstTask = w.tasks.size();
    // A gang's tasks are identical (one demand, one duration): one record.
    job.taskCount = o.gang ? 1 : size;

    const double zc = s.normal();
    const double zm = rho * zc + std::sqrt(1 - rho * rho) * s.normal();
    const Scalars demand = standardScalars(cpus.at(zc), mem.at(zm), disk.sample(s));
    // One entry per job, shared by its tasks: drawn from continuous
    // distributions, demands of different jobs rarely repeat.
    const auto demandId = static_cast<std::uint32_t>(w.demands.size());
    w.demands.push_back(demand);
    const bool different = size > 1 && s.uniform() < o.differentMachineProb;
    const double gangSeconds = o.gang ? duration.sample(s) : 0;
    for (std::uint32_t k = 0; k < job.taskCount; ++k) {
      Task task;
      task.job = static_cast<std::uint32_t>(w.jobs.size());
      task.index = k;
      task.count = o.gang ? size : 1;
      task.demand = demandId;
      const double seconds = o.gang ? gangSeconds : duration.sample(s);
      task.duration = Duration{std::max<std::int64_t>(1, std::llround(seconds * 1e6))};
      if (o.userEstimates) task.estimate = roundedUpEstimate(task.duration);
      task.differentMachine = different;
      w.tasks.push_back(task);
    }
    instances += size;
    w.jobs.push_back(std::move(job));
    if (o.maxTasks != 0 && instances >= o.maxTasks) break;
  }
  // A workload without jobs replays nothing; say why here, not at `allot sim`.
  if (w.jobs.empty()) {
    throw InvalidArgument(fmt::format(
        "synthetic workload: no job arrives within the horizon of {:.4g} h (on average {:.3g} "
        "jobs/h, from the load on {} machine{}): lengthen the horizon, or raise the load, the "
        "arrival rate or the machines",
        horizon / 3600, rate * 3600, w.machines.size(), w.machines.size() == 1 ? "" : "s"));
  }

  w.meta["format"] = "synthetic";
  w.meta["preset"] = o.preset;
  w.meta["seed"] = std::to_string(o.seed);
  w.meta["units"] = o.units;
  w.meta["arrivals"] = o.arrivals == ArrivalProcess::kDiurnal ? "diurnal" : "poisson";
  w.meta["jobs_per_hour"] = formatNumber(rate * 3600);
  w.meta["load"] = o.jobsPerHour > 0 ? "" : formatNumber(o.load);
  w.meta["horizon_us"] = std::to_string(toMicros(o.horizon));
  if (w.meta["load"].empty()) w.meta.erase("load");
  return w;
}

}  // namespace allot::traces
