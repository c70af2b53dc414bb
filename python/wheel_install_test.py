"""The wheel installs and works on its own: builds it (reusing a configured C++ build tree, so
this costs seconds), installs it into a fresh virtual environment, then from an unrelated
folder with no PYTHONPATH runs the quickstart and `pw up` / `status` / `run` / `down` through
the installed commands, checking that the installed files are the ones used.

    /usr/bin/python3 python/wheel_install_test.py SOURCE_DIR CMAKE_BUILD_DIR

Exits 0 after printing "wheel install: ok"; otherwise 1 with the step that failed and its output.
"""

import glob
import os
import shutil
import subprocess
import sys
import tempfile

QUICKSTART_OUTPUT = "(array([3., 5.], dtype=float32), array([2., 4.], dtype=float32))"


class Failure(Exception):
    pass


def run(step, argv, env, cwd, timeout=300):
    """Runs argv, returning its stdout; a non-zero exit raises Failure naming the step."""
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise Failure(f"{step}: exit status {result.returncode}\n$ {' '.join(argv)}\n"
                      f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result.stdout


def expect(condition, message):
    if not condition:
        raise Failure(message)


def clean_env(tmp):
    """This process's environment without anything pointing into the checkout or a cluster."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PW_BIN_DIR", "PATHWAYS_ADDRESS", "PYTHONHOME")}
    env["PATHWAYS_STATE_DIR"] = os.path.join(tmp, "state")
    return env


def build_and_install(source, build, tmp, env):
    """The wheel in tmp/dist, installed into tmp/venv; returns the venv's bin folder."""
    dist = os.path.join(tmp, "dist")
    run("pip wheel", ["/usr/bin/python3", "-m", "pip", "wheel", "--no-build-isolation", "--no-deps",
                      "--no-index", "--no-cache-dir", "-q", "-w", dist, source],
        dict(env, PW_CMAKE_BUILD_DIR=build), cwd=tmp)
    wheels = glob.glob(os.path.join(dist, "pathways-*.whl"))
    expect(len(wheels) == 1, f"pip wheel: expected one wheel in {dist}, found {wheels}")
    venv = os.path.join(tmp, "venv")
    # NumPy comes from the system's site-packages (Debian's python3-numpy), as does pip.
    run("venv", ["/usr/bin/python3", "-m", "venv", "--system-site-packages", "--without-pip", venv],
        env, cwd=tmp)
    bin_dir = os.path.join(venv, "bin")
    run("pip install", [os.path.join(bin_dir, "python"), "-m", "pip", "install", "--no-deps",
                        "--no-index", "--no-cache-dir", "-q", wheels[0]], env, cwd=tmp)
    return bin_dir


def check_installed_files(source, bin_dir, env, cwd):
    python = os.path.join(bin_dir, "python")
    where = run("import", [python, "-c", "import os, pathways; print(os.path.dirname(pathways.__file__))"],
                env, cwd).strip()
    venv = os.path.dirname(bin_dir)
    expect(where.startswith(venv + os.sep),
           f"import pathways: found the package at {where}, not in the virtual environment {venv}")
    typing_files = [os.path.basename(p) for p in glob.glob(os.path.join(source, "python", "pathways", "*.pyi"))
                    + glob.glob(os.path.join(source, "python", "pathways", "py.typed"))]
    for name in typing_files:
        expect(os.path.exists(os.path.join(where, name)), f"the wheel lacks pathways/{name}")
    for command in ("pw", "pw-controller", "pw-worker"):
        found = shutil.which(command, path=env["PATH"])
        expect(found == os.path.join(bin_dir, command),
               f"{command} on PATH is {found}, not the installed {os.path.join(bin_dir, command)}")
    return python


def check_cluster(bin_dir, env, cwd, quickstart):
    pw = os.path.join(bin_dir, "pw")
    out = run("pw up", [pw, "up", "--hosts", "2", "--devices-per-host", "1"], env, cwd)
    expect("Pathways cluster up at" in out, f"pw up printed:\n{out}")
    try:
        state = dict(line.split("=", 1) for line in
                     open(os.path.join(env["PATHWAYS_STATE_DIR"], "cluster")).read().splitlines())
        controller = os.readlink(f"/proc/{state['controller_pid']}/exe")
        expect(controller == os.path.join(bin_dir, "pw-controller"),
               f"pw up started {controller}, not the installed pw-controller")
        for pid in state["worker_pids"].split(","):
            worker = os.readlink(f"/proc/{pid}/exe")
            expect(worker == os.path.join(bin_dir, "pw-worker"),
                   f"pw up started {worker}, not the installed pw-worker")
        status = run("pw status", [pw, "status"], env, cwd)
        expect("island 0: 2 host(s), 2 device(s)" in status, f"pw status printed:\n{status}")
        ran = run("pw run", [pw, "run", quickstart], env, cwd)
        expect(QUICKSTART_OUTPUT in ran, f"pw run {quickstart} printed:\n{ran}")
    finally:
        down = run("pw down", [pw, "down"], env, cwd)
    expect("stopped the cluster" in down, f"pw down printed:\n{down}")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    source, build = (os.path.abspath(p) for p in sys.argv[1:])
    tmp = tempfile.mkdtemp(prefix="pathways-wheel-")
    try:
        env = clean_env(tmp)
        bin_dir = build_and_install(source, build, tmp, env)
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
        cwd = os.path.join(tmp, "elsewhere")
        os.makedirs(cwd)
        quickstart = shutil.copy(os.path.join(source, "examples", "quickstart.py"), cwd)
        python = check_installed_files(source, bin_dir, env, cwd)
        out = run("quickstart", [python, "quickstart.py"], env, cwd)
        expect(QUICKSTART_OUTPUT in out, f"quickstart printed:\n{out}")
        check_cluster(bin_dir, env, cwd, "quickstart.py")
    except (Failure, subprocess.TimeoutExpired) as e:
        print(f"wheel install: FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("wheel install: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
