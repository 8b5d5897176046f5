#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "relay/hub/hub.hpp"
#include "tests/unit/hub_fakes.hpp"

using namespace relay::hub;
using relay::hub::testing::FakeClock;
using relay::hub::testing::ManualSink;
using relay::hub::testing::TextEncoder;

namespace {

// Holds, releases and the writes started meanwhile, in the order they came,
// from the test's thread or the hub's FlushTimer.
class EventLog {
 public:
  void push_back(std::string event) {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(event));
  }
  std::vector<std::string> events() const {
    std::lock_guard lock(mutex_);
    return events_;
  }
  void clear() {
    std::lock_guard lock(mutex_);
    events_.clear();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> events_;
};

class RecordingConnection : public SharedConnection {
 public:
  RecordingConnection(EventLog& log, std::string name, bool holdable = true, bool shared = true)
      : log_(log), name_(std::move(name)), holdable_(holdable), shared_(shared) {}
  // The count changes before the event is logged: a test that has seen
  // "release" in the log must find the connection free.
  bool hold() override {
    holders_ += holdable_ ? 1 : 0;
    log_.push_back("hold " + name_);
    return holdable_;
  }
  void release() override {
    --holders_;
    log_.push_back("release " + name_);
  }
  bool held() const override { return holders_ > 0; }
  bool shared() const override { return shared_; }

 private:
  std::atomic<int> holders_{0};
  EventLog& log_;
  const std::string name_;
  const bool holdable_;
  const bool shared_;
};

class LoggingSink : public ManualSink {
 public:
  LoggingSink(EventLog& log, std::string name) : log_(log), name_(std::move(name)) {}
  void start_write(std::span<const FramePtr> frames, bool more_follows) override {
    log_.push_back("write " + name_);
    ManualSink::start_write(frames, more_follows);
  }

 private:
  EventLog& log_;
  const std::string name_;
};

struct Stream {
  Stream(Hub& hub, EventLog& log, const std::string& name,
         std::shared_ptr<SharedConnection> connection, WriteBatching batching)
      : sink(log, name),
        subscriber(hub.make_subscriber(name, SubscriberKind::chat, sink, batching,
                                       std::move(connection))) {
    sink.bind(subscriber.get());
  }
  LoggingSink sink;
  SubscriberPtr subscriber;
};

struct Fixture {
  explicit Fixture(HubLimits limits = {}, WriteBatching batching = {})
      : hub(limits, encoder, time.clock()), batching(batching) {}
  TextEncoder encoder;
  FakeClock time;
  Hub hub;
  const WriteBatching batching;
  EventLog log;
  std::vector<std::unique_ptr<Stream>> streams;

  void open(const std::string& name, std::shared_ptr<SharedConnection> connection) {
    streams.push_back(std::make_unique<Stream>(hub, log, name, std::move(connection), batching));
    REQUIRE(hub.join("room", streams.back()->subscriber, JoinOptions{}, {}).status ==
            JoinStatus::joined);
  }
  void complete_all() {
    for (auto& stream : streams) {
      stream->sink.complete_all();
    }
  }
  // The events between "hold NAME" and "release NAME", or nothing if none.
  std::vector<std::string> held(const std::string& name) const {
    const auto events = log.events();
    const auto hold = std::find(events.begin(), events.end(), "hold " + name);
    const auto release = std::find(events.begin(), events.end(), "release " + name);
    if (hold == events.end() || release == events.end() || release < hold) {
      return {};
    }
    return {hold + 1, release};
  }
  std::size_t count(const std::string& event) const {
    const auto events = log.events();
    return static_cast<std::size_t>(std::count(events.begin(), events.end(), event));
  }
};

}  // namespace

