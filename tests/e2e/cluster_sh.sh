#!/usr/bin/env bash
# scripts/cluster.sh as the README shows it, as a new user tries it: it
# starts NATS and three relays; ann and bob chat through different relays
# (bob on relay 3, ann through round_robin over relays 1 and 2); ann's chat
# carries on when the relay it uses is stopped (scripts/cluster.sh --stop-relay), with
# every line of bob's shown once; --start-relay brings it back; --stop stops
# everything by PID. Ports and state are the test's own (CLUSTER_BASE_PORT,
# CLUSTER_DIR).
#
#   tests/e2e/cluster_sh.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
chat="$root/build/cli/relay-chat"
work=$(mktemp -d)
ann_pid=""
bob_pid=""
export CLUSTER_DIR="$work/cluster"

cleanup() {
  exec 3>&- 4>&- 2>/dev/null || true
  for pid in $ann_pid $bob_pid; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  "$root/scripts/cluster.sh" --stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for f in "$work"/*.out "$work"/*.err "$CLUSTER_DIR"/*.log; do
    echo "--- $f:" >&2
    tail -n 30 "$f" >&2 || true
  done
  exit 1
}

# shellcheck source=tests/e2e/wait_for.sh
source "$root/tests/e2e/wait_for.sh"

# Four free consecutive ports: NATS, then the three relays.
base=$(python3 - <<'EOF'
import random, socket
for _ in range(200):
    base = random.randrange(20000, 60000)
    try:
        sockets = []
        for port in range(base, base + 4):
            s = socket.socket()
            s.bind(("127.0.0.1", port))
            sockets.append(s)
        print(base)
        break
    except OSError:
        pass
    finally:
        for s in sockets:
            s.close()
EOF
)
export CLUSTER_BASE_PORT=$base
relay() { echo "127.0.0.1:$((base + $1))"; }

"$root/scripts/cluster.sh" 2>"$work/cluster.err" || fail "cluster.sh did not start: $(cat "$work/cluster.err")"
grep -q -- "relay-chat --relay ipv4:$(relay 1),$(relay 2) --user ann" "$work/cluster.err" &&
  grep -q -- "relay-chat --relay $(relay 3) --user bob" "$work/cluster.err" ||
  fail "cluster.sh did not say how to chat"

# Each chat reads a FIFO the test writes to; they do not inherit its ends.
mkfifo "$work/ann.in" "$work/bob.in"
exec 3<>"$work/ann.in" 4<>"$work/bob.in"
"$chat" --relay "ipv4:$(relay 1),$(relay 2)" --user ann --room lobby --plain --backoff-max-ms 500 \
  <"$work/ann.in" >"$work/ann.out" 2>"$work/ann.err" 3>&- 4>&- &
ann_pid=$!
"$chat" --relay "$(relay 3)" --user bob --room lobby --plain \
  <"$work/bob.in" >"$work/bob.out" 2>"$work/bob.err" 3>&- 4>&- &
bob_pid=$!

# The relay whose room holds ann's stream.
ann_relay() {
  local n streams
  for n in 1 2; do
    streams=$("$chat" --relay "$(relay "$n")" --timeout 2 rooms 2>/dev/null |
      awk '$1 == "lobby" { print $2 }')
    if [[ -n "$streams" ]] && ((streams > 0)); then
      echo "$n"
      return 0
    fi
  done
  return 1
}
wait_for 20 ann_relay >/dev/null || fail "ann's chat joined no relay"

echo "hello bob" >&3
echo "hello ann" >&4
wait_for 20 grep -q "ann: hello bob" "$work/bob.out" || fail "bob did not see ann's line"
wait_for 20 grep -q "bob: hello ann" "$work/ann.out" || fail "ann did not see bob's line"

victim=$(ann_relay)
for i in $(seq 1 40); do
  echo "line $i" >&4
  if ((i == 10)); then
    "$root/scripts/cluster.sh" --stop-relay "$victim" 2>"$work/stop.err" 3>&- 4>&- ||
      fail "--stop-relay $victim failed: $(cat "$work/stop.err")"
  fi
  sleep 0.05
done
all_shown() { [[ $(grep -c "bob: line " "$work/ann.out") -ge 40 ]]; }
wait_for 30 all_shown || fail "ann saw $(grep -c "bob: line " "$work/ann.out") of bob's 40 lines"
sleep 0.5
for i in $(seq 1 40); do
  count=$(grep -c "bob: line $i\$" "$work/ann.out" || true)
  [[ "$count" == 1 ]] || fail "ann saw bob's line $i $count times"
done
# Not inheriting the test's ends of the FIFOs: the relay it starts would
# hold them open, and the chats would never see the end of their input.
"$root/scripts/cluster.sh" --start-relay "$victim" 2>"$work/start.err" 3>&- 4>&- ||
  fail "--start-relay $victim failed: $(cat "$work/start.err")"

exec 3>&- 4>&-
ended() { ! kill -0 "$ann_pid" 2>/dev/null && ! kill -0 "$bob_pid" 2>/dev/null; }
wait_for 30 ended || fail "the chats did not end with their input"
wait "$ann_pid" || fail "ann's chat did not exit 0"
wait "$bob_pid" || fail "bob's chat did not exit 0"
ann_pid=""
bob_pid=""

pids=$(cat "$CLUSTER_DIR"/*.pid)
"$root/scripts/cluster.sh" --stop 2>"$work/stop.err" || fail "--stop failed: $(cat "$work/stop.err")"
for pid in $pids; do
  ! kill -0 "$pid" 2>/dev/null || fail "PID $pid still runs after --stop"
done
echo "PASS: cluster.sh started NATS and three relays; ann and bob chatted across relays;" \
  "stopping relay $victim moved ann with nothing lost or twice; --stop stopped all"
