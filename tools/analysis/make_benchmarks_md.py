"""Render docs/benchmarks.md from the JSON files in docs/benchmarks/.

The JSON files are written by ``tools/analysis/get_flops.py --json``,
``tools/analysis/benchmark_train.py --json`` and
``tools/analysis/profile_dist.py --json``; each benchmark file records the
machine it ran on. Results labelled ``--label before`` / ``--label after`` and
the JSON lines of the official side-by-side script (saved as
``side_by_side*.jsonl``) make the before/after section; where they are
missing it says which command produces them.

Example:
    python tools/analysis/make_benchmarks_md.py \
        --dir docs/benchmarks --out docs/benchmarks.md
"""
import argparse
import glob
import json
import os.path as osp
import sys
from typing import Any, Dict, List, Optional

# Published per-view GFLOPs (multiply-adds), by (config file, dense frames).
PUBLISHED_GFLOPS = {
    ('dist_vit-b16_clip-openai-pre_8xb32-u16-a2_36e_kinetics400-rgb.py', 16):
    (163., 'DiST ViT-B/16 8+16 frames: 163 GFLOPs per view'),
    ('dist_vit-l14_clip-openai-pre_8xb32-u64-a2_36e_kinetics400-rgb.py', 16):
    (710., 'DiST ViT-L/14 8+16 frames: 710 GFLOPs per view'),
    ('evl_vit-b16_clip-openai-pre_8xb32-8x16x1-50k_kinetics400-rgb.py', 8):
    (148., 'EVL ViT-B/16 8 frames: 444 GFLOPs for 3 views, 148 per view'),
}
VARIANT_LABELS = {
    'dist': 'DiST',
    'full_finetune': 'CLIP full fine-tune + linear',
    'frozen_linear': 'frozen CLIP + linear (all T frames)',
    'frozen_linear_sparse': 'frozen CLIP + linear (the T/alpha DiST frames)',
    'stan': 'STAN-self K=4 (CLIP fine-tuned)',
}
TARGET_LABELS = {
    'dist_vs_full_finetune_train_memory':
    'DiST / full fine-tune, step peak memory',
    'dist_vs_full_finetune_train_step_time':
    'DiST / full fine-tune, step time',
    'dist_vs_frozen_linear_train_step_time':
    'DiST / frozen CLIP + linear, step time',
    'dist_vs_frozen_linear_sparse_train_step_time':
    'DiST / frozen CLIP on the T/alpha frames + linear, step time',
    'dist_vs_frozen_linear_infer_clips_per_s':
    'DiST / frozen CLIP + linear, inference clips/s',
}


REPRODUCE = [
    '## Reproduce', '',
    '```bash',
    'python tools/analysis/get_flops.py \\',
    '    configs/dist/dist_vit-b16_clip-openai-pre_8xb32-u16-a2_36e_'
    'kinetics400-rgb.py \\',
    '    --json docs/benchmarks/flops_dist_vit-b16_u16-a2_k400.json',
    '# CPU (about 8 minutes on 2 cores)',
    'python tools/analysis/benchmark_train.py --arch ViT-B-16 --frames 16 '
    '--alpha 2 --batch 2 \\',
    '    --steps 3 --warmup 1 --threads 2 --omp-wait-policy PASSIVE \\',
    '    --infer-variants dist frozen_linear \\',
    '    --json docs/benchmarks/train_vit-b16_t16-a2_b2_cpu.json',
    '# GPU, mixed precision, the official per-GPU batch (not measured yet)',
    'python tools/analysis/benchmark_train.py --device cuda --amp --batch 32 '
    '--steps 10 --warmup 3 \\',
    '    --json docs/benchmarks/train_vit-b16_t16-a2_b32_cuda-amp.json',
    'python tools/analysis/make_benchmarks_md.py',
    '```', '',
    'On a shared or virtualised CPU, GNU OpenMP\'s default spin-waiting can '
    'stall every parallel op (on the 2-core VM of the committed CPU run, '
    'an AdamW step over DiST\'s 26 M trainable parameters took about 10 s '
    'with the default policy and 0.1 s with `OMP_WAIT_POLICY=PASSIVE`); '
    '`--omp-wait-policy '
    'PASSIVE` sets it for the measuring processes. CPU timings of one run '
    'are comparable with each other, not across machines.', ''
]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate docs/benchmarks.md from benchmark JSON files')
    parser.add_argument(
        '--dir', default='docs/benchmarks', help='folder of JSON files')
    parser.add_argument(
        '--out', default='docs/benchmarks.md', help='markdown file to write')
    return parser.parse_args(argv)


