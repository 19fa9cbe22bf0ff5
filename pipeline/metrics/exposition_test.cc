// Prometheus exposition (pipeline/metrics/exposition.h) of a snapshot of a few teams: every
// line is valid text format 0.0.4, each family has one HELP and one TYPE before its samples,
// counters end in _total, histograms are cumulative up to le="+Inf" = _count, windowed gauges
// carry every window label including "today", values are the snapshot's, the per-team
// service-level target follows Engine::SetTeamProfile, and promtool accepts the body.
#include "pipeline/metrics/exposition.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "operators/engine.h"
#include "operators/snapshot.h"

namespace ccpulse::metrics {
namespace {

using operators::kMinuteMs;
using operators::kSecondMs;
using schemas::EventType;

constexpr operators::TimeMs kT0 = 1'772'442'000'000;  // 2026-03-02T09:00:00Z
const std::string kOddTeam = "q\"b\\n";                 // needs label escaping

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// Collects events and feeds them to an engine in event-time order.
class EventFeed {
 public:
  explicit EventFeed(operators::Engine* engine) : engine_(engine) {}
  void Add(EventType type, int64_t offset_s, const std::string& interaction, const std::string& team,
           const std::string& tenant = "default") {
    schemas::Event e;
    e.type = type;
    e.time_ms = kT0 + offset_s * kSecondMs;
    e.event_id = Keep(interaction + "-" + std::to_string(events_.size()));
    e.interaction_id = Keep(interaction);
    e.team = Keep(team);
    e.tenant = Keep(tenant);
    e.channel = schemas::Channel::kVoice;
    events_.push_back(e);
  }
  void Finish() {
    std::stable_sort(events_.begin(), events_.end(),
                     [](const schemas::Event& a, const schemas::Event& b) { return a.time_ms < b.time_ms; });
    for (const schemas::Event& e : events_) {
      ASSERT_EQ(engine_->OnEvent(e, 0), operators::Engine::Accepted::kApplied);
      engine_->Advance(0, kMinuteMs, [](operators::TimeMs) {});
    }
    engine_->Finish(kMinuteMs, [](operators::TimeMs) {});
  }

 private:
  std::string_view Keep(std::string s) { return strings_.emplace_back(std::move(s)); }
  operators::Engine* engine_;
  std::deque<std::string> strings_;
  std::vector<schemas::Event> events_;
};

// One parsed sample line.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped values
  double value = 0;
  std::string text;  // the line
};

// A parsed /metrics body: families in order, their HELP/TYPE, their samples.
struct Exposition {
  std::vector<std::string> errors;
  std::map<std::string, std::string> types;  // family -> type
  std::map<std::string, int> help_count, type_count;
  std::vector<Sample> samples;
  std::map<std::string, std::vector<const Sample*>> by_family;

  // The sample with this name and exactly these labels, or null.
  const Sample* Find(const std::string& name, const std::map<std::string, std::string>& labels) const {
    for (const Sample& s : samples) {
      if (s.name == name && s.labels == labels) return &s;
    }
    return nullptr;
  }
};

const std::regex& SampleLine() {
  static const std::regex re(
      R"(^[a-zA-Z_:][a-zA-Z0-9_:]*)"
      R"((\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*,?)?\})?)"
      R"( ([+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?Inf|NaN)( -?[0-9]+)?$)");
  return re;
}

double ParseValue(const std::string& text) {
  if (text == "+Inf" || text == "Inf") return INFINITY;
  if (text == "-Inf") return -INFINITY;
  if (text == "NaN") return NAN;
  return std::stod(text);
}

// The family a sample belongs to: its own name, or the histogram/summary it is part of.
std::string FamilyOf(const std::string& name, const std::map<std::string, std::string>& types) {
  if (types.count(name)) return name;
  for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
    if (name.size() > suffix.size() && name.ends_with(suffix)) {
      const std::string base = name.substr(0, name.size() - suffix.size());
      auto it = types.find(base);
      if (it != types.end() && (it->second == "histogram" || (it->second == "summary" && suffix != "_bucket"))) {
        return base;
      }
    }
  }
  return "";
}

