"""The launcher files of deploy/ parse and agree with what pw-controller and pw-worker read
(pathways/launch/launch_environment.h): Service names, ports and the variables each pod needs."""

import os
import re
import subprocess

import pytest

yaml = pytest.importorskip("yaml")

DEPLOY = os.path.join(os.path.dirname(__file__), "..", "..", "deploy")


def manifest():
    with open(os.path.join(DEPLOY, "kubernetes", "pathways.yaml"), encoding="utf-8") as f:
        return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(f)}


def container(doc):
    (c,) = doc["spec"]["template"]["spec"]["containers"]
    return c


def env_of(c):
    return {e["name"]: e for e in c.get("env", [])}


def test_manifest_has_the_services_and_statefulsets():
    docs = manifest()
    assert set(docs) == {("Service", "pw-controller"), ("Service", "pw-worker"),
                         ("StatefulSet", "pw-controller"), ("StatefulSet", "pw-worker")}
    for name in ("pw-controller", "pw-worker"):
        service, workload = docs[("Service", name)], docs[("StatefulSet", name)]
        assert service["spec"]["clusterIP"] == "None", f"{name}: the Service must be headless"
        assert workload["spec"]["serviceName"] == name
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert workload["spec"]["selector"]["matchLabels"] == labels
        assert all(labels.get(k) == v for k, v in service["spec"]["selector"].items()), name


def test_workers_find_the_controller_service_and_their_own_names():
    docs = manifest()
    controller, worker = container(docs[("StatefulSet", "pw-controller")]), container(docs[("StatefulSet", "pw-worker")])
    assert controller["command"][0] == "pw-controller" and worker["command"][0] == "pw-worker"
    port = docs[("Service", "pw-controller")]["spec"]["ports"][0]["port"]
    for c in (controller, worker):
        env = env_of(c)
        assert env["PATHWAYS_CONTROLLER_SERVICE"]["value"] == "pw-controller"
        assert int(env["PATHWAYS_CONTROLLER_PORT"]["value"]) == port
        assert env["PATHWAYS_OPERATOR_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "pathways-tokens"
        # Flags would override the environment; the manifest relies on it.
        assert "--controller" not in c["command"] and "--listen" not in c["command"]
    assert controller["ports"][0]["containerPort"] == port
    env = env_of(worker)
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert int(env["PATHWAYS_HOSTS_PER_ISLAND"]["value"]) >= 1


def test_sbatch_script_is_valid_bash_that_starts_the_cluster():
    path = os.path.join(DEPLOY, "slurm", "pathways.sbatch")
    assert subprocess.run(["bash", "-n", path], capture_output=True).returncode == 0
    text = open(path, encoding="utf-8").read()
    assert text.startswith("#!/bin/bash\n")
    directives = re.findall(r"^#SBATCH (--[a-z-]+)", text, re.M)
    assert "--nodes" in directives and "--ntasks-per-node" in directives
    assert re.search(r"^pw-controller &$", text, re.M)
    assert re.search(r"^srun .*pw-worker", text, re.M)
    assert "--controller" not in text and "--listen" not in text
