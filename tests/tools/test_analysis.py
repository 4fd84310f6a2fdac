"""FLOP handles, get_flops, the training benchmark and the benchmarks page."""
import importlib.util
import json
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmaction.registry import MODELS
from torch import nn

from dist_plugin.analysis import (count_parameters, flop_counter,
                                  strip_pretrained)
from helpers.tiny_models import TINY_CLIP, tiny_dist_model

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_tool(name):
    path = osp.join(REPO, 'tools', 'analysis', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'h5_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _SDPA(nn.Module):

    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v)


def test_sdpa_handle_counts_b_lq_lk_dq_plus_dv():
    q = torch.randn(2, 3, 5, 8)  # b = 2 * 3 heads, Lq = 5, dq = 8
    k = torch.randn(2, 3, 7, 8)  # Lk = 7
    v = torch.randn(2, 3, 7, 4)  # dv = 4
    analysis = flop_counter(_SDPA(), (q, k, v))
    assert analysis.total() == 2 * 3 * 5 * 7 * (8 + 4)
    assert dict(analysis.by_operator()) == {
        'scaled_dot_product_attention': 2520
    }


class _SelfAttention(nn.Module):

    def __init__(self, dim, heads):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x, need_weights=False)[0]


@pytest.mark.parametrize('grad', [False, True])
def test_multihead_attention_counted_on_both_paths(grad):
    """Eval without autograd runs the fused fast path
    (aten::_native_multi_head_attention); with autograd, linear + SDPA.
    Both must count projections and attention."""
    batch, length, dim = 2, 5, 16
    module = _SelfAttention(dim, heads=2).eval()
    x = torch.randn(batch, length, dim)
    with torch.set_grad_enabled(grad):
        analysis = flop_counter(module, (x, ))
        total = analysis.total()
        ops = set(analysis.by_operator())
    projections = 4 * batch * length * dim * dim
    attention = batch * length * length * 2 * dim
    assert total == projections + attention
    if not grad:
        assert '_native_multi_head_attention' in ops
    else:
        assert 'scaled_dot_product_attention' in ops


def _write_config(tmp_path, model_cfg, name='tiny_cfg.py'):
    path = tmp_path / name
    path.write_text(
        "custom_imports = dict(imports=['dist_plugin'], "
        'allow_failed_imports=False)\n'
        "default_scope = 'mmaction'\n"
        f'model = {model_cfg!r}\n',
        encoding='utf-8')
    return str(path)


