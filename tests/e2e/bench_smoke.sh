#!/usr/bin/env bash
# A 2-second smoke of every relay-bench scenario against a fresh relay: the
# bench exits non-zero on any lost or duplicated delivery or failed stream.
# It prints the figures; it asserts nothing about speed.
#
#   tests/e2e/bench_smoke.sh RELAY_SERVER RELAY_BENCH
set -euo pipefail

server=$1
bench=$2
work=$(mktemp -d)
relay_pid=""

cleanup() {
  if [[ -n "$relay_pid" ]]; then
    kill -KILL "$relay_pid" 2>/dev/null || true
    wait "$relay_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

status=0
for scenario in fanout latency rooms idle churn; do
  rm -f "$work/port"
  "$server" --listen 127.0.0.1:0 --port-file "$work/port" --publish-rate-per-second 0 \
    --log-level warn 2>>"$work/relay.log" &
  relay_pid=$!
  for _ in $(seq 1 400); do
    [[ -s "$work/port" ]] && break
    sleep 0.05
  done
  echo "== $scenario"
  if ! "$bench" --relay "127.0.0.1:$(cat "$work/port")" --scenario "$scenario" --duration 2 \
    --warmup 0.5 --relay-pid "$relay_pid" 2>/dev/null; then
    echo "FAIL: $scenario lost, duplicated or failed streams" >&2
    status=1
  fi
  kill -TERM "$relay_pid"
  wait "$relay_pid" || status=1
  relay_pid=""
done
exit "$status"
