#!/usr/bin/python3
"""Plots Google Benchmark JSON results (bench/results/*.json) as one PNG per benchmark binary.

Each benchmark family (the name before the first '/') becomes one series; the bar height is the
first rate counter it reports (GFLOP/s, GB/s, items/s), else its real time per iteration.
"""
import json
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RATE_KEYS = ("GFLOP/s", "GB/s", "computations/s", "items_per_second", "bytes_per_second")


def metric(run):
    for key in RATE_KEYS:
        if key in run:
            return run[key], key
    return run["real_time"], f"time/iter ({run.get('time_unit', 'ns')})"


def plot(path: pathlib.Path) -> pathlib.Path:
    data = json.loads(path.read_text())
    runs = [r for r in data["benchmarks"] if r.get("run_type", "iteration") == "iteration"]
    by_unit = {}
    for r in runs:
        value, unit = metric(r)
        by_unit.setdefault(unit, []).append((r["name"], value))
    fig, axes = plt.subplots(len(by_unit), 1, figsize=(10, 3 + 0.35 * len(runs)), squeeze=False)
    for ax, (unit, rows) in zip(axes[:, 0], sorted(by_unit.items())):
        names = [n for n, _ in rows]
        ax.barh(range(len(rows)), [v for _, v in rows])
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels(names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(unit)
    ctx = data.get("context", {})
    fig.suptitle(f"{path.stem} — {ctx.get('date', '')} ({ctx.get('num_cpus', '?')} CPUs)")
    fig.tight_layout()
    out = path.with_suffix(".png")
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def main(argv):
    folder = pathlib.Path(argv[1] if len(argv) > 1 else "bench/results")
    for p in sorted(folder.glob("*.json")):
        if "benchmarks" not in json.loads(p.read_text() or "{}"):
            continue  # not Google Benchmark's: plotted by the benchmark's own script
        print(f"plot: {plot(p)}")


if __name__ == "__main__":
    main(sys.argv)
