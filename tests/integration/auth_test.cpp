// Tokens from the outside: while two users with good tokens chat, a third
// tries every way in that must fail, and each gets UNAUTHENTICATED with a
// reason that gives nothing away; the two lose nothing.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/tokens.hpp"
#include "tests/integration/child_process.hpp"
#include "tests/integration/relay_process.hpp"
#include "tests/integration/scratch_directory.hpp"
#include "tests/integration/test_clients.hpp"

using namespace relay::testing;
using namespace std::chrono_literals;
using relay::v1::ServerFrame;

namespace {

std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Keys made for this run: an HS256 secret, and an RSA pair for RS256.
struct Keys : ScratchDirectory {
  Keys() : ScratchDirectory("relay-auth-test") {
    std::ofstream(path("secret")) << "a shared secret of well over thirty-two bytes\n";
    std::ofstream(path("other-secret")) << "another secret, also over thirty-two bytes long\n";
    const std::string rsa = "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " +
                            path("rsa.key") + " >/dev/null 2>&1 && openssl pkey -in " +
                            path("rsa.key") + " -pubout -out " + path("rsa.pub") +
                            " >/dev/null 2>&1";
    REQUIRE(std::system(rsa.c_str()) == 0);
  }
};

std::string token(const std::string& algorithm, const std::string& key, const std::string& user,
                  std::int64_t issued_s = now_s(), std::int64_t ttl_s = 3600) {
  relay::common::TokenRequest request;
  request.algorithm = algorithm;
  request.key = key;
  request.user = user;
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
      {"Bearer " + token("HS256", secret, "mallory", now_s() - 7200, 3600), "token expired"},
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
  for (int i = 0; i < sent; ++i) {
    const auto message = bob.next_of(ServerFrame::kMessage);
    REQUIRE(message);
    CHECK(message->message().sender() == "ann");
    CHECK(message->message().body() == "message " + std::to_string(i));
  }
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

TEST_CASE("relay-chat sends the token of its --token-file, and names a file with none") {
  Keys keys;
  RelayProcess relay({"--auth-key", keys.path("secret")});
  std::ofstream(keys.path("alice.token")) << token("HS256", keys.text("secret"), "alice") << "\n";
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

TEST_CASE("relay-token prints a token the relay takes, as its --help example shows") {
  Keys keys;
  RelayProcess relay({"--auth-key", keys.path("secret")});
  ChildProcess minted(
      {RELAY_TOKEN_PATH, "--key", keys.path("secret"), "--user", "alice", "--ttl", "8h"}, "");
  REQUIRE(minted.wait_exit(10s) == 0);
  std::string printed = minted.out();
  while (!printed.empty() && printed.back() == '\n') {
    printed.pop_back();
  }
  CHECK(list_rooms(relay.target(), "Bearer " + printed).ok());

  ChildProcess bad_ttl(
      {RELAY_TOKEN_PATH, "--key", keys.path("secret"), "--user", "alice", "--ttl", "forever"}, "");
  CHECK(bad_ttl.wait_exit(10s) == 2);
  CHECK(bad_ttl.err().find("--ttl forever") != std::string::npos);
}
