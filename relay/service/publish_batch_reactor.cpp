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
                                         std::string user, Permissions permissions,
                                         std::unique_ptr<StreamSlot> slot,
                                         std::int64_t token_expires_s, grpc::ByteBuffer* response)
    : context_(context),
      call_(call),
      user_(std::move(user)),
      permissions_(std::move(permissions)),
      slot_(std::move(slot)),
      token_expires_s_(token_expires_s),
      response_(response),
      refusals_(fmt::format("batch from {} at {}", user_, call->peer()), context_.refusal_counts) {
  context_.batches.add(this);
  read_next();
}

void PublishBatchReactor::read_next() {
  {
    std::lock_guard lock(mutex_);
    if (!shutting_down_) {
      // Started under the lock so that drain() sees either a read pending
      // (and may end the reads, the read then failing) or none (and leaves
      // ending them to this side); StartRead only queues the operation.
      read_pending_ = true;
      StartRead(&read_buffer_);
      return;
    }
    reads_ended_ = true;
  }
  if (pending_.reads_done()) {
    finish();
  }
}

void PublishBatchReactor::OnReadDone(bool ok) {
  {
    std::lock_guard lock(mutex_);
    read_pending_ = false;
    if (reads_ended_) {
      // drain() ended the reads while this one was pending, and the call may
      // have finished: whatever came was not accepted, and is not counted.
      return;
    }
    reads_ended_ = !ok;
  }
  if (!ok) {
    if (pending_.reads_done()) {
      finish();
    }
    return;
  }
  if (token_expired()) {
    // Good or bad, a message past the token's end is not processed.
    stop_reading(true);
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
    count(index, nullptr, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, *error));
    read_next();
    return;
  }
  if (!permissions_->allows(common::RoomRight::publish, request_.room())) {
    count(index, nullptr,
          grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                       not_permitted(common::RoomRight::publish, request_.room())));
    read_next();
    return;
  }
  publish_when_allowed();
}

bool PublishBatchReactor::token_expired() const {
  return token_expires_s_ > 0 && unix_now_ms() >= context_.token_leases.ends_ms(token_expires_s_);
}

void PublishBatchReactor::stop_reading(bool for_token) {
  // No read is pending, so drain() leaves ending the reads to this side.
  {
    std::lock_guard lock(mutex_);
    reads_ended_ = true;
    shutting_down_ = shutting_down_ || context_.draining.load();
    token_expired_ = for_token;
  }
  if (for_token) {
    context_.token_leases.count_expired();
  }
  if (pending_.reads_done()) {
    finish();
  }
}

