#include "relay/hub/history.hpp"

#include <algorithm>
#include <utility>

namespace relay::hub {

History::~History() { all_bytes_ -= bytes_; }

void History::append(StoredMessagePtr message) {
  const std::size_t size = message->frame->size_bytes();
  bytes_ += size;
  all_bytes_ += size;
  messages_.push_back(std::move(message));
  // The newest message always stays, even alone above the byte bound, so the
  // history never forgets what it was just given.
  while (messages_.size() > 1 &&
         (messages_.size() > limits_.max_messages || bytes_ > limits_.max_bytes)) {
    drop_oldest();
  }
}

void History::drop_oldest() {
  const std::size_t size = messages_.front()->frame->size_bytes();
  bytes_ -= size;
  all_bytes_ -= size;
  messages_.pop_front();
}

void History::clear() {
  all_bytes_ -= bytes_;
  bytes_ = 0;
  messages_.clear();
}

std::optional<std::int64_t> History::oldest_published_us() const {
  if (messages_.empty()) {
    return std::nullopt;
  }
  return messages_.front()->published_steady_us;
}

std::vector<StoredMessagePtr> History::after(std::uint64_t after, std::size_t limit) const {
  std::vector<StoredMessagePtr> result;
  if (messages_.empty() || after >= last_sequence()) {
    return result;
  }
  // Contiguous sequences make the start an index, not a search.
  const std::uint64_t first = first_sequence();
  const std::size_t start = after < first ? 0 : static_cast<std::size_t>(after - first + 1);
  const std::size_t count = std::min(limit, messages_.size() - start);
  result.reserve(count);
  const auto begin = messages_.begin() + static_cast<std::ptrdiff_t>(start);
  result.assign(begin, begin + static_cast<std::ptrdiff_t>(count));
  return result;
}

std::uint64_t History::first_sequence() const {
  return messages_.empty() ? 0 : messages_.front()->sequence;
}

std::uint64_t History::last_sequence() const {
  return messages_.empty() ? 0 : messages_.back()->sequence;
}

}  // namespace relay::hub
