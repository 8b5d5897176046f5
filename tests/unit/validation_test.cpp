#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "common/validation.hpp"

namespace {

using namespace std::string_literals;
using relay::common::kMaxClientMessageIdBytes;
using relay::common::kMaxRoomNameBytes;
using relay::common::kMaxUserNameBytes;
using relay::common::quote_for_humans;
using relay::common::to_user_name;
using relay::common::validate_body;
using relay::common::validate_client_message_id;
using relay::common::validate_room_name;
using relay::common::validate_user_name;

constexpr std::size_t kMaxBody = 64;

}  // namespace

TEST_CASE("room names of 1-64 name characters are accepted") {
  for (const std::string& room :
       {"a"s, "general"s, "Team_7.dev-ops"s, "x."s, std::string(kMaxRoomNameBytes, 'r')}) {
    CAPTURE(room);
    CHECK_FALSE(validate_room_name(room));
  }
}

TEST_CASE("a room name with a character outside the set fails quoting it") {
  const auto problem = validate_room_name("a b");
  REQUIRE(problem);
  CHECK(*problem == "room name must be 1-64 characters of A-Z a-z 0-9 _ . -, got \"a b\"");
  CHECK(validate_room_name("caf\xc3\xa9"));
  CHECK(validate_room_name("a/b"));
}

TEST_CASE("an empty room name fails") {
  const auto problem = validate_room_name("");
  REQUIRE(problem);
  CHECK(problem->ends_with("got \"\""));
}

TEST_CASE("a room name over 64 characters fails giving its length") {
  const auto problem = validate_room_name(std::string(kMaxRoomNameBytes + 1, 'r'));
  REQUIRE(problem);
  CHECK(problem->find("got 65 bytes: \"rrrr") != std::string::npos);
}

TEST_CASE("a room name starting with a dot fails") {
  const auto problem = validate_room_name(".hidden");
  REQUIRE(problem);
  CHECK(*problem == "room name must not start with '.', got \".hidden\"");
}

TEST_CASE("user names are 1-32 name characters and may start with a dot") {
  CHECK_FALSE(validate_user_name("alice"));
  CHECK_FALSE(validate_user_name(".bob"));
  CHECK_FALSE(validate_user_name(std::string(kMaxUserNameBytes, 'u')));
  CHECK(validate_user_name(""));
  CHECK(validate_user_name(std::string(kMaxUserNameBytes + 1, 'u')));
  const auto problem = validate_user_name("al ice");
  REQUIRE(problem);
  CHECK(*problem == "user name must be 1-32 characters of A-Z a-z 0-9 _ . -, got \"al ice\"");
}

TEST_CASE("a name from elsewhere becomes the nearest valid user name") {
  CHECK(to_user_name("alice") == "alice");
  CHECK(to_user_name("jane@corp.com") == "jane_corp.com");
  CHECK(to_user_name("Jos\xc3\xa9 Mar\xc3\xad"
                     "a") == "Jos_Mar_a");
  CHECK(to_user_name(std::string(40, 'u')) == std::string(kMaxUserNameBytes, 'u'));
  CHECK(to_user_name("@") == "_");
  CHECK(to_user_name("").empty());
  for (const char* name : {"jane@corp.com", "a b\tc", "\xff\xfe"}) {
    CHECK_FALSE(validate_user_name(to_user_name(name)));
  }
}

TEST_CASE("client message ids are 1-64 printable ASCII characters without spaces") {
  CHECK_FALSE(validate_client_message_id("msg-1"));
  CHECK_FALSE(validate_client_message_id("!~{}[]/\\\"'"));
  CHECK_FALSE(validate_client_message_id(std::string(kMaxClientMessageIdBytes, 'i')));
  CHECK(validate_client_message_id(""));
  CHECK(validate_client_message_id(std::string(kMaxClientMessageIdBytes + 1, 'i')));
  CHECK(validate_client_message_id("\x7f"));
  CHECK(validate_client_message_id("caf\xc3\xa9"));
  const auto problem = validate_client_message_id("a\tb");
  REQUIRE(problem);
  CHECK(
      *problem ==
      "client message id must be 1-64 characters of printable ASCII without spaces, got \"a\\tb\"");
}

