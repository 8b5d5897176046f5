#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/alarm.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include "common/room_permissions.hpp"
#include "relay/backplane/pending_answers.hpp"
#include "relay/hub/room.hpp"
#include "relay/service/refusal_log.hpp"
#include "relay/service/service_context.hpp"
#include "relay/service/status.hpp"
#include "relay/v1/relay.pb.h"

namespace relay::service {

// One PublishBatch call: publishes each request as it is read, counting the
// ones it refuses, and answers with the summary once the client has
// half-closed and the backplane has answered every publish. A bad message,
// bytes that do not parse among them, is rejected, not fatal: the batch goes
// on, and accepted + rejected always counts every message read.
//
// The user's publish rate paces the call rather than cutting it: a message
// that finds the rate spent waits on an alarm, and the next read starts only
// once it is published, so HTTP/2 flow control holds the client back. The
// request is read as raw bytes so that a message that does not parse is
// counted here; gRPC would otherwise end the reads as if the client were done.
class PublishBatchReactor final : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  // `permissions`: the rooms the user may publish to; a message to another
  // is rejected like a bad one. `token_expires_s`: the exp of the caller's
  // token, 0 without tokens. A batch cannot refresh its token: a message read
  // after exp plus the relay's grace ends the call UNAUTHENTICATED, with the
  // counts in x-relay-processed and x-relay-accepted.
  PublishBatchReactor(ServiceContext& context, grpc::CallbackServerContext* call, std::string user,
                      Permissions permissions, std::unique_ptr<StreamSlot> slot,
                      std::int64_t token_expires_s, grpc::ByteBuffer* response);

  void OnReadDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  // The relay is shutting down: what was accepted stays so, and the call ends
  // UNAVAILABLE (with the counts in x-relay-processed and x-relay-accepted)
  // once every message read is answered; the rest is the client's to send
  // again elsewhere. A call whose reads had already ended gets its summary
  // as usual.
  void drain();

 private:
  // Starts the next read, or ends the reads once the relay is draining.
  void read_next();
  // Whether the caller's token has run out (exp plus the relay's grace).
  bool token_expired() const;
  // Ends the reads from the read side, for a drain, a cancel or the token,
  // and finishes once every message published has its answer.
  void stop_reading(bool for_token);
  // Publishes request_ once the rate allows, then reads the next message.
  void publish_when_allowed();
  // Counts a message as accepted (`refusal` OK) or rejected; `result` is
  // the backplane's answer, null for a message refused before publishing.
  void count(std::uint64_t index, const hub::PublishResult* result, const grpc::Status& refusal);
  // Called only by the party that pending_ told to finish.
  void finish();

  ServiceContext& context_;
  grpc::CallbackServerContext* const call_;
  const std::string user_;
  const Permissions permissions_;
  const std::unique_ptr<StreamSlot> slot_;
  const std::int64_t token_expires_s_;  // 0 without tokens
  grpc::ByteBuffer* const response_;
  RefusalLog refusals_;
  std::atomic<bool> cancelled_{false};

  // Read side: one read or one paced publish at a time. An alarm is set once
  // (setting it again from its own callback would replace the callback that
  // is running), so each wait gets a new one.
  std::unique_ptr<grpc::Alarm> pacing_;
  grpc::ByteBuffer read_buffer_;
  v1::PublishRequest request_;
  std::uint64_t read_count_ = 0;

  // Backplane answers and the drain arrive on any thread, concurrently with
  // reads. The call ends once the reads have ended and every answer is in.
  backplane::PendingAnswers pending_;
  std::mutex mutex_;
  v1::PublishBatchSummary summary_;  // guarded by mutex_
  bool read_pending_ = false;        // guarded by mutex_
  // Set once, by the read side or by drain(), whichever ends the reads.
  bool reads_ended_ = false;    // guarded by mutex_
  bool shutting_down_ = false;  // guarded by mutex_
  bool token_expired_ = false;  // guarded by mutex_
  // The backplane refused a message because its broker is out of reach: the
  // call ends UNAVAILABLE, so the client sends the batch again.
  bool broker_unavailable_ = false;  // guarded by mutex_
};

}  // namespace relay::service
