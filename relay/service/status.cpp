#include "relay/service/status.hpp"

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
  }
  return {grpc::StatusCode::INTERNAL, reason.message};
}

Identity identify(const grpc::CallbackServerContext& context) {
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
  return {user, grpc::Status::OK};
}

}  // namespace relay::service
