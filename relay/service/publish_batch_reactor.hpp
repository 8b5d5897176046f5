#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include <grpcpp/support/server_callback.h>

#include "relay/hub/room.hpp"
#include "relay/service/service_context.hpp"
#include "relay/v1/relay.pb.h"

namespace relay::service {

// One PublishBatch call: publishes each request as it is read, counting the
// ones it refuses, and answers with the summary once the client has
// half-closed and the backplane has answered every publish. A bad message is
// rejected, not fatal: the batch goes on.
class PublishBatchReactor final : public grpc::ServerReadReactor<v1::PublishRequest> {
 public:
  PublishBatchReactor(ServiceContext& context, std::string user, v1::PublishBatchSummary* summary);

  void OnReadDone(bool ok) override;
  void OnDone() override;

 private:
  void publish(const v1::PublishRequest& request);
  void reject(const std::string& reason);
  // Counts a publish the backplane answered, accepted or refused.
  void settle(const hub::PublishResult& result);
  void accepted(std::uint64_t sequence);
  // Finishes the call if the reads are over and no publish is pending.
  void finish_if_complete();

  ServiceContext& context_;
  const std::string user_;
  v1::PublishRequest request_;

  // Backplane answers arrive on any thread, concurrently with reads.
  std::mutex mutex_;
  v1::PublishBatchSummary& summary_;  // guarded by mutex_
  std::uint64_t pending_ = 0;         // guarded by mutex_
  bool reads_done_ = false;           // guarded by mutex_
  bool finished_ = false;             // guarded by mutex_
};

}  // namespace relay::service
