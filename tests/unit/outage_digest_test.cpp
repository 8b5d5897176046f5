#include <doctest/doctest.h>

#include <chrono>
#include <vector>

#include "cli/ui/outage_digest.hpp"

namespace {

using relay::cli::ConnectionState;
using relay::cli::ConnectionStatus;
using relay::cli::ui::OutageDigest;
using namespace std::chrono_literals;

struct StatusLog final : relay::cli::SessionListener {
  void on_message(const relay::v1::Message&) override {}
  void on_joined(const relay::v1::Joined&, bool) override {}
  void on_presence(const relay::v1::Presence&) override {}
  void on_ack(const relay::v1::PublishAck&) override {}
  void on_error(const relay::v1::ErrorNotice&) override {}
  void on_status(const ConnectionStatus& status) override { states.push_back(status.state); }
  std::vector<ConnectionState> states;
};

}  // namespace

TEST_CASE("an outage is told once when it starts, once a minute while it lasts, once at its end") {
  StatusLog log;
  std::chrono::steady_clock::time_point now{};
  OutageDigest digest(log, 1min, [&now] { return now; });
  const auto attempt = [&] {
    digest.on_status({ConnectionState::connecting, 0, {}, ""});
    digest.on_status({ConnectionState::reconnecting, 1, 30s, "cannot reach a relay"});
    now += 30s;
  };
  for (int i = 0; i < 10; ++i) {  // five minutes of failing attempts
    attempt();
  }
  digest.on_status({ConnectionState::connecting, 0, {}, ""});
  digest.on_status({ConnectionState::connected, 0, {}, ""});
  CHECK(log.states == std::vector{ConnectionState::connecting, ConnectionState::reconnecting,
                                  ConnectionState::reconnecting, ConnectionState::reconnecting,
                                  ConnectionState::reconnecting, ConnectionState::reconnecting,
                                  ConnectionState::connected});
}
