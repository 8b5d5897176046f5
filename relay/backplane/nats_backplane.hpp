#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <nats/status.h>

#include "common/config.hpp"
#include "common/latency_histogram.hpp"
#include "relay/backplane/backplane.hpp"

struct __natsConnection;
struct __natsSubscription;
struct __jsCtx;
struct __natsMsg;
struct jsPubAck;
struct jsPubAckErr;

namespace relay::backplane {

// Relays that share rooms through NATS JetStream (docs/nats-backplane.md).
// One stream holds every room, a subject per room. A room's position is
// (epoch, counter) carried in headers, and JetStream keeps the counter
// contiguous across relays: each publish names the stream sequence of the
// room's last message (Nats-Expected-Last-Subject-Sequence), so of two relays
// publishing at once one is told it is behind and tries again. Each relay
// reads the whole stream through one ordered consumer and hands every message
// to its hub, which fans it out and keeps the history as it does for a lone
// relay; its own publishes reach its subscribers that way too.
//
// The broker may be away at any time: the relay then reports not serving,
// refuses publishes (UNAVAILABLE; nothing is acknowledged that JetStream has
// not stored), reconnects with backoff, and reads on from the last message it
// had once the broker is back.
class NatsBackplane final : public Backplane {
 public:
  NatsBackplane(const common::RelayConfig& config, hub::Hub& hub);
  ~NatsBackplane() override;
  NatsBackplane(const NatsBackplane&) = delete;
  NatsBackplane& operator=(const NatsBackplane&) = delete;

  void publish(const std::string& room, hub::PublishRequest request,
               const hub::CreateGate& may_create, PublishDone done) override;
  // Connected, the stream in place, and every message stored before the
  // relay (re)connected read into the hub.
  bool serving() const override;
  BackplaneStats stats() const override;

 private:
  struct Pending {
    hub::PublishRequest request;
    PublishDone done;
    int attempts = 0;
  };
  // A room's last message as this relay knows it.
  struct Head {
    std::uint64_t stream_sequence = 0;
    std::uint64_t epoch = 0;
    std::uint64_t counter = 0;
  };
  // A room's publishes from this relay go one at a time: the next one must
  // name the stream sequence the previous one got.
  struct Lane {
    bool in_flight = false;
    std::deque<Pending> waiting;
  };
  struct InFlight {
    std::string room;
    Pending pending;
    std::uint64_t epoch = 0;
    std::uint64_t counter = 0;
    // This relay's number for the publish, in its Relay-Origin header.
    std::uint64_t number = 0;
    std::chrono::steady_clock::time_point sent;
  };
  struct Stored {
    std::string room;
    Pending pending;
  };

  // Runs the calls that wait for the broker (stream set-up, lookups) off the
  // broker's own threads, in order.
  class Worker {
   public:
    Worker();
    ~Worker();
    // Runs no task after it returns; tasks posted later are dropped.
    void stop();
    void post(std::function<void()> task, std::chrono::milliseconds delay = {});

   private:
    struct Task {
      std::chrono::steady_clock::time_point due;
      std::function<void()> run;
    };
    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<Task> tasks_;  // guarded by mutex_
    bool stopping_ = false;   // guarded by mutex_
    std::thread thread_;
  };

  static void on_connected(__natsConnection* connection, void* self);
  static void on_disconnected(__natsConnection* connection, void* self);
  static void on_reconnected(__natsConnection* connection, void* self);
  static void on_presence(__natsConnection* connection, __natsSubscription* subscription,
                          __natsMsg* message, void* self);
  static std::int64_t reconnect_delay(__natsConnection* connection, int attempts, void* self);
  static void on_message(__natsConnection* connection, __natsSubscription* subscription,
                         __natsMsg* message, void* self);
  static void on_async_error(__natsConnection* connection, __natsSubscription* subscription,
                             natsStatus error, void* self);
  static void on_ack(__jsCtx* context, __natsMsg* message, jsPubAck* ack, jsPubAckErr* error,
                     void* self);

  // On the worker: makes the stream if need be and reads on from the last
  // message the hub has; again later if the broker refuses.
  void set_up();
  // Presence across relays, over core NATS (not stored): each relay says
  // which users its chat streams in each room belong to, at once when that
  // changes and every few seconds in full; what a relay has not repeated for
  // a while is forgotten, so a dead relay's members leave everywhere.
  void local_members_changed(const std::string& room);
  void publish_presence(const std::vector<std::pair<std::string, hub::UserStreams>>& rooms);
  void flush_changed_presence();
  // Every kPresenceInterval: the full state out, what others stopped saying out.
  void presence_tick();
  void remote_presence(__natsMsg* message);
  // Once a minute: the broker's ack latency over that minute, in the log.
  void log_broker_latency();
  // On the worker, until the relay serves: whether the consumer has anything
  // left to deliver.
  void check_caught_up();
  // Logs why set-up failed and tries again later, waiting longer each time;
  // or, once the server has left the set-up requests of one connection
  // `unanswered` (timed out) for kLeaveServerAfter, leaves it for another.
  // `forming`: the broker's cluster lacks the peers for the stream yet, and
  // it is tried again each second for a while first.
  void retry_set_up(const std::string& why, bool unanswered, bool forming = false);
  // Breaks the connection so that libnats reconnects, to the next server of
  // its pool; false when it stays (no other server is known, or its socket
  // was not found).
  bool leave_server(const std::string& why);
  void deliver(__natsSubscription* subscription, __natsMsg* message);
  // Starts a new consumer after the last message read, once.
  void resubscribe_locked(const std::string& why);
  void acknowledged(__natsMsg* message, const jsPubAck* ack, const jsPubAckErr* error);
  // Sends the lane's next publishes, until one is in flight or none waits.
  void send_next(const std::string& room);
  // Hands the publish to JetStream; or, leaving `pending` with the caller,
  // says why it could not.
  std::optional<std::string> send(const std::string& room, Pending& pending);
  // Answers the publish and frees the room's lane for the next one.
  void answer(const std::string& room, Pending& pending, const hub::PublishResult& result);
  // Answers, then lets the room's next publish go.
  void finish(const std::string& room, Pending& pending, const hub::PublishResult& result);
  // On the worker, after "wrong last sequence": reads the room's last
  // message from the stream, then sends the publish again.
  void retry_after_reading_head(const std::string& room, Pending pending);
  // On the worker, for a resend JetStream recognised whose original the hub
  // no longer remembers: reads the original's position from the stream.
  void answer_duplicate(const std::string& room, Pending pending, std::uint64_t stream_sequence);
  // Refuses with UNAVAILABLE, then lets the room's next publish go.
  void fail(const std::string& room, Pending& pending, const std::string& why);
  // At most one line per interval, with a count: a broker down for an hour
  // must not fill the disk.
  void log_refusal(const std::string& room, const std::string& why);
  // `delivered`: the head comes from the consumer, with the position the hub
  // gave; otherwise from a publish's ack, with the position proposed.
  void update_head(const std::string& room, const Head& head, bool delivered);
  // A publish of this relay's was delivered at `position`: its answer, now
  // or once JetStream's ack for it comes.
  void settle_stored(std::uint64_t number, const hub::Position& position);
  std::uint64_t next_epoch();

