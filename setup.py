"""Builds the `pathways` distribution: the pure-Python package of python/pathways, the `_pathways`
extension, and the `pw`, `pw-controller` and `pw-worker` commands, all compiled by the project's
own CMake + Ninja build (metadata is in pyproject.toml).

    pip install . --no-build-isolation       # or: make wheel (dist/*.whl)

The C++ build tree is `build-wheel/` in the checkout (configured with benchmarks and examples
off; only the extension and the three commands are built, not the tests). It sits at the same
depth as `make`'s `build/`, so ccache (which the project's CMake turns on, with CCACHE_BASEDIR
at the checkout) serves objects `make` already compiled. PW_CMAKE_BUILD_DIR names an existing,
configured build tree to use instead: its targets are brought up to date and packaged as they
are (the install test does this with the tree `make test` built).

The commands are installed as executables on PATH (the scripts folder: `venv/bin`,
`~/.local/bin`, ...), side by side, so `pw up` finds pw-controller and pw-worker next to itself
(see pathways/cluster/process_cluster.h) and `pw run` uses the Python beside it when there is one.
"""

import glob
import os
import shutil
import subprocess
import sys
import sysconfig

from distutils.command.build_scripts import build_scripts
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))
COMMANDS = ("pw", "pw-controller", "pw-worker")
EXTENSION = "_pathways"


def cmake_build_dir():
    """The C++ build tree to use: $PW_CMAKE_BUILD_DIR, else build-wheel/ in the checkout."""
    given = os.environ.get("PW_CMAKE_BUILD_DIR", "")
    return os.path.abspath(given) if given else os.path.join(ROOT, "build-wheel")


def run(command, what):
    print(" ".join(command), flush=True)
    try:
        subprocess.run(command, check=True)
    except FileNotFoundError as e:
        sys.exit(f"pathways: {what}: {e.filename} not found (scripts/install-deps.sh installs it)")
    except subprocess.CalledProcessError as e:
        sys.exit(f"pathways: {what} failed (exit status {e.returncode}); see the output above")


def build_cpp(jobs):
    """Configures the build tree when it is new, then builds the extension and the commands."""
    build_dir = cmake_build_dir()
    if not os.path.exists(os.path.join(build_dir, "build.ninja")):
        if os.environ.get("PW_CMAKE_BUILD_DIR"):
            sys.exit(f"pathways: PW_CMAKE_BUILD_DIR={build_dir} is not a configured Ninja build tree")
        run(["cmake", "-S", ROOT, "-B", build_dir, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
             "-DPW_BUILD_BENCH=OFF", "-DPW_BUILD_EXAMPLES=OFF", "-DPW_BUILD_PYTHON=ON",
             f"-DPython_EXECUTABLE={sys.executable}", f"-DPYTHON_EXECUTABLE={sys.executable}"],
            "configuring the C++ build")
    jobs = jobs or int(os.environ.get("PW_BUILD_JOBS", "0")) or os.cpu_count() or 1
    run(["ninja", "-C", build_dir, "-j", str(jobs), EXTENSION, *COMMANDS], "building the C++ parts")
    return build_dir


class CMakeBuildExt(build_ext):
    """Builds every C++ part once through CMake, then copies the extension into place."""

    def run(self):
        dist = self.distribution
        if getattr(dist, "pathways_cmake_dir", None) is None:
            dist.pathways_cmake_dir = build_cpp(self.parallel if isinstance(self.parallel, int) else 0)
        super().run()

    def build_extension(self, ext):
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        built = os.path.join(self.distribution.pathways_cmake_dir, "python", "pathways",
                             EXTENSION + suffix)
        if not os.path.exists(built):
            found = glob.glob(os.path.join(os.path.dirname(built), EXTENSION + "*.so"))
            sys.exit(f"pathways: {built} was not built (found {found or 'none'}): the build tree "
                     f"was configured for another Python than {sys.executable}")
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(built, target)


class CopyCommands(build_scripts):
    """Puts the compiled commands where install_scripts takes them from. (The stock command
    reads every script as Python source to fix its #! line, which an ELF file is not.)"""

    def get_source_files(self):
        return []

    def run(self):
        self.run_command("build_ext")
        tools = os.path.join(self.distribution.pathways_cmake_dir, "pathways", "tools")
        os.makedirs(self.build_dir, exist_ok=True)
        for name in COMMANDS:
            target = os.path.join(self.build_dir, name)
            shutil.copyfile(os.path.join(tools, name), target)
            os.chmod(target, 0o755)


setup(
    ext_modules=[Extension(f"pathways.{EXTENSION}", sources=[])],
    # Names only: CopyCommands takes the files from the C++ build tree.
    scripts=list(COMMANDS),
    cmdclass={"build_ext": CMakeBuildExt, "build_scripts": CopyCommands},
    # setuptools' own staging goes inside the C++ build tree, not into make's build/ by default.
    options={"build": {"build_base": os.path.join(cmake_build_dir(), "setuptools")}},
)
