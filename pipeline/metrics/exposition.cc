// Prometheus exposition; see exposition.h. Metric names are listed in README.md ("Metrics").
#include "pipeline/metrics/exposition.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <type_traits>

#include <prometheus/text_serializer.h>

#include "schemas/event.h"

namespace ccpulse::metrics {
namespace {

using operators::Kind;

// Adds to `histogram` what non-cumulative bucket counts (+Inf last) and their sum gained since
// `last` (missing counts in `last`: 0). The sum is added even when no count grew: with a
// source read without a lock, a sum may arrive one update after its count.
template <typename Counts>
void ObserveGrowth(prometheus::Histogram& histogram, const Counts& now, const Counts& last, double sum_growth) {
  std::vector<double> growth(now.size());
  for (size_t b = 0; b < now.size(); ++b) {
    growth[b] = static_cast<double>(now[b] - (b < last.size() ? last[b] : 0));
  }
  histogram.ObserveMultiple(growth, sum_growth);
}
using operators::MetricsSnapshot;
using operators::Ratio;
using operators::TeamMetrics;
using operators::TeamView;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void AppendNumber(double v, std::string* out) {
  if (std::isnan(v)) {
    out->append("NaN");
    return;
  }
  char buf[32];
  // Counts are most of the body: integers take the short path.
  const auto i = static_cast<int64_t>(v);
  auto [end, ec] = static_cast<double>(i) == v && std::abs(v) < 9e15 ? std::to_chars(buf, buf + sizeof(buf), i)
                                                                    : std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end);
}

void AppendLabelValue(std::string_view value, std::string* out) {
  for (char c : value) {
    if (c == '\\') out->append("\\\\");
    else if (c == '"') out->append("\\\"");
    else if (c == '\n') out->append("\\n");
    else out->push_back(c);
  }
}

void Header(std::string_view name, std::string_view type, std::string_view help, std::string* out) {
  out->append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
  out->append(name).append(" ").append(type).append("\n");
}

// {tenant="...",team="..." (no closing brace), rendered once per team and scrape.
std::vector<std::string> TeamLabels(const MetricsSnapshot& s) {
  std::vector<std::string> labels;
  labels.reserve(s.teams.size());
  for (const auto& t : s.teams) {
    std::string l = "{tenant=\"";
    AppendLabelValue(t->tenant, &l);
    l.append("\",team=\"");
    AppendLabelValue(t->team, &l);
    l.push_back('"');
    labels.push_back(std::move(l));
  }
  return labels;
}

class TeamRenderer {
 public:
  TeamRenderer(const MetricsSnapshot& s, std::string* out) : s_(s), out_(out), labels_(TeamLabels(s)) {}