@pytest.mark.parametrize('head', ['CLIPTextHead', 'DiSTLinearHead'])
def test_get_flops_tiny_dist(tmp_path, head):
    get_flops = _load_tool('get_flops')
    num_classes = 5
    model_cfg = tiny_dist_model(num_classes=num_classes, clip_len=8, alpha=2)
    if head == 'DiSTLinearHead':
        model_cfg['cls_head'] = dict(
            type='DiSTLinearHead', num_classes=num_classes,
            in_channels=TINY_CLIP['embed_dim'])
    config = _write_config(tmp_path, model_cfg)
    out = tmp_path / 'flops.json'
    res = get_flops.main([config, '--json', str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(res))

    model = MODELS.build(strip_pretrained(model_cfg))
    frozen = sum(p.numel() for p in model.parameters()
                 if not p.requires_grad)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert res['params']['frozen'] == frozen
    assert res['params']['trainable'] == trainable
    assert res['params']['total'] == frozen + trainable
    # clip_len 8 from neck.num_frames * alpha; 32x32 from the CLIP config.
    assert res['input_shape_per_view'] == [3, 8, 32, 32]
    by_module = res['flops_by_module']
    assert res['gflops_per_view'] > 0
    assert res['flops_per_view'] == sum(by_module.values())
    # The head is one [1, E] x [E, K] product: a linear classifier, or the
    # cosine against cached text embeddings (text tower excluded).
    assert by_module['cls_head'] == TINY_CLIP['embed_dim'] * num_classes
    assert res['text_tower_excluded'] is (head == 'CLIPTextHead')


def test_get_flops_backbone_matches_hand_count(tmp_path):
    """Frozen CLIP on 4 sparse frames of a 2-block, 2x2-patch ViT."""
    get_flops = _load_tool('get_flops')
    config = _write_config(tmp_path, tiny_dist_model(clip_len=8, alpha=2))
    res = get_flops.get_flops(config)
    frames, tokens, width = 4, 5, 64  # Ts, 1 + 2x2 patches, D
    patch_embed = 4 * width * 3 * 16 * 16
    layer_norm = 5 * tokens * width  # fvcore: 5 per element with affine
    block = (2 * layer_norm + 4 * tokens * width * width +
             2 * tokens * tokens * width + 2 * tokens * width * 4 * width)
    # The frame embedding (ln_post, proj) feeds nothing in this neck; the
    # traced graph drops it.
    frame = patch_embed + layer_norm + 2 * block
    assert res['flops_by_module']['backbone'] == frames * frame


def test_benchmark_train_tiny(tmp_path):
    bench = _load_tool('benchmark_train')
    arch = tmp_path / 'tiny_clip.json'
    arch.write_text(json.dumps(TINY_CLIP), encoding='utf-8')
    out = tmp_path / 'bench.json'
    num_classes = 3
    res = bench.main([
        '--arch', str(arch), '--frames', '4', '--alpha', '2', '--batch', '1',
        '--steps', '1', '--warmup', '0', '--num-classes', str(num_classes),
        '--dist-width', '64', '--dist-temporal-width', '16',
        '--dist-pooling-layers', '1', '--inline', '--json', str(out)
    ])
    saved = json.loads(out.read_text())
    assert saved['variants'].keys() == {
        'dist', 'full_finetune', 'frozen_linear', 'frozen_linear_sparse'
    }
    assert saved['settings']['frames'] == 4
    assert saved['machine']['cores'] >= 1
    fields = ('params_trainable', 'params_frozen', 'train_step_s',
              'train_clips_per_s', 'train_peak_mem_mib', 'infer_s',
              'infer_clips_per_s', 'infer_peak_mem_mib', 'clip_frames')
    for row in saved['variants'].values():
        for key in fields:
            assert row[key] is not None and row[key] >= 0, key
        assert len(row['train_step_s_all']) == 1
        assert row['train_clips_per_s'] == pytest.approx(
            1 / row['train_step_s'])
    rows = saved['variants']
    assert rows['dist']['clip_frames'] == 2
    assert rows['frozen_linear']['clip_frames'] == 4
    # the honest floor of DiST: frozen CLIP on the T/alpha frames DiST uses
    assert rows['frozen_linear_sparse']['clip_frames'] == 2
    assert rows['frozen_linear_sparse']['params_trainable'] == \
        rows['frozen_linear']['params_trainable']
    embed = TINY_CLIP['embed_dim']
    linear = embed * num_classes + num_classes
    assert rows['frozen_linear']['params_trainable'] == linear
    visual = rows['frozen_linear']['params_frozen']
    assert rows['full_finetune']['params_trainable'] == visual + linear
    assert rows['full_finetune']['params_frozen'] == 0

    from dist_plugin.analysis.benchmark import dist_model_cfg
    dist = MODELS.build(
        dist_model_cfg(TINY_CLIP, 4, 2, num_classes, width=64,
                       temporal_width=16, num_pooling_layers=1))
    assert saved['settings']['dist'] == dict(
        width=64, temporal_width=16, num_pooling_layers=1)
    assert rows['dist']['params_trainable'] == count_parameters(
        dist)['trainable']
    targets = saved['targets']
    assert set(targets) == {
        'dist_vs_full_finetune_train_memory',
        'dist_vs_full_finetune_train_step_time',
        'dist_vs_frozen_linear_train_step_time',
        'dist_vs_frozen_linear_sparse_train_step_time',
        'dist_vs_frozen_linear_infer_clips_per_s'
    }
    floor = targets['dist_vs_frozen_linear_sparse_train_step_time']
    assert floor['ratio'] == pytest.approx(
        rows['dist']['train_step_s'] /
        rows['frozen_linear_sparse']['train_step_s'])
    assert floor['met'] is None
    step = targets['dist_vs_full_finetune_train_step_time']
    assert step['ratio'] == pytest.approx(
        rows['dist']['train_step_s'] / rows['full_finetune']['train_step_s'])
    assert step['met'] is (step['ratio'] <= 0.45)
    assert res['variants']['dist']['params_trainable'] == \
        rows['dist']['params_trainable']


def _fake_results():
    row = dict(
        clip_frames=8, params_trainable=26_070_000, params_frozen=1,
        train_step_s=2.5, train_clips_per_s=0.8, train_peak_mem_mib=1234.4,
        infer_clips_per_s=1.25, memory_method='VmHWM (reset) - VmRSS at start')
    train = dict(
        kind='train_benchmark',
        settings=dict(arch='ViT-B-16', frames=16, alpha=2, batch=2, steps=3,
                      warmup=1, device='cpu', amp=False, amp_dtype=None,
                      threads=2, optimizer='AdamW'),
        machine=dict(cpu='Test CPU 9000', cores=2, ram_gib=23.5, gpu=None,
                     torch='2.14.1', python='3.11.0'),
        load_average_1min=dict(before=1.0, after=2.0),
        variants=dict(dist=row, full_finetune=dict(row, clip_frames=16,
                                                   train_step_s=10.0)),
        targets=dict(dist_vs_full_finetune_train_step_time=dict(
            ratio=0.25, limit=0.45, kind='max', met=True)))
    flops = dict(
        kind='flops',
        config='configs/dist/dist_vit-b16_clip-openai-pre_8xb32-u16-a2_36e_'
        'kinetics400-rgb.py',
        input_shape_per_view=[3, 16, 224, 224], gflops_per_view=163.1,
        gflops_by_module=dict(backbone=140.66, neck=22.44),
        params=dict(total=3, frozen=149_620_000, trainable=26_070_000))
    return train, flops


def test_make_benchmarks_md(tmp_path):
    make_md = _load_tool('make_benchmarks_md')
    folder = tmp_path / 'benchmarks'
    folder.mkdir()
    train, flops = _fake_results()
    (folder / 'train.json').write_text(json.dumps(train))
    (folder / 'flops.json').write_text(json.dumps(flops))
    (folder / 'other.json').write_text(json.dumps(dict(kind='unrelated')))
    out = tmp_path / 'benchmarks.md'
    text = make_md.main(['--dir', str(folder), '--out', str(out)])
    assert out.read_text() == text
    lines = text.splitlines()
    assert '| DiST | 8 | 26.07 M | 2.500 | 0.800 | 1234 | 1.250 |' in lines
    assert ('| CLIP full fine-tune + linear | 16 | 26.07 M | 10.000 | 0.800 '
            '| 1234 | 1.250 |') in lines
    assert '| DiST / full fine-tune, step time | 0.250 | <= 0.45 | yes |' \
        in lines
    flops_row = [ln for ln in lines if ln.startswith('| `dist_vit-b16')]
    assert len(flops_row) == 1
    assert '| 163.10 | 163 (+0.1%) |' in flops_row[0]
    assert '149.62 M' in flops_row[0]
    assert 'CPU Test CPU 9000, 2 usable cores, 23.5 GiB RAM, no GPU, ' \
        'torch 2.14.1' in text


def test_rounds_rotate_and_median_spread():
    from dist_plugin.analysis.rounds import interleaved_orders, median_spread
    assert interleaved_orders(['a', 'b', 'c'], 4) == [
        ['a', 'b', 'c'], ['b', 'c', 'a'], ['c', 'a', 'b'], ['a', 'b', 'c']]
    assert interleaved_orders(range(2), 3) == [[0, 1], [1, 0], [0, 1]]
    assert median_spread([1., 3., None, 2.]) == dict(
        median=2., min=1., max=3., spread=1., n=3)
    assert median_spread([None]) == dict(median=None, min=None, max=None,
                                         spread=None, n=0)


def test_benchmark_train_interleaved_rounds(tmp_path):
    bench = _load_tool('benchmark_train')
    arch = tmp_path / 'tiny_clip.json'
    arch.write_text(json.dumps(TINY_CLIP), encoding='utf-8')
    out = tmp_path / 'bench.json'
    bench.main([
        '--arch', str(arch), '--frames', '4', '--alpha', '2', '--batch', '1',
        '--steps', '1', '--warmup', '0', '--num-classes', '3',
        '--dist-width', '64', '--dist-temporal-width', '16',
        '--dist-pooling-layers', '1', '--inline', '--rounds', '2',
        '--variants', 'dist', 'frozen_linear', '--label', 'after',
        '--json', str(out)
    ])
    saved = json.loads(out.read_text())
    assert saved['label'] == 'after' and saved['settings']['rounds'] == 2
    for row in saved['variants'].values():
        assert len(row['rounds']) == 2 and len(row['train_step_s_all']) == 2
        times = [r['train_step_s'] for r in row['rounds']]
        assert row['train_step_s'] == pytest.approx(sorted(times)[0] / 2 +
                                                    sorted(times)[1] / 2)
        assert row['train_clips_per_s'] == pytest.approx(
            1 / row['train_step_s'])
        assert all(set(r['load']) >= {'before', 'during', 'after',
                                      'competing', 'reasons'}
                   for r in row['rounds'])
        assert row['contended_rounds'] == sum(
            r['load']['competing'] for r in row['rounds'])
    assert saved['contended_measurements'] == sum(
        r['contended_rounds'] for r in saved['variants'].values())


def test_profile_dist_tiny(tmp_path):
    prof = _load_tool('profile_dist')
    arch = tmp_path / 'tiny_clip.json'
    arch.write_text(json.dumps(TINY_CLIP), encoding='utf-8')
    out = tmp_path / 'profile.json'
    prof.main([
        '--arch', str(arch), '--frames', '4', '--alpha', '2', '--batch', '1',
        '--num-classes', '3', '--dist-width', '64', '--dist-temporal-width',
        '16', '--dist-pooling-layers', '1', '--top', '5', '--label',
        'after', '--json', str(out)
    ])
    saved = json.loads(out.read_text())
    assert saved['kind'] == 'profile' and saved['label'] == 'after'
    assert set(saved['profiles']) == {'ours/train', 'ours/infer'}
    for key, res in saved['profiles'].items():
        ops = res['ops']
        assert len(ops) <= 6 and ops[-1]['name'] == '(other ops)'
        assert sum(op['share'] for op in ops) == pytest.approx(1.)
        assert res['total_self_cpu_s'] == pytest.approx(
            sum(op['self_cpu_s'] for op in ops))
        assert all(op['calls'] >= 1 for op in ops)
        assert len(res['rounds']) == 1 and res['step_cpu_s'] > 0
    names = {op['name'] for op in saved['profiles']['ours/train']['ops']}
    backward = {op['name'] for op in
                prof.merge_rounds([dict(ops=[dict(name='x', self_cpu_s=2.,
                                                  calls=1)],
                                        step_cpu_s=1., step_wall_s=1.,
                                        num_op_calls=1, total_self_cpu_s=2.,
                                        load=dict(competing=False)),
                                   dict(ops=[dict(name='x', self_cpu_s=1.,
                                                  calls=1)],
                                        step_cpu_s=2., step_wall_s=2.,
                                        num_op_calls=1, total_self_cpu_s=1.,
                                        load=dict(competing=True))])['ops']
                if op['self_cpu_s'] == 1.}
    assert backward == {'x'} and names


def test_make_benchmarks_md_before_after(tmp_path):
    make_md = _load_tool('make_benchmarks_md')
    folder = tmp_path / 'benchmarks'
    folder.mkdir()
    out = tmp_path / 'benchmarks.md'
    text = make_md.main(['--dir', str(folder), '--out', str(out)])
    assert text.count('_Not measured yet on a quiet machine.') == 3
    lines = [
        dict(impl='official', mode='train', device='cpu', amp=False,
             batch=2, median_s=6.0, peak_mib=600.0, load=0.5),
        dict(impl='ours', mode='train', device='cpu', amp=False, batch=2,
             median_s=4.8, peak_mib=480.0, load=0.4),
        dict(impl='official', mode='infer', device='cpu', amp=False,
             batch=2, median_s=4.0, peak_mib=100.0, load=0.5),
        dict(impl='ours', mode='infer', device='cpu', amp=False, batch=2,
             median_s=3.0, peak_mib=90.0, load=0.6),
    ]
    (folder / 'side_by_side_cpu.jsonl').write_text(
        'ours/official: summary line\n' +
        '\n'.join(json.dumps(r) for r in lines) + '\n')

    def profile(label, scale):
        ops = [dict(name='aten::addmm', self_cpu_s=3. * scale, calls=10,
                    share=0.75),
               dict(name='aten::mul', self_cpu_s=1. * scale, calls=20,
                    share=0.25)]
        return dict(kind='profile', label=label,
                    settings=dict(threads=1, rounds=3),
                    profiles={'ours/infer': dict(
                        ops=ops, total_self_cpu_s=4. * scale,
                        num_op_calls=30)})
    (folder / 'p_before.json').write_text(json.dumps(profile('before', 1)))
    (folder / 'p_after.json').write_text(json.dumps(profile('after', .5)))
    text = make_md.main(['--dir', str(folder), '--out', str(out)])
    md = text.splitlines()
    assert '| train step (median) | 6.00 s | 4.80 s | 0.80x |' in md
    assert '| inference (median) | 4.00 s | 3.00 s | 0.75x |' in md
    assert '| train step peak memory | 600 MiB | 480 MiB | 0.80x |' in md
    assert ('| `aten::addmm` | 3.000 | 75.0% | 10 | `aten::addmm` | 1.500 '
            '| 75.0% | 10 |') in md
    assert '| total | 4.000 | 100% | 30 | total | 2.000 | 100% | 30 |' in md
    assert text.count('_Not measured yet on a quiet machine.') == 1
    assert 'Memory in use during' not in text
    (folder / 'live_memory_cpu.json').write_text(json.dumps(dict(
        kind='live_memory', results=[
            dict(impl='official', mode='train', batch=2, start_mib=1000.,
                 peak_above_start_mib=1000.),
            dict(impl='ours', mode='train', batch=2, start_mib=1100.,
                 peak_above_start_mib=600.),
            dict(impl='official', mode='infer', batch=2, start_mib=900.,
                 peak_above_start_mib=400.),
            dict(impl='ours', mode='infer', batch=2, start_mib=950.,
                 peak_above_start_mib=100.)],
        rss_windows=[
            dict(impl='official', growth_after_warmup_mib={'1': 600., '2':
                                                           120.}),
            dict(impl='ours', growth_after_warmup_mib={'1': 400., '2': 130.}),
            dict(impl='ours', growth_after_warmup_mib={'1': 300., '2': 70.})
        ])))
    md = make_md.main(['--dir', str(folder), '--out', str(out)]).splitlines()
    assert ('| train step, peak in use above the start | 1000 MiB | 600 MiB '
            '| 0.60x |') in md
    assert ('| inference pass, peak in use above the start | 400 MiB | '
            '100 MiB | 0.25x |') in md
    assert any(row.startswith('| in use at the start of a train step')
               and row.endswith('| 1000 MiB | 1100 MiB | 1.10x |')
               for row in md)
    assert '| warm-up steps | official | ours |' in md
    assert '| 1 | 600 | 400 / 300 |' in md
    assert '| 2 (side-by-side) | 120 | 130 / 70 |' in md
