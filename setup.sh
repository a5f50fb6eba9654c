#!/usr/bin/env bash
# Sets up Hypnagogia in ./.venv: the system's GL/EGL libraries (Debian/Ubuntu, when missing), torch
# (the CPU build where no NVIDIA driver is present) and the project. Safe to run again.
#   ./setup.sh          what the app needs
#   ./setup.sh --dev    plus what the tests need (Xvfb, Xorg's dummy driver for two monitors, xdotool, pytest)
set -euo pipefail
cd "$(dirname "$0")"
dev=0
[ "${1:-}" = "--dev" ] && dev=1

packages=(libegl1 libgl1 libglib2.0-0 libportaudio2 libasound2)
[ $dev = 1 ] && packages+=(xvfb xauth xdotool zenity x11-xserver-utils xserver-xorg-core xserver-xorg-video-dummy)
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "setup.sh: install these system packages first: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  echo "setup.sh: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
pip_install() {
  # keep the log readable: drop pip's warnings about unreachable local index entries
  .venv/bin/python -m pip install -q --disable-pip-version-check "$@" 2> >(grep -v "WARNING: Location .* is ignored" >&2)
}
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    pip_install torch
  elif [ "$(uname -s)" = Linux ]; then
    # PyPI's Linux torch carries CUDA (gigabytes); PyTorch's CPU index has the CPU build. Where that
    # index cannot be reached (offline mirrors), fall back to the ordinary package index.
    pip_install --index-url https://download.pytorch.org/whl/cpu --timeout 10 --retries 0 torch==2.13.0 2>/dev/null \
      || pip_install torch==2.13.0
  else
    pip_install torch            # macOS (MPS) and Windows: PyPI's wheel is the right one
  fi
fi
if [ $dev = 1 ]; then
  pip_install -e ".[dev]"
else
  pip_install -e .
fi
# CUDA-GL interop (tensors reach textures without a host round trip) needs CUDA's Python bindings
# of torch's CUDA major version; without them the app uses host copies and `hypnagogia info` says so.
# Asked after the project's install, so torch finds numpy when it loads.
cuda_major=$(.venv/bin/python -c "import torch; print((torch.version.cuda or '').split('.')[0])")
if [ -n "$cuda_major" ] && ! .venv/bin/python -c "import cuda.bindings" >/dev/null 2>&1; then
  pip_install "cuda-bindings==${cuda_major}.*" || echo "setup.sh: no cuda-bindings ${cuda_major}.x; the app will copy through host memory" >&2
fi
.venv/bin/python -c "import app.commands.main" || { echo "setup.sh: the install did not complete (see above)" >&2; exit 1; }
