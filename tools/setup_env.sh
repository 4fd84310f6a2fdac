#!/usr/bin/env bash
# Create ./.venv if missing and install the project with its test extras.
# Idempotent: pip runs only when the venv is new or setup.py changed (a
# stamp file in the venv holds the hash of setup.py).
# Usage: bash tools/setup_env.sh      Env: PYTHON (python3), VENV (.venv)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
STAMP="${VENV}/.dist_plugin_setup_hash"

if [ ! -x "${VENV}/bin/python" ]; then
    echo "[setup_env] creating ${VENV}"
    "${PYTHON}" -m venv "${VENV}"
fi

HASH="$(sha256sum < setup.py | cut -d' ' -f1)"
if [ -f "${STAMP}" ] && [ "$(cat "${STAMP}")" = "${HASH}" ] \
        && "${VENV}/bin/python" -c \
        'import importlib.metadata as m; m.version("dist_plugin")' \
        2>/dev/null; then
    echo "[setup_env] ${VENV} is up to date"
    exit 0
fi

echo "[setup_env] installing dist_plugin[tests] into ${VENV}"
"${VENV}/bin/python" -m pip install -e '.[tests]'
echo "${HASH}" > "${STAMP}"
