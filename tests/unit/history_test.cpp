#include <doctest/doctest.h>

#include "relay/hub/history.hpp"
#include "tests/unit/hub_fakes.hpp"

using namespace relay::hub;
using relay::hub::testing::TextFrame;

namespace {

StoredMessagePtr stored(std::uint64_t sequence, std::size_t bytes = 10) {
  return std::make_shared<const StoredMessage>(
      StoredMessage{sequence, std::make_shared<TextFrame>(std::string(bytes, 'x'))});
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
  History history({.max_messages = 3, .max_bytes = 1000});
  for (std::uint64_t s = 1; s <= 5; ++s) {
    history.append(stored(s));
  }
  CHECK(history.size() == 3);
  CHECK(history.first_sequence() == 3);
  CHECK(history.last_sequence() == 5);
  CHECK(history.bytes() == 30);
}

TEST_CASE("history keeps at most max_bytes but always the newest message") {
  History history({.max_messages = 100, .max_bytes = 25});
  history.append(stored(1));
  history.append(stored(2));
  history.append(stored(3));
  CHECK(sequences(history.after(0, 100)) == std::vector<std::uint64_t>{2, 3});
  history.append(stored(4, 50));
  CHECK(sequences(history.after(0, 100)) == std::vector<std::uint64_t>{4});
}

TEST_CASE("history returns the messages after a sequence, oldest first, up to a limit") {
  History history({.max_messages = 10, .max_bytes = 1000});
  CHECK(history.after(0, 10).empty());
  for (std::uint64_t s = 1; s <= 15; ++s) {
    history.append(stored(s));
  }
  CHECK(sequences(history.after(12, 100)) == std::vector<std::uint64_t>{13, 14, 15});
  CHECK(sequences(history.after(0, 2)) == std::vector<std::uint64_t>{6, 7});
  CHECK(history.after(15, 100).empty());
  CHECK(history.after(99, 100).empty());
}
