#include <doctest/doctest.h>

#include <csignal>

#include "tests/integration/relay_process.hpp"
#include "tests/integration/test_clients.hpp"

using namespace relay::testing;
using relay::v1::ServerFrame;

TEST_CASE("a published message reaches every member of the room, the sender included") {
  RelayProcess relay;
  ChatClient ann(relay.target(), "ann");
  ChatClient bob(relay.target(), "bob");
  ann.join("lobby");
  REQUIRE(ann.next_of(ServerFrame::kJoined));
  bob.join("lobby");
  REQUIRE(bob.next_of(ServerFrame::kJoined));
  ann.publish("lobby", "hello", "ann-1");
  for (ChatClient* client : {&ann, &bob}) {
    const auto frame = client->next_of(ServerFrame::kMessage);
    REQUIRE(frame);
    CHECK(frame->message().body() == "hello");
    CHECK(frame->message().sender() == "ann");
    CHECK(frame->message().sequence() == 1);
  }
  const auto ack = ann.next_of(ServerFrame::kAck);
  REQUIRE(ack);
  CHECK(ack->ack().sequence() == 1);
  CHECK(ack->ack().client_message_id() == "ann-1");
  CHECK(ann.finish().ok());
}

TEST_CASE("after SIGTERM open streams end with UNAVAILABLE and the relay exits 0") {
  RelayProcess relay;
  ChatClient ann(relay.target(), "ann");
  ann.join("lobby");
  REQUIRE(ann.next_of(ServerFrame::kJoined));
  relay.signal(SIGTERM);
  const auto status = ann.wait_status(10s);
  REQUIRE(status);
  CHECK(status->error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(relay.wait_exit(10s) == 0);
}
