#include "common/hello.hpp"

#include <doctest/doctest.h>

#include <string>

#include "common/metadata.hpp"

using relay::common::format_hello;
using relay::common::parse_hello;

TEST_CASE("a hello carries the version and every limit, and reads back as it was written") {
  const std::string hello = format_hello(65536, 500, 1000);
  CHECK(hello == "v1 max-body-bytes=65536 publish-rate=500 publish-burst=1000");
  const auto limits = parse_hello(hello);
  CHECK(limits.max_body_bytes == 65536);
  CHECK(limits.publish_rate == 500);
  CHECK(limits.publish_burst == 1000);

  const auto fractional = parse_hello(format_hello(10, 0.5, 1));
  CHECK(fractional.publish_rate == 0.5);
}

TEST_CASE("a hello's limits that are missing, not numbers, or unknown are left unset") {
  const auto bare = parse_hello(relay::common::kHelloVersion);
  CHECK_FALSE(bare.max_body_bytes);
  CHECK_FALSE(bare.publish_rate);
  CHECK_FALSE(bare.publish_burst);

  const auto odd =
      parse_hello("v2 publish-rate=fast max-body-bytes=12x colour=blue  publish-burst=3 =");
  CHECK_FALSE(odd.publish_rate);
  CHECK_FALSE(odd.max_body_bytes);
  CHECK(odd.publish_burst == 3);

  CHECK_FALSE(parse_hello("").publish_rate);
}
