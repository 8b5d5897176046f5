#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace relay::backplane {

// A room's NATS subject is `<prefix><room name in base32>`: room names may
// hold '.', '*', '>' and white space, which mean something in a subject, so
// the name's bytes are written in lowercase RFC 4648 base32 without padding:
// a valid subject token, also a valid stream name and file name on every
// filesystem (no case folding), 1.6 times the name's length (hex: 2 times).
std::string encode_room(std::string_view room);
// The room of an encoded name; none for text no room encodes to.
std::optional<std::string> decode_room(std::string_view encoded);

}  // namespace relay::backplane