def load_results(folder: str) -> List[Dict[str, Any]]:
    """Every JSON result in ``folder`` (sorted by file name); a
    ``side_by_side*.jsonl`` file becomes one ``side_by_side`` result."""
    results = []
    for path in sorted(glob.glob(osp.join(folder, '*.json'))):
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
        if isinstance(data, dict) and data.get('kind') in (
                'flops', 'train_benchmark', 'profile', 'live_memory'):
            data['_file'] = osp.basename(path)
            results.append(data)
    for path in sorted(glob.glob(osp.join(folder, 'side_by_side*.jsonl'))):
        with open(path, encoding='utf-8') as f:
            rows = [json.loads(line) for line in f
                    if line.strip().startswith('{')]
        rows = [r for r in rows if 'impl' in r and 'mode' in r]
        if rows:
            results.append(dict(kind='side_by_side', rows=rows,
                                _file=osp.basename(path)))
    return results


def _millions(value: Optional[float]) -> str:
    return '-' if value is None else f'{value / 1e6:.2f} M'


def _num(value: Optional[float], spec: str) -> str:
    return '-' if value is None else format(value, spec)


def describe_machine(machine: Optional[Dict[str, Any]]) -> str:
    """One line naming CPU, cores, RAM, GPU and torch."""
    if not machine:
        return 'machine not recorded'
    parts = [f"CPU {machine.get('cpu', 'unknown')}",
             f"{machine.get('cores', '?')} usable cores"]
    if machine.get('ram_gib') is not None:
        parts.append(f"{machine['ram_gib']} GiB RAM")
    parts.append(f"GPU {machine['gpu']}" if machine.get('gpu') else 'no GPU')
    parts.append(f"torch {machine.get('torch', '?')}")
    if machine.get('python'):
        parts.append(f"Python {machine['python']}")
    return ', '.join(parts)


def render_flops(results: List[Dict[str, Any]]) -> List[str]:
    """The FLOPs / parameters section."""
    lines = [
        '## GFLOPs per view and parameters', '',
        'Counted by `tools/analysis/get_flops.py` with fvcore plus handles '
        'for `aten::scaled_dot_product_attention` and '
        '`aten::_native_multi_head_attention` '
        '(`dist_plugin/analysis/flop_handles.py`); one FLOP = one fused '
        'multiply-add; element-wise ops (add, mul, activations, softmax) are '
        'not counted, as in published figures. The CLIP text tower is '
        'excluded: the class embeddings are computed once and cached. '
        'Frozen parameters include the CLIP text tower of the classifier; '
        'the last column leaves it out, as published parameter counts do.',
        '',
        '| config | view (C, T, H, W) | GFLOPs / view | published | '
        'by module (GFLOPs) | frozen params | trainable params | '
        'params without text tower |',
        '| --- | --- | --- | --- | --- | --- | --- | --- |'
    ]
    notes = []
    for res in results:
        name = osp.basename(res['config'])
        published = PUBLISHED_GFLOPS.get(
            (name, res['input_shape_per_view'][1]))
        if published:
            notes.append(published[1])
            delta = 100 * (res['gflops_per_view'] / published[0] - 1)
            ref = f'{published[0]:g} ({delta:+.1f}%)'
        else:
            ref = '-'
        modules = ', '.join(f'{k} {v:.2f}'
                            for k, v in res['gflops_by_module'].items())
        params = res['params']
        options = res.get('cfg_options') or {}
        overrides = ' '.join(f'{k}={v}' for k, v in options.items())
        if overrides:
            name = f'{name}` with `{overrides}'
        lines.append(
            f"| `{name}` | {tuple(res['input_shape_per_view'])} | "
            f"{res['gflops_per_view']:.2f} | {ref} | {modules} | "
            f"{_millions(params['frozen'])} | "
            f"{_millions(params['trainable'])} | "
            f"{_millions(_without_text(params))} |")
    if notes:
        lines += [
            '', 'Published references (as quoted by later papers, K400, '
            'multiply-adds): ' + '; '.join(notes) + '.'
        ]
    lines.append('')
    return lines


