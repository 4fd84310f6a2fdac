"""tools/train.py and tools/test.py in-process on CPU: ``--amp`` trains a real
mmaction Recognizer2D + TSNHead under bf16 autocast (upstream-compat items 4
and 8), ``--resume`` continues through the safe loader (item 6), and
tools/test.py evaluates and dumps the predictions.
"""
import importlib.util
import json
import os.path as osp
import pickle

import pytest

from dist_plugin.upstream_fixes import apply_all, safe_torch_load

apply_all()

HERE = osp.dirname(osp.abspath(__file__))
REPO_ROOT = osp.dirname(osp.dirname(HERE))
NUM_SAMPLES = 8
BATCH_SIZE = 2


def load_module(name: str, path: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The tiny registered parts and config shared with the CPU DDP test.
DDP_TEST = load_module('_dist_plugin_cpu_ddp_parts',
                       osp.join(HERE, 'test_cpu_ddp.py'))


@pytest.fixture
def tiny_config(tmp_path, monkeypatch):
    (tmp_path / 'tiny_ddp_parts.py').write_text(DDP_TEST.PARTS_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = tmp_path / 'tiny_config.py'
    config.write_text(
        DDP_TEST.CONFIG.format(size=NUM_SAMPLES, batch=BATCH_SIZE))
    return str(config)


def test_train_amp_resume_then_test(tiny_config, tmp_path):
    train = load_module('_dist_plugin_tools_train',
                        osp.join(REPO_ROOT, 'tools', 'train.py'))
    test = load_module('_dist_plugin_tools_test',
                       osp.join(REPO_ROOT, 'tools', 'test.py'))
    work_dir = str(tmp_path / 'work')

    train.main([tiny_config, '--amp', '--work-dir', work_dir, '--seed', '0'])
    first = safe_torch_load(osp.join(work_dir, 'epoch_1.pth'))
    assert "type='CPUAwareAmpOptimWrapper'" in first['meta']['cfg']
    # bf16 autocast: the loss scaler is a disabled pass-through
    assert first['optimizer']['loss_scaler'] == {}
    # TSNHead computed top-k accuracy from bf16 scores (item 4)
    top1 = first['message_hub']['log_scalars']['train/top1_acc']
    assert len(top1.data[0]) == NUM_SAMPLES // BATCH_SIZE
    assert all(0.0 <= v <= 1.0 for v in top1.data[0])
    with open(osp.join(work_dir, 'rank0.json')) as f:
        report = json.load(f)
    assert report['seen'] == list(range(NUM_SAMPLES))
    assert report['final_sum'] != pytest.approx(report['init_sum'])

    train.main([
        tiny_config, '--amp', '--work-dir', work_dir, '--resume',
        '--cfg-options', 'train_cfg.max_epochs=2'
    ])
    second = safe_torch_load(osp.join(work_dir, 'epoch_2.pth'))
    assert (second['meta']['epoch'], second['meta']['iter']) == (
        2, 2 * NUM_SAMPLES // BATCH_SIZE)
    assert len(second['message_hub']['log_scalars']['train/top1_acc']
               .data[0]) == 2 * NUM_SAMPLES // BATCH_SIZE

    dump = str(tmp_path / 'results.pkl')
    test.main([
        tiny_config, osp.join(work_dir, 'epoch_2.pth'), '--work-dir',
        str(tmp_path / 'test_work'), '--dump', dump
    ])
    with open(dump, 'rb') as f:
        results = pickle.load(f)
    assert sorted(int(r['gt_label']) for r in results) == sorted([0, 1] * 4)
    assert all(
        float(r['pred_score'].sum()) == pytest.approx(1.0, abs=1e-5)
        for r in results)


def test_amp_flag_rejects_custom_wrapper(tiny_config):
    train = load_module('_dist_plugin_tools_train',
                        osp.join(REPO_ROOT, 'tools', 'train.py'))
    from mmengine.config import Config
    args = train.parse_args([tiny_config, '--amp'])
    cfg = Config.fromfile(tiny_config)
    assert train.merge_args(cfg, args).optim_wrapper.type == \
        'CPUAwareAmpOptimWrapper'
    cfg = Config.fromfile(tiny_config)
    cfg.optim_wrapper.type = 'MyWrapper'
    with pytest.raises(ValueError, match='MyWrapper'):
        train.merge_args(cfg, args)
