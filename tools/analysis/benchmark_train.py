"""Benchmark DiST's training step against fully fine-tuned and frozen CLIP.

On the same random clip, for (a) DiST, (b) CLIP fully fine-tuned with a
linear head on frame-averaged features (all T frames through CLIP) and
(c) frozen CLIP + linear head on the same T frames and (d) on the T/alpha
frames DiST gives CLIP (the honest floor of DiST's cost; both reported): median time of a
training step (forward, backward, AdamW step), clips/s, peak memory of the
step and trainable parameters; plus inference clips/s. Random weights, no
downloads. Each variant runs in its own process so that CPU peak memory
(resident set) is not shared between them. With ``--rounds N`` every variant
is measured N times, the order of the variants rotating from round to
round; each row reports medians over the rounds with their spread. The load
(load average and runnable threads, see
``dist_plugin.analysis.load_monitor``) is recorded before, during and after
every measurement, and measurements during which other processes competed
for the CPU are flagged (``competing``; counted in ``contended_rounds``).

Examples:
    python tools/analysis/benchmark_train.py --steps 3 --warmup 1 \
        --threads 2 --json docs/benchmarks/train_vit-b16_cpu.json
    python tools/analysis/benchmark_train.py --device cuda --amp --batch 32
    python tools/analysis/benchmark_train.py --arch tiny_clip.json --frames 4
    python tools/analysis/benchmark_train.py --variants dist --rounds 3 \
        --threads 2 --label after --json docs/benchmarks/dist_after.json
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

VARIANTS = ('dist', 'full_finetune', 'frozen_linear', 'frozen_linear_sparse',
            'stan')
LABELS = {
    'dist': 'DiST',
    'full_finetune': 'CLIP full fine-tune + linear',
    'frozen_linear': 'frozen CLIP + linear',
    'frozen_linear_sparse': 'frozen CLIP (T/a frames) + linear',
    'stan': 'STAN-self K=4 (CLIP fine-tuned)',
}
#: Run when --variants is not given (STAN is opt-in: --variants ... stan).
DEFAULT_VARIANTS = ('dist', 'full_finetune', 'frozen_linear',
                    'frozen_linear_sparse')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Training-step benchmark: DiST vs CLIP baselines')
    parser.add_argument(
        '--arch',
        default='ViT-B-16',
        help='open_clip model name or path to an open_clip model-config JSON')
    parser.add_argument(
        '--frames', type=int, default=16, help='dense frames T')
    parser.add_argument(
        '--alpha', type=int, default=2, help='DiST dense/sparse ratio')
    parser.add_argument('--batch', type=int, default=2, help='clips per step')
    parser.add_argument('--steps', type=int, default=3, help='timed steps')
    parser.add_argument(
        '--warmup', type=int, default=1, help='untimed steps before')
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument(
        '--amp', action='store_true', help='autocast (mixed precision)')
    parser.add_argument(
        '--amp-dtype',
        choices=['float16', 'bfloat16'],
        help='autocast dtype (default: float16 on cuda, bfloat16 on cpu)')
    parser.add_argument('--num-classes', type=int, default=400)
    parser.add_argument(
        '--size', type=int, help='input size (default: the CLIP input size)')
    parser.add_argument(
        '--dist-width', type=int, default=384, help='DiST integration width')
    parser.add_argument(
        '--dist-temporal-width',
        type=int,
        default=96,
        help='DiST temporal-stream width')
    parser.add_argument(
        '--dist-pooling-layers',
        type=int,
        default=4,
        help='DiST attention-pooling layers')
    parser.add_argument(
        '--threads', type=int, help='torch.set_num_threads (default: torch)')
    parser.add_argument(
        '--variants',
        nargs='+',
        default=list(DEFAULT_VARIANTS),
        choices=list(VARIANTS),
        help='variants to run')
    parser.add_argument(
        '--infer-variants',
        nargs='*',
        choices=list(VARIANTS),
        help='variants whose inference is timed (default: all run variants)')
    parser.add_argument(
        '--no-infer', action='store_true', help='skip inference timing')
    parser.add_argument(
        '--omp-wait-policy',
        default='inherit',
        choices=['inherit', 'PASSIVE', 'ACTIVE'],
        help='OMP_WAIT_POLICY of the worker processes (PASSIVE avoids the '
        'spin-wait stalls of GNU OpenMP on shared or virtualised CPUs); '
        '"inherit" keeps the environment')
    parser.add_argument(
        '--inline',
        action='store_true',
        help='run every variant in this process (faster start; CPU peak '
        'memory is then less isolated)')
    parser.add_argument(
        '--rounds',
        type=int,
        default=1,
        help='measure every variant this many times, rotating the order '
        'of the variants from round to round (medians are reported)')
    parser.add_argument(
        '--label',
        help='a name for this run (e.g. "before", "after"), kept in the JSON '
        'for docs/benchmarks.md')
    parser.add_argument(
        '--code',
        help='checkout whose dist_plugin the worker processes import '
        '(default: this one); measures another version of the models with '
        'this version of the tool')
    parser.add_argument('--json', help='write the results to this JSON file')
    parser.add_argument(
        '--worker', choices=list(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument('--worker-out', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _settings(args: argparse.Namespace) -> Dict[str, Any]:
    return dict(
        arch=args.arch if not osp.isfile(args.arch) else osp.basename(
            args.arch),
        frames=args.frames,
        alpha=args.alpha,
        batch=args.batch,
        steps=args.steps,
        warmup=args.warmup,
        device=args.device,
        amp=args.amp,
        amp_dtype=args.amp_dtype,
        num_classes=args.num_classes,
        size=args.size,
        threads=args.threads,
        omp_wait_policy=_omp_policy(args),
        dist=_dist_cfg(args),
        rounds=args.rounds,
        code=args.code,
        optimizer='AdamW (trainable parameters only)')


def _omp_policy(args: argparse.Namespace) -> str:
    if args.omp_wait_policy != 'inherit' and not args.inline:
        return args.omp_wait_policy
    return os.environ.get('OMP_WAIT_POLICY', 'unset')


def _infer(variant: str, args: argparse.Namespace) -> bool:
    if args.no_infer:
        return False
    return args.infer_variants is None or variant in args.infer_variants


def _dist_cfg(args: argparse.Namespace) -> Dict[str, int]:
    return dict(
        width=args.dist_width,
        temporal_width=args.dist_temporal_width,
        num_pooling_layers=args.dist_pooling_layers)


def run_one(variant: str, args: argparse.Namespace) -> Dict[str, Any]:
    """Measure one variant in this process."""
    import torch

    from dist_plugin.analysis.benchmark import load_arch, run_variant
    if args.threads:
        torch.set_num_threads(args.threads)
    return run_variant(
        variant,
        load_arch(args.arch),
        num_frames=args.frames,
        alpha=args.alpha,
        batch=args.batch,
        steps=args.steps,
        warmup=args.warmup,
        device=args.device,
        amp=args.amp,
        amp_dtype=args.amp_dtype,
        num_classes=args.num_classes,
        image_size=args.size,
        infer=_infer(variant, args),
        dist_cfg=_dist_cfg(args))


def run_subprocess(variant: str,
                   argv: List[str],
                   omp_wait_policy: str = 'inherit',
                   code: Optional[str] = None) -> Dict[str, Any]:
    """Measure one variant in a fresh Python process (importing the
    dist_plugin of ``code`` when given)."""
    env = dict(os.environ)
    if omp_wait_policy != 'inherit':
        env['OMP_WAIT_POLICY'] = omp_wait_policy
    if code:
        env['PYTHONPATH'] = os.pathsep.join(
            [osp.abspath(code)] + [p for p in env.get('PYTHONPATH', '').split(
                os.pathsep) if p])
    with tempfile.TemporaryDirectory() as tmp:
        out = osp.join(tmp, f'{variant}.json')
        cmd = [sys.executable, osp.abspath(__file__)] + argv + [
            '--worker', variant, '--worker-out', out
        ]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=env)
        if proc.returncode != 0 or not osp.isfile(out):
            raise RuntimeError(f'variant {variant} failed '
                               f'(exit {proc.returncode}):\n{proc.stdout}')
        with open(out, encoding='utf-8') as f:
            return json.load(f)


_ROUND_FIELDS = ('train_step_s', 'train_peak_mem_mib', 'infer_s',
                 'infer_peak_mem_mib')


def combine_rounds(rows: List[Dict[str, Any]], batch: int) -> Dict[str, Any]:
    """One variant's row from its per-round rows: medians over the rounds
    (with min / max / spread), every timed step, and each round's figures
    and load."""
    from dist_plugin.analysis.rounds import median_spread
    out = dict(rows[0])
    out.pop('load', None)
    for key in _ROUND_FIELDS:
        values = [r[key] for r in rows if r.get(key) is not None]
        if not values:
            continue
        stats = median_spread(values)
        out[key] = stats['median']
        out[f'{key}_rounds'] = stats
    out['train_clips_per_s'] = batch / out['train_step_s']
    if out.get('infer_s'):
        out['infer_clips_per_s'] = batch / out['infer_s']
    for key in ('train_step_s_all', 'infer_s_all'):
        if rows[0].get(key) is not None:
            out[key] = [t for r in rows for t in r[key]]
    out['rounds'] = [
        dict({k: r.get(k) for k in _ROUND_FIELDS}, load=r['load'])
        for r in rows
    ]
    out['contended_rounds'] = sum(r['load']['competing'] for r in rows)
    return out


def _fmt(value: Optional[float], spec: str) -> str:
    return '-' if value is None else format(value, spec)


def format_table(res: Dict[str, Any]) -> str:
    """The results as a text table plus the target checks."""
    head = (f"{'variant':<30} {'CLIP frames':>11} {'trainable':>10} "
            f"{'step s':>8} {'train clip/s':>12} {'step peak MiB':>13} "
            f"{'infer clip/s':>12}")
    lines = [head, '-' * len(head)]
    for name, row in res['variants'].items():
        lines.append(
            f"{LABELS[name]:<30} {row['clip_frames']:>11d} "
            f"{row['params_trainable'] / 1e6:>9.2f}M "
            f"{row['train_step_s']:>8.3f} {row['train_clips_per_s']:>12.3f} "
            f"{row['train_peak_mem_mib']:>13.0f} "
            f"{_fmt(row['infer_clips_per_s'], '>12.3f'):>12}")
    lines.append('')
    if res.get('contended_measurements'):
        lines.append(f"WARNING: {res['contended_measurements']} "
                     'measurement(s) ran while other processes competed for '
                     'the CPU (see "load" in the JSON); their timings are '
                     'not reference figures.')
    for name, tgt in res['targets'].items():
        if tgt['ratio'] is None:
            continue
        if tgt['kind'] == 'report':  # a second floor, no target
            lines.append(f"{name}: {tgt['ratio']:.3f}")
            continue
        rel = '<=' if tgt['kind'] == 'max' else '>='
        lines.append(f"{name}: {tgt['ratio']:.3f} (target {rel} "
                     f"{tgt['limit']}) {'met' if tgt['met'] else 'MISSED'}")
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.worker:
        result = run_one(args.worker, args)
        with open(args.worker_out, 'w', encoding='utf-8') as f:
            json.dump(result, f)
        return result

    from dist_plugin.analysis.benchmark import check_targets
    from dist_plugin.analysis.machine import machine_info
    from dist_plugin.analysis.load_monitor import LoadMonitor
    from dist_plugin.analysis.machine import usable_cores
    from dist_plugin.analysis.rounds import interleaved_orders
    if args.rounds < 1:
        raise SystemExit('--rounds must be >= 1')
    load_before = os.getloadavg()
    start = time.time()
    per_round: Dict[str, List[Dict[str, Any]]] = {v: [] for v in args.variants}
    cores = usable_cores()
    for order in interleaved_orders(args.variants, args.rounds):
        for variant in order:
            monitor = LoadMonitor(min(args.threads or cores, cores))
            monitor.start()
            try:
                if args.inline:
                    row = run_one(variant, args)
                else:
                    row = run_subprocess(variant, argv, args.omp_wait_policy,
                                         args.code)
            finally:
                load = monitor.stop()
            row['load'] = load
            per_round[variant].append(row)
    variants = {v: combine_rounds(rows, args.batch)
                for v, rows in per_round.items()}
    res = dict(
        kind='train_benchmark',
        label=args.label,
        settings=_settings(args),
        machine=machine_info(),
        load_average_1min=dict(before=load_before[0],
                               after=os.getloadavg()[0]),
        contended_measurements=sum(
            r['load']['competing'] for rows in per_round.values()
            for r in rows),
        wall_s=time.time() - start,
        isolated_processes=not args.inline,
        variants=variants,
        targets=check_targets(variants))
    print(format_table(res))
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(res, f, indent=2)
            f.write('\n')
    return res


if __name__ == '__main__':
    main()
