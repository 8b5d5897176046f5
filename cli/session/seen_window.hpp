#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <unordered_set>

#include "relay/v1/relay.pb.h"

namespace relay::cli {

// The (sender, client message id) pairs of the last messages shown. A
// restarted relay cannot recognise a resend of a message the old one had
// delivered, and numbers it anew; this is how the client still shows it once.
// Bounded: the oldest pairs are forgotten first. Not thread-safe: one reader.
class SeenWindow {
 public:
  explicit SeenWindow(std::size_t capacity) : capacity_(capacity) {}

  // Remembers the message; true when it was shown before.
  bool seen_before(const v1::Message& message) {
    if (message.client_message_id().empty()) {
      return false;
    }
    std::string key = message.sender() + '\n' + message.client_message_id();
    if (!seen_.insert(key).second) {
      return true;
    }
    order_.push_back(std::move(key));
    if (order_.size() > capacity_) {
      seen_.erase(order_.front());
      order_.pop_front();
    }
    return false;
  }

 private:
  const std::size_t capacity_;
  std::unordered_set<std::string> seen_;
  std::deque<std::string> order_;
};

}  // namespace relay::cli
