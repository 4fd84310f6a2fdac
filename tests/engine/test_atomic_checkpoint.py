"""Crash-safe checkpoint saving: SIGKILL a real Runner in the middle of a save.

A subprocess trains a tiny model carrying a 32 MB buffer with
``CheckpointHook(interval=1, max_keep_ckpts=1)``; writes into its work dir are
slowed down (1 MB chunks, 50 ms apart) so the parent can kill it while epoch
2's checkpoint is being written. Without the fix mmengine has already
deleted epoch 1's checkpoint and leaves a truncated epoch 2 one; with it the
previous checkpoint stays loadable and resuming reproduces an uninterrupted
run exactly.
"""
import glob
import importlib.util
import os
import os.path as osp
import subprocess
import sys
import time

import pytest
import torch

from dist_plugin.engine import atomic_checkpoint
from dist_plugin.engine.atomic_checkpoint import AtomicFile, atomic_write
from dist_plugin.upstream_fixes.safe_checkpoint import safe_torch_load

ATOMIC_MODULE = osp.abspath(atomic_checkpoint.__file__)
BALLAST_MB = 32

# Imported by the test (reference and resumed runs) and run as a script for
# the runs that get killed. It loads atomic_checkpoint.py by path so the
# killed runs start fast (no full dist_plugin import).
SCRIPT = r'''
import argparse, builtins, importlib.util, os, sys, time

import torch
from mmengine.dataset import pseudo_collate
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn
from torch.utils.data import DataLoader


class TinyModel(BaseModel):
    def __init__(self, ballast_mb):
        super().__init__()
        self.linear = nn.Linear(4, 1)
        self.register_buffer(
            'ballast', torch.arange(ballast_mb << 18, dtype=torch.float32))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(torch.stack(inputs))
        if mode == 'loss':
            return dict(loss=((out - 1) ** 2).mean())
        return out


class CountIters(Hook):
    def __init__(self):
        self.count = 0

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.count += 1


def build_runner(work_dir, ballast_mb, epochs=3, resume=False):
    torch.manual_seed(0)
    data = [dict(inputs=torch.randn(4)) for _ in range(4)]
    loader = DataLoader(data, batch_size=2, shuffle=False,
                        collate_fn=pseudo_collate)
    torch.manual_seed(1)
    return Runner(
        model=TinyModel(ballast_mb), work_dir=work_dir,
        train_dataloader=loader,
        train_cfg=dict(by_epoch=True, max_epochs=epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1,
                            max_keep_ckpts=1),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[CountIters()],
        resume=resume, default_scope='mmengine')


def slow_down_writes(work_dir, log_file):
    real_open = builtins.open

    class SlowFile:
        def __init__(self, f):
            self._f = f

        def write(self, data):
            view = memoryview(data).cast('B')
            for i in range(0, len(view), 1 << 20):
                self._f.write(view[i:i + (1 << 20)])
                self._f.flush()
                time.sleep(0.05)
            return len(view)

        def __getattr__(self, name):
            return getattr(self._f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

    def slow_open(file, mode='r', *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        path = os.path.abspath(str(file))
        if 'b' in mode and ('w' in mode or 'x' in mode) and \
                path.startswith(work_dir):
            with real_open(log_file, 'a') as log:
                log.write(path + '\n')
            return SlowFile(f)
        return f

    builtins.open = slow_open


if __name__ == '__main__':
    parser = argparse.ArgumentParser()
    parser.add_argument('work_dir')
    parser.add_argument('--atomic-module')
    parser.add_argument('--ballast-mb', type=int)
    args = parser.parse_args()
    work_dir = os.path.abspath(args.work_dir)
    if args.atomic_module:
        spec = importlib.util.spec_from_file_location(
            'atomic_checkpoint', args.atomic_module)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.apply()
    slow_down_writes(work_dir, work_dir + '.writes')
    build_runner(work_dir, args.ballast_mb).train()
'''


def test_importing_dist_plugin_applies_it():
    # First in this file: later tests call apply() themselves.
    import dist_plugin  # noqa: F401
    assert atomic_checkpoint.is_applied()


