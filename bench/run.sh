#!/usr/bin/env bash
# Measures relay-server against the Go reference relay with relay-bench, on
# this machine, in one run: each relay pinned to CPU 1, the bench to CPU 0,
# every scenario RUNS times (3); the medians go to bench/results/DATE.json and
# a Markdown table to bench/results/DATE.md (also printed).
#
#   bench/run.sh                        all scenarios, 10 s each
#   DURATION=2 RUNS=1 bench/run.sh      a quick smoke
#   SCENARIOS="fanout latency" bench/run.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs=${RUNS:-3}
duration=${DURATION:-10}
scenarios=${SCENARIOS:-"fanout latency rooms idle churn"}
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
out_dir="$root/bench/results"
work=$(mktemp -d)
# shellcheck source=bench/relay_under_test.sh
source "$root/bench/relay_under_test.sh"

"$root/scripts/deps.sh"
missing=()
for package in python3 util-linux; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if ((${#missing[@]} > 0)); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi
"$root/scripts/build.sh" release --target relay-server relay-bench >&2
reference=$("$root/bench/reference/build.sh" | tail -n 1)
bench="$root/build-release/cli/bench/relay-bench"

: >"$work/all.jsonl"
for scenario in $scenarios; do
  for relay in cpp go; do
    for run in $(seq 1 "$runs"); do
      # A fresh relay per run: no state carries over between measurements.
      if [[ $relay == cpp ]]; then
        start_relay "$root/build-release/relay/relay-server"
      else
        start_relay "$reference"
      fi
      echo "== $scenario, $relay relay, run $run of $runs" >&2
      taskset -c "$bench_cpu" "$bench" --relay "127.0.0.1:$(cat "$work/port")" \
        --scenario "$scenario" --duration "$duration" --relay-pid "$relay_pid" --json |
        python3 -c 'import json,sys; r=json.load(sys.stdin); r["relay"]=sys.argv[1]; print(json.dumps(r))' \
          "$relay" >>"$work/all.jsonl" || echo "   (the bench reported loss or failed streams)" >&2
      stop_relay
    done
  done
done

mkdir -p "$out_dir"
python3 "$root/bench/summarize.py" "$work/all.jsonl" "$out_dir/$stamp.json" "$out_dir/$stamp.md" \
  "bench/run.sh (RUNS=$runs DURATION=$duration) on $(nproc) CPUs, $(date -u +%Y-%m-%d)"
cat "$out_dir/$stamp.md"
