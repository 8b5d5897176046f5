#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "relay/hub/hub.hpp"

namespace relay::backplane {

// Called exactly once with the message's place in its room, on whatever
// thread the backplane completes on, at any moment: after the call that
// published has ended, or during the relay's shutdown. So it holds no pointer
// to a gRPC reactor that could be deleted meanwhile, unless the reactor waits
// for it (see PendingAnswers).
using PublishDone = std::function<void(const hub::PublishResult&)>;

// What a broker-backed backplane went through, since the relay started.
struct BackplaneStats {
  // Publishes answered UNAVAILABLE: the broker was out of reach or did not
  // store them in time.
  std::uint64_t refused_publishes = 0;
  // Times the connection to the broker was lost.
  std::uint64_t disconnects = 0;
  // Times the relay started reading the broker again after the last message
  // it had (a reconnect, a lost consumer).
  std::uint64_t consumer_restarts = 0;
  // Times the relay left a broker server that answered none of its set-up
  // requests, for another server.
  std::uint64_t servers_left = 0;
  // Time from a publish to the broker's acknowledgement: every one since the
  // start (count, sum), and the median and 99th percentile of the last
  // minute's.
  std::uint64_t acks = 0;
  double ack_seconds_sum = 0;
  double ack_seconds_p50 = 0;
  double ack_seconds_p99 = 0;
};

// Orders the messages of each room and gets them to every subscriber of the
// room on every relay that shares it. The local backplane is one relay's own
// hub; a broker-backed one (NATS JetStream) answers later, from its own
// threads, which is why publish reports through a callback and never blocks.
class Backplane {
 public:
  // Calls every `done` still outstanding, or drops it, before returning: the
  // relay destroys its backplane before the hub and the configuration that
  // the callbacks refer to, once gRPC has ended every call (a call that
  // waits for an answer holds up the server's shutdown until it comes).
  virtual ~Backplane() = default;
  // `may_create` is asked before the publish creates the room (see
  // hub::CreateGate); it is the caller's and valid during the call only:
  // neither kept nor copied past it (a stream's gate refers to the stream's
  // slot, gone once the stream ends), so a backplane decides admission here.
  virtual void publish(const std::string& room, hub::PublishRequest request,
                       const hub::CreateGate& may_create, PublishDone done) = 0;
  // Whether publishes can be ordered now; a broker-backed backplane says
  // false while its broker is out of reach. For the metrics.
  virtual bool serving() const { return true; }
  virtual BackplaneStats stats() const { return {}; }
};

// One relay on its own: the room's counter gives the sequence, its duplicate
// window recognises resends, and delivery happens before `done` is called.
class LocalBackplane final : public Backplane {
 public:
  explicit LocalBackplane(hub::Hub& hub) : hub_(hub) {}
  void publish(const std::string& room, hub::PublishRequest request,
               const hub::CreateGate& may_create, PublishDone done) override {
    done(hub_.publish(room, std::move(request), may_create));
  }

 private:
  hub::Hub& hub_;
};

}  // namespace relay::backplane
