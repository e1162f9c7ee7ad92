"""Turning measured runs into the results: markdown tables, the targets met/not met, a PNG chart.

Reads the runs as ``Run.to_json()`` dicts (so ``report.py`` can also re-render bench/results/summary.json
without re-running anything: ``.venv/bin/python bench/report.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import ledger_cli

RESULTS_DIR = Path(__file__).resolve().parent / "results"
LABELS = {
    "floor": "floor (decode+map+encode+batch, no I/O)",
    "connector": "connector, default settings",
    "connector_s100": "connector, a state every 100 records",
    "official_batch": "official client, v2 batch() loop",
    "official_v1": "official client, v1 per record",
}
ORDER = ("floor", "connector", "connector_s100", "official_batch", "official_v1")
OWN_ROWS = ("ledger", "segments")  # workloads with tables of their own, not contenders beside the floor
LEDGER_LABELS = {
    "ledger_first_off": "sync 1, skip_unchanged off (no ledger)",
    "ledger_build": "sync 1, skip_unchanged on (builds the ledger)",
    "ledger_resync_off": "sync 2 (1% changed), skip_unchanged off",
    "ledger_resync_on": "sync 2 (1% changed), skip_unchanged on",
}


def row_key(run: dict[str, Any]) -> str:
    if run["contender"] == "connector" and run["state_every"] == 100:
        return "connector_s100"
    return run["contender"]


def find(runs: list[dict[str, Any]], key: str, workload: str, size: int, latency: int | None) -> dict | None:
    for run in runs:
        if row_key(run) == key and run["workload"] == workload and run["size"] == size and \
                (key == "floor" or run["latency_ms"] == latency):
            return run
    return None


def _fmt(value: float | int | None, pattern: str = "{:,.0f}") -> str:
    return "–" if value is None else pattern.format(value)


def table(runs: list[dict[str, Any]], workload: str, size: int) -> list[str]:
    lines = [f"#### {workload}, {size:,} records", "",
             "| contender | latency | records/s | vs floor | CPU s per 1M | records per CPU s | peak RSS MB "
             "| requests | mean ops/batch | retries | load before |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    floor = find(runs, "floor", workload, size, None)
    for key in ORDER:
        for latency in ((None,) if key == "floor" else (0, 50)):
            run = find(runs, key, workload, size, latency)
            if run is None:
                continue
            ratio = run["records_s"] / floor["records_s"] if floor else None
            label = LABELS[key] + (f" ({run['records']:,}-record sample, extrapolated)" if run["extrapolated"] else "")
            lines.append(
                f"| {label} | {'–' if latency is None else f'{latency} ms'} | {_fmt(run['records_s'])} "
                f"| {_fmt(ratio, '{:.2f}')} | {_fmt(run['cpu_s_per_1m'], '{:,.1f}')} "
                f"| {_fmt(1e6 / run['cpu_s_per_1m'])} | {_fmt(run['peak_rss_mb'], '{:.0f}')} "
                f"| {_fmt(run['requests'])} | {_fmt(run['mean_ops_per_batch'])} | {_fmt(run['retries'])} "
                f"| {_fmt(run['extra'].get('load_avg_1m_before'), '{:.1f}')} |"
            )
    return lines + [""]


def _target(name: str, value: float | None, goal: float, text: str) -> dict[str, Any]:
    met = value is not None and value >= goal
    return {"target": name, "value": value, "goal": goal, "met": met, "text": text}


def targets(runs: list[dict[str, Any]], workload: str, size: int, small: int | None) -> list[dict[str, Any]]:
    """The issue's targets, each with its measured figure, for one workload at one size."""
    def rate(key: str, latency: int | None, at: int = size) -> float | None:
        run = find(runs, key, workload, at, latency)
        return run["records_s"] if run else None

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    def cpu_rate(key: str, latency: int | None) -> float | None:
        run = find(runs, key, workload, size, latency)
        return 1e6 / run["cpu_s_per_1m"] if run else None

    found = [
        _target("vs floor", ratio(rate("connector", 0), rate("floor", None)), 0.5, ">= 50% of the floor's records/s (0 ms)"),
        _target("vs official 0 ms", ratio(rate("connector", 0), rate("official_batch", 0)), 5, ">= 5x the official batch loop at 0 ms"),
        _target("vs official 50 ms", ratio(rate("connector", 50), rate("official_batch", 50)), 10, ">= 10x the official batch loop at 50 ms"),
        _target("latency hidden", ratio(rate("connector", 50), rate("connector", 0)), 0.8, "50 ms latency: >= 80% of the 0 ms records/s"),
        _target("states every 100 (0 ms)", ratio(rate("connector_s100", 0), rate("connector", 0)), 0.5, "states every 100: >= 50% of states every 10k (0 ms)"),
        _target("states every 100 (50 ms)", ratio(rate("connector_s100", 50), rate("connector", 50)), 0.5, "states every 100: >= 50% of states every 10k (50 ms)"),
    ]
    found.append(_target("vs floor, CPU", ratio(cpu_rate("connector", 0), cpu_rate("floor", None)), 0.5,
                         "cross-check, not a target: records per CPU second, connector (0 ms) / floor"))
    found += memory_targets(runs, workload, size, small)
    return found