Exposition Parse(const std::string& body) {
  Exposition out;
  std::istringstream in(body);
  std::string line;
  std::string current;  // family whose samples may follow
  std::set<std::string> closed;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const std::string where = "line " + std::to_string(number) + ": " + line;
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream words(line);
      std::string hash, kind, name;
      words >> hash >> kind >> name;
      if (kind != "HELP" && kind != "TYPE") continue;  // a plain comment
      if (name.empty()) out.errors.push_back("comment without a metric name: " + where);
      if (closed.count(name)) out.errors.push_back("family appears twice: " + where);
      if (name != current && !current.empty()) closed.insert(current);
      current = name;
      if (kind == "HELP") {
        ++out.help_count[name];
      } else {
        std::string type;
        words >> type;
        if (!std::regex_match(type, std::regex("counter|gauge|histogram|summary|untyped"))) {
          out.errors.push_back("bad type: " + where);
        }
        ++out.type_count[name];
        out.types[name] = type;
        if (out.by_family.count(name)) out.errors.push_back("TYPE after samples: " + where);
      }
      continue;
    }
    if (!std::regex_match(line, SampleLine())) {
      out.errors.push_back("not `name{labels} value`: " + where);
      continue;
    }
    Sample s;
    s.text = line;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (line[i] == '{') {
      ++i;
      while (line[i] != '}') {
        const size_t eq = line.find('=', i);
        const std::string label = line.substr(i, eq - i);
        std::string value;
        size_t j = eq + 2;
        for (; line[j] != '"'; ++j) {
          if (line[j] == '\\') {
            ++j;
            value.push_back(line[j] == 'n' ? '\n' : line[j]);
          } else {
            value.push_back(line[j]);
          }
        }
        if (!s.labels.emplace(label, value).second) out.errors.push_back("label twice: " + where);
        i = j + 1;
        if (line[i] == ',') ++i;
      }
      ++i;
    }
    s.value = ParseValue(line.substr(i + 1, line.find(' ', i + 1) - i - 1));
    const std::string family = FamilyOf(s.name, out.types);
    if (family.empty()) {
      out.errors.push_back("sample without a TYPE: " + where);
    } else if (family != current) {
      out.errors.push_back("sample outside its family's block: " + where);
    }
    out.samples.push_back(std::move(s));
  }
  for (const Sample& s : out.samples) out.by_family[FamilyOf(s.name, out.types)].push_back(&s);
  std::set<std::pair<std::string, std::map<std::string, std::string>>> seen;
  for (const Sample& s : out.samples) {
    if (!seen.insert({s.name, s.labels}).second) out.errors.push_back("duplicate series: " + s.text);
  }
  return out;
}

class ExpositionTest : public ::testing::Test {
 protected:
  ExpositionTest() : engine_(operators::MetricOptions{}) {}

  void SetUp() override {
    operators::Engine::TeamProfile care;
    care.sl_target = 0.9;
    engine_.SetTeamProfile("default", "care", care);
    EventFeed f(&engine_);
    // sales: 4 handled, 1 escalated; waits 10, 25, 5, 2 s.
    f.Add(EventType::kQueued, 0, "s1", "sales");
    f.Add(EventType::kAnswered, 10, "s1", "sales");
    f.Add(EventType::kResolved, 100, "s1", "sales");
    f.Add(EventType::kQueued, 5, "s2", "sales");
    f.Add(EventType::kAnswered, 30, "s2", "sales");
    f.Add(EventType::kEscalated, 120, "s2", "sales");
    f.Add(EventType::kQueued, 10, "s3", "sales");
    f.Add(EventType::kAnswered, 15, "s3", "sales");
    f.Add(EventType::kTransferred, 60, "s3", "sales");
    f.Add(EventType::kQueued, 20, "s4", "sales");
    f.Add(EventType::kAnswered, 22, "s4", "sales");
    f.Add(EventType::kClosed, 200, "s4", "sales");
    // care: 2 resolved, one waiting.
    f.Add(EventType::kQueued, 30, "c1", "care");
    f.Add(EventType::kAnswered, 40, "c1", "care");
    f.Add(EventType::kResolved, 90, "c1", "care");
    f.Add(EventType::kQueued, 50, "c2", "care");
    f.Add(EventType::kAnswered, 95, "c2", "care");
    f.Add(EventType::kResolved, 150, "c2", "care");
    f.Add(EventType::kQueued, 200, "c3", "care");
    // A team whose name needs escaping, in another tenant: one abandon, nothing handled.
    f.Add(EventType::kQueued, 10, "o1", kOddTeam, "acme");
    f.Add(EventType::kAbandoned, 70, "o1", kOddTeam, "acme");
    f.Finish();
    snapshot_ = builder_.Build(engine_, NowMs(), NowMs());

    StreamCounters counters;
    counters.records = 30;
    counters.decoded = 27;
    counters.invalid[static_cast<size_t>(schemas::DecodeError::kInvalidJson)] = 2;
    counters.late = 1;
    counters.latency_buckets[3] = 20;
    counters.latency_buckets[kLatencyBucketsSeconds.size()] = 1;
    counters.latency_sum_s = 12;
    counters.latency_count = 21;
    self_.Update(counters, engine_, {{"interactions[0]", 5}, {"interactions[1]", 0}}, 3, 0);
    AlertingConfig alerting;
    alerting.log = false;
    alerting::AlertDispatcher dispatcher(alerting, nullptr);
    self_.UpdateAlerts(dispatcher, 2);
    RepartitionCounts stage;
    stage.forwarded = 10;
    stage.committed = 2;
    stage.delay_buckets.assign(kLatencyBucketsSeconds.size() + 1, 0);
    stage.delay_buckets[7] = 9;   // <= 0.1 s
    stage.delay_buckets[10] = 1;  // <= 1 s
    stage.delay_sum_s = 1.5;
    self_.UpdateRepartition(stage);

    RenderMetrics(self_, snapshot_.get(), NowMs(), &body_);
    exposition_ = Parse(body_);
  }

