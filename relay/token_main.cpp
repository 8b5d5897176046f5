// relay-token: signs a token for relay-server's --auth-key, for the quick
// start, tests and demos. A real deployment's tokens come from its identity
// provider; this one signs with whatever key it is given.
#include <algorithm>
#include <array>
#include <chrono>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/files.hpp"
#include "common/room_permissions.hpp"
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

// The patterns given for each right, --rooms for all four: the rooms claim,
// or the first pattern that is not one.
std::variant<relay::common::RoomPermissions, std::string> permissions_of(
    const std::vector<std::string>& every_right,
    const std::array<std::vector<std::string>, relay::common::kRoomRights.size()>& per_right) {
  relay::common::RoomPermissions permissions;
  for (std::size_t i = 0; i < relay::common::kRoomRights.size(); ++i) {
    const auto right = relay::common::kRoomRights[i];
    for (const auto* patterns : {&every_right, &per_right[i]}) {
      for (const auto& pattern : *patterns) {
        if (auto error = relay::common::validate_room_pattern(pattern)) {
          return *error;
        }
        permissions.grant(right, pattern);
      }
    }
  }
  return permissions;
}

}  // namespace

int main(int argc, char** argv) {
  relay::common::TokenRequest request;
  std::string key_file;
  std::string ttl = "1h";
  std::vector<std::string> rooms;
  std::array<std::vector<std::string>, relay::common::kRoomRights.size()> rooms_per_right;
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
  app.add_option("--rooms", rooms,
                 "Rooms the token lets its user join, publish to, follow and read the history "
                 "of: names, prefixes ending in * (team-*), or * for every room; repeat the "
                 "option or separate them with commas")
      ->type_name("PATTERN")
      ->delimiter(',');
  // In the order of kRoomRights.
  const std::array<const char*, relay::common::kRoomRights.size()> right_help = {
      "Rooms it may join (Chat), besides those of --rooms",
      "Rooms it may publish to (Chat, PublishBatch), besides those of --rooms",
      "Rooms it may follow (Follow), besides those of --rooms",
      "Rooms whose history it may read (History), besides those of --rooms"};
  for (std::size_t i = 0; i < relay::common::kRoomRights.size(); ++i) {
    app.add_option("--" + std::string(relay::common::name_of(relay::common::kRoomRights[i])),
                   rooms_per_right[i], right_help[i])
        ->type_name("PATTERN")
        ->delimiter(',');
  }
  app.footer(R"(
A token opens only the rooms it names: give --rooms, or a right's own option.

Examples:
  relay-token --key secret.txt --user alice --rooms 'team-*' --ttl 8h
      a token for alice, valid 8 hours, in every room whose name starts with team-
  relay-token --key secret.txt --user grafana --follow ops,alerts --history ops,alerts
      a token for a dashboard that reads ops and alerts, and cannot write to them)");
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
  if (rooms.empty() && std::all_of(rooms_per_right.begin(), rooms_per_right.end(),
                                   [](const auto& patterns) { return patterns.empty(); })) {
    std::cerr << "relay-token: say which rooms the token opens: --rooms 'team-*' (or '*' for "
                 "every room), or --join, --publish, --follow, --history\n";
    return 2;
  }
  auto permissions = permissions_of(rooms, rooms_per_right);
  if (const auto* error = std::get_if<std::string>(&permissions)) {
    std::cerr << "relay-token: " << *error << "\n";
    return 2;
  }
  request.rooms = std::get<relay::common::RoomPermissions>(std::move(permissions));
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
