#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "relay/hub/hub.hpp"
#include "tests/unit/hub_fakes.hpp"

using namespace relay::hub;
using relay::hub::testing::FakeClock;
using relay::hub::testing::ManualSink;
using relay::hub::testing::TextEncoder;

namespace {

// Holds, releases and the writes started meanwhile, in the order they came.
using EventLog = std::vector<std::string>;

class RecordingConnection : public SharedConnection {
 public:
  RecordingConnection(EventLog& log, std::string name, bool holdable = true)
      : log_(log), name_(std::move(name)), holdable_(holdable) {}
  bool hold() override {
    log_.push_back("hold " + name_);
    return holdable_;
  }
  void release() override { log_.push_back("release " + name_); }

 private:
  EventLog& log_;
  const std::string name_;
  const bool holdable_;
};

class LoggingSink : public ManualSink {
 public:
  LoggingSink(EventLog& log, std::string name) : log_(log), name_(std::move(name)) {}
  void start_write(std::span<const FramePtr> frames) override {
    log_.push_back("write " + name_);
    ManualSink::start_write(frames);
  }

 private:
  EventLog& log_;
  const std::string name_;
};

struct Stream {
  Stream(Hub& hub, EventLog& log, const std::string& name,
         std::shared_ptr<SharedConnection> connection)
      : sink(log, name),
        subscriber(
            hub.make_subscriber(name, SubscriberKind::chat, sink, {}, std::move(connection))) {
    sink.bind(subscriber.get());
  }
  LoggingSink sink;
  SubscriberPtr subscriber;
};

struct Fixture {
  TextEncoder encoder;
  FakeClock time;
  Hub hub{HubLimits{}, encoder, time.clock()};
  EventLog log;
  std::vector<std::unique_ptr<Stream>> streams;

  void open(const std::string& name, std::shared_ptr<SharedConnection> connection) {
    streams.push_back(std::make_unique<Stream>(hub, log, name, std::move(connection)));
    REQUIRE(hub.join("room", streams.back()->subscriber, std::nullopt, {}).status ==
            JoinStatus::joined);
  }
  void complete_all() {
    for (auto& stream : streams) {
      stream->sink.complete_all();
    }
  }
  // The events between "hold NAME" and "release NAME", or nothing if none.
  std::vector<std::string> held(const std::string& name) const {
    const auto hold = std::find(log.begin(), log.end(), "hold " + name);
    const auto release = std::find(log.begin(), log.end(), "release " + name);
    if (hold == log.end() || release == log.end() || release < hold) {
      return {};
    }
    return {hold + 1, release};
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
  CHECK(std::count(log.begin(), log.end(), "hold pair") == 0);
  CHECK(std::count(log.begin(), log.end(), "write p1") == 1);
  CHECK(std::count(log.begin(), log.end(), "write p2") == 1);
  CHECK(std::count(log.begin(), log.end(), "write alone") == 1);
  CHECK(log.size() == 10);
  complete_all();
  for (const auto& stream : streams) {
    CHECK(stream->sink.written().back() == "msg room#1 ann hello");
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

  CHECK(std::count(log.begin(), log.end(), "hold gone") == 1);
  CHECK(std::count(log.begin(), log.end(), "release gone") == 0);
  CHECK(log.size() == 5);
  complete_all();
  for (const auto& stream : streams) {
    CHECK(stream->sink.written().back() == "msg room#1 ann hello");
  }
}
