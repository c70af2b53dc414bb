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
