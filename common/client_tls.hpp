#pragma once

#include <memory>
#include <string>
#include <variant>

#include <grpcpp/security/credentials.h>

namespace relay::common {

// How a client (relay-chat, relay-bench) reaches a relay that speaks TLS.
struct ClientTls {
  bool enabled = false;  // --tls: trust the system's CAs, unless ca_file names one
  std::string ca_file;   // --tls-ca: PEM CAs the relay's certificate must be signed by
  // --tls-cert and --tls-key: the client's own certificate, for mutual TLS.
  std::string cert_file;
  std::string key_file;

  bool on() const { return enabled || !ca_file.empty() || !cert_file.empty(); }
};

// Plaintext when TLS is off; otherwise TLS credentials with the files' PEM
// read now. Or a message naming the file or flag at fault.
std::variant<std::shared_ptr<grpc::ChannelCredentials>, std::string> channel_credentials(
    const ClientTls& tls);

// What to tell a person whose call failed this way, beyond gRPC's own words,
// when TLS (or its absence) is the likely cause; empty otherwise.
std::string tls_hint(const ClientTls& tls, const std::string& grpc_error);

}  // namespace relay::common