@pytest.fixture(scope='module')
def script(tmp_path_factory):
    path = tmp_path_factory.mktemp('atomic') / 'tiny_runner.py'
    path.write_text(SCRIPT)
    spec = importlib.util.spec_from_file_location('tiny_runner', str(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.path = str(path)
    return module


def _kill_during_second_save(script, work_dir: str, atomic: bool) -> dict:
    """Run the script; SIGKILL it once epoch 2's file has >= 4 MB."""
    cmd = [sys.executable, script.path, work_dir, '--ballast-mb',
           str(BALLAST_MB)]
    if atomic:
        cmd += ['--atomic-module', ATOMIC_MODULE]
    writes = work_dir + '.writes'
    with open(work_dir + '.log', 'w') as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 90
    target, size = None, 0
    try:
        while time.time() < deadline and proc.poll() is None:
            if target is None and osp.exists(writes):
                lines = open(writes).read().split()
                target = next((p for p in lines if 'epoch_2' in p), None)
            if target is not None and osp.exists(target):
                size = osp.getsize(target)
                if size >= 4 << 20:
                    proc.kill()  # SIGKILL
                    break
            time.sleep(0.01)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert target is not None and size >= 4 << 20, open(work_dir +
                                                        '.log').read()
    return dict(target=target, killed_at=size)


def _pointer(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read()


def test_upstream_save_loses_every_checkpoint_when_killed(script, tmp_path):
    """The defect the patch fixes (mmengine 0.10.7 as released)."""
    work_dir = str(tmp_path / 'work')
    _kill_during_second_save(script, work_dir, atomic=False)
    epoch_1 = osp.join(work_dir, 'epoch_1.pth')
    epoch_2 = osp.join(work_dir, 'epoch_2.pth')
    assert not osp.exists(epoch_1)  # deleted before epoch 2 was saved
    assert _pointer(work_dir) == epoch_1  # dangling
    assert osp.getsize(epoch_2) < BALLAST_MB << 20  # truncated
    with pytest.raises(Exception):
        safe_torch_load(epoch_2)


def test_killed_save_keeps_previous_checkpoint_and_resume_is_exact(
        script, tmp_path):
    work_dir = str(tmp_path / 'work')
    killed = _kill_during_second_save(script, work_dir, atomic=True)
    epoch_1 = osp.join(work_dir, 'epoch_1.pth')
    # The kill landed inside the temporary file of epoch 2.
    partial = glob.glob(osp.join(work_dir, '.epoch_2.pth.*.tmp'))
    assert partial == [killed['target']]
    assert 4 << 20 <= osp.getsize(partial[0]) < osp.getsize(epoch_1)
    assert not osp.exists(osp.join(work_dir, 'epoch_2.pth'))
    assert _pointer(work_dir) == epoch_1
    checkpoint = safe_torch_load(epoch_1)
    assert (checkpoint['meta']['epoch'], checkpoint['meta']['iter']) == (1, 2)
    assert torch.equal(checkpoint['state_dict']['ballast'],
                       torch.arange(BALLAST_MB << 18, dtype=torch.float32))

    # Resume from the surviving checkpoint; compare with an unbroken run.
    runner = script.build_runner(work_dir, BALLAST_MB, resume=True)
    runner.train()
    counter = next(h for h in runner.hooks if type(h).__name__ == 'CountIters')
    assert counter.count == 4  # epochs 2 and 3 only
    resumed = {k: v.clone() for k, v in runner.model.state_dict().items()}
    reference = script.build_runner(str(tmp_path / 'ref'), BALLAST_MB)
    reference.train()
    for key, value in reference.model.state_dict().items():
        assert torch.equal(resumed[key], value), key
    assert _pointer(work_dir) == osp.join(work_dir, 'epoch_3.pth')
    assert safe_torch_load(_pointer(work_dir))['meta']['iter'] == 6
    assert not osp.exists(epoch_1)  # max_keep_ckpts=1 still applies


def test_atomic_write_replaces_or_keeps(tmp_path):
    path = tmp_path / 'sub' / 'ckpt.pth'
    atomic_write(str(path), b'first')
    assert path.read_bytes() == b'first'
    atomic_write(str(path), b'second')
    assert path.read_bytes() == b'second'
    with pytest.raises(RuntimeError):
        with AtomicFile(str(path), 'wb') as f:
            f.write(b'half of the third')
            raise RuntimeError('killed')
    assert path.read_bytes() == b'second'
    assert os.listdir(path.parent) == ['ckpt.pth']  # no temp file left


def test_atomic_write_follows_symlinks(tmp_path):
    real = tmp_path / 'real.pth'
    real.write_bytes(b'old')
    link = tmp_path / 'latest.pth'
    link.symlink_to(real)
    atomic_write(str(link), b'new')
    assert link.is_symlink()
    assert real.read_bytes() == b'new'


def test_apply_patches_backend_hook_and_pointer(tmp_path, monkeypatch):
    from mmengine.fileio.backends import LocalBackend
    from mmengine.hooks import checkpoint_hook
    atomic_checkpoint.apply()
    atomic_checkpoint.apply()  # idempotent
    replaced = []
    real_replace = os.replace

    def spy(src, dst):
        replaced.append((osp.basename(src), osp.basename(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, 'replace', spy)
    LocalBackend().put(b'abc', str(tmp_path / 'a.pth'))
    LocalBackend().put_text('xyz', str(tmp_path / 'b.txt'))
    with checkpoint_hook.open(str(tmp_path / 'last_checkpoint'), 'w') as f:
        f.write('a.pth')
    assert [dst for _, dst in replaced] == ['a.pth', 'b.txt',
                                            'last_checkpoint']
    assert all(src.startswith(f'.{dst}.') and src.endswith('.tmp')
               for src, dst in replaced)
    assert (tmp_path / 'a.pth').read_bytes() == b'abc'
    assert (tmp_path / 'b.txt').read_text() == 'xyz'
    assert (tmp_path / 'last_checkpoint').read_text() == 'a.pth'
    assert getattr(checkpoint_hook.CheckpointHook._save_checkpoint_with_step,
                   '_dist_plugin_atomic')