  // A counter family from the team totals.
  void Counter(std::string_view name, std::string_view help, Kind kind) {
    Header(name, "counter", help, out_);
    for (size_t i = 0; i < s_.teams.size(); ++i) Line(name, i, "", static_cast<double>(s_.teams[i]->totals.count(kind)));
  }
  void CounterByLabel(std::string_view name, std::string_view help, std::string_view label,
                      const std::vector<std::pair<std::string_view, Kind>>& values) {
    Header(name, "counter", help, out_);
    for (size_t i = 0; i < s_.teams.size(); ++i) {
      for (const auto& [value, kind] : values) {
        extra_.assign(",").append(label).append("=\"").append(value).append("\"");
        Line(name, i, extra_, static_cast<double>(s_.teams[i]->totals.count(kind)));
      }
    }
  }
  void Histogram(std::string_view name, std::string_view help, bool wait) {
    Header(name, "histogram", help, out_);
    const std::string bucket = std::string(name) + "_bucket", sum = std::string(name) + "_sum",
                      count = std::string(name) + "_count";
    for (size_t i = 0; i < s_.teams.size(); ++i) {
      const auto& totals = s_.teams[i]->totals;
      const auto& buckets = wait ? totals.wait_buckets : totals.handle_buckets;
      uint64_t cumulative = 0;
      for (size_t b = 0; b < buckets.size(); ++b) {
        cumulative += buckets[b];
        extra_.assign(",le=\"");
        if (b < operators::kExportBucketsSeconds.size()) AppendNumber(operators::kExportBucketsSeconds[b], &extra_);
        else extra_.append("+Inf");
        extra_.push_back('"');
        Line(bucket, i, extra_, static_cast<double>(cumulative));
      }
      Line(sum, i, "", static_cast<double>(wait ? totals.wait_ms : totals.handle_ms) / 1000.0);
      Line(count, i, "", static_cast<double>(cumulative));
    }
  }
  // A gauge per team and window; `get` returns NaN to skip the series.
  template <typename Get>
  void Windowed(std::string_view name, std::string_view help, Get get) {
    Header(name, "gauge", help, out_);
    for (size_t i = 0; i < s_.teams.size(); ++i) {
      const auto& windows = s_.teams[i]->windows;
      for (size_t w = 0; w < windows.size() && w < s_.window_labels.size(); ++w) {
        const double v = get(windows[w]);
        if (std::isnan(v)) continue;
        extra_.assign(",window=\"").append(s_.window_labels[w]).append("\"");
        Line(name, i, extra_, v);
      }
    }
  }
  // Funnel z-scores against the tenant's teams (operators/peers.h), for compared teams only.
  void PeerScores(std::string_view name, std::string_view help) {
    Header(name, "gauge", help, out_);
    if (s_.window_labels.size() < 2) return;
    const std::string& window = s_.window_labels[s_.window_labels.size() - 2];  // the longest, before "today"
    for (size_t i = 0; i < s_.teams.size(); ++i) {
      for (int m = 0; m < operators::kPeerMetricCount; ++m) {
        const operators::PeerPosition& p = s_.teams[i]->peers[m];
        if (!p.compared) continue;
        extra_.assign(",metric=\"").append(operators::PeerMetricName(static_cast<operators::PeerMetric>(m)));
        extra_.append("\",window=\"").append(window).append("\"");
        Line(name, i, extra_, p.z);
      }
    }
  }
  template <typename Get>
  void Gauge(std::string_view name, std::string_view help, Get get) {
    Header(name, "gauge", help, out_);
    for (size_t i = 0; i < s_.teams.size(); ++i) Line(name, i, "", get(i));
  }

 private:
  void Line(std::string_view name, size_t team, std::string_view extra, double value) {
    out_->append(name).append(labels_[team]).append(extra).append("} ");
    AppendNumber(value, out_);
    out_->push_back('\n');
  }