  std::map<std::string, std::string> Team(const std::string& tenant, const std::string& team,
                                          std::map<std::string, std::string> extra = {}) {
    extra["tenant"] = tenant;
    extra["team"] = team;
    return extra;
  }
  const operators::TeamView& View(const std::string& tenant, const std::string& team) {
    const int i = snapshot_->Find(tenant, team);
    EXPECT_GE(i, 0);
    return *snapshot_->teams[static_cast<size_t>(std::max(i, 0))];
  }

  operators::Engine engine_;
  operators::SnapshotBuilder builder_;
  std::shared_ptr<const operators::MetricsSnapshot> snapshot_;
  SelfMetrics self_;
  std::string body_;
  Exposition exposition_;
};

TEST_F(ExpositionTest, EveryLineIsValidTextFormat) {
  EXPECT_THAT(exposition_.errors, testing::IsEmpty()) << body_;
  EXPECT_GT(exposition_.samples.size(), 100u);
  EXPECT_EQ(body_.back(), '\n');
}

TEST_F(ExpositionTest, EachFamilyHasOneHelpAndOneTypeBeforeItsSamples) {
  for (const auto& [family, samples] : exposition_.by_family) {
    SCOPED_TRACE(family);
    EXPECT_EQ(exposition_.help_count[family], 1);
    EXPECT_EQ(exposition_.type_count[family], 1);
  }
  for (const auto& [family, count] : exposition_.type_count) {
    EXPECT_EQ(exposition_.help_count[family], 1) << family;
  }
}

TEST_F(ExpositionTest, CountersEndInTotal) {
  int counters = 0;
  for (const auto& [family, type] : exposition_.types) {
    if (type != "counter") continue;
    ++counters;
    EXPECT_TRUE(family.ends_with("_total")) << family;
  }
  EXPECT_GT(counters, 10);
  for (const auto& [family, type] : exposition_.types) {
    if (type != "counter") {
      EXPECT_FALSE(family.ends_with("_total")) << family << " is a " << type;
    }
  }
}