TEST_CASE_FIXTURE(Fixture,
                  "a fan-out starts the writes of streams sharing a connection while it is held") {
  auto gateway = std::make_shared<RecordingConnection>(log, "gateway");
  auto pair = std::make_shared<RecordingConnection>(log, "pair");
  for (const char* name : {"g1", "g2", "g3", "g4", "g5"}) {
    open(name, gateway);
  }
  open("p1", pair);
  open("p2", pair);
  open("alone", nullptr);
  complete_all();
  log.clear();

  REQUIRE(hub.publish("room", {"ann", "m1", "hello"}).sequence == 1);

  auto inside = held("gateway");
  std::sort(inside.begin(), inside.end());
  CHECK(inside ==
        std::vector<std::string>{"write g1", "write g2", "write g3", "write g4", "write g5"});
  // Two writes are not worth a hold; a stream of its own has nothing to share.
  CHECK(count("hold pair") == 0);
  CHECK(count("write p1") == 1);
  CHECK(count("write p2") == 1);
  CHECK(count("write alone") == 1);
  CHECK(log.events().size() == 10);
  complete_all();
  for (const auto& stream : streams) {
    CHECK(stream->sink.written().back() == "msg room#1 ann hello");
  }
}

TEST_CASE_FIXTURE(Fixture,
                  "a connection with many streams is held for a few dozen writes at a time") {
  auto gateway = std::make_shared<RecordingConnection>(log, "gateway");
  for (int i = 0; i < 40; ++i) {
    open("g" + std::to_string(i), gateway);
  }
  complete_all();
  log.clear();

  REQUIRE(hub.publish("room", {"ann", "m1", "hello"}).sequence == 1);

  // Two holds of 20 writes each, so that the first streams need not wait for
  // the writes of the last.
  const auto events = log.events();
  REQUIRE(events.size() == 44);
  for (const std::size_t at : {std::size_t{0}, std::size_t{22}}) {
    CHECK(events[at] == "hold gateway");
    CHECK(std::all_of(events.begin() + static_cast<std::ptrdiff_t>(at) + 1,
                      events.begin() + static_cast<std::ptrdiff_t>(at) + 21,
                      [](const std::string& e) { return e.starts_with("write g"); }));
    CHECK(events[at + 21] == "release gateway");
  }
}

TEST_CASE_FIXTURE(Fixture,
                  "a connection that cannot be held is written to all the same, and not released") {
  auto gone = std::make_shared<RecordingConnection>(log, "gone", false);
  for (const char* name : {"g1", "g2", "g3", "g4"}) {
    open(name, gone);
  }
  complete_all();
  log.clear();

  REQUIRE(hub.publish("room", {"ann", "m1", "hello"}).sequence == 1);

  CHECK(count("hold gone") == 1);
  CHECK(count("release gone") == 0);
  CHECK(log.events().size() == 5);
  complete_all();
  for (const auto& stream : streams) {
    CHECK(stream->sink.written().back() == "msg room#1 ann hello");
  }
}

namespace {

HubLimits fixed_linger(std::chrono::microseconds linger) {
  HubLimits limits;
  limits.write_linger = linger;
  limits.max_write_linger = linger;
  return limits;
}

// Long enough that a loaded machine publishes twice within one.
constexpr std::chrono::milliseconds kLinger{200};

struct LingerFixture : Fixture {
  LingerFixture()
      : Fixture(fixed_linger(kLinger), WriteBatching{.max_frames = 10, .max_bytes = 100000}) {}
};

}  // namespace