def memory_targets(runs: list[dict[str, Any]], workload: str, size: int, small: int | None) -> list[dict[str, Any]]:
    big = find(runs, "connector", workload, size, 0)
    rss = big["peak_rss_mb"] if big else None
    found = [{"target": "peak RSS", "value": rss, "goal": 150, "met": rss is not None and rss <= 150,
              "text": f"peak RSS <= 150 MB at {size:,} records (0 ms)"}]
    low = find(runs, "connector", workload, small, 0) if small else None
    if rss is not None and low is not None:
        growth = rss / low["peak_rss_mb"]
        found.append({"target": "RSS flat", "value": growth, "goal": 1.1, "met": abs(growth - 1) <= 0.1,
                      "text": f"peak RSS at {size:,} within +/-10% of {small:,} (ratio)"})
    return found


def targets_lines(found: Iterable[dict[str, Any]]) -> list[str]:
    lines = ["| target | measured | met |", "|---|---|---|"]
    for t in found:
        value = "–" if t["value"] is None else f"{t['value']:.2f}" + (" MB" if t["target"] == "peak RSS" else "")
        lines.append(f"| {t['text']} | {value} | {'met' if t['met'] else 'NOT MET'} |")
    return lines + [""]


GIB = 2**30
CONTAINER = 2 * GIB


def ledger_store_lines(rows: list[dict[str, Any]], connector_mb: float | None) -> list[str]:
    """The ledger's file size, load time and memory per key (bench/ledger_store.py's figures)."""
    lines = ["#### Ledger: size, load time, memory per key", "",
             "| ledger | keys | file bytes/key | open_book s (read / checksum / decode) | RSS while syncing "
             "B/key (counted) | look-up + delivery µs/key | compaction s | compaction peak B/key "
             "| process peak B/key |", "|---|---|---|---|---|---|---|---|---|"]
    for row in sorted(rows, key=lambda r: (r["kind"], r["keys"])):
        counted = sum(row["counted_bytes_per_key"].values())
        lines.append(
            f"| {row['kind']} | {row['keys']:,} | {row['file_bytes_per_key']:.1f} | {row['load_s']:.2f} "
            f"({row['read_s']:.2f} / {row['checksum_s']:.2f} / {row['decode_s']:.2f}) "
            f"| {row['syncing_bytes_per_key']:.1f} ({counted:.1f}) | {row['resync_us_per_key']:.2f} "
            f"| {row['compact_s']:.2f} | {row['compact_peak_bytes_per_key']:.0f} "
            f"| {row['process_peak_bytes_per_key']:.0f} |")
    biggest = max((r for r in rows if r["kind"] == "identify"), key=lambda r: r["keys"], default=None)
    if biggest is not None:
        base = connector_mb if connector_mb is not None else biggest["rss_before_mb"]
        most = (CONTAINER - base * 2**20) / biggest["process_peak_bytes_per_key"]
        lines += ["", f"A 2 GB container holds a full resync of at most ~{most / 1e6:.1f}M keys (identify): "
                      f"2 GiB less {base:.0f} MB for the connector without its ledger, divided by the "
                      f"process peak per key at {biggest['keys']:,} keys (the compaction's)."]
    return lines + [""]


