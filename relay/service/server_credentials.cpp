#include "relay/service/server_credentials.hpp"

#include <algorithm>
#include <optional>
#include <tuple>

#include <fmt/format.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "common/files.hpp"

namespace relay::service {
namespace {

// What is wrong with a PEM file the relay was given, if anything. Only the
// shape is checked: whether the key fits the certificate is gRPC's to say,
// and it says so in the relay's log at its first read.
std::optional<std::string> pem_problem(const std::string& flag, const std::string& path,
                                       const std::string& kind) {
  const auto text = common::read_whole_file(path);
  if (!text) {
    return fmt::format("{} {}: cannot read the file", flag, path);
  }
  if (text->find("-----BEGIN ") == std::string::npos || text->find(kind) == std::string::npos) {
    return fmt::format("{} {}: not a PEM file with a {}", flag, path, kind);
  }
  return std::nullopt;
}

}  // namespace

std::variant<std::shared_ptr<grpc::ServerCredentials>, std::string> server_credentials(
    const common::RelayConfig& config) {
  if (config.tls_cert.empty() && config.tls_key.empty()) {
    if (!config.tls_client_ca.empty()) {
      return std::string(
          "--tls-client-ca needs --tls-cert and --tls-key: client certificates "
          "are checked only over TLS");
    }
    return grpc::InsecureServerCredentials();
  }
  if (config.tls_cert.empty() || config.tls_key.empty()) {
    return std::string(
        "--tls-cert and --tls-key go together: give both, or neither for "
        "plaintext");
  }
  for (const auto& [flag, path, kind] :
       {std::tuple{"--tls-cert", config.tls_cert, "CERTIFICATE"},
        std::tuple{"--tls-key", config.tls_key, "PRIVATE KEY"},
        std::tuple{"--tls-client-ca", config.tls_client_ca, "CERTIFICATE"}}) {
    if (!path.empty()) {
      if (auto problem = pem_problem(flag, path, kind)) {
        return *problem;
      }
    }
  }
  const auto interval_s = static_cast<unsigned>(
      std::max<std::int64_t>(1, (config.tls_reload_interval_ms + 999) / 1000));
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      config.tls_key, config.tls_cert, config.tls_client_ca, interval_s);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (config.tls_client_ca.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

}  // namespace relay::service
