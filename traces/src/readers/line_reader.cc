#include "src/readers/line_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/iostreams/categories.hpp>
#include <boost/iostreams/filter/gzip.hpp>
#include <boost/iostreams/filtering_streambuf.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <filesystem>
#include <ios>
#include <mutex>
#include <thread>
#include <utility>

#include "allot/core/error.h"

namespace allot::traces::detail {
namespace {

namespace io = boost::iostreams;

constexpr std::size_t kBlock = std::size_t{1} << 20;
constexpr std::size_t kFirstBlock = std::size_t{1} << 16;
constexpr std::streamsize kBufferSize = 1 << 18;  // gzip input and output buffers

std::string systemError(const std::string& what, const std::string& path) {
  return path + ": cannot " + what + ": " + std::strerror(errno);
}

// An open file descriptor, closed on destruction.
class File {
 public:
  explicit File(const std::string& path) : path_(path), fd_(::open(path.c_str(), O_RDONLY)) {
    if (fd_ < 0) throw Error(systemError("open", path));
    struct stat info {};
    if (::fstat(fd_, &info) == 0 && S_ISDIR(info.st_mode)) {
      ::close(fd_);
      throw Error(path + ": is a directory, expected a file");
    }
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File() { ::close(fd_); }

  std::size_t read(char* data, std::size_t size) {
    for (;;) {
      const ssize_t n = ::read(fd_, data, size);
      if (n >= 0) {
        bytes_ += static_cast<std::uint64_t>(n);
        return static_cast<std::size_t>(n);
      }
      if (errno != EINTR) throw Error(systemError("read", path_));
    }
  }
  std::uint64_t bytes() const { return bytes_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_;
  std::uint64_t bytes_ = 0;
};

class PlainSource final : public ByteSource {
 public:
  explicit PlainSource(std::unique_ptr<File> file, std::string prefix)
      : file_(std::move(file)), prefix_(std::move(prefix)) {}

  std::size_t read(char* data, std::size_t size) override {
    if (!prefix_.empty()) {  // the bytes sniffed for the magic number
      const std::size_t n = std::min(size, prefix_.size());
      std::memcpy(data, prefix_.data(), n);
      prefix_.erase(0, n);
      return n;
    }
    return file_->read(data, size);
  }
  std::uint64_t fileBytesRead() const override { return file_->bytes(); }

 private:
  std::unique_ptr<File> file_;
  std::string prefix_;
};

// Boost.Iostreams source device over a File, replaying the sniffed prefix.
class FileDevice {
 public:
  using char_type = char;
  using category = io::source_tag;

  FileDevice(File* file, std::string prefix) : file_(file), prefix_(std::move(prefix)) {}

  std::streamsize read(char* data, std::streamsize size) {
    const auto want = static_cast<std::size_t>(size);
    std::size_t n = 0;
    if (!prefix_.empty()) {
      n = std::min(want, prefix_.size());
      std::memcpy(data, prefix_.data(), n);
      prefix_.erase(0, n);
    } else {
      n = file_->read(data, want);
    }
    return n == 0 ? -1 : static_cast<std::streamsize>(n);
  }

 private:
  File* file_;  // not owned; outlives the device
  std::string prefix_;
};

class GzipSource final : public ByteSource {
 public:
  GzipSource(std::unique_ptr<File> file, std::string prefix) : file_(std::move(file)) {
    stream_.push(io::gzip_decompressor(io::gzip::default_window_bits, kBufferSize));
    stream_.push(FileDevice(file_.get(), std::move(prefix)), kBufferSize);
  }

  std::size_t read(char* data, std::size_t size) override {
    try {
      const std::streamsize n = stream_.sgetn(data, static_cast<std::streamsize>(size));
      return n <= 0 ? 0 : static_cast<std::size_t>(n);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(file_->path() + ": corrupt gzip data near byte " +
                  std::to_string(file_->bytes()) + ": " + e.what());
    }
  }
  std::uint64_t fileBytesRead() const override { return file_->bytes(); }

 private:
  std::unique_ptr<File> file_;
  io::filtering_streambuf<io::input> stream_;
};

// Runs another source on a worker thread, a few blocks ahead of the reader,
// so that gzip inflation overlaps with parsing (it takes about as long).
// Memory: at most kDepth + 2 blocks of kPrefetchBlock bytes. Large blocks
// keep hand-overs between the threads rare, which matters on a loaded
// machine, where each wake-up may wait for a time slice.
class PrefetchSource final : public ByteSource {
 public:
  explicit PrefetchSource(std::unique_ptr<ByteSource> inner)
      : inner_(std::move(inner)), worker_([this] { run(); }) {}
  PrefetchSource(const PrefetchSource&) = delete;
  PrefetchSource& operator=(const PrefetchSource&) = delete;
  ~PrefetchSource() override {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    worker_.join();
  }

  std::size_t read(char* data, std::size_t size) override {
    if (offset_ == current_.size()) {
      std::unique_lock lock(mutex_);
      if (!current_.empty()) spare_.push_back(std::move(current_));
      changed_.notify_all();
      changed_.wait(lock, [&] { return !full_.empty() || finished_; });
      if (full_.empty()) {
        if (error_) std::rethrow_exception(error_);
        return 0;
      }
      current_ = std::move(full_.front());
      full_.pop_front();
      offset_ = 0;
      changed_.notify_all();
    }
    const std::size_t n = std::min(size, current_.size() - offset_);
    std::memcpy(data, current_.data() + offset_, n);
    offset_ += n;
    return n;
  }
  std::uint64_t fileBytesRead() const override { return bytes_.load(std::memory_order_relaxed); }

 private:
  static constexpr std::size_t kDepth = 3;
  static constexpr std::size_t kPrefetchBlock = std::size_t{2} << 20;

  void run() {
    try {
      for (;;) {
        std::vector<char> block;
        {
          std::unique_lock lock(mutex_);
          changed_.wait(lock, [&] { return stop_ || full_.size() < kDepth; });
          if (stop_) break;
          if (!spare_.empty()) {
            block = std::move(spare_.back());
            spare_.pop_back();
          }
        }
        block.resize(kPrefetchBlock);
        std::size_t filled = 0;
        while (filled < block.size()) {
          const std::size_t n = inner_->read(block.data() + filled, block.size() - filled);
          if (n == 0) break;
          filled += n;
        }
        bytes_.store(inner_->fileBytesRead(), std::memory_order_relaxed);
        block.resize(filled);
        std::lock_guard lock(mutex_);
        if (filled > 0) full_.push_back(std::move(block));
        if (filled < kPrefetchBlock) break;
        changed_.notify_all();
      }
    } catch (...) {
      std::lock_guard lock(mutex_);
      error_ = std::current_exception();
    }
    {
      std::lock_guard lock(mutex_);
      finished_ = true;
    }
    changed_.notify_all();
  }

  std::unique_ptr<ByteSource> inner_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::vector<char>> full_;  // filled blocks, in order
  std::vector<std::vector<char>> spare_;
  std::exception_ptr error_;
  bool stop_ = false, finished_ = false;
  std::atomic<std::uint64_t> bytes_{0};
  std::vector<char> current_;  // the block being consumed (reader thread only)
  std::size_t offset_ = 0;
  std::thread worker_;  // last: starts after the members above exist
};

}  // namespace

std::unique_ptr<ByteSource> openByteSource(const std::string& path) {
  auto file = std::make_unique<File>(path);
  // Sniff the gzip magic number (RFC 1952: 1f 8b).
  char magic[2] = {};
  std::size_t got = 0;
  while (got < sizeof magic) {
    const std::size_t n = file->read(magic + got, sizeof magic - got);
    if (n == 0) break;
    got += n;
  }
  std::string prefix(magic, got);
  if (got == 2 && static_cast<unsigned char>(magic[0]) == 0x1f &&
      static_cast<unsigned char>(magic[1]) == 0x8b) {
    return std::make_unique<PrefetchSource>(
        std::make_unique<GzipSource>(std::move(file), std::move(prefix)));
  }
  return std::make_unique<PlainSource>(std::move(file), std::move(prefix));
}

std::uint64_t fileSize(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return 0;
  return static_cast<std::uint64_t>(info.st_size);
}

LineReader::LineReader(std::string path)
    : path_(std::move(path)), source_(openByteSource(path_)), buffer_(kFirstBlock) {}

LineReader::~LineReader() = default;

bool LineReader::fill() {
  if (eof_) return false;
  // Move the unread tail to the front, grow when one line fills the buffer.
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == buffer_.size()) {
    if (buffer_.size() >= kMaxLine) {
      throw ParseError(path_ + ":" + std::to_string(lineNumber_ + 1) + ": line longer than " +
                       std::to_string(kMaxLine >> 20) + " MiB");
    }
    buffer_.resize(std::min(buffer_.size() * 2, kMaxLine));
  }
  const std::size_t room = buffer_.size() - end_;
  const std::size_t n = source_->read(buffer_.data() + end_, room);
  if (n == 0) {
    eof_ = true;
    return false;
  }
  end_ += n;
  // Start small (most test and fuzz inputs are tiny) and grow to kBlock
  // once the input proves large.
  if (n == room && buffer_.size() < kBlock) buffer_.resize(buffer_.size() * 2);
  return true;
}

bool LineReader::next(std::string_view& line) {
  std::size_t scanned = 0;  // bytes after begin_ known to hold no newline
  for (;;) {
    const char* start = buffer_.data() + begin_;
    const auto* newline =
        static_cast<const char*>(std::memchr(start + scanned, '\n', end_ - begin_ - scanned));
    if (newline != nullptr) {
      std::size_t length = static_cast<std::size_t>(newline - start);
      begin_ += length + 1;
      if (length > 0 && start[length - 1] == '\r') --length;
      line = std::string_view(start, length);
      ++lineNumber_;
      return true;
    }
    scanned = end_ - begin_;
    if (!fill()) break;
  }
  if (begin_ == end_) return false;
  // Last line without a newline.
  const char* start = buffer_.data() + begin_;
  std::size_t length = end_ - begin_;
  begin_ = end_;
  if (start[length - 1] == '\r') --length;
  line = std::string_view(start, length);
  ++lineNumber_;
  return true;
}

PartsReader::PartsReader(std::vector<std::string> files) : files_(std::move(files)) {
  for (const auto& file : files_) total_ += fileSize(file);
}

bool PartsReader::next(std::string_view& line) {
  for (;;) {
    if (current_ && current_->next(line)) return true;
    if (nextFile_ == files_.size()) return false;
    if (current_) finishedBytes_ += current_->fileBytesRead();
    current_ = std::make_unique<LineReader>(files_[nextFile_++]);
  }
}

std::uint64_t PartsReader::bytesRead() const {
  return finishedBytes_ + (current_ ? current_->fileBytesRead() : 0);
}

std::vector<std::string> listParts(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (!fs::exists(path, error)) throw Error(path + ": no such file or folder");
  if (!fs::is_directory(path, error)) return {path};
  std::vector<std::string> parts;
  for (const auto& entry : fs::directory_iterator(path, error)) {
    const std::string name = entry.path().filename().string();
    if (!name.empty() && name.front() != '.' && entry.is_regular_file(error)) {
      parts.push_back(entry.path().string());
    }
  }
  if (error) throw Error(path + ": cannot list folder: " + error.message());
  if (parts.empty()) throw Error(path + ": folder holds no part files");
  std::sort(parts.begin(), parts.end());
  return parts;
}

}  // namespace allot::traces::detail