  const MetricsSnapshot& s_;
  std::string* out_;
  std::vector<std::string> labels_;
  std::string extra_;
};

double RatioOrNaN(const Ratio& r) { return r.value().value_or(kNaN); }
double OrNaN(const std::optional<double>& v) { return v.value_or(kNaN); }

void RenderTeams(const MetricsSnapshot& s, std::string* out) {
  TeamRenderer r(s, out);
  r.Counter("ccpulse_team_contacts_total", "Contacts queued at the team (arrivals), as of the watermark.", Kind::kInflow);
  r.Counter("ccpulse_team_answered_total", "Contacts answered by the team.", Kind::kAnswered);
  r.Counter("ccpulse_team_answered_within_threshold_total",
            "Contacts answered within the service-level threshold.", Kind::kAnsweredInSl);
  r.CounterByLabel("ccpulse_team_abandoned_total",
                   "Contacts abandoned while waiting; short=\"true\" within short_abandon (excluded from ratios).",
                   "short", {{"false", Kind::kAbandoned}, {"true", Kind::kAbandonedShort}});
  r.CounterByLabel("ccpulse_team_outcomes_total", "Handled outcomes by the team.", "outcome",
                   {{"resolved", Kind::kResolved}, {"closed", Kind::kClosed},
                    {"transferred", Kind::kTransferred}, {"escalated", Kind::kEscalated}});
  r.Counter("ccpulse_team_reopened_total", "Resolved contacts reopened.", Kind::kReopened);
  r.Counter("ccpulse_team_repeat_contacts_total", "Repeat contacts charged to the team that finished the first contact.", Kind::kRepeat);
  r.CounterByLabel("ccpulse_team_fcr_verdicts_total", "First-contact resolution verdicts at the close of each repeat window.",
                   "verdict", {{"confirmed", Kind::kFcrConfirmed}, {"failed", Kind::kFcrFailed}});
  r.Counter("ccpulse_team_expired_total", "Open interactions that never ended and expired.", Kind::kExpired);
  r.Counter("ccpulse_team_gaps_total", "Events whose predecessor never arrived.", Kind::kGap);
  r.Histogram("ccpulse_team_wait_seconds", "Wait from queued to answered.", true);
  r.Histogram("ccpulse_team_handle_seconds", "Handle time from answered to the team's outcome.", false);

  r.Windowed("ccpulse_team_escalation_ratio", "Escalated / handled over the window.",
             [](const TeamMetrics& m) { return RatioOrNaN(m.escalation); });
  r.Windowed("ccpulse_team_transfer_ratio", "Transferred / handled over the window.",
             [](const TeamMetrics& m) { return RatioOrNaN(m.transfer); });
  r.Windowed("ccpulse_team_fcr_provisional_ratio", "Resolved on first touch without a repeat yet / handled.",
             [](const TeamMetrics& m) { return RatioOrNaN(m.fcr_provisional); });
  r.Windowed("ccpulse_team_fcr_confirmed_ratio", "Confirmed / (confirmed + failed) over repeat windows closing in the window.",
             [](const TeamMetrics& m) { return RatioOrNaN(m.fcr_confirmed); });
  r.Windowed("ccpulse_team_repeat_contact_ratio", "Repeat contacts charged / resolved.",
             [](const TeamMetrics& m) { return RatioOrNaN(m.repeat_contact); });
  r.Windowed("ccpulse_team_abandon_ratio", "Abandoned after short_abandon / (answered + abandoned after short_abandon).",
             [](const TeamMetrics& m) { return RatioOrNaN(m.abandon); });
  r.Windowed("ccpulse_team_service_level_ratio", "Answered within the threshold / (answered + abandoned after short_abandon).",
             [](const TeamMetrics& m) { return RatioOrNaN(m.service_level); });
  r.Windowed("ccpulse_team_asa_seconds", "Average speed of answer over the window.",
             [](const TeamMetrics& m) { return OrNaN(m.asa_s); });
  r.Windowed("ccpulse_team_aht_seconds", "Average handle time over the window.",
             [](const TeamMetrics& m) { return OrNaN(m.aht_s); });
  r.Windowed("ccpulse_team_wait_p90_seconds", "90th percentile wait over the window (2 % relative error).",
             [](const TeamMetrics& m) { return OrNaN(m.wait_p90_s); });
  r.Windowed("ccpulse_team_required_agents", "Erlang C agents for the service-level target at the window's arrival rate and AHT.",
             [](const TeamMetrics& m) { return m.required_agents ? double(*m.required_agents) : kNaN; });
  r.Windowed("ccpulse_team_arrivals_per_minute", "Contacts queued per minute over the window.",
             [](const TeamMetrics& m) { return m.inflow_per_min; });
  r.Windowed("ccpulse_team_outflow_per_minute", "Outcomes and abandons per minute over the window.",
             [](const TeamMetrics& m) { return m.outflow_per_min; });

  r.Gauge("ccpulse_team_waiting", "Contacts waiting now (latest event of each interaction).",
          [&](size_t i) { return static_cast<double>(s.live[i].waiting); });
  r.Gauge("ccpulse_team_in_progress", "Contacts with an agent now.",
          [&](size_t i) { return static_cast<double>(s.live[i].in_progress); });
  r.Gauge("ccpulse_team_oldest_wait_seconds", "Age of the oldest waiting contact at the windows' end.",
          [&](size_t i) { return s.teams[i]->windows.front().oldest_wait_s; });
  r.Gauge("ccpulse_team_backlog_health", "Backlog health: 0 green, 1 amber, 2 red.",
          [&](size_t i) { return static_cast<double>(s.teams[i]->windows.front().health); });
  r.Gauge("ccpulse_team_service_level_target", "Service-level target of the team.",
          [&](size_t i) { return s.teams[i]->windows.front().sl_target; });
  r.PeerScores("ccpulse_team_peer_z_score",
               "Team's ratio against its tenant's teams in the longest window: z-score in the funnel, "
               "over-dispersion included; beyond +-3.09 the team is outside the 99.8 % limits (info only).");
}

// A metric with no labels, registered in `registry`.
template <typename T>
T* Unlabelled(prometheus::Registry& registry, const std::string& name, const std::string& help) {
  if constexpr (std::is_same_v<T, prometheus::Counter>) {
    return &prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
  } else {
    return &prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
  }
}

}  // namespace

