#include <doctest/doctest.h>

#include <atomic>

#include "relay/hub/history.hpp"
#include "tests/unit/hub_fakes.hpp"

using namespace relay::hub;
using relay::hub::testing::TextFrame;

namespace {

StoredMessagePtr stored(std::uint64_t sequence, std::size_t bytes = 10,
                        std::int64_t published_steady_us = 0) {
  return std::make_shared<const StoredMessage>(StoredMessage{
      sequence, std::make_shared<TextFrame>(std::string(bytes, 'x')), published_steady_us});
}

std::vector<std::uint64_t> sequences(const std::vector<StoredMessagePtr>& messages) {
  std::vector<std::uint64_t> result;
  for (const auto& m : messages) {
    result.push_back(m->sequence);
  }
  return result;
}

}  // namespace

TEST_CASE("history keeps at most max_messages, dropping the oldest") {
  std::atomic<std::size_t> all_bytes{0};
  History history({.max_messages = 3, .max_bytes = 1000}, all_bytes);
  for (std::uint64_t s = 1; s <= 5; ++s) {
    history.append(stored(s));
  }
  CHECK(history.size() == 3);
  CHECK(history.first_sequence() == 3);
  CHECK(history.last_sequence() == 5);
  CHECK(history.bytes() == 30);
}

TEST_CASE("history keeps at most max_bytes but always the newest message") {
  std::atomic<std::size_t> all_bytes{0};
  History history({.max_messages = 100, .max_bytes = 25}, all_bytes);
  history.append(stored(1));
  history.append(stored(2));
  history.append(stored(3));
  CHECK(sequences(history.after(0, 100)) == std::vector<std::uint64_t>{2, 3});
  history.append(stored(4, 50));
  CHECK(sequences(history.after(0, 100)) == std::vector<std::uint64_t>{4});
}

TEST_CASE("history returns the messages after a sequence, oldest first, up to a limit") {
  std::atomic<std::size_t> all_bytes{0};
  History history({.max_messages = 10, .max_bytes = 1000}, all_bytes);
  CHECK(history.after(0, 10).empty());
  for (std::uint64_t s = 1; s <= 15; ++s) {
    history.append(stored(s));
  }
  CHECK(sequences(history.after(12, 100)) == std::vector<std::uint64_t>{13, 14, 15});
  CHECK(sequences(history.after(0, 2)) == std::vector<std::uint64_t>{6, 7});
  CHECK(history.after(15, 100).empty());
  CHECK(history.after(99, 100).empty());
}

TEST_CASE("histories count their bytes together, also what they drop and when they go") {
  std::atomic<std::size_t> all_bytes{0};
  History a({.max_messages = 2, .max_bytes = 1000}, all_bytes);
  {
    History b({.max_messages = 10, .max_bytes = 1000}, all_bytes);
    a.append(stored(1, 10, 100));
    a.append(stored(2, 20, 200));
    a.append(stored(3, 30, 300));  // drops 1
    b.append(stored(1, 40, 150));
    CHECK(all_bytes == 90);
    CHECK(a.oldest_published_us() == 200);

    a.drop_oldest();
    CHECK(all_bytes == 70);
    CHECK(a.first_sequence() == 3);
    CHECK(a.oldest_published_us() == 300);
  }
  CHECK(all_bytes == 30);
  a.drop_oldest();
  CHECK(a.empty());
  CHECK_FALSE(a.oldest_published_us().has_value());
  CHECK(all_bytes == 0);
}
