"""Named scopes and traces: where a step's time goes.

    with pw.trace("step.json"):          # Chrome trace JSON; open it in Perfetto
        params, state, loss = train_step(params, state, batch)
        loss.block_until_ready()

Inside a traced function, `with pw.named_scope("attention"):` tags the instructions it adds;
the compiled step then records one "scope" event per run of them on the device's lane, nested
in the step's "execute" event. pw.grad puts the recomputed forward pass under "forward/..." and
the derivative of an instruction of scope s under "backward/s".
"""

import contextlib
import os

from . import _runtime
from ._tracer import current_trace


@contextlib.contextmanager
def named_scope(name):
    """Tags the instructions traced inside the block with `name` (nested scopes join with '/').
    Outside a traced function it does nothing."""
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
def trace(path):
    """Records the embedded cluster's trace events (dispatch, execution, named scopes,
    transfers) during the block and writes them to `path` as Chrome trace JSON. Wait for the
    arrays you care about inside the block. For a session connected to a running cluster, use
    `pw trace` instead (PathwaysError). Traces do not nest (PathwaysError)."""
    path = os.path.abspath(os.fspath(path))
    if _recording[0]:
        raise _runtime.PathwaysError("pw.trace: a trace is already being recorded (traces do not nest)")
    s = _runtime.session()
    s.start_trace()
    _recording[0] = True
    failed = False
    try:
        yield path
    except BaseException:
        failed = True
        raise
    finally:
        _recording[0] = False
        try:
            s.stop_trace(path)
        except _runtime.PathwaysError:
            if not failed:  # never hide the block's own error behind the trace's
                raise
