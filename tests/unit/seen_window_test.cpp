#include <doctest/doctest.h>

#include "cli/session/seen_window.hpp"

using relay::cli::SeenWindow;

namespace {

relay::v1::Message message(const std::string& sender, const std::string& id) {
  relay::v1::Message m;
  m.set_sender(sender);
  m.set_client_message_id(id);
  return m;
}

}  // namespace

TEST_CASE("the seen window recognises a message shown before, by sender and client id") {
  SeenWindow seen(10);
  CHECK_FALSE(seen.seen_before(message("ann", "1")));
  CHECK(seen.seen_before(message("ann", "1")));
  CHECK_FALSE(seen.seen_before(message("bob", "1")));
  CHECK_FALSE(seen.seen_before(message("ann", "")));
  CHECK_FALSE(seen.seen_before(message("ann", "")));
}

TEST_CASE("the seen window forgets the oldest pairs beyond its capacity") {
  SeenWindow seen(2);
  CHECK_FALSE(seen.seen_before(message("ann", "1")));
  CHECK_FALSE(seen.seen_before(message("ann", "2")));
  CHECK_FALSE(seen.seen_before(message("ann", "3")));
  CHECK_FALSE(seen.seen_before(message("ann", "1")));
  CHECK(seen.seen_before(message("ann", "3")));
}
