#!/usr/bin/env bash
# Measures what each way of defining a room's position costs in NATS
# JetStream (issue 13; the choice is in docs/nats-backplane.md) and prints
# the medians as a Markdown table.
#
#   bench/nats_positions.sh [--runs N] [--rooms "1000 10000"] [--layouts "..."]
#   bench/nats_positions.sh --summarize FILE   # the table again from kept figures
#
# Each run starts its own nats-server -js on a free loopback port with a fresh
# store directory, runs build/bench/nats_positions/nats-positions against it,
# and stops the server by its PID. Layouts: one-stream (a subject per room,
# position = stream sequence), one-stream-counted (the same, with a per-room
# counter kept by Nats-Expected-Last-Subject-Sequence), stream-per-room.
# Needs a normal build (scripts/build.sh normal) with libnats-dev installed.
# Prefix it with `nice -n 19` on a shared machine: the server inherits it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/relay_process.sh
source "$root/scripts/relay_process.sh"

runs=3
summarize_only=""
sizes="1000 10000"
layouts="one-stream one-stream-counted stream-per-room"
while (($# > 0)); do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --rooms) sizes=$2; shift 2 ;;
    --layouts) layouts=$2; shift 2 ;;
    --summarize) summarize_only=$2; shift 2 ;;
    -h | --help) sed -n '2,17s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "nats_positions.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

# summarize FILE: the medians of the runs in FILE as a Markdown table.
summarize() {
  # Debian's interpreter: a python3 earlier on PATH may be another one.
  /usr/bin/python3 - "$1" "$(ulimit -n)" <<'PY'
import json, statistics, sys

rows = [json.loads(line) for line in open(sys.argv[1])]
columns = []
for row in rows:
    key = (row["layout"], row["result"]["rooms"])
    if key not in columns:
        columns.append(key)

def med(key, path):
    values = []
    for row in rows:
        if (row["layout"], row["result"]["rooms"]) != key:
            continue
        value = row["result"]
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            return None
        values.append(value)
    return statistics.median(values) if values else None

metrics = [
    ("rooms created", ("create", "created_rooms"), 1, "{:,.0f}"),
    ("create rooms (stream + first publish), s", ("create", "total_ms"), 1e-3, "{:.1f}"),
    ("  time until creating failed, s", ("create", "failed_after_ms"), 1e-3, "{:.0f}"),
    ("  of which js_AddStream, s", ("create", "add_stream_ms"), 1e-3, "{:.1f}"),
    ("server RSS after create, MiB", ("create", "server_rss_kib"), 1 / 1024, "{:.0f}"),
    ("server open files after create", ("create", "server_open_files"), 1, "{:,.0f}"),
    ("store after create, MiB", ("create", "store_bytes"), 1 / 2**20, "{:.1f}"),
    ("store files after create", ("create", "store_files"), 1, "{:,.0f}"),
    ("publish 100k round-robin, msg/s", ("publish", "per_second"), 1, "{:,.0f}"),
    ("publish ack p50, us", ("publish", "ack_p50_us"), 1, "{:,.0f}"),
    ("publish ack p99, us", ("publish", "ack_p99_us"), 1, "{:,.0f}"),
    ("server CPU per publish, us", ("publish", "server_cpu_us_per_message"), 1, "{:.1f}"),
    ("publish errors", ("publish", "errors"), 1, "{:.0f}"),
    ("server RSS after publish, MiB", ("publish", "server_rss_kib"), 1 / 1024, "{:.0f}"),
    ("store after publish, MiB", ("publish", "store_bytes"), 1 / 2**20, "{:.1f}"),
    ("one room alone, 5k publishes, msg/s", ("one_room", "per_second"), 1, "{:,.0f}"),
    ("  ack p50, us", ("one_room", "ack_p50_us"), 1, "{:,.0f}"),
    ("  ack p99, us", ("one_room", "ack_p99_us"), 1, "{:,.0f}"),
    ("last position: js_GetLastMsg by subject, us", ("last_position", "get_last_by_subject_us"), 1, "{:,.0f}"),
    ("last position: js_GetStreamInfo, us", ("last_position", "stream_info_us"), 1, "{:,.0f}"),
    ("start delivery (ordered consumer to 1st msg), us", ("start_delivery_us",), 1, "{:,.0f}"),
    ("resume from a room's 1st message, ms", ("resume", "ms"), 1, "{:.1f}"),
    ("  messages delivered", ("resume", "messages_delivered"), 1, "{:.0f}"),
    ("  stream messages spanned", ("resume", "stream_messages_spanned"), 1, "{:,.0f}"),
    ("counter -> stream sequence (binary search), us", ("counter_lookup", "us"), 1, "{:,.0f}"),
    ("  direct gets per lookup", ("counter_lookup", "probes"), 1, "{:.0f}"),
    ("  wrong lookups", ("counter_lookup", "wrong"), 1, "{:.0f}"),
    ("1,000 per-room consumers: create, s", ("per_room_consumers", "create_ms"), 1e-3, "{:.2f}"),
    ("  server RSS growth, MiB", ("per_room_consumers", "server_rss_growth_kib"), 1 / 1024, "{:.1f}"),
    ("  client RSS growth, MiB", ("per_room_consumers", "own_rss_growth_kib"), 1 / 1024, "{:.1f}"),
    ("  server CPU idle 6 s, ms", ("per_room_consumers", "server_idle_cpu_ms"), 1, "{:.0f}"),
    ("  50k publishes: delivered", ("per_room_consumers", "delivered"), 1, "{:,.0f}"),
    ("  50k publishes: server CPU, ms", ("per_room_consumers", "server_cpu_ms"), 1, "{:,.0f}"),
    ("  50k publishes: client CPU, ms", ("per_room_consumers", "own_cpu_ms"), 1, "{:,.0f}"),
    ("  50k publishes: all delivered after, ms", ("per_room_consumers", "deliver_all_ms"), 1, "{:,.0f}"),
    ("1 wildcard consumer: create, s", ("wildcard_consumer", "create_ms"), 1e-3, "{:.3f}"),
    ("  server RSS growth, MiB", ("wildcard_consumer", "server_rss_growth_kib"), 1 / 1024, "{:.1f}"),
    ("  server CPU idle 6 s, ms", ("wildcard_consumer", "server_idle_cpu_ms"), 1, "{:.0f}"),
    ("  50k publishes: delivered", ("wildcard_consumer", "delivered"), 1, "{:,.0f}"),
    ("  50k publishes: server CPU, ms", ("wildcard_consumer", "server_cpu_ms"), 1, "{:,.0f}"),
    ("  50k publishes: client CPU, ms", ("wildcard_consumer", "own_cpu_ms"), 1, "{:,.0f}"),
    ("  50k publishes: all delivered after, ms", ("wildcard_consumer", "deliver_all_ms"), 1, "{:,.0f}"),
]
runs = max(row["run"] for row in rows)
print(f"Medians of {runs} runs.\n")
print("| | " + " | ".join(f"{layout}, {rooms:,} rooms" for layout, rooms in columns) + " |")
print("| --- |" + " ---: |" * len(columns))
for label, path, scale, form in metrics:
    cells = []
    for key in columns:
        value = med(key, path)
        cells.append("n/a" if value is None else form.format(value * scale))
    if any(cell != "n/a" for cell in cells):
        print(f"| {label} | " + " | ".join(cells) + " |")
errors = sorted({(row["layout"], row["result"]["rooms"], row["result"]["create"]["error"])
                 for row in rows if "error" in row["result"]["create"]})
for layout, rooms, error in errors:
    print(f"\n{layout}, {rooms:,} rooms: creating the rooms failed: {error}")
print(f"\nOpen files allowed to nats-server here: {sys.argv[2]}.")
PY
}

