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
# A count that does not fit is refused at once, not read as 2^64 - 1 streams.
if "$bench" --relay 127.0.0.1:1 --scenario crowd --idle-streams -1 --duration 1 2>/dev/null; then
  echo "FAIL: relay-bench took --idle-streams -1" >&2
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
