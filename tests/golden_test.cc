// Golden replays: for every tests/golden/<case>/, runs `ccpulse replay` with the case's `args`
// over its input.jsonl and checks every line of expected.jsonl against the output. An expected
// line names a record by (time, tenant, team, window, final) or is the summary; every field it
// lists must be equal in the actual record (fields it omits are not checked), so the expected
// files hold only the values a person checked by hand.
#include <simdjson.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace {

namespace fs = std::filesystem;
using simdjson::dom::element;
using simdjson::dom::element_type;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream s(text);
  for (std::string line; std::getline(s, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// Checks that every field of `expected` is in `actual` with an equal value; appends mismatches.
void Subset(element expected, element actual, const std::string& path, std::vector<std::string>* errors) {
  if (expected.type() == element_type::OBJECT) {
    if (actual.type() != element_type::OBJECT) {
      errors->push_back(path + ": expected an object");
      return;
    }
    for (auto [key, value] : expected.get_object()) {
      element other;
      if (actual.get_object()[key].get(other) != simdjson::SUCCESS) {
        errors->push_back(path + "." + std::string(key) + ": missing");
        continue;
      }
      Subset(value, other, path + "." + std::string(key), errors);
    }
    return;
  }
  const bool expected_number = expected.is_number(), actual_number = actual.is_number();
  if (expected_number && actual_number) {
    const double e = double(expected), a = double(actual);
    if (std::fabs(e - a) > 1e-9 * std::max(1.0, std::fabs(e))) {
      errors->push_back(path + ": expected " + simdjson::minify(expected) + ", got " + simdjson::minify(actual));
    }
    return;
  }
  if (simdjson::minify(expected) != simdjson::minify(actual)) {
    errors->push_back(path + ": expected " + simdjson::minify(expected) + ", got " + simdjson::minify(actual));
  }
}

std::string Identity(element record) {
  if (record["summary"].error() == simdjson::SUCCESS) return "summary";
  std::string id;
  for (const char* key : {"time", "tenant", "team", "window"}) {
    std::string_view value;
    if (record[key].get_string().get(value) == simdjson::SUCCESS) id += std::string(value) + "|";
  }
  bool final = false;
  if (record["final"].get_bool().get(final) == simdjson::SUCCESS && final) id += "final";
  return id;
}

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, MatchesExpected) {
  const fs::path dir = fs::path(CCPULSE_GOLDEN_DIR) / GetParam();
  std::string args;
  if (fs::exists(dir / "args")) {
    for (const std::string& arg : Lines(ReadFile(dir / "args"))) args += " '" + arg + "'";
  }
  const std::string command = std::string(CCPULSE_BINARY) + " replay --quiet" + args + " '" +
                              (dir / "input.jsonl").string() + "'";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[1 << 16];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), pipe)) > 0;) output.append(buf, n);
  ASSERT_EQ(pclose(pipe), 0) << command;

  simdjson::dom::parser actual_parser, expected_parser;
  std::vector<std::pair<std::string, element>> actual;
  std::vector<simdjson::padded_string> keep;
  std::vector<std::string> actual_lines = Lines(output);
  std::vector<simdjson::dom::document> docs(actual_lines.size());
  for (size_t i = 0; i < actual_lines.size(); ++i) {
    element e;
    ASSERT_EQ(actual_parser.parse_into_document(docs[i], actual_lines[i]).get(e), simdjson::SUCCESS)
        << actual_lines[i];
    actual.emplace_back(Identity(e), e);
  }
  const std::vector<std::string> expected_lines = Lines(ReadFile(dir / "expected.jsonl"));
  ASSERT_FALSE(expected_lines.empty());
  for (const std::string& line : expected_lines) {
    simdjson::dom::document doc;
    element expected;
    ASSERT_EQ(expected_parser.parse_into_document(doc, line).get(expected), simdjson::SUCCESS) << line;
    const std::string id = Identity(expected);
    auto it = std::find_if(actual.begin(), actual.end(), [&](const auto& a) { return a.first == id; });
    ASSERT_NE(it, actual.end()) << "no output record " << id << "\noutput:\n" << output;
    std::vector<std::string> errors;
    Subset(expected, it->second, id, &errors);
    for (const std::string& error : errors) ADD_FAILURE() << GetParam() << ": " << error;
  }
}

std::vector<std::string> Cases() {
  std::vector<std::string> cases;
  for (const auto& entry : fs::directory_iterator(CCPULSE_GOLDEN_DIR)) {
    if (entry.is_directory()) cases.push_back(entry.path().filename().string());
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Cases, GoldenTest, ::testing::ValuesIn(Cases()),
                         [](const auto& param_info) { return param_info.param; });

}  // namespace
