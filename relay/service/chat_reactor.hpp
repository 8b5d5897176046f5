#pragma once

#include <memory>
#include <span>
#include <string>

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/slice.h>

#include "common/room_permissions.hpp"
#include "common/token_bucket.hpp"
#include "relay/hub/subscriber.hpp"
#include "relay/service/refusal_log.hpp"
#include "relay/service/service_context.hpp"
#include "relay/service/status.hpp"
#include "relay/service/stuck_write_canceller.hpp"
#include "relay/v1/relay.pb.h"

namespace relay::service {

// One Chat stream. Frames are read one at a time (the next read starts when
// the last is handled), so the read side's state needs no lock; the write
// side is the hub Subscriber's queue, which any publishing thread feeds.
// gRPC may run these callbacks on any of its threads, one after another for
// reads but concurrently with writes, which is why the two sides share
// nothing but the Subscriber. The reactor deletes itself in OnDone.
class ChatReactor final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
                          public hub::FrameSink {
 public:
  // `permissions`: the rooms the user may join and publish to;
  // `token_expires_s`: the exp of the caller's token, 0 without tokens.
  ChatReactor(ServiceContext& context, grpc::CallbackServerContext* call, std::string user,
              Permissions permissions, std::unique_ptr<StreamSlot> slot,
              std::int64_t token_expires_s);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  void start_write(std::span<const hub::FramePtr> frames, bool more_follows) override;
  void finish(const hub::CloseReason& reason) override;
  void write_stuck_after_close(bool draining) override;

 private:
  void handle(const v1::Join& join);
  void handle(const v1::Leave& leave);
  void handle(const v1::Publish& publish);
  void handle(const v1::Refresh& refresh);
  void notice(grpc::StatusCode code, const std::string& message, const std::string& room = "",
              const std::string& client_message_id = "", std::int64_t retry_after_us = 0);
  void leave_all_rooms();
  const std::string& user() const { return subscriber_->user(); }
  RefusalLog& refusals();

  // An idle stream is most of what a relay holds: what it keeps is counted in
  // bytes (bench/PROFILE.md, fourteenth and fifteenth sessions), so the user,
  // the peer and the rooms joined live once (in the Subscriber and the
  // connection lease), and what only a rare frame needs is made when one
  // comes.
  ServiceContext& context_;
  Permissions permissions_;  // read side only: a Refresh replaces it
  const std::unique_ptr<StreamSlot> slot_;
  const ConnectionLease connection_;
  const hub::SubscriberPtr subscriber_;
  TokenLeases::LeasePtr lease_;  // the token's expiry; none without tokens; set in the constructor
  StuckWriteCanceller stuck_write_;
  std::unique_ptr<RefusalLog> refusals_;               // read side only; made at the first refusal
  common::TokenBucket join_rate_;                      // read side only
  std::unique_ptr<common::TokenBucket> refresh_rate_;  // read side only; made at the first Refresh
  grpc::ByteBuffer read_buffer_;                       // read side only
  grpc::ByteBuffer write_buffer_;                      // write side only
};

}  // namespace relay::service
