"""Shared setup for the pathways Python tests: one embedded 2 hosts x 2 devices cluster."""

import os
import subprocess
import sys
import textwrap

import pytest

import pathways as pw


@pytest.fixture(scope="session", autouse=True)
def runtime():
    pw.init(hosts=2, devices_per_host=2)
    yield
    pw.shutdown()


def run_python(code, timeout=60, env=None):
    """Runs `code` in a fresh interpreter (for process-lifetime behaviour: exit, shutdown)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=full_env)


# The pw command line tool of the build (CTest sets PW_BIN_DIR); tests needing it skip without.
BIN_DIR = os.environ.get("PW_BIN_DIR", "")
PW = os.path.join(BIN_DIR, "pw")
needs_pw = pytest.mark.skipif(not os.access(PW, os.X_OK),
                              reason="the pw command is not built (PW_BIN_DIR unset)")


def pw_cmd(state_dir, *args, timeout=60):
    """Runs `pw ARGS` with its state in `state_dir` (never the user's cluster)."""
    env = dict(os.environ, PATHWAYS_STATE_DIR=str(state_dir))
    env.pop("PATHWAYS_ADDRESS", None)
    return subprocess.run([PW, *args], capture_output=True, text=True, timeout=timeout, env=env)
