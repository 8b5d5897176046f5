#include "relay/hub/history.hpp"

#include <algorithm>
#include <utility>

namespace relay::hub {

void History::append(StoredMessagePtr message) {
  bytes_ += message->frame->size_bytes();
  messages_.push_back(std::move(message));
  // The newest message always stays, even alone above the byte bound, so the
  // history never forgets what it was just given.
  while (messages_.size() > 1 &&
         (messages_.size() > limits_.max_messages || bytes_ > limits_.max_bytes)) {
    bytes_ -= messages_.front()->frame->size_bytes();
    messages_.pop_front();
  }
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
