#!/usr/bin/env bash
# End-to-end demo on CPU: set up ./.venv, write the motion-only demo dataset,
# train the tiny DiST config, test the last checkpoint and print
# "demo top-1: <value>" as the last line.
#
# Usage: bash tools/demo.sh [extra tools/train.py options]
# Environment: DEMO_CONFIG (default configs/demo/dist_tiny_demo.py),
#              DEMO_WORK_DIR (default work_dirs/demo), DEMO_SEED (default 0),
#              VENV (default .venv, as in tools/setup_env.sh).
set -euo pipefail
# OpenMP threads that spin while waiting stall every parallel op on small
# shared CPUs (a DiST training step: 37 s -> 6.4 s with PASSIVE, see
# docs/benchmarks.md); users can still override it.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${REPO_ROOT}"

CONFIG="${DEMO_CONFIG:-configs/demo/dist_tiny_demo.py}"
WORK_DIR="${DEMO_WORK_DIR:-work_dirs/demo}"
SEED="${DEMO_SEED:-0}"
PYTHON="${VENV:-.venv}/bin/python"

bash tools/setup_env.sh

"${PYTHON}" tools/make_demo_data.py data/demo --seed "${SEED}"

"${PYTHON}" tools/train.py "${CONFIG}" --work-dir "${WORK_DIR}" "$@"

if [[ ! -f "${WORK_DIR}/last_checkpoint" ]]; then
    echo "no ${WORK_DIR}/last_checkpoint: training saved no checkpoint" >&2
    exit 1
fi
CHECKPOINT="$(cat "${WORK_DIR}/last_checkpoint")"

TEST_DIR="${WORK_DIR}/test"
rm -rf "${TEST_DIR}"
"${PYTHON}" tools/test.py "${CONFIG}" "${CHECKPOINT}" --work-dir "${TEST_DIR}"

# mmengine's LoggerHook writes the test metrics to
# <work-dir>/<timestamp>/<timestamp>.json
"${PYTHON}" - "${TEST_DIR}" <<'PYEOF'
import glob
import json
import os
import sys

test_dir = sys.argv[1]
found = []
for path in glob.glob(os.path.join(test_dir, '*', '*.json')):
    try:
        with open(path, encoding='utf-8') as f:
            metrics = json.load(f)
    except (OSError, ValueError):
        continue
    if isinstance(metrics, dict) and 'acc/top1' in metrics:
        found.append((os.path.getmtime(path), metrics['acc/top1']))
if not found:
    sys.exit(f'no acc/top1 in the test logs under {test_dir}')
print(f'demo top-1: {max(found)[1]:.4f}')
PYEOF
