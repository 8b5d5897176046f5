#!/usr/bin/env bash
# bench/run.sh and bench/compare.sh as the README and their usage show them,
# cut to one 1-second run so that CI can afford it: run.sh builds the Go
# reference and drives all five servers in both layouts, and its table has a
# row for each, the ratios, the host's stolen time and the issue's targets;
# run.sh with LAYOUTS and SERVERS runs only those; compare.sh, with relay
# flags in a variant and bench flags in another, prints its medians and
# ratios. It takes the
# relay and the bench from BUILD (no Release build) and writes its results
# to a scratch folder. It asserts nothing about speed.
#
#   tests/e2e/bench_run_sh.sh BUILD
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build=$(cd "$1" && pwd)
# shellcheck source=tests/e2e/scratch.sh
source "$root/tests/e2e/scratch.sh"

expect() { # file text
  grep -qF -- "$2" "$1" || fail "$(basename "$1") lacks '$2'"
}

SCENARIOS=quiet RUNS=1 DURATION=1 RELAY_BUILD="$build" OUT_DIR="$work/results" \
  "$root/bench/run.sh" >"$work/run.out" 2>"$work/run.err" || fail "bench/run.sh exited $?"
for layout in people gateway; do
  for server in cpp cpp-nobatch go nats cluster; do
    expect "$work/run.out" "| quiet | $layout | $server | "
  done
  for pair in cpp/go cpp/nats cpp-nobatch/go cluster/cpp; do
    expect "$work/run.out" "| quiet | $layout | $pair | "
  done
  expect "$work/run.out" \
    "| quiet: p50, p99 and CPU per delivery at most the Go reference's | $layout |"
done
expect "$work/run.out" \
  "| loss, duplicates and failed streams 0 in every cell | all | 0 everywhere | yes |"
expect "$work/run.out" "Host steal is the share of the machine's CPU time"
[[ $(find "$work/results" -name '*.json' | wc -l) == 1 ]] || fail "run.sh wrote no JSON summary"
python3 - "$work"/results/*.json <<'PY' || fail "the JSON summary lacks a cell"
import json, sys
medians = json.load(open(sys.argv[1]))["medians"]["quiet"]
for layout in ("people", "gateway"):
    for server in ("cpp", "cpp-nobatch", "go", "nats", "cluster"):
        cell = medians[layout][server]
        assert cell["runs"] == 1 and cell["delivered_per_s"] > 0, (layout, server, cell)
        assert 0 <= cell["host_steal_share"] <= 1, (layout, server, cell)
PY

SCENARIOS="fanout latency" LAYOUTS=people SERVERS="cpp go" RUNS=1 DURATION=1 \
  RELAY_BUILD="$build" OUT_DIR="$work/chosen" "$root/bench/run.sh" \
  >"$work/chosen.out" 2>"$work/chosen.err" || fail "bench/run.sh with LAYOUTS and SERVERS exited $?"
for scenario in fanout latency; do
  for server in cpp go; do
    expect "$work/chosen.out" "| $scenario | people | $server | "
  done
done
! grep -qE '\| (gateway|cpp-nobatch|nats|cluster) \|' "$work/chosen.out" ||
  fail "run.sh ran a layout or server it was not given"

reference=$("$root/bench/reference/build.sh" 2>/dev/null | tail -n 1)
RUNS=1 DURATION=1 BENCH="$build/cli/bench/relay-bench" "$root/bench/compare.sh" quiet \
  "relay=$build/relay/relay-server" "linger0=$build/relay/relay-server --write-linger-us 0" \
  "go=$reference -- --streams-per-connection 1" \
  >"$work/compare.out" 2>"$work/compare.err" || fail "bench/compare.sh exited $?"
expect "$work/compare.out" "host steal"
expect "$work/compare.out" "lost + duplicated over all runs: 0"
for variant in relay linger0 go; do
  grep -qE "^$variant +1 " "$work/compare.out" || fail "compare.out has no row for $variant"
done
echo "bench/run.sh and bench/compare.sh: every server, layout and variant reported"
