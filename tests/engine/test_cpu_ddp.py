"""Two CPU processes through tools/dist_train.sh and tools/dist_test.sh.

A tiny mmaction Recognizer2D (a one-conv backbone registered by a module the
test writes, mmaction's TSNHead and ActionDataPreprocessor) trains on an
in-memory dataset with torchrun + gloo (upstream-compat items 5 and 7), then
tests from the checkpoint served over HTTP (item 6 via tools/test.py).
"""
import contextlib
import functools
import http.server
import json
import os
import os.path as osp
import pickle
import shutil
import socket
import subprocess
import sys
import threading

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
NUM_SAMPLES = 8
NUM_PROCS = 2
BATCH_SIZE = 2

PARTS_MODULE = '''
"""Tiny registered parts for the CPU DDP test."""
import json
import os.path as osp

import torch
import torch.nn as nn
from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch.utils.data import Dataset

from mmaction.registry import DATASETS, HOOKS, MODELS
from mmaction.structures import ActionDataSample


@MODELS.register_module()
class TinyConvBackbone(nn.Module):

    def __init__(self, out_channels: int = 8) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, out_channels, 3, padding=1)

    def forward(self, x):
        return self.conv(x).relu()  # [N * segs, C, H, W]


@DATASETS.register_module()
class TinyRandomClips(Dataset):
    """Random clips [segs, 3, H, W]; label = index % 2."""

    metainfo = dict(classes=('even', 'odd'))

    def __init__(self, size: int = 8, num_segs: int = 2, side: int = 8):
        gen = torch.Generator().manual_seed(0)
        self.clips = torch.rand(size, num_segs, 3, side, side, generator=gen)

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, idx):
        sample = ActionDataSample().set_gt_label(idx % 2)
        sample.set_metainfo(dict(sample_idx=idx))
        return dict(inputs=self.clips[idx] * 255, data_samples=sample)


@HOOKS.register_module()
class RankReportHook(Hook):
    """Writes what this rank saw to work_dir/rank<r>.json."""

    def before_run(self, runner):
        self.seen, self.metrics = [], {}

    def before_train(self, runner):
        self.init_sum = self._param_sum(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.seen += [s.metainfo['sample_idx']
                      for s in data_batch['data_samples']]

    def after_val_epoch(self, runner, metrics=None):
        self.metrics = {k: float(v) for k, v in (metrics or {}).items()}

    @staticmethod
    def _param_sum(runner):
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        return float(sum(p.detach().double().sum()
                         for p in model.parameters()))

    def after_train(self, runner):
        rank, world_size = get_dist_info()
        report = dict(
            rank=rank, world_size=world_size,
            backend=(torch.distributed.get_backend()
                     if torch.distributed.is_initialized() else None),
            wrapper=type(runner.model).__name__,
            device_ids=getattr(runner.model, 'device_ids', 'n/a'),
            seen=self.seen, metrics=self.metrics,
            init_sum=self.init_sum, final_sum=self._param_sum(runner))
        with open(osp.join(runner.work_dir, f'rank{rank}.json'), 'w') as f:
            json.dump(report, f)
'''

