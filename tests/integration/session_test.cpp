#include <doctest/doctest.h>

#include <sys/resource.h>

#include <csignal>
#include <thread>

#include "cli/session/chat_session.hpp"
#include "tests/integration/relay_process.hpp"
#include "tests/integration/session_recorder.hpp"
#include "tests/integration/tcp_proxy.hpp"
#include "tests/integration/test_clients.hpp"

using namespace relay::testing;
using relay::cli::ChatSession;
using relay::cli::SessionOptions;

namespace {

constexpr int kMessages = 1000;

SessionOptions options_for(const std::string& target, const std::string& user) {
  SessionOptions options;
  options.target = target;
  options.user = user;
  // Quicker than the defaults, so tests spend their time on the traffic.
  options.backoff.initial = 100ms;
  options.backoff.max = 1000ms;
  options.max_unacked = kMessages;
  return options;
}

std::string body(int i) { return "m" + std::to_string(i); }

// A started session that has joined room "r" and seen the relay's answer.
std::unique_ptr<ChatSession> joined_session(const std::string& target, const std::string& user,
                                            SessionRecorder& events) {
  auto session = std::make_unique<ChatSession>(options_for(target, user), events);
  session->start();
  session->join("r");
  REQUIRE(events.wait_joins(1, 10s));
  return session;
}

// Publishes kMessages at a steady pace, calling `at(i)` before message i, so a
// test can break things at chosen points while traffic flows.
void publish_steadily(ChatSession& publisher, const std::function<void(int)>& at) {
  for (int i = 0; i < kMessages; ++i) {
    at(i);
    REQUIRE(publisher.publish("r", body(i)));
    std::this_thread::sleep_for(1ms);  // the pace of the traffic, not a wait for an event
  }
}

// CPU time of this whole process (every thread), user and system.
std::chrono::microseconds process_cpu_time() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto micros = [](const timeval& t) {
    return std::chrono::seconds(t.tv_sec) + std::chrono::microseconds(t.tv_usec);
  };
  return micros(usage.ru_utime) + micros(usage.ru_stime);
}

void check_all_once_in_order(const std::vector<relay::v1::Message>& messages) {
  std::vector<std::string> bodies;
  for (const auto& m : messages) {
    bodies.push_back(m.body());
  }
  REQUIRE(bodies.size() == kMessages);
  for (int i = 0; i < kMessages; ++i) {
    REQUIRE(bodies[static_cast<std::size_t>(i)] == body(i));
  }
}

}  // namespace

TEST_CASE("sessions reconnect across a relay restart and lose nothing, show nothing twice") {
  auto relay = std::make_unique<RelayProcess>();
  const int port = relay->port();
  SessionRecorder sub_events, pub_events;
  auto subscriber = joined_session(relay->target(), "sub", sub_events);
  auto publisher = joined_session(relay->target(), "pub", pub_events);

  publish_steadily(*publisher, [&](int i) {
    if (i == kMessages / 3) {
      relay->signal(SIGTERM);
      REQUIRE(relay->wait_exit(10s) == 0);
      relay = std::make_unique<RelayProcess>(
          std::vector<std::string>{"--listen", "127.0.0.1:" + std::to_string(port)});
    }
  });
  REQUIRE(publisher->wait_all_acked(30s));
  REQUIRE(sub_events.wait_messages(kMessages, 30s));
  check_all_once_in_order(sub_events.messages());
  CHECK(sub_events.reconnects() >= 1);
  CHECK(pub_events.reconnects() >= 1);
  const auto joins = sub_events.joins();
  REQUIRE(joins.size() >= 2);
  CHECK(joins.back().epoch_changed());
}

TEST_CASE("connections cut mid-stream lose nothing and show nothing twice") {
  RelayProcess relay;
  TcpProxy proxy(relay.port());
  SessionRecorder sub_events, pub_events;
  auto subscriber = joined_session(proxy.target(), "sub", sub_events);
  auto publisher = joined_session(proxy.target(), "pub", pub_events);

  int cuts = 0;
  publish_steadily(*publisher, [&](int i) {
    if (i > 0 && i % 200 == 0) {
      proxy.cut_all();
      ++cuts;
    }
  });
  REQUIRE(publisher->wait_all_acked(30s));
  REQUIRE(sub_events.wait_messages(kMessages, 30s));
  check_all_once_in_order(sub_events.messages());
  CHECK(cuts == 4);
  CHECK(sub_events.reconnects() >= 1);
  CHECK(proxy.connections_accepted() >= 3);
}

namespace {

// Holds the session's reader in on_message until released, so the relay's
// queue for it fills up as it would for a client on a slow link.
class StalledRecorder : public SessionRecorder {
 public:
  void on_message(const relay::v1::Message& message) override {
    {
      std::unique_lock lock(gate_mutex_);
      gate_.wait_for(lock, 30s, [this] { return released_; });
    }
    SessionRecorder::on_message(message);
  }
  void release() {
    std::lock_guard lock(gate_mutex_);
    released_ = true;
    gate_.notify_all();
  }

