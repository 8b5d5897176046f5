#!/usr/bin/env bash
# The quick start's script as the README shows it: scripts/run.sh starts a
# relay and a chat (here in plain mode, its input a FIFO the test writes to)
# with the relay flags of RELAY_ARGS, a second scripts/run.sh --user bob
# finds that relay and chats with the first, `scripts/run.sh --stop` stops
# that relay by the PID it recorded, and a second --stop says there is none;
# starting does not configure build/ again. Every process started is stopped
# by PID.
#
#   tests/e2e/run_sh.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work=$(mktemp -d)
run_pid=""
bob_pid=""

cleanup() {
  exec 3>&- 4>&- 2>/dev/null || true
  for pid in $run_pid $bob_pid; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  echo "--- run.sh stdout:" >&2
  cat "$work/out" >&2 || true
  echo "--- run.sh stderr:" >&2
  cat "$work/err" >&2 || true
  echo "--- bob's run.sh stdout and stderr:" >&2
  cat "$work/bob.out" "$work/bob.err" >&2 || true
  exit 1
}

# shellcheck source=tests/e2e/wait_for.sh
source "$root/tests/e2e/wait_for.sh"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
address="127.0.0.1:$port"
mkfifo "$work/in"
exec 3<>"$work/in"
# Not inheriting fd 3, the test's end of the FIFO: the chat sees the end of
# its input when the test closes it.
RELAY_ARGS='--history-max-messages 5' "$root/scripts/run.sh" --relay "$address" --room runsh \
  --user ann <"$work/in" >"$work/out" 2>"$work/err" 3>&- &
run_pid=$!

started() {
  kill -0 "$run_pid" 2>/dev/null || fail "run.sh ended before it started a relay"
  grep -q "relay-server is running at $address" "$work/err"
}
wait_for 300 started || fail "run.sh did not start a relay at $address"
relay=$(cat "$root/build/relay-server.pid")
[[ "$(ps -o comm= -p "$relay")" == relay-server ]] || fail "build/relay-server.pid names no relay-server"

# The tests' own build configured build/: starting the chat does not again.
if grep -q "Configuring" "$work/err"; then
  fail "run.sh configured build/ again"
fi

echo "hello from run.sh" >&3
shown() { grep -q "hello from run.sh" "$work/out"; }
wait_for 20 shown || fail "the chat did not show the line it published"

# The README's second terminal: bob's run.sh finds the relay and joins.
mkfifo "$work/bob.in"
exec 4<>"$work/bob.in"
"$root/scripts/run.sh" --relay "$address" --room runsh --user bob <"$work/bob.in" \
  >"$work/bob.out" 2>"$work/bob.err" 3>&- 4>&- &
bob_pid=$!
bob_joined() { grep -q "joined #runsh" "$work/bob.err"; }
wait_for 30 bob_joined || fail "bob's run.sh did not join the room"
grep -q "using the relay already running at $address" "$work/bob.err" ||
  fail "bob's run.sh did not say it uses the running relay"
echo "hello from bob" >&4
ann_saw_bob() { grep -q "bob: hello from bob" "$work/out"; }
wait_for 20 ann_saw_bob || fail "ann's chat did not show bob's line"
exec 4>&-
bob_ended() { ! kill -0 "$bob_pid" 2>/dev/null; }
wait_for 30 bob_ended || fail "bob's run.sh did not end with its input"
bob_pid=""
kill -0 "$relay" 2>/dev/null || fail "bob's run.sh stopped the relay ann's run.sh started"

# RELAY_ARGS reached the relay: its rooms keep 5 messages.
for n in 1 2 3 4 5; do
  echo "line $n" >&3
done
last_shown() { grep -q "ann: line 5" "$work/out"; }
wait_for 20 last_shown || fail "the chat did not show its fifth line"
"$root/build/cli/relay-chat" --relay "$address" --timeout 10 history runsh -n 50 \
  >"$work/history" 2>&1 || fail "history failed: $(cat "$work/history")"
[[ $(grep -c "runsh" "$work/history") == 5 ]] ||
  fail "the relay kept other than 5 messages (RELAY_ARGS not passed?): $(cat "$work/history")"

"$root/scripts/run.sh" --stop 2>"$work/stop.err" || fail "run.sh --stop failed: $(cat "$work/stop.err")"
! kill -0 "$relay" 2>/dev/null || fail "the relay (PID $relay) still runs after --stop"
if "$root/scripts/run.sh" --stop 2>"$work/stop2.err"; then
  fail "a second --stop succeeded with no relay running"
fi
grep -q "no relay started by scripts/run.sh is running" "$work/stop2.err" ||
  fail "a second --stop did not say why: $(cat "$work/stop2.err")"

# End of input: the chat has nothing unacknowledged and ends; run.sh with it.
exec 3>&-
ended() { ! kill -0 "$run_pid" 2>/dev/null; }
wait_for 30 ended || fail "run.sh did not end with its chat's input"
wait "$run_pid" || true
run_pid=""
echo "PASS: run.sh started a relay with RELAY_ARGS and a chat, a second run.sh joined it, --stop stopped that relay by its PID, and said so when none ran"