SelfMetrics::SelfMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto counter = [&](const std::string& name, const std::string& help) {
    return Unlabelled<prometheus::Counter>(*registry_, name, help);
  };
  auto gauge = [&](const std::string& name, const std::string& help) {
    return Unlabelled<prometheus::Gauge>(*registry_, name, help);
  };
  consumed_ = counter("ccpulse_records_consumed_total", "Records taken from the input.");
  decoded_ = counter("ccpulse_records_decoded_total", "Records that decoded into a valid event.");
  applied_ = counter("ccpulse_events_applied_total", "Events applied to the operators.");
  late_ = counter("ccpulse_late_events_total", "Events older than the watermark (dead-lettered, not applied).");
  duplicates_ = counter("ccpulse_duplicate_events_total", "Duplicate event ids and repeated transitions (ignored).");
  dead_letters_delivered_ = counter("ccpulse_dead_letters_delivered_total", "Dead letters durably written.");
  dead_letter_failures_ = counter("ccpulse_dead_letter_failures_total",
                                  "Dead letters that could not be written after retries (their offsets are not committed).");
  invalid_ = &prometheus::BuildCounter()
                  .Name("ccpulse_dead_letters_total")
                  .Help("Records dead-lettered, by reason.")
                  .Register(*registry_);
  lag_ = &prometheus::BuildGauge()
              .Name("ccpulse_consumer_lag_records")
              .Help("Records in the partition not yet applied (high watermark - next offset).")
              .Register(*registry_);
  std::vector<double> bounds(kLatencyBucketsSeconds.begin(), kLatencyBucketsSeconds.end());
  latency_ = &prometheus::BuildHistogram()
                  .Name("ccpulse_processing_latency_seconds")
                  .Help("Record timestamp to its effect being visible in the published metrics.")
                  .Register(*registry_)
                  .Add({}, bounds);
  interactions_held_ = gauge("ccpulse_interactions_held", "Interactions in memory (open, or finished within the retention).");
  teams_ = gauge("ccpulse_teams", "Teams seen.");
  memory_bytes_ = gauge("ccpulse_state_bytes", "Memory held by operator state.");
  alerts_firing_ = gauge("ccpulse_alerts_firing", "Drift alerts firing now.");
  unrostered_ = gauge("ccpulse_unrostered_teams", "Teams seen that the roster does not list (alerts take the default route).");
  notifications_ = &prometheus::BuildCounter()
                        .Name("ccpulse_alert_notifications_total")
                        .Help("Alert notifications by sink and result (sent, retried, failed, dropped).")
                        .Register(*registry_);
}

