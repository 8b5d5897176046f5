#pragma once

#include <memory>
#include <string>
#include <variant>

#include <grpcpp/security/server_credentials.h>

#include "common/config.hpp"

namespace relay::service {

// The credentials the relay listens with: plaintext without --tls-cert, TLS
// (mutual with --tls-client-ca) with it. The files are checked once here so
// that a typo stops the relay with a message naming the file, rather than
// failing every handshake later; gRPC then reads them again every
// tls_reload_interval_ms.
//
// Either the credentials or a message for the person who started the relay.
std::variant<std::shared_ptr<grpc::ServerCredentials>, std::string> server_credentials(
    const common::RelayConfig& config);

}  // namespace relay::service
