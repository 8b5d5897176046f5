#pragma once

namespace relay::common {

// Call metadata of the relay's protocol, shared by the relay and its clients.

// The caller's name, on every call.
inline constexpr const char* kUserKey = "x-relay-user";

// The hello: initial metadata a relay sends as soon as a Chat stream opens,
// telling the client the stream is up and which limits hold on it, so that a
// well-behaved client paces and sizes its publishes and is never refused
// (its value: common/hello.hpp).
inline constexpr const char* kHelloKey = "x-relay-stream";
inline constexpr const char* kHelloVersion = "v1";

// Trailing metadata of a PublishBatch call that the relay ended UNAVAILABLE
// (it was shutting down, or lost its message broker meanwhile): how many of
// its messages were accepted, and how many it processed, from the first on,
// each accepted or rejected. It processed none after those.
inline constexpr const char* kAcceptedKey = "x-relay-accepted";
inline constexpr const char* kProcessedKey = "x-relay-processed";

// Sent by a client on Chat and Follow calls that can unpack
// ServerFrame.batch (see relay.proto); any other value, or none, means no.
inline constexpr const char* kAcceptBatchKey = "x-relay-accept-batch";
inline constexpr const char* kAcceptBatchYes = "1";

}  // namespace relay::common
