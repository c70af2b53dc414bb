"""Named scopes and traces: where a step's time goes.

    with pw.trace("step.json"):          # Chrome trace JSON; open it in Perfetto
        params, state, loss = train_step(params, state, batch)
        loss.block_until_ready()

Inside a traced function, `with pw.named_scope("attention"):` tags the instructions it adds;
the compiled step then records one "scope" event per run of them on the device's lane, nested
in the step's "execute" event. pw.grad puts the recomputed forward pass under "forward/..." and
the derivative of an instruction of scope s under "backward/s".
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from . import _runtime
from ._tracer import current_trace


@contextlib.contextmanager
def named_scope(name: str) -> Iterator[None]:
    """Tags the instructions traced inside the block with `name` (nested scopes join with '/').
    Outside a traced function it does nothing.

        >>> import numpy as np, pathways as pw
        >>> def f(x):
        ...     with pw.named_scope("double"):
        ...         return x * 2.0
        >>> pw.pmap(f)(np.ones((2,), np.float32))
        array([2., 2.], dtype=float32)
    """
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"pw.named_scope: a scope name is a non-empty string without '/', got {name!r}")
    t = current_trace()
    if t is None:
        yield
        return
    t.builder.push_scope(name)
    try:
        yield
    finally:
        t.builder.pop_scope()


_recording = [False]  # one trace at a time: the recorder is the cluster's


@contextlib.contextmanager
def trace(path: str | os.PathLike[str]) -> Iterator[str]:
    """Records the embedded cluster's trace events (dispatch, execution, named scopes,
    transfers) during the block and writes them to `path` as Chrome trace JSON. Wait for the
    arrays you care about inside the block. For a session connected to a running cluster, use
    `pw trace` instead (PathwaysError). Traces do not nest (PathwaysError). The block gets the
    absolute path.

        with pw.trace("step.json"):
            loss = step(params, batch)
            loss.block_until_ready()
    """
    out = os.path.abspath(os.fspath(path))
    if _recording[0]:
        raise _runtime.PathwaysError("pw.trace: a trace is already being recorded (traces do not nest)")
    s = _runtime.session()
    s.start_trace()
    _recording[0] = True
    failed = False
    try:
        yield out
    except BaseException:
        failed = True
        raise
    finally:
        _recording[0] = False
        try:
            s.stop_trace(out)
        except _runtime.PathwaysError:
            if not failed:  # never hide the block's own error behind the trace's
                raise