def ledger_resync_lines(runs: list[dict[str, Any]], size: int) -> list[str]:
    """Sync 1 (builds the ledger) and sync 2 (1% changed), skip_unchanged on against off."""
    found = {r["contender"]: r for r in runs if r["workload"] == "ledger" and r["size"] == size}
    lines = [f"#### Ledger: change-only resync, {size:,} people (1% changed in sync 2)", "",
             "| run | records/s | wall s | CPU s | peak RSS MB | requests | ops sent | unchanged "
             "| ledger load s | load before |", "|---|---|---|---|---|---|---|---|---|---|"]
    for key, label in LEDGER_LABELS.items():
        if (run := found.get(key)) is None:
            continue
        extra = run["extra"]
        lines.append(
            f"| {label} | {_fmt(run['records_s'])} | {run['wall_s']:.2f} | {run['cpu_s']:.2f} "
            f"| {run['peak_rss_mb']:.0f} | {_fmt(run['requests'])} | {_fmt(extra.get('ops_sent'))} "
            f"| {_fmt(extra.get('unchanged'))} | {_fmt(extra.get('ledger_load_s'), '{:.2f}')} "
            f"| {_fmt(extra.get('load_avg_1m_before'), '{:.1f}')} |")
    on, off = found.get("ledger_resync_on"), found.get("ledger_resync_off")
    if on and off:
        lines += ["", f"Sync 2, on / off: records/s {on['records_s'] / off['records_s']:.2f}x, requests "
                      f"{on['requests'] / off['requests']:.3f}x, ops sent {on['extra']['ops_sent'] / off['extra']['ops_sent']:.3f}x, "
                      f"CPU s {on['cpu_s'] / off['cpu_s']:.2f}x, peak RSS {on['peak_rss_mb'] / off['peak_rss_mb']:.2f}x."]
    return lines + [""]


def ledger_markdown(summary: dict[str, Any]) -> list[str]:
    runs = [r for r in summary["runs"] if r["workload"] == "ledger"]
    store = summary.get("ledger_store", [])
    if not runs and not store and not summary.get("ledger_cli"):
        return []
    when = summary.get("meta", {}).get("ledger") or {}
    out = ["### ledger", "", f"Measured {when.get('date', '?')} (each resync row the fastest of "
           f"{when.get('repeat', '?')} alternated runs). {summary.get('meta', {}).get('ledger_method', '')}", ""]
    plain = [r["peak_rss_mb"] for r in runs if r["contender"] == "ledger_resync_off"]
    if store:
        out += ledger_store_lines(store, max(plain) if plain else None)
    for size in sorted({r["size"] for r in runs}):
        out += ledger_resync_lines(runs, size)
    if summary.get("ledger_cli"):
        out += ["#### Through the CLI, issue 25's table (bench/ledger_cli.py)", "",
                ledger_cli.markdown(summary["ledger_cli"]), ""]
    return out


SEGMENT_LABELS = {
    "segments_off": "defaults (no cap, create_missing_people off)",
    "segments_cap": "max_requests_per_second",
    "segments_cap_low": "max_requests_per_second",
    "segments_create": "create_missing_people: true",
    "segments_synclog": "sync_log: true (Local store)",
    "segments_retry": "retry_refused: true (Local store, nothing refused)",
}