def _without_text(params: Dict[str, Any]) -> int:
    """Parameters minus the frozen part of the classifier (the text tower
    of a CLIP text head), the figure papers quote."""
    head = (params.get('by_module') or {}).get('cls_head') or {}
    return params['total'] - head.get('frozen', 0)


def render_train(res: Dict[str, Any]) -> List[str]:
    """One training-benchmark section."""
    s = res['settings']
    amp = f"autocast {s.get('amp_dtype') or 'default dtype'}" if s.get(
        'amp') else 'fp32'
    title = (f"## Training step: {s['arch']}, {s['frames']} frames, "
             f"alpha {s['alpha']}, batch {s['batch']}, {s['device']}, {amp}")
    load = res.get('load_average_1min') or {}
    lines = [
        title, '',
        f"Machine: {describe_machine(res.get('machine'))}. "
        f"torch threads: {s.get('threads') or 'default'}, OMP_WAIT_POLICY: "
        f"{s.get('omp_wait_policy', 'unset')}. "
        f"1-min load average before / after: "
        f"{_num(load.get('before'), '.1f')} / {_num(load.get('after'), '.1f')}"
        f". Source: `{res.get('_file', '?')}`.", '',
        f"Step = forward + backward + {s.get('optimizer', 'AdamW')} step; "
        f"median of {s['steps']} timed steps after {s['warmup']} warm-up "
        f"step(s). Peak memory = peak of the steps above the memory held "
        f"after building the model, optimizer and batch (gradients, "
        f"optimizer states and activations; method: "
        f"{_first_method(res)}). Inference under `torch.inference_mode`. "
        'Random weights, random clips.', '',
        '| variant | frames through CLIP | trainable params | step time (s) '
        '| train clips/s | step peak memory (MiB) | inference clips/s |',
        '| --- | --- | --- | --- | --- | --- | --- |'
    ]
    for name, row in res['variants'].items():
        lines.append(
            f"| {VARIANT_LABELS.get(name, name)} | {row['clip_frames']} | "
            f"{_millions(row['params_trainable'])} | "
            f"{row['train_step_s']:.3f} | {row['train_clips_per_s']:.3f} | "
            f"{row['train_peak_mem_mib']:.0f} | "
            f"{_num(row.get('infer_clips_per_s'), '.3f')} |")
    lines += [
        '', '| target | measured ratio | target | met |',
        '| --- | --- | --- | --- |'
    ]
    for name, tgt in res.get('targets', {}).items():
        if tgt.get('ratio') is None:
            continue
        if tgt['kind'] == 'report':  # reported, no target
            lines.append(f"| {TARGET_LABELS.get(name, name)} | "
                         f"{tgt['ratio']:.3f} | - | - |")
            continue
        rel = '<=' if tgt['kind'] == 'max' else '>='
        lines.append(f"| {TARGET_LABELS.get(name, name)} | "
                     f"{tgt['ratio']:.3f} | {rel} {tgt['limit']} | "
                     f"{'yes' if tgt['met'] else 'no'} |")
    lines.append('')
    return lines


def _first_method(res: Dict[str, Any]) -> str:
    for row in res['variants'].values():
        if row.get('memory_method'):
            return row['memory_method']
    return 'unknown'


