#include "common/client_tls.hpp"

#include <optional>
#include <tuple>

#include "common/files.hpp"

namespace relay::common {
namespace {

bool contains(const std::string& text, const char* part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

std::variant<std::shared_ptr<grpc::ChannelCredentials>, std::string> channel_credentials(
    const ClientTls& tls) {
  if (!tls.on()) {
    return grpc::InsecureChannelCredentials();
  }
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return std::string("--tls-cert and --tls-key go together: give both for mutual TLS");
  }
  grpc::SslCredentialsOptions options;
  for (const auto& [flag, path, pem] :
       {std::tuple{"--tls-ca", &tls.ca_file, &options.pem_root_certs},
        std::tuple{"--tls-cert", &tls.cert_file, &options.pem_cert_chain},
        std::tuple{"--tls-key", &tls.key_file, &options.pem_private_key}}) {
    if (path->empty()) {
      continue;
    }
    auto text = read_whole_file(*path);
    if (!text || !contains(*text, "-----BEGIN ")) {
      return std::string(flag) + " " + *path + ": cannot read a PEM file there";
    }
    *pem = std::move(*text);
  }
  return grpc::SslCredentials(options);
}

std::string tls_hint(const ClientTls& tls, const std::string& grpc_error) {
  if (tls.on() && contains(grpc_error, "andshake")) {
    return tls.ca_file.empty()
               ? "the TLS handshake failed: is the relay's certificate signed by a CA this "
                 "machine trusts (else name it with --tls-ca), and does the relay speak TLS?"
               : "the TLS handshake failed: is the relay's certificate signed by the CA in " +
                     tls.ca_file +
                     ", is it for the address in --relay, and does the relay want a client "
                     "certificate (--tls-cert, --tls-key)?";
  }
  // A TLS relay closes a plaintext connection at its first bytes; a relay
  // that is not there refuses it, which says nothing about TLS.
  if (!tls.on() &&
      (contains(grpc_error, "Socket closed") || contains(grpc_error, "Connection reset"))) {
    return "if the relay speaks TLS, connect with --tls (or --tls-ca FILE)";
  }
  return "";
}

}  // namespace relay::common
