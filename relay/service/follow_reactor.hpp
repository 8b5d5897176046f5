#pragma once

#include <span>
#include <string>
#include <vector>

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include "relay/hub/subscriber.hpp"
#include "relay/service/service_context.hpp"
#include "relay/service/stuck_write_canceller.hpp"
#include "relay/v1/relay.pb.h"

namespace relay::service {

// One Follow stream: a read-only subscriber of one or more rooms. It joins
// them all when created and then only writes; it deletes itself in OnDone.
class FollowReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                            public hub::FrameSink {
 public:
  // `token_expires_s`: the exp of the caller's token; 0 without tokens.
  FollowReactor(ServiceContext& context, grpc::CallbackServerContext* call, std::string user,
                std::unique_ptr<StreamSlot> slot, std::int64_t token_expires_s,
                const v1::FollowRequest& request);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  void start_write(std::span<const hub::FramePtr> frames, bool more_follows) override;
  void finish(const hub::CloseReason& reason) override;
  void write_stuck_after_close(bool draining) override;

  // Why a request cannot be followed, or nothing when it can.
  static std::optional<std::string> validate(const v1::FollowRequest& request);

 private:
  void leave_all_rooms();

  ServiceContext& context_;
  const std::string peer_;
  const std::unique_ptr<StreamSlot> slot_;
  const ConnectionLease connection_;
  const hub::SubscriberPtr subscriber_;
  // The token's expiry; none without tokens. A follower cannot refresh in
  // band: TokenExpiring tells it to open a new Follow with a fresh token.
  TokenLeases::LeasePtr lease_;  // set last in the constructor
  StuckWriteCanceller stuck_write_;
  // Written in the constructor, read again only in OnDone.
  std::vector<std::string> rooms_;
  grpc::ByteBuffer write_buffer_;
};

}  // namespace relay::service
