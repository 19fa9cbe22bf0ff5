// Reads newline-delimited records from a file descriptor in large blocks. A line longer than
// the limit is skipped to its end and reported with its length, never buffered whole.
#ifndef CCPULSE_PIPELINE_LINE_READER_H_
#define CCPULSE_PIPELINE_LINE_READER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ccpulse {

// Not thread-safe. Owns the descriptor when opened by path.
class LineReader {
 public:
  struct Line {
    std::string_view text;  // without the newline (and without a trailing '\r')
    uint64_t number = 0;    // 1-based
    uint64_t length = 0;    // full length of the text; > limit when `oversized`
    bool oversized = false; // text is empty then
  };

  // "-" reads standard input.
  static absl::StatusOr<LineReader> Open(const std::string& path, size_t max_line_bytes);
  LineReader(LineReader&& other) noexcept;
  LineReader& operator=(LineReader&&) = delete;
  ~LineReader();

  // Reads the next line into `*line`: true, or false at end of input. `line->text` points into
  // the reader's buffer and is valid until the next call. Errors (EIO) are returned as status.
  absl::StatusOr<bool> Next(Line* line);

 private:
  LineReader(int fd, bool owned, std::string path, size_t max_line_bytes);
  // Reads more bytes after compacting; false at EOF.
  absl::StatusOr<bool> Fill();
  // Fills `*line` with the buffered line at [offset, offset + length), oversized when over the
  // limit.
  void SetLine(size_t offset, size_t length, Line* line);

  int fd_;
  bool owned_;
  std::string path_;
  size_t max_line_bytes_;
  std::string buffer_;
  size_t begin_ = 0;  // unread data is buffer_[begin_, end_)
  size_t end_ = 0;
  bool eof_ = false;
  uint64_t line_number_ = 0;
};

}  // namespace ccpulse

#endif  // CCPULSE_PIPELINE_LINE_READER_H_
