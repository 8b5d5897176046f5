#include "relay/service/status.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <string_view>
#include <variant>

#include <fmt/format.h>

#include "common/metadata.hpp"
#include "common/validation.hpp"

namespace relay::service {

grpc::Status to_status(const hub::CloseReason& reason) {
  switch (reason.code) {
    case hub::CloseCode::ok:
      return grpc::Status::OK;
    case hub::CloseCode::cancelled:
      return {grpc::StatusCode::CANCELLED, reason.message};
    case hub::CloseCode::invalid_argument:
      return {grpc::StatusCode::INVALID_ARGUMENT, reason.message};
    case hub::CloseCode::resource_exhausted:
      return {grpc::StatusCode::RESOURCE_EXHAUSTED, reason.message};
    case hub::CloseCode::unavailable:
      return {grpc::StatusCode::UNAVAILABLE, reason.message};
    case hub::CloseCode::unauthenticated:
      return {grpc::StatusCode::UNAUTHENTICATED, reason.message};
  }
  return {grpc::StatusCode::INTERNAL, reason.message};
}

namespace {

// A call that names its caller twice is refused rather than served as one of
// the two: which one a proxy or library keeps first is nobody's promise.
std::optional<grpc::Status> named_twice(const grpc::CallbackServerContext& context,
                                        const char* key) {
  const std::size_t count = context.client_metadata().count(key);
  if (count <= 1) {
    return std::nullopt;
  }
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      fmt::format("{} metadata given {} times: send it once", key, count));
}

Identity verify_bearer(const grpc::CallbackServerContext& context,
                       const common::TokenVerifier& tokens) {
  if (auto refusal = named_twice(context, "authorization")) {
    return {std::nullopt, std::move(*refusal)};
  }
  const auto& metadata = context.client_metadata();
  const auto found = metadata.find("authorization");
  if (found == metadata.end()) {
    return {std::nullopt,
            {grpc::StatusCode::UNAUTHENTICATED,
             "missing authorization metadata: this relay wants authorization: Bearer <token>"}};
  }
  const std::string_view value(found->second.data(), found->second.size());
  constexpr std::string_view kScheme = "bearer ";
  const bool bearer = value.size() > kScheme.size() &&
                      std::equal(kScheme.begin(), kScheme.end(), value.begin(), [](char a, char b) {
                        return a == std::tolower(static_cast<unsigned char>(b));
                      });
  if (!bearer) {
    return {std::nullopt,
            {grpc::StatusCode::UNAUTHENTICATED, "authorization metadata must be: Bearer <token>"}};
  }
  const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  auto verified = tokens.verify(std::string(value.substr(kScheme.size())), now_s);
  if (const auto* refusal = std::get_if<std::string>(&verified)) {
    return {std::nullopt, {grpc::StatusCode::UNAUTHENTICATED, *refusal}};
  }
  auto claims = std::get<common::TokenClaims>(std::move(verified));
  return {std::move(claims.user), grpc::Status::OK,
          std::make_shared<const common::RoomPermissions>(std::move(claims.rooms)),
          claims.expires_s};
}

}  // namespace

Identity identify(const grpc::CallbackServerContext& context, const common::TokenVerifier* tokens) {
  if (tokens != nullptr) {
    return verify_bearer(context, *tokens);
  }
  if (auto refusal = named_twice(context, common::kUserKey)) {
    return {std::nullopt, std::move(*refusal)};
  }
  const auto& metadata = context.client_metadata();
  const auto found = metadata.find(common::kUserKey);
  if (found == metadata.end()) {
    return {std::nullopt,
            {grpc::StatusCode::UNAUTHENTICATED,
             "missing x-relay-user metadata: say who you are, e.g. x-relay-user: ann"}};
  }
  const std::string user(found->second.data(), found->second.size());
  if (auto error = common::validate_user_name(user)) {
    return {std::nullopt,
            {grpc::StatusCode::UNAUTHENTICATED, "bad x-relay-user metadata: " + *error}};
  }
  static const Permissions everyone =
      std::make_shared<const common::RoomPermissions>(common::RoomPermissions::everything());
  return {user, grpc::Status::OK, everyone};
}

std::string not_permitted(common::RoomRight right, const std::string& room) {
  const char* action = "";
  switch (right) {
    case common::RoomRight::join:
      action = "join";
      break;
    case common::RoomRight::publish:
      action = "publish to";
      break;
    case common::RoomRight::follow:
      action = "follow";
      break;
    case common::RoomRight::history:
      action = "read the history of";
      break;
  }
  return fmt::format("your token does not let you {} {}", action, room);
}

std::string rate_limited(const common::RelayConfig& config) {
  return fmt::format(
      "rate limit: at most {:g} messages per second per user (bursts of {}); this one was not "
      "published",
      config.publish_rate_per_second, config.publish_burst);
}

std::string too_many_creations(const common::RelayConfig& config) {
  return fmt::format(
      "room not created: one user may create at most {} rooms a minute; join an existing room or "
      "try again later",
      config.room_creations_per_user_per_minute);
}

std::string too_many_rooms(const common::RelayConfig& config) {
  return fmt::format("the relay holds its maximum of {} rooms; use an existing one",
                     config.max_rooms);
}

std::optional<grpc::Status> publish_refusal(const hub::PublishResult& result,
                                            const common::RelayConfig& config) {
  if (result.too_many_rooms) {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, too_many_rooms(config));
  }
  if (result.creation_refused) {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, too_many_creations(config));
  }
  if (result.unavailable) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "the relay cannot reach its message broker, so nothing was stored; send "
                        "it again with the same id (a relay that reaches the broker recognises "
                        "a resend)");
  }
  return std::nullopt;
}

}  // namespace relay::service
