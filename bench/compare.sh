#!/usr/bin/env bash
# Compares variants of the relay (or of the bench's flags) on one scenario,
# the way a change is measured before it is committed: relay and bench pinned
# to a core each and a fresh relay per run, as in run.sh
# (bench/relay_under_test.sh), the variants alternating run after run so
# that the machine's drift hits them alike; prints medians and each
# variant's ratio to the first. Uses the Release build as it is (build it
# with `scripts/build.sh release` first). Relay flags given here come after
# the ones run.sh uses.
# BENCH=path uses another relay-bench binary.
#
#   bench/compare.sh SCENARIO 'NAME=RELAY_BINARY [RELAY FLAGS...] [-- BENCH FLAGS...]' ...
#   RUNS=5 DURATION=3 bench/compare.sh fanout \
#       "old=/tmp/relay-server-old" "new=build-release/relay/relay-server"
#   bench/compare.sh latency "linger0=build-release/relay/relay-server --write-linger-us 0" \
#       "one-frame=build-release/relay/relay-server -- --no-batch"
# A binary named relay-reference is started with the Go reference's flags.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs=${RUNS:-3}
duration=${DURATION:-3}
bench=${BENCH:-$root/build-release/cli/bench/relay-bench}
if (($# < 2)); then
  sed -n '2,17p' "${BASH_SOURCE[0]}" >&2
  exit 2
fi
scenario=$1
shift
work=$(mktemp -d)
# shellcheck source=bench/relay_under_test.sh
source "$root/bench/relay_under_test.sh"

for run in $(seq 1 "$runs"); do
  for variant in "$@"; do
    name=${variant%%=*}
    read -r -a words <<<"${variant#*=}"
    binary=${words[0]}
    relay_flags=()
    bench_flags=()
    target=relay_flags
    for word in "${words[@]:1}"; do
      if [[ $word == -- ]]; then
        target=bench_flags
      elif [[ $target == relay_flags ]]; then
        relay_flags+=("$word")
      else
        bench_flags+=("$word")
      fi
    done
    start_relay "$binary" "${relay_flags[@]}"
    echo "== $scenario, $name, run $run of $runs" >&2
    taskset -c "$bench_cpu" "$bench" --relay "127.0.0.1:$(cat "$work/port")" --scenario "$scenario" \
      --duration "$duration" --relay-pid "$relay_pid" --json "${bench_flags[@]}" |
      python3 -c 'import json,sys; r=json.load(sys.stdin); r["variant"]=sys.argv[1]; print(json.dumps(r))' \
        "$name" >>"$work/all.jsonl" || echo "   (the bench reported loss or failed streams)" >&2
    stop_relay
  done
done

python3 - "$work/all.jsonl" <<'PY'
import json, statistics, sys
groups = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    groups.setdefault(r["variant"], []).append(r)
metrics = [("delivered_per_s", "deliv/s"), ("relay_cpu_ns_per_delivery", "relay ns/deliv"),
           ("p50", "p50 µs"), ("p99", "p99 µs"), ("relay_rss_per_stream", "RSS/stream B"),
           ("relay_cpu_share", "relay CPU"), ("bench_cpu_share", "bench CPU"),
           ("host_steal_share", "host steal")]
# Stolen time is the host's, not a variant's: no ratio.
no_ratio = {"host_steal_share"}
def get(r, key):
    return r["latency_us"][key] if key in ("p50", "p99") else r.get(key)
med = {v: {k: statistics.median(x for x in (get(r, k) for r in rs) if x is not None)
           for k, _ in metrics if any(get(r, k) is not None for r in rs)} for v, rs in groups.items()}
first = next(iter(med.values()))
print("variant".ljust(16) + "runs " + "".join(label.rjust(16) for _, label in metrics))
for v, m in med.items():
    print(v.ljust(16) + str(len(groups[v])).ljust(5) +
          "".join(f"{m.get(k, 0):16.2f}" if k.endswith("share") else f"{m.get(k, 0):16.0f}"
                  for k, _ in metrics))
    if m is not first:
        print(" " * 21 + "".join((f"{m[k] / first[k]:15.2f}x"
                                  if first.get(k) and k not in no_ratio else " " * 16)
                                 for k, _ in metrics))
lost = sum(r["lost"] + r["duplicated"] for rs in groups.values() for r in rs)
print(f"lost + duplicated over all runs: {lost}")
noisy = [r for rs in groups.values() for r in rs if r.get("host_noisy")]
if noisy:
    print(f"{len(noisy)} of {sum(map(len, groups.values()))} runs had more than "
          f"{noisy[0]['host_noisy_above']:.0%} of the host's CPU time stolen by other guests: "
          "the figures are noisy")
PY
