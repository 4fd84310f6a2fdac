"""Write docs/comparison.md and its plot from compare_methods.py JSON files.

The page is generated, never edited by hand: measured figures per machine,
published figures with their sources, demo accuracy over seeds, and a PNG of
accuracy against training-step time (one labelled point per method).

Examples:
    python tools/analysis/make_comparison_md.py docs/comparison/cpu.json \
        --out docs/comparison.md
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Any, Dict, List, Optional

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from dist_plugin.analysis.compare import (LABELS, METHODS,  # noqa: E402
                                          PUBLISHED)

RERUN = [
    '```bash',
    '# 1. demo accuracy (training on the motion demo; load does not change '
    'it, so',
    '#    it may run beside other work; ~1 h on 2 cores)',
    'python tools/analysis/compare_methods.py --threads 2 --skip-timing \\',
    '    --json docs/comparison/cpu_accuracy.json',
    '# 2. CPU timings on a quiet machine (nothing else running), with the '
    'accuracy of 1',
    'python tools/analysis/compare_methods.py --threads 2 --rounds 3 '
    '--steps 3 \\',
    '    --accuracy-from docs/comparison/cpu_accuracy.json \\',
    '    --json docs/comparison/cpu.json --md docs/comparison.md',
    '# GPU (ViT-B/16, 8 frames through CLIP, batch 32, AMP); timing only',
    'python tools/analysis/compare_methods.py --device cuda --amp --batch 32 '
    '--frames 8 \\',
    '    --skip-accuracy --json docs/comparison/gpu.json',
    '# the page from both files',
    'python tools/analysis/make_comparison_md.py docs/comparison/cpu.json '
    'docs/comparison/gpu.json \\',
    '    --out docs/comparison.md',
    '```',
]


def _num(value: Optional[float], spec: str) -> str:
    return '-' if value is None else format(value, spec)


def _millions(value: Optional[int]) -> str:
    return '-' if value is None else f'{value / 1e6:.2f} M'


def _spread(stat: Dict[str, Any], spec: str) -> str:
    if not stat or stat.get('median') is None:
        return '-'
    text = format(stat['median'], spec)
    if stat['n'] > 1:
        text += f" ({format(stat['min'], spec)}–{format(stat['max'], spec)})"
    return text


def _machine(res: Dict[str, Any]) -> str:
    m = res['machine']
    gpu = m.get('gpu') or 'no GPU'
    return (f"{m['cpu']}, {m['cores']} cores, {m.get('ram_gib')} GiB RAM, "
            f"{gpu}; torch {m['torch']}, Python {m['python']}")


def _settings(res: Dict[str, Any]) -> str:
    s = res['settings']
    amp = f"AMP {s.get('amp_dtype') or 'default dtype'}" if s['amp'] \
        else 'fp32'
    return (f"CLIP `{s['arch']}`, {s['frames_through_clip']} frames through "
            f"CLIP per view, batch {s['batch']}, {s['device']}, {amp}, "
            f"{s['threads']} threads, {s['rounds']} interleaved round(s) of "
            f"{s['steps']} timed step(s) after {s['warmup']} warm-up; "
            f"{s['optimizer']}")


def timing_lines(res: Dict[str, Any]) -> List[str]:
    """Measured-figures table of one JSON."""
    timing = res.get('timing')
    lines = [f"Machine: {_machine(res)}.", '', f'Settings: {_settings(res)}.',
             '']
    if not timing:
        return lines + ['Timing: not measured in this run.', '']
    lines += [
        '| method | CLIP frames | input T×H×W | total params | trainable | '
        'GFLOPs / view | step s, median (min–max) | step peak MiB | '
        'inference clips/s | flagged runs |',
        '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | '
        '---: |',
    ]
    for method in res['settings']['methods']:
        row = timing['summary'][method]
        _, t, h, w = row['input_shape']
        flag = f"{row['flagged_runs']} / {row['runs']}"
        if row['flagged']:
            flag = f'**{flag} FLAGGED**'
        lines.append(
            f"| {LABELS[method]} | {row['clip_frames']} | {t}×{h}×{w} | "
            f"{_millions(row['params_total'])} | "
            f"{_millions(row['params_trainable'])} | "
            f"{_num(row['gflops_per_view'], '.4g')} | "
            f"{_spread(row['train_step_s'], '.3f')} | "
            f"{_spread(row['train_peak_mem_mib'], '.0f')} | "
            f"{_spread(row['infer_clips_per_s'], '.2f')} | {flag} |")
    lines.append('')
    if timing.get('any_flagged'):
        lines += [
            '**Warning: runs marked FLAGGED had other processes competing '
            'for the cores (load recorded before, during and after each run '
            'in the JSON); their timings are not a reference.**', ''
        ]
    return lines


def published_lines(results: List[Dict[str, Any]]) -> List[str]:
    """Published figures next to the measured GFLOPs of ViT-B/16 runs."""
    published = results[0]['published'] if results else PUBLISHED
    measured: Dict[str, float] = {}
    for res in results:
        s = res['settings']
        if s['arch'] == 'ViT-B-16' and s['frames_through_clip'] == 8 and \
                res.get('timing'):
            for m, row in res['timing']['summary'].items():
                measured.setdefault(m, row['gflops_per_view'])
    lines = [
        '| method | published GFLOPs / view | measured here (B/16, 8 CLIP '
        'frames) | published params total / trainable | K400 top-1 | note |'
        ' source |',
        '| --- | ---: | ---: | --- | ---: | --- | --- |',
    ]
    for method in METHODS:
        pub = published.get(method)
        if pub is None:
            continue
        params = ' / '.join(
            '-' if v is None else f'{v:.1f} M'
            for v in (pub['params_total_m'], pub['params_trainable_m']))
        lines.append(
            f"| {LABELS[method]} | {_num(pub['gflops_per_view'], '.1f')} | "
            f"{_num(measured.get(method), '.1f')} | {params} | "
            f"{_num(pub['top1_k400'], '.1f')} | {pub['note']} | "
            f"{pub['source']} |")
    return lines + ['']


def accuracy_lines(res: Dict[str, Any]) -> List[str]:
    """Demo accuracy table (mean ± standard deviation over seeds)."""
    acc = res.get('accuracy')
    if not acc:
        return ['Accuracy: not measured in this run.', '']
    data = acc['data']
    lines = [
        f"{acc['epochs']} epochs on the motion demo ({data['num_train']} "
        f"training / {data['num_val']} test videos, 4 classes, chance 0.25), "
        f"seeds {', '.join(map(str, acc['seeds']))}; the tiny CLIP of the "
        'demo configs (2 blocks, random weights); top-1 of the test split, 3 '
        'clips per video.' + (
            f" Trained by an earlier run ({acc['source']['path']}, started "
            f"{acc['source']['started_utc']}) and merged with "
            '`--accuracy-from`.' if acc.get('source') else ''), '',
        '| method | CLIP frames | trainable params | top-1 mean ± std '
        '(min–max) | train s / seed |',
        '| --- | ---: | ---: | --- | ---: |',
    ]
    for method in res['settings']['methods']:
        row = acc['methods'].get(method)
        if row is None:
            continue
        top1 = row['top1']
        lines.append(
            f"| {LABELS[method]} | {row['clip_frames']} | "
            f"{row['params_trainable'] / 1e3:.1f} k | "
            f"{top1['mean']:.3f} ± {top1['std']:.3f} "
            f"({top1['min']:.3f}–{top1['max']:.3f}) | "
            f"{row['train_s']['mean']:.0f} |")
    return lines + ['']


def _labels_below(points: List[Dict[str, Any]]) -> List[bool]:
    """Which labels go below their point: of two neighbours (in step time)
    at about the same accuracy, the second one, so labels do not overlap."""
    below = [False] * len(points)
    order = sorted(range(len(points)), key=lambda i: points[i]['x'])
    for prev, cur in zip(order, order[1:]):
        a, b = points[prev], points[cur]
        close = (b['x'] < 1.25 * a['x'] and abs(b['y'] - a['y']) < 0.05)
        below[cur] = close and not below[prev]
    return below


def draw_plot(res: Dict[str, Any], png: str) -> int:
    """Accuracy against step time, one labelled point per method.

    Returns:
        int: Points drawn (0 draws a page saying that nothing was measured).
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    points = res['plot']['points']
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    below = _labels_below(points)
    for p, down in zip(points, below):
        ax.errorbar(p['x'], p['y'], yerr=p['y_err'], fmt='o', capsize=4,
                    mfc='none' if p['flagged'] else None)
        ax.annotate(p['label'] + (' (flagged)' if p['flagged'] else ''),
                    (p['x'], p['y']), textcoords='offset points',
                    xytext=(6, -14 if down else 6), fontsize=9)
    if not points:
        ax.text(0.5, 0.5, 'accuracy or timing not measured',
                ha='center', va='center', transform=ax.transAxes)
    s = res['settings']
    ax.set_xlabel(f"training step time, s (median; {s['arch']}, "
                  f"{s['frames_through_clip']} CLIP frames, batch "
                  f"{s['batch']}, {s['device']})")
    ax.set_ylabel('motion-demo top-1 (mean ± std over seeds)')
    ax.axhline(0.25, color='grey', lw=0.8, ls='--')
    if points:  # log time axis labelled 2, 5, 10, 20 s, not powers of ten
        ax.set_xscale('log')
        ax.xaxis.set_major_locator(LogLocator(subs=(1., 2., 3., 5.)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f'{v:g}'))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
    return len(points)


