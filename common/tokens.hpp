#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "common/room_permissions.hpp"

namespace relay::common {

struct RelayConfig;

// What a verified token says.
struct TokenClaims {
  std::string user;            // the `sub` claim
  std::int64_t expires_s = 0;  // `exp`, seconds since the Unix epoch
  RoomPermissions rooms;       // `rooms`; none without the claim
};

// Checks the bearer tokens (JWT) of callers: the signature with the
// configured key and algorithm only (never the algorithm the token names,
// which would accept "alg": "none" or a public key used as an HMAC secret),
// `exp` and `nbf` with a leeway for clock skew, `iss` and `aud` when
// configured, a `sub` that is a valid user name, and a `rooms` claim, when
// there is one, that RoomPermissions reads.
class TokenVerifier {
 public:
  // None when auth is off (no auth_key), or a message naming the setting at
  // fault.
  static std::variant<std::shared_ptr<const TokenVerifier>, std::string> from_config(
      const RelayConfig& config);

  // The claims, or why the token was refused, in words that give an
  // attacker nothing beyond what the caller sent.
  std::variant<TokenClaims, std::string> verify(const std::string& token, std::int64_t now_s) const;

  // `algorithm`: HS256, RS256 or ES256 (any other refuses every token);
  // `key`: the secret, or the PEM public key; empty issuer and audience are
  // not checked.
  TokenVerifier(const std::string& algorithm, std::string key, std::string issuer,
                std::string audience, std::int64_t leeway_s);

 private:
  const int algorithm_;  // a jwt_alg_t
  const std::string key_;
  const std::string issuer_;
  const std::string audience_;
  const std::int64_t leeway_s_;
};

// What relay-token needs to sign a token.
struct TokenRequest {
  std::string algorithm = "HS256";
  std::string key;  // the HMAC secret, or the PEM private key for RS256 / ES256
  std::string user;
  std::int64_t issued_s = 0;
  std::int64_t ttl_s = 3600;
  std::string issuer;
  std::string audience;
  // The `rooms` claim; none writes no claim, which opens no room.
  std::optional<RoomPermissions> rooms;
};

// A signed token, or why none could be made.
struct MintedToken {
  std::optional<std::string> token;
  std::string error;
};
MintedToken mint_token(const TokenRequest& request);

}  // namespace relay::common
