#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "relay/hub/frame.hpp"

namespace relay::hub {

struct HistoryLimits {
  std::size_t max_messages = 1000;
  std::size_t max_bytes = 8 * 1024 * 1024;
};

// The last messages of a room, bounded by count and by bytes. Sequences in it
// are contiguous: the oldest are dropped first. Not thread-safe; the room's
// lock guards it. Its bytes are also counted in `all_bytes`, shared by every
// history of the relay, for as long as the history lives.
class History {
 public:
  History(HistoryLimits limits, std::atomic<std::size_t>& all_bytes)
      : limits_(limits), all_bytes_(all_bytes) {}
  ~History();
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  void append(StoredMessagePtr message);
  // For the relay-wide budget, which may empty a history.
  void drop_oldest();
  // For a numbering that does not continue from what is held.
  void clear();
  // When the oldest message held was published (steady clock).
  std::optional<std::int64_t> oldest_published_us() const;

  // Messages with a sequence above `after`, oldest first, at most `limit`.
  std::vector<StoredMessagePtr> after(std::uint64_t after, std::size_t limit) const;

  // The sequence of the oldest message held; 0 when empty.
  std::uint64_t first_sequence() const;
  std::uint64_t last_sequence() const;
  std::size_t size() const { return messages_.size(); }
  std::size_t bytes() const { return bytes_; }
  bool empty() const { return messages_.empty(); }

 private:
  const HistoryLimits limits_;
  std::atomic<std::size_t>& all_bytes_;
  std::deque<StoredMessagePtr> messages_;
  std::size_t bytes_ = 0;
};

}  // namespace relay::hub
