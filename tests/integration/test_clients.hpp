#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "relay/v1/relay.grpc.pb.h"

namespace relay::testing {

using namespace std::chrono_literals;

std::shared_ptr<grpc::Channel> connect(const std::string& target);
std::unique_ptr<v1::Relay::Stub> stub(const std::string& target);
// A client context naming the user (none when user is empty), with a deadline.
std::unique_ptr<grpc::ClientContext> context_for(const std::string& user,
                                                 std::chrono::milliseconds deadline = 30s);
// The trailing metadata `key` of a finished call, if the relay sent it.
std::optional<std::string> trailer(const grpc::ClientContext& context, const std::string& key);

// Opens a Chat stream, sends `bytes` as one frame as they are (malformed
// input), and returns the status the relay ends the stream with.
grpc::Status send_raw_chat_frame(const std::string& target, const std::string& user,
                                 const std::string& bytes);

// A call of any method of relay.v1.Relay ("History", "PublishBatch", ...) with
// each of `messages` written as the bytes it is, then a half-close: for
// unary and client-streaming methods fed bytes that may not parse.
struct RawAnswer {
  grpc::Status status;
  std::string reply;  // the response's bytes when the call succeeded
  std::multimap<std::string, std::string> trailers;
};
RawAnswer raw_call(const std::string& target, const std::string& user, const std::string& method,
                   const std::vector<std::string>& messages);

// What a stream's reader thread received: its frames in order, then the
// status it ended with, for a test to wait on with a deadline.
class FrameQueue {
 public:
  // A batch is queued as the frames it holds, and counted.
  void push(v1::ServerFrame frame);
  std::size_t batches() const;
  void close(grpc::Status status);
  // The next frame, or nullopt when none comes within timeout or the stream ended.
  std::optional<v1::ServerFrame> next(std::chrono::milliseconds timeout);
  std::optional<grpc::Status> wait_status(std::chrono::milliseconds timeout);

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<v1::ServerFrame> frames_;  // guarded by mutex_
  std::size_t batches_ = 0;             // guarded by mutex_
  std::optional<grpc::Status> status_;  // guarded by mutex_
};

// One Chat stream with a reader thread that queues every frame it receives,
// so a test can wait for the frame it expects with a deadline. It refuses
// batched frames unless told to accept them.
class ChatClient {
 public:
  // `bearer_token`: sent as authorization: Bearer, for a relay with --auth-key.
  ChatClient(const std::string& target, const std::string& user, bool accept_batch = false,
             const std::string& bearer_token = "");
  ~ChatClient();
  ChatClient(const ChatClient&) = delete;
  ChatClient& operator=(const ChatClient&) = delete;

  // `presence`: ask for the room's Presence frames (Join.presence).
  bool join(const std::string& room, std::optional<v1::Position> resume = std::nullopt,
            bool presence = false);
  bool leave(const std::string& room);
  bool publish(const std::string& room, const std::string& body, const std::string& id = "");
  bool write(const v1::ClientFrame& frame);

  // The next frame, or nullopt when none comes within timeout or the stream ended.
  std::optional<v1::ServerFrame> next(std::chrono::milliseconds timeout = 10s);
  // The first frame matching `match`, skipping others; nullopt on timeout or end.
  std::optional<v1::ServerFrame> next_matching(
      const std::function<bool(const v1::ServerFrame&)>& match,
      std::chrono::milliseconds timeout = 10s);
  std::optional<v1::ServerFrame> next_of(v1::ServerFrame::KindCase kind,
                                         std::chrono::milliseconds timeout = 10s);

  // Half-closes and waits for the relay's status.
  grpc::Status finish(std::chrono::milliseconds timeout = 10s);
  // The status once the relay ended the stream, without half-closing.
  std::optional<grpc::Status> wait_status(std::chrono::milliseconds timeout = 10s);
  void cancel() { context_->TryCancel(); }
  // How many ServerFrame.batch messages came (their frames come from next()).
  std::size_t batches_received() const { return received_.batches(); }

 private:
  std::unique_ptr<v1::Relay::Stub> stub_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::ClientFrame, v1::ServerFrame>> stream_;
  FrameQueue received_;
  std::thread reader_;
};

// A Chat stream that joins a room and then stops reading, as a stuck client
// would: the relay's writes to it stall once gRPC flow control and the socket
// buffers are full, and its queue for the stream grows. ChatClient cannot do
// this, its reader thread always reads.
class StalledReader {
 public:
  StalledReader(const std::string& target, const std::string& user);
  ~StalledReader();
  StalledReader(const StalledReader&) = delete;
  StalledReader& operator=(const StalledReader&) = delete;

  // Joins and reads the one frame that answers, then nothing more.
  bool join(const std::string& room);
  // Reads whatever the relay still sends, then its status. Bounded by the
  // call's deadline.
  grpc::Status drain();
  // The sequences of the messages drain() read.
  const std::vector<std::uint64_t>& sequences() const { return sequences_; }

 private:
  std::unique_ptr<v1::Relay::Stub> stub_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::ClientFrame, v1::ServerFrame>> stream_;
  std::vector<std::uint64_t> sequences_;
  bool finished_ = false;
};

// One Follow stream (read-only) with a reader thread, like ChatClient.
class FollowClient {
 public:
  FollowClient(const std::string& target, const v1::FollowRequest& request,
               const std::string& user = "follower", const std::string& bearer_token = "");
  ~FollowClient();
  FollowClient(const FollowClient&) = delete;
  FollowClient& operator=(const FollowClient&) = delete;

  std::optional<v1::ServerFrame> next(std::chrono::milliseconds timeout = 10s) {
    return received_.next(timeout);
  }
  std::optional<grpc::Status> wait_status(std::chrono::milliseconds timeout = 10s) {
    return received_.wait_status(timeout);
  }

 private:
  std::unique_ptr<v1::Relay::Stub> stub_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReader<v1::ServerFrame>> reader_;
  FrameQueue received_;
  std::thread thread_;
};

// Joins and waits for the room's Joined answer (a failed REQUIRE otherwise).
v1::Joined join_and_wait(ChatClient& client, const std::string& room,
                         std::optional<v1::Position> resume = std::nullopt, bool presence = false);
// The same, asking for the room's Presence frames.
v1::Joined join_with_presence(ChatClient& client, const std::string& room);
// Publishes and waits for the acknowledgement of that client message id.
v1::PublishAck publish_acked(ChatClient& client, const std::string& room, const std::string& body,
                             const std::string& id);
v1::Position position(std::uint64_t epoch, std::uint64_t sequence);
// One message of a PublishBatch.
v1::PublishRequest batch_message(const std::string& room, const std::string& body,
                                 const std::string& id);

}  // namespace relay::testing
