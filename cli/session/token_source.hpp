#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <grpcpp/support/status.h>

#include "relay/v1/relay.pb.h"

namespace relay::cli {

// Where relay-chat gets its bearer tokens: a file read again at every use
// (renewed in place by whatever issues them), or a command run at every use
// that prints one. Both empty: no token.
struct TokenSource {
  std::string file;
  std::string command;

  bool empty() const { return file.empty() && command.empty(); }
};

// A command that has not printed its token by then is killed: a stuck
// credential helper must not hang the chat.
inline constexpr std::chrono::milliseconds kTokenCommandTimeout{10000};

// Whether a stream that ended with `status` is opened again, although
// UNAUTHENTICATED is otherwise final: it ended for its token after it was
// up (`was_up`), and `source` can give a fresh one. Only the refusal of the
// next call is final.
bool token_ran_out(const grpc::Status& status, bool was_up, const TokenSource& source);

// A fresh token, or none with the reason in `why`.
std::optional<std::string> fetch_token(const TokenSource& source, std::string& why);

// What a stream whose token runs out tells its user when no fresh one could
// be had (`why`); the relay ends the stream `ends_in_ms` after it said so.
v1::ErrorNotice token_refresh_failed(const std::string& why, std::uint32_t ends_in_ms);

// The first word of `path`, or none when the file cannot be read or holds none.
std::optional<std::string> read_token_file(const std::string& path);

// The first word `command` (run by /bin/sh) prints on its standard output,
// when it exits 0 within `timeout`; its standard error is relay-chat's.
std::optional<std::string> run_token_command(const std::string& command,
                                             std::chrono::milliseconds timeout, std::string& why);

}  // namespace relay::cli
