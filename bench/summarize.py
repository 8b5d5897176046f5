"""Medians of bench/run.sh's runs, per scenario, layout and server, as JSON and Markdown.

usage: summarize.py ALL.jsonl OUT.json OUT.md "how it was made"

Each line of ALL.jsonl is one relay-bench --json report with "relay" (the
server: cpp, cpp-nobatch, cluster, go, nats) and "layout" (people, gateway) added,
or a cell run.sh did not run: its "scenario", "layout", "relay" and "skipped" (why).
"""
import json
import statistics
import sys

METRICS = [
    ("delivered_per_s", "delivered/s", "{:.0f}"),
    ("relay_cpu_ns_per_delivery", "server ns/delivery", "{:.0f}"),
    ("latency_us.p50", "p50 µs", "{:.0f}"),
    ("latency_us.p99", "p99 µs", "{:.0f}"),
    ("relay_rss_per_stream", "RSS/stream B", "{:.0f}"),
    ("relay_cpu_share", "server CPU", "{:.0%}"),
    ("bench_cpu_share", "bench CPU", "{:.0%}"),
    ("host_steal_share", "host steal", "{:.0%}"),
    ("lost", "lost", "{:.0f}"),
    ("duplicated", "dup", "{:.0f}"),
    ("failed_streams", "failed", "{:.0f}"),
    ("streams", "streams", "{:.0f}"),
    ("churned_streams", "churned", "{:.0f}"),
    ("churned_between_rss_samples", "churned after RSS sample", "{:.0f}"),
    ("relay_rss_growth", "RSS growth B", "{:.0f}"),
]

# The relay's ratios to the other servers, in these columns of the table.
RATIO_METRICS = ["delivered_per_s", "relay_cpu_ns_per_delivery", "latency_us.p50",
                 "latency_us.p99", "relay_rss_per_stream"]
RELAYS = ["cpp", "cpp-nobatch", "cluster"]
# Pairs shown besides each relay's ratios to the others: what sharing rooms
# through NATS JetStream costs against one relay on its own.
EXTRA_PAIRS = [("cluster", "cpp")]
OTHERS = ["go", "nats"]
SERVER_ORDER = RELAYS + OTHERS
LAYOUT_ORDER = ["people", "gateway"]
LAYOUT_NOTE = {
    "people": "people: a connection per subscriber (--streams-per-connection 1)",
    "gateway": "gateway: 100 subscribers per connection (--streams-per-connection 100)",
}

# A stream that leaked anything of itself would leave kilobytes behind
# (gRPC's call arena alone is about 12 KiB); allocator noise is far less.
CHURN_GROWTH_PER_STREAM = 1024


def ordered(keys, order):
    return sorted(keys, key=lambda k: (order.index(k) if k in order else len(order), k))


def fmt_ratio(x):
    return f"{x:.2f}"


def ratio(a, b, path):
    if a and b and a.get(path) and b.get(path):
        return a[path] / b[path]
    return None


