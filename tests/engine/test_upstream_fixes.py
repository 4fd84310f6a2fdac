"""Tests of ``dist_plugin.upstream_fixes`` (items 1-4 and 6-8 of
docs/upstream-compat.md). Each test first shows the upstream failure (by
calling the original kept by the fix, or in a fresh interpreter) and then
checks values produced through the fix. ``import dist_plugin`` applies the
same fixes; these tests call ``apply_all()`` directly.
"""
import contextlib
import functools
import http.server
import os
import os.path as osp
import pickle
import shlex
import socket
import subprocess
import sys
import threading
import uuid
import zipfile

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.model import BaseModel
from torch.utils.data import Dataset

from dist_plugin.upstream_fixes import apply_all

STATUS = apply_all()

from dist_plugin.upstream_fixes import (  # noqa: E402
    bf16_head_scores, cpu_amp_optim_wrapper, drn_standin, numpy2_color_jitter,
    numpy2_removed_aliases, safe_checkpoint, setup_cpu_distributed)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
NO_ACCELERATOR = not cpu_amp_optim_wrapper.accelerator_available()


# --------------------------------------------------------------- helpers
class ToyModel(BaseModel):
    """Linear classifier on 4-d inputs; records its logits dtypes per mode."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.logits_dtypes = dict(loss=set(), predict=set(), tensor=set())

    def forward(self, inputs, labels, mode='tensor'):
        logits = self.fc(inputs)  # [B, 2]
        self.logits_dtypes[mode].add(logits.dtype)
        if mode == 'loss':
            return dict(loss=F.cross_entropy(logits, labels))
        if mode == 'predict':
            return [
                dict(pred=p, label=t)
                for p, t in zip(logits.argmax(-1), labels)
            ]
        return logits


class ToyDataset(Dataset):
    """Fixed random 4-d samples; the label is the sign of the first value."""

    def __init__(self, size: int = 8) -> None:
        gen = torch.Generator().manual_seed(0)
        self.inputs = torch.randn(size, 4, generator=gen)
        self.labels = (self.inputs[:, 0] > 0).long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, idx: int) -> dict:
        return dict(inputs=self.inputs[idx], labels=self.labels[idx])


class ToyAccuracy(BaseMetric):

    def process(self, data_batch, data_samples) -> None:
        self.results.extend(int(s['pred'] == s['label']) for s in data_samples)

    def compute_metrics(self, results) -> dict:
        return dict(acc=float(np.mean(results)))


def toy_runner(work_dir: str, max_epochs: int = 2, **kwargs):
    from mmengine.runner import Runner
    loader = dict(
        dataset=ToyDataset(),
        sampler=dict(type='DefaultSampler', shuffle=False),
        batch_size=4,
        collate_fn=dict(type='default_collate'))
    cfg = dict(
        model=ToyModel(),
        work_dir=work_dir,
        experiment_name=f'toy_{uuid.uuid4().hex[:8]}',
        train_dataloader=loader,
        optim_wrapper=dict(
            optimizer=dict(type='AdamW', lr=0.05),
            clip_grad=dict(max_norm=1.0)),
        param_scheduler=[
            dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
                 end=2),
            dict(type='CosineAnnealingLR', T_max=2, by_epoch=True)
        ],
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1),
            logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0),
        default_scope='mmengine')
    cfg.update(kwargs)
    return Runner(**cfg)


class RunsCommand:
    """Pickles as a call to ``os.system`` that creates ``marker``."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {shlex.quote(self.marker)}', ))


@contextlib.contextmanager
def http_server(directory: str):
    """Serve ``directory`` on 127.0.0.1; yield the base URL."""

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_apply_all_is_idempotent():
    assert apply_all() == STATUS
    from mmaction.datasets.transforms.processing import ColorJitter
    from mmaction.models.heads.base import BaseHead
    assert ColorJitter.__dict__['adjust_hue'].__func__ is \
        numpy2_color_jitter.adjust_hue
    # wrapping twice would make the wrapper call a wrapper
    assert BaseHead.loss_by_feat.__wrapped__ is \
        bf16_head_scores.ORIGINALS['loss_by_feat']


# ---------------------------------------------------- item 1: drn stand-in
@pytest.mark.skipif(
    drn_standin.real_drn_folder_present(),
    reason='this mmaction2 ships localizers/drn (source install)')
