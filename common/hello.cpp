#include "common/hello.hpp"

#include <charconv>

#include <fmt/format.h>

#include "common/metadata.hpp"

namespace relay::common {
namespace {

constexpr std::string_view kMaxBodyBytes = "max-body-bytes";
constexpr std::string_view kPublishRate = "publish-rate";
constexpr std::string_view kPublishBurst = "publish-burst";

std::optional<double> number(std::string_view text) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

std::string format_hello(std::size_t max_body_bytes, double publish_rate,
                         std::size_t publish_burst) {
  return fmt::format("{} {}={} {}={:g} {}={}", kHelloVersion, kMaxBodyBytes, max_body_bytes,
                     kPublishRate, publish_rate, kPublishBurst, publish_burst);
}

HelloLimits parse_hello(std::string_view value) {
  HelloLimits limits;
  while (!value.empty()) {
    const auto space = value.find(' ');
    const std::string_view word = value.substr(0, space);
    value = space == std::string_view::npos ? std::string_view() : value.substr(space + 1);
    const auto equals = word.find('=');
    if (equals == std::string_view::npos) {
      continue;  // the version, or a word a later relay adds
    }
    const std::string_view name = word.substr(0, equals);
    const auto parsed = number(word.substr(equals + 1));
    if (name == kMaxBodyBytes) {
      limits.max_body_bytes = parsed;
    } else if (name == kPublishRate) {
      limits.publish_rate = parsed;
    } else if (name == kPublishBurst) {
      limits.publish_burst = parsed;
    }
  }
  return limits;
}

}  // namespace relay::common
