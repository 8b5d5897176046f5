// Every call to a relay with --auth-key brings a token from outside. Whatever
// its bytes, verifying must end in claims or in one of the refusals the
// relay promises, never in a crash; and without the key, no bytes make a
// token it takes.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <variant>

#include "common/tokens.hpp"

namespace {

void require(bool condition) {
  if (!condition) {
    std::abort();
  }
}

// A key pair's public half, made for this target: its private half was
// thrown away, so no input can carry a valid signature.
constexpr char kEs256PublicKey[] = R"(-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfEbkWJsV0WM/A9bguW+WtkLJtrk/
6qM+oAFP5GWZLukhH58sOyaFvsGHzf03dgDSX138QZf6srXUWVOi7gNR3A==
-----END PUBLIC KEY-----
)";

const relay::common::TokenVerifier& hs256() {
  static const relay::common::TokenVerifier verifier(
      "HS256", "a secret that the fuzzer is never told, 32+ bytes", "", "", 30);
  return verifier;
}

const relay::common::TokenVerifier& es256() {
  static const relay::common::TokenVerifier verifier("ES256", kEs256PublicKey, "issuer", "relay",
                                                     30);
  return verifier;
}

void check(const relay::common::TokenVerifier& verifier, const std::string& token) {
  const auto result = verifier.verify(token, 1'800'000'000);
  require(std::holds_alternative<std::string>(result));
  const auto& refusal = std::get<std::string>(result);
  require(refusal == "invalid token" || refusal == "token without an expiry (exp)" ||
          refusal == "token expired" || refusal == "token not valid yet" ||
          refusal == "token from another issuer" || refusal == "token for another audience" ||
          refusal == "token without a valid user name (sub)" ||
          refusal.starts_with("token with a malformed rooms claim: "));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string token(reinterpret_cast<const char*>(data), size);
  check(hs256(), token);
  check(es256(), token);
  return 0;
}
