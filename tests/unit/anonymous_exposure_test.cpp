#include <doctest/doctest.h>

#include "common/anonymous_exposure.hpp"

namespace {

using relay::common::anonymous_exposure;
using relay::common::is_loopback_address;
using relay::common::RelayConfig;

}  // namespace

TEST_CASE("loopback addresses are told from those other machines reach") {
  for (const char* address : {"127.0.0.1:50051", "127.1.2.3:0", "localhost:50051", "[::1]:50051",
                              "[::ffff:127.0.0.1]:1"}) {
    CAPTURE(address);
    CHECK(is_loopback_address(address));
  }
  for (const char* address : {"0.0.0.0:50051", "[::]:50051", "10.0.0.5:50051", "relay.example:1",
                              "128.0.0.1:1", "[::ffff:10.0.0.1]:1", "localhost.example:1"}) {
    CAPTURE(address);
    CHECK_FALSE(is_loopback_address(address));
  }
}

TEST_CASE("a relay without tokens beyond loopback must be told callers are trusted") {
  RelayConfig config;
  CHECK_FALSE(anonymous_exposure(config));  // the default listens on 127.0.0.1

  config.listen_address = "0.0.0.0:50051";
  const auto refusal = anonymous_exposure(config);
  REQUIRE(refusal);
  CHECK(refusal->find("0.0.0.0:50051") != std::string::npos);
  CHECK(refusal->find("--allow-anonymous") != std::string::npos);
  CHECK(refusal->find("--auth-key") != std::string::npos);

  SUBCASE("with tokens") {
    config.auth_key = "/etc/relay/secret";
    CHECK_FALSE(anonymous_exposure(config));
  }
  SUBCASE("with --allow-anonymous") {
    config.allow_anonymous = true;
    CHECK_FALSE(anonymous_exposure(config));
  }
}
