// Hostile input and abuse, from the outside: what an independent client broke
// (issue 10), and the limits that keep one user from locking others out. In
// every case a well-behaved client of the same relay goes on unharmed.
#include <doctest/doctest.h>

#include <chrono>

#include <csignal>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/http_client.hpp"
#include "tests/integration/relay_process.hpp"
#include "tests/integration/scratch_directory.hpp"
#include "tests/integration/test_clients.hpp"

using namespace relay::testing;
using relay::v1::ClientFrame;
using relay::v1::ErrorNotice;
using relay::v1::FollowRequest;
using relay::v1::PublishBatchSummary;
using relay::v1::PublishRequest;
using relay::v1::ServerFrame;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A refusal notice, skipping presences and the acks of earlier publishes.
ErrorNotice next_notice(ChatClient& client) {
  const auto frame = client.next_of(ServerFrame::kError);
  REQUIRE(frame);
  return frame->error();
}

// The bodies a member receives, until `count` came or none comes for a while.
std::vector<std::string> received_bodies(ChatClient& member, std::size_t count) {
  std::vector<std::string> bodies;
  while (bodies.size() < count) {
    const auto frame = member.next_of(ServerFrame::kMessage, 5s);
    if (!frame) {
      break;
    }
    bodies.push_back(frame->message().body());
  }
  return bodies;
}

// Waits until `client` has its Joined answer for `room` or a refusal.
ServerFrame join_reply(ChatClient& client, const std::string& room) {
  REQUIRE(client.join(room));
  const auto frame = client.next_matching([](const ServerFrame& f) {
    return f.kind_case() == ServerFrame::kJoined || f.kind_case() == ServerFrame::kError;
  });
  REQUIRE(frame);
  return *frame;
}

std::size_t count_lines_with(const std::string& text, const std::string& part) {
  std::istringstream lines(text);
  std::size_t count = 0;
  for (std::string line; std::getline(lines, line);) {
    count += line.find(part) != std::string::npos ? 1 : 0;
  }
  return count;
}

}  // namespace

TEST_CASE("a PublishBatch message that does not parse is rejected and the batch goes on") {
  RelayProcess relay;
  ChatClient bob(relay.target(), "bob");
  join_and_wait(bob, "batch");

  std::vector<std::string> messages;
  for (int i = 1; i <= 11; ++i) {
    PublishRequest request =
        batch_message("batch", "line " + std::to_string(i), "ann-" + std::to_string(i));
    std::string bytes = request.SerializeAsString();
    if (i == 6) {
      // A proto3 string must be UTF-8: the relay cannot parse this message.
      request.set_client_message_id("ann-\xff");
      bytes = request.SerializePartialAsString();
    }
    messages.push_back(bytes);
  }
  const RawAnswer answer = raw_call(relay.target(), "ann", "PublishBatch", messages);
  REQUIRE_MESSAGE(answer.status.ok(), answer.status.error_message());
  PublishBatchSummary summary;
  REQUIRE(summary.ParseFromString(answer.reply));
  CHECK(summary.accepted() == 10);
  CHECK(summary.rejected() == 1);
  CHECK_MESSAGE(summary.first_rejection().rfind("message 6: ", 0) == 0, summary.first_rejection());
  const auto bodies = received_bodies(bob, 10);
  REQUIRE(bodies.size() == 10);
  CHECK(bodies.front() == "line 1");
  CHECK(bodies.back() == "line 11");
}

