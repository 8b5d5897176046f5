#!/usr/bin/env bash
# Measures relay-server against the Go reference relay and nats-server with
# relay-bench, on this machine, in one run: each server pinned to CPU 1, the
# bench to CPU 0, a fresh server per run, every scenario in every layout RUNS
# times (3), the servers taking turns run after run so that the machine's
# drift hits them alike. The medians go to bench/results/DATE.json and a
# Markdown table to bench/results/DATE.md (also printed).
#
# Servers (SERVERS):
#   cpp          relay-server (Release build)
#   cpp-nobatch  relay-server, subscribers not asking for batches (relay-bench
#                --no-batch), as clients generated from relay.proto
#   go           the Go reference relay (bench/reference)
#   nats         nats-server, core NATS (relay-bench --driver nats)
#   cluster      three relay-servers sharing rooms through nats-server with
#                JetStream (--backplane nats), the bench's streams spread over
#                them by round_robin; CPU and memory are the four processes'
# Layouts (LAYOUTS):
#   people       a connection per subscriber (--streams-per-connection 1)
#   gateway      100 subscribers per connection (--streams-per-connection 100)
#
# RELAY_BUILD=DIR takes relay-server, relay-bench and relay-chat from an
# existing build (build/, say) instead of building the Release build;
# OUT_DIR=DIR writes the results there instead of bench/results.
#
#   bench/run.sh                        everything, 10 s each
#   DURATION=2 RUNS=1 bench/run.sh      a quick smoke
#   SCENARIOS="fanout latency" LAYOUTS=people SERVERS="cpp go" bench/run.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs=${RUNS:-3}
duration=${DURATION:-10}
scenarios=${SCENARIOS:-"fanout latency quiet rooms idle churn crowd"}
layouts=${LAYOUTS:-"people gateway"}
servers=${SERVERS:-"cpp cpp-nobatch go nats cluster"}
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)
out_dir=${OUT_DIR:-$root/bench/results}
work=$(mktemp -d)
# shellcheck source=bench/relay_under_test.sh
source "$root/bench/relay_under_test.sh"

for server in $servers; do
  case $server in
    cpp | cpp-nobatch | go | nats | cluster) ;;
    *)
      echo "run.sh: unknown server '$server' (cpp, cpp-nobatch, go, nats, cluster)" >&2
      exit 2
      ;;
  esac
done
for layout in $layouts; do
  case $layout in
    people | gateway) ;;
    *)
      echo "run.sh: unknown layout '$layout' (people, gateway)" >&2
      exit 2
      ;;
  esac
done

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
build=""
[[ -n ${RELAY_BUILD:-} ]] && build=$(cd "$RELAY_BUILD" && pwd)
if [[ -z $build ]]; then
  "$root/scripts/build.sh" release --target relay-server relay-bench relay-chat >&2
  build=$root/build-release
fi
reference=""
if [[ " $servers " == *" go "* ]]; then
  reference=$("$root/bench/reference/build.sh" | tail -n 1)
fi
bench="$build/cli/bench/relay-bench"
# The people layout holds 10,000 idle connections: a socket each in the
# bench and in the server, beyond the usual soft limit of 1,024 descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# round_robin connects every channel to each of the cluster's three relays,
# so in the people layout (a channel per subscriber) the 10,000 streams of
# idle and crowd take 30,000 descriptors in the bench; where the hard limit
# is lower (20,000 on the machine this was written on) two thirds of the
# streams would fail for want of a descriptor, which says nothing of the
# relays. Those cells are then not run, and the summary says so.
cluster_idle_people_fds=$((3 * 10000 + 1024))
descriptors_for_cluster_idle_people() {
  local hard
  hard=$(ulimit -Hn)
  [[ $hard == unlimited ]] || ((hard >= cluster_idle_people_fds))
}

: >"$work/all.jsonl"
for scenario in $scenarios; do
  for layout in $layouts; do
    layout_flags=(--streams-per-connection 100)
    [[ $layout == people ]] && layout_flags=(--streams-per-connection 1)
    for run in $(seq 1 "$runs"); do
      for server in $servers; do
        if [[ $server == cluster && $scenario =~ ^(idle|crowd)$ && $layout == people ]] &&
          ! descriptors_for_cluster_idle_people; then
          if ((run == 1)); then
            reason="round_robin needs $cluster_idle_people_fds descriptors in the bench (a connection to each of the three relays per subscriber); the hard limit here is $(ulimit -Hn)"
            echo "== $scenario, $layout, $server: not run: $reason" >&2
            printf '{"scenario": "%s", "layout": "%s", "relay": "%s", "skipped": "%s"}\n' \
              "$scenario" "$layout" "$server" "$reason" >>"$work/all.jsonl"
          fi
          continue
        fi
        # A fresh server per run: no state carries over between measurements.
        server_flags=()
        case $server in
          cpp) start_relay "$build/relay/relay-server" ;;
          cpp-nobatch)
            start_relay "$build/relay/relay-server"
            server_flags=(--no-batch)
            ;;
          go) start_relay "$reference" ;;
          nats)
            start_nats
            server_flags=(--driver nats)
            ;;
          cluster) start_cluster "$build/relay/relay-server" ;;
        esac
        target="127.0.0.1:$(cat "$work/port")"
        pids=$relay_pid
        [[ $server == nats ]] && target="nats://$target"
        if [[ $server == cluster ]]; then
          target=$(cat "$work/target")
          pids=$(
            IFS=,
            echo "${cluster_pids[*]}"
          )
        fi
        echo "== $scenario, $layout, $server, run $run of $runs" >&2
        taskset -c "$bench_cpu" "$bench" --relay "$target" --scenario "$scenario" \
          --duration "$duration" --relay-pid "$pids" --json "${layout_flags[@]}" \
          "${server_flags[@]}" |
          python3 -c 'import json,sys; r=json.load(sys.stdin); r["relay"]=sys.argv[1]; r["layout"]=sys.argv[2]; print(json.dumps(r))' \
            "$server" "$layout" >>"$work/all.jsonl" ||
          echo "   (the bench reported loss or failed streams)" >&2
        if [[ $server == cluster ]]; then
          stop_cluster
        else
          stop_relay
        fi
      done
    done
  done
done

mkdir -p "$out_dir"
python3 "$root/bench/summarize.py" "$work/all.jsonl" "$out_dir/$stamp.json" "$out_dir/$stamp.md" \
  "${RELAY_BUILD:+RELAY_BUILD=$RELAY_BUILD }SCENARIOS=\"$scenarios\" LAYOUTS=\"$layouts\" SERVERS=\"$servers\" RUNS=$runs DURATION=$duration bench/run.sh on $(nproc) CPUs, $(date -u +%Y-%m-%d)"
cat "$out_dir/$stamp.md"
