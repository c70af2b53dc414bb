"""Every Python example in README.md runs as written (each in a fresh interpreter)."""

import os
import re

import pytest

from conftest import run_python

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")


def blocks():
    with open(README, encoding="utf-8") as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


def test_readme_has_python_examples():
    assert len(blocks()) >= 3


@pytest.mark.parametrize("index", range(len(blocks())))
def test_readme_python_example_runs(index):
    code = blocks()[index]
    if not re.search(r"^(import|from) .*\bpathways\b", code, re.M):  # continues the previous one
        code = blocks()[index - 1] + "\n" + code
    result = run_python(code, timeout=120)
    assert result.returncode == 0, f"README example {index}:\n{code}\n{result.stderr[-3000:]}"
