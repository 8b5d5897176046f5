#include <doctest/doctest.h>

#include <string>

#include "relay/backplane/room_subject.hpp"

using relay::backplane::decode_room;
using relay::backplane::encode_room;

TEST_CASE("a room's subject token is its name in lowercase base32, and reads back") {
  CHECK(encode_room("f") == "my");
  CHECK(encode_room("foobar") == "mzxw6ytboi");
  for (const std::string room : {"lobby", "a.b", "*", ">", "with space", "ünïcode 🙂", "x"}) {
    CAPTURE(room);
    const std::string encoded = encode_room(room);
    CHECK(encoded.find_first_not_of("abcdefghijklmnopqrstuvwxyz234567") == std::string::npos);
    CHECK(decode_room(encoded) == room);
  }
}

TEST_CASE("subject tokens that no room encodes to are refused") {
  CHECK_FALSE(decode_room("MY"));   // upper case
  CHECK_FALSE(decode_room("m1"));   // not in the alphabet
  CHECK_FALSE(decode_room("mz"));   // padding bits not zero
  CHECK_FALSE(decode_room("mya"));  // seven bits of padding
  CHECK(decode_room("") == std::string());
}
