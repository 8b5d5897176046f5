#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "cli/session/channel.hpp"
#include "cli/session/seen_window.hpp"
#include "common/backoff.hpp"
#include "relay/v1/relay.grpc.pb.h"

namespace relay::cli {

struct SessionOptions {
  // A gRPC target: "127.0.0.1:50051", "ipv4:127.0.0.1:50051,127.0.0.1:50052"
  // or "dns:///relay.example:50051"; several addresses are balanced with
  // round_robin.
  std::string target = "127.0.0.1:50051";
  std::string user;
  common::BackoffPolicy backoff;
  // Publishes typed but not yet acknowledged, including those typed while
  // disconnected; a full queue refuses new ones (publish returns false).
  std::size_t max_unacked = 1000;
  // (sender, client message id) pairs remembered to drop a message shown once.
  std::size_t seen_window = 10000;
  // The relay's default body limit: a larger body would end the stream with
  // RESOURCE_EXHAUSTED on every resend, so it is refused here instead.
  std::size_t max_body_bytes = 64 * 1024;
  ChannelOptions channel;
  // How long one attempt waits for a relay that accepts connections but does
  // not answer before it counts as failed.
  std::chrono::milliseconds connect_timeout{5000};
  // Ask for each room's Presence frames (who joins and leaves), which the
  // relay sends only to streams that ask.
  bool presence = true;
};

enum class ConnectionState { connecting, connected, reconnecting, closed };

struct ConnectionStatus {
  ConnectionState state = ConnectionState::connecting;
  // While reconnecting: the attempt number and the wait before it.
  int attempt = 0;
  std::chrono::milliseconds retry_in{0};
  // Why the last stream ended ("" when none has).
  std::string last_error;
  // While connected: the relay serving the stream, as gRPC names its peer
  // ("ipv4:127.0.0.1:50051"), so that a user of several relays knows which.
  // Initialized, so that the statuses built without it need not name it.
  std::string relay = {};
};

// What the session tells its user interface. Called from the session's
// supervisor thread (which reads the stream), one call at a time, except
// on_error for a token that could not be fetched, which comes from the
// writer thread; keep them short.
class SessionListener {
 public:
  virtual ~SessionListener() = default;
  // A message to show: never one shown before, in order within its room.
  virtual void on_message(const v1::Message& message) = 0;
  // A room was (re)joined; `joined.missed` messages are lost for good.
  virtual void on_joined(const v1::Joined& joined, bool resumed) = 0;
  virtual void on_presence(const v1::Presence& presence) = 0;
  // One of our publishes was accepted.
  virtual void on_ack(const v1::PublishAck& ack) = 0;
  virtual void on_error(const v1::ErrorNotice& error) = 0;
  virtual void on_status(const ConnectionStatus& status) = 0;
};

// One persistent Chat stream that survives relay restarts and cut
// connections. Two threads work each stream concurrently: the supervisor
// thread, which opened it, reads server frames until it ends, while a writer
// thread writes joins, leaves and publishes. Between streams the supervisor
// reconnects with backoff,
// rejoins every room from its last position and resends every unacknowledged
// publish with its original id, so that nothing is lost or shown twice.
class ChatSession {
 public:
  ChatSession(SessionOptions options, SessionListener& listener);
  ~ChatSession();
  ChatSession(const ChatSession&) = delete;
  ChatSession& operator=(const ChatSession&) = delete;

  void start();
  // From any thread: ends the waits below, and has the writer half-close the
  // stream once it has written what is queued; stop() must still be called.
  void request_stop();
  // Half-closes the stream, waits for it to end (at most `timeout`) and joins
  // every thread. Idempotent.
  void stop(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  void join(const std::string& room);
  void leave(const std::string& room);
  // Queues a publish and returns its client message id; nothing when too
  // many are unacknowledged already or the body is over max_body_bytes.
  std::optional<std::string> publish(const std::string& room, const std::string& body);

  // Waits until every publish so far is acknowledged; false on timeout or
  // once stopping.
  bool wait_all_acked(std::chrono::milliseconds timeout);
  // Waits until publish() has room for one more; false on timeout or once
  // stopping.
  bool wait_below_max_unacked(std::chrono::milliseconds timeout);
  // Waits until the session is connected; false on timeout or once stopping.
  bool wait_connected(std::chrono::milliseconds timeout);

  std::size_t unacked() const;
  // Publishes the relay refused with an error notice (each was reported).
  std::uint64_t refused() const;
  std::vector<std::string> rooms() const;
  ConnectionStatus status() const;
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }

