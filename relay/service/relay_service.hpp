#pragma once

#include <grpcpp/support/byte_buffer.h>

#include "common/config.hpp"
#include "relay/hub/hub.hpp"
#include "relay/service/proto_frames.hpp"
#include "relay/service/service_context.hpp"
#include "relay/v1/relay.grpc.pb.h"

namespace relay::service {

// Chat and Follow are raw (ByteBuffer) methods so that each delivered message
// is written from the one buffer the hub serialized; the other methods use
// the generated message types.
using RelayServiceBase = v1::Relay::WithRawCallbackMethod_Chat<
    v1::Relay::WithRawCallbackMethod_Follow<v1::Relay::WithCallbackMethod_PublishBatch<
        v1::Relay::WithCallbackMethod_ListRooms<v1::Relay::WithCallbackMethod_History<
            v1::Relay::WithCallbackMethod_Who<v1::Relay::Service>>>>>>;

hub::HubLimits hub_limits(const common::RelayConfig& config);

// The gRPC face of one relay: it owns the hub and translates between the
// wire and the hub, holding no business rules of its own.
class RelayService final : public RelayServiceBase {
 public:
  explicit RelayService(const common::RelayConfig& config);

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Chat(
      grpc::CallbackServerContext* context) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Follow(grpc::CallbackServerContext* context,
                                                     const grpc::ByteBuffer* request) override;
  grpc::ServerReadReactor<v1::PublishRequest>* PublishBatch(
      grpc::CallbackServerContext* context, v1::PublishBatchSummary* response) override;
  grpc::ServerUnaryReactor* ListRooms(grpc::CallbackServerContext* context,
                                      const v1::ListRoomsRequest* request,
                                      v1::ListRoomsResponse* response) override;
  grpc::ServerUnaryReactor* History(grpc::CallbackServerContext* context,
                                    const v1::HistoryRequest* request,
                                    v1::HistoryResponse* response) override;
  grpc::ServerUnaryReactor* Who(grpc::CallbackServerContext* context, const v1::WhoRequest* request,
                                v1::WhoResponse* response) override;

  // Refuses new streams and ends the open ones with UNAVAILABLE once their
  // queues are written. The server's own Shutdown deadline bounds the drain.
  void begin_shutdown();
  // Waits until every stream has ended; false if some remain at the deadline.
  bool wait_drained(std::chrono::steady_clock::time_point deadline) const {
    return context_.streams.wait_empty(deadline);
  }

  hub::Hub& hub() { return hub_; }
  std::size_t open_streams() const { return context_.streams.size(); }

 private:
  ProtoFrameEncoder encoder_;
  hub::Hub hub_;
  backplane::LocalBackplane backplane_;
  ServiceContext context_;
};

}  // namespace relay::service