def test_drn_standin_lets_mmaction_models_import():
    # Upstream: a fresh interpreter cannot import mmaction.models.
    proc = subprocess.run(
        [sys.executable, '-c', 'import mmaction.models'],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "No module named 'mmaction.models.localizers.drn'" in proc.stderr

    # Fixed: it imports, and DRN explains itself when built.
    import mmaction.models  # noqa: F401
    from mmaction.models.localizers import BMN, DRN
    from mmaction.registry import MODELS
    assert STATUS['drn_standin'] is True
    assert DRN is drn_standin.DRN
    assert MODELS.get('BMN') is BMN
    with pytest.raises(RuntimeError, match='issues/2714'):
        MODELS.build(dict(type='DRN'))


# ------------------------------------------- item 2: importlib_metadata dep
def test_importlib_metadata_is_declared_and_dependency_imports():
    from mmaction.utils import dependency
    assert dependency.satisfy_requirement('numpy>=1.0') is True
    assert dependency.satisfy_requirement('numpy<1.0') is False
    with open(osp.join(REPO_ROOT, 'setup.py'), encoding='utf-8') as f:
        assert "'importlib_metadata'" in f.read()


# ------------------------------------------------- item 3: numpy 2 hue
def pure_color_rgb(hue: int) -> np.ndarray:
    hsv = np.zeros((4, 4, 3), np.uint8)
    hsv[..., 0], hsv[..., 1], hsv[..., 2] = hue, 255, 255
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).astype(np.float32)


def hue_of(rgb: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(rgb.astype(np.uint8), cv2.COLOR_RGB2HSV)
    return hsv[..., 0].astype(int)


@pytest.mark.parametrize('hue, factor, expected', [
    (10, -0.1, 165),   # offset -25 wraps below 0
    (170, 0.4, 92),    # offset +102 wraps above 180 (and above 255 in uint8)
    (90, 0.1, 115),    # no wrap
])
def test_color_jitter_hue_shift(hue, factor, expected):
    from mmaction.datasets.transforms.processing import ColorJitter
    img = pure_color_rgb(hue)
    original = numpy2_color_jitter.ORIGINAL_ADJUST_HUE
    if factor < 0:
        with pytest.raises(OverflowError):
            original(img, factor)
    elif hue + int(factor * 255) > 255:
        wrapped = hue_of(original(img, factor))  # uint8 wrap-around
        assert not np.all(np.abs(wrapped - expected) <= 1)
    out = ColorJitter.adjust_hue(img, factor)
    assert out.dtype == np.float32 and out.shape == img.shape
    assert np.all(np.abs(hue_of(out) - expected) <= 1)


def test_color_jitter_transform_runs_for_all_seeds():
    from mmaction.datasets.transforms.processing import ColorJitter
    imgs = [np.random.RandomState(i).randint(0, 256, (6, 6, 3)).astype(
        np.uint8) for i in range(3)]
    for seed in range(20):
        np.random.seed(seed)
        out = ColorJitter(hue=0.5).transform(dict(imgs=list(imgs)))['imgs']
        assert [i.dtype for i in out] == [np.uint8] * 3
        assert [i.shape for i in out] == [(6, 6, 3)] * 3


# ------------------------------------ item 3: numpy 2 removed names
def test_numpy_itself_is_not_modified():
    import numpy
    for name in ('Inf', 'trapz', 'in1d'):
        assert not hasattr(numpy, name)
    from mmaction.utils import misc
    assert isinstance(misc.np, numpy2_removed_aliases.NumpyWithAliases)
    assert misc.np.Inf == np.inf and misc.np.ndarray is np.ndarray


def test_pose_compact_uses_inf(monkeypatch):
    from mmaction.datasets.transforms import pose_transforms
    from mmaction.datasets.transforms.pose_transforms import PoseCompact

    def results():
        kp = np.array([[[[10., 20.], [30., 60.]]]], np.float32)  # [M,T,V,2]
        return dict(img_shape=(100, 100), keypoint=kp)

    compact = PoseCompact(padding=0.25, threshold=10, hw_ratio=None)
    with monkeypatch.context() as m:
        m.setattr(pose_transforms, 'np', np)
        with pytest.raises(AttributeError, match='Inf'):
            compact.transform(results())
    out = compact.transform(results())
    # box x [7.5, 32.5] -> [7, 32], y [15, 65]
    assert out['img_shape'] == (50, 25)
    np.testing.assert_array_equal(out['keypoint'][0, 0], [[3, 5], [23, 45]])


def test_frame_extract_uses_inf(tmp_path, monkeypatch):
    from mmaction.utils import misc
    video = str(tmp_path / 'clip.avi')
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'MJPG'), 5,
                             (40, 30))
    for i in range(3):
        writer.write(np.full((30, 40, 3), 60 * i, np.uint8))
    writer.release()
    with monkeypatch.context() as m:
        m.setattr(misc, 'np', np)
        with pytest.raises(AttributeError, match='Inf'):
            misc.frame_extract(video, short_side=16, out_dir=str(tmp_path))
    paths, frames = misc.frame_extract(
        video, short_side=16, out_dir=str(tmp_path / 'out'))
    assert len(paths) == 3 and all(osp.isfile(p) for p in paths)
    assert [f.shape for f in frames] == [(16, 21, 3)] * 3