# What made the difference (issue 15); the figures come from the JSON files.
CHANGES = [
    '- **CLIP tower**: open_clip blocks run through '
    '`dist_plugin/models/layers/clip_block.py` with their own parameters: '
    'attention by `F.scaled_dot_product_attention` (on the CPU the '
    '`nn.MultiheadAttention` inference fast path materialises every '
    'attention matrix and re-lays out q/k/v), and outside autograd the '
    'residual additions and QuickGELU reuse their buffers in place (one '
    'hidden-width temporary less per block). Only the sparse frames are '
    'patch-embedded and no block output is copied (the official code embeds '
    'all dense frames and clones every block output).',
    '- **Temporal stream**: kept channels-last `[B, T, h, w, C]`; the '
    'LayerNorm reads contiguous channels and the `(k, 1, 1)` and '
    '`(1, 3, 3)` convolutions run as 2D convolutions on channels-last views '
    'of the same memory (no permute copies, no slow 3D-conv path); the '
    'integration-to-temporal upsampling is a broadcast add instead of a '
    'repeated copy.',
    '- **Integration branch**: the per-token temporal convolution runs on '
    'a channels-last view `[B, h, Ts, L]` of the token tensor instead of '
    'two permute copies around a `Conv1d`; the attention pooling calls SDPA '
    'with the `nn.MultiheadAttention` weights (state-dict keys unchanged).',
    '- **Memory**: QuickGELU keeps only its input for the backward pass '
    '(autograd on `x * sigmoid(1.702 x)` keeps two tensors), which removes '
    'one activation-sized tensor per activation of the trained branches.',
    '- **Frozen tower, by groups of frames (CPU)**: outside autograd each '
    'block runs on groups of frames whose MLP hidden tensor stays under '
    '8 MiB. A whole-batch hidden tensor (16 frames x 197 tokens x 3072 = '
    '38.7 MB for ViT-B/16 at batch 2) is above glibc\'s largest mmap '
    'threshold (32 MiB), so it and its activation temporaries were '
    'mapped afresh and page-faulted at every block: 317k minor faults '
    '(about 1.2 GB zeroed) per training step before, 3.3k after. The '
    'profile charged that time to `aten::sigmoid` and `aten::mul`.',
    '- **Frozen tower, oneDNN projections (CPU, float32)**: the four '
    'projections of each block call oneDNN (`mkldnn._linear_pointwise`, '
    'the kernel inductor emits) with the residual sum fused into the '
    'output projection and the second MLP layer; on this AVX-512 CPU it '
    'beats the default MKL GEMM (12 blocks of ViT-B/16 on 16 frames: 2.86 '
    's against 3.20 s, minimum of 4 interleaved runs, quiet machine). '
    'Weights are not repacked, so no second copy of the tower is held.',
    '- **Attention pooling with one query**: the frame and video queries '
    'are folded into the key and value projections (`(W_k^T q) . x`, the '
    'key bias cancels in the softmax; `W_v (sum_j a_j x_j) + b_v`), so the '
    'keys and values of the 197 tokens of every frame are never formed: '
    'per pooling layer 0.93 GMAC forward and twice that backward less, and '
    'no zero-filled key/value gradient buffers. The multi-query path still '
    'projects keys and values and calls SDPA; `cross_attention` picks by '
    'multiply-add count.',
    '- **Memory, recomputed prologues**: a LayerNorm or QuickGELU output '
    'that only feeds a linear layer or a convolution is no longer kept for '
    'the backward pass. `recomputed` '
    '(`dist_plugin/models/layers/recompute.py`, saved-tensor hooks) marks '
    'it, and the backward pass recomputes it from the input that the '
    'LayerNorm or QuickGELU keeps anyway, under the forward\'s autocast '
    'state: the same kernels on the same inputs, so the gradients are '
    'bitwise those of plain autograd (tested in float32 and bf16 '
    'autocast). This drops two `[B*Ts, 1+N, Di]` LayerNorm outputs per '
    'integration block, a LayerNorm and a QuickGELU output per temporal '
    'block and the normalized tokens of each pooling layer: the tensors '
    'saved for the backward pass of a ViT-B/16 step fall from 707 to 480 '
    'MiB, those alive after the forward pass from 607 to 423 MiB. Sums '
    'are taken in place on fresh outputs and QuickGELU makes one '
    'temporary instead of three.',
]


def _ratio_row(name: str, ours: Optional[float],
               official: Optional[float], unit: str, spec: str) -> str:
    ratio = ours / official if ours is not None and official else None
    return (f'| {name} | {_num(official, spec)} {unit} | '
            f'{_num(ours, spec)} {unit} | {_num(ratio, ".2f")}x |')


