#!/usr/bin/env bash
# Set up ./.venv (tools/setup_env.sh) and run the test suite.
# Usage: bash tools/run_tests.sh [pytest args]
set -euo pipefail
# OpenMP threads that spin while waiting stall every parallel op on small
# shared CPUs (a DiST training step: 37 s -> 6.4 s with PASSIVE, see
# docs/benchmarks.md); users can still override it.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
bash tools/setup_env.sh
exec "${VENV:-.venv}/bin/python" -m pytest tests -q "$@"