TEST_CASE("a body of 1 to max_body_bytes bytes of UTF-8 is accepted") {
  CHECK_FALSE(validate_body("x", kMaxBody));
  CHECK_FALSE(validate_body(std::string(kMaxBody, 'b'), kMaxBody));
  CHECK_FALSE(validate_body("line one\nline two\ttab", kMaxBody));
  // Every length of sequence, and the edges of each range.
  for (const std::string& body : {
           "\xc2\x80"s,          // U+0080, the smallest two-byte form
           "\xdf\xbf"s,          // U+07FF
           "\xe0\xa0\x80"s,      // U+0800, the smallest three-byte form
           "\xed\x9f\xbf"s,      // U+D7FF, just below the surrogates
           "\xee\x80\x80"s,      // U+E000, just above them
           "\xef\xbf\xbf"s,      // U+FFFF
           "\xf0\x90\x80\x80"s,  // U+10000, the smallest four-byte form
           "\xf4\x8f\xbf\xbf"s,  // U+10FFFF, the largest code point
           "h\xc3\xa9llo \xf0\x9f\x91\x8b"s,
       }) {
    CAPTURE(quote_for_humans(body));
    CHECK_FALSE(validate_body(body, kMaxBody));
  }
}

TEST_CASE("an empty body fails") {
  const auto problem = validate_body("", kMaxBody);
  REQUIRE(problem);
  CHECK(*problem == "message body must not be empty");
}

TEST_CASE("a body over max_body_bytes fails giving both sizes") {
  const auto problem = validate_body(std::string(kMaxBody + 1, 'b'), kMaxBody);
  REQUIRE(problem);
  CHECK(*problem == "message body must be at most 64 bytes, got 65 bytes");
}

TEST_CASE("a body that is not valid UTF-8 fails at the first bad byte") {
  struct Case {
    const char* name;
    std::string body;
    std::size_t offset;
  };
  for (const Case& bad : {
           Case{"a stray continuation byte", "ab\x80"s, 2},
           Case{"a byte that never occurs in UTF-8", "\xff"s, 0},
           Case{"an overlong two-byte slash", "\xc0\xaf"s, 0},
           Case{"an overlong two-byte form of U+007F", "\xc1\xbf"s, 0},
           Case{"an overlong three-byte form", "\xe0\x80\xaf"s, 0},
           Case{"an overlong four-byte form", "\xf0\x8f\xbf\xbf"s, 0},
           Case{"a high surrogate", "ok\xed\xa0\x80"s, 2},
           Case{"a low surrogate", "\xed\xbf\xbf"s, 0},
           Case{"a code point above U+10FFFF", "\xf4\x90\x80\x80"s, 0},
           Case{"a five-byte lead", "\xf8\x88\x80\x80\x80"s, 0},
           Case{"a sequence cut short at the end", "abc\xe2\x82"s, 3},
           Case{"a sequence cut short by ASCII", "\xe2\x82z"s, 0},
       }) {
    CAPTURE(bad.name);
    const auto problem = validate_body(bad.body, kMaxBody);
    REQUIRE(problem);
    CHECK(problem->starts_with("message body must be valid UTF-8, got invalid bytes at offset " +
                               std::to_string(bad.offset) + ": \"\\x"));
  }
}

TEST_CASE("quote_for_humans quotes and escapes what a terminal would misshow") {
  CHECK(quote_for_humans("plain") == "\"plain\"");
  CHECK(quote_for_humans("") == "\"\"");
  CHECK(quote_for_humans("say \"hi\"\\") == R"("say \"hi\"\\")");
  CHECK(quote_for_humans("a\nb\rc\td") == R"("a\nb\rc\td")");
  CHECK(quote_for_humans("\x1b[31mred") == R"("\x1b[31mred")");
  CHECK(quote_for_humans("caf\xc3\xa9") == R"("caf\xc3\xa9")");
  CHECK(quote_for_humans("nul\0byte"s) == R"("nul\x00byte")");
}

TEST_CASE("quote_for_humans cuts long values and marks the cut outside the quotes") {
  CHECK(quote_for_humans(std::string(40, 'x')) == "\"" + std::string(40, 'x') + "\"");
  CHECK(quote_for_humans(std::string(41, 'x')) == "\"" + std::string(40, 'x') + "\"...");
  CHECK(quote_for_humans("abcdef", 3) == "\"abc\"...");
}
