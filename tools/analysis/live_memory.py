"""Peak of the memory in use during a step, ours and official DiST.

``../shared/tools/side_by_side.py`` reports the growth of the resident set
(VmHWM minus VmRSS at the start of the timed steps). That figure also moves
with what the C allocator kept mapped from the warm-up steps: memory freed at
the top of the heap is returned to the system and faulted in again, memory
pinned by a live block stays resident. This tool measures what the step
itself holds: after every aten op of one timed step, glibc's ``mallinfo2``
bytes in use (heap chunks in use plus mmapped chunks) are read and the peak
above the start is kept. It runs the side-by-side script's own worker (same
models, inputs, optimizer and warm-up), each implementation in its own
process, and needs the official mirror that script needs.

With ``--windows N`` it also gives, for each implementation over N runs,
the side-by-side memory figure (peak resident set of 3 steps above the
resident set before them) after 1, 2, ... warm-up steps instead of 2.

Example:
    python tools/analysis/live_memory.py --windows 2 \
        --json docs/benchmarks/live_memory_cpu.json
"""
import argparse
import ctypes
import json
import os
import os.path as osp
import subprocess
import sys
from typing import Any, Dict, List, Optional

SIDE_BY_SIDE = osp.join(
    osp.dirname(osp.abspath(__file__)), '..', '..', '..', 'shared', 'tools',
    'side_by_side.py')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Peak memory in use during a DiST training step')
    parser.add_argument('--side-by-side', default=SIDE_BY_SIDE,
                        help='path of the shared side_by_side.py')
    parser.add_argument('--impls', nargs='+', default=['official', 'ours'],
                        choices=['official', 'ours'])
    parser.add_argument('--modes', nargs='+', default=['train', 'infer'],
                        choices=['train', 'infer'])
    parser.add_argument('--mode', help=argparse.SUPPRESS)  # worker's mode
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument(
        '--windows', type=int, default=0,
        help='also run this many training runs per implementation that '
        'give the side-by-side memory figure after 1, 2, ... warm-up steps')
    parser.add_argument('--window-steps', type=int, default=8,
                        help='training steps after 2 warm-up steps in a '
                        '--windows run')
    parser.add_argument('--json', help='write the results here')
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        'arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks',
        'fsmblks', 'uordblks', 'fordblks', 'keepcost')]


def _in_use_reader():
    libc = ctypes.CDLL('libc.so.6')
    libc.mallinfo2.restype = _MallInfo2

    def in_use() -> int:
        info = libc.mallinfo2()
        return info.uordblks + info.hblkhd

    return in_use


def _import_side_by_side(path: str):
    """The shared ``side_by_side`` module at ``path``."""
    sys.path.insert(0, osp.dirname(osp.abspath(path)))
    import side_by_side
    return side_by_side


def run_worker(args: argparse.Namespace) -> Dict[str, Any]:
    """One timed step of ``side_by_side.worker`` with the in-use peak."""
    import builtins

    from torch.utils._python_dispatch import TorchDispatchMode
    in_use = _in_use_reader()

    class PeakInUse(TorchDispatchMode):

        def __init__(self) -> None:
            super().__init__()
            self.start = in_use()
            self.peak = self.start

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            self.peak = max(self.peak, in_use())
            return out

    side_by_side = _import_side_by_side(args.side_by_side)
    state: Dict[str, Any] = {}
    real_open = builtins.open

    def open_marking_the_timed_steps(path, *a, **k):
        # the worker resets VmHWM right before its timed steps
        if path == '/proc/self/clear_refs' and 'mode' not in state:
            state['mode'] = PeakInUse()
            state['mode'].__enter__()
        return real_open(path, *a, **k)

    builtins.open = open_marking_the_timed_steps
    try:
        side_by_side.worker(args.worker, args.mode, 1, args.batch)
    finally:
        builtins.open = real_open
    mode = state['mode']
    mode.__exit__(None, None, None)
    return dict(impl=args.worker, mode=args.mode, batch=args.batch,
                start_mib=mode.start / 2**20,
                peak_above_start_mib=(mode.peak - mode.start) / 2**20)


def _status_mib() -> Dict[str, float]:
    with open('/proc/self/status') as f:
        return {
            line.split(':')[0]: int(line.split()[1]) / 1024
            for line in f if line.startswith(('VmRSS', 'VmHWM'))
        }


def run_windows_worker(args: argparse.Namespace) -> Dict[str, Any]:
    """The side-by-side memory figure after 1, 2, ... warm-up steps.

    Runs ``side_by_side.worker`` for ``2 + steps`` training steps, recording
    after each optimizer step the resident set and its peak since the last
    step (VmHWM, then reset). The figure of the side-by-side script is the
    peak of 3 steps above the resident set after 2 warm-up steps; here it is
    given for every number of warm-up steps.
    """
    import torch
    side_by_side = _import_side_by_side(args.side_by_side)
    records = []
    step = torch.optim.AdamW.step

    def recording_step(self, *a, **k):
        out = step(self, *a, **k)
        status = _status_mib()
        records.append((status['VmRSS'], status['VmHWM']))
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return out

    torch.optim.AdamW.step = recording_step
    try:
        side_by_side.worker(args.worker, 'train', args.window_steps,
                            args.batch)
    finally:
        torch.optim.AdamW.step = step
    growth = {}
    for warmup in range(1, len(records) - 2):
        base = records[warmup - 1][0]
        growth[str(warmup)] = max(
            hwm for _, hwm in records[warmup:warmup + 3]) - base
    return dict(impl=args.worker, batch=args.batch,
                growth_after_warmup_mib=growth)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    if args.worker:
        run = run_windows_worker if args.mode == 'windows' else run_worker
        print('RESULT ' + json.dumps(run(args)))
        return
    if not osp.isfile(args.side_by_side):
        raise SystemExit(f'{args.side_by_side} not found: pass '
                         '--side-by-side PATH of the shared side_by_side.py')
    results, windows = [], []
    jobs = [(m, i) for m in args.modes for i in args.impls]
    jobs += [('windows', i) for _ in range(args.windows) for i in args.impls]
    for mode, impl in jobs:
        cmd = [sys.executable, osp.abspath(__file__), '--worker', impl,
               '--mode', mode, '--batch', str(args.batch),
               '--window-steps', str(args.window_steps),
               '--side-by-side', args.side_by_side]
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              check=False)
        lines = [line for line in proc.stdout.splitlines()
                 if line.startswith('RESULT ')]
        if proc.returncode or not lines:
            raise SystemExit(
                f'{impl} {mode} worker failed:\n{proc.stderr[-2000:]}')
        res = json.loads(lines[-1][len('RESULT '):])
        res['load'] = os.getloadavg()[0]
        (windows if mode == 'windows' else results).append(res)
        print(json.dumps(res))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(kind='live_memory', results=results,
                           rss_windows=windows), f, indent=1)


if __name__ == '__main__':
    main()