  const common::RelayConfig& config_;
  hub::Hub& hub_;
  const std::string subject_prefix_;
  // Tells this relay's publishes from others' in the stream.
  const std::string origin_;

  __natsConnection* connection_ = nullptr;
  __jsCtx* jetstream_ = nullptr;

  std::atomic<bool> connected_{false};
  // Every message stored when the consumer (re)started has been read.
  std::atomic<bool> caught_up_{false};
  std::atomic<bool> closing_{false};

  // Consumer side, one message at a time: an old subscription still
  // delivering after a new one started must neither reorder nor repeat.
  std::mutex consumer_mutex_;
  __natsSubscription* subscription_ = nullptr;  // guarded by consumer_mutex_
  std::uint64_t last_delivered_ = 0;            // guarded by consumer_mutex_
  // When the stream read was made (JetStream's nanoseconds); 0 before.
  std::int64_t stream_created_ = 0;           // guarded by consumer_mutex_
  std::uint64_t catch_up_to_ = 0;             // guarded by consumer_mutex_
  std::uint64_t next_consumer_sequence_ = 1;  // guarded by consumer_mutex_
  // A new consumer is on its way; the current one's messages are dropped.
  bool resubscribing_ = false;  // guarded by consumer_mutex_

  mutable std::mutex mutex_;
  std::unordered_map<std::string, Head> heads_;          // guarded by mutex_
  std::unordered_map<std::string, Lane> lanes_;          // guarded by mutex_
  std::unordered_map<const __natsMsg*, InFlight> sent_;  // guarded by mutex_
  // Stored by JetStream, answered once delivered: the place a message takes
  // is the one the consumer gives it, the same on every relay (see
  // Room::append), which is not always the one it was published with.
  std::unordered_map<std::uint64_t, Stored> stored_;  // guarded by mutex_
  // Delivered before JetStream's ack came; bounded, oldest numbers first out.
  std::map<std::uint64_t, hub::Position> delivered_early_;  // guarded by mutex_

  // Log lines that cannot flood: refusals are counted and summarised.
  // Numbers for this relay's publishes and offsets for the epochs it starts.
  std::atomic<std::uint64_t> next_number_{0};
  std::atomic<std::uint64_t> epoch_offset_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::atomic<std::uint64_t> disconnects_{0};
  std::atomic<std::uint64_t> consumer_starts_{0};
  std::atomic<std::uint64_t> servers_left_{0};
  // Changes at every connect, disconnect and reconnect: a set-up failure
  // seen after it belongs to an earlier connection.
  std::atomic<std::uint64_t> connection_generation_{0};
  // Time from publish to JetStream's ack, summarised in the log each minute.
  common::LatencyHistogram ack_latency_;  // guarded by mutex_
  std::uint64_t acks_ = 0;                // guarded by mutex_
  std::uint64_t ack_sum_us_ = 0;          // guarded by mutex_
  // The last minute's, for the metrics.
  std::uint64_t ack_p50_us_ = 0;  // guarded by mutex_
  std::uint64_t ack_p99_us_ = 0;  // guarded by mutex_
  std::atomic<std::int64_t> last_refusal_log_us_{0};

  __natsSubscription* presence_subscription_ = nullptr;  // the worker's own, then the destructor's
  std::mutex presence_mutex_;
  std::unordered_set<std::string> changed_rooms_;  // guarded by presence_mutex_
  bool presence_flush_due_ = false;                // guarded by presence_mutex_
  // When each other relay last spoke of each room.
  std::unordered_map<std::string,
                     std::unordered_map<std::string, std::chrono::steady_clock::time_point>>
      remote_seen_;  // guarded by presence_mutex_

  // The worker's own: how long until set-up is tried again, and since when
  // the server has answered none of it on this connection.
  std::chrono::milliseconds set_up_retry_;
  int forming_retries_ = 0;  // since set-up last succeeded
  struct Unanswered {
    std::chrono::steady_clock::time_point since;
    std::uint64_t generation;  // connection_generation_ then
  };
  std::optional<Unanswered> unanswered_since_;

  Worker worker_;
};

}  // namespace relay::backplane
