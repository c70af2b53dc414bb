# The paper's Figure 2 in Python: three pmapped functions, each on its own 2-device slice,
# traced by @pw.program into ONE program and run with parallel asynchronous dispatch.
from typing import Any

import numpy as np

import pathways as pw


def get_devices(n: int) -> list[pw.VirtualDevice]:
    """Allocates n virtual devices."""
    device_set = pw.make_virtual_device_set()
    return device_set.add_slice(devices=n).devices


a = pw.pmap(lambda x: x * 2., devices=get_devices(2))
b = pw.pmap(lambda x: x + 1., devices=get_devices(2))
c = pw.pmap(lambda x: x / 2., devices=get_devices(2))


@pw.program  # Program tracing (optional)
def f(v: Any) -> tuple[Any, Any]:
    x = a(v)
    y = b(x)
    z = a(c(x))
    return (y, z)


print(f(np.array([1., 2.], dtype=np.float32)))
# output: (array([3., 5.], dtype=float32), array([2., 4.], dtype=float32))
