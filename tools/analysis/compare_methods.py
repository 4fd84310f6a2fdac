"""Compare DiST, EVL, STAN, TDS-CLIP and two CLIP baselines on identical
work (same CLIP, same frames through CLIP, same input size and batch).

Measures, per method: trainable / total parameters, GFLOPs per view,
training-step time and peak memory, inference clips/s (each run in its own
process, methods interleaved over rounds, load recorded and competing runs
flagged), and test top-1 on the built-in motion demo after the same
training budget over several seeds. Writes a JSON; with ``--md`` also the
page (``tools/analysis/make_comparison_md.py``) and its plot.

Examples:
    python tools/analysis/compare_methods.py --json docs/comparison/cpu.json \
        --md docs/comparison.md --threads 2
    python tools/analysis/compare_methods.py --json /tmp/x.json --steps 1 \
        --rounds 1 --skip-accuracy
    # accuracy beside other work, timings later on a quiet machine
    python tools/analysis/compare_methods.py --json acc.json --skip-timing
    python tools/analysis/compare_methods.py --json cpu.json \
        --accuracy-from acc.json --md docs/comparison.md
    python tools/analysis/compare_methods.py --device cuda --amp --batch 32 \
        --frames 8 --json docs/comparison/gpu.json --skip-accuracy
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from dist_plugin.analysis.compare import (LABELS, METHODS,  # noqa: E402
                                          PUBLISHED, mean_std)
from dist_plugin.analysis.load_monitor import (LoadMonitor,  # noqa: E402
                                               wait_until_quiet)
from dist_plugin.analysis.rounds import (interleaved_orders,  # noqa: E402
                                         median_spread)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Compare DiST, EVL, STAN, TDS-CLIP and CLIP baselines')
    parser.add_argument('--json', required=True, help='output JSON file')
    parser.add_argument(
        '--md', help='also write this Markdown page (and its PNG plot)')
    parser.add_argument(
        '--methods', nargs='+', default=list(METHODS), choices=METHODS)
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--amp', action='store_true', help='autocast')
    parser.add_argument(
        '--amp-dtype', choices=['float16', 'bfloat16'],
        help='default: float16 on cuda, bfloat16 on cpu')
    parser.add_argument('--batch', type=int, default=2, help='clips per step')
    parser.add_argument(
        '--frames', type=int, default=8, help='frames through CLIP per view')
    parser.add_argument('--alpha', type=int, default=2,
                        help='DiST dense frames per CLIP frame')
    parser.add_argument('--window', type=int, default=5,
                        help='TDS-CLIP frames per segment')
    parser.add_argument(
        '--arch', default='ViT-B-16',
        help='open_clip model name or path to an open_clip model-config JSON')
    parser.add_argument('--steps', type=int, default=3,
                        help='timed steps per run')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed steps per run')
    parser.add_argument('--rounds', type=int, default=3,
                        help='interleaved rounds (one run per method each)')
    parser.add_argument('--threads', type=int,
                        help='torch threads of each worker (default: cores)')
    parser.add_argument(
        '--max-others', type=float, default=1.0,
        help='median other runnable threads during a run that flag it')
    parser.add_argument(
        '--max-load-before', type=float, default=1.0,
        help='1-minute load average before a run that flags it')
    parser.add_argument(
        '--wait-quiet', type=float, default=0.0,
        help='seconds to wait before each run for the load to drop below '
        '--max-load-before (0: do not wait)')
    parser.add_argument('--skip-timing', action='store_true')
    parser.add_argument('--skip-accuracy', action='store_true')
    parser.add_argument(
        '--accuracy-from',
        help='take the demo accuracy from this earlier compare_methods.py '
        'JSON instead of training again (accuracy does not depend on the '
        "machine's load, so it can run while timings cannot)")
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2],
                        help='seeds of the accuracy runs')
    parser.add_argument('--epochs', type=int, default=50,
                        help='demo training epochs (the demo budget: 50)')
    parser.add_argument(
        '--data-root', default=osp.join(REPO, 'data', 'demo'),
        help='demo dataset root (generated when missing)')
    parser.add_argument('--num-train', type=int, default=320,
                        help='demo training videos when generating')
    parser.add_argument('--num-val', type=int, default=80,
                        help='demo test videos when generating')
    parser.add_argument(
        '--inline', action='store_true',
        help='run every measurement in this process (fast start, for tests;'
        ' peak memory is then not isolated between methods)')
    parser.add_argument('--worker', choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument('--worker-kind', choices=['timing', 'accuracy'],
                        help=argparse.SUPPRESS)
    parser.add_argument('--worker-count', action='store_true',
                        help=argparse.SUPPRESS)
    parser.add_argument('--worker-seed', type=int, help=argparse.SUPPRESS)
    parser.add_argument('--worker-out', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ('batch', 'frames', 'alpha', 'window', 'steps', 'rounds',
                 'epochs'):
        if getattr(args, name) < 1:
            parser.error(f'--{name} must be >= 1')
    if args.accuracy_from and args.skip_accuracy:
        parser.error('--accuracy-from and --skip-accuracy contradict each '
                     'other: give one of them')
    return args


def _threads(args: argparse.Namespace) -> int:
    if args.threads:
        return args.threads
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def run_worker(args: argparse.Namespace) -> Dict[str, Any]:
    """Measure one method (timing run or one accuracy seed) here."""
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker_kind == 'accuracy':
        from dist_plugin.analysis.compare import demo_accuracy
        with tempfile.TemporaryDirectory() as work_dir:
            return demo_accuracy(args.worker, args.data_root, work_dir,
                                 args.epochs, args.worker_seed, REPO)
    from dist_plugin.analysis.benchmark import load_arch
    from dist_plugin.analysis.compare import measure_method
    return measure_method(
        args.worker, load_arch(args.arch), args.frames, args.batch,
        args.steps, args.warmup, args.device, args.amp, args.amp_dtype,
        args.alpha, args.window, infer=True, count=args.worker_count,
        repo_root=REPO)


def _spawn(argv: List[str], extra: List[str]) -> Dict[str, Any]:
    """Run one worker: in a fresh process, or here with ``--inline``."""
    if '--inline' in argv:
        return json.loads(json.dumps(run_worker(parse_args(
            argv + extra + ['--worker-out', '-']))))
    with tempfile.TemporaryDirectory() as tmp:
        out = osp.join(tmp, 'out.json')
        cmd = [sys.executable, osp.abspath(__file__)] + argv + extra + [
            '--worker-out', out
        ]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0 or not osp.isfile(out):
            raise RuntimeError(f'worker {extra} failed (exit '
                               f'{proc.returncode}):\n{proc.stdout[-6000:]}')
        with open(out, encoding='utf-8') as f:
            return json.load(f)


def run_timing(args: argparse.Namespace, argv: List[str]) -> Dict[str, Any]:
    """Every method once per round, in rotated order, each in a process."""
    runs: Dict[str, List[Dict[str, Any]]] = {m: [] for m in args.methods}
    order = interleaved_orders(args.methods, args.rounds)
    for rnd, methods in enumerate(order):
        for method in methods:
            quiet = None
            if args.wait_quiet > 0:
                quiet = wait_until_quiet(args.max_load_before,
                                         args.wait_quiet)
            monitor = LoadMonitor(
                min(_threads(args), os.cpu_count() or 1),
                max_others=args.max_others,
                max_load_before=args.max_load_before)
            monitor.start()
            extra = ['--worker', method, '--worker-kind', 'timing']
            if rnd == 0:
                extra.append('--worker-count')
            try:
                row = _spawn(argv, extra)
            finally:
                load = monitor.stop()
            row.update(round=rnd, load=load, wait=quiet,
                       flagged=load['competing'])
            runs[method].append(row)
    summary = {}
    for method, rows in runs.items():
        first = rows[0]
        summary[method] = dict(
            label=LABELS[method],
            input_shape=first['input_shape'],
            clip_frames=first['clip_frames'],
            params_total=first.get('params_total'),
            params_trainable=first.get('params_trainable'),
            gflops_per_view=first.get('gflops'),
            train_step_s=median_spread([r['train_step_s'] for r in rows]),
            train_peak_mem_mib=median_spread(
                [r['train_peak_mem_mib'] for r in rows]),
            infer_clips_per_s=median_spread([r['infer_clips_per_s'] for r in rows]),
            flagged_runs=sum(r['flagged'] for r in rows),
            runs=len(rows),
            flagged=any(r['flagged'] for r in rows))
    return dict(order=order, runs=runs, summary=summary,
                any_flagged=any(s['flagged'] for s in summary.values()))


def run_accuracy(args: argparse.Namespace, argv: List[str]) -> Dict[str, Any]:
    """Every method trained on the demo for each seed, in its own process."""
    from dist_plugin.demo.make_dataset import generate_demo_dataset
    generate_demo_dataset(args.data_root, num_train=args.num_train,
                          num_val=args.num_val)
    out = {}
    for method in args.methods:
        rows = [
            _spawn(argv, ['--worker', method, '--worker-kind', 'accuracy',
                          '--worker-seed', str(seed)])
            for seed in args.seeds
        ]
        out[method] = dict(
            label=LABELS[method],
            top1=mean_std([r['top1'] for r in rows]),
            clip_frames=rows[0]['clip_frames'],
            params_trainable=rows[0]['params_trainable'],
            train_s=mean_std([r['train_s'] for r in rows]),
            runs=rows)
    return dict(epochs=args.epochs, seeds=list(args.seeds),
                data=dict(root=osp.relpath(args.data_root, REPO)
                          if args.data_root.startswith(REPO)
                          else args.data_root,
                          num_train=args.num_train, num_val=args.num_val),
                methods=out)


def accuracy_from(path: str, methods: List[str]) -> Dict[str, Any]:
    """The accuracy section of an earlier run, checked to cover ``methods``."""
    with open(path, encoding='utf-8') as f:
        data = json.load(f)
    acc = data.get('accuracy') if data.get('kind') == 'method_comparison' \
        else None
    if not acc:
        raise ValueError(f'{path}: no accuracy section of a '
                         'compare_methods.py run (run it without '
                         '--skip-accuracy first)')
    missing = [m for m in methods if m not in acc['methods']]
    if missing:
        raise ValueError(f'{path}: no accuracy for {missing}; rerun the '
                         'accuracy with these --methods')
    return dict(acc, source=dict(path=osp.basename(path),
                                 started_utc=data.get('started_utc')))


def plot_points(res: Dict[str, Any]) -> List[Dict[str, Any]]:
    """One point per method with both a step time and an accuracy."""
    timing = (res.get('timing') or {}).get('summary', {})
    acc = (res.get('accuracy') or {}).get('methods', {})
    points = []
    for method in res['settings']['methods']:
        step = timing.get(method, {}).get('train_step_s', {}).get('median')
        top1 = acc.get(method, {}).get('top1', {})
        if step is None or top1.get('mean') is None:
            continue
        points.append(dict(method=method, label=LABELS[method], x=step,
                           y=top1['mean'], y_err=top1['std'],
                           flagged=timing[method]['flagged']))
    return points


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.worker:
        result = run_worker(args)
        with open(args.worker_out, 'w', encoding='utf-8') as f:
            json.dump(result, f)
        return result

    from dist_plugin.analysis.machine import machine_info
    start = time.time()
    res: Dict[str, Any] = dict(
        kind='method_comparison',
        settings=dict(
            methods=list(args.methods),
            arch=args.arch if not osp.isfile(args.arch) else osp.basename(
                args.arch),
            frames_through_clip=args.frames, alpha=args.alpha,
            window=args.window, batch=args.batch, steps=args.steps,
            warmup=args.warmup, rounds=args.rounds, device=args.device,
            amp=args.amp, amp_dtype=args.amp_dtype, threads=_threads(args),
            max_others=args.max_others,
            isolated_processes=not args.inline,
            max_load_before=args.max_load_before,
            optimizer='AdamW (trainable parameters only)'),
        machine=machine_info(),
        started_utc=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
        published=PUBLISHED,
        timing=None, accuracy=None)
    if not args.skip_timing:
        res['timing'] = run_timing(args, argv)
    if args.accuracy_from:
        res['accuracy'] = accuracy_from(args.accuracy_from, args.methods)
    elif not args.skip_accuracy:
        res['accuracy'] = run_accuracy(args, argv)
    res['plot'] = dict(x='train_step_s median', y='demo test top-1 mean',
                       points=plot_points(res))
    res['wall_s'] = time.time() - start
    os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
    with open(args.json, 'w', encoding='utf-8') as f:
        json.dump(res, f, indent=2)
        f.write('\n')
    if args.md:
        sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
        from make_comparison_md import write_page
        write_page([args.json], args.md)
    print(json.dumps({m: s['train_step_s']['median'] for m, s in (
        res['timing'] or {}).get('summary', {}).items()}))
    return res


if __name__ == '__main__':
    main()
