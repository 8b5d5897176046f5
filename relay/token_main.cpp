// relay-token: signs a token for relay-server's --auth-key, for the quick
// start, tests and demos. A real deployment's tokens come from its identity
// provider; this one signs with whatever key it is given.
#include <chrono>
#include <iostream>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "common/files.hpp"
#include "common/tokens.hpp"

namespace {

// "3600", "90s", "15m", "1h" or "7d" in seconds; none if it is none of these.
std::optional<std::int64_t> seconds_of(const std::string& text) {
  std::size_t used = 0;
  std::int64_t value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  const std::string unit = text.substr(used);
  const std::int64_t scale = unit.empty() || unit == "s" ? 1
                             : unit == "m"               ? 60
                             : unit == "h"               ? 3600
                             : unit == "d"               ? 86400
                                                         : 0;
  if (scale == 0 || value <= 0 || value > 366 * 86400 / scale) {
    return std::nullopt;
  }
  return value * scale;
}

}  // namespace

int main(int argc, char** argv) {
  relay::common::TokenRequest request;
  std::string key_file;
  std::string ttl = "1h";
  CLI::App app("Signs a token (JWT) for relay-server's --auth-key and prints it.", "relay-token");
  app.add_option("--key", key_file,
                 "File of the key to sign with: the HS256 secret the relay has, or the PEM "
                 "private key whose public key the relay has (RS256, ES256)")
      ->required();
  app.add_option("--algorithm", request.algorithm, "HS256, RS256 or ES256")->capture_default_str();
  app.add_option("--user", request.user, "Who the token names (its sub)")->required();
  app.add_option("--ttl", ttl, "How long it is valid: seconds, or 90s, 15m, 1h, 7d")
      ->capture_default_str();
  app.add_option("--issuer", request.issuer, "Its iss, for a relay with --auth-issuer");
  app.add_option("--audience", request.audience, "Its aud, for a relay with --auth-audience");
  app.footer(R"(
Example:
  relay-token --key secret.txt --user alice --ttl 8h     a token for alice, valid 8 hours)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;
  }
  const auto ttl_s = seconds_of(ttl);
  if (!ttl_s) {
    std::cerr << "relay-token: --ttl " << ttl
              << ": give seconds, or 90s, 15m, 1h, 7d (at most a year)\n";
    return 2;
  }
  auto key = relay::common::read_whole_file(key_file);
  if (!key) {
    std::cerr << "relay-token: --key " << key_file << ": cannot read the file\n";
    return 2;
  }
  request.key = std::move(*key);
  request.ttl_s = *ttl_s;
  request.issued_s = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  const auto minted = relay::common::mint_token(request);
  if (!minted.token) {
    std::cerr << "relay-token: " << minted.error << "\n";
    return 2;
  }
  std::cout << *minted.token << "\n";
  return 0;
}
