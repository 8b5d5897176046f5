// Who is in a room and how the others learn of it, plus the standard health
// and reflection services, each against a real relay.
#include <doctest/doctest.h>

#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/generic/generic_stub.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/relay_process.hpp"
#include "tests/integration/test_clients.hpp"

using namespace relay::testing;
using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;
using relay::v1::Presence;
using relay::v1::ServerFrame;

namespace {

// The next presence frame, skipping other frames.
std::optional<Presence> next_presence(ChatClient& client) {
  const auto frame = client.next_of(ServerFrame::kPresence);
  if (!frame) {
    return std::nullopt;
  }
  return frame->presence();
}

void check_presence(const std::optional<Presence>& presence, const std::string& room,
                    const std::string& user, Presence::Kind kind) {
  REQUIRE(presence);
  CHECK(presence->room() == room);
  CHECK(presence->user() == user);
  CHECK(presence->kind() == kind);
}

// The room's members and their stream counts; nullopt when the query fails.
std::optional<std::map<std::string, std::uint32_t>> members_of(relay::v1::Relay::Stub& relay,
                                                               const std::string& room) {
  relay::v1::WhoRequest request;
  request.set_room(room);
  relay::v1::WhoResponse response;
  if (!relay.Who(context_for("watcher", 5s).get(), request, &response).ok()) {
    return std::nullopt;
  }
  std::map<std::string, std::uint32_t> members;
  for (const auto& member : response.members()) {
    members[member.user()] = member.streams();
  }
  return members;
}

// Polls Who until `user` has `streams` streams in `room` (0: is no member) or
// the deadline passes. Polling is fine here: membership is state, not an event
// a client is told of.
bool who_reaches(const std::string& target, const std::string& room, const std::string& user,
                 std::uint32_t streams, std::chrono::steady_clock::time_point deadline) {
  auto relay = stub(target);
  for (int poll = 0; poll < 1000; ++poll) {
    const auto members = members_of(*relay, room);
    if (members) {
      const auto found = members->find(user);
      const std::uint32_t now = found == members->end() ? 0 : found->second;
      if (now == streams) {
        return true;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

std::string to_string(const grpc::ByteBuffer& buffer) {
  grpc::Slice slice;
  if (!buffer.DumpToSingleSlice(&slice).ok()) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(slice.begin()), slice.size());
}

grpc::ByteBuffer to_buffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// The installed gRPC ships no generated code for the health and reflection
// protocols, so these calls go through the generic stub with messages
// encoded and decoded field by field (UnknownFieldSet reads any message).
std::string encode_string_field(int number, const std::string& value) {
  UnknownFieldSet fields;
  fields.AddLengthDelimited(number, value);
  std::string bytes;
  fields.SerializeToString(&bytes);
  return bytes;
}

// grpc.health.v1.Health/Check: HealthCheckRequest{string service = 1},
// HealthCheckResponse{ServingStatus status = 1} (SERVING is 1).
struct HealthAnswer {
  grpc::Status status;
  std::uint64_t serving_status = 0;
};

HealthAnswer check_health(const std::string& target, const std::string& service) {
  grpc::GenericStub generic(connect(target));
  grpc::CompletionQueue queue;
  auto context = context_for("", 10s);
  const grpc::ByteBuffer request =
      to_buffer(service.empty() ? std::string() : encode_string_field(1, service));
  auto call =
      generic.PrepareUnaryCall(context.get(), "/grpc.health.v1.Health/Check", request, &queue);
  call->StartCall();
  grpc::ByteBuffer reply;
  HealthAnswer answer;
  call->Finish(&reply, &answer.status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  queue.Next(&tag, &ok);  // bounded by the call's deadline
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  if (answer.status.ok()) {
    UnknownFieldSet fields;
    REQUIRE(fields.ParseFromString(to_string(reply)));
    for (int i = 0; i < fields.field_count(); ++i) {
      if (fields.field(i).number() == 1 && fields.field(i).type() == UnknownField::TYPE_VARINT) {
        answer.serving_status = fields.field(i).varint();
      }
    }
  }
  return answer;
}

// grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo with one
// list_services request (field 7); the answer's list_services_response
// (field 6) holds ServiceResponse messages (field 1) with a name (field 1).
std::vector<std::string> reflected_services(const std::string& target) {
  grpc::GenericStub generic(connect(target));
  grpc::CompletionQueue queue;
  auto context = context_for("", 10s);
  auto call = generic.PrepareCall(
      context.get(), "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &queue);
  // One operation at a time, each awaited; all bounded by the call's deadline.
  auto step = [&queue](int number) {
    void* tag = nullptr;
    bool ok = false;
    return queue.Next(&tag, &ok) && ok && tag == reinterpret_cast<void*>(number);
  };
  std::vector<std::string> names;
  grpc::ByteBuffer reply;
  bool steps_ok = false;
  call->StartCall(reinterpret_cast<void*>(1));
  if (step(1)) {
    call->Write(to_buffer(encode_string_field(7, "")), reinterpret_cast<void*>(2));
    if (step(2)) {
      call->Read(&reply, reinterpret_cast<void*>(3));
      steps_ok = step(3);
    }
  }
  call->WritesDone(reinterpret_cast<void*>(4));
  step(4);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  step(5);
  queue.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (queue.Next(&tag, &ok)) {
  }
  REQUIRE_MESSAGE(steps_ok, "no reflection answer; status: ", status.error_message());

  UnknownFieldSet response;
  REQUIRE(response.ParseFromString(to_string(reply)));
  for (int i = 0; i < response.field_count(); ++i) {
    if (response.field(i).number() != 6 ||
        response.field(i).type() != UnknownField::TYPE_LENGTH_DELIMITED) {
      continue;
    }
    UnknownFieldSet list;
    REQUIRE(list.ParseFromString(response.field(i).length_delimited()));
    for (int s = 0; s < list.field_count(); ++s) {
      UnknownFieldSet service;
      if (list.field(s).number() == 1 &&
          list.field(s).type() == UnknownField::TYPE_LENGTH_DELIMITED &&
          service.ParseFromString(list.field(s).length_delimited())) {
        for (int n = 0; n < service.field_count(); ++n) {
          if (service.field(n).number() == 1 &&
              service.field(n).type() == UnknownField::TYPE_LENGTH_DELIMITED) {
            names.push_back(service.field(n).length_delimited());
          }
        }
      }
    }
  }
  return names;
}

}  // namespace

TEST_CASE("leaving a room stops delivery") {
  RelayProcess relay;
  ChatClient ann(relay.target(), "ann");
  ChatClient bob(relay.target(), "bob");
  for (const char* room : {"left", "kept"}) {
    join_and_wait(ann, room);
    join_with_presence(bob, room);
  }
  REQUIRE(bob.publish("left", "before", "bob-1"));
  const auto before = ann.next_of(ServerFrame::kMessage);
  REQUIRE(before);
  CHECK(before->message().room() == "left");
  CHECK(before->message().body() == "before");

  REQUIRE(ann.leave("left"));
  // ann is told the leave took effect; nothing of the room comes after.
  const auto confirmed = ann.next_of(ServerFrame::kLeft);
  REQUIRE(confirmed);
  CHECK(confirmed->left().room() == "left");
  // bob hears of the leave once it took effect, so his next publish comes
  // after it.
  const auto left = bob.next_matching([](const ServerFrame& f) {
    return f.kind_case() == ServerFrame::kPresence && f.presence().room() == "left" &&
           f.presence().kind() == Presence::KIND_LEFT;
  });
  REQUIRE(left);
  CHECK(left->presence().user() == "ann");

  REQUIRE(bob.publish("left", "after", "bob-2"));
  REQUIRE(bob.publish("kept", "marker", "bob-3"));
  // ann's frames keep the relay's order: a message of the left room would
  // come before the marker.
  const auto next = ann.next_of(ServerFrame::kMessage);
  REQUIRE(next);
  CHECK(next->message().room() == "kept");
  CHECK(next->message().body() == "marker");
  // The room itself went on: bob got his message there.
  const auto own = bob.next_matching([](const ServerFrame& f) {
    return f.kind_case() == ServerFrame::kMessage && f.message().room() == "left" &&
           f.message().body() == "after";
  });
  CHECK(own);
}

TEST_CASE("a client that goes away disappears from Who within a second") {
  RelayProcess relay;
  auto ann = std::make_unique<ChatClient>(relay.target(), "ann");
  ChatClient bob(relay.target(), "bob");
  join_and_wait(*ann, "room");
  join_and_wait(bob, "room");
  REQUIRE(who_reaches(relay.target(), "room", "ann", 1, std::chrono::steady_clock::now() + 1s));

  std::chrono::steady_clock::time_point gone_at;
  SUBCASE("it cancels its stream") {
    gone_at = std::chrono::steady_clock::now();
    ann->cancel();
    const auto status = ann->wait_status();
    REQUIRE(status);
    CHECK(status->error_code() == grpc::StatusCode::CANCELLED);
  }
  SUBCASE("it half-closes its stream") {
    gone_at = std::chrono::steady_clock::now();
    CHECK(ann->finish().ok());
  }
  SUBCASE("its stream and channel are destroyed") {
    gone_at = std::chrono::steady_clock::now();
    ann.reset();
  }

  CHECK(who_reaches(relay.target(), "room", "ann", 0, gone_at + 1s));
  CHECK(who_reaches(relay.target(), "room", "bob", 1, std::chrono::steady_clock::now()));
}

TEST_CASE("presence: a member that asked for it sees others join and leave") {
  RelayProcess relay;
  ChatClient ann(relay.target(), "ann");
  ChatClient bob(relay.target(), "bob");
  join_with_presence(ann, "lobby");
  join_and_wait(bob, "lobby");
  check_presence(next_presence(ann), "lobby", "bob", Presence::KIND_JOINED);

  SUBCASE("by leaving the room") { REQUIRE(bob.leave("lobby")); }
  SUBCASE("by ending the stream") { CHECK(bob.finish().ok()); }
  SUBCASE("by cancelling the stream") { bob.cancel(); }

  check_presence(next_presence(ann), "lobby", "bob", Presence::KIND_LEFT);
}

TEST_CASE(
    "presence: a user with several streams is announced when the first joins and the last "
    "leaves") {
  RelayProcess relay;
  ChatClient ann(relay.target(), "ann");
  ChatClient bob_phone(relay.target(), "bob");
  ChatClient bob_laptop(relay.target(), "bob");
  ChatClient carol(relay.target(), "carol");
  join_with_presence(ann, "lobby");
  join_and_wait(bob_phone, "lobby");
  check_presence(next_presence(ann), "lobby", "bob", Presence::KIND_JOINED);

  // Each unannounced step is followed by an announced one (carol's): a
  // presence for the first would come before it.
  join_and_wait(bob_laptop, "lobby");
  join_and_wait(carol, "lobby");
  check_presence(next_presence(ann), "lobby", "carol", Presence::KIND_JOINED);

  REQUIRE(bob_phone.leave("lobby"));
  REQUIRE(who_reaches(relay.target(), "lobby", "bob", 1, std::chrono::steady_clock::now() + 5s));
  REQUIRE(carol.leave("lobby"));
  check_presence(next_presence(ann), "lobby", "carol", Presence::KIND_LEFT);

  REQUIRE(bob_laptop.leave("lobby"));
  check_presence(next_presence(ann), "lobby", "bob", Presence::KIND_LEFT);
}

TEST_CASE("presence: only the streams that asked for it on their Join get it") {
  RelayProcess relay;
  ChatClient ann(relay.target(), "ann");      // asks
  ChatClient carol(relay.target(), "carol");  // does not
  ChatClient bob(relay.target(), "bob");
  join_with_presence(ann, "lobby");
  join_and_wait(carol, "lobby");
  // ann is not told of her own join: carol's is the first she hears of.
  check_presence(next_presence(ann), "lobby", "carol", Presence::KIND_JOINED);
  join_and_wait(bob, "lobby");
  check_presence(next_presence(ann), "lobby", "bob", Presence::KIND_JOINED);
  REQUIRE(bob.leave("lobby"));
  check_presence(next_presence(ann), "lobby", "bob", Presence::KIND_LEFT);

  // ann heard of the leave, so whatever the relay had for carol about bob is
  // queued before this message: a presence would come first.
  publish_acked(ann, "lobby", "marker", "ann-marker");
  const auto next = carol.next();
  REQUIRE(next);
  CHECK(next->kind_case() == ServerFrame::kMessage);
  CHECK(next->message().body() == "marker");
}

TEST_CASE("Joined counts the room's members (distinct users, not streams), and Who lists them") {
  RelayProcess relay;
  ChatClient ann(relay.target(), "ann");
  ChatClient ann_again(relay.target(), "ann");
  ChatClient bob(relay.target(), "bob");
  ChatClient carol(relay.target(), "carol");
  CHECK(join_and_wait(ann, "lobby").members() == 1);
  // One user on two streams is one member.
  CHECK(join_and_wait(ann_again, "lobby").members() == 1);
  CHECK(join_and_wait(bob, "lobby").members() == 2);

  relay::v1::FollowRequest request;
  request.add_rooms()->set_room("lobby");
  FollowClient follower(relay.target(), request);
  const auto followed = follower.next();
  REQUIRE(followed);
  REQUIRE(followed->kind_case() == ServerFrame::kJoined);
  // A follower is not a member, and does not count itself.
  CHECK(followed->joined().members() == 2);

  const auto relay_stub = stub(relay.target());
  const auto members = members_of(*relay_stub, "lobby");
  REQUIRE(members);
  CHECK(*members == std::map<std::string, std::uint32_t>{{"ann", 2}, {"bob", 1}});

  REQUIRE(bob.leave("lobby"));
  REQUIRE(who_reaches(relay.target(), "lobby", "bob", 0, std::chrono::steady_clock::now() + 5s));
  CHECK(join_and_wait(carol, "lobby").members() == 2);
}

TEST_CASE("health answers SERVING for the server and for relay.v1.Relay") {
  RelayProcess relay;
  for (const char* service : {"", "relay.v1.Relay"}) {
    INFO("service '", service, "'");
    const HealthAnswer answer = check_health(relay.target(), service);
    REQUIRE_MESSAGE(answer.status.ok(), answer.status.error_message());
    CHECK(answer.serving_status == 1);
  }
  const HealthAnswer unknown = check_health(relay.target(), "no.such.Service");
  CHECK(unknown.status.error_code() == grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("reflection lists the relay service") {
  RelayProcess relay;
  const auto names = reflected_services(relay.target());
  CHECK_MESSAGE(std::find(names.begin(), names.end(), "relay.v1.Relay") != names.end(),
                names.size(), " services listed");
}