TEST_CASE_FIXTURE(LingerFixture,
                  "lingered writes of streams sharing a connection start while it is held") {
  auto gateway = std::make_shared<RecordingConnection>(log, "gateway");
  for (const char* name : {"g1", "g2", "g3", "g4"}) {
    open(name, gateway);
  }
  complete_all();
  // Quiet for a linger: the next frame goes at once, the one after lingers.
  std::this_thread::sleep_for(kLinger * 2);
  REQUIRE(hub.publish("room", {"ann", "m1", "one"}).sequence == 1);
  complete_all();
  log.clear();
  REQUIRE(hub.publish("room", {"ann", "m2", "two"}).sequence == 2);
  CHECK(log.events().empty());  // lingering
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (count("release gateway") == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  auto inside = held("gateway");
  std::sort(inside.begin(), inside.end());
  INFO("events: " << fmt::format("{}", fmt::join(log.events(), ", ")));
  CHECK(inside == std::vector<std::string>{"write g1", "write g2", "write g3", "write g4"});
  complete_all();
  for (const auto& stream : streams) {
    CHECK(stream->sink.written().back() == "msg room#2 ann two");
  }
}

namespace {

// A relay saturated for as long as the test: its linger is fixed.
struct PlainFixture : Fixture {
  PlainFixture() : Fixture(fixed_linger(kLinger), WriteBatching{}) {}

  // Opens the streams on one connection, "c", and waits for the hold their
  // joins made to end.
  std::shared_ptr<RecordingConnection> open_settled(std::initializer_list<const char*> names) {
    auto connection = std::make_shared<RecordingConnection>(log, "c");
    for (const char* name : names) {
      open(name, connection);
    }
    complete_all();
    await_release("c");
    log.clear();
    return connection;
  }

  // Waits, boundedly, for the scheduled release of the connection.
  void await_release(const std::string& name, std::size_t releases = 1) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (count("release " + name) < releases && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
};

}  // namespace

TEST_CASE_FIXTURE(PlainFixture,
                  "while saturated, a stream that does not batch writes at once and holds its "
                  "connection for a linger") {
  auto connection = open_settled({"p"});
  INFO("events: " << fmt::format("{}", fmt::join(log.events(), ", ")));

  REQUIRE(hub.publish("room", {"ann", "m1", "one"}).sequence == 1);
  CHECK(log.events() == std::vector<std::string>{"hold c", "write p"});
  complete_all();
  REQUIRE(hub.publish("room", {"ann", "m2", "two"}).sequence == 2);
  CHECK(log.events() == std::vector<std::string>{"hold c", "write p", "write p"});
  complete_all();
  await_release("c");
  CHECK(log.events() == std::vector<std::string>{"hold c", "write p", "write p", "release c"});
  CHECK_FALSE(connection->held());
  const auto written = streams[0]->sink.written();
  REQUIRE(written.size() >= 2);
  CHECK(std::vector(written.end() - 2, written.end()) ==
        std::vector<std::string>{"msg room#1 ann one", "msg room#2 ann two"});
}

TEST_CASE_FIXTURE(PlainFixture, "streams that share a held connection do not hold it again") {
  auto connection = open_settled({"p1", "p2"});

  REQUIRE(hub.publish("room", {"ann", "m1", "one"}).sequence == 1);
  CHECK(count("hold c") == 1);
  CHECK(count("write p1") == 1);
  CHECK(count("write p2") == 1);
  complete_all();
  await_release("c");
  CHECK(count("release c") == 1);
  CHECK_FALSE(connection->held());
}

TEST_CASE_FIXTURE(PlainFixture,
                  "a stream that ends while holding its connection releases it with its last "
                  "write, once") {
  auto connection = open_settled({"p"});

  REQUIRE(hub.publish("room", {"ann", "m1", "one"}).sequence == 1);
  REQUIRE(count("hold c") == 1);
  streams[0]->subscriber->close({CloseCode::ok, ""}, true);
  CHECK(count("release c") == 0);  // its write is still in flight
  complete_all();
  CHECK(count("release c") == 1);
  CHECK_FALSE(connection->held());
  // The scheduled release finds nothing left to release.
  std::this_thread::sleep_for(kLinger * 2);
  CHECK(count("release c") == 1);
}

TEST_CASE_FIXTURE(PlainFixture,
                  "an answer to the stream's own client ends the hold with its write") {
  auto connection = open_settled({"p"});

  REQUIRE(hub.publish("room", {"ann", "m1", "one"}).sequence == 1);
  complete_all();
  auto& subscriber = *streams[0]->subscriber;
  REQUIRE(subscriber.enqueue_answer(std::make_shared<testing::TextFrame>("ack m1")));
  subscriber.flush();
  CHECK(log.events() == std::vector<std::string>{"hold c", "write p", "write p", "release c"});
  CHECK_FALSE(connection->held());
  complete_all();
  std::this_thread::sleep_for(kLinger * 2);
  CHECK(count("release c") == 1);
  CHECK(streams[0]->sink.written().back() == "ack m1");
}

namespace {

// A relay saturated for as long as the test, with each stream on a
// connection of its own.
struct OwnConnectionFixture : Fixture {
  OwnConnectionFixture() : Fixture(fixed_linger(kLinger), WriteBatching{}) {}

  // Opens the stream "p" on its own connection, "c", and lets a linger pass
  // so that its next frame is written at once.
  void open_settled() {
    open("p", std::make_shared<RecordingConnection>(log, "c", true, false));
    complete_all();
    std::this_thread::sleep_for(kLinger * 2);
    complete_all();
    log.clear();
  }

  // Waits, boundedly, for `writes` writes of "p" in all.
  void await_writes(std::size_t writes) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (count("write p") < writes && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
};

}  // namespace

TEST_CASE_FIXTURE(OwnConnectionFixture,
                  "while saturated, a stream that does not batch on a connection of its own "
                  "writes a frame at once, then puts the next ones off for a linger and sends "
                  "them as one backlog, holding nothing") {
  open_settled();
  auto& sink = streams[0]->sink;
  const auto before = static_cast<std::ptrdiff_t>(sink.more_follows().size());

  REQUIRE(hub.publish("room", {"ann", "m1", "one"}).sequence == 1);
  CHECK(log.events() == std::vector<std::string>{"write p"});
  complete_all();
  REQUIRE(hub.publish("room", {"ann", "m2", "two"}).sequence == 2);
  REQUIRE(hub.publish("room", {"ann", "m3", "three"}).sequence == 3);
  CHECK(count("write p") == 1);  // put off
  await_writes(2);
  complete_all();
  CHECK(count("write p") == 3);
  CHECK(count("hold c") == 0);
  const auto hints = sink.more_follows();
  CHECK(std::vector(hints.begin() + before, hints.end()) == std::vector<bool>{false, true, false});
  const auto written = sink.written();
  REQUIRE(written.size() >= 3);
  CHECK(
      std::vector(written.end() - 3, written.end()) ==
      std::vector<std::string>{"msg room#1 ann one", "msg room#2 ann two", "msg room#3 ann three"});
}

TEST_CASE_FIXTURE(OwnConnectionFixture, "a stream that does not batch never puts off an answer") {
  open_settled();
  REQUIRE(hub.publish("room", {"ann", "m1", "one"}).sequence == 1);
  complete_all();
  auto& subscriber = *streams[0]->subscriber;
  REQUIRE(hub.publish("room", {"ann", "m2", "two"}).sequence == 2);
  CHECK(count("write p") == 1);  // put off
  REQUIRE(subscriber.enqueue_answer(std::make_shared<testing::TextFrame>("ack m1")));
  subscriber.flush();
  CHECK(count("write p") == 2);
  complete_all();
  CHECK(count("write p") == 3);
  CHECK(streams[0]->sink.written().back() == "ack m1");
}

TEST_CASE_FIXTURE(OwnConnectionFixture, "a closing stream's frames that were put off go at once") {
  open_settled();
  REQUIRE(hub.publish("room", {"ann", "m1", "one"}).sequence == 1);
  complete_all();
  REQUIRE(hub.publish("room", {"ann", "m2", "two"}).sequence == 2);
  CHECK(count("write p") == 1);
  streams[0]->subscriber->close({CloseCode::ok, ""}, true);
  streams[0]->subscriber->flush();
  CHECK(count("write p") == 2);
  complete_all();
  CHECK(streams[0]->sink.written().back() == "msg room#2 ann two");
}

TEST_CASE_FIXTURE(Fixture,
                  "a relay that is not saturated never holds nor puts off a stream that does not "
                  "batch") {
  auto connection = std::make_shared<RecordingConnection>(log, "c");
  open("p", connection);
  complete_all();
  log.clear();
  REQUIRE(hub.publish("room", {"ann", "m1", "one"}).sequence == 1);
  CHECK(log.events() == std::vector<std::string>{"write p"});
}

TEST_CASE("a stream dropped while it holds its connection releases it") {
  EventLog log;
  auto connection = std::make_shared<RecordingConnection>(log, "c");
  AdaptiveLinger linger({.base = kLinger, .max = kLinger});
  FlushTimer timer;
  testing::ManualSink sink;
  auto subscriber =
      std::make_shared<Subscriber>(1, "ann", SubscriberKind::chat, QueueLimits{}, sink,
                                   WriteBatching{.linger = &linger}, &timer, connection);
  sink.bind(subscriber.get());
  REQUIRE(subscriber->enqueue(std::make_shared<testing::TextFrame>("a")));
  subscriber->flush();
  sink.complete_all();
  REQUIRE(connection->held());
  subscriber.reset();
  CHECK_FALSE(connection->held());
  CHECK(log.events() == std::vector<std::string>{"hold c", "release c"});
}
