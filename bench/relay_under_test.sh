# Sourced by bench/run.sh and bench/compare.sh, so that both start the relay
# under measurement the same way: pinned to its own core, with the same
# flags, a fresh one per run, stopped by its PID on exit. Needs $work, a
# scratch directory the caller owns; the relay's port is in $work/port.

relay_pid=""

# Two cores: the relay gets one, the bench the other. A one-core machine
# shares it.
relay_cpu=1
bench_cpu=0
if (($(nproc) < 2)); then
  relay_cpu=0
fi

cleanup() {
  if [[ -n "$relay_pid" ]]; then
    kill -TERM "$relay_pid" 2>/dev/null || true
    wait "$relay_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# start_relay BINARY [FLAGS...]: relay-server, or the Go reference when the
# binary is named relay-reference; returns once the relay listens.
start_relay() {
  local binary=$1
  shift
  rm -f "$work/port"
  if [[ $(basename "$binary") == relay-reference ]]; then
    taskset -c "$relay_cpu" "$binary" -listen 127.0.0.1:0 -port-file "$work/port" "$@" \
      2>>"$work/relay.log" &
  else
    # The reference has neither a publish rate limit nor a duplicate window;
    # both are off so that the two relays do the same work. (The window
    # would also fill up to its 10,000 ids during churn, growing RSS by a
    # bounded amount that hides what the streams leave behind.) Flags given
    # come after these and win.
    taskset -c "$relay_cpu" "$binary" --listen 127.0.0.1:0 --port-file "$work/port" \
      --publish-rate-per-second 0 --duplicate-window-ms 0 --log-level warn "$@" \
      2>>"$work/relay.log" &
  fi
  relay_pid=$!
  for _ in $(seq 1 400); do
    [[ -s "$work/port" ]] && return 0
    sleep 0.05
  done
  echo "$(basename "$binary") did not start" >&2
  cat "$work/relay.log" >&2
  exit 1
}

stop_relay() {
  kill -TERM "$relay_pid"
  wait "$relay_pid" || true
  relay_pid=""
}
