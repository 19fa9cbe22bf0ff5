// The input-format part of the configuration (pipeline/config.h): kafka.formats and team_map, and
// the team map file of `replay --team-map`; errors name the key and its line.
#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pipeline/config.h"

namespace ccpulse {
namespace {

using ::testing::HasSubstr;

TEST(ConfigFormatsTest, FormatsPerTopicAndTeamMap) {
  auto config = ParseConfig(R"(kafka:
  topics: [a, connect]
  formats:
    connect: amazon-connect
team_map:
  queues:
    q-1: billing
  agents:
    agent-7: sales
)", "c.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->kafka.formats.at("connect"), schemas::RecordFormat::kAmazonConnect);
  EXPECT_FALSE(config->kafka.formats.contains("a"));
  EXPECT_EQ(config->team_map.queues.at("q-1"), "billing");
  EXPECT_EQ(config->team_map.agents.at("agent-7"), "sales");
}

TEST(ConfigFormatsTest, ErrorsNameKeyAndLine) {
  auto unknown = ParseConfig("kafka:\n  topics: [a]\n  formats:\n    a: avro\n", "c.yaml");
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(), HasSubstr("c.yaml:4: `kafka.formats.a`: unknown format \"avro\""));
  auto not_a_topic = ParseConfig("kafka:\n  topics: [a]\n  formats:\n    b: genesys-cloud\n", "c.yaml");
  ASSERT_FALSE(not_a_topic.ok());
  EXPECT_THAT(not_a_topic.status().message(), HasSubstr("c.yaml:4: `kafka.formats.b`: not one of kafka.topics"));
  auto bad_key = ParseConfig("team_map:\n  queue:\n    q: t\n", "c.yaml");
  ASSERT_FALSE(bad_key.ok());
  EXPECT_THAT(bad_key.status().message(), HasSubstr("c.yaml:2: `team_map.queue`: unknown key"));
  auto long_team = ParseConfig("team_map:\n  agents:\n    a: " + std::string(65, 't') + "\n", "c.yaml");
  ASSERT_FALSE(long_team.ok());
  EXPECT_THAT(long_team.status().message(), HasSubstr("c.yaml:3: `team_map.agents.a`"));
}

TEST(ConfigFormatsTest, TeamMapFile) {
  const std::string path = (std::filesystem::temp_directory_path() / "ccpulse_team_map_test.yaml").string();
  std::ofstream(path) << "queues:\n  PS: retail\nagents:\n  ANAT: retail\n";
  auto teams = LoadTeamMap(path);
  ASSERT_TRUE(teams.ok()) << teams.status();
  EXPECT_EQ(teams->queues.at("PS"), "retail");
  EXPECT_EQ(teams->agents.at("ANAT"), "retail");
  std::ofstream(path) << "queues:\n  PS: [retail]\n";
  auto bad = LoadTeamMap(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr(path + ":2: `queues.PS`: expected a string"));
  EXPECT_EQ(LoadTeamMap(path + ".missing").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ccpulse