def render_side_by_side(res: Dict[str, Any]) -> List[str]:
    """Medians over rounds of the official side-by-side script."""
    import statistics
    rows = res['rows']

    def med(impl: str, mode: str, key: str) -> Optional[float]:
        vals = [r[key] for r in rows
                if r['impl'] == impl and r['mode'] == mode]
        return statistics.median(vals) if vals else None

    def spread(impl: str, mode: str, key: str) -> str:
        vals = [r[key] for r in rows
                if r['impl'] == impl and r['mode'] == mode]
        return ' / '.join(f'{v:.2f}' for v in vals) or '-'

    first = rows[0]
    rounds = max(sum(1 for r in rows if r['impl'] == i and r['mode'] == m)
                 for i in ('ours', 'official') for m in ('train', 'infer'))
    loads = [r.get('load') for r in rows if r.get('load') is not None]
    lines = [
        f"### Side by side with the official DiST ({first.get('device')}, "
        f"batch {first.get('batch')}, {'AMP' if first.get('amp') else 'fp32'}"
        f", {rounds} interleaved rounds)", '',
        f"Source: `{res['_file']}` (`side_by_side.py`, each measurement in "
        'its own process). 1-min load average seen by the measurements: '
        + (f'{min(loads):.1f} to {max(loads):.1f}.' if loads else '-.'), '',
        '| measure | official | ours | ours / official |',
        '| --- | --- | --- | --- |',
        _ratio_row('train step (median)', med('ours', 'train', 'median_s'),
                   med('official', 'train', 'median_s'), 's', '.2f'),
        _ratio_row('inference (median)', med('ours', 'infer', 'median_s'),
                   med('official', 'infer', 'median_s'), 's', '.2f'),
        _ratio_row('train step peak memory', med('ours', 'train',
                                                 'peak_mib'),
                   med('official', 'train', 'peak_mib'), 'MiB', '.0f'),
        '', 'Per round (s): train official '
        f"{spread('official', 'train', 'median_s')}, ours "
        f"{spread('ours', 'train', 'median_s')}; inference official "
        f"{spread('official', 'infer', 'median_s')}, ours "
        f"{spread('ours', 'infer', 'median_s')}. Train-step peak memory "
        f"per round (MiB): official {spread('official', 'train', 'peak_mib')}"
        f", ours {spread('ours', 'train', 'peak_mib')} (resident-set growth "
        'above the state after warm-up: it also moves with what the C '
        'allocator kept from the warm-up steps).', ''
    ]
    return lines


def render_live_memory(res: Dict[str, Any]) -> List[str]:
    """Peak of the bytes in use during a step (``live_memory.py``)."""
    by_key = {(r['impl'], r['mode']): r for r in res['results']}
    modes = [m for m in ('train', 'infer')
             if any(key[1] == m for key in by_key)]
    names = dict(train='train step', infer='inference pass')
    lines = [
        '### Memory in use during a step', '',
        f"Source: `{res['_file']}` (`tools/analysis/live_memory.py`: the "
        'side-by-side worker, one timed step, glibc `mallinfo2` bytes in use '
        'read after every aten op; peak above the start of the step).', '',
        '| measure | official | ours | ours / official |',
        '| --- | --- | --- | --- |'
    ]
    pairs = {
        mode: (by_key.get(('ours', mode)), by_key.get(('official', mode)))
        for mode in modes
    }
    for mode, (ours, official) in pairs.items():
        lines.append(
            _ratio_row(f'{names[mode]}, peak in use above the start',
                       ours and ours['peak_above_start_mib'],
                       official and official['peak_above_start_mib'], 'MiB',
                       '.0f'))
    if modes:  # what is held before the first mode's step
        ours, official = pairs[modes[0]]
        lines.append(
            _ratio_row('in use at the start of a train step (weights, '
                       'optimizer, gradients, inputs)' if modes[0] == 'train'
                       else 'in use at the start (weights, inputs)',
                       ours and ours['start_mib'],
                       official and official['start_mib'], 'MiB', '.0f'))
    lines += [
        '',
        'The resident-set growth of the side-by-side table counts only '
        'pages newly faulted in during the timed steps: heap memory that '
        'the allocator kept mapped from the warm-up steps is reused without '
        'counting, heap memory it returned to the system (free space at the '
        'top of the heap) counts again, and a heap that is still growing '
        'into its fragmented steady state counts the growth. It therefore '
        'measures the allocator\'s retention as much as the step.', ''
    ]
    return lines + _render_rss_windows(res.get('rss_windows') or [])


