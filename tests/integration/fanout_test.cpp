// Fan-out, acknowledgements, resume and slow consumers, each against a real
// relay: what relay.proto promises about ordering and delivery, checked from
// the clients' side.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/integration/relay_process.hpp"
#include "tests/integration/test_clients.hpp"

using namespace relay::testing;
using relay::v1::Joined;
using relay::v1::Message;
using relay::v1::Position;
using relay::v1::PublishAck;
using relay::v1::ServerFrame;

namespace {

// Who published a message and under which id: what every member must agree
// on, sequence by sequence.
using Origin = std::pair<std::string, std::string>;

// Up to `count` messages, skipping other frames, all within `timeout`; fewer
// when the rest does not come in time.
std::vector<Message> next_messages(ChatClient& client, std::size_t count,
                                   std::chrono::milliseconds timeout) {
  std::vector<Message> messages;
  messages.reserve(count);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (messages.size() < count) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left <= 0ms) {
      break;
    }
    auto frame = client.next_of(ServerFrame::kMessage, left);
    if (!frame) {
      break;
    }
    messages.push_back(std::move(*frame->mutable_message()));
  }
  return messages;
}

// What a member received: its messages and, for a publisher, its acks.
struct Received {
  std::vector<Message> messages;
  std::vector<PublishAck> acks;
};

// Frames until `messages` messages and `acks` acks came, all within `timeout`;
// fewer when the rest does not come in time. Other frames are skipped.
Received receive(ChatClient& client, std::size_t messages, std::size_t acks,
                 std::chrono::milliseconds timeout) {
  Received received;
  received.messages.reserve(messages);
  received.acks.reserve(acks);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (received.messages.size() < messages || received.acks.size() < acks) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left <= 0ms) {
      break;
    }
    auto frame = client.next(left);
    if (!frame) {
      break;
    }
    if (frame->kind_case() == ServerFrame::kMessage) {
      received.messages.push_back(std::move(*frame->mutable_message()));
    } else if (frame->kind_case() == ServerFrame::kAck) {
      received.acks.push_back(std::move(*frame->mutable_ack()));
    }
  }
  return received;
}

// The next frame must be this message: anything else in between fails.
void check_next_message(ChatClient& client, std::uint64_t sequence, const std::string& body) {
  const auto frame = client.next();
  REQUIRE(frame);
  REQUIRE_MESSAGE(frame->kind_case() == ServerFrame::kMessage, frame->DebugString());
  CHECK(frame->message().sequence() == sequence);
  CHECK(frame->message().body() == body);
}

std::string numbered(const std::string& prefix, std::uint64_t number) {
  return prefix + std::to_string(number);
}

// Publishes body1 ... bodyN with ids id1 ... idN and waits for each ack.
void publish_numbered(ChatClient& client, const std::string& room, int count) {
  for (int i = 1; i <= count; ++i) {
    publish_acked(client, room, numbered("body", i), numbered("id", i));
  }
}

}  // namespace

