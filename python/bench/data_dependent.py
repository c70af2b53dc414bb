"""The cost of one data-dependent edge: a @pw.program of a chain of pmapped calls, fully static,
against the same chain with a pw.lax.cond in the middle whose predicate the program computes.

The static program is one submission dispatched in parallel: every host enqueues the whole
chain before its first kernel ran. With the cond, the controller dispatches the part before it
in parallel, waits for the predicate (fetching one element per device), dispatches the selected
branch and the rest: the wait and the second dispatch are the edge's cost. Both programs do the
same work (both branches are the same function). Times are per call (submit to result ready),
the median of `--reps`, on the embedded cluster's CPU devices; `--trace` writes a Chrome trace
of one data-dependent call, where the controller lane shows "wait for predicate".

Run: PYTHONPATH=build/python /usr/bin/python3 python/bench/data_dependent.py
"""

import argparse
import statistics
import time

import numpy as np

import pathways as pw
import pathways.numpy as pnp
from pathways import lax


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=2)
    p.add_argument("--chain", type=int, nargs="+", default=[4, 16, 64],
                   help="pmapped calls on each side of the edge")
    p.add_argument("--size", type=int, nargs="+", default=[256, 65536],
                   help="elements per device of each call's operand")
    p.add_argument("--reps", type=int, default=30)
    p.add_argument("--trace", default="", help="write a Chrome trace of one data-dependent call here")
    args = p.parse_args()
    devs = pw.get_devices(args.devices)
    step = pw.pmap(lambda x: x * 1.0001 + 0.5, devices=devs)
    positive = pw.pmap(lambda x: lax.psum(pnp.sum(x), "i") > 0, axis_name="i", devices=devs)

    def chain(x, n):
        for _ in range(n):
            x = step(x)
        return x

    print(f"data_dependent: {args.devices} CPU devices, median of {args.reps} calls; the edge's "
          "cost is the difference")
    print("| calls per side | elements per device | static | with a data-dependent cond | "
          "edge cost | ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    for size in args.size:
        x = np.ones((args.devices, size), np.float32)
        for n in args.chain:
            @pw.program
            def static(x):
                y = chain(x, n)
                return chain(step(y), n), positive(y)

            @pw.program
            def dependent(x):
                y = chain(x, n)
                z = lax.cond(positive(y), lambda a: step(a), lambda a: step(a), y)
                return chain(z, n), positive(y)

            def per_call(f):
                times = []
                for _ in range(args.reps + 3):
                    start = time.perf_counter()
                    out, _ = f(x)
                    out.block_until_ready()
                    times.append(time.perf_counter() - start)
                return statistics.median(times[3:]), out

            (t_static, a), (t_dep, b) = per_call(static), per_call(dependent)
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
            print(f"| {n} | {size} | {t_static * 1e3:.2f} ms | {t_dep * 1e3:.2f} ms | "
                  f"{(t_dep - t_static) * 1e3:+.2f} ms | {t_dep / t_static:.2f} |", flush=True)
    if args.trace:
        with pw.trace(args.trace):
            out, _ = dependent(x)
            out.block_until_ready()
        print(f"trace of one data-dependent call: {args.trace}")


if __name__ == "__main__":
    main()
