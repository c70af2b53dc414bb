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


@contextlib.contextmanager
def trace(path):
    """Records the embedded cluster's trace events (dispatch, execution, named scopes,
    transfers) during the block and writes them to `path` as Chrome trace JSON. Wait for the
    arrays you care about inside the block. For a session connected to a running cluster, use
    `pw trace` instead (PathwaysError)."""
    path = os.path.abspath(os.fspath(path))
    s = _runtime.session()
    s.start_trace()
    try:
        yield path
    finally:
        s.stop_trace(path)
