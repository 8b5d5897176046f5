#include "relay/service/publish_batch_reactor.hpp"

#include <spdlog/spdlog.h>

#include "common/validation.hpp"

namespace relay::service {

PublishBatchReactor::PublishBatchReactor(ServiceContext& context, std::string user,
                                         v1::PublishBatchSummary* summary)
    : context_(context), user_(std::move(user)), summary_(*summary) {
  StartRead(&request_);
}

void PublishBatchReactor::OnReadDone(bool ok) {
  if (!ok) {
    spdlog::info("batch from {}: {} accepted, {} rejected", user_, summary_.accepted(),
                 summary_.rejected());
    Finish(grpc::Status::OK);
    return;
  }
  publish(request_);
  StartRead(&request_);
}

void PublishBatchReactor::publish(const v1::PublishRequest& request) {
  const std::string& id = request.client_message_id();
  if (auto error = common::validate_room_name(request.room())) {
    reject(*error);
    return;
  }
  if (!id.empty()) {
    if (auto error = common::validate_client_message_id(id)) {
      reject(*error);
      return;
    }
  }
  if (auto error = common::validate_body(request.body(), context_.config.max_body_bytes)) {
    reject(*error);
    return;
  }
  const auto result = context_.hub.publish(request.room(), {user_, id, request.body()});
  if (summary_.accepted() == 0) {
    summary_.set_first_sequence(result.sequence);
  }
  summary_.set_accepted(summary_.accepted() + 1);
  summary_.set_last_sequence(result.sequence);
}

void PublishBatchReactor::reject(const std::string& reason) {
  if (summary_.rejected() == 0) {
    summary_.set_first_rejection(
        "message " + std::to_string(summary_.accepted() + summary_.rejected() + 1) + ": " + reason);
  }
  summary_.set_rejected(summary_.rejected() + 1);
}

void PublishBatchReactor::OnDone() { delete this; }

}  // namespace relay::service
