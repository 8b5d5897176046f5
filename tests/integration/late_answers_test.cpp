// PublishBatch and Chat against a backplane that answers late, from threads
// of its own, as a broker's will (issue 13): the relay's own service in this
// process on 127.0.0.1 port 0, real gRPC clients. Under AddressSanitizer,
// these catch a reactor touched after gRPC deleted it; every case also checks
// that each message is counted exactly once, accepted or rejected.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/config.hpp"
#include "relay/service/relay_service.hpp"
#include "relay/service/server_options.hpp"
#include "tests/integration/test_clients.hpp"
#include "tests/support/late_backplane.hpp"

using namespace relay::testing;
using relay::common::RelayConfig;
using relay::service::RelayService;
using relay::v1::PublishBatchSummary;
using relay::v1::PublishRequest;
using relay::v1::ServerFrame;

namespace {

RelayConfig late_config() {
  RelayConfig config;
  config.publish_rate_per_second = 1e6;
  config.publish_burst = 1'000'000;
  // A user's second room is refused by the backplane (creation_refused), so
  // that answers carry rejections as well as sequences.
  config.room_creations_per_user_per_minute = 1;
  return config;
}

// relay-server in this process, over a LateBackplane; stop() shuts it down as
// relay-server does on SIGTERM.
class LateRelay {
 public:
  explicit LateRelay(LateBackplane::Options options = {})
      : service_(config_, [this, options](relay::hub::Hub& hub) {
          auto backplane = std::make_unique<LateBackplane>(hub, options);
          backplane_ = backplane.get();
          return backplane;
        }) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    relay::service::apply_server_options(builder, config_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    REQUIRE(server_);
    REQUIRE(port_ != 0);
  }
  ~LateRelay() { stop(); }
  LateRelay(const LateRelay&) = delete;
  LateRelay& operator=(const LateRelay&) = delete;

  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  LateBackplane& backplane() { return *backplane_; }
  RelayService& service() { return service_; }

  // Returns once gRPC has ended every call, which a batch waiting for its
  // answers holds up until they came.
  void stop() {
    if (!server_) {
      return;
    }
    service_.begin_shutdown();
    service_.wait_drained(std::chrono::steady_clock::now() + 5s);
    server_->Shutdown(std::chrono::system_clock::now() + 250ms);
    server_->Wait();
    server_.reset();
  }

  std::uint64_t room_sequence(const std::string& room) {
    for (const auto& info : service_.hub().list_rooms()) {
      if (info.room == room) {
        return info.sequence;
      }
    }
    return 0;
  }

