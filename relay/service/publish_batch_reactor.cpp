#include "relay/service/publish_batch_reactor.hpp"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <spdlog/spdlog.h>

#include "common/metadata.hpp"
#include "common/validation.hpp"
#include "relay/service/status.hpp"

namespace relay::service {
namespace {

constexpr std::chrono::microseconds kLongestPacingStep = std::chrono::milliseconds(100);

}  // namespace

PublishBatchReactor::PublishBatchReactor(ServiceContext& context, grpc::CallbackServerContext* call,
                                         std::string user, std::unique_ptr<StreamSlot> slot,
                                         grpc::ByteBuffer* response)
    : context_(context),
      call_(call),
      user_(std::move(user)),
      slot_(std::move(slot)),
      response_(response),
      refusals_(fmt::format("batch from {} at {}", user_, call->peer())) {
  StartRead(&read_buffer_);
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
  const std::uint64_t index = ++read_count_;
  request_.Clear();
  const bool parsed =
      grpc::SerializationTraits<v1::PublishRequest>::Deserialize(&read_buffer_, &request_).ok();
  const auto error = parsed
                         ? common::validate_publish(request_.room(), request_.client_message_id(),
                                                    request_.body(), context_.config.max_body_bytes)
                         : "bytes that are not a relay.v1.PublishRequest";
  if (error) {
    reject(index, *error);
    StartRead(&read_buffer_);
    return;
  }
  publish_when_allowed();
}

void PublishBatchReactor::publish_when_allowed() {
  const bool draining = context_.draining.load();
  if (draining || cancelled_.load()) {
    // No read is pending, so none will end the call: end it here.
    {
      std::lock_guard lock(mutex_);
      reads_done_ = true;
      shutting_down_ = draining;
    }
    finish_if_complete();
    return;
  }
  if (const auto wait_us = slot_->quota().try_publish(steady_now_us()); wait_us > 0) {
    // The call does not end while it waits, so the alarm cannot outlive it.
    // Long waits (a very low rate) are taken in steps, so that a cancelled
    // call or a relay shutting down is noticed within one.
    const auto wait =
        std::min<std::chrono::microseconds>(std::chrono::microseconds(wait_us), kLongestPacingStep);
    pacing_ = std::make_unique<grpc::Alarm>();
    pacing_->Set(std::chrono::system_clock::now() + wait, [this](bool) { publish_when_allowed(); });
    return;
  }
  const std::uint64_t index = read_count_;
  {
    std::lock_guard lock(mutex_);
    ++pending_;
  }
  // The call cannot end while a publish is pending (finish waits for it), so
  // the callback may use `this`.
  UserQuota& quota = slot_->quota();
  const std::int64_t now_us = steady_now_us();
  context_.backplane.publish(
      request_.room(), {user_, request_.client_message_id(), request_.body()},
      [&quota, now_us] { return quota.try_create_room(now_us); },
      [this, index](const hub::PublishResult& result) {
        settle(index, result);
        finish_if_complete();
      });
  StartRead(&read_buffer_);
}

void PublishBatchReactor::settle(std::uint64_t index, const hub::PublishResult& result) {
  {
    std::lock_guard lock(mutex_);
    --pending_;
  }
  if (auto refusal = publish_refusal(result, context_.config)) {
    reject(index, *refusal);
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

void PublishBatchReactor::reject(std::uint64_t index, const std::string& reason) {
  const std::string described = fmt::format("message {}: {}", index, reason);
  refusals_.refused(described);
  std::lock_guard lock(mutex_);
  if (summary_.rejected() == 0) {
    summary_.set_first_rejection(described);
  }
  summary_.set_rejected(summary_.rejected() + 1);
}

void PublishBatchReactor::finish_if_complete() {
  grpc::Status status;
  {
    std::lock_guard lock(mutex_);
    if (!reads_done_ || pending_ > 0 || finished_) {
      return;
    }
    finished_ = true;
    const auto accepted = summary_.accepted();
    spdlog::info("batch from {}: {} accepted, {} rejected{}", user_, accepted, summary_.rejected(),
                 shutting_down_ ? ", cut short by the shutdown" : "");
    if (shutting_down_) {
      call_->AddTrailingMetadata(common::kAcceptedKey, std::to_string(accepted));
      status = {grpc::StatusCode::UNAVAILABLE,
                fmt::format("relay shutting down: {} messages of this batch were accepted, the "
                            "rest were not; send them again (with the same ids) after "
                            "reconnecting",
                            accepted)};
    } else {
      bool own_buffer = false;
      status = grpc::SerializationTraits<v1::PublishBatchSummary>::Serialize(summary_, response_,
                                                                             &own_buffer);
    }
  }
  Finish(status);
}

void PublishBatchReactor::OnCancel() { cancelled_.store(true); }

void PublishBatchReactor::OnDone() {
  refusals_.flush();
  delete this;
}

}  // namespace relay::service
