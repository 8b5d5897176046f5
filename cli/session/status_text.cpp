#include "cli/session/status_text.hpp"

#include <fmt/format.h>

#include "common/status_names.hpp"

namespace relay::cli {

std::string status_code_name(int code) {
  const auto name = common::status_code_name(code);
  return name ? std::string(*name) : "code " + std::to_string(code);
}

std::string describe_grpc_status(const grpc::Status& status) {
  const std::string name = status_code_name(static_cast<int>(status.error_code()));
  return status.error_message().empty() ? name : name + ": " + status.error_message();
}

std::string cannot_reach(const std::string& target, const std::string& reason,
                         const common::ClientTls& tls) {
  const std::string hint = common::tls_hint(tls, reason);
  return "cannot reach a relay at " + target + ": " + reason + (hint.empty() ? "" : "; " + hint);
}

std::string no_answer_within(std::chrono::milliseconds timeout) {
  return fmt::format("no answer within {:g} s", static_cast<double>(timeout.count()) / 1000);
}

std::string not_serving(const std::string& target) {
  return "the relay at " + target + " is NOT_SERVING: " + kNotServingReason;
}

}  // namespace relay::cli
