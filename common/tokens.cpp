#include "common/tokens.hpp"

#include <jwt.h>

#include <cerrno>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "common/config.hpp"
#include "common/files.hpp"
#include "common/validation.hpp"

namespace relay::common {
namespace {

struct JwtDeleter {
  void operator()(jwt_t* jwt) const { jwt_free(jwt); }
};
using JwtPtr = std::unique_ptr<jwt_t, JwtDeleter>;

std::optional<jwt_alg_t> algorithm_named(const std::string& name) {
  for (const auto& [text, algorithm] :
       {std::pair{"HS256", JWT_ALG_HS256}, std::pair{"RS256", JWT_ALG_RS256},
        std::pair{"ES256", JWT_ALG_ES256}}) {
    if (name == text) {
      return algorithm;
    }
  }
  return std::nullopt;
}

// Whether the claim is this one string.
bool claim_matches(jwt_t* jwt, const char* claim, const std::string& wanted) {
  const char* value = jwt_get_grant(jwt, claim);
  return value != nullptr && wanted == value;
}

// The rooms the token opens: none when it has no rooms claim.
std::variant<RoomPermissions, std::string> rooms_of(jwt_t* jwt) {
  char* text = jwt_get_grants_json(jwt, "rooms");
  if (text == nullptr) {
    return RoomPermissions();
  }
  const auto claim = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  std::free(text);
  auto rooms = RoomPermissions::from_claim(claim);
  if (auto* error = std::get_if<std::string>(&rooms)) {
    return "token with a malformed rooms claim: " + *error;
  }
  return rooms;
}

}  // namespace

TokenVerifier::TokenVerifier(const std::string& algorithm, std::string key, std::string issuer,
                             std::string audience, std::int64_t leeway_s)
    : algorithm_(algorithm_named(algorithm).value_or(JWT_ALG_INVAL)),
      key_(std::move(key)),
      issuer_(std::move(issuer)),
      audience_(std::move(audience)),
      leeway_s_(leeway_s) {}

std::variant<std::shared_ptr<const TokenVerifier>, std::string> TokenVerifier::from_config(
    const RelayConfig& config) {
  if (config.auth_key.empty()) {
    return std::shared_ptr<const TokenVerifier>();
  }
  const auto algorithm = algorithm_named(config.auth_algorithm);
  if (!algorithm) {
    return "--auth-algorithm " + config.auth_algorithm + ": must be HS256, RS256 or ES256";
  }
  auto read = read_whole_file(config.auth_key);
  if (!read) {
    return "--auth-key " + config.auth_key + ": cannot read the file";
  }
  std::string key = std::move(*read);
  const bool pem = key.find("-----BEGIN PUBLIC KEY-----") != std::string::npos;
  if (*algorithm == JWT_ALG_HS256) {
    // A newline that an editor added is not part of a shared secret.
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) {
      key.pop_back();
    }
    if (key.size() < 32 || pem) {
      return "--auth-key " + config.auth_key +
             ": an HS256 secret must be at least 32 bytes, and not a public key";
    }
  } else if (!pem) {
    return "--auth-key " + config.auth_key + ": " + config.auth_algorithm +
           " needs a PEM public key (-----BEGIN PUBLIC KEY-----)";
  }
  return std::make_shared<const TokenVerifier>(config.auth_algorithm, std::move(key),
                                               config.auth_issuer, config.auth_audience,
                                               (config.auth_leeway_ms + 999) / 1000);
}

std::variant<TokenClaims, std::string> TokenVerifier::verify(const std::string& token,
                                                             std::int64_t now_s) const {
  jwt_t* raw = nullptr;
  const int failed =
      jwt_decode(&raw, token.c_str(), reinterpret_cast<const unsigned char*>(key_.data()),
                 static_cast<int>(key_.size()));
  JwtPtr jwt(raw);
  // One answer for every signature problem, the algorithm included: which
  // part failed would only help whoever forges tokens.
  if (failed != 0 || !jwt || jwt_get_alg(jwt.get()) != static_cast<jwt_alg_t>(algorithm_)) {
    return std::string("invalid token");
  }
  // jwt_get_grant_int reports a missing claim only through errno.
  errno = 0;
  const long expires = jwt_get_grant_int(jwt.get(), "exp");
  if (errno == ENOENT || expires <= 0) {
    return std::string("token without an expiry (exp)");
  }
  if (now_s > expires + leeway_s_) {
    return std::string("token expired");
  }
  errno = 0;
  const long not_before = jwt_get_grant_int(jwt.get(), "nbf");
  if (errno != ENOENT && now_s + leeway_s_ < not_before) {
    return std::string("token not valid yet");
  }
  if (!issuer_.empty() && !claim_matches(jwt.get(), "iss", issuer_)) {
    return std::string("token from another issuer");
  }
  if (!audience_.empty() && !claim_matches(jwt.get(), "aud", audience_)) {
    return std::string("token for another audience");
  }
  const char* subject = jwt_get_grant(jwt.get(), "sub");
  if (subject == nullptr || validate_user_name(subject)) {
    return std::string("token without a valid user name (sub)");
  }
  auto rooms = rooms_of(jwt.get());
  if (auto* error = std::get_if<std::string>(&rooms)) {
    return std::move(*error);
  }
  return TokenClaims{subject, expires, std::get<RoomPermissions>(std::move(rooms))};
}

MintedToken mint_token(const TokenRequest& request) {
  const auto algorithm = algorithm_named(request.algorithm);
  if (!algorithm) {
    return {std::nullopt, "--algorithm must be HS256, RS256 or ES256"};
  }
  if (auto error = validate_user_name(request.user)) {
    return {std::nullopt, "--user: " + *error};
  }
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) {
    return {std::nullopt, "out of memory"};
  }
  JwtPtr jwt(raw);
  std::string key = request.key;
  if (*algorithm == JWT_ALG_HS256) {
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) {
      key.pop_back();
    }
  }
  bool ok = jwt_add_grant(jwt.get(), "sub", request.user.c_str()) == 0 &&
            jwt_add_grant_int(jwt.get(), "iat", request.issued_s) == 0 &&
            jwt_add_grant_int(jwt.get(), "exp", request.issued_s + request.ttl_s) == 0;
  if (!request.issuer.empty()) {
    ok = ok && jwt_add_grant(jwt.get(), "iss", request.issuer.c_str()) == 0;
  }
  if (!request.audience.empty()) {
    ok = ok && jwt_add_grant(jwt.get(), "aud", request.audience.c_str()) == 0;
  }
  if (request.rooms) {
    const nlohmann::json rooms = {{"rooms", request.rooms->to_claim()}};
    ok = ok && jwt_add_grants_json(jwt.get(), rooms.dump().c_str()) == 0;
  }
  ok = ok && jwt_set_alg(jwt.get(), *algorithm, reinterpret_cast<const unsigned char*>(key.data()),
                         static_cast<int>(key.size())) == 0;
  char* encoded = ok ? jwt_encode_str(jwt.get()) : nullptr;
  if (encoded == nullptr) {
    return {std::nullopt, "cannot sign with this key and algorithm"};
  }
  std::string token(encoded);
  std::free(encoded);
  return {std::move(token), ""};
}

}  // namespace relay::common