TEST_CASE("every read RPC names its user: without a valid x-relay-user it is UNAUTHENTICATED") {
  RelayProcess relay;
  ChatClient ann(relay.target(), "ann");
  join_and_wait(ann, "lobby");
  std::string user;
  SUBCASE("no x-relay-user") {}
  SUBCASE("a malformed name") { user = "not a name"; }

  relay::v1::WhoRequest who;
  who.set_room("lobby");
  relay::v1::HistoryRequest history;
  history.set_room("lobby");
  FollowRequest follow;
  follow.add_rooms()->set_room("lobby");
  const std::vector<std::pair<std::string, std::string>> calls{
      {"ListRooms", ""},
      {"Who", who.SerializeAsString()},
      {"History", history.SerializeAsString()},
      {"Follow", follow.SerializeAsString()}};
  for (const auto& [method, request] : calls) {
    CAPTURE(method);
    const RawAnswer answer = raw_call(relay.target(), user, method, {request});
    CHECK(answer.status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK_MESSAGE(contains(answer.status.error_message(), "x-relay-user"),
                  answer.status.error_message());
  }
  // With a name, the same calls answer.
  CHECK(raw_call(relay.target(), "reader", "Who", {who.SerializeAsString()}).status.ok());
  CHECK(publish_acked(ann, "lobby", "still here", "ann-1").sequence() == 1);
}

TEST_CASE("a call that names two users is refused, not served as either") {
  RelayProcess relay;
  auto context = context_for("ann");
  context->AddMetadata("x-relay-user", "bob");
  relay::v1::ListRoomsResponse rooms;
  const grpc::Status status =
      stub(relay.target())->ListRooms(context.get(), relay::v1::ListRoomsRequest{}, &rooms);
  CHECK(status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK_MESSAGE(contains(status.error_message(), "x-relay-user metadata given 2 times"),
                status.error_message());
  auto single = context_for("ann");
  CHECK(stub(relay.target())->ListRooms(single.get(), relay::v1::ListRoomsRequest{}, &rooms).ok());
}

TEST_CASE("bytes that do not parse get INVALID_ARGUMENT with a message from every RPC") {
  RelayProcess relay;
  ChatClient ann(relay.target(), "ann");
  join_and_wait(ann, "lobby");
  const std::string garbage = "\xff\xff\xff";
  for (const std::string method : {"ListRooms", "Who", "History", "Follow"}) {
    CAPTURE(method);
    const RawAnswer answer = raw_call(relay.target(), "mallory", method, {garbage});
    CHECK(answer.status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK_MESSAGE(contains(answer.status.error_message(), "relay.v1."),
                  answer.status.error_message());
  }
  const auto chat = send_raw_chat_frame(relay.target(), "mallory", garbage);
  CHECK(chat.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(publish_acked(ann, "lobby", "still here", "ann-1").sequence() == 1);
}

TEST_CASE("a publish without a client message id is refused, in Chat and in PublishBatch") {
  RelayProcess relay;
  ChatClient ann(relay.target(), "ann");
  join_and_wait(ann, "lobby");
  REQUIRE(ann.publish("lobby", "no id", ""));
  const ErrorNotice notice = next_notice(ann);
  CHECK(notice.code() == static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  CHECK_MESSAGE(contains(notice.message(), "client message id"), notice.message());

  const RawAnswer answer =
      raw_call(relay.target(), "ann", "PublishBatch",
               {batch_message("lobby", "no id", "").SerializeAsString(),
                batch_message("lobby", "with id", "batch-1").SerializeAsString()});
  REQUIRE(answer.status.ok());
  PublishBatchSummary summary;
  REQUIRE(summary.ParseFromString(answer.reply));
  CHECK(summary.accepted() == 1);
  CHECK(summary.rejected() == 1);
  CHECK_MESSAGE(summary.first_rejection().rfind("message 1: ", 0) == 0, summary.first_rejection());
  // Only the batch's good message was delivered.
  const auto bodies = received_bodies(ann, 1);
  CHECK(bodies == std::vector<std::string>{"with id"});
}

TEST_CASE("the publish rate holds per user across streams and batches") {
  // A rate so low that nothing refills during the test: only the burst of
  // 10 is ever allowed, however the publishes are spread.
  RelayProcess relay({"--publish-rate-per-second", "0.001", "--publish-burst", "10"});
  ChatClient first(relay.target(), "ann");
  ChatClient second(relay.target(), "ann");
  join_and_wait(first, "lobby");
  join_and_wait(second, "lobby");
  // Answers to `count` publishes of `client`: how many were acked.
  auto acked_of = [](ChatClient& client, int count) {
    int acked = 0;
    for (int i = 0; i < count; ++i) {
      const auto reply = client.next_matching([](const ServerFrame& f) {
        return f.kind_case() == ServerFrame::kAck || f.kind_case() == ServerFrame::kError;
      });
      REQUIRE(reply);
      if (reply->kind_case() == ServerFrame::kAck) {
        ++acked;
      } else {
        CHECK(reply->error().code() == static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
        CHECK(reply->error().retry_after_ms() > 0);
        CHECK_MESSAGE(contains(reply->error().message(), "per user"), reply->error().message());
      }
    }
    return acked;
  };

  SUBCASE("a second stream buys no more rate") {
    for (int i = 0; i < 10; ++i) {
      REQUIRE(first.publish("lobby", "a", "first-" + std::to_string(i)));
      REQUIRE(second.publish("lobby", "b", "second-" + std::to_string(i)));
    }
    CHECK(acked_of(first, 10) + acked_of(second, 10) == 10);
  }

  SUBCASE("a batch spends the same rate as the chat") {
    std::vector<std::string> messages;
    for (int i = 1; i <= 6; ++i) {
      messages.push_back(
          batch_message("lobby", "bulk " + std::to_string(i), "bulk-" + std::to_string(i))
              .SerializeAsString());
    }
    const RawAnswer answer = raw_call(relay.target(), "ann", "PublishBatch", messages);
    REQUIRE_MESSAGE(answer.status.ok(), answer.status.error_message());
    PublishBatchSummary summary;
    REQUIRE(summary.ParseFromString(answer.reply));
    CHECK(summary.accepted() == 6);
    for (int i = 0; i < 6; ++i) {
      REQUIRE(first.publish("lobby", "chat", "chat-" + std::to_string(i)));
    }
    CHECK(acked_of(first, 6) == 4);
  }

  // Another user has a rate of its own.
  ChatClient bob(relay.target(), "bob");
  join_and_wait(bob, "lobby");
  CHECK(publish_acked(bob, "lobby", "my own rate", "bob-1").sequence() > 0);
}

TEST_CASE("a PublishBatch beyond the rate is paced, never cut short") {
  RelayProcess relay({"--publish-rate-per-second", "20", "--publish-burst", "5"});
  ChatClient bob(relay.target(), "bob");
  join_and_wait(bob, "lobby");
  std::vector<std::string> messages;
  for (int i = 1; i <= 25; ++i) {
    messages.push_back(
        batch_message("lobby", "bulk " + std::to_string(i), "bulk-" + std::to_string(i))
            .SerializeAsString());
  }
  const auto started = std::chrono::steady_clock::now();
  const RawAnswer answer = raw_call(relay.target(), "ann", "PublishBatch", messages);
  const auto took = std::chrono::steady_clock::now() - started;
  REQUIRE_MESSAGE(answer.status.ok(), answer.status.error_message());
  PublishBatchSummary summary;
  REQUIRE(summary.ParseFromString(answer.reply));
  CHECK(summary.accepted() == 25);
  CHECK(summary.rejected() == 0);
  // 20 messages beyond the burst at 20 a second cannot take less than a
  // second, however fast the machine (it may take longer on a slow one).
  CHECK(took >= 900ms);
  CHECK(received_bodies(bob, 25).size() == 25);
}

TEST_CASE("joining and leaving many rooms leaves no empty room behind to lock others out") {
  RelayProcess relay({"--max-rooms", "20", "--room-creations-per-user-per-minute", "0"});
  ChatClient mallory(relay.target(), "mallory");
  for (int i = 0; i < 50; ++i) {
    const std::string room = "room-" + std::to_string(i);
    const ServerFrame reply = join_reply(mallory, room);
    REQUIRE_MESSAGE(reply.kind_case() == ServerFrame::kJoined, reply.DebugString());
    REQUIRE(mallory.leave(room));
  }
  ChatClient good(relay.target(), "good");
  const ServerFrame reply = join_reply(good, "fresh");
  CHECK_MESSAGE(reply.kind_case() == ServerFrame::kJoined, reply.DebugString());
}

TEST_CASE("one user creates at most --room-creations-per-user-per-minute rooms") {
  RelayProcess relay({"--room-creations-per-user-per-minute", "3"});
  ChatClient good(relay.target(), "good");
  join_and_wait(good, "lobby");

  SUBCASE("by joining") {
    ChatClient mallory(relay.target(), "mallory");
    for (int i = 0; i < 3; ++i) {
      join_and_wait(mallory, "new-" + std::to_string(i));
    }
    const ServerFrame refused = join_reply(mallory, "one-too-many");
    REQUIRE_MESSAGE(refused.kind_case() == ServerFrame::kError, refused.DebugString());
    CHECK(refused.error().code() == static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
    CHECK_MESSAGE(contains(refused.error().message(), "rooms a minute"), refused.error().message());
    // A rate's refusal says when to retry: three a minute is one every 20 s.
    CHECK(refused.error().retry_after_ms() > 0);
    CHECK(refused.error().retry_after_ms() <= 20'000);
    // Existing rooms are no creation.
    join_and_wait(mallory, "lobby");
  }

  SUBCASE("by publishing in a batch") {
    std::vector<std::string> messages;
    for (int i = 0; i < 4; ++i) {
      messages.push_back(
          batch_message("new-" + std::to_string(i), "hello", "m-" + std::to_string(i))
              .SerializeAsString());
    }
    const RawAnswer answer = raw_call(relay.target(), "mallory", "PublishBatch", messages);
    REQUIRE(answer.status.ok());
    PublishBatchSummary summary;
    REQUIRE(summary.ParseFromString(answer.reply));
    CHECK(summary.accepted() == 3);
    CHECK(summary.rejected() == 1);
    CHECK_MESSAGE(contains(summary.first_rejection(), "message 4: "), summary.first_rejection());
  }

  // Another user creates rooms as before.
  join_and_wait(good, "good-room");
  CHECK(publish_acked(good, "lobby", "unharmed", "good-1").sequence() > 0);
}

TEST_CASE("a Chat stream joins at most --join-rate-per-second after its burst") {
  // A rate so low that nothing refills during the test.
  RelayProcess relay({"--join-rate-per-second", "0.001", "--max-rooms-per-stream", "2"});
  ChatClient eager(relay.target(), "eager");
  // The burst is twice the rooms per stream: four joins at once.
  for (int i = 0; i < 4; ++i) {
    const std::string room = "room-" + std::to_string(i);
    join_and_wait(eager, room);
    REQUIRE(eager.leave(room));
  }
  const ServerFrame refused = join_reply(eager, "room-4");
  REQUIRE_MESSAGE(refused.kind_case() == ServerFrame::kError, refused.DebugString());
  CHECK(refused.error().code() == static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  CHECK(refused.error().retry_after_ms() > 0);
  ChatClient calm(relay.target(), "calm");
  join_and_wait(calm, "room-4");
}

TEST_CASE("streams are limited per user, per address and per relay") {
  // Each case has room for good's stream and two of mallory's, no more.
  std::vector<std::string> flags;
  std::string second_user;
  SUBCASE("per user") {
    flags = {"--max-streams-per-user", "2"};
    second_user = "mallory";
  }
  SUBCASE("per address") {
    flags = {"--max-streams-per-peer", "3"};
    second_user = "mallory-too";
  }
  SUBCASE("per relay") {
    flags = {"--max-streams", "3"};
    second_user = "mallory-too";
  }
  RelayProcess relay(flags);
  ChatClient good(relay.target(), "good");
  join_and_wait(good, "lobby");
  ChatClient first(relay.target(), "mallory");
  ChatClient second(relay.target(), "mallory");
  join_and_wait(first, "lobby");
  join_and_wait(second, "lobby");

  ChatClient refused(relay.target(), second_user);
  const auto status = refused.wait_status();
  REQUIRE(status);
  CHECK(status->error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK_FALSE(status->error_message().empty());
  // Follow and PublishBatch are streams too.
  FollowRequest follow;
  follow.add_rooms()->set_room("lobby");
  CHECK(raw_call(relay.target(), second_user, "Follow", {follow.SerializeAsString()})
            .status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(raw_call(relay.target(), second_user, "PublishBatch",
                 {batch_message("lobby", "bulk", "bulk-1").SerializeAsString()})
            .status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);

  CHECK(publish_acked(good, "lobby", "unharmed", "good-1").sequence() == 1);
  // A stream that ends gives its place back, once the relay has seen it end.
  first.cancel();
  REQUIRE(first.wait_status());
  for (int attempt = 0; attempt < 100; ++attempt) {
    ChatClient again(relay.target(), second_user);
    // The write fails when the relay has refused the stream already.
    if (again.join("lobby") && again.next_of(ServerFrame::kJoined, 5s)) {
      return;
    }
    const auto status = again.wait_status();
    REQUIRE(status);
    REQUIRE(status->error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    std::this_thread::sleep_for(20ms);  // the pace of the retries, not a wait for an event
  }
  FAIL("a closed stream's place was never given back");
}

TEST_CASE("refused frames are logged as a summary, not a line each, naming the user") {
  RelayProcess relay;
  ChatClient mallory(relay.target(), "mallory");
  join_and_wait(mallory, "lobby");
  for (int i = 0; i < 2000; ++i) {
    REQUIRE(mallory.write(ClientFrame{}));
  }
  for (int i = 0; i < 2000; ++i) {
    REQUIRE(mallory.next_of(ServerFrame::kError));
  }
  REQUIRE(mallory.finish().ok());
  const std::string log = relay.log();
  const std::size_t lines = count_lines_with(log, "refused");
  CHECK_MESSAGE(lines >= 1, log);
  CHECK_MESSAGE(lines <= 3, log);
  CHECK_MESSAGE(contains(log, "chat stream"), log);
  CHECK_MESSAGE(contains(log, "of mallory: refused"), log);
}

TEST_CASE("a SIGTERM during a PublishBatch acknowledges nothing that was not delivered") {
  RelayProcess relay({"--shutdown-grace-ms", "2000"});
  ChatClient member(relay.target(), "member");
  join_and_wait(member, "batch");

  auto relay_stub = stub(relay.target());
  auto context = context_for("ann");
  PublishBatchSummary summary;
  auto writer = relay_stub->PublishBatch(context.get(), &summary);
  // Five good messages, the second and fourth of them after one without a
  // body: the relay processes seven, accepts five.
  for (int i = 1; i <= 5; ++i) {
    if (i == 2 || i == 4) {
      REQUIRE(writer->Write(batch_message("batch", "", "empty-" + std::to_string(i))));
    }
    REQUIRE(writer->Write(
        batch_message("batch", "before " + std::to_string(i), "before-" + std::to_string(i))));
  }
  REQUIRE(received_bodies(member, 5).size() == 5);
  relay.signal(SIGTERM);
  // The member's stream ending says the relay is draining.
  const auto drained = member.wait_status();
  REQUIRE(drained);
  CHECK(drained->error_code() == grpc::StatusCode::UNAVAILABLE);
  for (int i = 1; i <= 5; ++i) {
    writer->Write(
        batch_message("batch", "after " + std::to_string(i), "after-" + std::to_string(i)));
  }
  writer->WritesDone();
  const grpc::Status status = writer->Finish();
  // The drain ended the batch, which was waiting for its next message, at
  // once: nothing sent after the signal was accepted.
  REQUIRE_MESSAGE(status.error_code() == grpc::StatusCode::UNAVAILABLE, status.error_message(),
                  " (accepted ", summary.accepted(), ")");
  CHECK_MESSAGE(contains(status.error_message(),
                         "it processed this batch's messages 1 to 7 (5 accepted, 2 rejected)"),
                status.error_message());
  // A client resends what comes after the processed ones, not after the
  // accepted ones: those would be "before 4" and "before 5" again.
  CHECK(trailer(*context, "x-relay-accepted") == "5");
  CHECK(trailer(*context, "x-relay-processed") == "7");
  CHECK(relay.wait_exit(10s) == 0);
}

TEST_CASE("all rooms' histories together stay within --history-total-max-bytes, oldest out first") {
  ScratchDirectory scratch("relay-history-budget");
  RelayProcess relay({"--history-total-max-bytes", "80000", "--metrics-listen", "127.0.0.1:0",
                      "--metrics-port-file", scratch.path("metrics.port")});
  const std::string body(500, 'x');
  for (const std::string room : {"old", "new"}) {
    std::vector<std::string> messages;
    for (int i = 0; i < 100; ++i) {
      messages.push_back(
          batch_message(room, body, room + "-" + std::to_string(i)).SerializeAsString());
    }
    const RawAnswer answer = raw_call(relay.target(), "ann", "PublishBatch", messages);
    REQUIRE(answer.status.ok());
  }
  auto history_of = [&](const std::string& room) {
    relay::v1::HistoryRequest request;
    request.set_room(room);
    request.set_limit(100);
    const RawAnswer answer =
        raw_call(relay.target(), "reader", "History", {request.SerializeAsString()});
    REQUIRE(answer.status.ok());
    relay::v1::HistoryResponse page;
    REQUIRE(page.ParseFromString(answer.reply));
    return page;
  };
  const auto newer = history_of("new");
  const auto older = history_of("old");
  // The newest room keeps everything; the oldest messages went, and a
  // reader is told exactly how many.
  CHECK(newer.messages_size() == 100);
  CHECK(newer.missed() == 0);
  CHECK(older.missed() > 0);
  CHECK(older.messages_size() + older.missed() == 100);
  CHECK(static_cast<std::size_t>(older.messages_size() + newer.messages_size()) * body.size() <=
        80000);
  // What was dropped is counted.
  int metrics_port = 0;
  std::ifstream(scratch.path("metrics.port")) >> metrics_port;
  const std::string metrics = get(metrics_port, "/metrics");
  CHECK(value(metrics, R"(relay_history_messages_dropped_total{reason="budget"})") ==
        static_cast<double>(older.missed()));
  CHECK(value(metrics, R"(relay_history_messages_dropped_total{reason="age"})") == 0);
  CHECK(value(metrics, "relay_rooms_created_total") == 2);
  CHECK(value(metrics, "relay_rooms_removed_total") == 0);
}
