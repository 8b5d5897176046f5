#!/usr/bin/env bash
# Installs what is missing, builds (build/, RelWithDebInfo), starts a relay on
# 127.0.0.1:50051 unless one already answers there, and opens relay-chat on
# it. Arguments go to relay-chat:
#
#   scripts/run.sh                          chat in #lobby as $USER
#   scripts/run.sh --user bob               a second user, from a second terminal
#   scripts/run.sh --room ops --user alice
#   scripts/run.sh --relay 127.0.0.1:6000   another address (for the relay too)
#
# The relay this script started stops (SIGTERM, graceful) when the chat ends;
# its log is build/relay-server.log. RELAY_ARGS passes flags to relay-server.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
address=127.0.0.1:50051
relay_flag=(--relay "$address")
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --relay) address=${args[i + 1]:-$address} relay_flag=() ;;
    --relay=*) address=${args[i]#--relay=} relay_flag=() ;;
  esac
done

"$root/scripts/deps.sh"
"$root/scripts/build.sh" normal >&2

server="$root/build/relay/relay-server"
chat="$root/build/cli/relay-chat"
# shellcheck source=scripts/relay_process.sh
source "$root/scripts/relay_process.sh"
trap 'relay_stop || true' EXIT

if "$chat" --relay "$address" --timeout 1 rooms >/dev/null 2>&1; then
  echo "using the relay already running at $address" >&2
else
  port_file=$(mktemp)
  rm -f "$port_file"
  # shellcheck disable=SC2086 # RELAY_ARGS is a list of flags
  if ! relay_start "$port_file" "$root/build/relay-server.log" \
    "$server" --listen "$address" --port-file "$port_file" ${RELAY_ARGS:-}; then
    echo "relay-server did not start; see $root/build/relay-server.log" >&2
    exit 1
  fi
  rm -f "$port_file"
  echo "relay-server is running at $address (log: build/relay-server.log)" >&2
fi

"$chat" "${relay_flag[@]}" "$@"