def targets(medians):
    """Issue 12's targets, per layout: each with its figures and whether it holds."""
    rows = []

    def get(scenario, layout, server):
        return medians.get(scenario, {}).get(layout, {}).get(server)

    layouts = ordered({l for s in medians.values() for l in s}, LAYOUT_ORDER)
    for layout in layouts:
        # crowd is latency beside 10,000 idle streams: no median worse than
        # the Go reference's holds there too.
        for scenario in ("latency", "crowd"):
            cpp, go = get(scenario, layout, "cpp"), get(scenario, layout, "go")
            if cpp and go:
                p50, p99 = ratio(cpp, go, "latency_us.p50"), ratio(cpp, go, "latency_us.p99")
                rows.append((f"{scenario}: p50 and p99 at most the Go reference's", layout,
                             f"cpp {cpp['latency_us.p50']:.0f} / {cpp['latency_us.p99']:.0f} µs, "
                             f"go {go['latency_us.p50']:.0f} / {go['latency_us.p99']:.0f} µs",
                             p50 is not None and p99 is not None and p50 <= 1 and p99 <= 1))
        cpp = get("latency", layout, "cpp")
        if cpp:
            nats = get("latency", layout, "nats")
            rows.append(("latency: p99 under 1 ms", layout,
                         f"cpp {cpp['latency_us.p99']:.0f} µs" +
                         (f", nats {nats['latency_us.p99']:.0f} µs" if nats else ""),
                         cpp["latency_us.p99"] < 1000))
        cpp, go = get("quiet", layout, "cpp"), get("quiet", layout, "go")
        if cpp and go:
            checks = [(path, ratio(cpp, go, path)) for path in
                      ("latency_us.p50", "latency_us.p99", "relay_cpu_ns_per_delivery")]
            rows.append(("quiet: p50, p99 and CPU per delivery at most the Go reference's", layout,
                         "cpp/go " + ", ".join(f"{label} {fmt_ratio(r)}" for (_, r), label in
                                               zip(checks, ("p50", "p99", "CPU")) if r is not None),
                         all(r is not None and r <= 1 for _, r in checks)))
        for scenario in ("fanout", "rooms"):
            cpp, go, nats = (get(scenario, layout, s) for s in ("cpp", "go", "nats"))
            to_go = ratio(cpp, go, "relay_cpu_ns_per_delivery")
            if to_go is not None:
                rows.append((f"{scenario}: CPU per delivery at most half the Go reference's",
                             layout, f"cpp/go {fmt_ratio(to_go)}", to_go <= 0.5))
            to_nats = ratio(cpp, nats, "relay_cpu_ns_per_delivery")
            if to_nats is not None:
                rows.append((f"{scenario}: CPU per delivery within 3x of nats-server's", layout,
                             f"cpp/nats {fmt_ratio(to_nats)}", to_nats <= 3))
        cpp, go = get("idle", layout, "cpp"), get("idle", layout, "go")
        if cpp and go:
            rss = ratio(cpp, go, "relay_rss_per_stream")
            held = cpp.get("streams") == 10000 and cpp.get("failed_streams", 0) == 0
            rows.append(("idle: bytes per stream at most the Go reference's, a user per stream",
                         layout,
                         f"cpp {cpp['relay_rss_per_stream']:.0f} B, go "
                         f"{go['relay_rss_per_stream']:.0f} B; {cpp.get('streams', 0):.0f} "
                         f"streams, {cpp.get('failed_streams', 0):.0f} failed",
                         rss is not None and rss <= 1 and held))
        for scenario in ordered(medians, []):
            nobatch, go = get(scenario, layout, "cpp-nobatch"), get(scenario, layout, "go")
            cpu = ratio(nobatch, go, "relay_cpu_ns_per_delivery")
            if cpu is not None:
                rows.append((f"{scenario} without batching: CPU per delivery at most the Go "
                             "reference's", layout, f"cpp-nobatch/go {fmt_ratio(cpu)}", cpu <= 1))
        cpp = get("churn", layout, "cpp")
        if cpp and cpp.get("churned_between_rss_samples"):
            churned = cpp["churned_between_rss_samples"]
            per_stream = cpp.get("relay_rss_growth", 0) / churned
            rows.append(("churn: no growth of RSS after the churn", layout,
                         f"{cpp.get('relay_rss_growth', 0) / 2**20:.2f} MiB over the "
                         f"{churned:.0f} streams churned in the second half, {per_stream:.0f} B "
                         f"each (a leak would be over {CHURN_GROWTH_PER_STREAM})",
                         per_stream < CHURN_GROWTH_PER_STREAM))
    unclean = [f"{scenario} {layout} {server}"
               for scenario, by_layout in medians.items()
               for layout, by_server in by_layout.items()
               for server, entry in by_server.items()
               if any(entry.get(k, 0) for k in ("lost", "duplicated", "failed_streams"))]
    if medians:
        rows.append(("loss, duplicates and failed streams 0 in every cell", "all",
                     "not in: " + ", ".join(unclean) if unclean else "0 everywhere",
                     not unclean))
    return rows


def value(record, path):
    for key in path.split("."):
        if not isinstance(record, dict) or key not in record:
            return None
        record = record[key]
    return record