TEST_F(ExpositionTest, HistogramBucketsAreCumulativeAndEndAtInfEqualToCount) {
  int histograms = 0;
  for (const auto& [family, type] : exposition_.types) {
    if (type != "histogram") continue;
    SCOPED_TRACE(family);
    // Series by their labels without `le`.
    std::map<std::map<std::string, std::string>, std::vector<const Sample*>> buckets;
    std::map<std::map<std::string, std::string>, double> counts, sums;
    for (const Sample* s : exposition_.by_family[family]) {
      std::map<std::string, std::string> labels = s->labels;
      if (s->name == family + "_bucket") {
        ASSERT_TRUE(labels.count("le")) << s->text;
        labels.erase("le");
        buckets[labels].push_back(s);
      } else if (s->name == family + "_count") {
        counts[labels] = s->value;
      } else if (s->name == family + "_sum") {
        sums[labels] = s->value;
      } else {
        ADD_FAILURE() << "unexpected sample in a histogram: " << s->text;
      }
    }
    ASSERT_FALSE(buckets.empty());
    for (const auto& [labels, series] : buckets) {
      ++histograms;
      double previous_le = -INFINITY, previous = 0;
      for (const Sample* b : series) {
        const double le = ParseValue(b->labels.at("le"));
        EXPECT_GT(le, previous_le) << b->text;
        EXPECT_GE(b->value, previous) << "not cumulative: " << b->text;
        previous_le = le;
        previous = b->value;
      }
      EXPECT_EQ(series.back()->labels.at("le"), "+Inf");
      ASSERT_TRUE(counts.count(labels)) << series.back()->text;
      EXPECT_EQ(series.back()->value, counts[labels]);
      EXPECT_TRUE(sums.count(labels)) << series.back()->text;
    }
  }
  EXPECT_GE(histograms, 8);  // wait and handle for 3 teams, the processing latency, the stage delay
}

TEST_F(ExpositionTest, RepartitionDelayIsTheStagesCountsAsAHistogram) {
  auto value = [&](const std::string& name, std::map<std::string, std::string> labels = {}) {
    const Sample* s = exposition_.Find(name, labels);
    return s ? s->value : -1;
  };
  EXPECT_EQ(value("ccpulse_repartition_delay_seconds_count"), 10);
  EXPECT_EQ(value("ccpulse_repartition_delay_seconds_sum"), 1.5);
  EXPECT_EQ(value("ccpulse_repartition_delay_seconds_bucket", {{"le", "0.05"}}), 0);
  EXPECT_EQ(value("ccpulse_repartition_delay_seconds_bucket", {{"le", "0.1"}}), 9);
  EXPECT_EQ(value("ccpulse_repartition_delay_seconds_bucket", {{"le", "1"}}), 10);
  EXPECT_EQ(value("ccpulse_repartitioned_records_total", {{"result", "forwarded"}}), 10);
}

