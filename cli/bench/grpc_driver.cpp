// The driver for relays: relay-server and the Go reference, over the Chat
// streams of relay.proto.
#include <atomic>
#include <memory>
#include <vector>

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include "cli/bench/driver.hpp"
#include "cli/bench/grpc_crowd.hpp"
#include "cli/bench/grpc_publisher.hpp"
#include "cli/bench/grpc_subscriber.hpp"

namespace relay::cli::bench {
namespace {

std::shared_ptr<grpc::Channel> connection(const std::string& target,
                                          const std::shared_ptr<grpc::ChannelCredentials>& tls) {
  grpc::ChannelArguments args;
  // One TCP connection per channel: streams share connections only as the
  // workload says (streams_per_connection).
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // A target naming several relays (ipv4:A,B,C) spreads each channel's
  // streams over all of them, as relay-chat does; one relay keeps gRPC's
  // default, so that its figures compare with earlier ones.
  if (target.find(',') != std::string::npos) {
    args.SetLoadBalancingPolicyName("round_robin");
  }
  return grpc::CreateCustomChannel(target, tls, args);
}

class GrpcDriver final : public Driver {
 public:
  GrpcDriver(std::string target, std::shared_ptr<grpc::ChannelCredentials> credentials,
             const Workload& workload, const Phase& phase)
      : target_(std::move(target)),
        credentials_(std::move(credentials)),
        workload_(workload),
        phase_(phase),
        publisher_stub_(connection(target_, credentials_)),
        churn_stub_(connection(target_, credentials_)) {}

  std::unique_ptr<Subscriber> subscriber(std::size_t index, const std::string& room,
                                         RoomProgress* progress) override {
    return std::make_unique<SubscriberStream>(stub_for(index), room, user(index), phase_,
                                              workload_.accept_batch, progress);
  }

  std::unique_ptr<Crowd> crowd(std::size_t first_index,
                               const std::vector<std::string>& rooms) override {
    std::vector<GrpcCrowd::Member> members;
    for (std::size_t i = 0; i < rooms.size(); ++i) {
      members.push_back({&stub_for(first_index + i), rooms[i], user(first_index + i)});
    }
    return std::make_unique<GrpcCrowd>(members, workload_.accept_batch);
  }

  std::unique_ptr<Subscriber> churner(const std::string& room) override {
    return std::make_unique<SubscriberStream>(
        churn_stub_, room,
        workload_.user_per_stream ? fmt::format("bench-churn-{}", churned_.fetch_add(1)) : "bench",
        phase_, workload_.accept_batch, nullptr);
  }

  std::unique_ptr<Publisher> publisher(PublisherOptions options) override {
    return std::make_unique<PublisherStream>(publisher_stub_, std::move(options));
  }

 private:
  ChatStub& stub_for(std::size_t index) {
    const std::size_t stub = index / workload_.streams_per_connection;
    while (subscriber_stubs_.size() <= stub) {
      subscriber_stubs_.push_back(std::make_unique<ChatStub>(connection(target_, credentials_)));
    }
    return *subscriber_stubs_[stub];
  }

  std::string user(std::size_t index) const {
    return workload_.user_per_stream ? fmt::format("bench-{}", index) : "bench";
  }

  const std::string target_;
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  const Workload& workload_;
  const Phase& phase_;
  // Subscribers are opened from one thread; only churners come from several.
  std::vector<std::unique_ptr<ChatStub>> subscriber_stubs_;
  ChatStub publisher_stub_;
  ChatStub churn_stub_;
  std::atomic<std::uint64_t> churned_{0};
};

}  // namespace

std::unique_ptr<Driver> make_grpc_driver(const std::string& target,
                                         std::shared_ptr<grpc::ChannelCredentials> credentials,
                                         const Workload& workload, const Phase& phase) {
  return std::make_unique<GrpcDriver>(target, std::move(credentials), workload, phase);
}

}  // namespace relay::cli::bench