def table(medians):
    rows = ["| scenario | layout | server | " + " | ".join(name for _, name, _ in METRICS) + " |",
            "|" + " --- |" * (len(METRICS) + 3)]
    for scenario, by_layout in medians.items():
        for layout in ordered(by_layout, LAYOUT_ORDER):
            servers = by_layout[layout]
            for server in ordered(servers, SERVER_ORDER):
                entry = servers[server]
                cells = [fmt.format(entry[path]) if path in entry else "–"
                         for path, _, fmt in METRICS]
                rows.append(f"| {scenario} | {layout} | {server} | " + " | ".join(cells) + " |")
            pairs = [(relay, other) for relay in RELAYS for other in OTHERS] + EXTRA_PAIRS
            for relay, other in pairs:
                if relay not in servers or other not in servers:
                    continue
                cells = []
                for path, _, _ in METRICS:
                    r = ratio(servers[relay], servers[other], path)
                    cells.append(f"{r:.2f}x" if path in RATIO_METRICS and r is not None else "")
                rows.append(f"| {scenario} | {layout} | {relay}/{other} | " +
                            " | ".join(cells) + " |")
    return rows


def main():
    source, out_json, out_md, made_by = sys.argv[1:5]
    groups = {}
    skipped = []
    noisy_above = None
    with open(source) as lines:
        for line in lines:
            record = json.loads(line)
            if "skipped" in record:
                skipped.append(record)
                continue
            if "relay_rss_before" in record and "relay_rss_after" in record:
                record["relay_rss_growth"] = record["relay_rss_after"] - record["relay_rss_before"]
            noisy_above = record.get("host_noisy_above", noisy_above)
            key = (record["scenario"], record.get("layout", "gateway"), record["relay"])
            groups.setdefault(key, []).append(record)
    medians = {}
    for (scenario, layout, server), records in sorted(groups.items()):
        entry = {"runs": len(records),
                 "noisy_runs": sum(1 for r in records if r.get("host_noisy"))}
        for path, _, _ in METRICS:
            values = [v for v in (value(r, path) for r in records) if v is not None]
            if values:
                entry[path] = statistics.median(values)
        medians.setdefault(scenario, {}).setdefault(layout, {})[server] = entry
    checks = targets(medians)
    with open(out_json, "w") as out:
        json.dump({"made_by": made_by, "medians": medians, "skipped": skipped,
                   "targets": [{"target": t, "layout": l, "figures": f, "met": m}
                               for t, l, f, m in checks]},
                  out, indent=2)
    layouts = ordered({l for s in medians.values() for l in s}, LAYOUT_ORDER)
    rows = [f"Medians of each scenario; made by `{made_by}`.", "",
            "Servers: cpp is relay-server, cpp-nobatch the same with subscribers that do not ask "
            "for batches (as clients generated from relay.proto), go the reference in "
            "bench/reference, nats nats-server (core NATS), cluster three relay-servers sharing "
            "rooms through nats-server with JetStream (CPU and memory of all four; the server "
            "core is shared by the four). Layouts: " +
            "; ".join(LAYOUT_NOTE.get(l, l) for l in layouts) +
            ". Rows cpp/go, cpp/nats: the relay's figure over the other's; cluster/cpp: the "
            "cluster's over one relay's.", ""]
    rows += table(medians)
    noisy = [f"{scenario} {layout} {server} ({entry['noisy_runs']} of {entry['runs']})"
             for scenario, by_layout in medians.items()
             for layout, by_server in by_layout.items()
             for server, entry in by_server.items() if entry["noisy_runs"]]
    if noisy_above is not None:
        rows += ["", "Host steal is the share of the machine's CPU time that the hypervisor gave "
                 f"to its other guests during the runs. Cells with runs above {noisy_above:.0%}, "
                 "whose figures say as much about the host as about the server: " +
                 (", ".join(noisy) if noisy else "none") + "."]
    if skipped:
        rows += ["", "Not run:"]
        rows += [f"- {r['scenario']}, {r['layout']}, {r['relay']}: {r['skipped']}" for r in skipped]
    rows += ["", "| target (issue 12) | layout | figures | met |", "| --- | --- | --- | --- |"]
    rows += [f"| {t} | {l} | {f} | {'yes' if m else '**no**'} |" for t, l, f, m in checks]
    with open(out_md, "w") as out:
        out.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
