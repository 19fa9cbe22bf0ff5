// Measuring instruments of the side-by-side benchmark (benchmarks/peers/README.md), driven by
// run.sh through measure.py. Two modes:
//
//   peer_probe offsets --brokers B --topic T --group G [--interval-ms 100]
//     Prints "WALL_MS COMMITTED" every interval: the sum over T's partitions of G's committed
//     offsets (how `ccpulse run`'s progress is read without scraping its /metrics).
//
//   peer_probe latency --brokers B --topic T --url URL --lateness-ms L --slice-ms S
//                      --duration-s D --skip-s W [--poll-ms 5] [--out FILE]
//     Window-close latency. For every slice boundary E it records
//       t_close(E)   = the producer timestamp (CreateTime, wall clock) of the first input record
//                      whose event time is >= E + L: the earliest instant any engine that waits
//                      L for late events may close the windows ending at E;
//       t_visible(E) = the wall time at which GET URL (the engine's API for one team) first
//                      reports "windows_end" >= E, i.e. the team's final values for the
//                      windows ending at E are readable.
//     latency(E) = t_visible(E) - t_close(E), for the boundaries closed after the first W
//     seconds; prints one JSON summary line (milliseconds) and, with --out, every sample.
#include <curl/curl.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "schemas/time_format.h"

namespace {

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "YYYY-MM-DDTHH:MM:SS[.fff]Z" (what ccpulse and java.time.Instant print) -> epoch ms, or -1.
int64_t ParseUtc(std::string_view s) { return ccpulse::schemas::ParseRfc3339(s).value_or(-1); }

// The string value of "key":"..." in a JSON text, or empty.
std::string_view StringField(std::string_view json, std::string_view key) {
  const std::string needle = "\"" + std::string(key) + "\":\"";
  const size_t at = json.find(needle);
  if (at == std::string_view::npos) return {};
  const size_t from = at + needle.size();
  const size_t to = json.find('"', from);
  return to == std::string_view::npos ? std::string_view{} : json.substr(from, to - from);
}

rd_kafka_t* NewConsumer(const std::string& brokers, const std::string& group) {
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  const char* settings[][2] = {{"bootstrap.servers", brokers.c_str()},
                               {"group.id", group.c_str()},
                               {"auto.offset.reset", "earliest"},
                               {"enable.auto.commit", "false"},
                               {"fetch.wait.max.ms", "5"},
                               {"log_level", "3"}};
  for (const auto& kv : settings) {
    if (rd_kafka_conf_set(conf, kv[0], kv[1], error, sizeof(error)) != RD_KAFKA_CONF_OK) {
      std::fprintf(stderr, "peer_probe: %s: %s\n", kv[0], error);
      std::exit(2);
    }
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof(error));
  if (rk == nullptr) {
    std::fprintf(stderr, "peer_probe: %s\n", error);
    std::exit(2);
  }
  return rk;
}

// Partition ids of `topic` (waits up to 30 s for it to exist).
std::vector<int32_t> Partitions(rd_kafka_t* rk, const std::string& topic) {
  for (int attempt = 0; attempt < 60; ++attempt) {
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    std::vector<int32_t> ids;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int i = 0; i < md->topics[0].partition_cnt; ++i) ids.push_back(md->topics[0].partitions[i].id);
      }
      rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    if (!ids.empty()) return ids;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  std::fprintf(stderr, "peer_probe: topic %s not found\n", topic.c_str());
  std::exit(2);
}

struct Args {
  std::string brokers, topic, group, url, out;
  int64_t interval_ms = 100, lateness_ms = 120000, slice_ms = 10000, duration_s = 60, skip_s = 10, poll_ms = 5;
};