void SelfMetrics::UpdateCheckpoints(const CheckpointStats& stats) {
  if (checkpoints_ == nullptr) {  // registered only when checkpoints are on
    checkpoints_ = &prometheus::BuildCounter()
                        .Name("ccpulse_checkpoints_total")
                        .Help("Checkpoints by result: taken (state saved), forked (taken by a forked child process), durable, failed (the write).")
                        .Register(*registry_);
    checkpoint_pause_ = Unlabelled<prometheus::Counter>(
        *registry_, "ccpulse_checkpoint_pause_seconds_total",
        "Worker time spent saving state for checkpoints: the fork, or the encoding when not forked (processing stalls meanwhile).");
    auto gauge = [&](const std::string& name, const std::string& help) {
      return Unlabelled<prometheus::Gauge>(*registry_, name, help);
    };
    checkpoint_bytes_ = gauge("ccpulse_checkpoint_bytes", "Size of the latest durable checkpoint.");
    checkpoint_last_pause_ = gauge("ccpulse_checkpoint_last_pause_seconds", "Worker pause of the latest checkpoint.");
    checkpoint_last_write_ = gauge("ccpulse_checkpoint_last_write_seconds",
                                   "Time to make the latest durable checkpoint durable (writer thread).");
  }
  checkpoints_->Add({{"result", "taken"}}).Increment(static_cast<double>(stats.taken - last_checkpoints_.taken));
  checkpoints_->Add({{"result", "forked"}}).Increment(static_cast<double>(stats.forked - last_checkpoints_.forked));
  checkpoints_->Add({{"result", "durable"}}).Increment(static_cast<double>(stats.durable - last_checkpoints_.durable));
  checkpoints_->Add({{"result", "failed"}}).Increment(static_cast<double>(stats.failed - last_checkpoints_.failed));
  checkpoint_pause_->Increment((stats.pause_ms_sum - last_checkpoints_.pause_ms_sum) / 1000.0);
  checkpoint_bytes_->Set(static_cast<double>(stats.last_bytes));
  checkpoint_last_pause_->Set(stats.last_pause_ms / 1000.0);
  checkpoint_last_write_->Set(stats.last_write_ms / 1000.0);
  last_checkpoints_ = stats;
}

void SelfMetrics::UpdateRepartition(const RepartitionCounts& counts) {
  if (repartitioned_ == nullptr) {  // registered only with a repartition stage
    repartitioned_ = &prometheus::BuildCounter()
                          .Name("ccpulse_repartitioned_records_total")
                          .Help("Input records the repartition stage committed: forwarded to the internal topic "
                                "(of which unkeyed: no customer or interaction found, the engine dead-letters them), "
                                "or too_large to forward (dead-lettered by the stage).")
                          .Register(*registry_);
    repartition_transactions_ = &prometheus::BuildCounter()
                                     .Name("ccpulse_repartition_transactions_total")
                                     .Help("Transactions of the repartition stage by result (aborted ones are sent again).")
                                     .Register(*registry_);
    repartition_delay_ = &prometheus::BuildHistogram()
                              .Name("ccpulse_repartition_delay_seconds")
                              .Help("Input record timestamp to the commit that makes it visible in the internal topic "
                                    "(the repartition stage's share of the latency).")
                              .Register(*registry_)
                              .Add({}, std::vector<double>(kLatencyBucketsSeconds.begin(), kLatencyBucketsSeconds.end()));
  }
  const RepartitionCounts& last = last_repartition_;
  repartitioned_->Add({{"result", "forwarded"}}).Increment(static_cast<double>(counts.forwarded - last.forwarded));
  repartitioned_->Add({{"result", "unkeyed"}}).Increment(static_cast<double>(counts.unkeyed - last.unkeyed));
  repartitioned_->Add({{"result", "too_large"}}).Increment(static_cast<double>(counts.too_large - last.too_large));
  repartition_transactions_->Add({{"result", "committed"}}).Increment(static_cast<double>(counts.committed - last.committed));
  repartition_transactions_->Add({{"result", "aborted"}}).Increment(static_cast<double>(counts.aborted - last.aborted));
  ObserveGrowth(*repartition_delay_, counts.delay_buckets, last.delay_buckets, counts.delay_sum_s - last.delay_sum_s);
  last_repartition_ = counts;
}

