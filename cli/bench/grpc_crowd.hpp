#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "cli/bench/driver.hpp"
#include "cli/bench/grpc_subscriber.hpp"

namespace relay::cli::bench {

// Idle Chat streams on gRPC's completion-queue API, with a queue and a
// thread of their own. On the callback API each would keep a read
// outstanding on the one callback queue of the process, and Debian's libgrpc
// (built without NDEBUG) checks every completion against every operation
// outstanding on its queue: 10,000 such reads made the bench, not the
// server, the bottleneck of what it measured (bench/PROFILE.md, twelfth
// session). Here each stream reads as a chat client does, on a queue that
// sees no completion while the others are measured unless the server sends
// to the crowd or ends one of its streams.
class GrpcCrowd final : public Crowd {
 public:
  struct Member {
    ChatStub* stub;
    std::string room;
    std::string user;
  };
  GrpcCrowd(const std::vector<Member>& members, bool accept_batch);
  ~GrpcCrowd() override;
  GrpcCrowd(const GrpcCrowd&) = delete;
  GrpcCrowd& operator=(const GrpcCrowd&) = delete;

  std::size_t wait_joined(std::chrono::milliseconds timeout) override;
  std::size_t dismiss() override;

 private:
  // One operation at most is outstanding on a stream; `step` says which.
  enum class Step { starting, joining, reading, finishing, finished };
  struct Stream {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientAsyncReaderWriter<v1::ClientFrame, grpc::ByteBuffer>> call;
    v1::ClientFrame join;
    grpc::ByteBuffer in;
    grpc::Status status;
    Step step = Step::starting;
    bool joined = false;
  };

  void drive();
  void advance_locked(Stream& stream, bool ok);

  grpc::CompletionQueue queue_;
  std::vector<std::unique_ptr<Stream>> streams_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t joined_ = 0;       // guarded by mutex_
  std::size_t failed_ = 0;       // never joined; guarded by mutex_
  std::size_t finished_ = 0;     // guarded by mutex_
  std::size_t ended_early_ = 0;  // joined, then ended by the server; guarded by mutex_
  bool dismissing_ = false;      // guarded by mutex_
  bool dismissed_ = false;       // the caller's thread only
  std::thread driver_;
};

}  // namespace relay::cli::bench
