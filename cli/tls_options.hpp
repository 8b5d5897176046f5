#pragma once

#include <CLI/CLI.hpp>

#include "common/client_tls.hpp"

namespace relay::cli {

// The TLS flags that relay-chat and relay-bench share.
inline void add_tls_options(CLI::App& app, common::ClientTls& tls) {
  app.add_flag("--tls", tls.enabled,
               "Speak TLS to the relay, trusting this machine's CAs (or the one in --tls-ca)");
  app.add_option("--tls-ca", tls.ca_file,
                 "PEM file of the CA the relay's certificate is signed by (implies --tls)");
  app.add_option("--tls-cert", tls.cert_file,
                 "PEM certificate to show the relay, for mutual TLS (with --tls-key)");
  app.add_option("--tls-key", tls.key_file, "PEM private key of --tls-cert");
}

}  // namespace relay::cli
