#!/usr/bin/env bash
# Installs what is missing, builds (build/, RelWithDebInfo), starts a relay on
# 127.0.0.1:50051 unless one already answers there, and opens relay-chat on
# it. Arguments go to relay-chat:
#
#   scripts/run.sh                          chat in #lobby as $USER
#   scripts/run.sh --user bob               a second user, from a second terminal
#   scripts/run.sh --room ops --user alice
#   scripts/run.sh --relay 127.0.0.1:6000   another address (for the relay too)
#   scripts/run.sh --stop                   stop the relay a run of this script started
#
# The relay this script started stops (SIGTERM, graceful) when the chat ends;
# its log is build/relay-server.log, its PID build/relay-server.pid, which
# --stop reads: other relays, of other users too, are left alone. RELAY_ARGS
# passes flags to relay-server.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pid_file="$root/build/relay-server.pid"

if [[ "${1:-}" == --stop ]]; then
  pid=$(cat "$pid_file" 2>/dev/null) || pid=""
  # The recorded PID may belong to another program by now: check the name.
  if [[ -z "$pid" || "$(ps -o comm= -p "$pid" 2>/dev/null)" != relay-server ]]; then
    echo "no relay started by scripts/run.sh is running" >&2
    exit 1
  fi
  kill -TERM "$pid"
  deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "relay-server (PID $pid) is still shutting down after 30 s" >&2
      exit 1
    fi
    sleep 0.1
  done
  rm -f "$pid_file"
  echo "stopped relay-server (PID $pid)" >&2
  exit 0
fi

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
"$root/scripts/build.sh" normal --target relay-server --target relay-chat >&2

server="$root/build/relay/relay-server"
chat="$root/build/cli/relay-chat"
# shellcheck source=scripts/relay_process.sh
source "$root/scripts/relay_process.sh"
# The PID file goes with the relay it names, not with one a later run started.
forget_relay() {
  if [[ -n "$relay_pid" && "$(cat "$pid_file" 2>/dev/null)" == "$relay_pid" ]]; then
    rm -f "$pid_file"
  fi
  relay_stop || true
}
trap forget_relay EXIT

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
  echo "$relay_pid" >"$pid_file"
  echo "relay-server is running at $address (log: build/relay-server.log; stop it with" \
    "scripts/run.sh --stop)" >&2
fi

"$chat" "${relay_flag[@]}" "$@"
