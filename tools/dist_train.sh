#!/usr/bin/env bash
# Distributed training with torchrun (upstream mmaction2 still uses the
# deprecated `python -m torch.distributed.launch`; upstream-compat item 5).
# Usage: tools/dist_train.sh CONFIG NPROC_PER_NODE [tools/train.py args]
# Env: NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500),
#      TORCHRUN (torchrun). Without CUDA the ranks use gloo on the CPU.
set -euo pipefail
# OpenMP threads that spin while waiting stall every parallel op on small
# shared CPUs (a DiST training step: 37 s -> 6.4 s with PASSIVE, see
# docs/benchmarks.md); users can still override it.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

if [ "$#" -lt 2 ]; then
    echo "usage: $0 CONFIG NPROC_PER_NODE [train.py args]" >&2
    exit 2
fi
CONFIG=$1
NPROC=$2
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
    "${TOOLS_DIR}/train.py" "${CONFIG}" --launcher pytorch "${@:3}"
