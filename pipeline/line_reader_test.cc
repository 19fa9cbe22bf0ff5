// Tests for LineReader over temporary files: line splitting, CRLF, missing final newline,
// blank lines, oversized lines skipped with their exact length, and block boundaries.
#include "pipeline/line_reader.h"

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace ccpulse {
namespace {

constexpr size_t kMiB = 1 << 20;

struct ReadLine {
  std::string text;
  uint64_t number;
  uint64_t length;
  bool oversized;
  friend bool operator==(const ReadLine&, const ReadLine&) = default;
};

void PrintTo(const ReadLine& l, std::ostream* os) {
  *os << "{#" << l.number << " len=" << l.length << (l.oversized ? " oversized" : "") << " text=\""
      << (l.text.size() > 60 ? l.text.substr(0, 60) + "..." : l.text) << "\"}";
}

class LineReaderTest : public ::testing::Test {
 protected:
  std::string WriteFile(const std::string& contents) {
    const std::string path = ::testing::TempDir() + "/line_reader_test_" +
                             std::to_string(::getpid()) + "_" + std::to_string(files_.size());
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    f.close();
    files_.push_back(path);
    return path;
  }
  void TearDown() override {
    for (const std::string& f : files_) std::remove(f.c_str());
  }

  // Reads every line of `contents` with the given limit.
  std::vector<ReadLine> ReadAll(const std::string& contents, size_t max_line_bytes) {
    auto reader = LineReader::Open(WriteFile(contents), max_line_bytes);
    EXPECT_TRUE(reader.ok()) << reader.status();
    std::vector<ReadLine> lines;
    if (!reader.ok()) return lines;
    LineReader::Line line;
    while (true) {
      auto more = reader->Next(&line);
      EXPECT_TRUE(more.ok()) << more.status();
      if (!more.ok() || !*more) break;
      lines.push_back({std::string(line.text), line.number, line.length, line.oversized});
    }
    // End of input is sticky.
    auto again = reader->Next(&line);
    EXPECT_TRUE(again.ok() && !*again);
    return lines;
  }

  std::vector<std::string> files_;
};

ReadLine Normal(const std::string& text, uint64_t number) {
  return {text, number, text.size(), false};
}
ReadLine Oversized(uint64_t length, uint64_t number) { return {"", number, length, true}; }

TEST_F(LineReaderTest, NormalLines) {
  EXPECT_EQ(ReadAll("alpha\nbeta\ngamma\n", kMiB),
            (std::vector<ReadLine>{Normal("alpha", 1), Normal("beta", 2), Normal("gamma", 3)}));
}

TEST_F(LineReaderTest, CrlfLines) {
  EXPECT_EQ(ReadAll("alpha\r\nbeta\r\n\r\nx\ry\r\n", kMiB),
            (std::vector<ReadLine>{Normal("alpha", 1), Normal("beta", 2), Normal("", 3),
                                   Normal("x\ry", 4)}));
}

TEST_F(LineReaderTest, LastLineWithoutNewline) {
  EXPECT_EQ(ReadAll("one\ntwo", kMiB), (std::vector<ReadLine>{Normal("one", 1), Normal("two", 2)}));
  EXPECT_EQ(ReadAll("only", kMiB), (std::vector<ReadLine>{Normal("only", 1)}));
  EXPECT_EQ(ReadAll("one\r\ntwo", kMiB),
            (std::vector<ReadLine>{Normal("one", 1), Normal("two", 2)}));
}

TEST_F(LineReaderTest, EmptyFileHasNoLines) { EXPECT_TRUE(ReadAll("", kMiB).empty()); }

TEST_F(LineReaderTest, BlankLinesAreEmptyText) {
  EXPECT_EQ(ReadAll("\n\na\n\n", kMiB),
            (std::vector<ReadLine>{Normal("", 1), Normal("", 2), Normal("a", 3), Normal("", 4)}));
}

TEST_F(LineReaderTest, HugeLineIsReportedOversizedAndFollowingLinesAreRead) {
  const size_t huge = 10 * kMiB + 123;
  std::string contents = "first\n";
  contents += std::string(huge, 'x');
  contents += "\nafter\n";
  contents += std::string(3 * kMiB, 'y');  // oversized again, at end of input without newline
  EXPECT_EQ(ReadAll(contents, kMiB),
            (std::vector<ReadLine>{Normal("first", 1), Oversized(huge, 2), Normal("after", 3),
                                   Oversized(3 * kMiB, 4)}));
}

TEST_F(LineReaderTest, LineJustOverTheLimitIsOversizedEvenWhenItFitsTheBuffer) {
  // The buffer holds limit + 1 MiB, so these lines arrive whole with their newline; they are
  // still over the limit.
  const size_t limit = 100;
  std::string contents = std::string(limit, 'a') + "\n" + std::string(limit + 1, 'b') + "\n" +
                         std::string(5000, 'c') + "\r\n" + "tail\n" + std::string(limit, 'd') +
                         "\r\n" + std::string(limit + 1, 'e');
  EXPECT_EQ(ReadAll(contents, limit),
            (std::vector<ReadLine>{Normal(std::string(limit, 'a'), 1), Oversized(limit + 1, 2),
                                   Oversized(5000, 3), Normal("tail", 4),
                                   Normal(std::string(limit, 'd'), 5), Oversized(limit + 1, 6)}));
  // Same with a 1 MiB limit: a 1.5 MiB line fits the 2 MiB buffer but is over the limit.
  const size_t big = kMiB + kMiB / 2;
  EXPECT_EQ(ReadAll(std::string(big, 'z') + "\nok\n", kMiB),
            (std::vector<ReadLine>{Oversized(big, 1), Normal("ok", 2)}));
  EXPECT_EQ(ReadAll(std::string(kMiB, 'z') + "\nok\n", kMiB),
            (std::vector<ReadLine>{Normal(std::string(kMiB, 'z'), 1), Normal("ok", 2)}));
}

TEST_F(LineReaderTest, OversizedCrlfLengthExcludesCarriageReturn) {
  const size_t huge = 5 * kMiB;
  EXPECT_EQ(ReadAll(std::string(huge, 'q') + "\r\nnext\r\n", kMiB),
            (std::vector<ReadLine>{Oversized(huge, 1), Normal("next", 2)}));
}

TEST_F(LineReaderTest, OversizedLineEndingAroundReadBoundaries) {
  // The reader reads limit + 1 MiB bytes at a time; end oversized lines (LF and CRLF) just
  // before, at and after multiples of that, so the '\r' and '\n' fall on either side of a read.
  const size_t limit = 1000;
  const size_t block = kMiB + limit;
  for (size_t text : {block - 2, block - 1, block, block + 1, 2 * block - 2, 2 * block - 1,
                      2 * block, 2 * block + 1}) {
    for (const char* eol : {"\n", "\r\n"}) {
      EXPECT_EQ(ReadAll(std::string(text, 'x') + eol + "after\n", limit),
                (std::vector<ReadLine>{Oversized(text, 1), Normal("after", 2)}))
          << "text " << text << (eol[0] == '\r' ? " CRLF" : " LF");
    }
  }
}

TEST_F(LineReaderTest, ManyLinesAcrossBlockBoundaries) {
  // ~5 MiB of lines of varied lengths, so line starts and ends fall on every offset around
  // the 1 MiB read blocks.
  std::mt19937_64 rng(17);
  std::string contents;
  std::vector<ReadLine> want;
  uint64_t number = 0;
  while (contents.size() < 5 * kMiB) {
    const size_t len = std::uniform_int_distribution<size_t>(0, 300)(rng);
    std::string text(len, ' ');
    for (char& c : text) c = static_cast<char>('a' + rng() % 26);
    const bool crlf = rng() % 4 == 0;
    contents += text;
    contents += crlf ? "\r\n" : "\n";
    want.push_back(Normal(text, ++number));
  }
  EXPECT_EQ(ReadAll(contents, kMiB), want);
}

TEST_F(LineReaderTest, RandomMixWithSmallLimitMatchesModel) {
  // Random lines, some over a small limit, some very long (several blocks), CRLF or LF, with or
  // without a final newline; the reader must agree with a straightforward split.
  std::mt19937_64 rng(23);
  for (int round = 0; round < 6; ++round) {
    const size_t limit = std::uniform_int_distribution<size_t>(1, 5000)(rng);
    std::string contents;
    std::vector<ReadLine> want;
    uint64_t number = 0;
    int huge_lines = 2;
    const int count = std::uniform_int_distribution<int>(1, 3000)(rng);
    for (int i = 0; i < count; ++i) {
      const int kind = std::uniform_int_distribution<int>(0, 99)(rng);
      size_t len;
      if (kind < 80) {
        len = std::uniform_int_distribution<size_t>(0, limit)(rng);
      } else if (kind < 99 || huge_lines == 0) {
        len = std::uniform_int_distribution<size_t>(limit + 1, 3 * limit + 10)(rng);
      } else {
        --huge_lines;
        len = std::uniform_int_distribution<size_t>(kMiB, 3 * kMiB)(rng);
      }
      std::string text(len, 'a' + static_cast<char>(i % 26));
      const bool crlf = rng() % 3 == 0;
      const bool last = i == count - 1;
      contents += text;
      if (!last || rng() % 2 == 0) contents += crlf ? "\r\n" : "\n";
      ++number;
      want.push_back(len > limit ? Oversized(len, number) : Normal(text, number));
    }
    const std::vector<ReadLine> got = ReadAll(contents, limit);
    ASSERT_EQ(got.size(), want.size()) << "round " << round << " limit " << limit;
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i], want[i]) << "round " << round << " limit " << limit << " line " << i + 1;
    }
  }
}

TEST_F(LineReaderTest, NonexistentPathIsNotFoundNamingThePath) {
  const std::string path = ::testing::TempDir() + "/line_reader_test_does_not_exist.jsonl";
  auto reader = LineReader::Open(path, kMiB);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(reader.status().message()).find(path), std::string::npos)
      << reader.status();
}

TEST_F(LineReaderTest, MovedReaderKeepsReading) {
  auto reader = LineReader::Open(WriteFile("a\nb\n"), kMiB);
  ASSERT_TRUE(reader.ok());
  LineReader::Line line;
  ASSERT_TRUE(*reader->Next(&line));
  EXPECT_EQ(line.text, "a");
  LineReader moved(std::move(*reader));
  ASSERT_TRUE(*moved.Next(&line));
  EXPECT_EQ(line.text, "b");
  EXPECT_EQ(line.number, 2u);
  EXPECT_FALSE(*moved.Next(&line));
}

}  // namespace
}  // namespace ccpulse
