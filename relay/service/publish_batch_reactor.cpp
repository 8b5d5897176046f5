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
  context_.batches.add(this);
  read_next();
}

void PublishBatchReactor::read_next() {
  {
    std::lock_guard lock(mutex_);
    if (!shutting_down_) {
      // Started under the lock so that drain() sees either a read pending
      // (and may finish the call, the read then failing) or none (and leaves
      // the finishing to this side); StartRead only queues the operation.
      read_pending_ = true;
      StartRead(&read_buffer_);
      return;
    }
    reads_done_ = true;
  }
  finish_if_complete();
}

void PublishBatchReactor::OnReadDone(bool ok) {
  {
    std::lock_guard lock(mutex_);
    read_pending_ = false;
    if (!ok) {
      reads_done_ = true;
    }
  }
  if (!ok) {
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
    count(index, nullptr, *error);
    read_next();
    return;
  }
  publish_when_allowed();
}

void PublishBatchReactor::publish_when_allowed() {
  if (context_.draining.load() || cancelled_.load()) {
    // No read is pending, so none will end the call: end it here.
    {
      std::lock_guard lock(mutex_);
      reads_done_ = true;
      shutting_down_ = shutting_down_ || context_.draining.load();
    }
    finish_if_complete();
    return;
  }
  if (const auto wait_us = slot_->try_publish(steady_now_us()); wait_us > 0) {
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
  context_.backplane.publish(request_.room(),
                             {user_, request_.client_message_id(), request_.body()},
                             slot_->create_gate(), [this, index](const hub::PublishResult& result) {
                               const auto refusal = publish_refusal(result, context_.config);
                               count(index, &result, refusal.value_or(""));
                             });
  read_next();
}

void PublishBatchReactor::count(std::uint64_t index, const hub::PublishResult* result,
                                const std::string& refusal) {
  std::string described;
  {
    std::lock_guard lock(mutex_);
    if (result != nullptr) {
      --pending_;
    }
    if (refusal.empty()) {
      if (summary_.accepted() == 0) {
        summary_.set_first_sequence(result->sequence);
      }
      summary_.set_first_sequence(std::min(summary_.first_sequence(), result->sequence));
      summary_.set_last_sequence(std::max(summary_.last_sequence(), result->sequence));
      summary_.set_accepted(summary_.accepted() + 1);
    } else {
      described = fmt::format("message {}: {}", index, refusal);
      if (summary_.rejected() == 0) {
        summary_.set_first_rejection(described);
      }
      summary_.set_rejected(summary_.rejected() + 1);
    }
  }
  if (!described.empty()) {
    refusals_.refused(described);
  }
  // Decided in the same call that settled the publish: once pending_ is down,
  // the call may finish and `this` go at any moment.
  if (result != nullptr) {
    finish_if_complete();
  }
}

void PublishBatchReactor::finish_if_complete() {
  std::uint64_t accepted = 0;
  std::uint64_t rejected = 0;
  bool shutting_down = false;
  grpc::Status status;
  {
    std::lock_guard lock(mutex_);
    if (!reads_done_ || pending_ > 0 || finished_) {
      return;
    }
    finished_ = true;
    accepted = summary_.accepted();
    rejected = summary_.rejected();
    shutting_down = shutting_down_;
    if (!shutting_down) {
      bool own_buffer = false;
      status = grpc::SerializationTraits<v1::PublishBatchSummary>::Serialize(summary_, response_,
                                                                             &own_buffer);
    }
  }
  // Nothing touches the summary once finished_ is set, and only this call
  // gets here: the rest needs no lock, and must hold none (it calls gRPC).
  spdlog::info("batch from {}: {} accepted, {} rejected{}", user_, accepted, rejected,
               shutting_down ? ", ended by the shutdown" : "");
  if (shutting_down) {
    call_->AddTrailingMetadata(common::kAcceptedKey, std::to_string(accepted));
    status = {grpc::StatusCode::UNAVAILABLE,
              fmt::format("relay shutting down: {} messages of this batch were accepted, the rest "
                          "were not; send them again (with the same ids) after reconnecting",
                          accepted)};
  }
  Finish(status);
}

void PublishBatchReactor::drain() {
  {
    std::lock_guard lock(mutex_);
    if (finished_ || shutting_down_) {
      return;
    }
    shutting_down_ = true;
    if (!read_pending_) {
      // The read side is busy with a message (or waits to publish it); it
      // sees the drain when it asks for the next one, and finishes then.
      return;
    }
    reads_done_ = true;
  }
  finish_if_complete();
}

void PublishBatchReactor::OnCancel() { cancelled_.store(true); }

void PublishBatchReactor::OnDone() {
  context_.batches.remove(this);
  delete this;
}

}  // namespace relay::service
