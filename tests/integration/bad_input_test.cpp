// Every bad input of DESIGN.md's status table gets its status code, with a
// message a person understands, and never disturbs a well-behaved client of
// the same relay: after each bad input, a good client's publish still
// round-trips.
#include <doctest/doctest.h>

#include <csignal>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/relay_process.hpp"
#include "tests/integration/test_clients.hpp"

using namespace relay::testing;
using relay::v1::ClientFrame;
using relay::v1::ErrorNotice;
using relay::v1::Joined;
using relay::v1::ServerFrame;

namespace {

constexpr int kMaxBodyBytes = 1024;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<std::string> with_small_limits(const std::vector<std::string>& extra_args) {
  std::vector<std::string> args{"--max-body-bytes",          std::to_string(kMaxBodyBytes),
                                "--max-rooms-per-stream",    "2",
                                "--publish-rate-per-second", "5",
                                "--publish-burst",           "5"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  return args;
}

// One relay with small limits, and a good client chatting in "lobby" that
// every test checks is unaffected by the bad input.
class RelayWithGoodClient {
 public:
  explicit RelayWithGoodClient(const std::vector<std::string>& extra_args = {})
      : relay_(with_small_limits(extra_args)), good_(relay_.target(), "good") {
    REQUIRE(good_.join("lobby"));
    const auto joined = good_.next_of(ServerFrame::kJoined);
    REQUIRE(joined);
    lobby_ = joined->joined();
  }

  std::string target() const { return relay_.target(); }
  RelayProcess& relay() { return relay_; }
  const Joined& lobby() const { return lobby_; }

  // The good client publishes and gets both its message and its ack back.
  void check_good_client_round_trips() {
    const std::string id = "good-" + std::to_string(++published_);
    const std::string body = "still chatting " + std::to_string(published_);
    REQUIRE(good_.publish("lobby", body, id));
    const auto message = good_.next_of(ServerFrame::kMessage);
    REQUIRE(message);
    CHECK(message->message().body() == body);
    CHECK(message->message().sender() == "good");
    const auto ack = good_.next_of(ServerFrame::kAck);
    REQUIRE(ack);
    CHECK(ack->ack().client_message_id() == id);
    CHECK(ack->ack().sequence() == message->message().sequence());
  }

 private:
  RelayProcess relay_;
  ChatClient good_;
  Joined lobby_;
  int published_ = 0;
};

// The reply to the frame just written: the next frame that is not a presence
// (presences of other members may come at any time).
ServerFrame next_reply(ChatClient& client) {
  const auto frame = client.next_matching(
      [](const ServerFrame& f) { return f.kind_case() != ServerFrame::kPresence; });
  REQUIRE(frame);
  return *frame;
}

ErrorNotice expect_notice(ChatClient& client, grpc::StatusCode code) {
  const ServerFrame reply = next_reply(client);
  REQUIRE_MESSAGE(reply.kind_case() == ServerFrame::kError, reply.DebugString());
  const ErrorNotice& notice = reply.error();
  CHECK(notice.code() == static_cast<int>(code));
  CHECK_FALSE(notice.message().empty());
  return notice;
}

void join_expecting_reply(ChatClient& client, const std::string& room) {
  REQUIRE(client.join(room));
  const ServerFrame reply = next_reply(client);
  REQUIRE_MESSAGE(reply.kind_case() == ServerFrame::kJoined, reply.DebugString());
  CHECK(reply.joined().room() == room);
}

void publish_and_wait_ack(ChatClient& client, const std::string& room, const std::string& body,
                          const std::string& id) {
  REQUIRE(client.publish(room, body, id));
  const auto ack = client.next_of(ServerFrame::kAck);
  REQUIRE(ack);
  CHECK(ack->ack().client_message_id() == id);
}

std::string invalid_utf8() { return std::string("caf") + '\xc3' + '(' + " au lait"; }

}  // namespace

TEST_CASE("a Chat without a valid x-relay-user ends UNAUTHENTICATED, others keep chatting") {
  RelayWithGoodClient relay;
  std::string user;
  SUBCASE("no x-relay-user at all") {}
  SUBCASE("a name with a space") { user = "a b"; }
  SUBCASE("a name over 32 characters") { user = std::string(40, 'x'); }

  ChatClient anonymous(relay.target(), user);
  const auto status = anonymous.wait_status();
  REQUIRE(status);
  CHECK(status->error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK_MESSAGE(contains(status->error_message(), "x-relay-user"), status->error_message());
  relay.check_good_client_round_trips();
}

TEST_CASE("a Chat frame that is not a ClientFrame ends the stream INVALID_ARGUMENT") {
  RelayWithGoodClient relay;
  const auto status = send_raw_chat_frame(relay.target(), "mallory", "\xff\xff\xff");
  CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK_MESSAGE(contains(status.error_message(), "ClientFrame"), status.error_message());
  relay.check_good_client_round_trips();
}

TEST_CASE("a body beyond the transport limit ends the stream RESOURCE_EXHAUSTED") {
  RelayWithGoodClient relay;
  ChatClient offender(relay.target(), "offender");
  join_expecting_reply(offender, "own");
  // Above max_body_bytes plus the frame overhead gRPC allows, so gRPC itself
  // refuses the frame before the relay sees it.
  offender.publish("own", std::string(10 * kMaxBodyBytes, 'x'), "huge");
  const auto status = offender.wait_status();
  REQUIRE(status);
  CHECK(status->error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK_FALSE(status->error_message().empty());
  relay.check_good_client_round_trips();
}

TEST_CASE("a refused frame gets an ErrorNotice with its status code and the stream goes on") {
  RelayWithGoodClient relay;
  ChatClient offender(relay.target(), "offender");
  join_expecting_reply(offender, "own");

  SUBCASE("an empty ClientFrame is INVALID_ARGUMENT") {
    REQUIRE(offender.write(ClientFrame{}));
    const auto notice = expect_notice(offender, grpc::StatusCode::INVALID_ARGUMENT);
    CHECK_MESSAGE(contains(notice.message(), "join"), notice.message());
    // A valid join right after works.
    join_expecting_reply(offender, "second");
  }

  SUBCASE("a ClientFrame of a kind the relay does not know is INVALID_ARGUMENT, and says so") {
    ClientFrame newer;
    newer.GetReflection()->MutableUnknownFields(&newer)->AddLengthDelimited(99, "from later");
    REQUIRE(offender.write(newer));
    const auto notice = expect_notice(offender, grpc::StatusCode::INVALID_ARGUMENT);
    CHECK_MESSAGE(contains(notice.message(), "a kind this relay does not know"), notice.message());
    join_expecting_reply(offender, "second");
  }

  SUBCASE("joining a malformed room name is INVALID_ARGUMENT") {
    REQUIRE(offender.join("no spaces"));
    const auto notice = expect_notice(offender, grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(notice.room() == "no spaces");
    CHECK_MESSAGE(contains(notice.message(), "room"), notice.message());
  }

  SUBCASE("publishing to a malformed room name is INVALID_ARGUMENT") {
    REQUIRE(offender.publish(".dot", "hello", "bad-room"));
    const auto notice = expect_notice(offender, grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(notice.room() == ".dot");
    CHECK(notice.client_message_id() == "bad-room");
    CHECK_MESSAGE(contains(notice.message(), "room"), notice.message());
  }

  SUBCASE("an empty body is INVALID_ARGUMENT") {
    REQUIRE(offender.publish("own", "", "empty"));
    const auto notice = expect_notice(offender, grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(notice.room() == "own");
    CHECK(notice.client_message_id() == "empty");
    CHECK_MESSAGE(contains(notice.message(), "empty"), notice.message());
  }

  SUBCASE("a body over --max-body-bytes is INVALID_ARGUMENT") {
    REQUIRE(offender.publish("own", std::string(2000, 'x'), "too-long"));
    const auto notice = expect_notice(offender, grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(notice.room() == "own");
    CHECK(notice.client_message_id() == "too-long");
    CHECK_MESSAGE(contains(notice.message(), std::to_string(kMaxBodyBytes)), notice.message());
  }

  SUBCASE("a body that is not UTF-8 is INVALID_ARGUMENT") {
    REQUIRE(offender.publish("own", invalid_utf8(), "latin"));
    const auto notice = expect_notice(offender, grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(notice.room() == "own");
    CHECK(notice.client_message_id() == "latin");
    CHECK_MESSAGE(contains(notice.message(), "UTF-8"), notice.message());
  }

  SUBCASE("a malformed client message id is INVALID_ARGUMENT") {
    REQUIRE(offender.publish("own", "hello", "has space"));
    const auto notice = expect_notice(offender, grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(notice.room() == "own");
    CHECK_MESSAGE(contains(notice.message(), "client message id"), notice.message());
  }

  SUBCASE("publishing to a room not joined is PERMISSION_DENIED") {
    REQUIRE(offender.publish("lobby", "let me in", "gatecrash"));
    const auto notice = expect_notice(offender, grpc::StatusCode::PERMISSION_DENIED);
    CHECK(notice.room() == "lobby");
    CHECK(notice.client_message_id() == "gatecrash");
    CHECK_MESSAGE(contains(notice.message(), "lobby"), notice.message());
  }

  SUBCASE("leaving a room not joined is FAILED_PRECONDITION") {
    REQUIRE(offender.leave("lobby"));
    const auto notice = expect_notice(offender, grpc::StatusCode::FAILED_PRECONDITION);
    CHECK(notice.room() == "lobby");
    CHECK_MESSAGE(contains(notice.message(), "lobby"), notice.message());
  }

  SUBCASE("joining a room twice is ALREADY_EXISTS") {
    REQUIRE(offender.join("own"));
    const auto notice = expect_notice(offender, grpc::StatusCode::ALREADY_EXISTS);
    CHECK(notice.room() == "own");
    CHECK_MESSAGE(contains(notice.message(), "own"), notice.message());
  }

  SUBCASE("a resume position ahead of the room is INVALID_ARGUMENT") {
    relay::v1::Position ahead;
    ahead.set_epoch(relay.lobby().epoch());
    ahead.set_sequence(relay.lobby().sequence() + 100);
    REQUIRE(offender.join("lobby", ahead));
    const auto notice = expect_notice(offender, grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(notice.room() == "lobby");
    CHECK_MESSAGE(contains(notice.message(), "ahead"), notice.message());
  }

  SUBCASE("a join beyond --max-rooms-per-stream is RESOURCE_EXHAUSTED") {
    join_expecting_reply(offender, "second");
    REQUIRE(offender.join("third"));
    const auto notice = expect_notice(offender, grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK(notice.room() == "third");
    CHECK_MESSAGE(contains(notice.message(), "2"), notice.message());
    // Leaving one makes room for it.
    REQUIRE(offender.leave("second"));
    const ServerFrame left = next_reply(offender);
    REQUIRE_MESSAGE(left.kind_case() == ServerFrame::kLeft, left.DebugString());
    CHECK(left.left().room() == "second");
    join_expecting_reply(offender, "third");
  }

  // The offender's stream is still open and publishes normally.
  publish_and_wait_ack(offender, "own", "behaving now", "offender-ok");
  relay.check_good_client_round_trips();
}

TEST_CASE("publishing faster than the rate limit gets RESOURCE_EXHAUSTED for the excess only") {
  RelayWithGoodClient relay;
  ChatClient hasty(relay.target(), "hasty");
  join_expecting_reply(hasty, "own");
  // Written back to back: well within the 200 ms a token takes to refill.
  for (int i = 1; i <= 6; ++i) {
    REQUIRE(hasty.publish("own", "quick " + std::to_string(i), "hasty-" + std::to_string(i)));
  }
  std::vector<std::uint64_t> acked;
  std::optional<ErrorNotice> refused;
  for (int i = 1; i <= 6; ++i) {
    const auto reply = hasty.next_matching([](const ServerFrame& f) {
      return f.kind_case() == ServerFrame::kAck || f.kind_case() == ServerFrame::kError;
    });
    REQUIRE(reply);
    if (reply->kind_case() == ServerFrame::kAck) {
      CHECK(reply->ack().client_message_id() == "hasty-" + std::to_string(i));
      acked.push_back(reply->ack().sequence());
    } else {
      CHECK_MESSAGE(i == 6, reply->DebugString());
      refused = reply->error();
    }
  }
  CHECK(acked == std::vector<std::uint64_t>{1, 2, 3, 4, 5});
  REQUIRE(refused);
  CHECK(refused->code() == static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  CHECK(refused->room() == "own");
  CHECK(refused->client_message_id() == "hasty-6");
  CHECK_MESSAGE(contains(refused->message(), "rate limit"), refused->message());
  CHECK_MESSAGE(contains(refused->message(), "5"), refused->message());
  relay.check_good_client_round_trips();
}

TEST_CASE("after SIGTERM a new Chat is refused and, once the relay stopped, UNAVAILABLE") {
  // Even once every stream has ended, the relay stops only when its clients
  // have closed their connections or this grace is over: keep it short.
  RelayWithGoodClient relay({"--shutdown-grace-ms", "1000"});
  ChatClient member(relay.target(), "member");
  join_expecting_reply(member, "own");
  relay.relay().signal(SIGTERM);
  // The open stream ending tells that the relay is draining.
  const auto drained = member.wait_status();
  REQUIRE(drained);
  CHECK(drained->error_code() == grpc::StatusCode::UNAVAILABLE);

  // While draining, the relay refuses a new Chat with UNAVAILABLE, and once
  // its port is closed the connection fails with UNAVAILABLE; but a call that
  // lands while gRPC's own server shutdown is under way ends CANCELLED (seen
  // in about 2 runs out of 100). Either way it never gets to chat.
  {
    ChatClient late(relay.target(), "late");
    late.join("own");
    const auto status = late.wait_status();
    REQUIRE(status);
    CHECK_MESSAGE((status->error_code() == grpc::StatusCode::UNAVAILABLE ||
                   status->error_code() == grpc::StatusCode::CANCELLED),
                  status->error_message());
    CHECK_FALSE(late.next(0ms));
  }

  REQUIRE(relay.relay().wait_exit(10s) == 0);
  ChatClient after_exit(relay.target(), "late");
  const auto status = after_exit.wait_status();
  REQUIRE(status);
  CHECK_MESSAGE(status->error_code() == grpc::StatusCode::UNAVAILABLE, status->error_message());
}

TEST_CASE(
    "a new room beyond --max-rooms is refused with RESOURCE_EXHAUSTED, existing rooms go on") {
  RelayProcess relay({"--max-rooms", "1"});
  ChatClient ann(relay.target(), "ann");
  join_and_wait(ann, "lobby");
  REQUIRE(ann.join("another"));
  const ErrorNotice notice = expect_notice(ann, grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(notice.room() == "another");
  CHECK(notice.message().find("rooms") != std::string::npos);
  CHECK(publish_acked(ann, "lobby", "still here", "id-1").sequence() == 1);
}