def test_anet_average_recall_uses_trapz(monkeypatch):
    from mmaction.evaluation.functional import accuracy
    gt = {'v': np.array([[0., 10.]])}
    proposals = {
        'v': np.array([[20., 30., .9], [0., 10., .8], [40., 50., .7],
                       [60., 70., .6]])
    }
    with monkeypatch.context() as m:
        m.setattr(accuracy, 'np', np)
        with pytest.raises(AttributeError, match='trapz'):
            accuracy.average_recall_at_avg_proposals(gt, proposals, 4, 4)
    _, avg_recall, per_video, auc = accuracy.average_recall_at_avg_proposals(
        gt, proposals, 4, 4)
    # the matching proposal is 2nd: recall 1 from 2 proposals (50%) on
    assert avg_recall[48] == 0 and np.all(avg_recall[49:] == 1)
    assert per_video[-1] == pytest.approx(4.0)
    assert auc == pytest.approx(100 * (0.02 + 2.0) / 4)


def test_retrieval_recall_uses_in1d(monkeypatch):
    from mmaction.evaluation.metrics import multimodal_metric
    from mmaction.evaluation.metrics.multimodal_metric import RetrievalRecall
    pred = np.array([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5]])
    target = [[0], [1]]
    with monkeypatch.context() as m:
        m.setattr(multimodal_metric, 'np', np)
        with pytest.raises(AttributeError, match='in1d'):
            RetrievalRecall.calculate(pred, target, (1, 2),
                                      target_indices=True)
    recall = RetrievalRecall.calculate(
        pred, target, (1, 2), target_indices=True)
    assert [float(r) for r in recall] == [50.0, 100.0]


# ------------------------------------------------- item 4: bf16 heads
def _head_and_samples():
    from mmaction.models.heads import TSNHead
    from mmaction.structures import ActionDataSample
    head = TSNHead(num_classes=3, in_channels=4, average_clips='score')
    samples = [ActionDataSample().set_gt_label(label) for label in (0, 2)]
    scores = torch.tensor([[2.0, 1.0, 0.5], [0.1, 3.0, 0.2]])  # top1: 0, 1
    return head, samples, scores


def test_bf16_scores_loss_by_feat():
    head, samples, scores = _head_and_samples()
    bf16 = scores.bfloat16()
    with pytest.raises(TypeError, match='BFloat16'):
        bf16_head_scores.ORIGINALS['loss_by_feat'](head, bf16, samples)
    losses = head.loss_by_feat(bf16, samples)
    assert float(losses['top1_acc']) == pytest.approx(0.5)
    assert float(losses['top5_acc']) == pytest.approx(1.0)
    expected = F.cross_entropy(bf16.float(), torch.tensor([0, 2]))
    assert float(losses['loss_cls']) == pytest.approx(float(expected))
    # float32 input is untouched
    assert float(head.loss_by_feat(scores, samples)['top1_acc']) == 0.5


