#!/usr/bin/env bash
# Install synthreid with every extra into ./.venv (Python 3.11, which bpy 4.5 requires).
# Usage: bash scripts/install.sh        (idempotent; re-running upgrades the editable install)
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
    for py in python3.11 "$HOME/.pyenv/versions/3.11"*/bin/python3.11 /usr/local/bin/python3.11 python3; do
        if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
            echo "$py"; return 0
        fi
    done
    return 1
}

PY=$(find_python) || {
    echo "synthreid needs Python 3.11 (bpy 4.5 is built for it)." >&2
    echo "Debian 12: sudo apt-get install python3.11 python3.11-venv" >&2
    echo "Ubuntu 24.04: sudo add-apt-repository ppa:deadsnakes/ppa && sudo apt-get install python3.11 python3.11-venv" >&2
    exit 1
}

# bpy loads a few X11/GL client libraries even headless; install them when missing and root.
if ! ldconfig -p | grep -q libXrender.so.1 || ! ldconfig -p | grep -q libSM.so.6 || ! ldconfig -p | grep -q libXi.so.6 \
   || ! ldconfig -p | grep -q libxkbcommon.so.0 || ! ldconfig -p | grep -q libXxf86vm.so.1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            libx11-6 libxrender1 libxxf86vm1 libxfixes3 libxi6 libxkbcommon0 libsm6 libice6 libgl1 libegl1 libgomp1 >/dev/null
    else
        echo "warning: bpy may need: libx11-6 libxrender1 libxxf86vm1 libxfixes3 libxi6 libxkbcommon0 libsm6 libgl1 libegl1" >&2
    fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[all]"
.venv/bin/python -c "import bpy, torch, torchvision; print('synthreid installed: bpy', bpy.app.version_string, '| torch', torch.__version__, '| torchvision', torchvision.__version__)"
