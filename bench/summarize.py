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
    ("failed_streams", "failed", "{:.0f}"),
    ("streams", "streams", "{:.0f}"),
    ("churned_streams", "churned", "{:.0f}"),
    ("churned_between_rss_samples", "churned after RSS sample", "{:.0f}"),
    ("relay_rss_growth", "RSS growth B", "{:.0f}"),
]

# The bench counts as the bottleneck when it used nearly all of its core.
BENCH_SATURATED = 0.9
# A stream that leaked anything of itself would leave kilobytes behind
# (gRPC's call arena alone is about 12 KiB); allocator noise is far less.
CHURN_GROWTH_PER_STREAM = 1024


# What bounds the targets that gRPC C++ 1.51 on one core does not let this
# relay reach; the measurements are in bench/PROFILE.md ("What is left, and
# why"). Shown beside such a target whenever a run misses it for that reason.
LATENCY_HALF_BOUND = (
    "bounded: the p99 does not go below the linger plus the 2-3 ms that a round of writes to "
    "100 streams takes, so half holds only when the reference's p99 is about twice that")
LATENCY_1MS_BOUND = (
    "bounded: a write per message fills the relay's core, and a linger adds its length to the "
    "p99")
IDLE_BOUND = (
    "bounded: gRPC's per-call arena alone (about 12 KB) is more than half of the reference's "
    "whole stream")


def fmt_ratio(x):
    return f"{x:.2f}"


def targets(medians):
    """Issue 4's targets: each with its figures, whether it holds, and what bounds it."""
    rows = []

    def both(scenario):
        relays = medians.get(scenario, {})
        return relays.get("cpp"), relays.get("go")

    for scenario in ("fanout", "rooms"):
        cpp, go = both(scenario)
        if not (cpp and go):
            continue
        cpu = cpp["relay_cpu_ns_per_delivery"] / go["relay_cpu_ns_per_delivery"]
        rows.append((f"{scenario}: relay CPU per delivery at most half the reference's",
                     f"cpp/go {fmt_ratio(cpu)}", cpu <= 0.5, None))
        throughput = cpp["delivered_per_s"] / go["delivered_per_s"]
        bench_bound = cpp.get("bench_cpu_share", 0) >= BENCH_SATURATED
        need = 1.0 if bench_bound else 2.0
        rows.append((f"{scenario}: delivered/s at least the reference's (2x unless the bench is "
                     "the bottleneck)",
                     f"cpp/go {fmt_ratio(throughput)}; bench CPU "
                     f"{cpp.get('bench_cpu_share', 0):.0%}, so at least {need:g}x",
                     throughput >= need, None))
    cpp, go = both("latency")
    if cpp and go:
        p99 = cpp["latency_us.p99"] / go["latency_us.p99"]
        rows.append(("latency: p99 at most half the reference's",
                     f"cpp {cpp['latency_us.p99']:.0f} µs, go {go['latency_us.p99']:.0f} µs, "
                     f"cpp/go {fmt_ratio(p99)}", p99 <= 0.5, LATENCY_HALF_BOUND))
        rows.append(("latency: p99 under 1 ms", f"cpp {cpp['latency_us.p99']:.0f} µs",
                     cpp["latency_us.p99"] < 1000, LATENCY_1MS_BOUND))
    cpp, go = both("idle")
    if cpp and go:
        rss = cpp["relay_rss_per_stream"] / go["relay_rss_per_stream"]
        held = cpp.get("streams") == 10000 and cpp.get("failed_streams", 0) == 0
        rows.append(("idle: memory per idle stream at most half the reference's, 10,000 held",
                     f"cpp {cpp['relay_rss_per_stream']:.0f} B, go "
                     f"{go['relay_rss_per_stream']:.0f} B, cpp/go {fmt_ratio(rss)}; "
                     f"{cpp.get('streams', 0):.0f} streams, {cpp.get('failed_streams', 0):.0f} "
                     "failed",
                     rss <= 0.5 and held, IDLE_BOUND if held else None))
    for scenario in ("rooms", "churn"):
        cpp, _ = both(scenario)
        if cpp:
            clean = cpp.get("lost", 1) == 0 and cpp.get("duplicated", 1) == 0
            rows.append((f"{scenario}: zero loss, zero duplicates",
                         f"lost {cpp.get('lost', 0):.0f}, duplicated "
                         f"{cpp.get('duplicated', 0):.0f}", clean, None))
    cpp, _ = both("churn")
    if cpp and cpp.get("churned_between_rss_samples"):
        churned = cpp["churned_between_rss_samples"]
        per_stream = cpp.get("relay_rss_growth", 0) / churned
        rows.append(("churn: no growth of RSS after the churn",
                     f"{cpp.get('relay_rss_growth', 0) / 2**20:.2f} MiB over the "
                     f"{churned:.0f} streams churned in the second half, {per_stream:.0f} B each "
                     f"(a leak would be over {CHURN_GROWTH_PER_STREAM})",
                     per_stream < CHURN_GROWTH_PER_STREAM, None))
    return rows


def met_cell(met, bound):
    if met:
        return "yes"
    return f"**no**; {bound} (bench/PROFILE.md)" if bound else "**no**"


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
            if "relay_rss_before" in record and "relay_rss_after" in record:
                record["relay_rss_growth"] = record["relay_rss_after"] - record["relay_rss_before"]
            groups.setdefault((record["scenario"], record["relay"]), []).append(record)
    medians = {}
    for (scenario, relay), records in sorted(groups.items()):
        entry = {"runs": len(records)}
        for path, _, _ in METRICS:
            values = [v for v in (value(r, path) for r in records) if v is not None]
            if values:
                entry[path] = statistics.median(values)
        medians.setdefault(scenario, {})[relay] = entry
    checks = targets(medians)
    with open(out_json, "w") as out:
        json.dump({"made_by": made_by, "medians": medians,
                   "targets": [{"target": t, "figures": f, "met": m,
                                "bound": None if m else b} for t, f, m, b in checks]},
                  out, indent=2)
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
    rows += ["", "| target (issue 4) | figures | met |", "| --- | --- | --- |"]
    rows += [f"| {t} | {f} | {met_cell(m, b)} |" for t, f, m, b in checks]
    with open(out_md, "w") as out:
        out.write(f"Medians of each scenario; made by `{made_by}`.\n\n" + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
