#!/usr/bin/env bash
# Installs what is missing, builds (build/, RelWithDebInfo) and runs the relay
# in the foreground on 127.0.0.1:50051. Arguments go to relay-server:
#
#   scripts/run.sh --history-max-messages 5000
#   scripts/run.sh --config relay.json
#   scripts/run.sh --help
#
# Ctrl-C shuts the relay down gracefully.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

"$root/scripts/deps.sh"
"$root/scripts/build.sh" normal

# The default address is added only when the arguments name neither an address
# nor a config file (which may name one): relay-server takes an option once.
listen=(--listen 127.0.0.1:50051)
for arg in "$@"; do
  case "$arg" in
    --listen | --listen=* | --listen-address | --listen-address=* | --config | --config=*)
      listen=()
      ;;
  esac
done

exec "$root/build/relay/relay-server" "${listen[@]}" "$@"
