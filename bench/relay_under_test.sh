# Sourced by bench/run.sh and bench/compare.sh, so that both start the server
# under measurement the same way: pinned to its own core, with the same
# flags, a fresh one per run, stopped by its PID on exit. Needs $work, a
# scratch directory the caller owns; the server's port is in $work/port.

# shellcheck source=scripts/relay_process.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/relay_process.sh"

# Two cores: the relay gets one, the bench the other. A one-core machine
# shares it.
relay_cpu=1
bench_cpu=0
if (($(nproc) < 2)); then
  relay_cpu=0
fi

cleanup() {
  relay_stop || true
  stop_cluster >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# start_relay BINARY [FLAGS...]: relay-server, or the Go reference when the
# binary is named relay-reference; returns once the relay listens.
start_relay() {
  local binary=$1
  shift
  local command
  if [[ $(basename "$binary") == relay-reference ]]; then
    command=("$binary" -listen 127.0.0.1:0 -port-file "$work/port" "$@")
  else
    # The reference has neither a publish rate limit nor a duplicate window,
    # nor limits on streams, joins and rooms per user; all are off so that
    # the two relays do the same work (the bench is one user on one address).
    # (The window would also fill up to its 10,000 ids during churn, growing
    # RSS by a bounded amount that hides what the streams leave behind.)
    # Flags given come after these and win.
    command=("$binary" --listen 127.0.0.1:0 --port-file "$work/port"
      --publish-rate-per-second 0 --duplicate-window-ms 0 --log-level warn
      --max-streams 0 --max-streams-per-user 0 --max-streams-per-peer 0
      --room-creations-per-user-per-minute 0 --room-creations-per-peer-per-minute 0
      --join-rate-per-second 0 "$@")
  fi
  if ! relay_start "$work/port" "$work/relay.log" taskset -c "$relay_cpu" "${command[@]}"; then
    echo "$(basename "$binary") did not start" >&2
    cat "$work/relay.log" >&2
    exit 1
  fi
}

# start_nats [FLAGS...]: nats-server (core NATS: no JetStream, no
# persistence), pinned as the relays are, on a free loopback port; returns
# once it listens.
start_nats() {
  if ! nats_start "$work/nats" "$work/relay.log" taskset -c "$relay_cpu" nats-server "$@"; then
    echo "nats-server did not start" >&2
    cat "$work/relay.log" >&2
    exit 1
  fi
  cp "$work/nats/port" "$work/port"
}

# stop_relay: a server that died during the run fails the whole run, so
# that its figures never reach the medians.
stop_relay() {
  if ! kill -0 "$relay_pid" 2>/dev/null; then
    echo "the server (PID $relay_pid) died during the run" >&2
    cat "$work/relay.log" >&2
    exit 1
  fi
  relay_stop || true
}

# start_cluster BINARY [FLAGS...]: nats-server with JetStream (a fresh
# store) and three relay-servers sharing rooms through it (--backplane nats),
# all pinned to the relays' core; returns once the three serve. Their
# round_robin target is in $work/target, and every PID, NATS's first, in
# cluster_pids (relay-bench --relay-pid sums them).
cluster_pids=()
start_cluster() {
  local binary=$1
  shift
  start_nats -js -sd "$work/nats-store"
  local nats_port
  nats_port=$(cat "$work/port")
  cluster_pids=("$relay_pid")
  local targets=() n
  for n in 1 2 3; do
    start_relay "$binary" --backplane nats --nats-url "nats://127.0.0.1:$nats_port" "$@"
    cluster_pids+=("$relay_pid")
    targets+=("127.0.0.1:$(cat "$work/port")")
  done
  # Not relay_stop's to stop: stop_cluster stops them all.
  relay_pid=""
  local chat target deadline=$((SECONDS + 20))
  chat="$(dirname "$binary")/../cli/relay-chat"
  for target in "${targets[@]}"; do
    until "$chat" --relay "$target" --timeout 1 health >/dev/null 2>&1; do
      if ((SECONDS >= deadline)); then
        echo "the relay at $target does not serve" >&2
        cat "$work/relay.log" >&2
        exit 1
      fi
      sleep 0.1
    done
  done
  (
    IFS=,
    echo "ipv4:${targets[*]}" >"$work/target"
  )
}

# stop_cluster: as stop_relay, for every process start_cluster started.
stop_cluster() {
  local pid status=0
  for pid in "${cluster_pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "a server of the cluster (PID $pid) died during the run" >&2
      status=1
    fi
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${cluster_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  cluster_pids=()
  if ((status != 0)); then
    cat "$work/relay.log" >&2
    exit 1
  fi
}
