"""Medians of bench/run.sh's runs, per scenario and relay, as JSON and Markdown.

usage: summarize.py ALL.jsonl OUT.json OUT.md "how it was made"
"""
import json
import statistics
import sys

METRICS = [
    ("delivered_per_s", "delivered/s", "{:.0f}"),
    ("relay_cpu_ns_per_delivery", "relay ns/delivery", "{:.0f}"),
    ("latency_us.p50", "p50 µs", "{:.0f}"),
    ("latency_us.p99", "p99 µs", "{:.0f}"),
    ("relay_rss_per_stream", "RSS/stream B", "{:.0f}"),
    ("relay_cpu_share", "relay CPU", "{:.0%}"),
    ("bench_cpu_share", "bench CPU", "{:.0%}"),
    ("lost", "lost", "{:.0f}"),
    ("duplicated", "dup", "{:.0f}"),
]


def value(record, path):
    for key in path.split("."):
        if not isinstance(record, dict) or key not in record:
            return None
        record = record[key]
    return record


def main():
    source, out_json, out_md, made_by = sys.argv[1:5]
    groups = {}
    with open(source) as lines:
        for line in lines:
            record = json.loads(line)
            groups.setdefault((record["scenario"], record["relay"]), []).append(record)
    medians = {}
    for (scenario, relay), records in sorted(groups.items()):
        entry = {"runs": len(records)}
        for path, _, _ in METRICS:
            values = [v for v in (value(r, path) for r in records) if v is not None]
            if values:
                entry[path] = statistics.median(values)
        medians.setdefault(scenario, {})[relay] = entry
    with open(out_json, "w") as out:
        json.dump({"made_by": made_by, "medians": medians}, out, indent=2)
    rows = ["| scenario | relay | " + " | ".join(name for _, name, _ in METRICS) + " |",
            "|" + " --- |" * (len(METRICS) + 2)]
    for scenario, relays in medians.items():
        for relay, entry in relays.items():
            cells = [fmt.format(entry[path]) if path in entry else "–" for path, _, fmt in METRICS]
            rows.append(f"| {scenario} | {relay} | " + " | ".join(cells) + " |")
        if "cpp" in relays and "go" in relays:
            cpp, go = relays["cpp"], relays["go"]
            ratios = []
            for path, label in (("relay_cpu_ns_per_delivery", "CPU/delivery"),
                                ("delivered_per_s", "throughput"),
                                ("latency_us.p99", "p99"),
                                ("relay_rss_per_stream", "RSS/stream")):
                if cpp.get(path) and go.get(path):
                    ratios.append(f"{label} cpp/go {cpp[path] / go[path]:.2f}")
            if ratios:
                rows.append(f"| {scenario} | ratio | " + "; ".join(ratios) + " |" +
                            " |" * (len(METRICS) - 1))
    with open(out_md, "w") as out:
        out.write(f"Medians of each scenario; made by `{made_by}`.\n\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