 private:
  const RelayConfig config_ = late_config();
  LateBackplane* backplane_ = nullptr;  // owned by service_, set while it is built
  RelayService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

struct BatchOutcome {
  grpc::Status status;
  PublishBatchSummary summary;
};

// Writes every request, half-closes at once and waits for the relay's answer.
BatchOutcome send_batch(const std::string& target, const std::string& user,
                        const std::vector<PublishRequest>& requests) {
  auto relay_stub = stub(target);
  auto context = context_for(user);
  // gRPC 1.51 can fail a connect still in progress, when errno is
  // overwritten between connect(2) and its check (grpc/grpc#35064); the
  // channel then retries, and so may a call that waits for it.
  context->set_wait_for_ready(true);
  BatchOutcome outcome;
  auto writer = relay_stub->PublishBatch(context.get(), &outcome.summary);
  for (const auto& request : requests) {
    if (!writer->Write(request)) {
      break;
    }
  }
  writer->WritesDone();
  outcome.status = writer->Finish();
  return outcome;
}

}  // namespace

TEST_CASE("a batch half-closed at once is summarised whole, however late its answers come") {
  LateRelay relay;
  bool held = false;
  SUBCASE("answers come while the batch is still read") {}
  SUBCASE("every answer comes after the client half-closed") { held = true; }

  constexpr int kRounds = 10;
  constexpr int kClients = 4;
  constexpr int kMessages = 250;
  // Of each batch: every tenth an empty body (refused as it is read), and
  // ten to rooms the user may not create (refused by the backplane).
  constexpr std::uint64_t kEmpty = 25;
  constexpr std::uint64_t kUncreated = 10;
  constexpr std::uint64_t kAccepted = kMessages - kEmpty - kUncreated;
  for (int round = 0; round < kRounds; ++round) {
    if (held) {
      relay.backplane().hold();
    }
    const std::uint64_t published_before = relay.backplane().published();
    std::vector<std::future<BatchOutcome>> outcomes;
    for (int client = 0; client < kClients; ++client) {
      const std::string user = "u" + std::to_string(round) + "-" + std::to_string(client);
      std::vector<PublishRequest> requests;
      for (int i = 0; i < kMessages; ++i) {
        const std::string id = user + "-" + std::to_string(i);
        if (i % 10 == 3) {
          requests.push_back(batch_message("late-" + user, "", id));
        } else if (i % 25 == 7) {
          requests.push_back(batch_message("other-" + id, "body", id));
        } else {
          requests.push_back(batch_message("late-" + user, "body " + id, id));
        }
      }
      outcomes.push_back(std::async(std::launch::async, [&relay, user, requests] {
        return send_batch(relay.target(), user, requests);
      }));
    }
    if (held) {
      REQUIRE(relay.backplane().wait_published(
          published_before + kClients * (kAccepted + kUncreated), 20s));
      relay.backplane().release();
    }
    for (auto& pending : outcomes) {
      REQUIRE(pending.wait_for(30s) == std::future_status::ready);
      const BatchOutcome outcome = pending.get();
      REQUIRE_MESSAGE(outcome.status.ok(), outcome.status.error_message());
      CHECK(outcome.summary.accepted() == kAccepted);
      CHECK(outcome.summary.rejected() == kEmpty + kUncreated);
      CHECK(outcome.summary.first_sequence() == 1);
      CHECK(outcome.summary.last_sequence() == kAccepted);
    }
  }
}

TEST_CASE("a batch cancelled mid-way waits for its answers, and each is counted once") {
  LateRelay relay;
  bool held = false;
  SUBCASE("answers racing the cancel") {}
  SUBCASE("every answer after the cancel") { held = true; }

  constexpr int kRounds = 20;
  constexpr int kMessages = 100;
  for (int round = 0; round < kRounds; ++round) {
    const std::string user = "c" + std::to_string(round);
    if (held) {
      relay.backplane().hold();
    }
    auto relay_stub = stub(relay.target());
    auto context = context_for(user);
    PublishBatchSummary summary;
    auto writer = relay_stub->PublishBatch(context.get(), &summary);
    for (int i = 0; i < kMessages; ++i) {
      REQUIRE(
          writer->Write(batch_message("cancel-" + user, "body", user + "-" + std::to_string(i))));
    }
    if (held) {
      REQUIRE(relay.backplane().wait_published(static_cast<std::uint64_t>((round + 1) * kMessages),
                                               20s));
    }
    context->TryCancel();
    relay.backplane().release();
    CHECK(writer->Finish().error_code() == grpc::StatusCode::CANCELLED);
  }
  // Every batch ends on the relay, or stopping would wait for ever (the test's
  // time bound ends it then); each publish that reached the backplane is in
  // its room exactly once.
  relay.stop();
  const std::uint64_t published = relay.backplane().published();
  // The last answer of each batch ends it before its worker counts it.
  CHECK(relay.backplane().wait_answered(published, 10s));
  std::uint64_t stored = 0;
  for (int round = 0; round < kRounds; ++round) {
    stored += relay.room_sequence("cancel-c" + std::to_string(round));
  }
  CHECK(stored == published);
}

TEST_CASE("chat acks that come after the stream ended are dropped, and the messages stay") {
  LateRelay relay;
  ChatClient ann(relay.target(), "ann");
  join_and_wait(ann, "acks");
  // Keeps the room when ann's stream leaves it, and sees the messages come.
  ChatClient bob(relay.target(), "bob");
  join_and_wait(bob, "acks");
  constexpr int kMessages = 50;
  bool cancel = false;
  bool held = true;
  SUBCASE("the client half-closed before any answer") {}
  SUBCASE("the client cancelled before any answer") { cancel = true; }
  SUBCASE("the client half-closed while answers came") { held = false; }
  if (held) {
    relay.backplane().hold();
  }
  for (int i = 0; i < kMessages; ++i) {
    REQUIRE(ann.publish("acks", "body", "ack-" + std::to_string(i)));
  }
  REQUIRE(relay.backplane().wait_published(kMessages, 10s));
  if (cancel) {
    ann.cancel();
    REQUIRE(ann.wait_status());
  } else {
    CHECK(ann.finish().ok());
  }
  relay.backplane().release();
  REQUIRE(relay.backplane().wait_answered(kMessages, 10s));
  CHECK(relay.room_sequence("acks") == kMessages);
  for (int i = 0; i < kMessages; ++i) {
    const auto frame = bob.next_of(ServerFrame::kMessage);
    REQUIRE(frame);
    CHECK(frame->message().sequence() == static_cast<std::uint64_t>(i + 1));
  }
}

TEST_CASE("a shutdown with answers outstanding reports every accepted message as accepted") {
  LateRelay relay;
  ChatClient member(relay.target(), "member");
  join_and_wait(member, "drain");
  // A message in its history keeps the room when the shutdown takes its last
  // member out; the member could not create it again (one room a minute).
  publish_acked(member, "drain", "first", "first");
  relay.backplane().hold();

  constexpr int kBatch = 30;
  constexpr int kChat = 10;
  auto relay_stub = stub(relay.target());
  auto context = context_for("ann");
  PublishBatchSummary summary;
  auto writer = relay_stub->PublishBatch(context.get(), &summary);
  for (int i = 0; i < kBatch; ++i) {
    REQUIRE(writer->Write(batch_message("drain", "body", "batch-" + std::to_string(i))));
  }
  for (int i = 0; i < kChat; ++i) {
    REQUIRE(member.publish("drain", "body", "chat-" + std::to_string(i)));
  }
  REQUIRE(relay.backplane().wait_published(1 + kBatch + kChat, 10s));

  relay.service().begin_shutdown();
  const auto ended = member.wait_status();
  REQUIRE(ended);
  CHECK(ended->error_code() == grpc::StatusCode::UNAVAILABLE);
  // The member was never told that a publish of its own was refused.
  while (const auto frame = member.next(0ms)) {
    CHECK(frame->kind_case() != ServerFrame::kError);
  }
  relay.backplane().release();
  writer->WritesDone();
  const grpc::Status status = writer->Finish();
  CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
  CHECK(trailer(*context, "x-relay-accepted") == std::to_string(kBatch));
  CHECK(trailer(*context, "x-relay-processed") == std::to_string(kBatch));
  relay.stop();
  CHECK(relay.backplane().wait_answered(1 + kBatch + kChat, 10s));
  CHECK(relay.room_sequence("drain") == 1 + kBatch + kChat);
}
