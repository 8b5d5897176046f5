#pragma once

#include <chrono>
#include <functional>

#include "cli/session/chat_session.hpp"

namespace relay::cli::ui {

// Passes session events on to `inner`, but tells an outage in a few status
// lines rather than two per reconnection attempt, which over hours of a relay
// being down would bury everything else on stderr: one line when it starts,
// at most one per `repeat_every` while it lasts, and one when it ends.
class OutageDigest final : public SessionListener {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  explicit OutageDigest(SessionListener& inner,
                        std::chrono::milliseconds repeat_every = std::chrono::minutes(1),
                        Clock now = std::chrono::steady_clock::now);

  void on_message(const v1::Message& message) override { inner_.on_message(message); }
  void on_joined(const v1::Joined& joined, bool resumed) override {
    inner_.on_joined(joined, resumed);
  }
  void on_presence(const v1::Presence& presence) override { inner_.on_presence(presence); }
  void on_ack(const v1::PublishAck& ack) override { inner_.on_ack(ack); }
  void on_error(const v1::ErrorNotice& error) override { inner_.on_error(error); }
  void on_status(const ConnectionStatus& status) override;

 private:
  SessionListener& inner_;
  const std::chrono::milliseconds repeat_every_;
  const Clock now_;
  // Sessions report statuses from one thread at a time, so no lock.
  bool in_outage_ = false;
  std::chrono::steady_clock::time_point last_told_;
};

}  // namespace relay::cli::ui
