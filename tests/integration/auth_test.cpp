// Tokens from the outside: while two users with good tokens chat, a third
// tries every way in that must fail, and each gets UNAUTHENTICATED with a
// reason that gives nothing away, or, with a good token for other rooms,
// PERMISSION_DENIED in theirs; the two lose nothing.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/tokens.hpp"
#include "tests/integration/child_process.hpp"
#include "tests/integration/http_client.hpp"
#include "tests/integration/relay_process.hpp"
#include "tests/integration/scratch_directory.hpp"
#include "tests/integration/test_clients.hpp"

using namespace relay::testing;
using namespace std::chrono_literals;
using relay::common::RoomPermissions;
using relay::common::RoomRight;
using relay::v1::ServerFrame;

constexpr int kPermissionDenied = 7;  // google.rpc.Code

namespace {

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Keys made for this run: an HS256 secret, an RSA pair for RS256 and an EC pair for ES256.
struct Keys : ScratchDirectory {
  Keys() : ScratchDirectory("relay-auth-test") {
    std::ofstream(path("secret")) << "a shared secret of well over thirty-two bytes\n";
    std::ofstream(path("other-secret")) << "another secret, also over thirty-two bytes long\n";
    const std::string rsa = "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " +
                            path("rsa.key") + " >/dev/null 2>&1 && openssl pkey -in " +
                            path("rsa.key") + " -pubout -out " + path("rsa.pub") +
                            " >/dev/null 2>&1";
    REQUIRE(std::system(rsa.c_str()) == 0);
    const std::string ec = "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " +
                           path("ec.key") + " >/dev/null 2>&1 && openssl pkey -in " +
                           path("ec.key") + " -pubout -out " + path("ec.pub") + " >/dev/null 2>&1";
    REQUIRE(std::system(ec.c_str()) == 0);
  }
};

// Every right in the rooms of `patterns`.
RoomPermissions rooms(std::initializer_list<const char*> patterns) {
  RoomPermissions permissions;
  for (const RoomRight right : relay::common::kRoomRights) {
    for (const char* pattern : patterns) {
      permissions.grant(right, pattern);
    }
  }
  return permissions;
}

std::string token(const std::string& algorithm, const std::string& key, const std::string& user,
                  std::optional<RoomPermissions> rooms = RoomPermissions::everything(),
                  std::int64_t issued_s = now_s(), std::int64_t ttl_s = 3600) {
  relay::common::TokenRequest request;
  request.algorithm = algorithm;
  request.key = key;
  request.user = user;
  request.rooms = std::move(rooms);
  request.issued_s = issued_s;
  request.ttl_s = ttl_s;
  const auto minted = relay::common::mint_token(request);
  REQUIRE_MESSAGE(minted.token, minted.error);
  return *minted.token;
}

std::string base64url(const std::string& text) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t bits = 0;
  unsigned buffer = 0;
  for (const unsigned char c : text) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(buffer >> bits) & 63]);
    }
  }
  if (bits > 0) {
    out.push_back(kAlphabet[(buffer << (6 - bits)) & 63]);
  }
  return out;
}

// A ListRooms call with this authorization value (none when empty) and
// x-relay-user: mallory.
grpc::Status list_rooms(const std::string& target, const std::string& authorization) {
  auto context = context_for("mallory", 5s);
  if (!authorization.empty()) {
    context->AddMetadata("authorization", authorization);
  }
  relay::v1::ListRoomsRequest request;
  relay::v1::ListRoomsResponse response;
  return stub(target)->ListRooms(context.get(), request, &response);
}

std::unique_ptr<grpc::ClientContext> bearing(const std::string& token) {
  auto context = context_for("", 10s);
  context->AddMetadata("authorization", "Bearer " + token);
  return context;
}

// The rooms ListRooms shows the holder of `token`, by name.
std::vector<std::string> rooms_seen(const std::string& target, const std::string& token) {
  relay::v1::ListRoomsResponse response;
  const grpc::Status status =
      stub(target)->ListRooms(bearing(token).get(), relay::v1::ListRoomsRequest(), &response);
  REQUIRE_MESSAGE(status.ok(), status.error_message());
  std::vector<std::string> names;
  for (const auto& room : response.rooms()) {
    names.push_back(room.room());
  }
  return names;
}

