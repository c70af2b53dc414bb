"""Per-call overhead of an op-by-op pmap call from Python, in the shape of dispatch_bench's
Figure 5 OpByOp (scalar all-reduce + add on 4 devices over 2 hosts, waiting for each call).

Run: PYTHONPATH=build/python /usr/bin/python3 python/bench/overhead.py
"""

import time

import numpy as np

import pathways as pw


def bench(label, fn, iters):
    fn()  # warm up (trace, register)
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    dt = (time.perf_counter() - t0) / iters
    print(f"{label:60s} {dt * 1e6:8.1f} us/call  ({1 / dt:,.0f} calls/s)")


def main():
    pw.init(hosts=2, devices_per_host=2)
    devs = pw.get_devices(4)
    f = pw.pmap(lambda x: pw.lax.psum(x, "i") + 1.0, devices=devs, axis_name="i")
    x = pw.device_put(np.zeros(4, np.float32), devs)
    state = {"x": x}

    def waited():
        state["x"] = f(state["x"]).block_until_ready()

    bench("op-by-op, wait each call (Figure 5 OpByOp, 4 devices)", waited, 3000)
    bench("submit only (no wait): Python + client + controller Run", lambda: f(x), 3000)
    xs = np.zeros(4, np.float32)
    bench("submit only, NumPy input (adds a put)", lambda: f(xs), 3000)
    pw.shutdown()


if __name__ == "__main__":
    main()
