# shellcheck shell=bash
# Sourced by the scripts and tests that run a relay of their own, so that
# all of them start it, wait for it and stop it the same way: by its PID,
# never by name.

relay_pid=""

# relay_start PORT_FILE LOG COMMAND...: starts COMMAND (relay-server, the Go
# reference, or either under taskset, which execs it and so keeps the PID)
# with its stderr appended to LOG, and returns once it has written its port
# to PORT_FILE. Returns 1 if it exits first or has not within 20 s; it may
# then still be running, and relay_stop or relay_kill ends it.
relay_start() {
  local port_file=$1 log=$2
  shift 2
  rm -f "$port_file"
  "$@" 2>>"$log" &
  relay_pid=$!
  local deadline=$((SECONDS + 20))
  until [[ -s "$port_file" ]]; do
    if ((SECONDS >= deadline)) || ! kill -0 "$relay_pid" 2>/dev/null; then
      return 1
    fi
    sleep 0.05
  done
}

# nats_start DIR LOG COMMAND...: starts COMMAND (nats-server, or taskset
# running it) with `-a 127.0.0.1 -p -1 --ports_file_dir DIR` added, so that it
# listens on a free loopback port and writes it to DIR/nats-server_PID.ports;
# returns once the port is known, with the port in DIR/port and the PID in
# relay_pid (relay_stop and relay_kill stop it). Returns 1 as relay_start
# does. nats-server exits with status 1 on SIGTERM, its normal shutdown.
nats_start() {
  local dir=$1 log=$2
  shift 2
  mkdir -p "$dir"
  rm -f "$dir"/*.ports "$dir/port"
  "$@" -a 127.0.0.1 -p -1 --ports_file_dir "$dir" 2>>"$log" &
  relay_pid=$!
  local deadline=$((SECONDS + 20)) port=""
  until [[ -n $port ]]; do
    if ((SECONDS >= deadline)) || ! kill -0 "$relay_pid" 2>/dev/null; then
      return 1
    fi
    sleep 0.05
    # {"nats":["nats://127.0.0.1:PORT"]}, possibly not yet all written.
    port=$(sed -n 's|.*"nats://[^"]*:\([0-9][0-9]*\)".*|\1|p' "$dir"/*_"$relay_pid".ports 2>/dev/null) ||
      true
  done
  echo "$port" >"$dir/port"
}

# relay_stop: SIGTERM, the graceful shutdown, and waits for it; returns the
# relay's exit status (0 with none running).
relay_stop() {
  local status=0
  if [[ -n "$relay_pid" ]]; then
    kill -TERM "$relay_pid" 2>/dev/null || true
    wait "$relay_pid" || status=$?
    relay_pid=""
  fi
  return "$status"
}

# relay_kill: SIGKILL, for exit traps of tests that already failed.
relay_kill() {
  if [[ -n "$relay_pid" ]]; then
    kill -KILL "$relay_pid" 2>/dev/null || true
    wait "$relay_pid" 2>/dev/null || true
    relay_pid=""
  fi
}