 private:
  std::mutex gate_mutex_;
  std::condition_variable gate_;
  bool released_ = false;
};

bool member_present(const std::string& target, const std::string& room, const std::string& user) {
  auto context = context_for("probe");
  relay::v1::WhoRequest request;
  request.set_room(room);
  relay::v1::WhoResponse response;
  if (!stub(target)->Who(context.get(), request, &response).ok()) {
    return false;
  }
  for (const auto& member : response.members()) {
    if (member.user() == user) {
      return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("a slow subscriber is closed as a slow consumer, resumes from history, misses nothing") {
  // History big enough to hold everything, so the resume misses nothing.
  RelayProcess relay({"--subscriber-queue-max-frames", "16", "--subscriber-queue-max-bytes",
                      "65536", "--publish-rate-per-second", "0", "--history-max-bytes",
                      "67108864"});
  StalledRecorder sub_events;
  SessionRecorder pub_events;
  auto subscriber = joined_session(relay.target(), "slow", sub_events);
  auto publisher = joined_session(relay.target(), "pub", pub_events);

  // gRPC flow control and the socket buffers absorb some 4-6 MB for a stalled
  // stream before the relay's queue grows, so send several times that.
  const std::string padding(32 * 1024, 'x');
  constexpr int kCount = 800;
  for (int i = 0; i < kCount; ++i) {
    REQUIRE(publisher->publish("r", body(i) + " " + padding));
  }
  REQUIRE(publisher->wait_all_acked(30s));
  // The relay drops a slow consumer from the room when it closes the stream.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (member_present(relay.target(), "r", "slow") &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  CHECK_FALSE(member_present(relay.target(), "r", "slow"));
  sub_events.release();

  REQUIRE(sub_events.wait_messages(kCount, 30s));
  const auto messages = sub_events.messages();
  REQUIRE(messages.size() == kCount);
  for (int i = 0; i < kCount; ++i) {
    REQUIRE(messages[static_cast<std::size_t>(i)].body() == body(i) + " " + padding);
  }
  CHECK(sub_events.reconnects() >= 1);
  CHECK(relay.log().find("slow consumer") != std::string::npos);
}

TEST_CASE("two sessions of one user share its rate and lose nothing to it: refusals are resent") {
  // Each session paces itself to the announced rate, which is per user: two
  // together go over it, and the relay refuses some publishes with a retry hint.
  RelayProcess relay({"--publish-rate-per-second", "40", "--publish-burst", "5"});
  SessionRecorder first_events, second_events;
  auto first = joined_session(relay.target(), "ann", first_events);
  auto second = joined_session(relay.target(), "ann", second_events);
  constexpr int kEach = 30;
  for (int i = 0; i < kEach; ++i) {
    REQUIRE(first->publish("r", "first " + std::to_string(i)));
    REQUIRE(second->publish("r", "second " + std::to_string(i)));
  }
  CHECK(first->wait_all_acked(20s));
  CHECK(second->wait_all_acked(20s));
  CHECK(first->refused() == 0);
  CHECK(second->refused() == 0);
  first->stop();
  second->stop();
}

TEST_CASE("stop() waits for paced publishes without spinning") {
  // At 2 messages/s, 50 queued publishes keep the writer pacing for longer
  // than stop() waits: it must sleep through that wait, not poll it.
  RelayProcess relay({"--publish-rate-per-second", "2", "--publish-burst", "1"});
  SessionRecorder events;
  auto session = joined_session(relay.target(), "ann", events);
  for (int i = 0; i < 50; ++i) {
    REQUIRE(session->publish("r", body(i)));
  }
  const auto cpu_before = process_cpu_time();
  const auto wall_before = std::chrono::steady_clock::now();
  session->stop(2s);
  const auto wall = std::chrono::steady_clock::now() - wall_before;
  const auto cpu = process_cpu_time() - cpu_before;
  INFO("stop() took " << std::chrono::duration_cast<std::chrono::milliseconds>(wall).count()
                      << " ms of wall time and "
                      << std::chrono::duration_cast<std::chrono::milliseconds>(cpu).count()
                      << " ms of CPU");
  CHECK(wall < 4s);
  CHECK(cpu < 0.3 * wall);
}

TEST_CASE("a publish left unacknowledged in a room the user left is resent, not counted refused") {
  auto relay = std::make_unique<RelayProcess>();
  const int port = relay->port();
  SessionRecorder events;
  auto session = joined_session(relay->target(), "ann", events);
  // The relay hears nothing more: the publish and the leave wait in its socket.
  relay->signal(SIGSTOP);
  REQUIRE(session->publish("r", "said before leaving"));
  session->leave("r");
  relay->signal(SIGKILL);
  relay->wait_exit(10s);
  relay = std::make_unique<RelayProcess>(
      std::vector<std::string>{"--listen", "127.0.0.1:" + std::to_string(port)});
  // The session visits the room to resend, hears the ack, and leaves again.
  CHECK(session->wait_all_acked(20s));
  CHECK(session->refused() == 0);
  CHECK(session->rooms().empty());
  // Bob may join before or after the resend: from the start of the room's
  // numbering, he sees it either way.
  ChatClient bob(relay->target(), "bob");
  join_and_wait(bob, "r", position(0, 0));
  const auto message = bob.next_of(relay::v1::ServerFrame::kMessage);
  REQUIRE(message);
  CHECK(message->message().body() == "said before leaving");
  bool ann_left = false;
  for (int poll = 0; poll < 100 && !ann_left; ++poll) {
    ann_left = !member_present(relay->target(), "r", "ann");
    if (!ann_left) {
      std::this_thread::sleep_for(50ms);  // the pace of the polls, bounded at 5 s
    }
  }
  CHECK(ann_left);
  // Nothing of the room it left was shown to the user.
  CHECK(events.messages().empty());
  session->stop();
}
