#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace relay::hub {

struct DuplicateWindowLimits {
  // 0 turns duplicate detection off.
  std::int64_t window_us = 10LL * 60 * 1000 * 1000;
  std::size_t max_ids = 10000;
};

// Remembers which (sender, client message id) pairs a room has accepted
// recently and the sequence each got, so a resend after a reconnect is
// acknowledged with the original sequence instead of being delivered twice.
// Bounded in time and in count. Not thread-safe; the room's lock guards it.
class DuplicateWindow {
 public:
  explicit DuplicateWindow(DuplicateWindowLimits limits) : limits_(limits) {}

  std::optional<std::uint64_t> find(std::string_view sender, std::string_view client_message_id,
                                    std::int64_t now_us);
  void remember(std::string_view sender, std::string_view client_message_id, std::uint64_t sequence,
                std::int64_t now_us);
  // For a new numbering of the room: the sequences held name the old one.
  void clear() {
    sequences_.clear();
    order_.clear();
  }
  std::size_t size() const { return sequences_.size(); }
  // Whether an id is still within the window at `now_us`: the newest is.
  bool remembers_any(std::int64_t now_us) const {
    return !order_.empty() && order_.back().time_us + limits_.window_us >= now_us;
  }

 private:
  static std::string key(std::string_view sender, std::string_view client_message_id);
  void expire(std::int64_t now_us);

  struct Entry {
    std::int64_t time_us;
    std::string key;
  };
  const DuplicateWindowLimits limits_;
  std::unordered_map<std::string, std::uint64_t> sequences_;
  std::deque<Entry> order_;
};

}  // namespace relay::hub
