#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include <grpcpp/support/byte_buffer.h>

#include "common/config.hpp"
#include "relay/hub/hub.hpp"
#include "relay/metrics/relay_metrics.hpp"
#include "relay/service/proto_frames.hpp"
#include "relay/service/service_context.hpp"
#include "relay/service/status.hpp"
#include "relay/v1/relay.grpc.pb.h"

namespace relay::service {

// Every method is raw (ByteBuffer): Chat and Follow so that each delivered
// message is written from the one buffer the hub serialized, and all of them
// so that bytes which do not parse get INVALID_ARGUMENT with a message, where
// gRPC's own parsing would answer UNIMPLEMENTED or end a batch's reads.
using RelayServiceBase = v1::Relay::WithRawCallbackMethod_Chat<
    v1::Relay::WithRawCallbackMethod_Follow<v1::Relay::WithRawCallbackMethod_PublishBatch<
        v1::Relay::WithRawCallbackMethod_ListRooms<v1::Relay::WithRawCallbackMethod_History<
            v1::Relay::WithRawCallbackMethod_Who<v1::Relay::Service>>>>>>;

hub::HubLimits hub_limits(const common::RelayConfig& config);

// Makes the relay's backplane over the hub it owns. None: LocalBackplane.
using BackplaneFactory = std::function<std::unique_ptr<backplane::Backplane>(hub::Hub&)>;

// The gRPC face of one relay: it owns the hub and translates between the
// wire and the hub, holding no business rules of its own.
class RelayService final : public RelayServiceBase {
 public:
  // `tokens`: from TokenVerifier::from_config; none: callers name themselves.
  explicit RelayService(const common::RelayConfig& config,
                        const BackplaneFactory& make_backplane = {},
                        std::shared_ptr<const common::TokenVerifier> tokens = nullptr);

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Chat(
      grpc::CallbackServerContext* context) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Follow(grpc::CallbackServerContext* context,
                                                     const grpc::ByteBuffer* request) override;
  grpc::ServerReadReactor<grpc::ByteBuffer>* PublishBatch(grpc::CallbackServerContext* context,
                                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListRooms(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* History(grpc::CallbackServerContext* context,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Who(grpc::CallbackServerContext* context,
                                const grpc::ByteBuffer* request,
                                grpc::ByteBuffer* response) override;

  // Refuses new streams and ends the open ones with UNAVAILABLE once their
  // queues are written. The server's own Shutdown deadline bounds the drain.
  void begin_shutdown();
  // Waits until every stream has ended; false if some remain at the deadline.
  bool wait_drained(std::chrono::steady_clock::time_point deadline) const {
    return context_.streams.wait_empty(deadline);
  }

  hub::Hub& hub() { return hub_; }
  // Whether the backplane can order publishes now (a broker within reach).
  bool serving() const { return backplane_->serving(); }
  std::size_t open_streams() const { return context_.streams.size(); }
  // Ends every open Chat and Follow stream with UNAVAILABLE once what was
  // queued for it is written, so that its client reconnects, to a relay that
  // serves if it balances over several; returns how many it ended.
  std::size_t shed_streams();
  // Removes idle rooms and forgets users at rest; the relay calls it on a timer.
  void sweep();
  // Warns the streams whose tokens expire soon and ends those whose tokens
  // have expired beyond the grace; the relay calls it every 250 ms.
  void check_tokens() { context_.token_leases.check(unix_now_ms()); }
  // What a scrape of /metrics shows; from any thread.
  metrics::RelayReadings readings() const;

 private:
  // The caller's identity and a stream slot for it, or the status to refuse
  // the call with (logged, summarised, relay-wide).
  struct Admitted {
    std::string user;
    Permissions rooms;
    std::unique_ptr<StreamSlot> slot;
    grpc::Status refusal;
    std::int64_t token_expires_s = 0;
  };
  Admitted admit_stream(const grpc::CallbackServerContext& context, const char* rpc);
  // The caller's identity; a call without one is logged, summarised with the
  // relay's other refused calls.
  Identity identify_or_log(const grpc::CallbackServerContext& context, const char* rpc);
  // Checks a unary call's identity into `caller`, then parses its request
  // into `out`: nothing when both are good, or the status to refuse the call
  // with.
  template <typename Request>
  std::optional<grpc::Status> read_unary(const grpc::CallbackServerContext& context,
                                         const grpc::ByteBuffer& bytes, Request& out,
                                         const char* rpc, Identity& caller);
  // PERMISSION_DENIED with `message`, logged with the relay's other refused calls.
  grpc::Status denied(const grpc::CallbackServerContext& context, const char* rpc,
                      const std::string& user, const std::string& message);

  ProtoFrameEncoder encoder_;
  hub::Hub hub_;
  // Declared after the hub, so destroyed first: answers it still gives then
  // find the hub alive.
  const std::unique_ptr<backplane::Backplane> backplane_;
  ServiceContext context_;
  std::atomic<std::uint64_t> shed_streams_{0};
};

}  // namespace relay::service
