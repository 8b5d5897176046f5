#pragma once

#include <string>

#include <grpcpp/support/server_callback.h>

#include "relay/service/service_context.hpp"
#include "relay/v1/relay.pb.h"

namespace relay::service {

// One PublishBatch call: publishes each request as it is read, counting the
// ones it refuses, and answers with the summary when the client half-closes.
// A bad message is rejected, not fatal: the batch goes on.
class PublishBatchReactor final : public grpc::ServerReadReactor<v1::PublishRequest> {
 public:
  PublishBatchReactor(ServiceContext& context, std::string user, v1::PublishBatchSummary* summary);

  void OnReadDone(bool ok) override;
  void OnDone() override;

 private:
  void publish(const v1::PublishRequest& request);
  void reject(const std::string& reason);

  ServiceContext& context_;
  const std::string user_;
  v1::PublishBatchSummary& summary_;
  v1::PublishRequest request_;
};

}  // namespace relay::service
