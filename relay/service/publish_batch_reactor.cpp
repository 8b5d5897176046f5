#include "relay/service/publish_batch_reactor.hpp"

#include <algorithm>

#include <fmt/format.h>
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
    {
      std::lock_guard lock(mutex_);
      reads_done_ = true;
    }
    finish_if_complete();
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
  {
    std::lock_guard lock(mutex_);
    ++pending_;
  }
  // The call cannot end while a publish is pending (finish waits for it), so
  // the callback may use `this`.
  context_.backplane.publish(request.room(), {user_, id, request.body()},
                             [this](const hub::PublishResult& result) {
                               settle(result);
                               finish_if_complete();
                             });
}

void PublishBatchReactor::settle(const hub::PublishResult& result) {
  {
    std::lock_guard lock(mutex_);
    --pending_;
  }
  if (result.too_many_rooms) {
    reject(fmt::format("the relay holds its maximum of {} rooms", context_.config.max_rooms));
  } else {
    accepted(result.sequence);
  }
}

void PublishBatchReactor::accepted(std::uint64_t sequence) {
  std::lock_guard lock(mutex_);
  if (summary_.accepted() == 0) {
    summary_.set_first_sequence(sequence);
    summary_.set_last_sequence(sequence);
  }
  summary_.set_first_sequence(std::min(summary_.first_sequence(), sequence));
  summary_.set_last_sequence(std::max(summary_.last_sequence(), sequence));
  summary_.set_accepted(summary_.accepted() + 1);
}

void PublishBatchReactor::reject(const std::string& reason) {
  std::lock_guard lock(mutex_);
  if (summary_.rejected() == 0) {
    const auto number = summary_.accepted() + pending_ + summary_.rejected() + 1;
    summary_.set_first_rejection("message " + std::to_string(number) + ": " + reason);
  }
  summary_.set_rejected(summary_.rejected() + 1);
}

void PublishBatchReactor::finish_if_complete() {
  {
    std::lock_guard lock(mutex_);
    if (!reads_done_ || pending_ > 0 || finished_) {
      return;
    }
    finished_ = true;
    spdlog::info("batch from {}: {} accepted, {} rejected", user_, summary_.accepted(),
                 summary_.rejected());
  }
  Finish(grpc::Status::OK);
}

void PublishBatchReactor::OnDone() { delete this; }

}  // namespace relay::service
