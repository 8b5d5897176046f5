// Answers that come late, from the backplane's own threads: the counting that
// decides who ends a call, and the test backplane that answers that way. No
// gRPC here, so ThreadSanitizer races all of it (the reactors themselves run
// under AddressSanitizer in tests/integration/late_answers_test.cpp).
#include <doctest/doctest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "relay/backplane/pending_answers.hpp"
#include "relay/hub/hub.hpp"
#include "tests/support/late_backplane.hpp"
#include "tests/unit/hub_fakes.hpp"

using namespace std::chrono_literals;
using relay::backplane::PendingAnswers;
using relay::hub::Hub;
using relay::hub::HubLimits;
using relay::hub::PublishResult;
using relay::hub::testing::TextEncoder;
using relay::testing::LateBackplane;

namespace {

struct Summary {
  std::uint64_t accepted = 0;
  std::uint64_t rejected = 0;
  std::uint64_t first_sequence = 0;
  std::uint64_t last_sequence = 0;
};

// PublishBatchReactor's shape without gRPC: it publishes as it "reads",
// counts each answer under its lock, and deletes itself, as a reactor is
// deleted once it finishes, when PendingAnswers says it settled last. A touch
// of the call after that is a use after free for the sanitizers to see.
class SelfEndingCall {
 public:
  static void start(relay::backplane::Backplane& backplane, std::string room, int messages,
                    relay::hub::CreateGate gate, std::promise<Summary> ended) {
    (new SelfEndingCall(backplane, std::move(room), std::move(gate), std::move(ended)))
        ->publish_all(messages);
  }

 private:
  SelfEndingCall(relay::backplane::Backplane& backplane, std::string room,
                 relay::hub::CreateGate gate, std::promise<Summary> ended)
      : backplane_(backplane),
        room_(std::move(room)),
        gate_(std::move(gate)),
        ended_(std::move(ended)) {}

  void publish_all(int messages) {
    for (int i = 0; i < messages; ++i) {
      pending_.expect();
      backplane_.publish(room_, {"ann", room_ + "-" + std::to_string(i), "body"}, gate_,
                         [this](const PublishResult& result) {
                           count(result);
                           if (pending_.answered()) {
                             end();
                           }
                         });
    }
    if (pending_.reads_done()) {
      end();
    }
  }

  void count(const PublishResult& result) {
    std::lock_guard lock(mutex_);
    if (result.too_many_rooms || result.creation_refused) {
      ++summary_.rejected;
      return;
    }
    if (summary_.accepted++ == 0) {
      summary_.first_sequence = result.sequence;
    }
    summary_.first_sequence = std::min(summary_.first_sequence, result.sequence);
    summary_.last_sequence = std::max(summary_.last_sequence, result.sequence);
  }

  void end() {
    Summary summary;
    {
      std::lock_guard lock(mutex_);
      summary = summary_;
    }
    ended_.set_value(summary);
    delete this;
  }

  relay::backplane::Backplane& backplane_;
  const std::string room_;
  const relay::hub::CreateGate gate_;
  std::promise<Summary> ended_;
  PendingAnswers pending_;
  std::mutex mutex_;
  Summary summary_;  // guarded by mutex_
};

}  // namespace

TEST_CASE(
    "PendingAnswers tells exactly one party to finish, the last to settle, and shows it all") {
  constexpr int kRounds = 300;
  constexpr int kAnswerers = 4;
  constexpr int kAnswersEach = 16;
  for (int round = 0; round < kRounds; ++round) {
    PendingAnswers pending;
    // Plain ints, each written by one answerer: the finisher reads them all
    // without a lock, which is only right if settling orders the writes.
    std::array<int, kAnswerers> counted{};
    std::atomic<int> finishers{0};
    int total_seen = -1;  // written by the finisher alone
    const auto finish = [&] {
      total_seen = std::accumulate(counted.begin(), counted.end(), 0);
      finishers.fetch_add(1);
    };
    for (int i = 0; i < kAnswerers * kAnswersEach; ++i) {
      pending.expect();
    }
    std::vector<std::thread> answerers;
    for (int t = 0; t < kAnswerers; ++t) {
      answerers.emplace_back([&, t] {
        for (int i = 0; i < kAnswersEach; ++i) {
          ++counted[t];
          if (pending.answered()) {
            finish();
          }
        }
      });
    }
    if (pending.reads_done()) {
      finish();
    }
    for (auto& answerer : answerers) {
      answerer.join();
    }
    REQUIRE(finishers.load() == 1);
    CHECK(total_seen == kAnswerers * kAnswersEach);
  }
}