int Offsets(const Args& a) {
  rd_kafka_t* rk = NewConsumer(a.brokers, a.group);
  const std::vector<int32_t> ids = Partitions(rk, a.topic);
  while (true) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(ids.size()));
    for (int32_t p : ids) rd_kafka_topic_partition_list_add(list, a.topic.c_str(), p);
    if (rd_kafka_committed(rk, list, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      int64_t sum = 0;
      for (int i = 0; i < list->cnt; ++i) sum += std::max<int64_t>(0, list->elems[i].offset);
      std::printf("%lld %lld\n", static_cast<long long>(WallMs()), static_cast<long long>(sum));
      if (std::fflush(stdout) != 0) break;  // the reader went away
    }
    rd_kafka_topic_partition_list_destroy(list);
    std::this_thread::sleep_for(std::chrono::milliseconds(a.interval_ms));
  }
  rd_kafka_destroy(rk);
  return 0;
}

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

int Latency(const Args& a) {
  const int64_t started = WallMs();
  const int64_t deadline = started + a.duration_s * 1000;
  std::mutex mu;
  std::map<int64_t, int64_t> close_ms;    // E -> t_close
  std::map<int64_t, int64_t> visible_ms;  // E -> t_visible
  std::atomic<bool> stop{false};
  // Input records produced after the skip: their count and CreateTime span (the input rate).
  int64_t measured_records = 0, first_produced = INT64_MAX, last_produced = INT64_MIN;

  std::thread kafka([&] {
    rd_kafka_t* rk = NewConsumer(a.brokers, a.group.empty() ? "peer-probe-" + std::to_string(started) : a.group);
    const std::vector<int32_t> ids = Partitions(rk, a.topic);
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(ids.size()));
    for (int32_t p : ids) rd_kafka_topic_partition_list_add(list, a.topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    int64_t closed_upto = INT64_MIN;
    while (!stop) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 50);
      if (m == nullptr) continue;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const std::string_view value(static_cast<const char*>(m->payload), m->len);
        const int64_t event_ms = ParseUtc(StringField(value, "time"));
        const int64_t produced_ms = rd_kafka_message_timestamp(m, nullptr);
        if (event_ms >= 0 && produced_ms > 0) {
          if (produced_ms >= started + a.skip_s * 1000 && produced_ms < deadline) {
            ++measured_records;
            first_produced = std::min(first_produced, produced_ms);
            last_produced = std::max(last_produced, produced_ms);
          }
          const int64_t e_max = (event_ms - a.lateness_ms) / a.slice_ms * a.slice_ms;
          std::lock_guard<std::mutex> lock(mu);
          if (closed_upto == INT64_MIN) closed_upto = e_max - a.slice_ms;
          for (int64_t e = closed_upto + a.slice_ms; e <= e_max; e += a.slice_ms) close_ms[e] = produced_ms;
          // A record produced earlier but fetched later (another partition) closes them sooner.
          for (auto it = close_ms.upper_bound(std::min(e_max, closed_upto)); it != close_ms.begin();) {
            --it;
            if (it->second <= produced_ms) break;
            it->second = produced_ms;
          }
          closed_upto = std::max(closed_upto, e_max);
        }
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  });

  CURL* curl = curl_easy_init();
  std::string body;
  curl_easy_setopt(curl, CURLOPT_URL, a.url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 2000L);
  int64_t last_end = INT64_MIN;
  uint64_t polls = 0, failures = 0;
  while (WallMs() < deadline) {
    body.clear();
    ++polls;
    long status = 0;
    if (curl_easy_perform(curl) == CURLE_OK &&
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200) {
      const int64_t now = WallMs();
      const int64_t end = ParseUtc(StringField(body, "windows_end"));
      if (end >= 0 && end > last_end) {
        if (last_end != INT64_MIN) {  // the first answer says nothing about when it changed
          std::lock_guard<std::mutex> lock(mu);
          for (int64_t e = last_end + a.slice_ms; e <= end; e += a.slice_ms) visible_ms[e] = now;
        }
        last_end = end;
      }
    } else {
      ++failures;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(a.poll_ms));
  }
  curl_easy_cleanup(curl);
  stop = true;
  kafka.join();

  std::vector<int64_t> samples;
  std::FILE* out = a.out.empty() ? nullptr : std::fopen(a.out.c_str(), "w");
  for (const auto& [e, visible] : visible_ms) {
    auto it = close_ms.find(e);
    if (it == close_ms.end() || it->second < started + a.skip_s * 1000) continue;
    samples.push_back(visible - it->second);
    if (out) std::fprintf(out, "%lld %lld %lld\n", static_cast<long long>(e), static_cast<long long>(it->second),
                          static_cast<long long>(visible));
  }
  if (out) std::fclose(out);
  std::sort(samples.begin(), samples.end());
  auto pct = [&](double q) {
    if (samples.empty()) return int64_t{-1};
    const size_t rank = static_cast<size_t>(std::max(1.0, q * static_cast<double>(samples.size()) + 0.999999)) - 1;
    return samples[std::min(rank, samples.size() - 1)];
  };
  double mean = 0;
  for (int64_t s : samples) mean += static_cast<double>(s);
  if (!samples.empty()) mean /= static_cast<double>(samples.size());
  const double input_rate = last_produced > first_produced
                                ? static_cast<double>(measured_records) * 1000.0 /
                                      static_cast<double>(last_produced - first_produced)
                                : 0.0;
  std::printf("{\"input_events_per_s\":%.0f,\"samples\":%zu,\"p50_ms\":%lld,\"p90_ms\":%lld,\"p99_ms\":%lld,\"p999_ms\":%lld,\"max_ms\":%lld,\"mean_ms\":%.1f,"
              "\"min_ms\":%lld,\"polls\":%llu,\"poll_failures\":%llu}\n",
              input_rate, samples.size(), static_cast<long long>(pct(0.5)), static_cast<long long>(pct(0.9)),
              static_cast<long long>(pct(0.99)), static_cast<long long>(pct(0.999)),
              static_cast<long long>(samples.empty() ? -1 : samples.back()), mean,
              static_cast<long long>(samples.empty() ? -1 : samples.front()), static_cast<unsigned long long>(polls),
              static_cast<unsigned long long>(failures));
  return samples.empty() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: peer_probe offsets|latency OPTIONS (see peer_probe.cc)\n");
    return 2;
  }
  const std::string mode = argv[1];
  Args a;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--brokers") a.brokers = value;
    else if (flag == "--topic") a.topic = value;
    else if (flag == "--group") a.group = value;
    else if (flag == "--url") a.url = value;
    else if (flag == "--out") a.out = value;
    else if (flag == "--interval-ms") a.interval_ms = std::atoll(value.c_str());
    else if (flag == "--lateness-ms") a.lateness_ms = std::atoll(value.c_str());
    else if (flag == "--slice-ms") a.slice_ms = std::atoll(value.c_str());
    else if (flag == "--duration-s") a.duration_s = std::atoll(value.c_str());
    else if (flag == "--skip-s") a.skip_s = std::atoll(value.c_str());
    else if (flag == "--poll-ms") a.poll_ms = std::atoll(value.c_str());
    else {
      std::fprintf(stderr, "peer_probe: unknown option %s\n", flag.c_str());
      return 2;
    }
  }
  if (a.brokers.empty() || a.topic.empty()) {
    std::fprintf(stderr, "peer_probe: --brokers and --topic are required\n");
    return 2;
  }
  if (mode == "offsets") {
    if (a.group.empty()) {
      std::fprintf(stderr, "peer_probe offsets: --group is required\n");
      return 2;
    }
    return Offsets(a);
  }
  if (mode == "latency") {
    if (a.url.empty()) {
      std::fprintf(stderr, "peer_probe latency: --url is required\n");
      return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return Latency(a);
  }
  std::fprintf(stderr, "peer_probe: unknown mode %s\n", mode.c_str());
  return 2;
}