def test_bf16_scores_predict_by_feat_and_metric():
    from mmaction.evaluation import AccMetric
    head, samples, scores = _head_and_samples()
    bf16 = scores.bfloat16()
    upstream = bf16_head_scores.ORIGINALS['predict_by_feat'](
        head, bf16, [s.clone() for s in samples])
    with pytest.raises(TypeError, match='BFloat16'):
        AccMetric().process({}, [s.to_dict() for s in upstream])

    predicted = head.predict_by_feat(bf16, samples)
    assert [s.pred_score.dtype for s in predicted] == [torch.float32] * 2
    assert [int(s.pred_label) for s in predicted] == [0, 1]
    metric = AccMetric(metric_list=('top_k_accuracy', ))
    metric.process({}, [s.to_dict() for s in predicted])
    assert metric.compute_metrics(metric.results)['top1'] == 0.5


# ------------------------------------------ item 6: safe checkpoints
@pytest.fixture(scope='module')
def toy_checkpoints(tmp_path_factory):
    """A real mmengine run: AdamW, clip_grad, two LR schedulers, 2 epochs."""
    work_dir = str(tmp_path_factory.mktemp('toy_run'))
    runner = toy_runner(work_dir)
    runner.train()
    loss_history = runner.message_hub.get_scalar('train/loss').data[0]
    return dict(
        work_dir=work_dir,
        epoch_1=osp.join(work_dir, 'epoch_1.pth'),
        epoch_2=osp.join(work_dir, 'epoch_2.pth'),
        loss_history=loss_history.copy())


def test_upstream_local_loader_rejects_mmengine_checkpoint(toy_checkpoints):
    original = safe_checkpoint.ORIGINALS['load_from_local']
    with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
        original(toy_checkpoints['epoch_2'], 'cpu')


def test_safe_torch_load_reads_mmengine_checkpoint(toy_checkpoints):
    ckpt = safe_checkpoint.safe_torch_load(toy_checkpoints['epoch_2'])
    assert set(ckpt) >= {'meta', 'state_dict', 'optimizer', 'message_hub',
                         'param_schedulers'}
    buffer = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    np.testing.assert_allclose(buffer.data[0],
                               toy_checkpoints['loss_history'])
    assert buffer.mean() == pytest.approx(
        toy_checkpoints['loss_history'].mean())
    assert ckpt['meta']['epoch'] == 2 and ckpt['meta']['iter'] == 4
    # the allow-list is scoped to the load
    assert HistoryBuffer not in torch.serialization.get_safe_globals()


def test_runner_resume_through_safe_loader(toy_checkpoints, tmp_path):
    runner = toy_runner(
        str(tmp_path), resume=True, load_from=toy_checkpoints['epoch_1'])
    runner.train()
    assert (runner.epoch, runner.iter) == (2, 4)
    # Optimizer, scheduler and message hub were restored: the resumed run
    # ends exactly where the uninterrupted one did.
    final = safe_checkpoint.safe_torch_load(toy_checkpoints['epoch_2'])
    for key, value in runner.model.state_dict().items():
        torch.testing.assert_close(value, final['state_dict'][key])
    np.testing.assert_allclose(
        runner.message_hub.get_scalar('train/loss').data[0],
        toy_checkpoints['loss_history'])


def test_numpy1_checkpoint_names_are_allowed(toy_checkpoints, tmp_path):
    numpy1 = str(tmp_path / 'numpy1.pth')
    with zipfile.ZipFile(toy_checkpoints['epoch_2']) as src, \
            zipfile.ZipFile(numpy1, 'w', zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith('data.pkl'):
                assert b'numpy._core.multiarray' in data
                data = data.replace(b'numpy._core.multiarray',
                                    b'numpy.core.multiarray')
            dst.writestr(info, data)
    ckpt = safe_checkpoint.safe_torch_load(numpy1)
    np.testing.assert_allclose(
        ckpt['message_hub']['log_scalars']['train/loss'].data[0],
        toy_checkpoints['loss_history'])


def test_restricted_getattr():
    getattr_ = safe_checkpoint.history_buffer_getattr
    assert getattr_(HistoryBuffer, 'mean') is HistoryBuffer.mean
    for obj, name in [(HistoryBuffer, '_set_default_statistics'),
                      (HistoryBuffer, '__init__'),
                      (HistoryBuffer, 'register_statistics'),
                      (HistoryBuffer, '_statistics_methods'), (os, 'system'),
                      (HistoryBuffer(), 'mean')]:
        with pytest.raises(pickle.UnpicklingError):
            getattr_(obj, name)


class GetsPrivateMethod:

    def __reduce__(self):
        return (getattr, (HistoryBuffer, '_set_default_statistics'))


def test_checkpoint_running_a_command_is_rejected_locally(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint, load_checkpoint
    marker = str(tmp_path / 'pwned')
    path = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict={}, meta=RunsCommand(marker)), path)
    with pytest.raises(pickle.UnpicklingError):
        _load_checkpoint(path, map_location='cpu')
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(nn.Linear(1, 1), path)
    with pytest.raises(pickle.UnpicklingError):
        safe_checkpoint.safe_torch_load(path)
    sneaky = str(tmp_path / 'getattr.pth')
    torch.save(dict(meta=GetsPrivateMethod()), sneaky)
    with pytest.raises(pickle.UnpicklingError, match='only public methods'):
        safe_checkpoint.safe_torch_load(sneaky)
    assert not osp.exists(marker)


