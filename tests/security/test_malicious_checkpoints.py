"""A checkpoint whose pickle runs a shell command is refused by every path
that loads checkpoints, and the command never runs.

The payload unpickles as ``os.system('touch MARKER')``. Each row of
``LOAD_PATHS`` feeds it to one loader (mmengine's Runner, the tools, the
downloader, the CLIP weight loaders) and checks the loader's own refusal;
the shared test then checks that ``MARKER`` was never created. Some rows
repeat checks of tests/engine/test_upstream_fixes.py and
tests/tools/test_download.py so that the matrix is complete in one place.

``TORCHSCRIPT_PATHS`` does the same with a real TorchScript archive whose
code (``__setstate__``, run by ``torch.jit.load``) creates ``MARKER``
through ``torch.from_file(..., shared=True)``: every path that accepts CLIP
weights must read such archives as data and never run their code.
"""
import functools
import http.server
import importlib.util
import io
import os
import os.path as osp
import pickle
import re
import shlex
import subprocess
import sys
import threading
import uuid
import zipfile
from types import SimpleNamespace
from typing import Callable, Dict, List, Tuple

import pytest
import torch
from helpers.tiny_models import TINY_CLIP
from helpers.video import make_video_dataset
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

from dist_plugin.apis import load_dist_checkpoint
from dist_plugin.apis.inference import init_dist_recognizer
from dist_plugin.checkpoint.download import (NotACheckpointError,
                                             fetch_checkpoint)
from dist_plugin.models.backbones import FrozenCLIPViT
from dist_plugin.models.clip_builder import build_clip, load_clip_state_dict
from dist_plugin.models.heads import CLIPTextHead

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_DEMO_CONFIG = osp.join(REPO, 'configs', 'demo', 'dist_tiny_demo.py')
#: What torch says when weights_only refuses the payload's global
#: ("Unsupported global: GLOBAL posix.system" or, from torch 2.10 on,
#: "Trying to load unsupported GLOBAL posix.system ...").
REFUSAL = r'(?i)unsupported global:? (GLOBAL )?posix\.system'


class RunsCommand:
    """Unpickles as a call to ``os.system`` that creates ``marker``."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {shlex.quote(self.marker)}', ))


def save_malicious(path: str, marker: str) -> str:
    """An mmengine-looking checkpoint with the payload in its message hub."""
    torch.save(
        dict(
            meta=dict(epoch=1, iter=4),
            state_dict={'fc.weight': torch.zeros(2, 4)},
            message_hub=RunsCommand(marker)), path)
    return path


class WritesMarkerOnLoad(nn.Module):
    """A module whose TorchScript ``__setstate__`` creates ``marker``.

    ``torch.jit.load`` runs ``__setstate__``; ``torch.from_file`` with
    ``shared=True`` creates (or overwrites) the file it maps.
    """

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker
        self.weight = nn.Parameter(torch.zeros(2))
        self.mapped = torch.zeros(4, dtype=torch.uint8)

    @torch.jit.export
    def __getstate__(self) -> Tuple[str, torch.Tensor, bool]:
        return (self.marker, self.weight, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[str, torch.Tensor, bool]) -> None:
        self.marker = state[0]
        self.weight = state[1]
        self.training = state[2]
        self.mapped = torch.from_file(
            self.marker, shared=True, size=4, dtype=torch.uint8)
        self.mapped.fill_(65)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight.sum()


class FakeOpenAICLIP(nn.Module):
    """CLIP-looking weights with the payload as one submodule."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.zeros(16, 32))
        self.payload = WritesMarkerOnLoad(marker)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.payload(x) + self.positional_embedding.sum()


def save_torchscript_code_payload(path: str, marker: str) -> str:
    """A real TorchScript archive whose code creates ``marker`` on load."""
    torch.jit.script(FakeOpenAICLIP(marker)).save(path)
    assert not osp.exists(marker)
    return path


