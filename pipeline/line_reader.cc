// Block line reader; see line_reader.h.
#include "pipeline/line_reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace ccpulse {
namespace {
constexpr size_t kBlockBytes = 1 << 20;
}  // namespace

absl::StatusOr<LineReader> LineReader::Open(const std::string& path, size_t max_line_bytes) {
  if (path == "-") return LineReader(STDIN_FILENO, false, "<stdin>", max_line_bytes);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(fmt::format("{}: {}", path, std::strerror(errno)));
  return LineReader(fd, true, path, max_line_bytes);
}

LineReader::LineReader(int fd, bool owned, std::string path, size_t max_line_bytes)
    : fd_(fd), owned_(owned), path_(std::move(path)), max_line_bytes_(max_line_bytes) {
  buffer_.resize(std::max(kBlockBytes, max_line_bytes + kBlockBytes));
}

LineReader::LineReader(LineReader&& other) noexcept
    : fd_(other.fd_),
      owned_(other.owned_),
      path_(std::move(other.path_)),
      max_line_bytes_(other.max_line_bytes_),
      buffer_(std::move(other.buffer_)),
      begin_(other.begin_),
      end_(other.end_),
      eof_(other.eof_),
      line_number_(other.line_number_) {
  other.owned_ = false;
}

LineReader::~LineReader() {
  if (owned_) ::close(fd_);
}

absl::StatusOr<bool> LineReader::Fill() {
  if (eof_) return false;
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  while (true) {
    const ssize_t n = ::read(fd_, buffer_.data() + end_, buffer_.size() - end_);
    if (n > 0) {
      end_ += static_cast<size_t>(n);
      return true;
    }
    if (n == 0) {
      eof_ = true;
      return false;
    }
    if (errno != EINTR) return absl::DataLossError(fmt::format("{}: read: {}", path_, std::strerror(errno)));
  }
}

absl::StatusOr<bool> LineReader::Next(Line* line) {
  size_t scanned = begin_;
  while (true) {
    const char* start = buffer_.data() + scanned;
    const void* nl = std::memchr(start, '\n', end_ - scanned);
    if (nl != nullptr) {
      const size_t stop = static_cast<size_t>(static_cast<const char*>(nl) - buffer_.data());
      size_t text_end = stop;
      if (text_end > begin_ && buffer_[text_end - 1] == '\r') --text_end;
      // The whole line may be in the buffer (it holds limit + one block) and still be over the
      // limit.
      SetLine(begin_, text_end - begin_, line);
      begin_ = stop + 1;
      return true;
    }
    scanned = end_;
    // No newline yet. Past limit + 1 bytes (the last one may be a '\r' to strip) the line is
    // oversized whatever follows.
    if (end_ - begin_ > max_line_bytes_ + 1) {
      // Oversized: count bytes up to the newline without keeping them.
      uint64_t length = end_ - begin_;
      char last = buffer_[end_ - 1];
      begin_ = end_ = 0;
      while (true) {
        auto more = Fill();
        if (!more.ok()) return more.status();
        if (!*more) break;
        const void* found = std::memchr(buffer_.data(), '\n', end_);
        if (found != nullptr) {
          const size_t stop = static_cast<size_t>(static_cast<const char*>(found) - buffer_.data());
          if (stop > 0) last = buffer_[stop - 1];
          length += stop;
          if (last == '\r') --length;  // the '\r' may have ended the previous block
          begin_ = stop + 1;
          break;
        }
        length += end_;
        last = buffer_[end_ - 1];
        begin_ = end_ = 0;
      }
      line->text = {};
      line->length = length;
      line->oversized = true;
      line->number = ++line_number_;
      return true;
    }
    const size_t consumed_offset = scanned - begin_;
    auto more = Fill();
    if (!more.ok()) return more.status();
    scanned = begin_ + consumed_offset;
    if (!*more) {
      if (begin_ == end_) return false;
      // Last line without a trailing newline.
      SetLine(begin_, end_ - begin_, line);
      begin_ = end_;
      return true;
    }
  }
}

void LineReader::SetLine(size_t offset, size_t length, Line* line) {
  line->length = length;
  line->oversized = length > max_line_bytes_;
  line->text =
      line->oversized ? std::string_view() : std::string_view(buffer_.data() + offset, length);
  line->number = ++line_number_;
}

}  // namespace ccpulse