def test_http_checkpoints_load_safely(toy_checkpoints, tmp_path,
                                      monkeypatch):
    from mmengine.runner.checkpoint import CheckpointLoader
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    served = tmp_path / 'served'
    served.mkdir()
    marker = str(tmp_path / 'pwned')
    torch.save(dict(state_dict={}, meta=RunsCommand(marker)),
               str(served / 'evil.pth'))
    with open(toy_checkpoints['epoch_2'], 'rb') as f:
        (served / 'good.pth').write_bytes(f.read())

    with http_server(str(served)) as url:
        ckpt = CheckpointLoader.load_checkpoint(f'{url}/good.pth', 'cpu')
        np.testing.assert_allclose(
            ckpt['message_hub']['log_scalars']['train/loss'].data[0],
            toy_checkpoints['loss_history'])

        with pytest.raises(pickle.UnpicklingError):
            CheckpointLoader.load_checkpoint(f'{url}/evil.pth', 'cpu')
        assert not osp.exists(marker)

        # Upstream: torch.hub's loader (weights_only=False) runs the command.
        upstream = safe_checkpoint.ORIGINALS['load_url']
        upstream(
            f'{url}/evil.pth',
            model_dir=str(tmp_path / 'upstream_cache'),
            progress=False)
        assert osp.exists(marker)


# -------------------------------------------- item 7: CPU distributed
@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only behaviour')
def test_upstream_init_dist_needs_cuda(monkeypatch):
    # ``init_dist('pytorch')`` minus its global multiprocessing set-up.
    from mmengine.dist.utils import _init_dist_pytorch
    monkeypatch.setenv('RANK', '0')
    monkeypatch.setenv('LOCAL_RANK', '0')
    with pytest.raises(RuntimeError, match='NVIDIA driver'):
        _init_dist_pytorch('gloo')
    assert not torch.distributed.is_initialized()


@pytest.mark.skipif(torch.cuda.is_available(), reason='CPU-only behaviour')
def test_setup_cpu_distributed_with_real_runner(tmp_path, monkeypatch):
    from mmengine.config import Config
    from mmengine.model import MMDistributedDataParallel
    for key, value in dict(
            RANK='0', LOCAL_RANK='0', WORLD_SIZE='1',
            MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()),
            # a distributed Runner sets these when absent; keep them scoped
            OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', '1'),
            MKL_NUM_THREADS=os.environ.get('MKL_NUM_THREADS', '1')).items():
        monkeypatch.setenv(key, value)
    cfg = Config(dict(find_unused_parameters=False))
    assert setup_cpu_distributed(cfg, 'none') is False
    assert not torch.distributed.is_initialized()
    try:
        assert setup_cpu_distributed(cfg, 'pytorch') is True
        assert torch.distributed.get_backend() == 'gloo'
        assert cfg.model_wrapper_cfg == dict(
            type='MMDistributedDataParallel', broadcast_buffers=False,
            find_unused_parameters=False, device_ids=None)
        runner = toy_runner(
            str(tmp_path), max_epochs=1, launcher='pytorch', cfg=cfg)
        runner.train()
        assert isinstance(runner.model, MMDistributedDataParallel)
        assert runner.model.device_ids is None
        assert runner.iter == 2 and osp.isfile(
            osp.join(str(tmp_path), 'epoch_1.pth'))
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def test_cpu_model_wrapper_cfg_keeps_user_options():
    from mmengine.config import Config
    from dist_plugin.upstream_fixes.cpu_distributed import \
        cpu_model_wrapper_cfg
    cfg = Config(dict(model_wrapper_cfg=dict(find_unused_parameters=True)))
    assert cpu_model_wrapper_cfg(cfg) == dict(
        type='MMDistributedDataParallel', find_unused_parameters=True,
        device_ids=None)