 private:
  struct RoomState {
    std::uint64_t epoch = 0;
    std::uint64_t sequence = 0;
    bool positioned = false;  // a Joined has been seen
  };
  struct Pending {
    std::string room;
    std::string body;
    std::string client_message_id;
  };
  // `presence`: ask for the room's Presence frames.
  static v1::ClientFrame join_frame(const std::string& room, const RoomState& state, bool presence);
  static v1::ClientFrame publish_frame(const Pending& pending);

  using Stream = grpc::ClientReaderWriter<v1::ClientFrame, v1::ServerFrame>;
  // What the relay's hello announced for this stream.
  struct RelayLimits {
    std::size_t max_body_bytes;
    double publish_rate;  // 0: no limit
    double publish_burst;
  };
  std::optional<RelayLimits> read_hello(const grpc::ClientContext& context) const;
  // Takes out the unacked publishes the relay would refuse as too large.
  std::vector<v1::ErrorNotice> drop_oversized_locked();

  void supervise();
  // Runs one stream until it ends. Returns its status, and whether the relay
  // answered at all (which resets the backoff).
  grpc::Status run_stream(bool resumed, bool& established);
  void write_loop(Stream& stream, const bool& stream_over);
  void handle(const v1::ServerFrame& frame, bool resumed);
  void handle_message(const v1::Message& message);
  // The answer to TokenExpiring: a Refresh with a fresh token, or nothing
  // when none could be had (the listener is told). On the writer thread.
  std::optional<v1::ClientFrame> refresh_frame(std::uint32_t ends_in_ms);
  // Drops the unacked publish with this id; returns whether there was one.
  bool settle_locked(const std::string& client_message_id);
  // Queues a publish refused for a rate limit to be written again, first,
  // once the relay's retry hint has passed; false if it is not ours.
  bool retry_later_locked(const v1::ErrorNotice& error);
  void set_status(ConnectionStatus status);
  // Sleeps up to `wait`, or less if stop() is called.
  bool sleep_unless_stopping(std::chrono::milliseconds wait);

  const SessionOptions options_;
  SessionListener& listener_;
  std::shared_ptr<grpc::Channel> channel_;
  // Asks why a stream was refused (describe_refused_stream).
  std::shared_ptr<grpc::Channel> unchecked_channel_;
  std::unique_ptr<v1::Relay::Stub> stub_;
  const std::string id_prefix_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;                   // guarded by mutex_
  std::map<std::string, RoomState> rooms_;  // guarded by mutex_
  // Rooms left with publishes still unacknowledged, joined on a new stream
  // only to resend those and left once they are answered.
  std::set<std::string> visiting_;  // guarded by mutex_
  // Frames for the writer, in the order the user gave them; rebuilt on each
  // new stream from rooms_ and unacked_.
  std::deque<v1::ClientFrame> outbound_;  // guarded by mutex_
  std::deque<Pending> unacked_;           // guarded by mutex_
  std::uint64_t next_id_ = 1;             // guarded by mutex_
  std::uint64_t refused_ = 0;             // guarded by mutex_
  // No publish is written before this (a rate limit's retry hint).
  std::chrono::steady_clock::time_point publish_not_before_;  // guarded by mutex_
  RelayLimits limits_{options_.max_body_bytes, 0, 0};         // guarded by mutex_
  ConnectionStatus status_;                                   // guarded by mutex_
  grpc::ClientContext* context_ = nullptr;  // the live stream's; guarded by mutex_
  bool supervisor_done_ = false;            // guarded by mutex_
  // The relay said the token runs out: the stream ends this long after it
  // said so unless the writer sends a Refresh.
  std::optional<std::uint32_t> refresh_due_ms_;  // guarded by mutex_
  SeenWindow seen_;                              // reader only
  std::thread supervisor_;
};

}  // namespace relay::cli