void PublishBatchReactor::publish_when_allowed() {
  // Starts this message's writes after read_next() below (Hub::DeferredWrites).
  const hub::Hub::DeferredWrites deferred(context_.hub);
  // Checked again after any pacing: a batch paced past its token's end must
  // not go on publishing.
  const bool expired = token_expired();
  if (context_.draining.load() || cancelled_.load() || expired) {
    stop_reading(expired);
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
  pending_.expect();
  // The answer may come on any thread, before or after the next read, after
  // the client half-closed or cancelled. Until it is settled the call cannot
  // end, so the callback may use `this`; once settled, the call may end and
  // be deleted at once, so only the party told to finish goes on.
  context_.backplane.publish(request_.room(),
                             {user_, request_.client_message_id(), request_.body()},
                             slot_->create_gate(), [this, index](const hub::PublishResult& result) {
                               const auto refusal = publish_refusal(result, context_.config);
                               count(index, &result, refusal.value_or(grpc::Status::OK));
                               if (pending_.answered()) {
                                 finish();
                               }
                             });
  read_next();
}

void PublishBatchReactor::count(std::uint64_t index, const hub::PublishResult* result,
                                const grpc::Status& refusal) {
  std::string described;
  {
    std::lock_guard lock(mutex_);
    if (refusal.ok()) {
      // Sequence 0 is no position: the resend of a message the broker no
      // longer holds.
      if (result->sequence > 0) {
        summary_.set_first_sequence(summary_.first_sequence() == 0
                                        ? result->sequence
                                        : std::min(summary_.first_sequence(), result->sequence));
        summary_.set_last_sequence(std::max(summary_.last_sequence(), result->sequence));
      }
      summary_.set_accepted(summary_.accepted() + 1);
      if (result->duplicate) {
        summary_.set_duplicates(summary_.duplicates() + 1);
      }
    } else {
      described = fmt::format("message {}: {}", index, refusal.error_message());
      broker_unavailable_ =
          broker_unavailable_ || refusal.error_code() == grpc::StatusCode::UNAVAILABLE;
      if (summary_.rejected() == 0) {
        summary_.set_first_rejection(described);
      }
      summary_.set_rejected(summary_.rejected() + 1);
    }
  }
  if (!described.empty()) {
    refusals_.refused(refusal.error_code(), described);
  }
}

void PublishBatchReactor::finish() {
  std::uint64_t accepted = 0;
  std::uint64_t rejected = 0;
  bool shutting_down = false;
  bool token_expired = false;
  bool broker_unavailable = false;
  grpc::Status status;
  {
    // Every answer is counted and the reads are over, so nothing changes the
    // summary any more; drain() may still look at the flags.
    std::lock_guard lock(mutex_);
    accepted = summary_.accepted();
    rejected = summary_.rejected();
    shutting_down = shutting_down_;
    token_expired = token_expired_;
    broker_unavailable = broker_unavailable_;
    if (!shutting_down && !token_expired && !broker_unavailable) {
      bool own_buffer = false;
      status = grpc::SerializationTraits<v1::PublishBatchSummary>::Serialize(summary_, response_,
                                                                             &own_buffer);
    }
  }
  // Outside the lock: Finish calls into gRPC. `this` lives until OnDone,
  // which Finish makes possible: nothing after it may touch the reactor.
  spdlog::info("batch from {}: {} accepted, {} rejected{}", user_, accepted, rejected,
               shutting_down        ? ", ended by the shutdown"
               : token_expired      ? ", ended as its token ran out"
               : broker_unavailable ? ", some for want of the message broker"
                                    : "");
  // finish() runs once every message published has its answer, and a
  // message read but not yet published (waiting for the rate, or cut off by
  // the drain) is counted as neither: so those counted are the first
  // accepted + rejected of the call. A client resending "the rest" must know
  // where they start, which the accepted count alone does not say once one
  // was rejected.
  const std::uint64_t processed = accepted + rejected;
  if (broker_unavailable || shutting_down || token_expired) {
    call_->AddTrailingMetadata(common::kAcceptedKey, std::to_string(accepted));
    call_->AddTrailingMetadata(common::kProcessedKey, std::to_string(processed));
  }
  const std::string done =
      processed == 0 ? std::string("it processed none of this batch's messages")
                     : fmt::format(
                           "it processed this batch's messages 1 to {} ({} accepted, {} rejected) "
                           "and none after",
                           processed, accepted, rejected);
  if (broker_unavailable && !shutting_down) {
    status = {grpc::StatusCode::UNAVAILABLE,
              fmt::format("the relay cannot reach its message broker: {}; send them all again "
                          "(with the same ids) later or through another relay: those it accepted "
                          "are acknowledged as duplicates, not published twice",
                          done)};
  }
  if (token_expired && !shutting_down) {
    status = {
        grpc::StatusCode::UNAUTHENTICATED,
        fmt::format("your token expired (exp {}) during this batch, and a batch cannot "
                    "refresh it: {}; send the rest again (with the same ids) with a new token",
                    token_expires_s_, done)};
  }
  if (shutting_down) {
    status = {grpc::StatusCode::UNAVAILABLE,
              fmt::format("relay shutting down: {}; send the rest again (with the same ids) after "
                          "reconnecting",
                          done)};
  }
  Finish(status);
}

void PublishBatchReactor::drain() {
  {
    std::lock_guard lock(mutex_);
    if (reads_ended_ || shutting_down_) {
      // Every message read is settled by its answer: the summary says which
      // were accepted, shutdown or not.
      return;
    }
    shutting_down_ = true;
    if (!read_pending_) {
      // The read side is busy with a message (or waits to publish it); it
      // sees the drain when it asks for the next one, and ends the reads then.
      return;
    }
    reads_ended_ = true;
  }
  if (pending_.reads_done()) {
    finish();
  }
}

void PublishBatchReactor::OnCancel() { cancelled_.store(true); }

void PublishBatchReactor::OnDone() {
  context_.batches.remove(this);
  delete this;
}

}  // namespace relay::service