def _render_rss_windows(runs: List[Dict[str, Any]]) -> List[str]:
    """The side-by-side memory figure after 1, 2, ... warm-up steps."""
    if not runs:
        return []
    per_impl: Dict[str, List[Dict[str, float]]] = {}
    for run in runs:
        per_impl.setdefault(run['impl'], []).append(
            run['growth_after_warmup_mib'])
    warmups = sorted({int(w) for run in runs
                      for w in run['growth_after_warmup_mib']})
    impls = [i for i in ('official', 'ours') if i in per_impl]
    lines = [
        'The side-by-side memory figure (peak resident set of 3 training '
        'steps above the resident set before them, MiB) after 1, 2, ... '
        'warm-up steps instead of 2 (`live_memory.py --windows`; one value '
        'per run). The peak in use above is the allocator-independent '
        'measure, the CPU counterpart of the `max_memory_allocated` figure '
        'the side-by-side script takes on a GPU.', '',
        '| warm-up steps | ' + ' | '.join(impls) + ' |',
        '| --- |' + ' --- |' * len(impls)
    ]
    for warmup in warmups:
        cells = [
            ' / '.join(f'{round(growth[str(warmup)]):d}'
                       for growth in per_impl[impl]
                       if str(warmup) in growth) for impl in impls
        ]
        mark = ' (side-by-side)' if warmup == 2 else ''
        lines.append(f'| {warmup}{mark} | ' + ' | '.join(cells) + ' |')
    return lines + ['']


def _labelled(results: List[Dict[str, Any]], kind: str,
              label: str) -> Optional[Dict[str, Any]]:
    for res in results:
        if res['kind'] == kind and res.get('label') == label:
            return res
    return None


PENDING = ('_Not measured yet on a quiet machine. Produce it with the '
           'commands under "Reproduce the before/after" below._')


def render_profile_pair(before: Optional[Dict[str, Any]],
                        after: Optional[Dict[str, Any]],
                        top: int = 15) -> List[str]:
    """Op-level tables, before and after, per implementation and mode."""
    lines = []
    keys = []
    for res in (before, after):
        for key in (res or {}).get('profiles', {}):
            if key not in keys:
                keys.append(key)
    for key in keys:
        impl, mode = key.split('/')
        title = {'train': 'training step', 'infer': 'inference pass'}[mode]
        who = 'official DiST' if impl == 'official' else 'our DiST'
        lines += [f'#### Profile of the {title}, {who}', '']
        cols = [(name, res['profiles'].get(key)) for name, res in
                (('before', before), ('after', after))
                if res and res['profiles'].get(key)]
        lines.append('| ' + ' | '.join(
            f'{name}: op | self CPU s | share | calls' for name, _ in cols)
            + ' |')
        lines.append('|' + ' --- | --- | --- | --- |' * len(cols))
        tables = [prof['ops'][:top] for _, prof in cols]
        for i in range(max(len(t) for t in tables)):
            cells = []
            for table in tables:
                if i < len(table):
                    op = table[i]
                    cells.append(f"`{op['name']}` | {op['self_cpu_s']:.3f} "
                                 f"| {100 * op['share']:.1f}% "
                                 f"| {op['calls']}")
                else:
                    cells.append(' | | | ')
            lines.append('| ' + ' | '.join(cells) + ' |')
        lines.append('| ' + ' | '.join(
            f"total | {prof['total_self_cpu_s']:.3f} | 100% | "
            f"{prof['num_op_calls']}" for _, prof in cols) + ' |')
        lines.append('')
    return lines


