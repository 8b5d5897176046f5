#include "jetstream.hpp"

namespace relay::bench::nats_positions {
namespace {

std::string describe(const std::string& what, natsStatus status, jsErrCode code) {
  // The thread's last error names the cause, the status only its kind.
  const char* detail = nats_GetLastError(nullptr);
  std::string text =
      what + ": " + (detail != nullptr && *detail != '\0' ? detail : natsStatus_GetText(status));
  if (code != 0) {
    text += " (JetStream error " + std::to_string(static_cast<int>(code)) + ")";
  }
  return text;
}

}  // namespace

NatsFailure::NatsFailure(const std::string& what, natsStatus status, jsErrCode code)
    : std::runtime_error(describe(what, status, code)) {}

void check(natsStatus status, const std::string& what, jsErrCode code) {
  if (status != NATS_OK) {
    throw NatsFailure(what, status, code);
  }
}

ConnectionPtr connect(const std::string& url) {
  natsOptions* raw_options = nullptr;
  check(natsOptions_Create(&raw_options), "natsOptions_Create");
  std::unique_ptr<natsOptions, void (*)(natsOptions*)> options(raw_options, natsOptions_Destroy);
  check(natsOptions_SetURL(raw_options, url.c_str()), "bad NATS URL");
  check(natsOptions_SetName(raw_options, "nats-positions"), "natsOptions_SetName");
  // A measurement against a server that went away is void, not to be resumed.
  check(natsOptions_SetAllowReconnect(raw_options, false), "natsOptions_SetAllowReconnect");
  // Without it the client holds writes back about a millisecond to group
  // them, which would be the whole ack latency of a room whose publishes go
  // one at a time (the counted layout); relay-bench sets it too.
  check(natsOptions_SetSendAsap(raw_options, true), "natsOptions_SetSendAsap");
  // The many-consumers phase delivers to 1,000 subscriptions: without it the
  // client starts a thread per subscription, which is the client's cost,
  // not the layout's.
  check(natsOptions_UseGlobalMessageDelivery(raw_options, true),
        "natsOptions_UseGlobalMessageDelivery");
  natsConnection* connection = nullptr;
  check(natsConnection_Connect(&connection, raw_options), "cannot connect to " + url);
  return ConnectionPtr(connection);
}

std::uint64_t stream_sequence(natsMsg* message) {
  const std::uint64_t from_get = natsMsg_GetSequence(message);
  if (from_get != 0) {
    return from_get;
  }
  jsMsgMetaData* meta = nullptr;
  check(natsMsg_GetMetaData(&meta, message), "natsMsg_GetMetaData");
  const std::uint64_t sequence = meta->Sequence.Stream;
  jsMsgMetaData_Destroy(meta);
  return sequence;
}

}  // namespace relay::bench::nats_positions
