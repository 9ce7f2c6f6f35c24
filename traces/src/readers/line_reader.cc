#include "src/readers/line_reader.h"

#include <fcntl.h>
#include <isa-l/igzip_lib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <deque>
#include <exception>
#include <filesystem>
#include <limits>
#include <mutex>
#include <thread>
#include <utility>

#include "allot/core/error.h"
#include "allot/core/huge_pages.h"

namespace allot::traces::detail {
namespace {

constexpr std::size_t kBlock = std::size_t{1} << 20;
constexpr std::size_t kFirstBlock = std::size_t{1} << 16;

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

// Inflates a gzip file with ISA-L's igzip (about 3x faster than zlib here),
// member after member (`cat a.gz b.gz` is one stream, as for gzip -d), and
// checks each member's header and CRC-32 / size trailer (crc_flag =
// ISAL_GZIP). Memory: one input buffer and the inflate state, whatever the
// file size.
class GzipSource final : public ByteSource {
 public:
  GzipSource(std::unique_ptr<File> file, std::string prefix)
      : file_(std::move(file)),
        prefix_(std::move(prefix)),
        input_(kInputSize),
        state_(std::make_unique<inflate_state>()) {
    isal_inflate_init(state_.get());
    state_->crc_flag = ISAL_GZIP;
  }

  std::size_t read(char* data, std::size_t size) override {
    auto* out = reinterpret_cast<std::uint8_t*>(data);
    std::size_t produced = 0;
    while (produced < size) {
      if (state_->block_state == ISAL_BLOCK_FINISH) {
        // End of a member: another one may follow, or zero padding to the
        // end of the file (tape blocks; gzip -d ignores it too).
        if (state_->avail_in == 0 && !refill()) break;
        if (state_->next_in[0] == 0) {
          skipZeroPadding();
          break;
        }
        isal_inflate_reset(state_.get());
        state_->crc_flag = ISAL_GZIP;
      }
      if (state_->avail_in == 0 && !refill()) {
        // The file ends inside a member (it cannot end before the first one:
        // the magic bytes were there).
        corrupt("unexpected end of file");
      }
      const std::size_t room =
          std::min<std::size_t>(size - produced, std::numeric_limits<std::uint32_t>::max());
      state_->next_out = out + produced;
      state_->avail_out = static_cast<std::uint32_t>(room);
      const std::uint32_t inBefore = state_->avail_in;
      const int rc = isal_inflate(state_.get());
      const std::size_t made = room - state_->avail_out;
      produced += made;
      if (rc != ISAL_DECOMP_OK) corrupt(describe(rc));
      if (made == 0 && state_->avail_in == inBefore && state_->avail_in > 0 &&
          state_->block_state != ISAL_BLOCK_FINISH) {
        corrupt("inflate makes no progress");  // a guard; igzip never stalls
      }
    }
    return produced;
  }
  std::uint64_t fileBytesRead() const override { return file_->bytes(); }

 private:
  static constexpr std::size_t kInputSize = std::size_t{1} << 18;

  // Consumes the rest of the file, which must be zero bytes.
  void skipZeroPadding() {
    do {
      const std::uint8_t* begin = state_->next_in;
      if (std::any_of(begin, begin + state_->avail_in, [](std::uint8_t b) { return b != 0; })) {
        corrupt("bytes after the last member that are neither a member nor zero padding");
      }
      state_->avail_in = 0;
    } while (refill());
  }

  // Reads more compressed bytes (the sniffed prefix first); false at end of
  // file.
  bool refill() {
    std::size_t n = 0;
    if (!prefix_.empty()) {
      n = prefix_.size();
      std::memcpy(input_.data(), prefix_.data(), n);
      prefix_.clear();
    } else {
      n = file_->read(reinterpret_cast<char*>(input_.data()), input_.size());
    }
    state_->next_in = input_.data();
    state_->avail_in = static_cast<std::uint32_t>(n);
    return n > 0;
  }

  static std::string describe(int rc) {
    switch (rc) {
      case ISAL_INVALID_BLOCK:
        return "invalid deflate block";
      case ISAL_INVALID_SYMBOL:
        return "invalid deflate symbol";
      case ISAL_INVALID_LOOKBACK:
        return "invalid back-reference distance";
      case ISAL_INVALID_WRAPPER:
        return "invalid gzip header";
      case ISAL_UNSUPPORTED_METHOD:
        return "compression method is not deflate";
      case ISAL_INCORRECT_CHECKSUM:
        return "CRC or length check failed";
      default:
        return "inflate error " + std::to_string(rc);
    }
  }

  [[noreturn]] void corrupt(const std::string& what) const {
    throw Error(file_->path() + ": corrupt gzip data near byte " +
                std::to_string(file_->bytes() - state_->avail_in) + ": " + what);
  }

  std::unique_ptr<File> file_;
  std::string prefix_;
  std::vector<std::uint8_t> input_;
  std::unique_ptr<inflate_state> state_;  // large (about 30 KiB): on the heap
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

  bool lends() const override { return true; }
  void borrow(std::string_view& block) override {
    std::unique_lock lock(mutex_);
    if (!current_.empty()) spare_.push_back(std::move(current_));
    current_.clear();
    offset_ = 0;
    changed_.notify_all();
    changed_.wait(lock, [&] { return !full_.empty() || finished_; });
    if (full_.empty()) {
      if (error_) std::rethrow_exception(error_);
      block = {};
      return;
    }
    current_ = std::move(full_.front());
    full_.pop_front();
    offset_ = current_.size();  // read() must not hand it out again
    changed_.notify_all();
    block = std::string_view(current_.data(), current_.size());
  }