def render_before_after(results: List[Dict[str, Any]]) -> List[str]:
    """The before/after section of the speed and memory work."""
    lines = [
        '## Before / after: faster and leaner than the official DiST', '',
        'What changed (same parameters and state-dict keys, same outputs: '
        'the parity tests hold at 1e-4 on every official fixture, in eval '
        'and in train mode):', ''
    ] + CHANGES + ['']
    after = _labelled(results, 'train_benchmark', 'after')
    if after and after.get('machine'):
        lines += [
            'Measured on: ' + describe_machine(after['machine']) +
            ' (the side-by-side, memory and profile runs on the same '
            'machine, one after the other, nothing else running).', ''
        ]
    sides = [r for r in results if r['kind'] == 'side_by_side']
    if sides:
        for res in sides:
            lines += render_side_by_side(res)
    else:
        lines += ['### Side by side with the official DiST', '', PENDING, '']
    for res in results:
        if res['kind'] == 'live_memory':
            lines += render_live_memory(res)
    before = _labelled(results, 'train_benchmark', 'before')
    lines += ['### DiST step, before and after', '']
    if before and after:
        b, a = before['variants']['dist'], after['variants']['dist']
        lines += [
            f"Sources: `{before['_file']}`, `{after['_file']}`; medians over "
            f"{after['settings'].get('rounds', 1)} interleaved round(s).", '',
            '| measure | before | after | after / before |',
            '| --- | --- | --- | --- |',
            _ratio_row('train step', a['train_step_s'], b['train_step_s'],
                       's', '.3f'),
            _ratio_row('train step peak memory', a['train_peak_mem_mib'],
                       b['train_peak_mem_mib'], 'MiB', '.0f'),
            _ratio_row('inference', a.get('infer_s'), b.get('infer_s'), 's',
                       '.3f'), ''
        ]
    else:
        lines += [PENDING, '']
    pbefore = _labelled(results, 'profile', 'before')
    pafter = _labelled(results, 'profile', 'after')
    lines += ['### Where the time goes', '']
    if pbefore or pafter:
        src = ', '.join(f"`{r['_file']}`" for r in (pbefore, pafter) if r)
        ref = pafter or pbefore
        lines += [
            f"`torch.profiler` self CPU time per op ({src}; "
            f"{ref['settings']['threads']} thread(s), minimum over "
            f"{ref['settings']['rounds']} round(s) per op).", ''
        ] + render_profile_pair(pbefore, pafter)
    else:
        lines += [PENDING, '']
    lines += [
        '### Reproduce the before/after', '', '```bash',
        '# quiet machine; 4633769 = the commit before this work',
        'git worktree add /tmp/dist_before 4633769',
        'export OMP_WAIT_POLICY=PASSIVE',
        'python ../shared/tools/side_by_side.py --rounds 5 '
        '| tee docs/benchmarks/side_by_side_cpu.jsonl',
        'python tools/analysis/benchmark_train.py --variants dist --rounds 3 '
        '--threads 2 \\',
        '    --omp-wait-policy PASSIVE --code /tmp/dist_before --label before '
        '\\', '    --json docs/benchmarks/dist_step_before.json',
        'python tools/analysis/benchmark_train.py --variants dist --rounds 3 '
        '--threads 2 \\',
        '    --omp-wait-policy PASSIVE --label after '
        '--json docs/benchmarks/dist_step_after.json',
        'python tools/analysis/profile_dist.py --rounds 3 --code '
        '/tmp/dist_before --label before \\',
        '    --official-ref ../shared/tools/official_ref.py '
        '--json docs/benchmarks/profile_dist_before.json',
        'python tools/analysis/profile_dist.py --rounds 3 --label after \\',
        '    --official-ref ../shared/tools/official_ref.py '
        '--json docs/benchmarks/profile_dist_after.json',
        'python tools/analysis/live_memory.py --windows 2 '
        '--json docs/benchmarks/live_memory_cpu.json',
        'python tools/analysis/make_benchmarks_md.py', '```', ''
    ]
    return lines


def render(results: List[Dict[str, Any]]) -> str:
    """The whole markdown document."""
    lines = [
        '# Benchmarks', '',
        '<!-- Generated by tools/analysis/make_benchmarks_md.py from '
        'docs/benchmarks/*.json; do not edit by hand. -->', ''
    ]
    flops = [r for r in results if r['kind'] == 'flops']
    trains = [r for r in results if r['kind'] == 'train_benchmark'
              and r.get('label') not in ('before', 'after')]
    if flops:
        lines += render_flops(flops)
    for res in trains:
        lines += render_train(res)
    if not flops and not trains:
        lines += ['No results yet.', '']
    lines += render_before_after(results)
    lines += REPRODUCE
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> str:
    args = parse_args(argv)
    text = render(load_results(args.dir))
    with open(args.out, 'w', encoding='utf-8') as f:
        f.write(text)
    print(f'wrote {args.out}')
    return text


if __name__ == '__main__':
    main(sys.argv[1:])