void SelfMetrics::UpdateTeamFeed(const TeamFeedCounts& counts) {
  if (team_feed_records_ == nullptr) {  // registered only with kafka.team_stage
    team_feed_records_ = &prometheus::BuildCounter()
                              .Name("ccpulse_team_feed_records_total")
                              .Help("Team feed records: sent to the team topic and failed (customer tier), "
                                    "received, and after_a_gap: received after a record that never came (team tier; "
                                    "slices were lost).")
                              .Register(*registry_);
    team_feed_dropped_ = &prometheus::BuildCounter()
                              .Name("ccpulse_team_feed_dropped_total")
                              .Help("Contributions the team tier dropped: repeated (a slice its channel had sent "
                                    "before, e.g. after a restart) or late (that channel had idled out).")
                              .Register(*registry_);
  }
  const TeamFeedCounts& last = last_team_feed_;
  const auto add = [](prometheus::Family<prometheus::Counter>* family, const char* label, const char* value,
                      uint64_t now, uint64_t before) {
    // The counts live in the engine's state: a fresh engine (standing by) starts them again.
    family->Add({{label, value}}).Increment(static_cast<double>(now >= before ? now - before : now));
  };
  add(team_feed_records_, "result", "sent", counts.sent, last.sent);
  add(team_feed_records_, "result", "failed", counts.failed, last.failed);
  add(team_feed_records_, "result", "received", counts.received, last.received);
  add(team_feed_records_, "result", "after_a_gap", counts.gaps, last.gaps);
  add(team_feed_dropped_, "reason", "repeated", counts.repeated, last.repeated);
  add(team_feed_dropped_, "reason", "late", counts.late, last.late);
  last_team_feed_ = counts;
}

void SelfMetrics::UpdateChannelEnds(const std::vector<ChannelEnd>& ends) {
  if (channel_ends_ == nullptr) {
    channel_ends_ = &prometheus::BuildGauge()
                         .Name("ccpulse_team_feed_channel_end_seconds")
                         .Help("Team tier: event time (Unix seconds) up to which a channel (an input partition of "
                               "the customer tier) has been sent on a team partition; the team windows wait for "
                               "the smallest.")
                         .Register(*registry_);
  }
  std::map<std::pair<std::string, uint32_t>, prometheus::Gauge*> present;
  for (const ChannelEnd& e : ends) {
    prometheus::Gauge* gauge =
        &channel_ends_->Add({{"team_partition", e.partition}, {"channel", std::to_string(e.channel)}});
    gauge->Set(static_cast<double>(e.end_ms) / 1000.0);
    present.emplace(std::make_pair(e.partition, e.channel), gauge);
  }
  for (const auto& [key, gauge] : channel_end_gauges_) {
    if (!present.contains(key)) channel_ends_->Remove(gauge);
  }
  channel_end_gauges_ = std::move(present);
}

void SelfMetrics::UpdateAlerts(const alerting::AlertDispatcher& dispatcher, size_t unrostered_teams) {
  alerts_firing_->Set(static_cast<double>(dispatcher.firing()));
  unrostered_->Set(static_cast<double>(unrostered_teams));
  const std::pair<const char*, const alerting::SinkStats*> sinks[] = {
      {"alertmanager", &dispatcher.alertmanager}, {"pagerduty", &dispatcher.pagerduty},
      {"kafka", &dispatcher.kafka}, {"log", &dispatcher.log}};
  for (const auto& [sink, stats] : sinks) {
    const std::pair<const char*, uint64_t> results[] = {{"sent", stats->sent.load()}, {"retried", stats->retried.load()},
                                                        {"failed", stats->failed.load()}, {"dropped", stats->dropped.load()}};
    for (const auto& [result, value] : results) {
      uint64_t& last = last_notifications_[std::string(sink) + "/" + result];
      auto& counter = notifications_->Add({{"sink", sink}, {"result", result}});
      if (value > last) counter.Increment(static_cast<double>(value - last));
      last = value;
    }
  }
}