TEST_CASE(
    "50 subscribers in one room receive all of 1,000 messages from 5 concurrent publishers, in "
    "the same order") {
  constexpr int kSubscribers = 50;
  constexpr int kPublishers = 5;
  constexpr int kPerPublisher = 200;
  constexpr std::size_t kTotal = kPublishers * kPerPublisher;
  RelayProcess relay({"--publish-rate-per-second", "0"});

  // Publishing requires a join, so the publishers are members too and get
  // every message like the subscribers.
  std::vector<std::unique_ptr<ChatClient>> members;
  for (int i = 0; i < kSubscribers; ++i) {
    members.push_back(std::make_unique<ChatClient>(relay.target(), numbered("sub", i)));
  }
  for (int i = 0; i < kPublishers; ++i) {
    members.push_back(std::make_unique<ChatClient>(relay.target(), numbered("pub", i)));
  }
  // All joins go out first, then each answer is awaited: the connections come
  // up in parallel.
  for (auto& member : members) {
    REQUIRE(member->join("hall"));
  }
  for (auto& member : members) {
    const auto joined = member->next_of(ServerFrame::kJoined, 20s);
    REQUIRE(joined);
  }

  std::atomic<int> failed_writes{0};
  std::vector<std::thread> publishers;
  for (int p = 0; p < kPublishers; ++p) {
    ChatClient& publisher = *members[kSubscribers + p];
    publishers.emplace_back([&publisher, &failed_writes, p] {
      for (int n = 0; n < kPerPublisher; ++n) {
        const std::string id = numbered("pub" + std::to_string(p) + "-", n);
        if (!publisher.publish("hall", "message " + id, id)) {
          ++failed_writes;
          return;
        }
      }
    });
  }
  for (auto& thread : publishers) {
    thread.join();
  }
  REQUIRE(failed_writes == 0);

  // The first subscriber's view is the reference the others must match.
  std::vector<Origin> reference;
  std::vector<std::vector<PublishAck>> acks_of_publisher;
  for (std::size_t m = 0; m < members.size(); ++m) {
    const bool is_publisher = m >= kSubscribers;
    const std::string user = is_publisher ? numbered("pub", m - kSubscribers) : numbered("sub", m);
    INFO("member ", user);
    Received received = receive(*members[m], kTotal, is_publisher ? kPerPublisher : 0, 20s);
    const auto& messages = received.messages;
    REQUIRE(messages.size() == kTotal);
    if (is_publisher) {
      REQUIRE(received.acks.size() == kPerPublisher);
      acks_of_publisher.push_back(std::move(received.acks));
    }
    std::vector<Origin> origins;
    bool contiguous = true;
    for (std::size_t i = 0; i < messages.size(); ++i) {
      contiguous = contiguous && messages[i].sequence() == i + 1 &&
                   messages[i].epoch() == messages[0].epoch() && messages[i].room() == "hall";
      origins.emplace_back(messages[i].sender(), messages[i].client_message_id());
    }
    CHECK_MESSAGE(contiguous, "sequences are not 1..1000 in order within one epoch");
    if (reference.empty()) {
      reference = std::move(origins);
    } else {
      CHECK_MESSAGE(origins == reference, "the order differs from the first subscriber's");
    }
  }

  // Each publisher's messages keep its own order, and the order is complete.
  std::map<std::string, int> next_of_sender;
  bool in_publish_order = true;
  for (const auto& [sender, id] : reference) {
    const int n = next_of_sender[sender]++;
    in_publish_order = in_publish_order && id == numbered(sender + "-", n);
  }
  CHECK(in_publish_order);
  CHECK(next_of_sender.size() == kPublishers);
  for (const auto& [sender, count] : next_of_sender) {
    CHECK(count == kPerPublisher);
  }

  // Every acknowledgement names the sequence the subscribers saw it at.
  for (int p = 0; p < kPublishers; ++p) {
    const std::string sender = numbered("pub", p);
    int matching = 0;
    for (const auto& ack : acks_of_publisher[p]) {
      const std::uint64_t sequence = ack.sequence();
      if (!ack.duplicate() && sequence >= 1 && sequence <= kTotal &&
          reference[sequence - 1] == Origin{sender, ack.client_message_id()}) {
        ++matching;
      }
    }
    CHECK_MESSAGE(matching == kPerPublisher, sender);
  }
}

TEST_CASE("every publish is acknowledged with the sequence it got") {
  RelayProcess relay;
  ChatClient ann(relay.target(), "ann");
  ChatClient bob(relay.target(), "bob");
  ChatClient carol(relay.target(), "carol");
  const Joined joined = join_and_wait(ann, "lobby");
  join_and_wait(bob, "lobby");
  join_and_wait(carol, "lobby");

  // Two streams publish at once, so which sequence each message gets is up
  // to the relay; the acks must tell it.
  constexpr int kEach = 10;
  for (int i = 0; i < kEach; ++i) {
    REQUIRE(ann.publish("lobby", "from ann", numbered("ann-", i)));
    REQUIRE(bob.publish("lobby", "from bob", numbered("bob-", i)));
  }
  std::map<Origin, std::uint64_t> seen_at;
  for (const auto& message : next_messages(carol, 2 * kEach, 10s)) {
    seen_at[{message.sender(), message.client_message_id()}] = message.sequence();
  }
  REQUIRE(seen_at.size() == 2 * kEach);

  for (auto [client, user] : {std::pair{&ann, "ann"}, std::pair{&bob, "bob"}}) {
    INFO("publisher ", user);
    for (int i = 0; i < kEach; ++i) {
      const auto ack = client->next_of(ServerFrame::kAck);
      REQUIRE(ack);
      // Acks come in the order of the publishes.
      CHECK(ack->ack().client_message_id() == numbered(std::string(user) + "-", i));
      CHECK(ack->ack().room() == "lobby");
      CHECK(ack->ack().epoch() == joined.epoch());
      CHECK_FALSE(ack->ack().duplicate());
      CHECK(ack->ack().sequence() == seen_at[{user, ack->ack().client_message_id()}]);
    }
  }
}

