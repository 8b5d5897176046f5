#include "cli/session/history_pages.hpp"

namespace relay::cli {

grpc::Status fetch_history_tail(const HistoryCall& call, const std::string& room,
                                std::uint32_t count, v1::HistoryResponse& result) {
  // Where the room is now first: the pages stop there, so messages published
  // meanwhile cannot push out older ones that were asked for.
  v1::HistoryRequest request;
  request.set_room(room);
  request.set_limit(1);
  v1::HistoryResponse head;
  if (auto status = call(request, head); !status.ok()) {
    return status;
  }
  result.Clear();
  result.set_epoch(head.epoch());
  result.set_sequence(head.sequence());
  const std::uint64_t last = head.sequence();
  std::uint64_t after = last > count ? last - count : 0;
  while (after < last && static_cast<std::uint32_t>(result.messages_size()) < count) {
    request.set_after_sequence(after);
    request.set_limit(count - static_cast<std::uint32_t>(result.messages_size()));
    v1::HistoryResponse page;
    if (auto status = call(request, page); !status.ok()) {
      return status;
    }
    // A room numbered afresh meanwhile has no messages of the epoch asked about.
    if (page.epoch() != head.epoch() || page.messages().empty()) {
      break;
    }
    if (result.messages().empty()) {
      result.set_missed(page.missed());
    }
    const std::uint64_t page_end = page.messages().rbegin()->sequence();
    for (auto& message : *page.mutable_messages()) {
      if (message.sequence() > last) {
        break;
      }
      *result.add_messages() = std::move(message);
    }
    after = page_end;
  }
  return grpc::Status::OK;
}

}  // namespace relay::cli