 private:
  static constexpr std::size_t kDepth = 3;
  static constexpr std::size_t kPrefetchBlock = std::size_t{2} << 20;

  // kPrefetchBlock bytes: one huge page, in a mapping of its own (see
  // HugeBuffer); `filled` of them hold data. Not zeroed: inflating
  // overwrites them (zeroing 2 MiB per new block doubled the cost of its
  // fresh pages).
  struct Block {
    Block() = default;
    // Moved-from blocks are empty, as moved-from vectors were.
    Block(Block&& other) noexcept
        : bytes(std::move(other.bytes)), filled(std::exchange(other.filled, 0)) {}
    Block& operator=(Block&& other) noexcept {
      bytes = std::move(other.bytes);
      filled = std::exchange(other.filled, 0);
      return *this;
    }

    HugeBuffer bytes;
    std::size_t filled = 0;
    const char* data() const { return bytes.data(); }
    std::size_t size() const { return filled; }
    bool empty() const { return filled == 0; }
    void clear() { filled = 0; }
  };

  void run() {
    try {
      for (;;) {
        Block block;
        {
          std::unique_lock lock(mutex_);
          changed_.wait(lock, [&] { return stop_ || full_.size() < kDepth; });
          if (stop_) break;
          if (!spare_.empty()) {
            block = std::move(spare_.back());
            spare_.pop_back();
          }
        }
        // A new block on a huge page: four blocks of 2 MiB faulted in 4 KiB
        // pages were 40% of a streaming SWF read's page faults.
        if (block.bytes.data() == nullptr) block.bytes = HugeBuffer(kPrefetchBlock);
        std::size_t filled = 0;
        while (filled < kPrefetchBlock) {
          const std::size_t n = inner_->read(block.bytes.data() + filled, kPrefetchBlock - filled);
          if (n == 0) break;
          filled += n;
        }
        bytes_.store(inner_->fileBytesRead(), std::memory_order_relaxed);
        block.filled = filled;
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
  std::deque<Block> full_;  // filled blocks, in order
  std::vector<Block> spare_;
  std::exception_ptr error_;
  bool stop_ = false, finished_ = false;
  std::atomic<std::uint64_t> bytes_{0};
  Block current_;  // the block being consumed (reader thread only)
  std::size_t offset_ = 0;
  std::thread worker_;  // last: starts after the members above exist
};

}  // namespace

std::unique_ptr<ByteSource> openByteSource(const std::string& path, Inflate inflate) {
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
    auto gzip = std::make_unique<GzipSource>(std::move(file), std::move(prefix));
    if (inflate == Inflate::kInline) return gzip;
    return std::make_unique<PrefetchSource>(std::move(gzip));
  }
  return std::make_unique<PlainSource>(std::move(file), std::move(prefix));
}

std::uint64_t fileSize(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return 0;
  return static_cast<std::uint64_t>(info.st_size);
}

LineReader::LineReader(std::string path, Inflate inflate)
    : path_(std::move(path)), source_(openByteSource(path_, inflate)), lends_(source_->lends()) {
  if (!lends_) buffer_.resize(kFirstBlock);
}

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

void LineReader::finishLine(const char* start, std::size_t length, std::string_view& line) {
  if (length > 0 && start[length - 1] == '\r') --length;
  line = std::string_view(start, length);
  ++lineNumber_;
}

bool LineReader::nextBorrowed(std::string_view& line) {
  const auto* newline =
      block_.empty() ? nullptr
                     : static_cast<const char*>(std::memchr(block_.data(), '\n', block_.size()));
  if (newline != nullptr) {  // the common case: the line lies in the block
    const std::size_t length = static_cast<std::size_t>(newline - block_.data());
    const char* start = block_.data();
    block_.remove_prefix(length + 1);
    finishLine(start, length, line);
    return true;
  }
  if (eof_) return false;
  // The line goes on in the next block(s).
  carry_.assign(block_);
  for (;;) {
    if (carry_.size() > kMaxLine) {
      throw ParseError(path_ + ":" + std::to_string(lineNumber_ + 1) + ": line longer than " +
                       std::to_string(kMaxLine >> 20) + " MiB");
    }
    source_->borrow(block_);
    if (block_.empty()) {
      eof_ = true;
      if (carry_.empty()) return false;
      finishLine(carry_.data(), carry_.size(), line);  // last line, no newline
      return true;
    }
    newline = static_cast<const char*>(std::memchr(block_.data(), '\n', block_.size()));
    if (newline != nullptr) {
      const std::size_t length = static_cast<std::size_t>(newline - block_.data());
      carry_.append(block_.data(), length);
      block_.remove_prefix(length + 1);
      if (carry_.size() > kMaxLine) {
        throw ParseError(path_ + ":" + std::to_string(lineNumber_ + 1) + ": line longer than " +
                         std::to_string(kMaxLine >> 20) + " MiB");
      }
      finishLine(carry_.data(), carry_.size(), line);
      return true;
    }
    carry_.append(block_.data(), block_.size());
  }
}

bool LineReader::next(std::string_view& line) {
  if (lends_) return nextBorrowed(line);
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

PartsReader::PartsReader(std::vector<std::string> files, Inflate inflate)
    : files_(std::move(files)), inflate_(inflate) {
  for (const auto& file : files_) total_ += fileSize(file);
}

bool PartsReader::next(std::string_view& line) {
  for (;;) {
    if (current_ && current_->next(line)) return true;
    if (nextFile_ == files_.size()) return false;
    if (current_) finishedBytes_ += current_->fileBytesRead();
    current_ = std::make_unique<LineReader>(files_[nextFile_++], inflate_);
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
