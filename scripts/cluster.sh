#!/usr/bin/env bash
# Several relays sharing rooms through NATS JetStream, on this machine:
# installs what is missing, builds (build/), starts nats-server with JetStream
# and three relays with --backplane nats, and says how to chat through them.
#
#   scripts/cluster.sh                  start NATS on 127.0.0.1:50060 and relays on 50061-50063
#   scripts/cluster.sh --stop-relay 2   stop relay 2 (its chats move to the others)
#   scripts/cluster.sh --start-relay 2  start relay 2 again
#   scripts/cluster.sh --stop           stop everything this script started
#
# Then, in two terminals (each chat names its relay in the status line):
#
#   build/cli/relay-chat --relay ipv4:127.0.0.1:50061,127.0.0.1:50062 --user ann
#   build/cli/relay-chat --relay 127.0.0.1:50063 --user bob
#
# CLUSTER_BASE_PORT (default 50060) moves all four ports; CLUSTER_DIR
# (default build/cluster) holds the PID files, logs and NATS's store. Every
# process is stopped by the PID recorded there, never by name.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
base=${CLUSTER_BASE_PORT:-50060}
dir=${CLUSTER_DIR:-$root/build/cluster}
server="$root/build/relay/relay-server"
chat="$root/build/cli/relay-chat"
relays=(1 2 3)

usage() {
  sed -n '2,18s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

# running NAME COMMAND: the PID in DIR/NAME.pid, if that process still runs
# COMMAND (the PID may belong to another program by now).
running() {
  local pid
  pid=$(cat "$dir/$1.pid" 2>/dev/null) || return 1
  [[ "$(ps -o comm= -p "$pid" 2>/dev/null)" == "$2" ]] && echo "$pid"
}

# stop NAME COMMAND: SIGTERM to the recorded PID, and waits up to 30 s.
stop() {
  local pid
  if ! pid=$(running "$1" "$2"); then
    rm -f "$dir/$1.pid"
    return 0
  fi
  kill -TERM "$pid"
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "cluster.sh: $1 (PID $pid) still runs after 30 s" >&2
      return 1
    fi
    sleep 0.1
  done
  rm -f "$dir/$1.pid"
  echo "stopped $1 (PID $pid)" >&2
}

relay_address() { echo "127.0.0.1:$((base + $1))"; }

start_relay() {
  local n=$1
  if running "relay$n" relay-server >/dev/null; then
    echo "relay $n already runs at $(relay_address "$n")" >&2
    return 0
  fi
  local port_file="$dir/relay$n.port"
  rm -f "$port_file"
  # setsid: a Ctrl-C in this terminal later is for the chat, not the relays.
  # shellcheck disable=SC2086 # RELAY_ARGS is a list of flags
  setsid "$server" --listen "$(relay_address "$n")" --port-file "$port_file" \
    --backplane nats --nats-url "nats://127.0.0.1:$base" ${RELAY_ARGS:-} \
    </dev/null >>"$dir/relay$n.log" 2>&1 &
  echo $! >"$dir/relay$n.pid"
  local deadline=$((SECONDS + 20))
  until [[ -s "$port_file" ]]; do
    if ((SECONDS >= deadline)) || ! kill -0 "$(cat "$dir/relay$n.pid")" 2>/dev/null; then
      echo "cluster.sh: relay $n did not start; see $dir/relay$n.log" >&2
      return 1
    fi
    sleep 0.05
  done
  # Serving once it has read what the stream holds.
  until "$chat" --relay "$(relay_address "$n")" --timeout 1 health >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "cluster.sh: relay $n does not serve; see $dir/relay$n.log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "relay $n serves at $(relay_address "$n") (log: $dir/relay$n.log)" >&2
}

relay_number() {
  if [[ ! "${1:-}" =~ ^[123]$ ]]; then
    echo "cluster.sh: name a relay: 1, 2 or 3" >&2
    exit 2
  fi
  echo "$1"
}

case "${1:-}" in
  --stop)
    status=0
    for n in "${relays[@]}"; do
      stop "relay$n" relay-server || status=1
    done
    stop nats nats-server || status=1
    exit "$status"
    ;;
  --stop-relay)
    stop "relay$(relay_number "${2:-}")" relay-server
    exit
    ;;
  --start-relay)
    start_relay "$(relay_number "${2:-}")"
    exit
    ;;
  -h | --help)
    usage
    exit 0
    ;;
  "") ;;
  *)
    usage >&2
    exit 2
    ;;
esac

"$root/scripts/deps.sh"
"$root/scripts/build.sh" normal --target relay-server --target relay-chat >&2
mkdir -p "$dir/nats-store"

if running nats nats-server >/dev/null; then
  echo "NATS already runs at nats://127.0.0.1:$base" >&2
else
  setsid nats-server -js -a 127.0.0.1 -p "$base" -sd "$dir/nats-store" \
    </dev/null >>"$dir/nats.log" 2>&1 &
  echo $! >"$dir/nats.pid"
  deadline=$((SECONDS + 20))
  until (: >"/dev/tcp/127.0.0.1/$base") 2>/dev/null; do
    if ((SECONDS >= deadline)) || ! kill -0 "$(cat "$dir/nats.pid")" 2>/dev/null; then
      echo "cluster.sh: nats-server did not start; see $dir/nats.log" >&2
      exit 1
    fi
    sleep 0.05
  done
  echo "NATS (JetStream) runs at nats://127.0.0.1:$base (log: $dir/nats.log)" >&2
fi
for n in "${relays[@]}"; do
  start_relay "$n"
done

cat >&2 <<EOF

Chat through different relays, each in a terminal of its own:
  build/cli/relay-chat --relay ipv4:$(relay_address 1),$(relay_address 2) --user ann
  build/cli/relay-chat --relay $(relay_address 3) --user bob
Stop the relay ann's status line names (scripts/cluster.sh --stop-relay 1, or 2):
her chat carries on at the other one, with nothing lost or shown twice.
scripts/cluster.sh --stop stops everything.
EOF
