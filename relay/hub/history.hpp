#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "relay/hub/frame.hpp"

namespace relay::hub {

struct HistoryLimits {
  std::size_t max_messages = 1000;
  std::size_t max_bytes = 8 * 1024 * 1024;
};

// The last messages of a room, bounded by count and by bytes. Sequences in it
// are contiguous: the oldest are dropped first. Not thread-safe; the room's
// lock guards it.
class History {
 public:
  explicit History(HistoryLimits limits) : limits_(limits) {}

  void append(StoredMessagePtr message);

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
  std::deque<StoredMessagePtr> messages_;
  std::size_t bytes_ = 0;
};

}  // namespace relay::hub
