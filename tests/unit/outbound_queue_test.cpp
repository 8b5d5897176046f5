#include <doctest/doctest.h>

#include "cli/session/chat_session.hpp"

using relay::cli::ChatSession;
using relay::cli::SessionListener;
using relay::cli::SessionOptions;

namespace {

class Silent : public SessionListener {
 public:
  void on_message(const relay::v1::Message&) override {}
  void on_joined(const relay::v1::Joined&, bool) override {}
  void on_presence(const relay::v1::Presence&) override {}
  void on_ack(const relay::v1::PublishAck&) override {}
  void on_error(const relay::v1::ErrorNotice&) override {}
  void on_status(const relay::cli::ConnectionStatus&) override {}
};

// Never started: publishes only queue, nothing goes on the network.
SessionOptions unstarted(std::size_t max_unacked) {
  SessionOptions options;
  options.target = "127.0.0.1:1";
  options.user = "ann";
  options.max_unacked = max_unacked;
  options.max_body_bytes = 10;
  return options;
}

}  // namespace

TEST_CASE("the session's outbound queue refuses publishes beyond max_unacked, never drops one") {
  Silent listener;
  ChatSession session(unstarted(2), listener);
  const auto first = session.publish("r", "one");
  const auto second = session.publish("r", "two");
  REQUIRE(first);
  REQUIRE(second);
  CHECK(*first != *second);
  CHECK_FALSE(session.publish("r", "three"));
  CHECK(session.unacked() == 2);
}

TEST_CASE("the session refuses a body over the relay's limit instead of queueing it") {
  Silent listener;
  ChatSession session(unstarted(5), listener);
  CHECK_FALSE(session.publish("r", "eleven byte"));
  CHECK(session.publish("r", "ten bytes!"));
  CHECK(session.unacked() == 1);
}