def render(results: List[Dict[str, Any]], json_rel: List[str],
           png_rel: Optional[str]) -> str:
    """The page text."""
    lines = [
        '# DiST, EVL, STAN and TDS-CLIP on identical work',
        '',
        '<!-- Generated by tools/analysis/make_comparison_md.py from '
        f"{', '.join(json_rel) or 'no measurement yet'}; do not edit by "
        'hand. -->',
        '',
        'Every method is built from its own ViT-B/16 Kinetics-400 config '
        '(random weights, `pretrained=None`) with the same CLIP, the same '
        'input size and batch, and the same number F of frames through '
        'CLIP per view:',
        '',
        '- DiST: T = F·α dense frames (α = 2); CLIP sees frames 0, α, 2α, … '
        '(F of them), the temporal stream all T;',
        '- EVL, STAN: F frames, every one through CLIP;',
        '- TDS-CLIP: F segments of w = 5 frames (F·w dense frames); CLIP '
        'sees the centre frame of each segment (F), the side network the '
        'frame differences of each window;',
        '- frozen CLIP + linear, CLIP fine-tuned + linear: F frames, '
        'frame-averaged embedding, linear classifier '
        '(`tools/analysis/benchmark_train.py`).',
        '',
        'A training step is forward, backward and an AdamW step over the '
        'trainable parameters; its peak memory is measured above the state '
        'after building the model, optimizer and batch (CPU: resident set '
        'high-water mark). Each run is its own process; methods rotate '
        'order every round (A B C D, B C D A, …); the load is sampled '
        'before, during and after every run, and a run is flagged when '
        'other processes competed for the cores.',
        '',
    ]
    by_device: Dict[str, Dict[str, Any]] = {}
    for res in results:
        by_device.setdefault(res['settings']['device'], res)
    for device, title in (('cpu', 'CPU'), ('cuda', 'GPU')):
        lines += [f'## Measured: {title}', '']
        res = by_device.get(device)
        if res is None:
            lines += [f'{title}: not measured (no {title} run in the inputs '
                      'of this page; see Rerun).', '']
            continue
        lines += timing_lines(res)
    lines += ['## Published figures (ViT-B/16, 8 frames through CLIP, '
              'Kinetics-400)', '']
    lines += published_lines(results)
    lines += [
        'Measured totals of DiST and STAN include the CLIP text tower of '
        'their text classifier (about 38 M for B/16), which the published '
        'totals leave out; GFLOPs count the text tower once per class list, '
        'not per view, so it is excluded there.', ''
    ]
    acc_res = next((r for r in results if r.get('accuracy')), None)
    lines += ['## Accuracy on the motion demo', '']
    lines += accuracy_lines(acc_res) if acc_res else [
        'Accuracy: not measured.', ''
    ]
    if png_rel:
        lines += [
            '## Accuracy against training cost', '',
            f'![accuracy against training-step time]({png_rel})', '',
            'x: median training-step time at the matched settings above; y: '
            'demo top-1 (error bar: standard deviation over seeds); hollow '
            'markers are flagged timings.', ''
        ]
    lines += ['## Rerun', ''] + RERUN + ['']
    return '\n'.join(lines)