grpc::Status history(const std::string& target, const std::string& token, const std::string& room) {
  relay::v1::HistoryRequest request;
  request.set_room(room);
  relay::v1::HistoryResponse response;
  return stub(target)->History(bearing(token).get(), request, &response);
}

grpc::Status who(const std::string& target, const std::string& token, const std::string& room) {
  relay::v1::WhoRequest request;
  request.set_room(room);
  relay::v1::WhoResponse response;
  return stub(target)->Who(bearing(token).get(), request, &response);
}

// A PublishBatch of one message per room, in order.
relay::v1::PublishBatchSummary publish_batch(const std::string& target, const std::string& token,
                                             const std::vector<std::string>& rooms) {
  relay::v1::PublishBatchSummary summary;
  auto context = bearing(token);
  auto writer = stub(target)->PublishBatch(context.get(), &summary);
  for (std::size_t i = 0; i < rooms.size(); ++i) {
    REQUIRE(writer->Write(
        batch_message(rooms[i], "batch " + std::to_string(i), "batch-" + std::to_string(i))));
  }
  REQUIRE(writer->WritesDone());
  const grpc::Status status = writer->Finish();
  REQUIRE_MESSAGE(status.ok(), status.error_message());
  return summary;
}

// What a user in ann's room must have received meanwhile: the `count`
// messages ann sent ("message 0", ...), in order, with nothing between them.
void check_heard_ann(ChatClient& listener, int count) {
  for (int i = 0; i < count; ++i) {
    const auto message = listener.next_of(ServerFrame::kMessage);
    REQUIRE(message);
    CHECK(message->message().sender() == "ann");
    CHECK(message->message().body() == "message " + std::to_string(i));
  }
}

// The ErrorNotice that answers a refused frame.
relay::v1::ErrorNotice refusal_of(ChatClient& client) {
  const auto frame = client.next_of(ServerFrame::kError);
  REQUIRE(frame);
  return frame->error();
}

// A Follow of `rooms` by the holder of `token`, ended by the relay.
grpc::Status follow_refusal(const std::string& target, const std::string& token,
                            const std::vector<std::string>& rooms) {
  relay::v1::FollowRequest request;
  for (const auto& room : rooms) {
    request.add_rooms()->set_room(room);
  }
  FollowClient follower(target, request, "", token);
  const auto status = follower.wait_status(10s);
  REQUIRE(status);
  return *status;
}

}  // namespace

