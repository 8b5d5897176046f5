// What TokenVerifier reads from a token's claims, with tokens signed here by
// libjwt itself, so that claims mint_token never writes (a malformed rooms
// claim) can be tried too.
#include <doctest/doctest.h>

#include <jwt.h>

#include <cstdlib>
#include <string>
#include <variant>

#include "common/tokens.hpp"

namespace {

using relay::common::RoomRight;
using relay::common::TokenClaims;
using relay::common::TokenVerifier;

constexpr const char* kSecret = "a shared secret of well over thirty-two bytes";
constexpr std::int64_t kNow = 1'800'000'000;

// An HS256 token with these claims (a JSON object), signed with kSecret.
std::string signed_token(const std::string& claims) {
  jwt_t* jwt = nullptr;
  REQUIRE(jwt_new(&jwt) == 0);
  const std::string secret = kSecret;
  REQUIRE(jwt_add_grants_json(jwt, claims.c_str()) == 0);
  REQUIRE(jwt_set_alg(jwt, JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(secret.data()),
                      static_cast<int>(secret.size())) == 0);
  char* encoded = jwt_encode_str(jwt);
  jwt_free(jwt);
  REQUIRE(encoded != nullptr);
  std::string token(encoded);
  std::free(encoded);
  return token;
}

std::variant<TokenClaims, std::string> verify(const std::string& rooms_claim) {
  const TokenVerifier verifier("HS256", kSecret, "", "", 30);
  std::string claims = R"({"sub": "ann", "exp": 1800003600)";
  if (!rooms_claim.empty()) {
    claims += R"(, "rooms": )" + rooms_claim;
  }
  return verifier.verify(signed_token(claims + "}"), kNow);
}

}  // namespace

TEST_CASE("a verified token carries the rooms its rooms claim opens") {
  const auto verified = verify(R"({"join": ["team-*"], "history": ["ops"]})");
  REQUIRE(std::holds_alternative<TokenClaims>(verified));
  const auto& rooms = std::get<TokenClaims>(verified).rooms;
  CHECK(rooms.allows(RoomRight::join, "team-a"));
  CHECK_FALSE(rooms.allows(RoomRight::publish, "team-a"));
  CHECK(rooms.allows(RoomRight::history, "ops"));
}

TEST_CASE("a token without a rooms claim is good, and opens no room") {
  const auto verified = verify("");
  REQUIRE(std::holds_alternative<TokenClaims>(verified));
  CHECK(std::get<TokenClaims>(verified).user == "ann");
  CHECK_FALSE(std::get<TokenClaims>(verified).rooms.sees("lobby"));
}

TEST_CASE("a token whose rooms claim is not one is refused, saying why") {
  for (const char* claim : {R"("team-*")", R"({"publsh": ["a"]})", R"(["a*b"])", "7"}) {
    CAPTURE(claim);
    const auto verified = verify(claim);
    REQUIRE(std::holds_alternative<std::string>(verified));
    CHECK(std::get<std::string>(verified).starts_with("token with a malformed rooms claim: "));
  }
}

TEST_CASE("mint_token writes a rooms claim that verify reads back") {
  relay::common::TokenRequest request;
  request.key = kSecret;
  request.user = "bot";
  request.issued_s = kNow;
  relay::common::RoomPermissions rooms;
  rooms.grant(RoomRight::publish, "builds");
  request.rooms = rooms;
  const auto minted = relay::common::mint_token(request);
  REQUIRE(minted.token);
  const auto verified = TokenVerifier("HS256", kSecret, "", "", 30).verify(*minted.token, kNow);
  REQUIRE(std::holds_alternative<TokenClaims>(verified));
  CHECK(std::get<TokenClaims>(verified).rooms.allows(RoomRight::publish, "builds"));
  CHECK_FALSE(std::get<TokenClaims>(verified).rooms.allows(RoomRight::join, "builds"));
}

TEST_CASE("exp and nbf are checked with the leeway, and exp is required") {
  const TokenVerifier verifier("HS256", kSecret, "", "", 30);
  const auto refusal = [&](const std::string& claims, std::int64_t now_s) {
    const auto verified = verifier.verify(signed_token(claims), now_s);
    return std::holds_alternative<std::string>(verified) ? std::get<std::string>(verified) : "";
  };
  const std::string expiring = R"({"sub": "ann", "exp": 1800000000})";
  CHECK(refusal(expiring, kNow + 30).empty());
  CHECK(refusal(expiring, kNow + 31) == "token expired");
  const std::string later = R"({"sub": "ann", "exp": 1800003600, "nbf": 1800000100})";
  CHECK(refusal(later, kNow + 70).empty());
  CHECK(refusal(later, kNow + 69) == "token not valid yet");
  CHECK(refusal(R"({"sub": "ann"})", kNow) == "token without an expiry (exp)");
  CHECK(refusal(R"({"exp": 1800003600})", kNow) == "token without a valid user name (sub)");
  CHECK(refusal(R"({"sub": "not a name!", "exp": 1800003600})", kNow) ==
        "token without a valid user name (sub)");
}

TEST_CASE("iss and aud must match when the relay names them, and only then") {
  const std::string claims =
      R"({"sub": "ann", "exp": 1800003600, "iss": "https://id.example", "aud": "relay"})";
  const auto refusal = [&](const TokenVerifier& verifier, const std::string& token_claims) {
    const auto verified = verifier.verify(signed_token(token_claims), kNow);
    return std::holds_alternative<std::string>(verified) ? std::get<std::string>(verified) : "";
  };
  CHECK(refusal(TokenVerifier("HS256", kSecret, "", "", 0), claims).empty());
  CHECK(refusal(TokenVerifier("HS256", kSecret, "https://id.example", "relay", 0), claims).empty());
  CHECK(refusal(TokenVerifier("HS256", kSecret, "https://other.example", "", 0), claims) ==
        "token from another issuer");
  CHECK(refusal(TokenVerifier("HS256", kSecret, "", "chat", 0), claims) ==
        "token for another audience");
  CHECK(refusal(TokenVerifier("HS256", kSecret, "https://id.example", "", 0),
                R"({"sub": "ann", "exp": 1800003600})") == "token from another issuer");
}