TEST_CASE(
    "a repeated client message id is acknowledged with the original sequence and not "
    "delivered again") {
  RelayProcess relay;
  ChatClient ann(relay.target(), "ann");
  ChatClient bob(relay.target(), "bob");
  const Joined joined = join_and_wait(ann, "lobby");
  join_and_wait(bob, "lobby");
  const PublishAck first = publish_acked(ann, "lobby", "first", "m-1");
  CHECK(first.sequence() == 1);
  CHECK_FALSE(first.duplicate());
  CHECK(publish_acked(ann, "lobby", "second", "m-2").sequence() == 2);

  std::unique_ptr<ChatClient> reconnected;
  ChatClient* repeater = &ann;
  SUBCASE("on the same stream") {}
  SUBCASE("on a new stream of the same user, as after a reconnect") {
    reconnected = std::make_unique<ChatClient>(relay.target(), "ann");
    join_and_wait(*reconnected, "lobby");
    repeater = reconnected.get();
  }

  const PublishAck repeat = publish_acked(*repeater, "lobby", "first, resent", "m-1");
  CHECK(repeat.duplicate());
  CHECK(repeat.sequence() == 1);
  CHECK(repeat.epoch() == joined.epoch());
  // A marker after the repeat: had the repeat been delivered, it would come
  // before the marker.
  const PublishAck marker = publish_acked(*repeater, "lobby", "third", "m-3");
  CHECK_FALSE(marker.duplicate());
  CHECK(marker.sequence() == 3);

  const auto messages = next_messages(bob, 3, 10s);
  REQUIRE(messages.size() == 3);
  CHECK(messages[0].body() == "first");
  CHECK(messages[1].body() == "second");
  CHECK(messages[2].body() == "third");
  CHECK(messages[2].sequence() == 3);
}

TEST_CASE("client message ids are per sender: another user's same id is a new message") {
  RelayProcess relay;
  ChatClient ann(relay.target(), "ann");
  ChatClient bob(relay.target(), "bob");
  ChatClient carol(relay.target(), "carol");
  join_and_wait(ann, "lobby");
  join_and_wait(bob, "lobby");
  join_and_wait(carol, "lobby");
  CHECK(publish_acked(ann, "lobby", "from ann", "m-1").sequence() == 1);
  const PublishAck ack = publish_acked(bob, "lobby", "from bob", "m-1");
  CHECK_FALSE(ack.duplicate());
  CHECK(ack.sequence() == 2);
  const auto messages = next_messages(carol, 2, 10s);
  REQUIRE(messages.size() == 2);
  CHECK(messages[0].sender() == "ann");
  CHECK(messages[1].sender() == "bob");
  CHECK(messages[1].client_message_id() == "m-1");
}

TEST_CASE(
    "joining with a resume position replays what was missed, then goes live, without gap or "
    "duplicate") {
  RelayProcess relay;
  ChatClient ann(relay.target(), "ann");
  const Joined first = join_and_wait(ann, "log");
  publish_numbered(ann, "log", 10);

  ChatClient bob(relay.target(), "bob");
  REQUIRE(bob.join("log", position(first.epoch(), 4)));
  const auto joined = bob.next();
  REQUIRE(joined);
  REQUIRE_MESSAGE(joined->kind_case() == ServerFrame::kJoined, joined->DebugString());
  CHECK(joined->joined().room() == "log");
  CHECK(joined->joined().epoch() == first.epoch());
  CHECK(joined->joined().sequence() == 10);
  CHECK(joined->joined().replayed() == 6);
  CHECK(joined->joined().missed() == 0);
  CHECK_FALSE(joined->joined().epoch_changed());
  for (std::uint64_t sequence = 5; sequence <= 10; ++sequence) {
    check_next_message(bob, sequence, numbered("body", sequence));
  }
  publish_acked(ann, "log", "live", "live-1");
  check_next_message(bob, 11, "live");
}

TEST_CASE(
    "a client that accepts batches gets a replay as batches in order, and only such a client "
    "does") {
  // Bodies over 127 bytes and a replay over 16 KiB: the batch's field
  // lengths need two- and three-byte varints.
  constexpr std::uint64_t kMessages = 120;
  auto body = [](std::uint64_t i) { return std::string(200, 'x') + std::to_string(i); };
  RelayProcess relay({"--publish-rate-per-second", "0"});
  ChatClient ann(relay.target(), "ann");
  const Joined first = join_and_wait(ann, "log");
  for (std::uint64_t i = 1; i <= kMessages; ++i) {
    publish_acked(ann, "log", body(i), numbered("id", i));
  }

  // The join queues its Joined and the whole replay before the first write
  // starts, so that write carries them all.
  for (const bool accept : {true, false}) {
    CAPTURE(accept);
    ChatClient bob(relay.target(), "bob", accept);
    REQUIRE(bob.join("log", position(first.epoch(), 0)));
    const auto joined = bob.next();
    REQUIRE(joined);
    REQUIRE_MESSAGE(joined->kind_case() == ServerFrame::kJoined, joined->DebugString());
    CHECK(joined->joined().replayed() == kMessages);
    for (std::uint64_t sequence = 1; sequence <= kMessages; ++sequence) {
      check_next_message(bob, sequence, body(sequence));
    }
    if (accept) {
      CHECK(bob.batches_received() >= 1);
    } else {
      CHECK(bob.batches_received() == 0);
    }
  }
}