def segments_lines(runs: list[dict[str, Any]], size: int) -> list[str]:
    """Each of issue 26's features on against off (bench/feature_bench.py), and the packed segment calls."""
    found = {r["contender"]: r for r in runs if r["workload"] == "segments" and r["size"] == size}
    lines = [f"#### {size:,} people identified and added to one segment (interleaved), 0 ms", "",
             "| run | records/s | wall s | CPU s | peak RSS MB | requests | requests/s | segment calls "
             "| requests per 1,000 members | segment calls per 1,000 members | load before |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, label in SEGMENT_LABELS.items():
        if (run := found.get(key)) is None:
            continue
        extra = run["extra"]
        lines.append(
            f"| {_segments_label(run)} | {_fmt(run['records_s'])} | {run['wall_s']:.2f} "
            f"| {run['cpu_s']:.2f} | {run['peak_rss_mb']:.0f} | {_fmt(run['requests'])} "
            f"| {run['requests'] / run['wall_s']:,.0f} | {extra['segment_calls']} "
            f"| {run['requests'] * 1000 / size:.1f} | {extra['segment_calls'] * 1000 / size:.1f} "
            f"| {_fmt(extra.get('load_avg_1m_before'), '{:.1f}')} |")
    off = found.get("segments_off")
    for key in ("segments_cap", "segments_cap_low", "segments_create", "segments_synclog", "segments_retry"):
        if off and (on := found.get(key)):
            lines += ["", f"{_segments_label(on)}, on / off: records/s {on['records_s'] / off['records_s']:.2f}x, "
                          f"CPU s {on['cpu_s'] / off['cpu_s']:.2f}x, requests {on['requests'] / off['requests']:.3f}x, "
                          f"peak RSS {on['peak_rss_mb'] / off['peak_rss_mb']:.2f}x."]
    return lines + [""]


def _segments_label(run: dict[str, Any]) -> str:
    cap = run["extra"].get("feature", {}).get("max_requests_per_second")
    return SEGMENT_LABELS[run["contender"]] + (f": {cap:,}" if cap else "")


def segments_markdown(summary: dict[str, Any]) -> list[str]:
    runs = [r for r in summary["runs"] if r["workload"] == "segments"]
    if not runs:
        return []
    meta = summary.get("meta", {})
    when = meta.get("segments") or {}
    machine = when.get("machine", meta.get("machine", "?"))
    out = ["### segments: issue 26's features, on vs off", "",
           f"Measured {when.get('date', '?')} on {machine} (each row the fastest of {when.get('repeat', '?')} "
           f"alternated runs). {meta.get('segments_method', '')}", ""]
    for size in sorted({r["size"] for r in runs}):
        out += segments_lines(runs, size)
    return out


def release_lines(release: dict[str, Any] | None) -> list[str]:
    """The "vs the previous release" rows (bench/vs_release.py): wall-time ratios of alternated pairs."""
    if not release:
        return []
    out = [f"### vs the previous release ({release['against']})", "",
           f"Whole process, {release['rounds']} alternated pairs per workload at 0 ms (bench/vs_release.py); "
           "ratio = the release's wall time / this build's, per pair (above 1.00x: this build is faster).", "",
           "| workload | records | ratio, median | each pair | peak RSS MB, release / this | load |",
           "|---|---|---|---|---|---|"]
    for row in release["rows"]:
        label, mine = release["against"], "this checkout"
        pairs = ", ".join(f"{r[label]['wall_s'] / r[mine]['wall_s']:.3f}" for r in row["rounds"])
        rss = f"{max(r[label]['peak_rss_mb'] for r in row['rounds']):.0f} / " \
              f"{max(r[mine]['peak_rss_mb'] for r in row['rounds']):.0f}"
        out.append(f"| {row['workload']} | {row['records']:,} | **{row['ratios'][label]:.3f}x** | {pairs} | {rss} "
                   f"| {row['load']:.1f} |")
    return out + [""]


def markdown(summary: dict[str, Any]) -> str:
    runs, meta = [r for r in summary["runs"] if r["workload"] not in OWN_ROWS], summary["meta"]
    sizes = sorted({r["size"] for r in runs})
    workloads = [w for w in ("event", "identify", "mix") if any(r["workload"] == w for r in runs)]
    out = [f"### Benchmark results ({meta['date']}, {meta['machine']})", "", meta["method"], ""]
    for workload in workloads:
        out.append(f"### {workload}")
        out.append("")
        for size in sizes:
            out += table(runs, workload, size)
        out.append(f"Targets ({workload}, {sizes[-1]:,} records):")
        out.append("")
        out += targets_lines(targets(runs, workload, sizes[-1], sizes[0] if len(sizes) > 1 else None))
    return "\n".join(out + release_lines(summary.get("vs_release")) + ledger_markdown(summary)
                     + segments_markdown(summary))


def chart(summary: dict[str, Any], path: Path) -> None:
    """Grouped bars of records/s (log scale): one group per workload and latency, one bar per contender."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in summary["runs"] if r["workload"] not in OWN_ROWS]
    size = max(r["size"] for r in runs)
    workloads = [w for w in ("event", "identify", "mix") if any(r["workload"] == w for r in runs)]
    groups = [(w, lat) for w in workloads for lat in (0, 50)]
    fig, ax = plt.subplots(figsize=(11, 6))
    width = 0.8 / len(ORDER)
    for i, key in enumerate(ORDER):
        values = [(find(runs, key, w, size, lat) or {}).get("records_s", 0) for w, lat in groups]
        xs = [g + (i - len(ORDER) / 2 + 0.5) * width for g in range(len(groups))]
        bars = ax.bar(xs, values, width, label=LABELS[key])
        ax.bar_label(bars, labels=[f"{v / 1000:,.0f}k" if v >= 1000 else f"{v:,.0f}" for v in values],
                     fontsize=6, rotation=90, padding=2)
    ax.set_yscale("log")
    ax.set_ylim(bottom=10)
    ax.set_xticks(range(len(groups)), [f"{w}\n{lat} ms latency" for w, lat in groups])
    ax.set_ylabel("records/s (log scale)")
    ax.set_title(f"Records/s, {size:,} records, {summary['meta']['machine']} ({summary['meta']['date']})",
                 fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_all(summary: dict[str, Any], results: Path = RESULTS_DIR) -> None:
    results.mkdir(parents=True, exist_ok=True)
    (results / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (results / "results.md").write_text(markdown(summary) + "\n")
    if any(r["workload"] not in OWN_ROWS for r in summary["runs"]):  # the chart compares contenders only
        chart(summary, results / "throughput.png")


if __name__ == "__main__":
    write_all(json.loads((RESULTS_DIR / "summary.json").read_text()))
    print((RESULTS_DIR / "results.md").read_text())
