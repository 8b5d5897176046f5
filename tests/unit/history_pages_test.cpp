#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "cli/session/history_pages.hpp"

namespace {

using relay::cli::fetch_history_tail;
using relay::cli::HistoryCall;
namespace v1 = relay::v1;

// A room as the relay keeps it: messages first_kept..last, each History call
// capped at `cap` messages, as --history-query-max-messages does.
struct FakeRoom {
  std::uint64_t last = 0;
  std::uint64_t first_kept = 1;
  std::uint32_t cap = 100;
  std::uint64_t epoch = 7;
  int calls = 0;
  // Messages published by others after each call.
  std::uint64_t published_per_call = 0;

  HistoryCall call() {
    return [this](const v1::HistoryRequest& request, v1::HistoryResponse& response) {
      ++calls;
      response.set_epoch(epoch);
      response.set_sequence(last);
      const std::uint32_t limit = request.limit() == 0 ? cap : std::min(request.limit(), cap);
      const std::uint64_t from = std::max(request.after_sequence() + 1, first_kept);
      response.set_missed(from - (request.after_sequence() + 1));
      for (std::uint64_t seq = from; seq <= last && response.messages_size() < int(limit); ++seq) {
        auto& message = *response.add_messages();
        message.set_sequence(seq);
        message.set_epoch(epoch);
      }
      last += published_per_call;
      return grpc::Status::OK;
    };
  }
};

std::vector<std::uint64_t> sequences(const v1::HistoryResponse& response) {
  std::vector<std::uint64_t> result;
  for (const auto& message : response.messages()) {
    result.push_back(message.sequence());
  }
  return result;
}

std::vector<std::uint64_t> range(std::uint64_t first, std::uint64_t last) {
  std::vector<std::uint64_t> result;
  for (auto seq = first; seq <= last; ++seq) {
    result.push_back(seq);
  }
  return result;
}

}  // namespace

TEST_CASE("the last N messages come out in order across the relay's per-call cap") {
  FakeRoom room{.last = 150};
  v1::HistoryResponse response;

  SUBCASE("all of them") {
    REQUIRE(fetch_history_tail(room.call(), "r", 150, response).ok());
    CHECK(sequences(response) == range(1, 150));
  }
  SUBCASE("one more than a page") {
    REQUIRE(fetch_history_tail(room.call(), "r", 101, response).ok());
    CHECK(sequences(response) == range(50, 150));
  }
  SUBCASE("fewer than a page, in one call after the probe") {
    REQUIRE(fetch_history_tail(room.call(), "r", 5, response).ok());
    CHECK(sequences(response) == range(146, 150));
    CHECK(room.calls == 2);
  }
  SUBCASE("more than the room has") {
    REQUIRE(fetch_history_tail(room.call(), "r", 1000, response).ok());
    CHECK(sequences(response) == range(1, 150));
  }
  SUBCASE("a small cap means more pages, not fewer messages") {
    room.cap = 7;
    REQUIRE(fetch_history_tail(room.call(), "r", 50, response).ok());
    CHECK(sequences(response) == range(101, 150));
  }
  CHECK(response.epoch() == 7);
  CHECK(response.sequence() == 150);
  CHECK(response.missed() == 0);
}

TEST_CASE("messages published while paging do not push out the ones asked for") {
  FakeRoom room{.last = 150, .published_per_call = 10};
  v1::HistoryResponse response;
  REQUIRE(fetch_history_tail(room.call(), "r", 120, response).ok());
  CHECK(sequences(response) == range(31, 150));
}

TEST_CASE("messages the history no longer holds are counted as missed") {
  FakeRoom room{.last = 150, .first_kept = 121, .published_per_call = 10};
  v1::HistoryResponse response;
  REQUIRE(fetch_history_tail(room.call(), "r", 50, response).ok());
  CHECK(sequences(response) == range(121, 150));
  CHECK(response.missed() == 20);
}

TEST_CASE("an empty room gives no messages, and a failed call its status") {
  FakeRoom room;
  v1::HistoryResponse response;
  CHECK(fetch_history_tail(room.call(), "r", 20, response).ok());
  CHECK(response.messages().empty());

  const HistoryCall failing = [](const v1::HistoryRequest&, v1::HistoryResponse&) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "no room r");
  };
  CHECK(fetch_history_tail(failing, "r", 20, response).error_code() == grpc::StatusCode::NOT_FOUND);
}