CONFIG = '''
custom_imports = dict(imports=['tiny_ddp_parts'], allow_failed_imports=False)
default_scope = 'mmaction'
model = dict(
    type='Recognizer2D',
    backbone=dict(type='TinyConvBackbone', out_channels=8),
    cls_head=dict(type='TSNHead', num_classes=2, in_channels=8,
                  dropout_ratio=0.0, average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor',
                           mean=[127.5] * 3, std=[127.5] * 3,
                           format_shape='NCHW'))
dataset = dict(type='TinyRandomClips', size={size})
train_dataloader = dict(
    batch_size={batch}, num_workers=0, dataset=dataset,
    sampler=dict(type='DefaultSampler', shuffle=False))
val_dataloader = dict(
    batch_size={batch}, num_workers=0, dataset=dataset,
    sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = val_dataloader
val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.5, momentum=0.9))
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1),
    logger=dict(type='LoggerHook', interval=1))
custom_hooks = [dict(type='RankReportHook')]
env_cfg = dict(dist_cfg=dict(backend='gloo'))
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def http_server(directory: str):

    class Quiet(http.server.SimpleHTTPRequestHandler):

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), functools.partial(Quiet, directory=directory))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}'
    finally:
        server.shutdown()
        server.server_close()


def run_script(args, tmp_path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(
        PATH=osp.dirname(sys.executable) + os.pathsep + env.get('PATH', ''),
        PYTHONPATH=str(tmp_path) + os.pathsep + env.get('PYTHONPATH', ''),
        PORT=str(free_port()),
        TORCH_HOME=str(tmp_path / 'torch_home'),
        CUDA_VISIBLE_DEVICES='')
    proc = subprocess.run(
        ['bash', *args], cwd=REPO_ROOT, env=env, capture_output=True,
        text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    # torchrun ships with torch; tools/dist_train.sh needs it
    assert shutil.which('torchrun', path=osp.dirname(sys.executable))
    tmp_path = tmp_path_factory.mktemp('cpu_ddp')
    (tmp_path / 'tiny_ddp_parts.py').write_text(PARTS_MODULE)
    config = tmp_path / 'tiny_ddp_config.py'
    config.write_text(CONFIG.format(size=NUM_SAMPLES, batch=BATCH_SIZE))
    work_dir = tmp_path / 'work'
    run_script([
        'tools/dist_train.sh', str(config), str(NUM_PROCS), '--work-dir',
        str(work_dir), '--seed', '0'
    ], tmp_path)
    reports = []
    for rank in range(NUM_PROCS):
        with open(work_dir / f'rank{rank}.json') as f:
            reports.append(json.load(f))
    return dict(tmp_path=tmp_path, config=config, work_dir=work_dir,
                reports=reports)


def test_dist_train_two_cpu_ranks(trained):
    reports = trained['reports']
    assert [r['rank'] for r in reports] == list(range(NUM_PROCS))
    for r in reports:
        assert r['world_size'] == NUM_PROCS
        assert r['backend'] == 'gloo'
        assert r['wrapper'] == 'MMDistributedDataParallel'
        assert r['device_ids'] is None
    # the sampler split the data: disjoint shards covering every sample
    seen = [set(r['seen']) for r in reports]
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == set(range(NUM_SAMPLES))
    # DDP kept the replicas identical, and training changed them
    assert reports[0]['final_sum'] == pytest.approx(reports[1]['final_sum'])
    assert reports[0]['final_sum'] != pytest.approx(reports[0]['init_sum'])
    # AccMetric gathered all ranks' predictions: same result everywhere
    acc = [r['metrics']['acc/top1'] for r in reports]
    assert acc[0] == acc[1] and acc[0] * NUM_SAMPLES == round(
        acc[0] * NUM_SAMPLES)

    from dist_plugin.upstream_fixes import safe_torch_load
    ckpt = safe_torch_load(str(trained['work_dir'] / 'epoch_1.pth'))
    assert ckpt['meta']['epoch'] == 1
    assert ckpt['meta']['iter'] == NUM_SAMPLES // (NUM_PROCS * BATCH_SIZE)
    assert ckpt['state_dict']['backbone.conv.weight'].shape == (8, 3, 3, 3)


def test_dist_test_from_url_dumps_all_samples(trained):
    tmp_path = trained['tmp_path']
    dump = tmp_path / 'results.pkl'
    with http_server(str(trained['work_dir'])) as url:
        run_script([
            'tools/dist_test.sh', str(trained['config']),
            f'{url}/epoch_1.pth', str(NUM_PROCS), '--work-dir',
            str(tmp_path / 'test_work'), '--dump', str(dump)
        ], tmp_path)
    with open(dump, 'rb') as f:
        results = pickle.load(f)
    assert len(results) == NUM_SAMPLES
    assert sorted(int(r['gt_label']) for r in results) == sorted([0, 1] * 4)
    for r in results:
        assert r['pred_score'].shape == (2, )
        assert float(r['pred_score'].sum()) == pytest.approx(1.0, abs=1e-5)
    # the checkpoint came through torch.hub's cache under TORCH_HOME
    assert (tmp_path / 'torch_home' / 'hub' / 'checkpoints' /
            'epoch_1.pth').is_file()
