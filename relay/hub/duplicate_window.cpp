#include "relay/hub/duplicate_window.hpp"

namespace relay::hub {

std::string DuplicateWindow::key(std::string_view sender, std::string_view client_message_id) {
  // Names cannot hold '\n' (validated), so the pair maps to one key only.
  std::string result;
  result.reserve(sender.size() + 1 + client_message_id.size());
  result.append(sender).push_back('\n');
  result.append(client_message_id);
  return result;
}

std::optional<std::uint64_t> DuplicateWindow::find(std::string_view sender,
                                                   std::string_view client_message_id,
                                                   std::int64_t now_us) {
  if (limits_.window_us == 0) {
    return std::nullopt;
  }
  expire(now_us);
  const auto it = sequences_.find(key(sender, client_message_id));
  if (it == sequences_.end()) {
    return std::nullopt;
  }
  return it->second;
}

void DuplicateWindow::remember(std::string_view sender, std::string_view client_message_id,
                               std::uint64_t sequence, std::int64_t now_us) {
  if (limits_.window_us == 0) {
    return;
  }
  std::string k = key(sender, client_message_id);
  if (!sequences_.emplace(k, sequence).second) {
    return;
  }
  order_.push_back({now_us, std::move(k)});
  expire(now_us);
}

void DuplicateWindow::expire(std::int64_t now_us) {
  while (!order_.empty() &&
         (order_.size() > limits_.max_ids || order_.front().time_us + limits_.window_us < now_us)) {
    sequences_.erase(order_.front().key);
    order_.pop_front();
  }
}

}  // namespace relay::hub