TEST_CASE("with tokens, a caller without a good one is refused and the others chat on") {
  Keys keys;
  RelayProcess relay({"--auth-key", keys.path("secret"), "--publish-rate-per-second", "0"});
  const std::string secret = keys.text("secret");
  // The names the tokens give win over what the clients say they are.
  ChatClient ann(relay.target(), "not-ann", false, token("HS256", secret, "ann"));
  ChatClient bob(relay.target(), "not-bob", false, token("HS256", secret, "bob"));
  join_and_wait(ann, "team");
  join_and_wait(bob, "team");

  const std::string header = base64url(R"({"alg":"none","typ":"JWT"})");
  const std::string claims =
      base64url(R"({"sub":"mallory","exp":)" + std::to_string(now_s() + 3600) + "}");
  const std::vector<std::pair<std::string, std::string>> attempts = {
      {"", "missing authorization metadata"},
      {"Basic bWFsbG9yeTpwdw==", "authorization metadata must be: Bearer <token>"},
      {"Bearer not-a-token", "invalid token"},
      {"Bearer " + token("HS256", keys.text("other-secret"), "mallory"), "invalid token"},
      {"Bearer " + header + "." + claims + ".", "invalid token"},
      {"Bearer " + token("HS256", secret, "mallory", rooms({"team"}), now_s() - 7200, 3600),
       "token expired"},
      {"Bearer " + token("RS256", keys.text("rsa.key"), "mallory"), "invalid token"},
  };
  int sent = 0;
  for (const auto& [authorization, reason] : attempts) {
    INFO("authorization: ", authorization);
    const grpc::Status status = list_rooms(relay.target(), authorization);
    CHECK(status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(status.error_message().find(reason) != std::string::npos);
    REQUIRE(ann.publish("team", "message " + std::to_string(sent), "m" + std::to_string(sent)));
    ++sent;
  }
  check_heard_ann(bob, sent);

  // Two good tokens for two users: refused, not served as either.
  auto twice = bearing(token("HS256", secret, "ann"));
  twice->AddMetadata("authorization", "Bearer " + token("HS256", secret, "bob"));
  relay::v1::ListRoomsResponse response;
  const grpc::Status status =
      stub(relay.target())->ListRooms(twice.get(), relay::v1::ListRoomsRequest(), &response);
  CHECK(status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK_MESSAGE(
      status.error_message().find("authorization metadata given 2 times") != std::string::npos,
      status.error_message());
}

TEST_CASE("an RS256 relay takes tokens signed with its key pair, not its public key as a secret") {
  Keys keys;
  RelayProcess relay({"--auth-key", keys.path("rsa.pub"), "--auth-algorithm", "RS256"});
  CHECK(list_rooms(relay.target(), "Bearer " + token("RS256", keys.text("rsa.key"), "ann")).ok());
  // The public key is no secret: an HS256 token signed with it is a forgery.
  const grpc::Status confused =
      list_rooms(relay.target(), "Bearer " + token("HS256", keys.text("rsa.pub"), "mallory"));
  CHECK(confused.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(confused.error_message() == "invalid token");
}

TEST_CASE("an ES256 relay takes tokens signed with its EC key, and no other key's") {
  Keys keys;
  RelayProcess relay({"--auth-key", keys.path("ec.pub"), "--auth-algorithm", "ES256"});
  CHECK(list_rooms(relay.target(), "Bearer " + token("ES256", keys.text("ec.key"), "ann")).ok());
  for (const auto& forged : {token("RS256", keys.text("rsa.key"), "mallory"),
                             token("HS256", keys.text("ec.pub"), "mallory")}) {
    const grpc::Status refused = list_rooms(relay.target(), "Bearer " + forged);
    CHECK(refused.error_code() == grpc::StatusCode::UNAUTHENTICATED);
    CHECK(refused.error_message() == "invalid token");
  }
}

TEST_CASE("relay-chat sends the token of its --token-file, and names a file with none") {
  Keys keys;
  RelayProcess relay({"--auth-key", keys.path("secret")});
  std::ofstream(keys.path("alice.token"))
      << token("HS256", keys.text("secret"), "alice", rooms({"team"})) << "\n";
  const auto chat = [&](std::vector<std::string> args, const std::string& input) {
    args.insert(args.begin(), {relay_chat_path(), "--relay", relay.target(), "--timeout", "5"});
    return std::make_unique<ChildProcess>(args, input);
  };

  auto alice = chat({"--token-file", keys.path("alice.token"), "--room", "team"}, "hi\n");
  REQUIRE(alice->wait_exit(30s) == 0);
  CHECK(alice->out().find("alice: hi") != std::string::npos);

  auto anonymous = chat({"rooms"}, "");
  CHECK(anonymous->wait_exit(30s) == 1);
  CHECK(anonymous->err().find("missing authorization metadata") != std::string::npos);

  std::ofstream(keys.path("empty.token")) << "\n";
  auto empty = chat({"--token-file", keys.path("empty.token"), "rooms"}, "");
  CHECK(empty->wait_exit(10s) == 2);
  CHECK(empty->err().find("--token-file " + keys.path("empty.token") + ": no token there") !=
        std::string::npos);
}

TEST_CASE("a token for other rooms is refused in each of theirs, and the others chat on") {
  Keys keys;
  RelayProcess relay({"--auth-key", keys.path("secret"), "--publish-rate-per-second", "0"});
  const std::string secret = keys.text("secret");
  const std::string ann_token = token("HS256", secret, "ann", rooms({"team-*"}));
  ChatClient ann(relay.target(), "ann", false, ann_token);
  ChatClient bob(relay.target(), "bob", false, token("HS256", secret, "bob", rooms({"team-*"})));
  join_and_wait(ann, "team-a");
  join_and_wait(bob, "team-a");
  const std::string mallory_token = token("HS256", secret, "mallory", rooms({"mallory-*"}));
  ChatClient mallory(relay.target(), "mallory", false, mallory_token);
  int sent = 0;
  const auto ann_says_something = [&] {
    REQUIRE(ann.publish("team-a", "message " + std::to_string(sent), "m" + std::to_string(sent)));
    ++sent;
  };

  REQUIRE(mallory.join("team-a"));
  auto refused = refusal_of(mallory);
  CHECK(refused.code() == kPermissionDenied);
  CHECK(refused.room() == "team-a");
  CHECK(refused.message() == "your token does not let you join team-a");
  ann_says_something();

  // The refusals end nothing: the stream goes on in the rooms the token opens.
  join_and_wait(mallory, "mallory-1");
  REQUIRE(mallory.publish("team-a", "I am ann", "spoof"));
  refused = refusal_of(mallory);
  CHECK(refused.code() == kPermissionDenied);
  CHECK(refused.client_message_id() == "spoof");
  CHECK(refused.message() == "your token does not let you publish to team-a");
  CHECK(publish_acked(mallory, "mallory-1", "my own room", "mine").sequence() == 1);
  ann_says_something();

  const grpc::Status followed =
      follow_refusal(relay.target(), mallory_token, {"mallory-1", "team-a"});
  CHECK(followed.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(followed.error_message() == "your token does not let you follow team-a");
  ann_says_something();

  for (const std::string room : {"team-a", "team-none"}) {
    CAPTURE(room);
    // A room that does not exist is refused alike: NOT_FOUND would tell it apart.
    const grpc::Status read = history(relay.target(), mallory_token, room);
    CHECK(read.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(read.error_message() == "your token does not let you read the history of " + room);
    const grpc::Status members = who(relay.target(), mallory_token, room);
    CHECK(members.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    CHECK(members.error_message() == "your token gives you no right in " + room);
  }
  CHECK(history(relay.target(), mallory_token, "mallory-1").ok());
  CHECK(who(relay.target(), mallory_token, "mallory-1").ok());
  CHECK(rooms_seen(relay.target(), mallory_token) == std::vector<std::string>{"mallory-1"});
  CHECK(rooms_seen(relay.target(), ann_token) == std::vector<std::string>{"team-a"});
  ann_says_something();

  const auto summary = publish_batch(relay.target(), mallory_token, {"team-a", "mallory-1"});
  CHECK(summary.accepted() == 1);
  CHECK(summary.rejected() == 1);
  CHECK(summary.first_rejection() == "message 1: your token does not let you publish to team-a");
  ann_says_something();

  // None of mallory's between them.
  check_heard_ann(bob, sent);
}

TEST_CASE("each right of the rooms claim opens only its own way into a room") {
  Keys keys;
  RelayProcess relay({"--auth-key", keys.path("secret"), "--publish-rate-per-second", "0"});
  const std::string secret = keys.text("secret");
  ChatClient ann(relay.target(), "ann", false, token("HS256", secret, "ann", rooms({"ops"})));
  join_and_wait(ann, "ops");
  CHECK(publish_acked(ann, "ops", "deployed", "d1").sequence() == 1);

  // A dashboard: it reads ops, and may not say anything there.
  RoomPermissions reader;
  reader.grant(RoomRight::follow, "ops");
  reader.grant(RoomRight::history, "ops");
  const std::string dashboard = token("HS256", secret, "grafana", reader);
  relay::v1::FollowRequest request;
  request.add_rooms()->set_room("ops");
  FollowClient follower(relay.target(), request, "", dashboard);
  REQUIRE(follower.next(10s));  // the Joined frame: it follows from now
  CHECK(history(relay.target(), dashboard, "ops").ok());
  CHECK(who(relay.target(), dashboard, "ops").ok());
  CHECK(rooms_seen(relay.target(), dashboard) == std::vector<std::string>{"ops"});
  CHECK(publish_batch(relay.target(), dashboard, {"ops"}).rejected() == 1);
  ChatClient chat(relay.target(), "grafana", false, dashboard);
  REQUIRE(chat.join("ops"));
  CHECK(refusal_of(chat).code() == kPermissionDenied);

  CHECK(publish_acked(ann, "ops", "rolled back", "d2").sequence() == 2);
  const auto live = follower.next(10s);
  REQUIRE(live);
  CHECK(live->message().body() == "rolled back");

  SUBCASE("a token without a rooms claim opens no room") {
    const std::string bare = token("HS256", secret, "old", std::nullopt);
    CHECK(rooms_seen(relay.target(), bare).empty());
    ChatClient old(relay.target(), "old", false, bare);
    REQUIRE(old.join("ops"));
    CHECK(refusal_of(old).message() == "your token does not let you join ops");
  }
}

// The examples of relay-token --help, each with what its token must open
// and keep shut on a relay with the same key.
struct TokenExample {
  std::vector<std::string> may_join;
  std::vector<std::string> may_not_join;
  std::vector<std::string> may_follow;
};

TEST_CASE("relay-token prints tokens that open what its --help examples say") {
  Keys keys;
  std::ofstream(keys.path("secret.txt")) << keys.text("secret");
  RelayProcess relay({"--auth-key", keys.path("secret")});
  const std::map<std::string, TokenExample> expectations = {
      {"relay-token --key secret.txt --user alice --rooms 'team-*' --ttl 8h",
       {.may_join = {"team-a", "team-b"}, .may_not_join = {"ops"}, .may_follow = {"team-a"}}},
      {"relay-token --key secret.txt --user grafana --follow ops,alerts --history ops,alerts",
       {.may_join = {}, .may_not_join = {"ops", "alerts"}, .may_follow = {"ops", "alerts"}}},
  };
  ChildProcess help({RELAY_TOKEN_PATH, "--help"}, "");
  REQUIRE(help.wait_exit(10s) == 0);
  std::istringstream lines(help.out());
  std::string line;
  int examples = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("  relay-token ", 0) != 0) {
      continue;
    }
    const std::string example = line.substr(2);
    CAPTURE(example);
    const auto expected = expectations.find(example);
    REQUIRE_MESSAGE(expected != expectations.end(), "an example without an expectation here");
    ++examples;
    // Run by the shell, as a reader would, in the folder of secret.txt.
    ChildProcess minted({"/bin/sh", "-c",
                         "cd " + keys.dir.string() + " && exec " RELAY_TOKEN_PATH +
                             example.substr(std::string("relay-token").size())},
                        "");
    REQUIRE(minted.wait_exit(10s) == 0);
    std::string printed = minted.out();
    while (!printed.empty() && printed.back() == '\n') {
      printed.pop_back();
    }
    ChatClient client(relay.target(), "", false, printed);
    for (const auto& room : expected->second.may_join) {
      join_and_wait(client, room);
    }
    for (const auto& room : expected->second.may_not_join) {
      REQUIRE(client.join(room));
      CHECK(refusal_of(client).code() == kPermissionDenied);
    }
    relay::v1::FollowRequest request;
    for (const auto& room : expected->second.may_follow) {
      request.add_rooms()->set_room(room);
    }
    FollowClient follower(relay.target(), request, "", printed);
    CHECK(follower.next(10s));
  }
  CHECK(examples == static_cast<int>(expectations.size()));

  ChildProcess bad_ttl({RELAY_TOKEN_PATH, "--key", keys.path("secret"), "--user", "alice",
                        "--rooms", "*", "--ttl", "forever"},
                       "");
  CHECK(bad_ttl.wait_exit(10s) == 2);
  CHECK(bad_ttl.err().find("--ttl forever") != std::string::npos);
  ChildProcess no_rooms({RELAY_TOKEN_PATH, "--key", keys.path("secret"), "--user", "alice"}, "");
  CHECK(no_rooms.wait_exit(10s) == 2);
  CHECK(no_rooms.err().find("say which rooms the token opens") != std::string::npos);
  ChildProcess bad_pattern(
      {RELAY_TOKEN_PATH, "--key", keys.path("secret"), "--user", "alice", "--rooms", "a*b"}, "");
  CHECK(bad_pattern.wait_exit(10s) == 2);
  CHECK(bad_pattern.err().find(R"(room pattern "a*b")") != std::string::npos);
}

namespace {

constexpr int kUnauthenticated = 16;  // google.rpc.Code

// A relay whose tokens expire on the second (no leeway) and whose streams
// end 3 s after their token unless refreshed, with its metrics.
std::vector<std::string> short_grace(const Keys& keys) {
  return {"--auth-key",
          keys.path("secret"),
          "--auth-leeway-ms",
          "0",
          "--token-refresh-grace-ms",
          "3000",
          "--publish-rate-per-second",
          "0",
          "--metrics-listen",
          "127.0.0.1:0",
          "--metrics-port-file",
          keys.path("metrics.port")};
}

// A series of the metrics of the relay short_grace(keys) started.
double scraped(const Keys& keys, const std::string& series) {
  int port = 0;
  std::ifstream(keys.path("metrics.port")) >> port;
  const auto found = value(get(port, "/metrics"), series);
  REQUIRE_MESSAGE(found, series);
  return *found;
}

relay::v1::ClientFrame refresh(const std::string& token) {
  relay::v1::ClientFrame frame;
  frame.mutable_refresh()->set_token(token);
  return frame;
}

// On a short_grace relay, ann with a token of 4 s and bob with one of an
// hour, both in team.
struct ExpiringChat {
  ExpiringChat() {
    join_and_wait(ann, "team");
    join_and_wait(bob, "team");
  }

  Keys keys;
  RelayProcess relay{short_grace(keys)};
  const std::string secret = keys.text("secret");
  const std::int64_t issued = now_s();
  ChatClient ann{relay.target(), "", false,
                 token("HS256", secret, "ann", rooms({"team"}), issued, 4)};
  ChatClient bob{relay.target(), "", false, token("HS256", secret, "bob", rooms({"team"}))};
};

}  // namespace

TEST_CASE("a stream is told ahead that its token expires, refreshes it in band and loses nothing") {
  ExpiringChat chat;
  auto& [keys, relay, secret, issued, ann, bob] = chat;
  REQUIRE(ann.publish("team", "message 0", "m0"));

  // Half of what is left of a 4 s token: within about 3 s of the join.
  const auto expiring = ann.next_of(ServerFrame::kTokenExpiring, 6s);
  REQUIRE(expiring);
  CHECK(expiring->token_expiring().expires_at_s() == issued + 4);
  CHECK(expiring->token_expiring().ends_in_ms() > 0);
  CHECK(expiring->token_expiring().ends_in_ms() <= 7000);

  const std::int64_t fresh_issued = now_s();
  REQUIRE(ann.write(refresh(token("HS256", secret, "ann", rooms({"team"}), fresh_issued, 3600))));
  const auto refreshed = ann.next_of(ServerFrame::kTokenRefreshed, 5s);
  REQUIRE(refreshed);
  CHECK(refreshed->token_refreshed().expires_at_s() == fresh_issued + 3600);

  // Past the old token's end and its grace, the stream serves both ways.
  while (now_s() < issued + 4 + 3 + 1) {
    std::this_thread::sleep_for(100ms);
  }
  REQUIRE(ann.publish("team", "message 1", "m1"));
  check_heard_ann(bob, 2);
  REQUIRE(bob.publish("team", "still here?", "b0"));
  const auto heard = ann.next_matching(
      [](const ServerFrame& frame) { return frame.message().sender() == "bob"; }, 5s);
  REQUIRE(heard);
  CHECK(heard->message().body() == "still here?");
  CHECK_FALSE(ann.wait_status(0ms));
  CHECK(scraped(keys, "relay_token_refreshes_total") == 1);
  CHECK(scraped(keys, "relay_token_expired_streams_total") == 0);
}

TEST_CASE(
    "a stream not refreshed ends UNAUTHENTICATED after the grace, and bad refreshes do not save "
    "it") {
  ExpiringChat chat;
  auto& [keys, relay, secret, issued, ann, bob] = chat;
  relay::v1::FollowRequest request;
  request.add_rooms()->set_room("team");
  FollowClient follower(relay.target(), request, "",
                        token("HS256", secret, "carl", rooms({"team"}), issued, 4));
  REQUIRE(follower.next());  // its Joined

  const std::vector<std::pair<std::string, std::string>> refusals = {
      {token("HS256", secret, "mallory", rooms({"team"})),
       "refresh refused: the token is for another user"},
      {token("HS256", keys.text("other-secret"), "ann", rooms({"team"})),
       "refresh refused: invalid token"},
      {token("HS256", secret, "ann", rooms({"team"}), issued - 7200, 3600),
       "refresh refused: token expired"},
  };
  for (const auto& [fresh, reason] : refusals) {
    INFO(reason);
    REQUIRE(ann.write(refresh(fresh)));
    const auto refused = refusal_of(ann);
    CHECK(refused.code() == (reason.find("another user") != std::string::npos ? kPermissionDenied
                                                                              : kUnauthenticated));
    CHECK(refused.message().find(reason) != std::string::npos);
  }
  // The same token again gains nothing, and not more than one a second.
  const std::string same = token("HS256", secret, "ann", rooms({"team"}), issued, 4);
  REQUIRE(ann.write(refresh(same)));
  auto refused = refusal_of(ann);
  CHECK(refused.code() == static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  CHECK(refused.message() == "refreshing too fast: at most 1 refreshes per second on one stream");
  REQUIRE(refused.retry_after_ms() > 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(refused.retry_after_ms()));
  REQUIRE(ann.write(refresh(same)));
  refused = refusal_of(ann);
  CHECK(refused.code() == static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));
  CHECK(refused.message().find("expires no later than the one this stream holds") !=
        std::string::npos);

  const auto ended = ann.wait_status(15s);
  REQUIRE(ended);
  CHECK(now_s() >= issued + 4 + 3);
  CHECK(ended->error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(ended->error_message().find("your token expired") != std::string::npos);

  // A follower cannot refresh in band: it is told, then ended the same way.
  bool told = false;
  while (auto frame = follower.next(15s)) {
    told = told || frame->has_token_expiring();
  }
  CHECK(told);
  const auto follow_ended = follower.wait_status(10s);
  REQUIRE(follow_ended);
  CHECK(follow_ended->error_code() == grpc::StatusCode::UNAUTHENTICATED);

  // The others go on.
  CHECK(publish_acked(bob, "team", "after", "b1").sequence() == 1);
  CHECK(scraped(keys, "relay_token_expired_streams_total") == 2);
  CHECK(scraped(keys, "relay_refusals_total{code=\"unauthenticated\"}") == 2);
}

namespace {

// Sleeps until `ms` milliseconds since the epoch have passed on the wall
// clock that tokens are checked by.
void sleep_until_unix_ms(std::int64_t ms) {
  std::this_thread::sleep_until(
      std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
}

}  // namespace

TEST_CASE("nothing a stream sends just past its token's end and grace counts") {
  ExpiringChat chat;
  auto& [keys, relay, secret, issued, ann, bob] = chat;
  // 20 ms past exp + grace: sooner than any periodic check of the relay's
  // would see it.
  sleep_until_unix_ms((issued + 4) * 1000 + 3000 + 20);
  // The relay's check may have ended the stream already: the write may fail.
  ann.publish("team", "too late", "late");
  const auto ended = ann.wait_status(5s);
  REQUIRE(ended);
  CHECK(ended->error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(ended->error_message().find("your token expired") != std::string::npos);
  // The room numbered nothing of ann's: bob's message is its first.
  CHECK(publish_acked(bob, "team", "after", "b0").sequence() == 1);
}

TEST_CASE("a PublishBatch ends UNAUTHENTICATED at its first message past its token's end") {
  ExpiringChat chat;
  auto& [keys, relay, secret, issued, ann, bob] = chat;
  relay::v1::PublishBatchSummary summary;
  auto context = bearing(token("HS256", secret, "ann", rooms({"team"}), issued, 4));
  auto writer = stub(relay.target())->PublishBatch(context.get(), &summary);
  REQUIRE(writer->Write(batch_message("team", "in time", "b-1")));
  const auto first = bob.next_of(ServerFrame::kMessage);
  REQUIRE(first);
  CHECK(first->message().body() == "in time");

  sleep_until_unix_ms((issued + 4) * 1000 + 3000 + 20);
  // The relay may end the call at the first of these: later writes may fail.
  writer->Write(batch_message("team", "too late", "b-2"));
  writer->Write(batch_message("team", "too late again", "b-3"));
  writer->WritesDone();
  const grpc::Status status = writer->Finish();
  CHECK(status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK_MESSAGE(status.error_message().find("your token expired") != std::string::npos,
                status.error_message());
  CHECK_MESSAGE(status.error_message().find("it processed this batch's messages 1 to 1 (1 "
                                            "accepted, 0 rejected)") != std::string::npos,
                status.error_message());
  CHECK(trailer(*context, "x-relay-processed") == "1");
  CHECK(trailer(*context, "x-relay-accepted") == "1");
  // The room numbered only the message in time before bob's.
  CHECK(publish_acked(bob, "team", "after", "b0").sequence() == 2);
  // Counted with ann's chat stream, which ran out with the same token.
  REQUIRE(ann.wait_status(5s));
  CHECK(scraped(keys, "relay_token_expired_streams_total") == 2);
}

TEST_CASE("a fresh token's rooms replace the old ones: a room it does not grant is left") {
  Keys keys;
  RelayProcess relay(short_grace(keys));
  const std::string secret = keys.text("secret");
  ChatClient ann(relay.target(), "", false, token("HS256", secret, "ann", rooms({"team-*"})));
  ChatClient bob(relay.target(), "", false, token("HS256", secret, "bob", rooms({"team-*"})));
  join_and_wait(ann, "team-a");
  join_and_wait(ann, "team-b");
  join_and_wait(bob, "team-b");

  // A later exp than the first token's: one no later would gain nothing.
  REQUIRE(ann.write(refresh(token("HS256", secret, "ann", rooms({"team-a"}), now_s(), 7200))));
  const auto refreshed = ann.next(5s);
  REQUIRE(refreshed);
  CHECK(refreshed->has_token_refreshed());
  const auto notice = ann.next(5s);
  REQUIRE(notice);
  CHECK(notice->error().code() == kPermissionDenied);
  CHECK(notice->error().room() == "team-b");
  CHECK(notice->error().message() == "your token does not let you join team-b: left it");
  const auto left = ann.next(5s);
  REQUIRE(left);
  CHECK(left->left().room() == "team-b");

  CHECK(publish_acked(bob, "team-b", "ann cannot hear this", "b0").sequence() == 1);
  REQUIRE(ann.join("team-b"));
  CHECK(refusal_of(ann).code() == kPermissionDenied);
  CHECK(publish_acked(ann, "team-a", "still in team-a", "a0").sequence() == 1);
}

TEST_CASE("a Refresh on a relay without tokens is refused and the stream goes on") {
  RelayProcess relay;
  ChatClient ann(relay.target(), "ann");
  REQUIRE(ann.write(refresh("anything")));
  const auto refused = refusal_of(ann);
  CHECK(refused.code() == static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));
  CHECK(refused.message() == "this relay does not use tokens: there is nothing to refresh");
  join_and_wait(ann, "lobby");
}

TEST_CASE("relay-chat keeps chatting and following across token expiries, from --token-command") {
  Keys keys;
  RelayProcess relay(short_grace(keys));
  const std::string secret = keys.text("secret");
  ChatClient bob(relay.target(), "", false, token("HS256", secret, "bob", rooms({"team"})));
  join_and_wait(bob, "team");
  // Every token relay-chat gets lives 3 s: over 9 s it refreshes several times.
  const std::string mint = std::string(RELAY_TOKEN_PATH) + " --key " + keys.path("secret") +
                           " --rooms team --ttl 3s --user ";
  ChildProcess carl({relay_chat_path(), "--relay", relay.target(), "--token-command", mint + "carl",
                     "follow", "team"},
                    "");
  // Following before alice speaks, so that it hears her first line.
  REQUIRE(wait_until([&] { return carl.err().find("joined #team") != std::string::npos; }, 20s));
  ChildProcess alice({"/bin/sh", "-c",
                      "for i in 1 2 3 4 5 6 7 8 9; do echo line $i; sleep 1; done | " +
                          relay_chat_path() + " --relay " + relay.target() +
                          " --timeout 5 --room team --token-command '" + mint + "alice'"},
                     "");
  for (int i = 1; i <= 9; ++i) {
    const auto message = bob.next_matching(
        [](const ServerFrame& frame) { return frame.message().sender() == "alice"; }, 10s);
    REQUIRE(message);
    CHECK(message->message().body() == "line " + std::to_string(i));
    if (i == 6) {
      REQUIRE(bob.publish("team", "hello alice", "b0"));
    }
  }
  REQUIRE(alice.wait_exit(30s) == 0);
  REQUIRE(carl.wait_for_output("alice: line 9", 10s));
  carl.signal(SIGINT);
  REQUIRE(carl.wait_exit(10s));

  const auto count = [](const std::string& text, const std::string& what) {
    std::size_t found = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) {
      ++found;
    }
    return found;
  };
  CHECK(count(alice.out(), "bob: hello alice") == 1);
  for (int i = 1; i <= 9; ++i) {
    CHECK(count(carl.out(), "alice: line " + std::to_string(i) + "\n") == 1);
  }
  // Nothing the user would notice: no refusal, no reconnection.
  for (const auto* err : {&alice, &carl}) {
    CAPTURE(err->err());
    CHECK(err->err().find("refused") == std::string::npos);
    CHECK(err->err().find("reconnect") == std::string::npos);
    CHECK(err->err().find("rejoined") == std::string::npos);
  }
}
