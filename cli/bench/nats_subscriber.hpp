#pragma once

#include <nats/nats.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "cli/bench/delivery.hpp"
#include "cli/bench/driver.hpp"
#include "cli/bench/nats_connection.hpp"

namespace relay::cli::bench {

// One asynchronous subscription to a room's subject: the NATS counterpart of
// a subscriber stream. Messages arrive on a worker of libnats's delivery
// pool, one at a time for a subscription; each body's stamp names its
// publisher and that publisher's count, which the DeliveryLog checks for
// gaps and duplicates per publisher.
//
// Debian's libnats (3.4) has a race (nats.c issue 637, fixed in 3.6): its
// reader may lock a subscription that it looked up just before another
// thread freed it. Unsubscribing does not end it, since the server may still
// be sending messages for the subscription; so this subscription is freed
// only once a round trip after the UNSUB has shown that the reader is past
// them (wait_done), and is left unfreed if that cannot be shown.
class NatsSubscriber final : public Subscriber {
 public:
  // A null `connection` (it could not be opened) makes a subscriber that
  // failed. `publishers`: how many publish into the room.
  NatsSubscriber(std::shared_ptr<NatsConnection> connection, const std::string& subject,
                 const Phase& phase, RoomProgress* progress, std::size_t publishers);
  ~NatsSubscriber() override;

  // Until the server confirmed the subscription.
  bool wait_joined(std::chrono::milliseconds timeout) override;
  // Unsubscribes.
  void cancel() override;
  // Until libnats says that the handler has returned for the last time, and
  // the connection's reader is past the subscription's last message.
  void wait_done() override;
  // The connection closed before cancel() (the server cut a slow consumer),
  // or a message was not the bench's.
  bool ended_early() const override;
  const DeliveryLog& deliveries() const override { return log_; }

 private:
  static void on_message(natsConnection* connection, natsSubscription* subscription,
                         natsMsg* message, void* self);
  static void on_complete(void* self);
  void finished();
  // Sends the UNSUB; the caller has marked the subscription as ending.
  void unsubscribe();

  const std::shared_ptr<NatsConnection> connection_;
  DeliveryLog log_;
  natsSubscription* subscription_ = nullptr;
  std::uint64_t subscribed_ = 0;  // its SUB on the connection, for NatsConnection::confirm

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool done_ = false;         // guarded by mutex_
  bool stopping_ = false;     // guarded by mutex_
  bool malformed_ = false;    // guarded by mutex_
  bool ended_early_ = false;  // guarded by mutex_
  // Its UNSUB on the connection, 0 before (or when the connection closed
  // first); guarded by mutex_.
  std::uint64_t unsubscribed_ = 0;
  // Whether natsSubscription_Destroy is safe (see above); guarded by mutex_.
  bool quiet_ = false;
};

}  // namespace relay::cli::bench
