// The ceiling of the side-by-side benchmark (benchmarks/peers/README.md): a librdkafka consumer
// that reads every record of a topic and does nothing else. Same consumer settings as
// `ccpulse run`'s defaults (pipeline/kafka/kafka.cc), so the difference to ccpulse is the
// processing, not the fetching.
//
//   peer_bare_consumer --brokers HOST:PORT --topic T --group G --expect N --progress FILE
//
// Writes "records bytes" to FILE (atomically, every 100 ms and when done). After N records it
// keeps its process (and its /proc counters) alive until SIGTERM/SIGINT, then closes.
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

volatile std::sig_atomic_t g_stop = 0;

void OnSignal(int) { g_stop = 1; }

void WriteProgress(const std::string& path, long long records, long long bytes) {
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) return;
  std::fprintf(f, "%lld %lld\n", records, bytes);
  std::fclose(f);
  std::rename(tmp.c_str(), path.c_str());
}

bool Set(rd_kafka_conf_t* conf, const char* key, const char* value) {
  char error[512];
  if (rd_kafka_conf_set(conf, key, value, error, sizeof(error)) != RD_KAFKA_CONF_OK) {
    std::fprintf(stderr, "peer_bare_consumer: %s: %s\n", key, error);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string brokers, topic, group = "peer-bare-consumer", progress;
  long long expect = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--brokers") brokers = value;
    else if (flag == "--topic") topic = value;
    else if (flag == "--group") group = value;
    else if (flag == "--expect") expect = std::atoll(value);
    else if (flag == "--progress") progress = value;
    else {
      std::fprintf(stderr, "peer_bare_consumer: unknown option %s\n", flag.c_str());
      return 2;
    }
  }
  if (brokers.empty() || topic.empty() || progress.empty() || expect <= 0) {
    std::fprintf(stderr, "usage: peer_bare_consumer --brokers HOST:PORT --topic T [--group G] --expect N --progress FILE\n");
    return 2;
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);

  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  const char* settings[][2] = {{"bootstrap.servers", brokers.c_str()},
                               {"group.id", group.c_str()},
                               {"auto.offset.reset", "earliest"},
                               {"queued.max.messages.kbytes", "16384"},
                               {"fetch.wait.max.ms", "10"},
                               {"session.timeout.ms", "10000"},
                               {"heartbeat.interval.ms", "1000"},
                               {"partition.assignment.strategy", "cooperative-sticky"}};
  for (const auto& kv : settings) {
    if (!Set(conf, kv[0], kv[1])) return 2;
  }
  char error[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, error, sizeof(error));
  if (rk == nullptr) {
    std::fprintf(stderr, "peer_bare_consumer: %s\n", error);
    return 2;
  }
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  if (rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, topics); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    std::fprintf(stderr, "peer_bare_consumer: subscribe %s: %s\n", topic.c_str(), rd_kafka_err2str(err));
    return 2;
  }
  rd_kafka_topic_partition_list_destroy(topics);

  long long records = 0, bytes = 0;
  auto last_write = std::chrono::steady_clock::now();
  while (!g_stop && records < expect) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m != nullptr) {
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++records;
        bytes += static_cast<long long>(m->len);
      } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        std::fprintf(stderr, "peer_bare_consumer: %s\n", rd_kafka_message_errstr(m));
      }
      rd_kafka_message_destroy(m);
    }
    if ((records & 1023) == 0 || m == nullptr) {
      const auto now = std::chrono::steady_clock::now();
      if (now - last_write >= std::chrono::milliseconds(100)) {
        WriteProgress(progress, records, bytes);
        last_write = now;
      }
    }
  }
  WriteProgress(progress, records, bytes);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return 0;
}
