#!/usr/bin/env bash
# A 2-second smoke of every relay-bench scenario against a fresh relay, and,
# given nats-server, of every scenario of the NATS driver against a fresh
# nats-server on loopback: the bench exits non-zero on any lost or duplicated
# delivery or failed stream. It prints the figures; it asserts nothing about
# speed.
#
#   tests/e2e/bench_smoke.sh RELAY_SERVER RELAY_BENCH [NATS_SERVER]
set -euo pipefail

server=$1
bench=$2
nats_server=${3:-}
work=$(mktemp -d)
scenarios=(fanout latency quiet rooms idle churn crowd)
# shellcheck source=scripts/relay_process.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/relay_process.sh"

cleanup() {
  relay_kill
  rm -rf "$work"
}
trap cleanup EXIT

status=0
# A value out of range is refused at once with CLI11's validation error
# (exit 105), not read as 2^64 - 1 streams, a negative time or no number.
for bad in "--idle-streams -1" "--subscribers -1" "--publishers -1" "--size -1" "--rate -1" \
  "--window 0" "--duration -1" "--warmup -1" "--duration nan" "--rate nan" "--warmup inf"; do
  read -r -a words <<<"$bad"
  code=0
  timeout 10 "$bench" --relay 127.0.0.1:1 --scenario crowd "${words[@]}" 2>/dev/null || code=$?
  if ((code != 105)); then
    echo "FAIL: relay-bench $bad exited $code, not 105 (out of range)" >&2
    status=1
  fi
done
# With no server there it says so and exits 1 at once, not after the
# warm-up and the whole duration, and gives no CPU share over a span in
# which nothing was measured.
code=0
timeout 5 "$bench" --relay 127.0.0.1:1 --scenario latency >"$work/nobody.out" 2>"$work/nobody" ||
  code=$?
if ((code != 1)) || ! grep -q "no subscriber could join" "$work/nobody" ||
  grep -q "% of a core" "$work/nobody.out"; then
  echo "FAIL: relay-bench with no server exited $code: $(cat "$work/nobody" "$work/nobody.out")" >&2
  status=1
fi
for scenario in "${scenarios[@]}"; do
  echo "== $scenario"
  if ! relay_start "$work/port" "$work/relay.log" "$server" --listen 127.0.0.1:0 \
    --port-file "$work/port" --publish-rate-per-second 0 --log-level warn \
    --max-streams 0 --max-streams-per-user 0 --max-streams-per-peer 0 \
    --room-creations-per-user-per-minute 0 --room-creations-per-peer-per-minute 0 \
    --join-rate-per-second 0; then
    echo "FAIL: the relay did not start" >&2
    cat "$work/relay.log" >&2
    exit 1
  fi
  if ! "$bench" --relay "127.0.0.1:$(cat "$work/port")" --scenario "$scenario" --duration 2 \
    --warmup 0.5 --relay-pid "$relay_pid" 2>/dev/null; then
    echo "FAIL: $scenario lost, duplicated or failed streams" >&2
    status=1
  fi
  relay_stop || status=1
done

if [[ -z $nats_server ]]; then
  echo "nats-server not given: the NATS driver is not smoked"
  exit "$status"
fi
for scenario in "${scenarios[@]}"; do
  echo "== $scenario, NATS driver"
  if ! nats_start "$work/nats" "$work/nats.log" "$nats_server"; then
    echo "FAIL: nats-server did not start" >&2
    cat "$work/nats.log" >&2
    exit 1
  fi
  if ! "$bench" --driver nats --relay "nats://127.0.0.1:$(cat "$work/nats/port")" \
    --scenario "$scenario" --duration 2 --warmup 0.5 --relay-pid "$relay_pid" 2>/dev/null; then
    echo "FAIL: $scenario over NATS lost, duplicated or failed streams" >&2
    status=1
  fi
  # Its normal exit on SIGTERM is 1; a crash would have failed the bench.
  relay_stop || true
done
exit "$status"
