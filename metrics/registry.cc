#include "metrics/registry.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "metrics/text_format.h"

namespace probesnat::metrics {
namespace {

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// {a="x",b="y"} for the label names and values, with `extra` (e.g. le="0.5") last; empty when
// there are no labels at all.
std::string LabelSet(const std::vector<std::string>& names, const LabelValues& values,
                     const std::string& extra = "") {
  if (names.empty() && extra.empty()) {
    return "";
  }
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", names[i], "=\"", EscapeLabelValue(values[i]), "\"");
  }
  if (!extra.empty()) {
    absl::StrAppend(&out, names.empty() ? "" : ",", extra);
  }
  out += "}";
  return out;
}

void AppendHeader(std::string& out, const std::string& name, const std::string& help,
                  MetricType type) {
  absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(help), "\n# TYPE ", name, " ",
                  TypeName(type), "\n");
}

template <typename Metric, typename Print>
void AppendChildren(std::mutex& mu,
                    const std::map<LabelValues, std::unique_ptr<Metric>>& children, Print print) {
  std::lock_guard<std::mutex> lock(mu);
  for (const auto& [values, metric] : children) {
    print(values, *metric);
  }
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    buckets_[i].store(0, std::memory_order_relaxed);
  }
}

void Histogram::Observe(double value) {
  // A value equal to a bound belongs to that bound's bucket (le = "less or equal").
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.cumulative.reserve(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

absl::Status Registry::CheckNew(const std::string& name,
                                const std::vector<std::string>& label_names,
                                MetricType type) const {
  if (!IsValidMetricName(name)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid metric name \"", name, "\""));
  }
  for (size_t i = 0; i < label_names.size(); ++i) {
    const std::string& label = label_names[i];
    if (!IsValidLabelName(label)) {
      return absl::InvalidArgumentError(
          absl::StrCat("metric ", name, ": invalid label name \"", label, "\""));
    }
    if (type == MetricType::kHistogram && label == "le") {
      return absl::InvalidArgumentError(
          absl::StrCat("histogram ", name, ": the label name le is reserved for buckets"));
    }
    if (std::find(label_names.begin(), label_names.begin() + i, label) !=
        label_names.begin() + i) {
      return absl::InvalidArgumentError(
          absl::StrCat("metric ", name, ": label ", label, " given twice"));
    }
  }
  // A histogram also owns name_bucket, name_sum and name_count.
  for (const Entry& e : entries_) {
    for (const char* suffix : {"", "_bucket", "_sum", "_count"}) {
      const bool clash = (e.name == name + suffix) ||
                         (e.type == MetricType::kHistogram && e.name + suffix == name) ||
                         (type == MetricType::kHistogram && e.name == name + suffix);
      if (clash) {
        return absl::AlreadyExistsError(
            absl::StrCat("metric ", name, " clashes with the registered ", e.name));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Family<Counter>*> Registry::AddCounter(const std::string& name,
                                                      const std::string& help,
                                                      std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status st = CheckNew(name, label_names, MetricType::kCounter); !st.ok()) {
    return st;
  }
  counters_.emplace_back(new Family<Counter>(name, help, label_names,
                                             [] { return std::make_unique<Counter>(); }));
  Family<Counter>* family = counters_.back().get();
  entries_.push_back(
      Entry{.type = MetricType::kCounter, .name = name, .help = help, .label_names = label_names,
            .counter = family});
  if (label_names.empty()) {
    (void)family->With({});
  }
  return family;
}

absl::StatusOr<Family<Gauge>*> Registry::AddGauge(const std::string& name, const std::string& help,
                                                  std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status st = CheckNew(name, label_names, MetricType::kGauge); !st.ok()) {
    return st;
  }
  gauges_.emplace_back(
      new Family<Gauge>(name, help, label_names, [] { return std::make_unique<Gauge>(); }));
  Family<Gauge>* family = gauges_.back().get();
  entries_.push_back(Entry{.type = MetricType::kGauge, .name = name, .help = help,
                           .label_names = label_names, .gauge = family});
  if (label_names.empty()) {
    (void)family->With({});
  }
  return family;
}

absl::StatusOr<Family<Histogram>*> Registry::AddHistogram(const std::string& name,
                                                          const std::string& help,
                                                          std::vector<std::string> label_names,
                                                          std::vector<double> bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status st = CheckNew(name, label_names, MetricType::kHistogram); !st.ok()) {
    return st;
  }
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "histogram ", name, ": bucket bounds must be finite and strictly increasing"));
    }
  }
  histograms_.emplace_back(new Family<Histogram>(
      name, help, label_names, [bounds] { return std::make_unique<Histogram>(bounds); }));
  Family<Histogram>* family = histograms_.back().get();
  entries_.push_back(Entry{.type = MetricType::kHistogram, .name = name, .help = help,
                           .label_names = label_names, .histogram = family});
  if (label_names.empty()) {
    (void)family->With({});
  }
  return family;
}

absl::Status Registry::AddGaugeCallback(const std::string& name, const std::string& help,
                                        std::vector<std::string> label_names,
                                        GaugeCallback callback) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status st = CheckNew(name, label_names, MetricType::kGauge); !st.ok()) {
    return st;
  }
  entries_.push_back(Entry{.type = MetricType::kGauge, .name = name, .help = help,
                           .label_names = std::move(label_names), .callback = std::move(callback)});
  return absl::OkStatus();
}

std::string Registry::Render() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const Entry& e : entries_) {
    AppendHeader(out, e.name, e.help, e.type);
    if (e.counter != nullptr) {
      AppendChildren(e.counter->mu_, e.counter->children_,
                     [&](const LabelValues& values, const Counter& c) {
                       absl::StrAppend(&out, e.name, LabelSet(e.label_names, values), " ",
                                       FormatValue(c.Value()), "\n");
                     });
    } else if (e.gauge != nullptr) {
      AppendChildren(e.gauge->mu_, e.gauge->children_,
                     [&](const LabelValues& values, const Gauge& g) {
                       absl::StrAppend(&out, e.name, LabelSet(e.label_names, values), " ",
                                       FormatValue(g.Value()), "\n");
                     });
    } else if (e.histogram != nullptr) {
      AppendChildren(
          e.histogram->mu_, e.histogram->children_,
          [&](const LabelValues& values, const Histogram& h) {
            Histogram::Snapshot s = h.Read();
            const std::vector<double>& bounds = h.bounds();
            for (size_t i = 0; i <= bounds.size(); ++i) {
              const std::string le = i < bounds.size() ? FormatValue(bounds[i]) : "+Inf";
              absl::StrAppend(&out, e.name, "_bucket",
                              LabelSet(e.label_names, values, absl::StrCat("le=\"", le, "\"")),
                              " ", s.cumulative[i], "\n");
            }
            const std::string labels = LabelSet(e.label_names, values);
            absl::StrAppend(&out, e.name, "_sum", labels, " ", FormatValue(s.sum), "\n", e.name,
                            "_count", labels, " ", s.count, "\n");
          });
    } else if (e.callback) {
      // One series per label set (Prometheus refuses a scrape with duplicates): equal ones add up.
      std::map<LabelValues, double> series;
      for (GaugeSample& sample : e.callback()) {
        if (sample.labels.size() == e.label_names.size()) {
          series[std::move(sample.labels)] += sample.value;
        }
      }
      for (const auto& [labels, value] : series) {
        absl::StrAppend(&out, e.name, LabelSet(e.label_names, labels), " ", FormatValue(value),
                        "\n");
      }
    }
  }
  return out;
}

}  // namespace probesnat::metrics
