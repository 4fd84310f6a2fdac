"""Op-level CPU profile of a DiST training step and inference pass.

Builds DiST at the side-by-side settings (ViT-B/16, 16 dense frames, alpha 2,
batch 2, 400 classes, random weights: the model of
``configs/dist_vitb_k400.py``), runs one warm-up and one profiled step per
mode under ``torch.profiler`` (each mode in its own process, modes and
implementations interleaved over ``--rounds``), and writes the self CPU time
of every op (the rounds' minimum, which filters out time lost to other
processes), its share of the step and its call count, together with the
load average around each profile.

``--official-ref PATH`` also profiles the official DiST model, built by the
``build()`` of that helper file (it reads the official code from a fetched
mirror at run time; nothing of it is part of this repository).
``--code CHECKOUT`` profiles the dist_plugin of another checkout (e.g. the
commit before a change) with this version of the tool.

Examples:
    python tools/analysis/profile_dist.py --threads 1 --rounds 3 \\
        --label after --json docs/benchmarks/profile_dist_after.json
    python tools/analysis/profile_dist.py --code /tmp/dist_before \\
        --label before --json docs/benchmarks/profile_dist_before.json
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

MODES = ('train', 'infer')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Op-level profile of DiST (train step, inference)')
    parser.add_argument('--arch', default='ViT-B-16',
                        help='open_clip name or model-config JSON')
    parser.add_argument('--frames', type=int, default=16)
    parser.add_argument('--alpha', type=int, default=2)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--num-classes', type=int, default=400)
    parser.add_argument('--size', type=int, help='input size')
    parser.add_argument('--dist-width', type=int, default=384)
    parser.add_argument('--dist-temporal-width', type=int, default=96)
    parser.add_argument('--dist-pooling-layers', type=int, default=4)
    parser.add_argument('--modes', nargs='+', default=list(MODES),
                        choices=list(MODES))
    parser.add_argument('--rounds', type=int, default=1)
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (1: least disturbed by load)')
    parser.add_argument('--top', type=int, default=25,
                        help='ops kept per profile (the rest is summed)')
    parser.add_argument('--official-ref',
                        help='path of a helper module whose build(frames, '
                        'alpha) returns the official DiST model')
    parser.add_argument('--code', help='checkout whose dist_plugin is '
                        'profiled (default: this one)')
    parser.add_argument('--label', help='e.g. "before" or "after"')
    parser.add_argument('--json', help='write the results here')
    parser.add_argument('--worker', nargs=2, help=argparse.SUPPRESS)
    parser.add_argument('--worker-out', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _build_ours(args: argparse.Namespace):
    """DiST, its inputs and the two step closures."""
    import torch

    from dist_plugin.analysis.benchmark import (_infer_fn, _loss_fn,
                                                build_variant, load_arch)
    from dist_plugin.analysis.complexity import cache_text_features
    from dist_plugin.models.clip_builder import get_clip_config
    arch = load_arch(args.arch)
    size = args.size or get_clip_config(arch)['vision_cfg']['image_size']
    size = size if isinstance(size, int) else size[0]
    model = build_variant(
        'dist', arch, args.frames, args.alpha, args.num_classes,
        dict(width=args.dist_width, temporal_width=args.dist_temporal_width,
             num_pooling_layers=args.dist_pooling_layers))
    cache_text_features(model)
    inputs = torch.randn(args.batch, 1, 3, args.frames, size, size)
    labels = torch.randint(args.num_classes, (args.batch, ))
    return model, _loss_fn(model, inputs, labels), _infer_fn(model, inputs)


def _build_official(args: argparse.Namespace):
    import importlib.util

    import torch
    import torch.nn.functional as F
    spec = importlib.util.spec_from_file_location('official_ref',
                                                  args.official_ref)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    model = ref.build(frames=args.frames, alpha=args.alpha)
    frames = torch.randn(args.batch * args.frames, 3, 224, 224)
    labels = torch.randint(args.num_classes, (args.batch, ))
    text = torch.randint(1, 49406, (args.num_classes, 77))
    text[:, 10] = 49407
    for name, param in model.named_parameters():
        param.requires_grad_(name.startswith('dist_net.'))
    with torch.no_grad():
        model.train()
        model(frames[:args.frames], text)  # caches the text features
    return (model,
            lambda: F.cross_entropy(
                model(frames, text)['logits_per_image'], labels),
            lambda: model(frames, text)['logits_per_image'])


def _op_table(prof, top: int) -> Dict[str, Any]:
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    ops = [dict(name=e.key, self_cpu_s=e.self_cpu_time_total / 1e6,
                calls=e.count) for e in events[:top]]
    rest = events[top:]
    if rest:
        ops.append(dict(name='(other ops)',
                        self_cpu_s=sum(e.self_cpu_time_total
                                       for e in rest) / 1e6,
                        calls=sum(e.count for e in rest)))
    return dict(total_self_cpu_s=total / 1e6, ops=ops,
                num_op_calls=sum(e.count for e in events))


def run_worker(impl: str, mode: str,
               args: argparse.Namespace) -> Dict[str, Any]:
    """Warm up, then profile one step of ``mode`` in this process."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    if impl == 'official':
        model, loss_fn, infer_fn = _build_official(args)
    else:
        model, loss_fn, infer_fn = _build_ours(args)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)

    def train_step() -> None:
        model.train()
        loss = loss_fn()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def infer_step() -> None:
        model.eval()
        with torch.inference_mode():
            infer_fn()

    step = train_step if mode == 'train' else infer_step
    step()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    step()
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    return dict(impl=impl, mode=mode, step_cpu_s=cpu_s, step_wall_s=wall_s,
                **_op_table(prof, args.top))


