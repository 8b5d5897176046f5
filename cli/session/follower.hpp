#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "cli/session/channel.hpp"
#include "cli/session/chat_session.hpp"
#include "cli/session/seen_window.hpp"
#include "common/backoff.hpp"

namespace relay::cli {

struct FollowOptions {
  std::string target = "127.0.0.1:50051";
  std::string user;
  std::vector<std::string> rooms;
  common::BackoffPolicy backoff;
  ChannelOptions channel;
  std::size_t seen_window = 10000;
  // How long one attempt waits for a relay that accepts connections but does
  // not answer before it counts as failed.
  std::chrono::milliseconds connect_timeout{5000};
  // Ask for each room's Presence frames (who joins and leaves); a tail of
  // messages does not need them, so the relay is spared them by default.
  bool presence = false;
};

// A read-only tail of rooms over the server-streaming Follow call that, like
// ChatSession, survives relay restarts: it reconnects with backoff and
// resumes every room from the last message it showed, so nothing is shown
// twice. It reports through the same SessionListener (messages, joins,
// presence when asked for, connection state).
class Follower {
 public:
  Follower(FollowOptions options, SessionListener& listener);

  // Follows until stop() or until the relay refuses the request for good
  // (INVALID_ARGUMENT and the like); returns OK or that status.
  grpc::Status run();
  // From any thread: ends run() soon after.
  void stop();

 private:
  struct Position {
    std::uint64_t epoch = 0;
    std::uint64_t sequence = 0;
    bool known = false;
  };

  v1::FollowRequest request() const;
  // Reads one stream to its end; sets `established` when a frame arrived.
  // `announce`: tell the listener when the stream is up.
  grpc::Status follow_once(bool resumed, bool& established, bool announce);
  void handle(const v1::ServerFrame& frame, bool resumed);
  // TokenExpiring: reopens the stream with a fresh token, if one can be had.
  void reopen_with_fresh_token(const v1::TokenExpiring& expiring);

  const FollowOptions options_;
  SessionListener& listener_;
  std::shared_ptr<grpc::Channel> channel_;
  // Asks why a stream was refused (describe_refused_stream).
  std::shared_ptr<grpc::Channel> unchecked_channel_;
  std::unique_ptr<v1::Relay::Stub> stub_;
  std::map<std::string, Position> positions_;  // run()'s thread only
  SeenWindow seen_;                            // run()'s thread only

  std::mutex mutex_;
  std::condition_variable stopped_;
  bool stopping_ = false;                   // guarded by mutex_
  grpc::ClientContext* context_ = nullptr;  // guarded by mutex_
  // The relay said the stream's token expires soon: the stream was cancelled
  // to be opened again at once with a fresh token, from where it was.
  bool reopen_ = false;       // guarded by mutex_
  std::string next_token_;    // the fresh token to reopen with; guarded by mutex_
  std::string stream_token_;  // the live stream's token; reader only
  // False on a stream that replaced one for a fresh token: its rejoins are
  // told only when they lost something.
  bool announce_ = true;  // reader only
};

}  // namespace relay::cli
