#!/usr/bin/env bash
# End to end, as a person would: two relay-chat clients in tmux panes, one
# typing, the other half-way through typing a line of its own; then the relay
# is restarted under them and the chat goes on. A third client, in a pane 40
# columns wide, watches its status line through the outage, and quits with a
# line the relay never received.
#
#   tests/e2e/tmux_chat.sh RELAY_SERVER RELAY_CHAT
set -euo pipefail

server=$1
chat=$2
work=$(mktemp -d)
session="relay-e2e-$$"
# shellcheck source=scripts/relay_process.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/relay_process.sh"

cleanup() {
  tmux kill-session -t "$session" 2>/dev/null || true
  relay_kill
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for pane in ann bob cy; do
    echo "--- $pane pane:" >&2
    tmux capture-pane -p -t "$session:$pane" >&2 || true
  done
  echo "--- relay log:" >&2
  cat "$work/relay.log" >&2 || true
  exit 1
}

# The pane's text without the empty rows below the input line, which is last
# and has the status line above it.
screen() { # pane
  tmux capture-pane -p -t "$session:$1" | awk 'NF { last = NR } { line[NR] = $0 }
    END { for (i = 1; i <= last; i++) print line[i] }'
}
status_line() { # pane
  screen "$1" | tail -n 2 | head -n 1
}

wait_for_status() { # pane pattern what
  local deadline=$((SECONDS + 20))
  while ((SECONDS < deadline)); do
    if status_line "$1" | grep -qE -- "$2"; then
      return 0
    fi
    sleep 0.05
  done
  fail "$3 (status line: '$(status_line "$1")')"
}

# Polls a pane's screen for a pattern (grep -E) until a deadline; every wait
# here is for something to appear, never a fixed sleep.
wait_for() { # pane pattern what
  local deadline=$((SECONDS + 20))
  while ((SECONDS < deadline)); do
    if tmux capture-pane -p -t "$session:$1" | grep -qE -- "$2"; then
      return 0
    fi
    sleep 0.05
  done
  fail "$3"
}

start_relay() { # listen address
  relay_start "$work/port" "$work/relay.log" "$server" --listen "$1" --port-file "$work/port" ||
    fail "the relay did not start"
}

start_relay 127.0.0.1:0
port=$(cat "$work/port")
target="127.0.0.1:$port"

tmux new-session -d -s "$session" -n ann -x 100 -y 20 \
  "$chat --relay $target --user ann --room lobby --backoff-max-ms 2000"
tmux new-window -t "$session" -n bob \
  "$chat --relay $target --user bob --room lobby --backoff-max-ms 2000"
tmux new-window -t "$session" -n cy \
  "$chat --relay $target --user cy --room lobby --backoff-max-ms 2000 2>$work/cy.err; echo \$? >$work/cy.exit"
tmux resize-window -t "$session:cy" -x 40 -y 20
wait_for_status ann "^connected" "ann never connected"
wait_for_status bob "^connected" "bob never connected"
# Which relay serves the chat, even in a narrow pane.
wait_for_status cy "^connected · #lobby · $target\$" "cy's status line does not name its relay"

# Bob is half-way through a line when Ann's message arrives.
tmux send-keys -t "$session:bob" -l "half-typed"
wait_for bob "half-typed" "bob's typing does not show"
tmux send-keys -t "$session:ann" -l "hello bob"
tmux send-keys -t "$session:ann" Enter
wait_for bob "ann.*hello bob" "ann's message did not reach bob"
last_line=$(screen bob | tail -n 1)
[[ "$last_line" == *"half-typed"* ]] || fail "bob's input line is garbled: '$last_line'"

# The relay goes away and comes back on the same port.
relay_stop || fail "the relay did not exit 0 on SIGTERM"
wait_for_status bob "^reconnecting" "bob's status line does not show the reconnect"
# At 40 columns the countdown and the unsent line stay in view.
tmux send-keys -t "$session:cy" -l "while the relay is down"
tmux send-keys -t "$session:cy" Enter
wait_for_status cy "^retry in [0-9]+\.[0-9] s · \(sending\)" \
  "cy's status line at 40 columns hides the countdown or the unsent line"
# Quitting then would drop the line: the chat asks first, and a second
# /quit drops it, says so after the terminal is restored, and exits 1.
tmux send-keys -t "$session:cy" -l "/quit"
tmux send-keys -t "$session:cy" Enter
wait_for cy "1 line not yet delivered" "/quit with an unsent line did not warn"
[[ ! -e "$work/cy.exit" ]] || fail "the first /quit with an unsent line quit"
tmux send-keys -t "$session:cy" -l "/quit"
tmux send-keys -t "$session:cy" Enter
deadline=$((SECONDS + 20))
until [[ -s "$work/cy.exit" ]]; do
  ((SECONDS < deadline)) || fail "the second /quit did not quit"
  sleep 0.05
done
[[ "$(cat "$work/cy.exit")" == 1 ]] || fail "dropping a line exited $(cat "$work/cy.exit"), not 1"
grep -q "relay-chat: 1 line not delivered" "$work/cy.err" ||
  fail "dropping a line was not reported: '$(cat "$work/cy.err")'"

start_relay "$target"
wait_for_status bob "^connected" "bob did not reconnect"
wait_for_status ann "^connected" "ann did not reconnect"

tmux send-keys -t "$session:bob" Enter
wait_for ann "bob.*half-typed" "bob's line after the restart did not reach ann"
tmux send-keys -t "$session:ann" -l "/quit"
tmux send-keys -t "$session:ann" Enter
echo "PASS: message shown, input intact, reconnect shown at 40 columns, unsent line not dropped" \
  "silently, chat goes on after a restart"