if [[ -n $summarize_only ]]; then
  summarize "$summarize_only"
  exit 0
fi

binary="${NATS_POSITIONS_BINARY:-$root/build/bench/nats_positions/nats-positions}"
if [[ ! -x "$binary" ]]; then
  echo "nats_positions.sh: $binary is missing; run scripts/build.sh normal (needs libnats-dev)" >&2
  exit 1
fi
command -v nats-server >/dev/null || { echo "nats_positions.sh: nats-server is not installed" >&2; exit 1; }

work="$(mktemp -d)"
cleanup() {
  relay_kill
  rm -rf "$work"
}
trap cleanup EXIT
# NATS_POSITIONS_KEEP=FILE keeps the raw figures (one JSON object per run).
results="${NATS_POSITIONS_KEEP:-$work/results.jsonl}"
: >"$results"

echo "nats-server $(nats-server --version | sed 's/^nats-server: //'), $(nproc) cores," \
  "load $(cut -d' ' -f1-3 /proc/loadavg) at start" >&2
for size in $sizes; do
  for layout in $layouts; do
    for ((run = 1; run <= runs; run++)); do
      store="$work/store"
      rm -rf "$store"
      mkdir -p "$store"
      if ! nats_start "$work/nats" "$work/nats.log" nats-server -js -sd "$store"; then
        echo "nats-server did not start" >&2
        cat "$work/nats.log" >&2
        exit 1
      fi
      echo "$layout, $size rooms, run $run (nats-server PID $relay_pid, port $(cat "$work/nats/port"))" >&2
      start=$SECONDS
      # Bounded: a run that hangs is killed and fails the whole measurement.
      if ! line=$(timeout 900 "$binary" --url "nats://127.0.0.1:$(cat "$work/nats/port")" \
        --layout "$layout" --rooms "$size" --messages 100000 --window 256 \
        --consumers 1000 --consumer-messages 50000 --samples 50 --history-per-room 1000 \
        --server-pid "$relay_pid" --store-dir "$store"); then
        echo "nats-positions failed ($layout, $size rooms); server log:" >&2
        tail -20 "$work/nats.log" >&2
        exit 1
      fi
      echo "  done in $((SECONDS - start)) s" >&2
      printf '{"layout":"%s","run":%d,"result":%s}\n' "$layout" "$run" "$line" >>"$results"
      relay_stop || true
    done
  done
done
echo "load $(cut -d' ' -f1-3 /proc/loadavg) at the end" >&2

summarize "$results"
