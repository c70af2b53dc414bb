#!/usr/bin/env bash
# Installs the Debian packages OpenPathways builds and runs with. Idempotent: installs only what is missing.
#   scripts/install-deps.sh           what `make run` and `make test` need
#   scripts/install-deps.sh --fuzz    and Clang with libFuzzer, for `make fuzz`
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libabsl-dev
  libprotobuf-dev protobuf-compiler
  libgrpc++-dev protobuf-compiler-grpc
  libdnnl-dev
  libgloo-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  pybind11-dev python3-dev python3-numpy python3-pytest python3-matplotlib python3-tqdm
  # The controller's dashboard: its HTTP server and JSON; its tests parse the Prometheus text
  # with the reference parser and load the page in headless Chromium.
  libcpp-httplib-dev nlohmann-json3-dev python3-prometheus-client chromium
  # Test dependencies: PyTorch is the oracle the training tests compare gradients and losses
  # with; hypothesis drives the property tests of the Python argument checks; openssl makes the
  # TLS test's self-signed certificate.
  python3-torch python3-hypothesis openssl
  # Static checks and reference docs of the Python client: mypy (with stubtest) runs in the
  # python_typecheck test; Sphinx generates docs/api (`make docs`).
  mypy python3-sphinx
  # `pip install .` / `make wheel` (setup.py) and the test installing the wheel into a virtual
  # environment; YAML checks the Kubernetes manifest in deploy/.
  python3-setuptools python3-wheel python3-pip python3-venv python3-yaml
)

if [[ "${1:-}" == "--fuzz" ]]; then
  PACKAGES+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
