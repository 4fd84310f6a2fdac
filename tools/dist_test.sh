#!/usr/bin/env bash
# Distributed testing with torchrun.
# Usage: tools/dist_test.sh CONFIG CHECKPOINT NPROC_PER_NODE [test.py args]
# CHECKPOINT may be a path or a URL. Env: NNODES (1), NODE_RANK (0),
# MASTER_ADDR (127.0.0.1), PORT (29500), TORCHRUN (torchrun).
set -euo pipefail
# OpenMP threads that spin while waiting stall every parallel op on small
# shared CPUs (a DiST training step: 37 s -> 6.4 s with PASSIVE, see
# docs/benchmarks.md); users can still override it.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

if [ "$#" -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT NPROC_PER_NODE [test.py args]" >&2
    exit 2
fi
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
TORCHRUN=${TORCHRUN:-torchrun}
TOOLS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

set -x
PYTHONPATH="${TOOLS_DIR}/..${PYTHONPATH:+:${PYTHONPATH}}" \
"${TORCHRUN}" \
    --nnodes="${NNODES}" \
    --node_rank="${NODE_RANK}" \
    --master_addr="${MASTER_ADDR}" \
    --master_port="${PORT}" \
    --nproc_per_node="${NPROC}" \
    "${TOOLS_DIR}/test.py" "${CONFIG}" "${CHECKPOINT}" --launcher pytorch \
    "${@:4}"