TEST_CASE(
    "a resume while messages keep arriving switches from replay to live without gap or "
    "duplicate") {
  constexpr std::uint64_t kMessages = 300;
  constexpr std::uint64_t kJoinAfter = 20;
  RelayProcess relay({"--publish-rate-per-second", "0"});
  ChatClient ann(relay.target(), "ann");
  const Joined first = join_and_wait(ann, "log");
  // Connected before the publishing starts, so its join is one round trip.
  ChatClient bob(relay.target(), "bob");

  // Each publish waits for its ack, so the messages keep coming for a few
  // hundred round trips while bob joins.
  std::atomic<bool> publish_failed{false};
  std::promise<void> some_in;
  std::thread publisher([&] {
    for (std::uint64_t i = 1; i <= kMessages; ++i) {
      const bool written = ann.publish("log", numbered("body", i), numbered("id", i));
      const auto ack = written ? ann.next_of(ServerFrame::kAck) : std::nullopt;
      if (!ack || ack->ack().sequence() != i) {
        publish_failed = true;
        return;
      }
      if (i == kJoinAfter) {
        some_in.set_value();
      }
    }
  });
  const bool in_time = some_in.get_future().wait_for(10s) == std::future_status::ready;
  const bool join_sent = in_time && bob.join("log", position(first.epoch(), 10));
  const auto joined = join_sent ? bob.next_of(ServerFrame::kJoined) : std::nullopt;
  const auto messages = next_messages(bob, joined ? kMessages - 10 : 0, 20s);
  publisher.join();
  REQUIRE_FALSE(publish_failed);
  REQUIRE(join_sent);
  REQUIRE(joined);

  INFO("joined at sequence ", joined->joined().sequence(), " of ", kMessages);
  CHECK(joined->joined().sequence() >= kJoinAfter);
  CHECK(joined->joined().replayed() == joined->joined().sequence() - 10);
  CHECK(joined->joined().missed() == 0);
  REQUIRE(messages.size() == kMessages - 10);
  bool contiguous = true;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    contiguous = contiguous && messages[i].sequence() == 11 + i &&
                 messages[i].body() == numbered("body", 11 + i);
  }
  CHECK(contiguous);
}

TEST_CASE("a resume position from another epoch replays the current epoch from its start") {
  RelayProcess relay;
  ChatClient ann(relay.target(), "ann");
  const Joined first = join_and_wait(ann, "log");
  publish_numbered(ann, "log", 3);

  std::uint64_t old_sequence = 0;
  SUBCASE("with a sequence the room also has") { old_sequence = 2; }
  SUBCASE("with a sequence past the room's last") { old_sequence = 100; }

  ChatClient bob(relay.target(), "bob");
  REQUIRE(bob.join("log", position(first.epoch() + 1, old_sequence)));
  const auto joined = bob.next();
  REQUIRE(joined);
  REQUIRE_MESSAGE(joined->kind_case() == ServerFrame::kJoined, joined->DebugString());
  CHECK(joined->joined().epoch_changed());
  CHECK(joined->joined().epoch() == first.epoch());
  CHECK(joined->joined().sequence() == 3);
  CHECK(joined->joined().replayed() == 3);
  CHECK(joined->joined().missed() == 0);
  for (std::uint64_t sequence = 1; sequence <= 3; ++sequence) {
    check_next_message(bob, sequence, numbered("body", sequence));
  }
}

TEST_CASE(
    "a resume position older than the history replays what it holds and counts the rest "
    "as missed") {
  RelayProcess relay({"--history-max-messages", "5"});
  ChatClient ann(relay.target(), "ann");
  const Joined first = join_and_wait(ann, "log");
  publish_numbered(ann, "log", 10);

  ChatClient bob(relay.target(), "bob");
  REQUIRE(bob.join("log", position(first.epoch(), 2)));
  const auto joined = bob.next();
  REQUIRE(joined);
  REQUIRE_MESSAGE(joined->kind_case() == ServerFrame::kJoined, joined->DebugString());
  CHECK(joined->joined().sequence() == 10);
  CHECK(joined->joined().replayed() == 5);
  CHECK(joined->joined().missed() == 3);
  CHECK_FALSE(joined->joined().epoch_changed());
  for (std::uint64_t sequence = 6; sequence <= 10; ++sequence) {
    check_next_message(bob, sequence, numbered("body", sequence));
  }
}