// The team tier's channel ends: one series per (team partition, channel) read now; a channel
// no longer read (its partition revoked) loses its series.
TEST_F(ExpositionTest, ChannelEndsFollowTheChannelsRead) {
  SelfMetrics self;
  self.UpdateChannelEnds({{"teams[0]", 0, 1'700'000'010'000}, {"teams[0]", 1, 1'700'000'000'000},
                          {"teams[1]", 0, 1'700'000'020'500}});
  std::string body;
  RenderMetrics(self, nullptr, NowMs(), &body);
  Exposition first = Parse(body);
  const std::string name = "ccpulse_team_feed_channel_end_seconds";
  const Sample* slow = first.Find(name, {{"team_partition", "teams[0]"}, {"channel", "1"}});
  ASSERT_NE(slow, nullptr) << body;
  EXPECT_EQ(slow->value, 1'700'000'000);
  const Sample* other = first.Find(name, {{"team_partition", "teams[1]"}, {"channel", "0"}});
  ASSERT_NE(other, nullptr) << body;
  EXPECT_EQ(other->value, 1'700'000'020.5);

  self.UpdateChannelEnds({{"teams[1]", 0, 1'700'000'030'000}});
  body.clear();
  RenderMetrics(self, nullptr, NowMs(), &body);
  Exposition second = Parse(body);
  EXPECT_EQ(second.Find(name, {{"team_partition", "teams[0]"}, {"channel", "1"}}), nullptr) << body;
  ASSERT_NE(second.Find(name, {{"team_partition", "teams[1]"}, {"channel", "0"}}), nullptr) << body;
  EXPECT_EQ(second.Find(name, {{"team_partition", "teams[1]"}, {"channel", "0"}})->value, 1'700'000'030);
}

TEST_F(ExpositionTest, TeamHistogramsHoldTheSnapshotsDurations) {
  const auto& totals = View("default", "sales").totals;
  const Sample* count = exposition_.Find("ccpulse_team_wait_seconds_count", Team("default", "sales"));
  const Sample* sum = exposition_.Find("ccpulse_team_wait_seconds_sum", Team("default", "sales"));
  ASSERT_TRUE(count && sum);
  EXPECT_EQ(count->value, 4);
  EXPECT_DOUBLE_EQ(sum->value, static_cast<double>(totals.wait_ms) / 1000);
  EXPECT_DOUBLE_EQ(sum->value, 10 + 25 + 5 + 2);
  // 2 s and 5 s are within le="5"; 10 s within le="10"; 25 s within le="30".
  auto bucket = [&](const std::string& le) {
    const Sample* s = exposition_.Find("ccpulse_team_wait_seconds_bucket", Team("default", "sales", {{"le", le}}));
    return s ? s->value : -1;
  };
  EXPECT_EQ(bucket("5"), 2);
  EXPECT_EQ(bucket("10"), 3);
  EXPECT_EQ(bucket("20"), 3);
  EXPECT_EQ(bucket("30"), 4);
  EXPECT_EQ(bucket("+Inf"), 4);
}

TEST_F(ExpositionTest, WindowedGaugesCarryEveryWindowIncludingToday) {
  const std::set<std::string> all = {"5m", "15m", "1h", "today"};
  for (const std::string family : {"ccpulse_team_escalation_ratio", "ccpulse_team_transfer_ratio",
                                   "ccpulse_team_service_level_ratio", "ccpulse_team_asa_seconds",
                                   "ccpulse_team_aht_seconds", "ccpulse_team_arrivals_per_minute"}) {
    SCOPED_TRACE(family);
    EXPECT_EQ(exposition_.types[family], "gauge");
    std::set<std::string> windows;
    for (const Sample* s : exposition_.by_family[family]) {
      if (s->labels.at("team") == "sales") windows.insert(s->labels.at("window"));
    }
    EXPECT_EQ(windows, all);
  }
}

TEST_F(ExpositionTest, RatiosEqualTheSnapshotsNumeratorOverDenominator) {
  const std::vector<std::string>& labels = snapshot_->window_labels;
  ASSERT_EQ(labels.size(), 4u);
  const std::pair<std::string, operators::Ratio operators::TeamMetrics::*> ratios[] = {
      {"ccpulse_team_escalation_ratio", &operators::TeamMetrics::escalation},
      {"ccpulse_team_transfer_ratio", &operators::TeamMetrics::transfer},
      {"ccpulse_team_fcr_provisional_ratio", &operators::TeamMetrics::fcr_provisional},
      {"ccpulse_team_abandon_ratio", &operators::TeamMetrics::abandon},
      {"ccpulse_team_service_level_ratio", &operators::TeamMetrics::service_level}};
  int checked = 0;
  for (const auto& team : snapshot_->teams) {
    for (size_t w = 0; w < labels.size(); ++w) {
      for (const auto& [name, member] : ratios) {
        const operators::Ratio& ratio = team->windows[w].*member;
        const Sample* s = exposition_.Find(name, Team(team->tenant, team->team, {{"window", labels[w]}}));
        if (ratio.denominator == 0) {
          EXPECT_EQ(s, nullptr) << "a ratio without a denominator is left out: " << s->text;
          continue;
        }
        ASSERT_NE(s, nullptr) << name << " " << team->team << " " << labels[w];
        EXPECT_DOUBLE_EQ(s->value, static_cast<double>(ratio.numerator) / static_cast<double>(ratio.denominator));
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 20);
  // The known team: 1 escalation out of 4 handled outcomes, in every window.
  const Sample* sales = exposition_.Find("ccpulse_team_escalation_ratio", Team("default", "sales", {{"window", "1h"}}));
  ASSERT_NE(sales, nullptr);
  EXPECT_EQ(sales->value, 0.25);
  EXPECT_EQ(View("default", "sales").windows[2].escalation.numerator, 1u);
  EXPECT_EQ(View("default", "sales").windows[2].escalation.denominator, 4u);
}

TEST_F(ExpositionTest, CountersAndGaugesEqualTheSnapshot) {
  for (const auto& team : snapshot_->teams) {
    SCOPED_TRACE(team->team);
    auto value = [&](const std::string& name, std::map<std::string, std::string> extra = {}) {
      const Sample* s = exposition_.Find(name, Team(team->tenant, team->team, extra));
      return s ? s->value : -1;
    };
    using operators::Kind;
    EXPECT_EQ(value("ccpulse_team_contacts_total"), team->totals.count(Kind::kInflow));
    EXPECT_EQ(value("ccpulse_team_answered_total"), team->totals.count(Kind::kAnswered));
    EXPECT_EQ(value("ccpulse_team_outcomes_total", {{"outcome", "escalated"}}), team->totals.count(Kind::kEscalated));
    EXPECT_EQ(value("ccpulse_team_outcomes_total", {{"outcome", "resolved"}}), team->totals.count(Kind::kResolved));
    EXPECT_EQ(value("ccpulse_team_abandoned_total", {{"short", "false"}}), team->totals.count(Kind::kAbandoned));
  }
  auto value = [&](const std::string& name, const std::string& tenant, const std::string& team) {
    const Sample* s = exposition_.Find(name, Team(tenant, team));
    return s ? s->value : -1;
  };
  EXPECT_EQ(value("ccpulse_team_contacts_total", "default", "sales"), 4);
  EXPECT_EQ(value("ccpulse_team_outcomes_total", "default", "sales"), -1);  // only with an outcome label
  EXPECT_EQ(value("ccpulse_team_waiting", "default", "care"), 1);
  EXPECT_EQ(value("ccpulse_team_waiting", "default", "sales"), 0);
  EXPECT_EQ(value("ccpulse_team_abandoned_total", "acme", kOddTeam), -1);
  const Sample* consumed = exposition_.Find("ccpulse_records_consumed_total", {});
  ASSERT_NE(consumed, nullptr);
  EXPECT_EQ(consumed->value, 30);
  const Sample* invalid = exposition_.Find("ccpulse_dead_letters_total", {{"reason", "invalid_json"}});
  ASSERT_NE(invalid, nullptr) << body_;
  EXPECT_EQ(invalid->value, 2);
  const Sample* lag = exposition_.Find("ccpulse_consumer_lag_records", {{"partition", "interactions[0]"}});
  ASSERT_NE(lag, nullptr);
  EXPECT_EQ(lag->value, 5);
}

TEST_F(ExpositionTest, ServiceLevelTargetFollowsTheTeamProfile) {
  auto target = [&](const std::string& team) {
    const Sample* s = exposition_.Find("ccpulse_team_service_level_target", Team("default", team));
    return s ? s->value : -1;
  };
  EXPECT_DOUBLE_EQ(target("care"), 0.9);
  EXPECT_DOUBLE_EQ(target("sales"), 0.8);  // metrics.sl_target
}

TEST_F(ExpositionTest, LabelValuesAreEscaped) {
  const Sample* s = exposition_.Find("ccpulse_team_contacts_total", Team("acme", kOddTeam));
  ASSERT_NE(s, nullptr) << body_;
  EXPECT_THAT(s->text, testing::HasSubstr(R"(team="q\"b\\n")"));
  EXPECT_EQ(s->value, 1);
}

TEST_F(ExpositionTest, WithoutASnapshotOnlySelfMetricsAreRendered) {
  std::string body;
  RenderMetrics(self_, nullptr, NowMs(), &body);
  const Exposition e = Parse(body);
  EXPECT_THAT(e.errors, testing::IsEmpty()) << body;
  EXPECT_TRUE(e.types.count("ccpulse_records_consumed_total"));
  for (const auto& [family, type] : e.types) EXPECT_FALSE(family.starts_with("ccpulse_team_")) << family;
}

// promtool ships with Prometheus (deploy/install-deps.sh --test installs it).
TEST_F(ExpositionTest, PromtoolAcceptsTheBody) {
  const std::string promtool = "/usr/bin/promtool";
  ASSERT_EQ(access(promtool.c_str(), X_OK), 0)
      << promtool << " is missing: run deploy/install-deps.sh --test (installs prometheus for promtool)";
  const std::string dir = ::testing::TempDir();
  const std::string input = dir + "/ccpulse_exposition_" + std::to_string(getpid()) + ".prom";
  const std::string output = input + ".out";
  std::ofstream(input) << body_;
  const int rc = std::system((promtool + " check metrics < " + input + " > " + output + " 2>&1").c_str());
  std::ifstream result(output);
  const std::string report((std::istreambuf_iterator<char>(result)), std::istreambuf_iterator<char>());
  std::remove(input.c_str());
  std::remove(output.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 0) << "promtool check metrics:\n" << report;
}

}  // namespace
}  // namespace ccpulse::metrics
