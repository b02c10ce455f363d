#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace probesnat::metrics {

// Label values, in the order of the family's label names.
using LabelValues = std::vector<std::string>;

// A value that only goes up. Lock-free: one relaxed atomic add.
class Counter {
 public:
  void Inc(double delta = 1.0) {
    if (delta > 0) {
      value_.fetch_add(delta, std::memory_order_relaxed);
    }
  }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// A value that goes up and down. Lock-free.
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Observations counted in buckets with fixed upper bounds (and +Inf). Observe is lock-free: a scan
// of the bounds and two relaxed atomic adds. A reader may see an observation in the buckets before
// it is in the sum; the count is always the sum of the buckets.
class Histogram {
 public:
  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    uint64_t count = 0;
    double sum = 0;
  };

  // `bounds` are strictly increasing and finite; the family checks that.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  Snapshot Read() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1 (the last is +Inf)
  std::atomic<double> sum_{0.0};
};

enum class MetricType { kCounter, kGauge, kHistogram };

// One metric name with its help text, label names and one child per combination of label values.
// Children are created on first use and live as long as the registry, so a pointer returned by
// With() can be kept and used without any lookup or lock.
template <typename Metric>
class Family {
 public:
  // The child for `values` (as many as the family has label names), created if new.
  // INVALID_ARGUMENT for a wrong number of values.
  absl::StatusOr<Metric*> With(const LabelValues& values);

  const std::string& name() const { return name_; }

 private:
  friend class Registry;
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::function<std::unique_ptr<Metric>()> make)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        make_(std::move(make)) {}

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<Metric>()> make_;
  mutable std::mutex mu_;
  std::map<LabelValues, std::unique_ptr<Metric>> children_;  // guarded by mu_
};

// A value computed when the registry is rendered (a scrape), e.g. pods by phase from the pod
// store. The callback runs on the scraping thread; samples whose number of label values differs
// from the family's label names are left out, samples with equal label values add up.
struct GaugeSample {
  LabelValues labels;
  double value = 0;
};
using GaugeCallback = std::function<std::vector<GaugeSample>()>;

// The metrics of one process and their rendering in the Prometheus text format 0.0.4. Families
// are rendered in the order they were added, children ordered by label values. Registration
// refuses invalid metric or label names and a name used twice (INVALID_ARGUMENT /
// ALREADY_EXISTS). A family without labels has its one child from the start.
class Registry {
 public:
  absl::StatusOr<Family<Counter>*> AddCounter(const std::string& name, const std::string& help,
                                              std::vector<std::string> label_names = {});
  absl::StatusOr<Family<Gauge>*> AddGauge(const std::string& name, const std::string& help,
                                          std::vector<std::string> label_names = {});
  // `bounds`: strictly increasing finite upper bounds; +Inf is implied.
  absl::StatusOr<Family<Histogram>*> AddHistogram(const std::string& name, const std::string& help,
                                                  std::vector<std::string> label_names,
                                                  std::vector<double> bounds);
  absl::Status AddGaugeCallback(const std::string& name, const std::string& help,
                                std::vector<std::string> label_names, GaugeCallback callback);

  // Every family as Prometheus text exposition format 0.0.4.
  std::string Render() const;

 private:
  struct Entry {
    MetricType type;
    std::string name;
    std::string help;
    std::vector<std::string> label_names;
    Family<Counter>* counter = nullptr;
    Family<Gauge>* gauge = nullptr;
    Family<Histogram>* histogram = nullptr;
    GaugeCallback callback = nullptr;
  };
  absl::Status CheckNew(const std::string& name, const std::vector<std::string>& label_names,
                        MetricType type) const;

  mutable std::mutex mu_;  // guards entries_ (registration vs rendering), never held by With()
  std::vector<Entry> entries_;
  std::vector<std::unique_ptr<Family<Counter>>> counters_;
  std::vector<std::unique_ptr<Family<Gauge>>> gauges_;
  std::vector<std::unique_ptr<Family<Histogram>>> histograms_;
};

// "Content-Type" of Registry::Render's output.
inline constexpr char kTextFormatContentType[] = "text/plain; version=0.0.4; charset=utf-8";

template <typename Metric>
absl::StatusOr<Metric*> Family<Metric>::With(const LabelValues& values) {
  if (values.size() != label_names_.size()) {
    return absl::InvalidArgumentError("metric " + name_ + " has " +
                                      std::to_string(label_names_.size()) + " labels, got " +
                                      std::to_string(values.size()) + " values");
  }
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<Metric>& child = children_[values];
  if (child == nullptr) {
    child = make_();
  }
  return child.get();
}

}  // namespace probesnat::metrics