def write_page(json_paths: List[str], out: str) -> Dict[str, Any]:
    """Read the JSONs, write ``out`` and the PNG beside it.

    Returns:
        dict: ``md`` and ``png`` paths and ``points`` drawn.
    """
    results: List[Dict[str, Any]] = []
    for path in json_paths:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
        if data.get('kind') != 'method_comparison':
            raise ValueError(f'{path}: not a compare_methods.py result '
                             "(kind != 'method_comparison')")
        results.append(data)
    out_dir = osp.dirname(osp.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    png = osp.splitext(osp.abspath(out))[0] + '.png'
    points = 0
    if results:
        plot_res = next((r for r in results if r['plot']['points']),
                        results[0])
        points = draw_plot(plot_res, png)
    else:
        png = None
    rel = [osp.relpath(osp.abspath(p), out_dir) for p in json_paths]
    text = render(results, rel, png and osp.relpath(png, out_dir))
    with open(out, 'w', encoding='utf-8') as f:
        f.write(text)
    return dict(md=out, png=png, points=points)


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        'jsons', nargs='*',
        help='compare_methods.py JSONs (none: a page with the published '
        'figures only, saying that nothing was measured yet)')
    parser.add_argument('--out', default='docs/comparison.md')
    args = parser.parse_args(argv)
    return write_page(args.jsons, args.out)


if __name__ == '__main__':
    main()
