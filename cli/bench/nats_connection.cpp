#include "cli/bench/nats_connection.hpp"

#include <fmt/format.h>

namespace relay::cli::bench {
namespace {

constexpr std::int64_t kConnectTimeoutMs = 30'000;

std::string describe(const std::string& what, natsStatus status) {
  // The thread's last error names the cause ("connection refused"), the
  // status only its kind.
  const char* detail = nats_GetLastError(nullptr);
  return fmt::format("{}: {}", what,
                     detail != nullptr && *detail != '\0' ? detail : natsStatus_GetText(status));
}

void check(natsStatus status, const char* what) {
  if (status != NATS_OK) {
    throw NatsError(what, status);
  }
}

}  // namespace

NatsError::NatsError(const std::string& what, natsStatus status)
    : std::runtime_error(describe(what, status)) {}

NatsOptions::NatsOptions(const std::string& url) {
  natsOptions* options = nullptr;
  check(natsOptions_Create(&options), "natsOptions_Create");
  options_.reset(options);
  check(natsOptions_SetURL(options, url.c_str()), "bad NATS URL");
  check(natsOptions_SetName(options, "relay-bench"), "natsOptions_SetName");
  check(natsOptions_SetSendAsap(options, true), "natsOptions_SetSendAsap");
  check(natsOptions_UseGlobalMessageDelivery(options, true),
        "natsOptions_UseGlobalMessageDelivery");
  check(natsOptions_SetAllowReconnect(options, false), "natsOptions_SetAllowReconnect");
  check(natsOptions_SetTimeout(options, kConnectTimeoutMs), "natsOptions_SetTimeout");
  check(natsOptions_SetIgnoreDiscoveredServers(options, true),
        "natsOptions_SetIgnoreDiscoveredServers");
}

NatsConnection::NatsConnection(const NatsOptions& options) {
  const natsStatus status = natsConnection_Connect(&connection_, options.get());
  if (status != NATS_OK) {
    throw NatsError("cannot connect to NATS", status);
  }
}

NatsConnection::~NatsConnection() { natsConnection_Destroy(connection_); }

std::uint64_t NatsConnection::sent() {
  std::lock_guard lock(mutex_);
  return ++sent_;
}

bool NatsConnection::confirm(std::uint64_t number, std::chrono::milliseconds timeout) {
  std::lock_guard lock(mutex_);
  if (confirmed_ >= number) {
    return true;
  }
  // Everything counted so far goes before this PING (confirmations are
  // serialised, and sent() is called after the SUB or UNSUB was written).
  const std::uint64_t through = sent_;
  if (natsConnection_FlushTimeout(connection_, timeout.count()) != NATS_OK) {
    return false;
  }
  confirmed_ = through;
  return true;
}

}  // namespace relay::cli::bench