TEST_CASE("a slow consumer is closed with RESOURCE_EXHAUSTED and the others keep receiving") {
  // The stalled stream first absorbs what gRPC flow control and the socket
  // buffers take (4-6 MB here), only then does the relay's queue for it grow;
  // so publish several times that. The queue holds one such message.
  constexpr std::uint64_t kMessages = 800;
  const std::string body(32 * 1024, 'x');
  RelayProcess relay({"--subscriber-queue-max-frames", "16", "--subscriber-queue-max-bytes",
                      "65536", "--publish-rate-per-second", "0"});
  ChatClient publisher(relay.target(), "pub");
  ChatClient fast(relay.target(), "fast");
  join_and_wait(publisher, "feed");
  join_and_wait(fast, "feed");
  StalledReader slow(relay.target(), "slow");
  REQUIRE(slow.join("feed"));

  // Lockstep: the next message goes out once both reading members have the
  // last one, so their small queues never hold more than one.
  for (std::uint64_t sequence = 1; sequence <= kMessages; ++sequence) {
    REQUIRE(publisher.publish("feed", body, numbered("p-", sequence)));
    for (ChatClient* reader : {&fast, &publisher}) {
      const auto frame = reader->next_of(ServerFrame::kMessage);
      REQUIRE(frame);
      REQUIRE(frame->message().sequence() == sequence);
    }
  }

  // The stalled client finally reads: what the transport buffered, then the
  // status the relay closed its stream with.
  const grpc::Status status = slow.drain();
  CHECK(status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK_MESSAGE(status.error_message().find("slow consumer") != std::string::npos,
                status.error_message());
  const auto& received = slow.sequences();
  INFO("the stalled client got ", received.size(), " of ", kMessages, " messages");
  CHECK(received.size() < kMessages);
  bool prefix = true;
  for (std::size_t i = 0; i < received.size(); ++i) {
    prefix = prefix && received[i] == i + 1;
  }
  CHECK_MESSAGE(prefix, "the stalled client's messages are not 1, 2, 3, ...");

  // The room goes on for the others.
  REQUIRE(publisher.publish("feed", "after", "p-after"));
  const auto after = fast.next_of(ServerFrame::kMessage);
  REQUIRE(after);
  CHECK(after->message().sequence() == kMessages + 1);
}

TEST_CASE(
    "with a linger, streams that take no batches hold their connections and still get every "
    "message once, in order, and every ack") {
  // A fixed linger makes every stream that takes no batches hold its
  // connection (TCP_CORK) for 20 ms at a time, as a saturated relay does;
  // each of these clients has a connection of its own.
  RelayProcess relay({"--write-linger-us", "20000", "--publish-rate-per-second", "0"});
  ChatClient ann(relay.target(), "ann");
  ChatClient bob(relay.target(), "bob");
  ChatClient carol(relay.target(), "carol");
  for (ChatClient* client : {&ann, &bob, &carol}) {
    join_and_wait(*client, "held");
  }
  // ann waits for each ack (and her own message) before the next publish, as
  // a person's client does; the acks end her holds, while the messages to
  // the others wait out theirs.
  constexpr int kMessages = 60;
  std::vector<Message> own;
  for (int i = 1; i <= kMessages; ++i) {
    REQUIRE(ann.publish("held", numbered("body", i), numbered("id", i)));
    auto received = receive(ann, 1, 1, 10s);
    REQUIRE(received.acks.size() == 1);
    REQUIRE(received.messages.size() == 1);
    CHECK(received.acks[0].sequence() == static_cast<std::uint64_t>(i));
    own.push_back(std::move(received.messages[0]));
  }
  for (auto [name, messages] :
       {std::pair{"ann", own}, std::pair{"bob", next_messages(bob, kMessages, 30s)},
        std::pair{"carol", next_messages(carol, kMessages, 30s)}}) {
    INFO("reader ", name);
    REQUIRE(messages.size() == kMessages);
    for (std::size_t i = 0; i < kMessages; ++i) {
      CHECK(messages[i].sequence() == i + 1);
      CHECK(messages[i].body() == numbered("body", i + 1));
    }
  }
}
