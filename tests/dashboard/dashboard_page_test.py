"""The dashboard page in headless Chromium: after its scripts ran, it shows the hosts, devices,
clients and failed runs that `pw status` and the controller report; and a screenshot of it."""

import html.parser
import os
import re
import shutil
import subprocess

import pytest

from conftest import FAILED_RUNS, WEIGHT, cluster, needs_pw, pw_status  # noqa: F401

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [needs_pw, pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")]


def chromium(tmp_path, *args):
    # A fresh profile, and none of the browser's own background work: only the page loads. On
    # a loaded 2-core machine one run can take tens of seconds.
    r = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--no-default-browser-check", "--disable-extensions", "--disable-sync",
                        "--disable-background-networking", "--disable-component-update",
                        "--hide-scrollbars", f"--user-data-dir={tmp_path / 'chromium-profile'}",
                        "--virtual-time-budget=5000", *args],
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


class Rows(html.parser.HTMLParser):
    """The text of every element carrying a data-* attribute, by (attribute, value)."""

    def __init__(self):
        super().__init__()
        self.rows, self.open = {}, []

    def handle_starttag(self, tag, attrs):
        keys = [(k, v) for k, v in attrs if k.startswith("data-")]
        self.open.append(keys)
        for key in keys:
            self.rows.setdefault(key, "")

    def handle_endtag(self, tag):
        if self.open:
            self.open.pop()

    def handle_data(self, data):
        for keys in self.open:
            for key in keys:
                self.rows[key] += data


def test_page_shows_what_pw_status_shows(cluster, tmp_path):
    dom = chromium(tmp_path, "--dump-dom", cluster.url)
    page = Rows()
    page.feed(dom)
    rows = page.rows
    assert re.search(r'<div id="error"[^>]*hidden', dom), "the page shows an error"

    status = pw_status(cluster)
    hosts = re.findall(r"^  host (\d+): ", status, re.M)
    devices = re.findall(r"^    device (\d+) \((\w+)\)", status, re.M)
    clients = re.findall(r"^  client (\d+) '([^']*)': weight (\d+)", status, re.M)
    assert len(hosts) == 2 and len(devices) == 4 and len(clients) == 1

    for h in hosts:
        assert f"host {h}" in rows[("data-host", h)]
        assert "up" in rows[("data-host", h)]
    for d, kind in devices:
        text = rows[("data-device", d)]
        assert text.startswith(f"device {d}") and kind in text
        assert "of 256.0 MiB" in text
    for c, name, weight in clients:
        text = rows[("data-client", c)]
        assert name in text and weight == str(WEIGHT)
        assert re.search(rf"client {c}{name}{weight}", text)
    assert rows[("data-card", "hosts")].startswith("2")
    assert rows[("data-card", "devices")].startswith("4")
    assert rows[("data-card", "lost_hosts")].startswith("0")
    runs = re.search(r"runs: (\d+)", status).group(1)
    assert rows[("data-card", "runs")].startswith(runs)
    failed = [text for (key, _), text in rows.items() if key == "data-failed-run"]
    assert len(failed) == FAILED_RUNS
    assert all("too_big" in t and "RESOURCE_EXHAUSTED" in t and "out of memory" in t for t in failed)


def test_screenshot(cluster, tmp_path):
    out = os.environ.get("PW_DASHBOARD_SCREENSHOT") or str(tmp_path / "dashboard.png")
    chromium(tmp_path, f"--screenshot={out}", "--window-size=1280,900", cluster.url)
    with open(out, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(out) > 10_000  # a drawn page, not a blank one
