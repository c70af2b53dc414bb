"""/metrics of a running cluster: valid Prometheus text (parsed by the reference parser) whose
values agree with the work the client did and with `pw status`."""

import re
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import BUSY_RUNS, FAILED_RUNS, RUNS, WEIGHT, cluster, needs_pw, pw_status  # noqa: F401

pytestmark = needs_pw


def scrape(url):
    with urllib.request.urlopen(url + "metrics", timeout=30) as r:
        assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return r.read().decode()


def samples(text):
    """{(sample name, frozenset(labels)): value}, and {family: type}, by the reference parser."""
    values, types = {}, {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for s in family.samples:
            values[(s.name, frozenset(s.labels.items()))] = s.value
    return values, types


def one(values, name, **labels):
    return values[(name, frozenset(labels.items()))]


def test_metrics_parse_and_agree_with_the_work_done(cluster):
    text = scrape(cluster.url)
    for line in text.splitlines():  # names follow the conventions
        if not line.startswith("#"):
            assert re.match(r"pathways_[a-z0-9_]+[{ ]", line), line
    values, types = samples(text)
    assert types["pathways_program_runs"] == "counter"
    assert types["pathways_dispatch_latency_seconds"] == "histogram"
    assert types["pathways_device_memory_used_bytes"] == "gauge"

    runs = one(values, "pathways_program_runs_total")
    assert runs >= RUNS + BUSY_RUNS + FAILED_RUNS
    assert one(values, "pathways_program_run_failures_total") == FAILED_RUNS
    assert one(values, "pathways_computations_total") >= RUNS
    assert one(values, "pathways_program_runs_finished_total") == runs  # the fixture waited
    assert one(values, "pathways_programs_running") == 0
    assert one(values, "pathways_dispatch_latency_seconds_count") == runs
    assert one(values, "pathways_dispatch_latency_seconds_bucket", le="+Inf") == runs
    assert one(values, "pathways_queue_time_seconds_count") <= runs
    assert one(values, "pathways_run_duration_seconds_count") == runs
    # Every run's input went in and its output came back through the controller.
    assert one(values, "pathways_transfer_bytes_total", direction="put") >= RUNS * 4 * 256 * 4
    assert one(values, "pathways_transfer_bytes_total", direction="fetch") >= RUNS * 4 * 256 * 4

    assert one(values, "pathways_hosts_lost_total") == 0
    assert one(values, "pathways_hosts_live") == 2
    devices = {dict(labels)["device"]: v for (name, labels), v in values.items()
               if name == "pathways_device_memory_used_bytes"}
    assert sorted(devices) == ["0", "1", "2", "3"]
    assert all(v >= 1024 * 4 for v in devices.values())  # the live [4, 1024] array's shards
    for (name, labels), v in values.items():
        if name == "pathways_device_utilization_ratio":
            assert 0 <= v <= 1
    for device in ["0", "1"]:  # the busy runs' devices
        busy = [v for (name, labels), v in values.items()
                if name == "pathways_device_busy_seconds_total" and dict(labels)["device"] == device]
        assert busy and busy[0] > 0

    clients = {dict(labels)["client_id"]: v for (name, labels), v in values.items()
               if name == "pathways_client_runs_total" and dict(labels)["client"] == "python"}
    assert len(clients) == 1
    (client_id, client_runs), = clients.items()
    assert client_runs >= RUNS + FAILED_RUNS
    assert one(values, "pathways_client_weight", client_id=client_id, client="python") == WEIGHT
    assert one(values, "pathways_client_memory_bytes", client_id=client_id, client="python") >= 4 * 1024 * 4

    # pw status reads the same controller: the same runs and client.
    status = pw_status(cluster)
    assert f"runs: {int(runs)}," in status
    assert f"client {client_id} 'python': weight {WEIGHT}" in status


def test_failed_runs_are_listed_with_their_errors(cluster):
    import json
    with urllib.request.urlopen(cluster.url + "api/programs", timeout=30) as r:
        programs = json.loads(r.read())
    oom = [f for f in programs["failed"] if f["code"] == "RESOURCE_EXHAUSTED"]
    assert len(oom) == FAILED_RUNS
    assert all(f["program"] == "too_big" and "out of memory" in f["error"] for f in oom)


def test_bad_requests_to_a_live_cluster_change_nothing(cluster):
    before = samples(scrape(cluster.url))[0]
    for path, code in [("api/trace?seconds=abc", 400), ("api/hosts/77", 404), ("nope", 404)]:
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(cluster.url + path, timeout=30)
        assert e.value.code == code
    req = urllib.request.Request(cluster.url + "api/cluster", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=30)
    assert e.value.code == 405
    after = samples(scrape(cluster.url))[0]
    for name in ["pathways_program_runs_total", "pathways_clients", "pathways_hosts_live"]:
        assert one(after, name) == one(before, name)


def test_trace_download_has_the_recent_runs_of_every_host(cluster):
    import json
    with urllib.request.urlopen(cluster.url + "api/trace?seconds=600", timeout=60) as r:
        assert "attachment" in r.headers["Content-Disposition"]
        trace = json.loads(r.read())
    events = [e for e in trace["traceEvents"] if e.get("ph") == "X"]
    categories = {e.get("cat") for e in events}
    assert {"dispatch", "execute"} <= categories
    assert len({e["pid"] for e in events if e.get("cat") == "execute"}) == 2  # both hosts ran work
