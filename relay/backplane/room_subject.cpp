#include "relay/backplane/room_subject.hpp"

#include <cstdint>

namespace relay::backplane {
namespace {

constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

int value_of(char c) {
  if (c >= 'a' && c <= 'z') {
    return c - 'a';
  }
  if (c >= '2' && c <= '7') {
    return c - '2' + 26;
  }
  return -1;
}

}  // namespace

std::string encode_room(std::string_view room) {
  std::string out;
  out.reserve((room.size() * 8 + 4) / 5);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const unsigned char byte : room) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += kAlphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) {
    out += kAlphabet[(buffer << (5 - bits)) & 31];
  }
  return out;
}

std::optional<std::string> decode_room(std::string_view encoded) {
  std::string out;
  out.reserve(encoded.size() * 5 / 8);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const char c : encoded) {
    const int value = value_of(c);
    if (value < 0) {
      return std::nullopt;
    }
    buffer = (buffer << 5) | static_cast<std::uint32_t>(value);
    bits += 5;
    if (bits >= 8) {
      out += static_cast<char>((buffer >> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  // What is left is padding: fewer than 5 bits, all zero, as encode_room
  // writes them. Anything else would let two subjects name one room.
  if (bits >= 5 || (buffer & ((1U << bits) - 1)) != 0) {
    return std::nullopt;
  }
  return out;
}

}  // namespace relay::backplane