TEST_CASE("calls that end themselves at their last late answer count every message exactly once") {
  TextEncoder encoder;
  HubLimits limits;
  limits.room.history = {10000, 64 * 1024 * 1024};
  Hub hub(limits, encoder);
  LateBackplane backplane(hub, {.max_delay = 300us, .workers = 3, .seed = 7});

  constexpr int kCalls = 8;
  constexpr int kMessages = 300;
  std::vector<std::future<Summary>> summaries;
  std::vector<std::thread> readers;
  for (int call = 0; call < kCalls; ++call) {
    std::promise<Summary> ended;
    summaries.push_back(ended.get_future());
    // Every other call may not create its room: all its messages are refused.
    const bool may_create = call % 2 == 0;
    readers.emplace_back([&backplane, call, may_create, ended = std::move(ended)]() mutable {
      SelfEndingCall::start(
          backplane, "room-" + std::to_string(call), kMessages, [may_create] { return may_create; },
          std::move(ended));
    });
  }
  for (auto& reader : readers) {
    reader.join();
  }
  for (int call = 0; call < kCalls; ++call) {
    CAPTURE(call);
    REQUIRE(summaries[call].wait_for(30s) == std::future_status::ready);
    const Summary summary = summaries[call].get();
    CHECK(summary.accepted + summary.rejected == kMessages);
    if (call % 2 == 0) {
      CHECK(summary.accepted == kMessages);
      CHECK(summary.first_sequence == 1);
      CHECK(summary.last_sequence == kMessages);
    } else {
      CHECK(summary.rejected == kMessages);
    }
  }
  CHECK(backplane.wait_answered(kCalls * kMessages, 10s));
}

TEST_CASE("LateBackplane answers each publish once, on its own threads, in the order given") {
  TextEncoder encoder;
  Hub hub(HubLimits{}, encoder);
  constexpr int kMessages = 200;
  std::mutex mutex;
  std::vector<std::uint64_t> sequences(kMessages, 0);  // guarded by mutex
  int answers = 0;                                     // guarded by mutex
  bool on_caller_thread = false;                       // guarded by mutex
  const auto caller = std::this_thread::get_id();
  const auto publish_all = [&](LateBackplane& backplane) {
    for (int i = 0; i < kMessages; ++i) {
      backplane.publish("room", {"ann", "id-" + std::to_string(i), "body"}, {},
                        [&, i](const PublishResult& result) {
                          std::lock_guard lock(mutex);
                          sequences[i] = result.sequence;
                          ++answers;
                          on_caller_thread =
                              on_caller_thread || std::this_thread::get_id() == caller;
                        });
    }
  };

  SUBCASE("answers come after their delays") {
    LateBackplane backplane(hub, {.max_delay = 500us, .workers = 2, .seed = 1});
    publish_all(backplane);
    REQUIRE(backplane.wait_answered(kMessages, 10s));
  }
  SUBCASE("answers held back when it goes are given then") {
    LateBackplane backplane(hub, {.max_delay = 500us, .workers = 2, .seed = 2});
    backplane.hold();
    publish_all(backplane);
    REQUIRE(backplane.wait_published(kMessages, 1s));
    CHECK(backplane.answered() == 0);
  }
  std::lock_guard lock(mutex);
  CHECK(answers == kMessages);
  CHECK_FALSE(on_caller_thread);
  for (int i = 0; i < kMessages; ++i) {
    CHECK(sequences[i] == static_cast<std::uint64_t>(i + 1));
  }
}