def _subprocess(impl: str, mode: str, argv: List[str],
                code: Optional[str]) -> Dict[str, Any]:
    env = dict(os.environ)
    if code and impl == 'ours':
        env['PYTHONPATH'] = os.pathsep.join(
            [osp.abspath(code)] + [p for p in env.get('PYTHONPATH', '').split(
                os.pathsep) if p])
    with tempfile.TemporaryDirectory() as tmp:
        out = osp.join(tmp, 'profile.json')
        cmd = [sys.executable, osp.abspath(__file__)] + argv + [
            '--worker', impl, mode, '--worker-out', out]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=env)
        if proc.returncode != 0 or not osp.isfile(out):
            raise RuntimeError(f'{impl} {mode} failed (exit '
                               f'{proc.returncode}):\n{proc.stdout[-3000:]}')
        with open(out, encoding='utf-8') as f:
            return json.load(f)


def merge_rounds(rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Per op, the minimum self CPU time over the rounds (the least
    disturbed), its share of the summed minima, and the calls."""
    best: Dict[str, Dict[str, Any]] = {}
    for row in rows:
        for op in row['ops']:
            cur = best.get(op['name'])
            if cur is None or op['self_cpu_s'] < cur['self_cpu_s']:
                best[op['name']] = dict(op)
    other = best.pop('(other ops)', None)
    ops = sorted(best.values(), key=lambda o: o['self_cpu_s'], reverse=True)
    ops += [other] if other else []  # the remainder stays last
    total = sum(o['self_cpu_s'] for o in ops)
    for op in ops:
        op['share'] = op['self_cpu_s'] / total if total else 0.
    return dict(
        ops=ops, total_self_cpu_s=total,
        step_cpu_s=min(r['step_cpu_s'] for r in rows),
        step_wall_s=min(r['step_wall_s'] for r in rows),
        num_op_calls=min(r['num_op_calls'] for r in rows),
        rounds=[dict(step_cpu_s=r['step_cpu_s'], step_wall_s=r['step_wall_s'],
                     total_self_cpu_s=r['total_self_cpu_s'], load=r['load'])
                for r in rows],
        contended_rounds=sum(r['load']['competing'] for r in rows))


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.worker:
        result = run_worker(args.worker[0], args.worker[1], args)
        with open(args.worker_out, 'w', encoding='utf-8') as f:
            json.dump(result, f)
        return result
    from dist_plugin.analysis.machine import machine_info
    from dist_plugin.analysis.load_monitor import LoadMonitor
    from dist_plugin.analysis.machine import usable_cores
    from dist_plugin.analysis.rounds import interleaved_orders
    impls = ['ours'] + (['official'] if args.official_ref else [])
    jobs = [(impl, mode) for mode in args.modes for impl in impls]
    rows: Dict[str, List[Dict[str, Any]]] = {}
    for order in interleaved_orders(range(len(jobs)), args.rounds):
        for index in order:
            impl, mode = jobs[index]
            monitor = LoadMonitor(min(args.threads, usable_cores()))
            monitor.start()
            try:
                row = _subprocess(impl, mode, argv, args.code)
            finally:
                load = monitor.stop()
            row['load'] = load
            rows.setdefault(f'{impl}/{mode}', []).append(row)
    res = dict(
        kind='profile',
        label=args.label,
        settings=dict(arch=args.arch, frames=args.frames, alpha=args.alpha,
                      batch=args.batch, num_classes=args.num_classes,
                      threads=args.threads, rounds=args.rounds,
                      code=args.code,
                      official=bool(args.official_ref)),
        machine=machine_info(),
        profiles={key: merge_rounds(r) for key, r in rows.items()})
    for key, prof in res['profiles'].items():
        print(f"{key}: step {prof['step_cpu_s']:.2f} s CPU "
              f"({prof['step_wall_s']:.2f} s wall), "
              f"{prof['num_op_calls']} op calls"
              + (f", {prof['contended_rounds']} contended round(s)"
                 if prof['contended_rounds'] else ''))
        for op in prof['ops'][:8]:
            print(f"    {op['name']:<50} {op['self_cpu_s']:8.3f} s "
                  f"{100 * op['share']:5.1f}% {op['calls']:6d}")
    if args.json:
        os.makedirs(osp.dirname(osp.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(res, f, indent=2)
            f.write('\n')
    return res


if __name__ == '__main__':
    main()