def save_torchscript_disguise(path: str, marker: str) -> str:
    """A real TorchScript archive whose pickles are replaced by the payload
    (``clip_builder`` reads archives with a ``code/`` folder with its
    restricted unpickler)."""
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(nn.Linear(2, 2)), buffer)
    payload = pickle.dumps(dict(meta=RunsCommand(marker)), protocol=2)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as src, \
            zipfile.ZipFile(path, 'w') as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith(('/data.pkl', '/constants.pkl')):
                data = payload
            dst.writestr(info, data)
    return path


def load_tool(name: str):
    """Import ``tools/<name>.py`` as a module."""
    spec = importlib.util.spec_from_file_location(
        f'_security_{name}', osp.join(REPO, 'tools', name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(name: str, args: List[str], cwd: str):
    """Run ``tools/<name>.py`` in a fresh interpreter."""
    env = dict(os.environ, OMP_WAIT_POLICY='PASSIVE')
    return subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', name + '.py'), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300)


# ------------------------------------------------------------------ fixtures
class ToyModel(BaseModel):
    """A linear model for Runners that never get past loading."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, inputs, labels=None, mode='tensor'):
        logits = self.fc(inputs)
        if mode == 'loss':
            return dict(loss=nn.functional.cross_entropy(logits, labels))
        return logits


class ToyDataset(torch.utils.data.Dataset):

    def __len__(self) -> int:
        return 4

    def __getitem__(self, idx: int) -> dict:
        return dict(inputs=torch.full((4, ), float(idx)), labels=idx % 2)


def toy_runner(work_dir: str, **kwargs) -> Runner:
    """A trainable Runner (AdamW, one epoch) on a toy model."""
    return Runner(
        model=ToyModel(),
        work_dir=work_dir,
        experiment_name=f'toy_{uuid.uuid4().hex[:8]}',
        train_dataloader=dict(
            dataset=ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2,
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1)),
        default_scope='mmengine',
        **kwargs)


@pytest.fixture(scope='module')
def served_dir(tmp_path_factory):
    """A folder served on 127.0.0.1; yields ``(folder, base_url)``."""
    folder = str(tmp_path_factory.mktemp('served'))

    class Quiet(http.server.SimpleHTTPRequestHandler):

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), functools.partial(Quiet, directory=folder))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f'http://127.0.0.1:{server.server_address[1]}'
    server.shutdown()
    server.server_close()


@pytest.fixture(scope='module')
def tiny_config(tmp_path_factory):
    """The tiny DiST demo config on a few real videos, CPU friendly."""
    root = str(tmp_path_factory.mktemp('tiny_data'))
    train = make_video_dataset(root, num_per_class=1, split='train')
    val = make_video_dataset(root, num_per_class=1, split='val')
    loader = "dict(batch_size=2, num_workers=0, persistent_workers=False, " \
        "dataset=dict(ann_file={ann!r}, data_prefix=dict(video={root!r})))"
    config = osp.join(root, 'tiny_dist.py')
    with open(config, 'w', encoding='utf-8') as f:
        f.write('\n'.join([
            f'_base_ = [{TINY_DEMO_CONFIG!r}]',
            'train_dataloader = ' + loader.format(ann=train.ann_file,
                                                  root=root),
            'val_dataloader = ' + loader.format(ann=val.ann_file, root=root),
            'test_dataloader = ' + loader.format(ann=val.ann_file, root=root),
            'train_cfg = dict(max_epochs=1, val_interval=1)',
            '',
        ]))
    return config


@pytest.fixture
def ctx(tmp_path, served_dir, monkeypatch, capsys):
    """The malicious files and everything a load path needs."""
    folder, base_url = served_dir
    marker = str(tmp_path / 'MARKER')
    name = f'evil_{uuid.uuid4().hex[:8]}.pth'
    save_malicious(osp.join(folder, name), marker)
    # torch.hub caches URL downloads under $TORCH_HOME
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    monkeypatch.setenv('OMP_WAIT_POLICY', 'PASSIVE')
    return SimpleNamespace(
        tmp=tmp_path,
        marker=marker,
        evil=save_malicious(str(tmp_path / 'evil.pth'), marker),
        evil_url=f'{base_url}/{name}',
        capsys=capsys)


# ------------------------------------------------------------- load paths
def runner_load_from_file(ctx, config):
    runner = Runner(
        model=ToyModel(), work_dir=str(ctx.tmp / 'work'), load_from=ctx.evil)
    with pytest.raises(pickle.UnpicklingError, match=REFUSAL):
        runner.load_or_resume()


def runner_load_from_url(ctx, config):
    runner = Runner(
        model=ToyModel(),
        work_dir=str(ctx.tmp / 'work'),
        load_from=ctx.evil_url)
    with pytest.raises(pickle.UnpicklingError, match=REFUSAL):
        runner.load_or_resume()


def runner_resume_from_load_from(ctx, config):
    runner = toy_runner(str(ctx.tmp / 'work'), resume=True,
                        load_from=ctx.evil)
    with pytest.raises(pickle.UnpicklingError, match=REFUSAL):
        runner.train()
    assert runner.iter == 0


def runner_auto_resume_last_checkpoint(ctx, config):
    work_dir = ctx.tmp / 'work'
    work_dir.mkdir()
    # CheckpointHook writes this pointer; auto-resume follows it.
    (work_dir / 'last_checkpoint').write_text(ctx.evil)
    runner = toy_runner(str(work_dir), resume=True)
    with pytest.raises(pickle.UnpicklingError, match=REFUSAL):
        runner.train()
    assert runner.iter == 0


def train_tool_resume_path(ctx, config):
    train = load_tool('train')
    with pytest.raises(pickle.UnpicklingError, match=REFUSAL):
        train.main([config, '--work-dir', str(ctx.tmp / 'work'),
                    '--resume', ctx.evil])


def train_tool_auto_resume(ctx, config):
    work_dir = ctx.tmp / 'work'
    work_dir.mkdir()
    (work_dir / 'last_checkpoint').write_text(ctx.evil)
    train = load_tool('train')
    with pytest.raises(pickle.UnpicklingError, match=REFUSAL):
        train.main([config, '--work-dir', str(work_dir), '--resume'])


def tools_test_file(ctx, config):
    result = run_tool(
        'test', [config, ctx.evil, '--work-dir', str(ctx.tmp / 'work')],
        cwd=str(ctx.tmp))
    assert result.returncode != 0
    assert re.search(REFUSAL, result.stderr), result.stderr[-2000:]


def tools_test_url(ctx, config):
    result = run_tool(
        'test', [config, ctx.evil_url, '--work-dir', str(ctx.tmp / 'work')],
        cwd=str(ctx.tmp))
    assert result.returncode != 0
    assert re.search(REFUSAL, result.stderr), result.stderr[-2000:]


def convert_tool_subprocess(ctx, config):
    dst = ctx.tmp / 'out' / 'converted.pth'
    result = run_tool('convert_official_checkpoint', [ctx.evil, str(dst)],
                      cwd=str(ctx.tmp))
    assert result.returncode != 0
    assert re.search(REFUSAL, result.stderr), result.stderr[-2000:]
    assert not dst.exists() and not osp.exists(str(dst) + '.tmp')


def fetch_checkpoint_url(ctx, config):
    out_dir = ctx.tmp / 'cache'
    with pytest.raises(NotACheckpointError, match='weights_only=True'):
        fetch_checkpoint(ctx.evil_url, out_dir=str(out_dir), progress=False)
    assert os.listdir(out_dir) == []  # downloaded, refused, removed


def download_tool_url(ctx, config):
    out_dir = ctx.tmp / 'cache'
    download = load_tool('download_checkpoint')
    code = download.main([ctx.evil_url, '--out', str(out_dir),
                          '--no-progress'])
    assert code == 1
    assert 'not a loadable PyTorch checkpoint' in ctx.capsys.readouterr().err
    assert os.listdir(out_dir) == []


def fetch_checkpoint_local_file(ctx, config):
    out_dir = ctx.tmp / 'cache'
    with pytest.raises(NotACheckpointError, match='weights_only=True'):
        fetch_checkpoint(ctx.evil, out_dir=str(out_dir), progress=False)
    assert osp.isfile(ctx.evil)  # a user's own file is refused, not deleted
    assert not out_dir.exists() or os.listdir(out_dir) == []


def clip_backbone_pretrained(ctx, config):
    with pytest.raises(pickle.UnpicklingError, match=REFUSAL):
        FrozenCLIPViT(arch=TINY_CLIP, pretrained=ctx.evil)


def clip_text_head_pretrained(ctx, config):
    with pytest.raises(pickle.UnpicklingError, match=REFUSAL):
        CLIPTextHead(
            num_classes=2,
            in_channels=TINY_CLIP['embed_dim'],
            arch=TINY_CLIP,
            pretrained=ctx.evil,
            class_names=['a', 'b'])


def clip_pretrained_torchscript_disguise(ctx, config):
    path = save_torchscript_disguise(str(ctx.tmp / 'evil_ts.pt'), ctx.marker)
    refusal = r'global posix\.system; only tensors and plain containers'
    with pytest.raises(pickle.UnpicklingError, match=refusal):
        FrozenCLIPViT(arch=TINY_CLIP, pretrained=path)
    with pytest.raises(pickle.UnpicklingError, match=refusal):
        CLIPTextHead(
            num_classes=2,
            in_channels=TINY_CLIP['embed_dim'],
            arch=TINY_CLIP,
            pretrained=path)


def load_dist_checkpoint_api(ctx, config):
    with pytest.raises(pickle.UnpicklingError, match=REFUSAL):
        load_dist_checkpoint(nn.Linear(4, 2), ctx.evil)
    with pytest.raises(pickle.UnpicklingError, match=REFUSAL):
        load_dist_checkpoint(nn.Linear(4, 2), ctx.evil_url)


def init_dist_recognizer_api(ctx, config):
    # tools/infer.py and tools/zeroshot_classifier.py load through here
    # display names given, so the demo's class-name file (made by the demo
    # run, relative to its cwd) is not needed here
    with pytest.raises(pickle.UnpicklingError, match=REFUSAL):
        init_dist_recognizer(config, ctx.evil,
                             class_names=['a', 'b', 'c', 'd'])


LOAD_PATHS: Dict[str, Callable] = {
    'Runner-load_from-file': runner_load_from_file,
    'Runner-load_from-url': runner_load_from_url,
    'Runner-resume-load_from': runner_resume_from_load_from,
    'Runner-resume-last_checkpoint': runner_auto_resume_last_checkpoint,
    'tools/train.py--resume-PATH': train_tool_resume_path,
    'tools/train.py--resume-auto': train_tool_auto_resume,
    'tools/test.py-file': tools_test_file,
    'tools/test.py-url': tools_test_url,
    'tools/convert_official_checkpoint.py': convert_tool_subprocess,
    'fetch_checkpoint-url': fetch_checkpoint_url,
    'tools/download_checkpoint.py-url': download_tool_url,
    'fetch_checkpoint-local': fetch_checkpoint_local_file,
    'FrozenCLIPViT-pretrained': clip_backbone_pretrained,
    'CLIPTextHead-pretrained': clip_text_head_pretrained,
    'CLIP-pretrained-torchscript-disguise':
    clip_pretrained_torchscript_disguise,
    'load_dist_checkpoint': load_dist_checkpoint_api,
    'init_dist_recognizer': init_dist_recognizer_api,
}


# ------------------------------------------- TorchScript code payload
#: The refusal of :mod:`dist_plugin.models.torchscript_weights`.
TS_REFUSAL = (r'WritesMarkerOnLoad defines __setstate__.*refused \(weights '
              r'are never read by running TorchScript\)')


def ts_backbone(ctx, path, config):
    with pytest.raises(pickle.UnpicklingError, match=TS_REFUSAL):
        FrozenCLIPViT(arch=TINY_CLIP, pretrained=path)


def ts_text_head(ctx, path, config):
    with pytest.raises(pickle.UnpicklingError, match=TS_REFUSAL):
        CLIPTextHead(
            num_classes=2,
            in_channels=TINY_CLIP['embed_dim'],
            arch=TINY_CLIP,
            pretrained=path,
            class_names=['a', 'b'])


def ts_clip_builder_api(ctx, path, config):
    with pytest.raises(pickle.UnpicklingError, match=TS_REFUSAL):
        load_clip_state_dict(path)
    with pytest.raises(pickle.UnpicklingError, match=TS_REFUSAL):
        build_clip(TINY_CLIP, path)


def ts_train_tool_config(ctx, path, config):
    train = load_tool('train')
    with pytest.raises(pickle.UnpicklingError, match=TS_REFUSAL):
        train.main([
            config, '--work-dir', str(ctx.tmp / 'work'), '--cfg-options',
            f'model.backbone.pretrained={path}'
        ])


def ts_mmaction_init_recognizer(ctx, path, config):
    from mmaction.apis import init_recognizer
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    # init_recognizer itself clears backbone.pretrained; a CLIP text head
    # keeps its own
    cfg.model.cls_head = dict(
        type='CLIPTextHead', num_classes=4,
        in_channels=cfg.model.neck.embed_dim, arch=cfg.model.backbone.arch,
        pretrained=path, class_names=['a', 'b', 'c', 'd'])
    with pytest.raises(pickle.UnpicklingError, match=TS_REFUSAL):
        init_recognizer(cfg, device='cpu')


TORCHSCRIPT_PATHS: Dict[str, Callable] = {
    'FrozenCLIPViT-pretrained': ts_backbone,
    'CLIPTextHead-pretrained': ts_text_head,
    'clip_builder-load_clip_state_dict-build_clip': ts_clip_builder_api,
    'tools/train.py-config-pretrained': ts_train_tool_config,
    'mmaction-init_recognizer-config-pretrained': ts_mmaction_init_recognizer,
}


def test_the_torchscript_payload_runs_under_jit_load(tmp_path):
    """Control: ``torch.jit.load`` of the archive creates the marker."""
    marker = str(tmp_path / 'MARKER')
    path = save_torchscript_code_payload(str(tmp_path / 'evil.pt'), marker)
    torch.jit.load(path)
    assert osp.exists(marker)


@pytest.mark.parametrize('load_path', list(TORCHSCRIPT_PATHS))
def test_clip_weight_paths_never_run_torchscript(load_path, ctx, tiny_config,
                                                 monkeypatch):
    path = save_torchscript_code_payload(str(ctx.tmp / 'ViT-B-16.pt'),
                                         ctx.marker)

    def refuse(*args, **kwargs):
        raise AssertionError('torch.jit.load called on CLIP weights')

    monkeypatch.setattr(torch.jit, 'load', refuse)
    TORCHSCRIPT_PATHS[load_path](ctx, path, tiny_config)
    assert not osp.exists(ctx.marker), f'{load_path} ran the TorchScript'


def test_the_payload_runs_when_unpickled_without_limits(tmp_path):
    """Control: the file really runs the command when unpickled."""
    marker = str(tmp_path / 'MARKER')
    path = save_malicious(str(tmp_path / 'evil.pth'), marker)
    torch.load(path, weights_only=False)
    assert osp.exists(marker)


@pytest.mark.parametrize('load_path', list(LOAD_PATHS))
def test_every_load_path_refuses_the_payload(load_path, ctx, tiny_config):
    LOAD_PATHS[load_path](ctx, tiny_config)
    assert not osp.exists(ctx.marker), f'{load_path} ran the payload'