void SelfMetrics::Update(const StreamCounters& stream, const operators::Engine& engine,
                         const std::vector<std::pair<std::string, int64_t>>& lag,
                         uint64_t dead_letters_delivered, uint64_t dead_letters_failed) {
  auto delta = [](uint64_t now, uint64_t& last) {
    const double d = static_cast<double>(now - last);
    last = now;
    return d;
  };
  consumed_->Increment(static_cast<double>(stream.records - last_stream_.records));
  decoded_->Increment(static_cast<double>(stream.decoded - last_stream_.decoded));
  late_->Increment(static_cast<double>(stream.late - last_stream_.late));
  for (int r = 1; r < schemas::kDecodeErrorCount; ++r) {
    const uint64_t d = stream.invalid[r] - last_stream_.invalid[r];
    if (d == 0) continue;
    invalid_->Add({{"reason", std::string(schemas::DecodeErrorName(static_cast<schemas::DecodeError>(r)))}})
        .Increment(static_cast<double>(d));
  }
  if (const uint64_t d = stream.late - last_stream_.late; d > 0) invalid_->Add({{"reason", "late"}}).Increment(static_cast<double>(d));
  if (const uint64_t d = stream.invalid_team_feed - last_stream_.invalid_team_feed; d > 0) {
    invalid_->Add({{"reason", "invalid_team_feed"}}).Increment(static_cast<double>(d));
  }
  if (const uint64_t d = stream.too_many_events - last_stream_.too_many_events; d > 0) {
    invalid_->Add({{"reason", "too_many_events"}}).Increment(static_cast<double>(d));
  }
  ObserveGrowth(*latency_, stream.latency_buckets, last_stream_.latency_buckets,
                stream.latency_sum_s - last_stream_.latency_sum_s);
  applied_->Increment(delta(engine.counters().applied, last_applied_));
  duplicates_->Increment(delta(engine.duplicates(), last_duplicates_));
  dead_letters_delivered_->Increment(delta(dead_letters_delivered, last_delivered_));
  dead_letter_failures_->Increment(delta(dead_letters_failed, last_failed_));
  // One series per partition owned now: a revoked partition's series goes away.
  std::map<std::string, prometheus::Gauge*> owned;
  for (const auto& [partition, records] : lag) {
    prometheus::Gauge* gauge = &lag_->Add({{"partition", partition}});
    gauge->Set(static_cast<double>(records));
    owned.emplace(partition, gauge);
  }
  for (const auto& [partition, gauge] : lag_gauges_) {
    if (!owned.contains(partition)) lag_->Remove(gauge);
  }
  lag_gauges_ = std::move(owned);
  interactions_held_->Set(static_cast<double>(engine.interactions_held()));
  teams_->Set(static_cast<double>(engine.teams_held()));
  const auto memory = engine.MemoryUsage();
  memory_bytes_->Set(static_cast<double>(memory.teams + memory.interactions + memory.repeat_contacts +
                                         memory.timeline + memory.histograms));
  last_stream_ = stream;
}

void RenderMetrics(const SelfMetrics& self, const MetricsSnapshot* snapshot, int64_t now_ms,
                   std::string* out) {
  out->append(prometheus::TextSerializer().Serialize(self.registry()->Collect()));
  if (snapshot == nullptr) return;
  out->reserve(out->size() + snapshot->teams.size() * 6000);  // about 5.5 KB per team at the default windows
  auto single = [&](std::string_view name, std::string_view help, int64_t ms) {
    Header(name, "gauge", help, out);
    out->append(name).push_back(' ');
    AppendNumber(static_cast<double>(ms) / 1000.0, out);
    out->push_back('\n');
  };
  single("ccpulse_snapshot_age_seconds", "Wall time since the metrics below were published.",
         now_ms - snapshot->published_ms);
  single("ccpulse_windows_end_timestamp_seconds", "Event time up to which the windows are complete.",
         snapshot->windows_end);
  single("ccpulse_watermark_timestamp_seconds", "The event-time watermark.", snapshot->watermark);
  RenderTeams(*snapshot, out);
}

}  // namespace ccpulse::metrics
