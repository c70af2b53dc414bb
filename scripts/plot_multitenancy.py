#!/usr/bin/python3
"""Plots bench/multitenancy_bench's results: Figure 8 (utilisation and programs/s against the
number of clients), Figure 9 (each client's share of device time per 1 s window, against its
weight's share) and the devices' timeline of four weighted clients.

usage: plot_multitenancy.py [RESULTS.json ...] [--trace TRACE.json]
Writes <results>.png next to each results file and <trace>.png next to the trace.
"""
import json
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759"]


def plot_results(path: pathlib.Path) -> pathlib.Path:
    data = json.loads(path.read_text())
    where = "worker processes" if data.get("processes") else "one process"
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    util, rate, shares = axes
    by_len = {}
    for p in data["fig8"]:
        by_len.setdefault(p["program_ms"], []).append(p)
    for ms, points in sorted(by_len.items()):
        xs = [p["clients"] for p in points]
        util.plot(xs, [100 * p["utilisation"] for p in points], marker="o", label=f"{ms:g} ms")
        rate.plot(xs, [p["programs_per_s"] for p in points], marker="o", label=f"{ms:g} ms")
    for ax, title, unit in ((util, "Figure 8: device utilisation", "% busy"),
                            (rate, "Figure 8: aggregate throughput", "programs/s")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel(unit)
        ax.set_title(f"{title} ({where})")
        ax.grid(alpha=0.3)
        ax.legend(title="program")
    if by_len:
        util.axhline(95, color="gray", linestyle="--", linewidth=0.8)
    # Figure 9: stacked shares per window, weights 1:1:1:1 then 1:2:4:8, with the target lines.
    x0 = 0
    for config in data["fig9"]:
        weights = config["weights"]
        total = sum(weights)
        for w, window in enumerate(config["shares"]):
            bottom = 0
            for c, s in enumerate(window):
                shares.bar(x0 + w, 100 * s, bottom=bottom, color=COLORS[c % 4],
                           label=f"client {c}" if x0 == 0 and w == 0 else None)
                bottom += 100 * s
        acc = 0
        for wt in weights[:-1]:
            acc += 100 * wt / total
            shares.hlines(acc, x0 - 0.4, x0 + len(config["shares"]) - 0.6, colors="black", linewidth=1)
        shares.text(x0 + len(config["shares"]) / 2 - 0.5, 102, ":".join(map(str, weights)), ha="center")
        x0 += len(config["shares"]) + 1
    shares.set_ylim(0, 110)
    shares.set_ylabel("% of device time in the window")
    shares.set_xlabel("1 s windows (black lines: the weights' shares)")
    shares.set_title(f"Figure 9: proportional share, {data.get('fig9_program_ms', 0.33):g} ms programs")
    shares.set_xticks([])
    shares.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    out = path.with_suffix(".png")
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def plot_trace(path: pathlib.Path) -> pathlib.Path:
    events = json.loads(path.read_text())
    fig, ax = plt.subplots(figsize=(14, 3))
    if events:
        t0 = min(e["start_ns"] for e in events)
        lanes = sorted({(e["host"], e["device"]) for e in events})
        for e in events:
            y = lanes.index((e["host"], e["device"]))
            ax.barh(y, e["dur_ns"] / 1e6, left=(e["start_ns"] - t0) / 1e6, height=0.8,
                    color=COLORS[e["client"] % 4], edgecolor="white", linewidth=0.3)
        ax.set_yticks(range(len(lanes)))
        ax.set_yticklabels([f"host {h} device {d}" for h, d in lanes])
    for c in range(4):
        ax.barh(0, 0, color=COLORS[c], label=f"client {c} (weight {2 ** c})")
    ax.set_xlabel("ms")
    ax.set_title("Devices of one island under the share policy, weights 1:2:4:8 (every run is a gang "
                 "on all four devices, in the same order on each)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=4, fontsize=8)
    fig.tight_layout()
    out = path.with_suffix(".png")
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def main(argv):
    args = argv[1:]
    traces = []
    if "--trace" in args:
        i = args.index("--trace")
        traces.append(pathlib.Path(args[i + 1]))
        del args[i:i + 2]
    results = [pathlib.Path(a) for a in args] or [pathlib.Path("bench/results/multitenancy_bench.json")]
    for r in results:
        print(f"plot: {plot_results(r)}")
    for t in traces:
        print(f"plot: {plot_trace(t)}")


if __name__ == "__main__":
    main(sys.argv)
