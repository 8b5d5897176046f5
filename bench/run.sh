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
relay_pid=""

cleanup() {
  if [[ -n "$relay_pid" ]]; then
    kill -TERM "$relay_pid" 2>/dev/null || true
    wait "$relay_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

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

# Two cores: the relay gets one, the bench the other. A one-core machine
# shares it and says so in the results.
relay_cpu=1
bench_cpu=0
if (($(nproc) < 2)); then
  relay_cpu=0
fi

start_relay() { # name
  rm -f "$work/port"
  case "$1" in
    cpp)
      # The reference has neither a publish rate limit nor a duplicate
      # window; both are off so that the two relays do the same work. (The
      # window would also fill up to its 10,000 ids during churn, growing
      # RSS by a bounded amount that hides what the streams leave behind.)
      taskset -c "$relay_cpu" "$root/build-release/relay/relay-server" --listen 127.0.0.1:0 \
        --port-file "$work/port" --publish-rate-per-second 0 --duplicate-window-ms 0 \
        --log-level warn 2>>"$work/relay.log" &
      relay_pid=$!
      ;;
    go)
      taskset -c "$relay_cpu" "$reference" -listen 127.0.0.1:0 -port-file "$work/port" \
        2>>"$work/relay.log" &
      relay_pid=$!
      ;;
  esac
  for _ in $(seq 1 400); do
    [[ -s "$work/port" ]] && return 0
    sleep 0.05
  done
  echo "the $1 relay did not start" >&2
  cat "$work/relay.log" >&2
  exit 1
}

stop_relay() {
  kill -TERM "$relay_pid"
  wait "$relay_pid" || true
  relay_pid=""
}

: >"$work/all.jsonl"
for scenario in $scenarios; do
  for relay in cpp go; do
    for run in $(seq 1 "$runs"); do
      # A fresh relay per run: no state carries over between measurements.
      start_relay "$relay"
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