# ------------------------------------------------ item 8: CPU AMP
@pytest.mark.skipif(not NO_ACCELERATOR, reason='CPU-only behaviour')
def test_upstream_amp_wrapper_refuses_cpu():
    from mmengine.optim import AmpOptimWrapper
    optimizer = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    with pytest.raises(AssertionError, match='only available'):
        AmpOptimWrapper(optimizer=optimizer)


@pytest.mark.skipif(not NO_ACCELERATOR, reason='CPU-only behaviour')
def test_cpu_amp_trains_validates_and_resumes(tmp_path):
    # registered in mmaction's scope; the toy runner's scope is mmengine's
    amp = dict(type='mmaction.CPUAwareAmpOptimWrapper',
               optimizer=dict(type='AdamW', lr=0.05))
    val = dict(
        val_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=4, collate_fn=dict(type='default_collate')),
        val_evaluator=[ToyAccuracy()], val_cfg=dict())
    runner = toy_runner(str(tmp_path), max_epochs=1, optim_wrapper=amp, **val)
    before = runner.model.fc.weight.detach().clone()
    runner.train()
    assert runner.optim_wrapper.cast_dtype == torch.bfloat16
    assert runner.model.fc.weight.dtype == torch.float32
    assert not torch.equal(before, runner.model.fc.weight)
    # training steps ran under bf16 autocast, validation outside it
    assert runner.model.logits_dtypes['loss'] == {torch.bfloat16}
    assert runner.model.logits_dtypes['predict'] == {torch.float32}
    assert 0.0 <= runner.message_hub.get_scalar('val/acc').current() <= 1.0

    resumed = toy_runner(
        str(tmp_path / 'resumed'), max_epochs=2, optim_wrapper=amp,
        resume=True, load_from=str(tmp_path / 'epoch_1.pth'))
    resumed.train()
    assert (resumed.epoch, resumed.iter) == (2, 4)


@pytest.mark.skipif(not NO_ACCELERATOR, reason='CPU-only behaviour')
def test_cpu_amp_float16_uses_cpu_grad_scaler():
    from mmengine.optim import OptimWrapper
    model = nn.Linear(4, 2)
    wrapper = cpu_amp_optim_wrapper.CPUAwareAmpOptimWrapper(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        dtype='float16', loss_scale=256.)
    assert isinstance(wrapper, OptimWrapper)
    assert wrapper.loss_scaler.is_enabled()
    assert wrapper.loss_scaler.get_scale() == 256.
    before = model.weight.detach().clone()
    with wrapper.optim_context(model):
        out = model(torch.ones(3, 4))
        assert out.dtype == torch.float16
    wrapper.update_params(out.float().pow(2).mean())
    assert not torch.equal(before, model.weight)
    assert wrapper.state_dict()['loss_scaler']['scale'] == 256.
    with pytest.raises(ValueError):
        cpu_amp_optim_wrapper.CPUAwareAmpOptimWrapper(
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            dtype='float32')


EXIT_SCRIPT = r'''
import atexit, os, sys
import torch.distributed as dist

def report():  # registered before dist_plugin's handler, so it runs after
    print('initialized at exit:', dist.is_initialized(), flush=True)

atexit.register(report)
import dist_plugin  # noqa: F401,E402
dist.init_process_group('gloo', init_method='file://' + sys.argv[1],
                        rank=0, world_size=1)
dist.barrier()
'''


def test_process_group_destroyed_at_exit(tmp_path):
    """pytorch/pytorch#190489: gloo ranks that exit with a live default
    group can abort during interpreter shutdown; ``import dist_plugin``
    destroys the group first (mmengine's runners never do)."""
    script = tmp_path / 'exit_check.py'
    script.write_text(EXIT_SCRIPT, encoding='utf-8')
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path / 'store')],
        capture_output=True, text=True, timeout=120,
        env=dict(os.environ, CUDA_VISIBLE_DEVICES=''))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'initialized at exit: False' in proc.stdout, proc.stdout
