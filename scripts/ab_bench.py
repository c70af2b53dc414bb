#!/usr/bin/env python3
"""Runs two builds of one Google Benchmark binary side by side and prints their ratio.

  scripts/ab_bench.py BEFORE_BINARY AFTER_BINARY [--filter REGEX] [--rounds N] [--min-time S]

The two binaries take turns, round after round (A B A B ...), so a noisy, shared machine slows
both alike; each benchmark's median over the rounds is compared. Prints a Markdown table of
items/s (or time when a benchmark reports no items) and after/before.
"""
import argparse
import json
import statistics
import subprocess
import sys


def run(binary, flt, min_time):
    out = subprocess.run(
        [binary, f"--benchmark_filter={flt}", f"--benchmark_min_time={min_time}",
         "--benchmark_format=json"],
        check=True, capture_output=True, text=True).stdout
    results = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("run_type", "iteration") != "iteration":
            continue
        rate = b.get("items_per_second")
        results[b["name"]] = (rate, "items/s") if rate else (b["real_time"], b["time_unit"])
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--filter", default=".")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--min-time", default="0.3")
    args = p.parse_args()
    samples = {"before": {}, "after": {}}
    units = {}
    for r in range(args.rounds):
        for side in ("before", "after"):
            print(f"round {r + 1}/{args.rounds}: {side}", file=sys.stderr)
            for name, (value, unit) in run(getattr(args, side), args.filter, args.min_time).items():
                samples[side].setdefault(name, []).append(value)
                units[name] = unit
    print("| benchmark | before | after | after / before |")
    print("| --- | --- | --- | --- |")
    for name in samples["before"]:
        if name not in samples["after"]:
            continue
        b = statistics.median(samples["before"][name])
        a = statistics.median(samples["after"][name])
        print(f"| {name} | {b:,.0f} {units[name]} | {a:,.0f} {units[name]} | {a / b:.2f} |")


if __name__ == "__main__":
    main()
