"""tools/analysis/compare_methods.py end to end on tiny shapes, the page and
its plot, the interleaved order and the load flag."""
import importlib.util
import json
import os.path as osp
import statistics

import numpy as np
import pytest

from dist_plugin.analysis import load_monitor
from dist_plugin.analysis.compare import LABELS, METHODS
from dist_plugin.analysis.rounds import interleaved_orders
from helpers.tiny_models import TINY_CLIP

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load_tool(name):
    path = osp.join(REPO, 'tools', 'analysis', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'h14_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_interleaved_order_rotates_every_round():
    assert interleaved_orders('ABCD', 5) == [
        list('ABCD'), list('BCDA'), list('CDAB'), list('DABC'), list('ABCD')
    ]


@pytest.mark.parametrize('running,before,competing', [
    (4, 0.2, True),   # 1 sampler + 1 worker thread + 2 others
    (2, 0.2, False),  # sampler + worker only
    (2, 3.0, True),   # busy before the run
])
def test_load_monitor_flags_competing_runs(monkeypatch, running, before,
                                           competing):
    monkeypatch.setattr(
        load_monitor, 'read_load',
        lambda: dict(load1=before, load5=before, procs_running=running))
    monitor = load_monitor.LoadMonitor(own_threads=1, interval_s=0.01)
    monitor.start()
    import time
    time.sleep(0.1)
    rec = monitor.stop()
    assert rec['during']['samples'] > 0
    assert rec['during']['others_median'] == max(running - 2, 0)
    assert rec['competing'] is competing
    assert bool(rec['reasons']) is competing


def test_compare_methods_tiny_end_to_end(tmp_path):
    tool = _load_tool('compare_methods')
    arch = tmp_path / 'tiny_clip.json'
    arch.write_text(json.dumps(TINY_CLIP), encoding='utf-8')
    out = tmp_path / 'cmp.json'
    md = tmp_path / 'docs' / 'comparison.md'
    tool.main([
        '--json', str(out), '--md', str(md), '--arch', str(arch),
        '--frames', '2', '--batch', '1', '--steps', '1', '--warmup', '0',
        '--rounds', '2', '--threads', '1', '--inline', '--seeds', '0', '1',
        '--epochs', '1', '--num-train', '8', '--num-val', '4',
        '--data-root', str(tmp_path / 'demo')
    ])
    res = json.loads(out.read_text())
    assert res['kind'] == 'method_comparison'
    assert res['settings']['methods'] == list(METHODS)
    assert res['machine']['cores'] >= 1

    timing = res['timing']
    assert timing['order'] == interleaved_orders(METHODS, 2)
    summary = timing['summary']
    assert set(summary) == set(METHODS)
    # same frames through CLIP; the dense input each method needs for it
    dense = dict(dist=4, evl=2, stan=2, tds_clip=10, frozen_linear=2,
                 full_finetune=2)
    for method, row in summary.items():
        assert row['clip_frames'] == 2
        assert row['input_shape'] == [3, dense[method], 32, 32]
        assert row['runs'] == 2 and row['train_step_s']['n'] == 2
        assert row['train_step_s']['min'] <= row['train_step_s']['median'] \
            <= row['train_step_s']['max']
        assert row['train_peak_mem_mib']['median'] >= 0
        assert row['infer_clips_per_s']['median'] > 0
        assert row['gflops_per_view'] > 0
        assert 0 < row['params_trainable'] <= row['params_total']
        runs = timing['runs'][method]
        assert [r['round'] for r in runs] == [0, 1]
        for run in runs:
            load = run['load']
            assert {'before', 'during', 'after'} <= set(load)
            assert run['flagged'] is load['competing']
        assert row['flagged'] is any(r['flagged'] for r in runs)
        assert row['flagged_runs'] == sum(r['flagged'] for r in runs)
    linear = TINY_CLIP['embed_dim'] * 400 + 400
    assert summary['frozen_linear']['params_trainable'] == linear
    full = summary['full_finetune']
    assert full['params_trainable'] == full['params_total']
    assert full['params_total'] == summary['frozen_linear']['params_total']
    # the two baselines run the same forward
    assert full['gflops_per_view'] == pytest.approx(
        summary['frozen_linear']['gflops_per_view'])
    # DiST's CLIP sees 2 of its 4 frames: more than the frozen CLIP alone
    assert summary['dist']['gflops_per_view'] > \
        summary['frozen_linear']['gflops_per_view']

    acc = res['accuracy']
    assert acc['seeds'] == [0, 1] and acc['epochs'] == 1
    for method in METHODS:
        row = acc['methods'][method]
        tops = [r['top1'] for r in row['runs']]
        assert [r['seed'] for r in row['runs']] == [0, 1]
        assert all(0 <= t <= 1 for t in tops)
        assert row['top1']['mean'] == pytest.approx(statistics.fmean(tops))
        assert row['top1']['std'] == pytest.approx(statistics.stdev(tops))
    clip_frames = {m: acc['methods'][m]['clip_frames'] for m in METHODS}
    assert clip_frames == dict(dist=4, evl=8, stan=8, tds_clip=4,
                               frozen_linear=4, full_finetune=4)
    frozen = acc['methods']['frozen_linear']['params_trainable']
    assert acc['methods']['full_finetune']['params_trainable'] > frozen

    points = res['plot']['points']
    assert [p['label'] for p in points] == [LABELS[m] for m in METHODS]
    for p in points:
        assert p['x'] == summary[p['method']]['train_step_s']['median']
        assert p['y'] == acc['methods'][p['method']]['top1']['mean']

    import matplotlib.image as mpimg
    png = md.with_suffix('.png')
    image = mpimg.imread(str(png))
    assert image.shape[:2] == (450, 700)
    assert float(np.std(image[..., :3])) > 0.01  # not a blank canvas
    page = md.read_text()
    assert 'do not edit by hand' in page
    assert res['machine']['cpu'] in page
    assert 'GPU: not measured' in page
    assert '](comparison.png)' in page
    for method in METHODS:
        assert page.count(f'| {LABELS[method]} |') == 3  # measured, published,
        # accuracy
    for pub in ('arXiv 2309.07911', 'arXiv 2208.03550', 'arXiv 2301.11116'):
        assert pub in page

    # timings later (quiet machine), the accuracy of this run merged in
    out2 = tmp_path / 'timing.json'
    md2 = tmp_path / 'docs2' / 'comparison.md'
    tool.main([
        '--json', str(out2), '--md', str(md2), '--arch', str(arch),
        '--methods', 'dist', 'evl', '--frames', '2', '--batch', '1',
        '--steps', '1', '--warmup', '0', '--rounds', '1', '--threads', '1',
        '--inline', '--accuracy-from', str(out)
    ])
    res2 = json.loads(out2.read_text())
    assert res2['accuracy']['source'] == dict(
        path='cmp.json', started_utc=res['started_utc'])
    for method in METHODS:
        assert res2['accuracy']['methods'][method] == acc['methods'][method]
    assert [p['method'] for p in res2['plot']['points']] == ['dist', 'evl']
    assert [p['y'] for p in res2['plot']['points']] == [
        acc['methods'][m]['top1']['mean'] for m in ('dist', 'evl')]
    assert 'merged with `--accuracy-from`' in md2.read_text()
    timing_only = json.loads(out2.read_text())
    timing_only['accuracy'] = None
    bare = tmp_path / 'bare.json'
    bare.write_text(json.dumps(timing_only))
    with pytest.raises(ValueError, match='bare.json: no accuracy'):
        tool.accuracy_from(str(bare), ['dist'])
    with pytest.raises(ValueError, match=r"no accuracy for \['x'\]"):
        tool.accuracy_from(str(out), ['dist', 'x'])


def test_accuracy_from_and_skip_accuracy_are_refused_together(capsys):
    tool = _load_tool('compare_methods')
    with pytest.raises(SystemExit):
        tool.parse_args(['--json', 'x.json', '--skip-accuracy',
                         '--accuracy-from', 'old.json'])
    assert 'contradict' in capsys.readouterr().err
    args = tool.parse_args(['--json', 'x.json', '--accuracy-from', 'a.json'])
    assert args.accuracy_from == 'a.json' and not args.skip_accuracy


def test_plot_labels_of_close_points_alternate():
    make_md = _load_tool('make_comparison_md')
    pts = [dict(x=x, y=y) for x, y in
           ((4.57, 1.0), (5.34, 0.996), (5.77, 1.0), (3.17, 0.217),
            (11.6, 0.275), (17.4, 0.679))]
    # EVL sits within 25 % of DiST's time at the same accuracy: its label
    # goes below; TDS-CLIP, close to EVL, goes above again; the rest above.
    assert make_md._labels_below(pts) == [False, True, False, False, False,
                                          False]


def test_make_comparison_md_rejects_other_json(tmp_path):
    make_md = _load_tool('make_comparison_md')
    bad = tmp_path / 'bench.json'
    bad.write_text(json.dumps(dict(kind='train_benchmark')))
    with pytest.raises(ValueError, match='bench.json'):
        make_md.write_page([str(bad)], str(tmp_path / 'c.md'))


def test_method_configs_match_frames_through_clip_for_vit_b16():
    from dist_plugin.analysis.compare import method_model_cfg
    shapes = {}
    for method in ('dist', 'evl', 'stan', 'tds_clip'):
        cfg, shapes[method] = method_model_cfg(method, 'ViT-B-16', 8)
        assert cfg['backbone']['pretrained'] is None
    assert shapes == dict(dist=(3, 16, 224, 224), evl=(3, 8, 224, 224),
                          stan=(3, 8, 224, 224), tds_clip=(3, 40, 224, 224))
    dist, _ = method_model_cfg('dist', 'ViT-B-16', 8)
    assert (dist['neck']['num_frames'], dist['neck']['alpha']) == (8, 2)
    assert 'blending' not in dist['data_preprocessor']
    evl, _ = method_model_cfg('evl', 'ViT-B-16', 4)
    assert evl['neck']['num_frames'] == 4
    assert evl['neck']['grid_size'] == (14, 14)
    tds, _ = method_model_cfg('tds_clip', 'ViT-B-16', 4, window=3)
    assert (tds['neck']['num_segments'], tds['neck']['window']) == (4, 3)


def test_sparse_floor_sees_only_the_frames_dist_gives_clip():
    import torch

    from dist_plugin.analysis.benchmark import build_variant
    torch.manual_seed(0)
    sparse = build_variant('frozen_linear_sparse', TINY_CLIP, 4, 2, 3).eval()
    dense = build_variant('frozen_linear', TINY_CLIP, 4, 2, 3).eval()
    dense.load_state_dict(sparse.state_dict())
    clips = torch.randn(2, 1, 3, 4, 32, 32)
    with torch.no_grad():
        expected = dense(clips[:, :, :, ::2])
        assert torch.allclose(sparse(clips), expected, atol=1e-6)
        assert not torch.allclose(dense(clips), expected, atol=1e-4)
