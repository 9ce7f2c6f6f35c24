#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace allot::traces::detail {

// Byte source of one file: plain or gzip (detected by the magic bytes 1f 8b,
// whatever the extension), read in large blocks. Counts the bytes taken from
// the file (compressed bytes for gzip) for progress reports.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `size` bytes; returns 0 at end of input. Throws Error on an
  // I/O error or corrupt gzip data.
  virtual std::size_t read(char* data, std::size_t size) = 0;
  virtual std::uint64_t fileBytesRead() const = 0;
  // Sources that produce whole blocks in memory (the gzip prefetcher) may
  // lend them instead of copying: sets `block` to the next block, valid until
  // the next call; an empty block means end of input. Throws as read().
  // Only for sources whose lends() is true; do not mix with read() on the
  // same source.
  virtual bool lends() const { return false; }
  virtual void borrow(std::string_view& block) { block = {}; }
};

// Whether gzip input is inflated on a worker thread ahead of the reader
// (kAhead, the default) or on the reading thread (kInline: for readers that
// already read on a thread of their own, so that it does not take a third).
enum class Inflate { kAhead, kInline };

// Opens `path`. Throws Error naming the file when it cannot be opened.
std::unique_ptr<ByteSource> openByteSource(const std::string& path,
                                           Inflate inflate = Inflate::kAhead);

// Splits a file into lines without copying them: reads blocks of 1 MiB and
// hands out views into its buffer. A trailing '\r' is dropped, so CRLF files
// read as LF files. The last line may lack its newline. Lines longer than
// kMaxLine throw ParseError (memory stays bounded whatever the input).
class LineReader {
 public:
  using Line = std::string_view;
  static constexpr std::size_t kMaxLine = std::size_t{16} << 20;

  explicit LineReader(std::string path, Inflate inflate = Inflate::kAhead);
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;
  ~LineReader();

  // Sets `line` to the next line; returns false at end of file. The view is
  // valid until the next call.
  bool next(std::string_view& line);

  // 1-based number of the line last returned (0 before the first).
  std::uint64_t lineNumber() const { return lineNumber_; }
  const std::string& path() const { return path_; }
  std::uint64_t fileBytesRead() const { return source_->fileBytesRead(); }
  std::uint64_t bytesRead() const { return fileBytesRead(); }

 private:
  bool fill();  // makes room and reads more; false at end of input
  // next() on a lending source: lines are views into the lent block, except
  // one that spans blocks, which is gathered in carry_.
  bool nextBorrowed(std::string_view& line);
  void finishLine(const char* start, std::size_t length, std::string_view& line);

  std::string path_;
  std::unique_ptr<ByteSource> source_;
  std::vector<char> buffer_;
  std::size_t begin_ = 0, end_ = 0;  // unread bytes are buffer_[begin_, end_)
  bool eof_ = false;
  bool lends_ = false;      // source_ lends blocks (nextBorrowed)
  std::string_view block_;  // unread part of the lent block
  std::string carry_;       // a line spanning lent blocks
  std::uint64_t lineNumber_ = 0;
};

// Reads the lines of several files (the parts of one table) in sequence.
class PartsReader {
 public:
  using Line = std::string_view;
  explicit PartsReader(std::vector<std::string> files, Inflate inflate = Inflate::kAhead);

  // Sets `line` to the next line of the current part, moving on to the next
  // part at the end of one; false after the last part.
  bool next(std::string_view& line);
  // The part that returned the last line (for error messages).
  // REQUIRES: next() returned true at least once.
  const LineReader& current() const { return *current_; }
  // Bytes read of all parts so far, and their total size.
  std::uint64_t bytesRead() const;
  std::uint64_t totalBytes() const { return total_; }
  const std::vector<std::string>& files() const { return files_; }

 private:
  std::vector<std::string> files_;
  Inflate inflate_;
  std::size_t nextFile_ = 0;
  std::unique_ptr<LineReader> current_;
  std::uint64_t finishedBytes_ = 0, total_ = 0;
};

// The parts of a table: `path` itself when it is a file, else the regular,
// non-hidden files of the folder sorted by name (part-00000-of-00500...).
// Throws Error when `path` does not exist or a folder holds no file.
std::vector<std::string> listParts(const std::string& path);

// Size of a file in bytes (0 when it cannot be read).
std::uint64_t fileSize(const std::string& path);

}  // namespace allot::traces::detail
