#!/usr/bin/python3
"""Plots bench/scale_sim_bench's results: Figure 5 (computations/s against simulated hosts, per
mode, Pathways beside the multi-controller baseline, measured on the simulator and projected for
a cluster whose hosts each have their own CPU), Figure 6 (the smallest computation at which
Pathways reaches 95 % of the baseline) and the control plane's CPU per computation.

usage: plot_scale.py [RESULTS.json]   (default bench/results/scale_sim_bench.json)
Writes <results>.png next to the results file.
"""
import json
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MODES = {"OpByOp": "#e15759", "Chained": "#4e79a7", "Fused": "#59a14f"}


def main() -> None:
    path = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results/scale_sim_bench.json")
    rows = json.loads(path.read_text())["rows"]
    latencies = sorted({r["latency_us"] for r in rows})
    fig, axes = plt.subplots(len(latencies), 3, figsize=(18, 5 * len(latencies)), squeeze=False)
    for row_axes, latency in zip(axes, latencies):
        fig5, fig6, cpu = row_axes
        here = [r for r in rows if r["latency_us"] == latency]
        for mode, color in MODES.items():
            pts = sorted((r for r in here if r["mode"] == mode), key=lambda r: r["hosts"])
            if not pts:
                continue
            hosts = [r["hosts"] for r in pts]
            fig5.plot(hosts, [r["baseline"] for r in pts], color=color, linestyle="--", marker="s",
                      label=f"{mode} multi-controller")
            fig5.plot(hosts, [r["pathways"] for r in pts], color=color, marker="o", label=f"{mode} Pathways")
            fig5.plot(hosts, [r["projected"] for r in pts], color=color, linestyle=":", marker="^",
                      label=f"{mode} Pathways, projected")
            cpu.plot(hosts, [r["cpu_us"] for r in pts], color=color, marker="o", label=f"{mode} controller + client")
            cpu.plot(hosts, [r["host_cpu_us"] for r in pts], color=color, linestyle=":", marker="^",
                     label=f"{mode} one host")
        f6 = sorted((r for r in here if r["mode"] == "fig6"), key=lambda r: r["hosts"])
        if f6:
            hosts = [r["hosts"] for r in f6]
            fig6.plot(hosts, [r["found_ms"] for r in f6], marker="o", label="measured on the simulator")
            fig6.plot(hosts, [r["predicted_ms"] for r in f6], marker="^", linestyle=":",
                      label="projected (hosts on their own CPUs)")
            fig6.scatter([16, 512], [2.3, 35], marker="x", color="black", zorder=3, label="targets")
        for ax in row_axes:
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("simulated hosts (x 4 devices)")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=7)
        fig5.set_ylabel("computations/s")
        fig5.set_title(f"Figure 5 at scale, control latency {latency:.0f} us one way")
        fig6.set_ylabel("computation length (ms)")
        fig6.set_title(f"Figure 6: smallest computation for >= 95% ({latency:.0f} us)")
        cpu.set_ylabel("CPU us per computation")
        cpu.set_title(f"CPU per computation ({latency:.0f} us)")
    fig.tight_layout()
    out = path.with_suffix(".png")
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
