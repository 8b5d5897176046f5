// Follow, PublishBatch and the unary queries, each against a real relay: what
// the contract in relay.proto promises, checked from the client side.
#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/relay_process.hpp"
#include "tests/integration/test_clients.hpp"

using namespace relay::testing;
using relay::v1::FollowRequest;
using relay::v1::HistoryRequest;
using relay::v1::HistoryResponse;
using relay::v1::Joined;
using relay::v1::ListRoomsRequest;
using relay::v1::ListRoomsResponse;
using relay::v1::Message;
using relay::v1::Position;
using relay::v1::PublishAck;
using relay::v1::PublishBatchSummary;
using relay::v1::PublishRequest;
using relay::v1::ServerFrame;
using relay::v1::WhoRequest;
using relay::v1::WhoResponse;

namespace {

// Publishes body1, body2, ... bodyN to `room` and waits for each ack.
void publish_numbered(ChatClient& client, const std::string& room, int count,
                      const std::string& body = "body") {
  for (int i = 1; i <= count; ++i) {
    publish_acked(client, room, body + std::to_string(i), room + "-" + std::to_string(i));
  }
}

// Follows `room` from just after `sequence` of `epoch`.
void follow_from(FollowRequest& request, const std::string& room, std::uint64_t epoch,
                 std::uint64_t sequence) {
  auto& followed = *request.add_rooms();
  followed.set_room(room);
  *followed.mutable_resume() = position(epoch, sequence);
}

// The next frame must be this message: anything else in between (a presence,
// an ack, another room's message) fails the check.
void check_next_message(FollowClient& follower, const std::string& room, std::uint64_t sequence,
                        const std::string& body, const std::string& sender) {
  const auto frame = follower.next();
  REQUIRE(frame);
  REQUIRE_MESSAGE(frame->kind_case() == ServerFrame::kMessage, frame->DebugString());
  CHECK(frame->message().room() == room);
  CHECK(frame->message().sequence() == sequence);
  CHECK(frame->message().body() == body);
  CHECK(frame->message().sender() == sender);
}

FollowRequest follow_request(const std::vector<std::string>& rooms) {
  FollowRequest request;
  for (const auto& room : rooms) {
    request.add_rooms()->set_room(room);
  }
  return request;
}

grpc::Status history(const std::string& target, const std::string& room,
                     std::uint64_t after_sequence, std::uint32_t limit, HistoryResponse& response) {
  HistoryRequest request;
  request.set_room(room);
  request.set_after_sequence(after_sequence);
  request.set_limit(limit);
  return stub(target)->History(context_for("reader", 10s).get(), request, &response);
}

grpc::Status who(const std::string& target, const std::string& room, WhoResponse& response) {
  WhoRequest request;
  request.set_room(room);
  return stub(target)->Who(context_for("reader", 10s).get(), request, &response);
}

ListRoomsResponse list_rooms(const std::string& target) {
  ListRoomsResponse response;
  const auto status =
      stub(target)->ListRooms(context_for("reader", 10s).get(), ListRoomsRequest{}, &response);
  REQUIRE_MESSAGE(status.ok(), status.error_message());
  return response;
}

std::vector<std::uint64_t> sequences_of(const HistoryResponse& response) {
  std::vector<std::uint64_t> sequences;
  for (const auto& message : response.messages()) {
    sequences.push_back(message.sequence());
  }
  return sequences;
}

bool lists_room(const ListRoomsResponse& response, const std::string& room) {
  for (const auto& info : response.rooms()) {
    if (info.room() == room) {
      return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE(
    "a follower of two rooms gets a Joined per room, the replay, then live messages of both "
    "rooms and nothing else") {
  RelayProcess relay;
  ChatClient ann(relay.target(), "ann");
  // ann asks for presence: the follower's test below waits on it.
  const Joined alpha = join_with_presence(ann, "alpha");
  join_and_wait(ann, "beta");
  publish_numbered(ann, "alpha", 3);
  publish_numbered(ann, "beta", 2);

  FollowRequest request;
  follow_from(request, "alpha", alpha.epoch(), 1);
  request.add_rooms()->set_room("beta");  // no resume: live from now
  FollowClient follower(relay.target(), request);

  const auto joined_alpha = follower.next();
  REQUIRE(joined_alpha);
  REQUIRE(joined_alpha->kind_case() == ServerFrame::kJoined);
  CHECK(joined_alpha->joined().room() == "alpha");
  CHECK(joined_alpha->joined().epoch() == alpha.epoch());
  CHECK(joined_alpha->joined().sequence() == 3);
  CHECK(joined_alpha->joined().replayed() == 2);
  CHECK(joined_alpha->joined().missed() == 0);
  CHECK_FALSE(joined_alpha->joined().epoch_changed());
  CHECK(joined_alpha->joined().members() == 1);
  check_next_message(follower, "alpha", 2, "body2", "ann");
  check_next_message(follower, "alpha", 3, "body3", "ann");
  const auto joined_beta = follower.next();
  REQUIRE(joined_beta);
  REQUIRE(joined_beta->kind_case() == ServerFrame::kJoined);
  CHECK(joined_beta->joined().room() == "beta");
  CHECK(joined_beta->joined().sequence() == 2);
  CHECK(joined_beta->joined().replayed() == 0);

  SUBCASE("the follower counts as a follower in Who, not as a member") {
    WhoResponse members;
    REQUIRE(who(relay.target(), "alpha", members).ok());
    REQUIRE(members.members_size() == 1);
    CHECK(members.members(0).user() == "ann");
    CHECK(members.members(0).streams() == 1);
    CHECK(members.followers() == 1);
  }

  SUBCASE("presence and acks of the rooms never reach a follower that did not ask for presence") {
    // Each step waits for its own effect, so the relay has queued whatever it
    // would give the follower before the next step: a presence or an ack
    // leaked to the follower would come before the next expected message.
    ChatClient bob(relay.target(), "bob");
    join_and_wait(bob, "alpha");
    REQUIRE(ann.next_of(ServerFrame::kPresence));
    publish_acked(ann, "beta", "live beta", "ann-live-beta");
    publish_acked(ann, "alpha", "live alpha", "ann-live-alpha");
    publish_acked(bob, "alpha", "from bob", "bob-1");
    REQUIRE(bob.leave("alpha"));
    const auto left = ann.next_matching([](const ServerFrame& f) {
      return f.kind_case() == ServerFrame::kPresence &&
             f.presence().kind() == relay::v1::Presence::KIND_LEFT;
    });
    REQUIRE(left);
    publish_acked(ann, "alpha", "last", "ann-last");

    check_next_message(follower, "beta", 3, "live beta", "ann");
    check_next_message(follower, "alpha", 4, "live alpha", "ann");
    check_next_message(follower, "alpha", 5, "from bob", "bob");
    check_next_message(follower, "alpha", 6, "last", "ann");
  }
}

TEST_CASE(
    "a client that does not take batches gets a long replay whole and in order, by Chat and "
    "by Follow") {
  // Each replayed frame is a gRPC write of its own, and the relay lets gRPC
  // keep a backlog's writes back to send them together: none may be lost,
  // reordered or kept for good (a Follow's first write once was).
  RelayProcess relay;
  ChatClient ann(relay.target(), "ann");
  const Joined joined = join_and_wait(ann, "long");
  constexpr int kMessages = 300;
  const std::string body(2000, 'x');
  publish_numbered(ann, "long", kMessages, body);
  const auto check_replay = [&](const std::function<std::optional<ServerFrame>()>& next) {
    for (int i = 1; i <= kMessages; ++i) {
      const auto frame = next();
      REQUIRE_MESSAGE(frame, "message " << i << " did not come");
      REQUIRE_MESSAGE(frame->kind_case() == ServerFrame::kMessage, frame->DebugString());
      REQUIRE(frame->message().sequence() == static_cast<std::uint64_t>(i));
      REQUIRE(frame->message().body() == body + std::to_string(i));
    }
  };

  SUBCASE("Chat") {
    ChatClient bob(relay.target(), "bob");
    const Joined replay = join_and_wait(bob, "long", position(joined.epoch(), 0));
    CHECK(replay.replayed() == kMessages);
    check_replay([&] { return bob.next(); });
  }
  SUBCASE("Follow") {
    FollowRequest request;
    follow_from(request, "long", joined.epoch(), 0);
    FollowClient follower(relay.target(), request);
    const auto replay = follower.next();
    REQUIRE(replay);
    REQUIRE(replay->kind_case() == ServerFrame::kJoined);
    CHECK(replay->joined().replayed() == kMessages);
    check_replay([&] { return follower.next(); });
  }
}

TEST_CASE("a follower that asks for a room's presence gets its joins and leaves, and no other's") {
  RelayProcess relay;
  ChatClient ann(relay.target(), "ann");
  join_with_presence(ann, "alpha");
  join_and_wait(ann, "beta");

  FollowRequest request;
  auto& followed_alpha = *request.add_rooms();
  followed_alpha.set_room("alpha");
  followed_alpha.set_presence(true);
  request.add_rooms()->set_room("beta");
  FollowClient follower(relay.target(), request);
  for (const char* room : {"alpha", "beta"}) {
    const auto joined = follower.next();
    REQUIRE(joined);
    REQUIRE(joined->kind_case() == ServerFrame::kJoined);
    CHECK(joined->joined().room() == room);
    CHECK(joined->joined().members() == 1);
  }

  // bob joins beta (not asked for), then alpha, and leaves alpha; his
  // publish comes after all of it on his one stream.
  ChatClient bob(relay.target(), "bob");
  join_and_wait(bob, "beta");
  join_and_wait(bob, "alpha");
  REQUIRE(bob.leave("alpha"));
  publish_acked(bob, "beta", "marker", "bob-marker");

  for (const auto kind : {relay::v1::Presence::KIND_JOINED, relay::v1::Presence::KIND_LEFT}) {
    const auto presence = follower.next();
    REQUIRE(presence);
    REQUIRE(presence->kind_case() == ServerFrame::kPresence);
    CHECK(presence->presence().room() == "alpha");
    CHECK(presence->presence().user() == "bob");
    CHECK(presence->presence().kind() == kind);
  }
  check_next_message(follower, "beta", 1, "marker", "bob");

  // A follower is never announced to the members: bob is the first ann hears of.
  const auto first = ann.next_of(ServerFrame::kPresence);
  REQUIRE(first);
  CHECK(first->presence().user() == "bob");
}

TEST_CASE("Follow refuses a request it cannot serve with INVALID_ARGUMENT") {
  RelayProcess relay;
  FollowRequest request;
  std::string explanation;

  SUBCASE("no rooms") { explanation = "1 to 64"; }
  SUBCASE("a room named twice") {
    request = follow_request({"alpha", "beta", "alpha"});
    explanation = "twice";
  }
  SUBCASE("a malformed room name") {
    request = follow_request({"alpha", "no spaces"});
    explanation = "room name";
  }
  SUBCASE("a resume position ahead of the room") {
    ChatClient ann(relay.target(), "ann");
    const Joined alpha = join_and_wait(ann, "alpha");
    publish_numbered(ann, "alpha", 3);
    follow_from(request, "alpha", alpha.epoch(), 10);
    explanation = "ahead";
  }

  FollowClient follower(relay.target(), request);
  const auto status = follower.wait_status();
  REQUIRE(status);
  CHECK(status->error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK_MESSAGE(status->error_message().find(explanation) != std::string::npos,
                status->error_message());
  // Refused before anything was delivered.
  CHECK_FALSE(follower.next(0ms));
}

TEST_CASE(
    "PublishBatch publishes the valid messages, counts the refused ones and names the first "
    "refusal") {
  RelayProcess relay;
  ChatClient bob(relay.target(), "bob");
  join_and_wait(bob, "batch");

  PublishBatchSummary summary;
  grpc::Status status;
  {
    auto relay_stub = stub(relay.target());
    auto context = context_for("ann");
    auto writer = relay_stub->PublishBatch(context.get(), &summary);
    // The last is a resend of the first: accepted, and not delivered again.
    const std::vector<std::array<std::string, 3>> batch{
        {"batch", "one", "ann-1"}, {"batch", "", "ann-2"},      {"batch", "two", "ann-3"},
        {"no room", "x", "ann-4"}, {"batch", "three", "ann-5"}, {"batch", "one", "ann-1"}};
    for (const auto& [room, body, id] : batch) {
      REQUIRE(writer->Write(batch_message(room, body, id)));
    }
    REQUIRE(writer->WritesDone());
    status = writer->Finish();
  }
  REQUIRE_MESSAGE(status.ok(), status.error_message());
  CHECK(summary.accepted() == 4);
  CHECK(summary.duplicates() == 1);
  CHECK(summary.rejected() == 2);
  CHECK_MESSAGE(summary.first_rejection().rfind("message 2: ", 0) == 0, summary.first_rejection());
  CHECK_MESSAGE(summary.first_rejection().find("empty") != std::string::npos,
                summary.first_rejection());
  CHECK(summary.first_sequence() == 1);
  CHECK(summary.last_sequence() == 3);

  // The member sees exactly the accepted ones, in order; its own marker
  // message comes right after them, so nothing else was delivered between.
  REQUIRE(bob.publish("batch", "marker", "bob-marker"));
  std::vector<std::string> bodies;
  for (int i = 0; i < 4; ++i) {
    const auto frame = bob.next_of(ServerFrame::kMessage);
    REQUIRE(frame);
    CHECK(frame->message().sequence() == static_cast<std::uint64_t>(i + 1));
    bodies.push_back(frame->message().body());
    if (frame->message().body() != "marker") {
      CHECK(frame->message().sender() == "ann");
    }
  }
  CHECK(bodies == std::vector<std::string>{"one", "two", "three", "marker"});
}

TEST_CASE("PublishBatch without x-relay-user is UNAUTHENTICATED") {
  RelayProcess relay;
  auto relay_stub = stub(relay.target());
  auto context = context_for("");
  PublishBatchSummary summary;
  auto writer = relay_stub->PublishBatch(context.get(), &summary);
  PublishRequest request;
  request.set_room("batch");
  request.set_body("anonymous");
  // The relay may refuse the call before this write lands; the status says why.
  writer->Write(request);
  writer->WritesDone();
  const auto status = writer->Finish();
  CHECK(status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK_MESSAGE(status.error_message().find("x-relay-user") != std::string::npos,
                status.error_message());
  CHECK(summary.accepted() == 0);
  CHECK_FALSE(lists_room(list_rooms(relay.target()), "batch"));
}

TEST_CASE("History returns the messages after a sequence, at most the limit, oldest first") {
  RelayProcess relay({"--history-query-max-messages", "5"});
  ChatClient ann(relay.target(), "ann");
  const Joined joined = join_and_wait(ann, "log");
  publish_numbered(ann, "log", 10);

  HistoryResponse page;
  REQUIRE(history(relay.target(), "log", 3, 4, page).ok());
  CHECK(sequences_of(page) == std::vector<std::uint64_t>{4, 5, 6, 7});
  REQUIRE(page.messages_size() == 4);
  CHECK(page.messages(0).body() == "body4");
  CHECK(page.messages(0).sender() == "ann");
  CHECK(page.messages(0).room() == "log");
  CHECK(page.messages(0).client_message_id() == "log-4");
  CHECK(page.messages(3).body() == "body7");
  CHECK(page.epoch() == joined.epoch());
  CHECK(page.sequence() == 10);
  CHECK(page.missed() == 0);

  SUBCASE("limit 0 means the configured maximum") {
    HistoryResponse all;
    REQUIRE(history(relay.target(), "log", 0, 0, all).ok());
    CHECK(sequences_of(all) == std::vector<std::uint64_t>{1, 2, 3, 4, 5});
  }
  SUBCASE("a limit above the configured maximum is cut to it") {
    HistoryResponse capped;
    REQUIRE(history(relay.target(), "log", 2, 50, capped).ok());
    CHECK(sequences_of(capped) == std::vector<std::uint64_t>{3, 4, 5, 6, 7});
  }
  SUBCASE("fewer messages than the limit after the sequence") {
    HistoryResponse tail;
    REQUIRE(history(relay.target(), "log", 8, 0, tail).ok());
    CHECK(sequences_of(tail) == std::vector<std::uint64_t>{9, 10});
  }
  SUBCASE("nothing after the last sequence") {
    HistoryResponse none;
    REQUIRE(history(relay.target(), "log", 10, 0, none).ok());
    CHECK(none.messages_size() == 0);
    CHECK(none.sequence() == 10);
    CHECK(none.missed() == 0);
  }
}

TEST_CASE("History reports as missed what the bounded history no longer holds") {
  RelayProcess relay({"--history-max-messages", "5"});
  ChatClient ann(relay.target(), "ann");
  join_and_wait(ann, "log");
  publish_numbered(ann, "log", 10);

  HistoryResponse from_start;
  REQUIRE(history(relay.target(), "log", 0, 0, from_start).ok());
  CHECK(from_start.missed() == 5);
  CHECK(sequences_of(from_start) == std::vector<std::uint64_t>{6, 7, 8, 9, 10});

  HistoryResponse held;
  REQUIRE(history(relay.target(), "log", 7, 0, held).ok());
  CHECK(held.missed() == 0);
  CHECK(sequences_of(held) == std::vector<std::uint64_t>{8, 9, 10});
}

TEST_CASE("History of an unknown room is NOT_FOUND, of a malformed name INVALID_ARGUMENT") {
  RelayProcess relay;
  HistoryResponse response;
  const auto unknown = history(relay.target(), "nowhere", 0, 0, response);
  CHECK(unknown.error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK_MESSAGE(unknown.error_message().find("nowhere") != std::string::npos,
                unknown.error_message());
  const auto malformed = history(relay.target(), "bad room", 0, 0, response);
  CHECK(malformed.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK_MESSAGE(malformed.error_message().find("room") != std::string::npos,
                malformed.error_message());
}

TEST_CASE("ListRooms lists the rooms sorted by name with sequence, subscribers and history") {
  RelayProcess relay;
  ChatClient ann(relay.target(), "ann");
  ChatClient bob(relay.target(), "bob");
  join_and_wait(ann, "zeta");
  join_and_wait(ann, "alpha");
  join_and_wait(ann, "mid");
  join_and_wait(bob, "alpha");
  publish_numbered(ann, "alpha", 2);
  publish_numbered(ann, "zeta", 1);

  const auto response = list_rooms(relay.target());
  REQUIRE(response.rooms_size() == 3);
  const auto& alpha = response.rooms(0);
  CHECK(alpha.room() == "alpha");
  CHECK(alpha.sequence() == 2);
  CHECK(alpha.subscribers() == 2);
  CHECK(alpha.history_messages() == 2);
  CHECK(alpha.epoch() != 0);
  const auto& mid = response.rooms(1);
  CHECK(mid.room() == "mid");
  CHECK(mid.sequence() == 0);
  CHECK(mid.subscribers() == 1);
  CHECK(mid.history_messages() == 0);
  const auto& zeta = response.rooms(2);
  CHECK(zeta.room() == "zeta");
  CHECK(zeta.sequence() == 1);
  CHECK(zeta.subscribers() == 1);
  CHECK(zeta.history_messages() == 1);
}

TEST_CASE("Who lists the members sorted by name with their stream counts") {
  RelayProcess relay;
  ChatClient walt(relay.target(), "walt");
  ChatClient ann_phone(relay.target(), "ann");
  ChatClient ann_laptop(relay.target(), "ann");
  ChatClient carl(relay.target(), "carl");
  join_and_wait(walt, "room");
  join_and_wait(ann_phone, "room");
  join_and_wait(ann_laptop, "room");
  join_and_wait(carl, "elsewhere");

  WhoResponse response;
  REQUIRE(who(relay.target(), "room", response).ok());
  REQUIRE(response.members_size() == 2);
  CHECK(response.members(0).user() == "ann");
  CHECK(response.members(0).streams() == 2);
  CHECK(response.members(1).user() == "walt");
  CHECK(response.members(1).streams() == 1);
  CHECK(response.followers() == 0);

  WhoResponse unknown_response;
  const auto unknown = who(relay.target(), "nowhere", unknown_response);
  CHECK(unknown.error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK_MESSAGE(unknown.error_message().find("nowhere") != std::string::npos,
                unknown.error_message());
  const auto malformed = who(relay.target(), ".hidden", unknown_response);
  CHECK(malformed.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK_MESSAGE(malformed.error_message().find("room") != std::string::npos,
                malformed.error_message());
}

TEST_CASE("a room whose members all left is removed after its idle time-to-live") {
  // A room stays while its duplicate window remembers an id: short here too.
  RelayProcess relay({"--room-idle-ttl-ms", "200", "--duplicate-window-ms", "200"});
  ChatClient ann(relay.target(), "ann");
  join_and_wait(ann, "stay");
  {
    ChatClient bob(relay.target(), "bob");
    join_and_wait(ann, "brief");
    join_and_wait(bob, "brief");
    publish_acked(bob, "brief", "short visit", "bob-1");
    REQUIRE(ann.leave("brief"));
    // bob leaves by closing his stream.
  }

  // The relay sweeps on its own timer; poll ListRooms until the room is gone.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  bool removed = false;
  for (int poll = 0; poll < 500 && std::chrono::steady_clock::now() < deadline; ++poll) {
    const auto rooms = list_rooms(relay.target());
    if (!lists_room(rooms, "brief")) {
      removed = true;
      // The room with a member stays, however long it has been idle.
      CHECK(lists_room(rooms, "stay"));
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  REQUIRE_MESSAGE(removed, "room brief still listed after 5 s");

  HistoryResponse response;
  const auto status = history(relay.target(), "brief", 0, 0, response);
  CHECK(status.error_code() == grpc::StatusCode::NOT_FOUND);
}
