#include "cli/bench/delivery.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace relay::cli::bench {
namespace {

constexpr std::size_t kTimeDigits = 16;
constexpr std::size_t kPublisherDigits = 8;
constexpr std::size_t kSequenceDigits = 16;
static_assert(kTimeDigits + kPublisherDigits + kSequenceDigits == kBodyStampBytes);

std::optional<std::uint64_t> parse_hex(std::string_view digits) {
  std::uint64_t value = 0;
  for (const char c : digits) {
    int digit = 0;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    value = value * 16 + static_cast<std::uint64_t>(digit);
  }
  return value;
}

}  // namespace

std::string make_body(std::size_t size, const BodyStamp& stamp) {
  std::string body = fmt::format("{:016x}{:08x}{:016x}",
                                 static_cast<std::uint64_t>(stamp.sent.time_since_epoch().count()),
                                 stamp.publisher, stamp.sequence);
  if (size > body.size()) {
    body.resize(size, 'x');
  }
  return body;
}

std::optional<BodyStamp> read_stamp(std::string_view body) {
  if (body.size() < kBodyStampBytes) {
    return std::nullopt;
  }
  const auto ticks = parse_hex(body.substr(0, kTimeDigits));
  const auto publisher = parse_hex(body.substr(kTimeDigits, kPublisherDigits));
  const auto sequence = parse_hex(body.substr(kTimeDigits + kPublisherDigits, kSequenceDigits));
  if (!ticks || !publisher || !sequence) {
    return std::nullopt;
  }
  return BodyStamp{std::chrono::steady_clock::time_point(
                       std::chrono::steady_clock::duration(static_cast<std::int64_t>(*ticks))),
                   static_cast<std::uint32_t>(*publisher), *sequence};
}

void RoomProgress::expect(std::size_t subscribers, std::size_t window) {
  subscribers_ = subscribers;
  passed_ = std::vector<std::atomic<std::uint32_t>>(2 * std::max<std::size_t>(window, 1));
}

bool RoomProgress::passed(std::uint64_t index) {
  if (passed_.empty()) {
    return false;  // before expect(): nothing published yet
  }
  auto& count = passed_[index % passed_.size()];
  if (count.fetch_add(1) + 1 < subscribers_) {
    return false;
  }
  // Reset before the window moves: no one passes index + size before that.
  count.store(0);
  delivered_.fetch_add(1);
  return true;
}

DeliveryLog::DeliveryLog(const Phase& phase, RoomProgress* progress, std::size_t origins)
    : phase_(phase), progress_(progress), last_sequence_(origins, 0) {}

bool DeliveryLog::record(std::size_t origin, std::uint64_t sequence,
                         std::optional<std::chrono::steady_clock::time_point> sent) {
  if (origin >= last_sequence_.size()) {
    return false;
  }
  std::uint64_t& last = last_sequence_[origin];
  if (last != 0) {
    if (sequence <= last) {
      ++duplicated_;
      return true;
    }
    lost_ += sequence - last - 1;
  }
  const std::uint64_t passed = last == 0 ? 1 : sequence - last;
  last = sequence;
  if (progress_ != nullptr) {
    for (std::uint64_t i = 0; i < passed; ++i) {
      if (progress_->passed(passed_++)) {
        for (WindowListener* publisher : progress_->publishers) {
          publisher->window_moved();
        }
      }
    }
  }
  if (!phase_.measuring.load(std::memory_order_relaxed)) {
    return true;
  }
  delivered_.fetch_add(1, std::memory_order_relaxed);
  if (sent) {
    if (!latencies_) {
      latencies_ = std::make_unique<common::LatencyHistogram>();
    }
    const auto latency = std::chrono::steady_clock::now() - *sent;
    latencies_->record(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(latency).count()));
  }
  return true;
}

StreamTally DeliveryLog::tally() const { return {delivered_.load(), lost_, duplicated_}; }

}  // namespace relay::cli::bench
