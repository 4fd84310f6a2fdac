"""A tiny DiST through the real command-line tools on generated videos.

- ``tools/dist_train.sh`` with two CPU ranks (torchrun + gloo): both ranks
  train, and the validation metric gathered from both ranks equals a
  single-process ``tools/test.py`` of the saved checkpoint.
- ``tools/train.py --amp`` on CPU: bfloat16 autocast, float32 weights.
- ``tools/train.py --resume`` after a SIGKILL in the middle of an epoch gives
  the run an uninterrupted training would have given, with random frame
  sampling, random crops, flips and mixup/cutmix on and two persistent
  dataloader workers (``ResumeRandomnessHook``).

Every run loads :data:`PROBE_MODULE` (written to ``tmp_path``, imported via
``custom_imports``): a hook that appends what each rank did to
``work_dir/probe_rank<r>.jsonl``.
"""
import json
import os
import os.path as osp
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
from helpers.tiny_models import tiny_dist_model
from helpers.video import make_video_dataset

from dist_plugin.upstream_fixes import safe_torch_load

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLIP_LEN = 8
NUM_PROCS = 2
#: Validation videos: odd, so DefaultSampler pads one duplicate for 2 ranks.
NUM_VAL = 9
PAUSE_ENV = 'DIST_PROBE_PAUSE_AT_ITER'
RUN_TIMEOUT = 240

PROBE_MODULE = '''
"""Probe hook for tests/engine/test_dist_training.py."""
import json
import os
import os.path as osp
import time

import torch
from mmengine.dist import get_dist_info
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmaction.registry import HOOKS


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


def _param_sum(module):
    return float(sum(p.detach().double().sum() for p in module.parameters()))


@HOOKS.register_module()
class TrainingProbeHook(Hook):
    """Appends one JSON line per event to work_dir/probe_rank<r>.jsonl.

    With the environment variable {pause_env}=N the process writes
    work_dir/paused and sleeps before its N-th (0-based) training iteration,
    until it is killed.
    """

    def before_run(self, runner):
        self.rank = get_dist_info()[0]
        self.path = osp.join(runner.work_dir, f'probe_rank{{self.rank}}.jsonl')
        self.in_train_iter = False
        self.neck_dtypes = set()

    def _write(self, **event):
        event['rank'] = self.rank
        with open(self.path, 'a', encoding='utf-8') as f:
            f.write(json.dumps(event) + '\\n')

    def before_train(self, runner):
        model = _unwrap(runner.model)
        model.neck.register_forward_hook(self._record_neck_dtype)
        self._write(
            event='before_train', neck_sum=_param_sum(model.neck),
            clip_sum=_param_sum(model.backbone),
            model_wrapper=type(runner.model).__name__,
            optim_wrapper=type(runner.optim_wrapper).__name__,
            cast_dtype=str(getattr(runner.optim_wrapper, 'cast_dtype', None)),
            world_size=get_dist_info()[1],
            backend=(torch.distributed.get_backend()
                     if torch.distributed.is_initialized() else None))

    def _record_neck_dtype(self, module, args, output):
        if self.in_train_iter:
            self.neck_dtypes.add(str(output[0].dtype))

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.in_train_iter = True
        pause = os.environ.get('{pause_env}')
        if pause is not None and runner.iter == int(pause):
            with open(osp.join(runner.work_dir, 'paused'), 'w') as f:
                f.write(str(runner.iter))
            time.sleep(300)  # the test kills the process long before
            os._exit(3)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.in_train_iter = False
        self._write(
            event='train_iter', epoch=runner.epoch, iter=runner.iter,
            samples=[s.metainfo['sample_idx']
                     for s in data_batch['data_samples']],
            input_sums=[float(x.double().sum())
                        for x in data_batch['inputs']],
            loss=float(outputs['loss']))

    def _record_eval(self, mode, outputs):
        for sample in outputs:
            self._write(
                event=mode, sample_idx=int(sample.metainfo['sample_idx']),
                label=int(sample.gt_label),
                scores=sample.pred_score.float().tolist())

    def after_val_iter(self, runner, batch_idx, data_batch=None,
                       outputs=None):
        self._record_eval('val_sample', outputs)

    def after_test_iter(self, runner, batch_idx, data_batch=None,
                        outputs=None):
        self._record_eval('test_sample', outputs)

    def after_val_epoch(self, runner, metrics=None):
        self._write(event='val_epoch', epoch=runner.epoch,
                    metrics={{k: float(v) for k, v in metrics.items()}})

    def after_train(self, runner):
        model = _unwrap(runner.model)
        self._write(
            event='after_train', neck_sum=_param_sum(model.neck),
            clip_sum=_param_sum(model.backbone),
            neck_dtypes=sorted(self.neck_dtypes),
            param_dtypes=sorted({{str(p.dtype) for p in model.parameters()}}))
'''.format(pause_env=PAUSE_ENV)


# --------------------------------------------------------------- helpers
def _pipeline(random_sampling: bool, augment: bool = False):
    crop_flip = [
        dict(type='RandomResizedCrop', area_range=(0.4, 1.0),
             aspect_ratio_range=(0.75, 1.333)),
        dict(type='Resize', scale=(32, 32), keep_ratio=False),
        dict(type='Flip', flip_ratio=0.5),
    ] if augment else []
    return [
        dict(type='DecordInit'),
        dict(type='UniformSample', clip_len=CLIP_LEN, num_clips=1,
             test_mode=not random_sampling),
        dict(type='DecordDecode'),
        dict(type='Resize', scale=(32, 32), keep_ratio=False),
        *crop_flip,
        dict(type='FormatShape', input_format='NCTHW'),
        # sample_idx lets the probe name each sample across ranks
        dict(type='PackActionInputs',
             meta_keys=('img_shape', 'filename', 'sample_idx'))
    ]


def _loader(files, num_classes, pipeline, test_mode, batch_size,
            num_workers=0):
    return dict(
        batch_size=batch_size,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        sampler=dict(type='DefaultSampler', shuffle=not test_mode),
        dataset=dict(
            type='RobustVideoDataset',
            ann_file=files.ann_file,
            data_prefix=dict(video=files.data_root),
            num_classes=num_classes,
            pipeline=pipeline,
            test_mode=test_mode))


def write_config(path, data, max_epochs=2, train_batch=2,
                 random_sampling=True, param_scheduler=None, augment=False,
                 num_workers=0, rng_hook=True):
    """Write a tiny-DiST config file; return its path.

    ``augment`` adds random crops, flips and mixup/cutmix to training;
    ``rng_hook`` adds ``ResumeRandomnessHook`` (as the default runtime does).
    """
    train, val = data
    names = train.class_names
    val_loader = _loader(val, len(names), _pipeline(False), True, 2)
    model = tiny_dist_model(
        num_classes=len(names), clip_len=CLIP_LEN, class_names=names)
    if augment:
        model['data_preprocessor']['blending'] = dict(
            type='RandomBatchAugment',
            augments=[
                dict(type='MixupBlending', alpha=0.8, num_classes=len(names)),
                dict(type='CutmixBlending', alpha=1., num_classes=len(names))
            ],
            probs=[0.5, 0.5])
    hooks = [dict(type='TrainingProbeHook')]
    if rng_hook:
        hooks.append(dict(type='ResumeRandomnessHook'))
    metric = dict(type='RobustAccMetric',
                  metric_list=('top_k_accuracy', 'mean_class_accuracy'))
    cfg = dict(
        default_scope='mmaction',
        custom_imports=dict(
            imports=['dist_plugin', 'dist_training_probe'],
            allow_failed_imports=False),
        model=model,
        train_dataloader=_loader(train, len(names),
                                 _pipeline(random_sampling, augment), False,
                                 train_batch, num_workers),
        val_dataloader=val_loader,
        # the validation data and pipeline, so test.py repeats validation
        test_dataloader=val_loader,
        val_evaluator=metric,
        test_evaluator=metric,
        train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                       val_interval=1),
        val_cfg=dict(type='ValLoop'),
        test_cfg=dict(type='TestLoop'),
        optim_wrapper=dict(
            constructor='TrainableOnlyOptimWrapperConstructor',
            optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4)),
        param_scheduler=param_scheduler or [],
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=hooks,
        # logged values are the iteration's own, not a running mean
        log_processor=dict(window_size=1),
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
        randomness=dict(seed=0, deterministic=True))
    text = ''.join(f'{key} = {value!r}\n' for key, value in cfg.items())
    path.write_text(text)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def tool_env(tmp_path, **extra):
    env = dict(os.environ)
    env.pop(PAUSE_ENV, None)
    env.update(
        PATH=osp.dirname(sys.executable) + os.pathsep + env.get('PATH', ''),
        PYTHONPATH=os.pathsep.join(
            [str(tmp_path), REPO_ROOT, env.get('PYTHONPATH', '')]),
        OMP_WAIT_POLICY='PASSIVE',
        CUDA_VISIBLE_DEVICES='')
    env.update(extra)
    return env


def run_tool(args, env):
    proc = subprocess.run(
        args, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


def train_cmd(config, work_dir, *args):
    return [sys.executable, 'tools/train.py', str(config), '--work-dir',
            str(work_dir), *args]


def read_probe(work_dir, rank=0):
    with open(osp.join(work_dir, f'probe_rank{rank}.jsonl'),
              encoding='utf-8') as f:
        return [json.loads(line) for line in f]


def events(probe, name):
    return [e for e in probe if e['event'] == name]


def read_scalars(log_dir):
    with open(osp.join(log_dir, 'vis_data', 'scalars.json'),
              encoding='utf-8') as f:
        return [json.loads(line) for line in f]


def log_dirs(work_dir):
    """The runs' timestamped log folders, oldest first."""
    return sorted(
        osp.join(work_dir, d) for d in os.listdir(work_dir)
        if osp.isdir(osp.join(work_dir, d, 'vis_data')))


def train_rows(scalars):
    return {row['step']: row for row in scalars if 'loss' in row}


def val_rows(scalars):
    return [row for row in scalars if 'acc/top1' in row]


#: Compared metrics. RobustAccMetric's integer ``acc/unscored`` is left
#: out: the test log json holds null for it (mmengine's
#: ``LoggerHook._process_tags`` drops numpy integers from message-hub values).
ACC_KEYS = ('acc/top1', 'acc/top5', 'acc/mean1')


def metrics_of(row):
    return {k: row[k] for k in ACC_KEYS}


def wait_for(predicate, proc, timeout, what, log):
    """Poll ``predicate`` until it holds; fail if ``proc`` ends first."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f'run ended (rc {proc.returncode}) before {what}:\n'
                        f'{log.read_text()[-5000:]}')
        if time.monotonic() > deadline:
            pytest.fail(f'timed out after {timeout} s waiting for {what}')
        time.sleep(0.2)


# -------------------------------------------------------------- fixtures
@pytest.fixture(scope='module')
def data(tmp_path_factory):
    """8 training videos (4 classes), 9 validation videos (classes 0-2)."""
    root = tmp_path_factory.mktemp('dist_training_videos')
    train = make_video_dataset(str(root / 'train'), num_per_class=2,
                               num_classes=4, split='train', seed=1)
    val = make_video_dataset(str(root / 'val'), num_per_class=3,
                             num_classes=3, split='val', seed=2)
    assert len(val.labels) == NUM_VAL
    return train, val


@pytest.fixture
def probe_dir(tmp_path):
    (tmp_path / 'dist_training_probe.py').write_text(PROBE_MODULE)
    return tmp_path


# ----------------------------------------------------------------- tests
def test_dist_train_matches_single_process_test(probe_dir, data):
    # torchrun ships with torch; tools/dist_train.sh needs it
    assert shutil.which('torchrun', path=osp.dirname(sys.executable))
    tmp_path = probe_dir
    config = write_config(tmp_path / 'tiny_dist.py', data, max_epochs=2)
    work_dir = tmp_path / 'work'
    run_tool([
        'bash', 'tools/dist_train.sh', str(config), str(NUM_PROCS),
        '--work-dir', str(work_dir)
    ], tool_env(tmp_path, PORT=str(free_port())))

    probes = [read_probe(work_dir, rank) for rank in range(NUM_PROCS)]
    # both ranks trained in one gloo group on disjoint halves of the data
    for rank, probe in enumerate(probes):
        start = events(probe, 'before_train')[0]
        assert start['world_size'] == NUM_PROCS
        assert start['backend'] == 'gloo'
        assert start['model_wrapper'] == 'MMDistributedDataParallel'
        iters = events(probe, 'train_iter')
        assert [e['iter'] for e in iters] == [0, 1, 2, 3]
        assert [e['epoch'] for e in iters] == [0, 0, 1, 1]
        assert all(0 < e['loss'] < 10 for e in iters)
    for epoch in (0, 1):
        seen = [{s for e in events(p, 'train_iter') if e['epoch'] == epoch
                 for s in e['samples']} for p in probes]
        assert not seen[0] & seen[1]
        assert seen[0] | seen[1] == set(range(len(data[0].labels)))
    # DDP kept the replicas equal; the neck trained, CLIP did not
    ends = [events(p, 'after_train')[0] for p in probes]
    starts = [events(p, 'before_train')[0] for p in probes]
    assert ends[0]['neck_sum'] == ends[1]['neck_sum']
    assert ends[0]['neck_sum'] != starts[0]['neck_sum']
    assert ends[0]['clip_sum'] == starts[0]['clip_sum']

    ckpt_path = work_dir / 'epoch_2.pth'
    ckpt = safe_torch_load(str(ckpt_path))
    assert ckpt['meta']['epoch'] == 2 and ckpt['meta']['iter'] == 4
    # ResumeRandomnessHook gathered the RNG states of both ranks
    assert ckpt['rng_states']['world_size'] == NUM_PROCS
    assert len(ckpt['rng_states']['states']) == NUM_PROCS

    # Validation: DefaultSampler pads 9 videos to 10 (rank 0: 0,2,4,6,8;
    # rank 1: 1,3,5,7 and 0 again); collect_results drops the duplicate.
    val_seen = [[e['sample_idx'] for e in events(p, 'val_sample')]
                for p in probes]
    last_epoch = [v[len(v) // 2:] for v in val_seen]  # 2nd of 2 val epochs
    assert last_epoch[0] == [0, 2, 4, 6, 8]
    assert last_epoch[1] == [1, 3, 5, 7, 0]
    # the metric every rank received is the one rank 0 logged
    scalars = read_scalars(log_dirs(work_dir)[-1])
    dist_metrics = metrics_of(val_rows(scalars)[-1])
    for probe in probes:
        got = metrics_of(events(probe, 'val_epoch')[-1]['metrics'])
        assert got == pytest.approx(dist_metrics, abs=1e-12)
    assert val_rows(scalars)[-1]['acc/unscored'] == 0

    # single process, same checkpoint, validation data + pipeline as test
    test_dir = tmp_path / 'test'
    run_tool([
        sys.executable, 'tools/test.py', str(config), str(ckpt_path),
        '--work-dir', str(test_dir)
    ], tool_env(tmp_path))
    test_log = next(test_dir.glob('*/*.json'))
    test_metrics = metrics_of(json.loads(test_log.read_text()))
    assert test_metrics == dist_metrics
    # and per video: each sample scored once, same scores as on the ranks
    single = {e['sample_idx']: e for e in events(
        read_probe(test_dir), 'test_sample')}
    assert sorted(single) == list(range(NUM_VAL))
    for probe in probes:
        for e in events(probe, 'val_sample')[-5:]:
            torch.testing.assert_close(
                torch.tensor(e['scores']),
                torch.tensor(single[e['sample_idx']]['scores']),
                rtol=1e-4, atol=1e-5)
            assert e['label'] == single[e['sample_idx']]['label']
    # the recomputed top-1 over the 9 unique videos is the logged one
    correct = [
        max(range(len(e['scores'])), key=e['scores'].__getitem__) ==
        e['label'] for e in single.values()
    ]
    assert dist_metrics['acc/top1'] == pytest.approx(
        sum(correct) / NUM_VAL, abs=1e-4)


def test_train_amp_bf16_on_cpu(probe_dir, data):
    tmp_path = probe_dir
    config = write_config(tmp_path / 'tiny_dist_amp.py', data, max_epochs=1,
                          train_batch=4)
    work_dir = tmp_path / 'work'
    run_tool(train_cmd(config, work_dir, '--amp'), tool_env(tmp_path))

    # the dumped config and the live runner both use the CPU AMP wrapper
    dumped = (work_dir / 'tiny_dist_amp.py').read_text()
    assert "type='CPUAwareAmpOptimWrapper'" in dumped
    probe = read_probe(work_dir)
    start, end = events(probe, 'before_train')[0], events(
        probe, 'after_train')[0]
    assert start['optim_wrapper'] == 'CPUAwareAmpOptimWrapper'
    assert start['cast_dtype'] == 'torch.bfloat16'
    # the neck ran under bf16 autocast, the parameters stayed float32
    assert end['neck_dtypes'] == ['torch.bfloat16']
    assert end['param_dtypes'] == ['torch.float32']
    assert end['neck_sum'] != start['neck_sum']
    assert end['clip_sum'] == start['clip_sum']

    losses = [row['loss'] for row in train_rows(
        read_scalars(log_dirs(work_dir)[-1])).values()]
    assert len(losses) == 2
    assert all(torch.isfinite(torch.tensor(losses))) and min(losses) > 0
    ckpt = safe_torch_load(str(work_dir / 'epoch_1.pth'))
    assert ckpt['meta']['iter'] == 2
    neck = {k: v for k, v in ckpt['state_dict'].items()
            if k.startswith('neck.')}
    assert neck and all(v.dtype == torch.float32 for v in neck.values())
    assert all(torch.isfinite(v).all() for v in neck.values())

    # the float32 validation of the AMP run equals a float32 tools/test.py
    # of its checkpoint: the text embeddings cached during the bf16 training
    # step are the float32 ones
    test_dir = tmp_path / 'amp_test'
    run_tool([
        sys.executable, 'tools/test.py', str(config),
        str(work_dir / 'epoch_1.pth'), '--work-dir', str(test_dir)
    ], tool_env(tmp_path))
    val_scores = {e['sample_idx']: e['scores']
                  for e in events(probe, 'val_sample')}
    test_scores = {e['sample_idx']: e['scores']
                   for e in events(read_probe(test_dir), 'test_sample')}
    assert sorted(val_scores) == sorted(test_scores) == list(range(NUM_VAL))
    for idx, scores in test_scores.items():
        torch.testing.assert_close(
            torch.tensor(val_scores[idx]), torch.tensor(scores), rtol=1e-6,
            atol=1e-7)
    test_metrics = metrics_of(json.loads(next(
        test_dir.glob('*/*.json')).read_text()))
    assert test_metrics == metrics_of(events(probe, 'val_epoch')[-1]['metrics'])


def test_resume_after_kill_matches_uninterrupted(probe_dir, data):
    tmp_path = probe_dir
    iters_per_epoch, max_epochs, warmup = 4, 3, 5
    total = iters_per_epoch * max_epochs
    # warm-up + cosine by iteration: the run resumes at iteration 4, the
    # warm-up's last, and crosses into the cosine phase
    schedule = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
             end=warmup),
        dict(type='CosineAnnealingLR', T_max=total - warmup, eta_min=1e-5,
             by_epoch=False, begin=warmup, end=total)
    ]
    # every source of randomness on: random frame sampling, crops, flips,
    # mixup/cutmix, two persistent workers; ResumeRandomnessHook stores the
    # RNG states in the checkpoints and seeds the workers resume-exactly
    config = write_config(
        tmp_path / 'tiny_dist_resume.py', data, max_epochs=max_epochs,
        train_batch=2, random_sampling=True, param_scheduler=schedule,
        augment=True, num_workers=2,
        rng_hook=os.environ.get('DIST_TEST_RESUME_WITHOUT_RNG_HOOK') != '1')
    # one thread per run: the reference runs beside the other two, and both
    # do the same arithmetic
    env = tool_env(tmp_path, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    ref_dir, work_dir = tmp_path / 'reference', tmp_path / 'work'
    pause_at = iters_per_epoch + 1  # 2nd iteration of epoch 2
    procs = []

    def start(work, log_name, **extra_env):
        # output to files: a full pipe would stall a run nobody reads
        with open(tmp_path / log_name, 'w') as log:
            procs.append(subprocess.Popen(
                train_cmd(config, work), cwd=REPO_ROOT,
                env=dict(env, **extra_env), stdout=log,
                stderr=subprocess.STDOUT))
        return procs[-1]

    try:
        reference = start(ref_dir, 'reference.log')
        victim = start(work_dir, 'victim.log', **{PAUSE_ENV: str(pause_at)})
        wait_for(lambda: (work_dir / 'paused').is_file(), victim,
                 RUN_TIMEOUT, 'the run reached epoch 2',
                 tmp_path / 'victim.log')
        # epoch 1 is saved, epoch 2 has logged an iteration, not finished
        assert (work_dir / 'epoch_1.pth').is_file()
        assert not (work_dir / 'epoch_2.pth').exists()
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=30) == -signal.SIGKILL
        killed_steps = sorted(
            train_rows(read_scalars(log_dirs(work_dir)[-1])))
        assert killed_steps == list(range(1, pause_at + 1))

        run_tool(train_cmd(config, work_dir, '--resume'), env)
        assert reference.wait(timeout=RUN_TIMEOUT) == 0, (
            tmp_path / 'reference.log').read_text()[-5000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    # the resumed run started from epoch_1.pth (iteration 4)
    resumed_probe = [
        e for e in read_probe(work_dir) if e['event'] == 'train_iter'
    ]
    resumed_iters = [e['iter'] for e in resumed_probe][pause_at:]
    assert resumed_iters == list(range(iters_per_epoch, total))
    # the data of every resumed iteration (frames, crops, flips drawn in the
    # workers) is the uninterrupted run's
    ref_probe = [e for e in read_probe(ref_dir) if e['event'] == 'train_iter']
    for got, want in zip(resumed_probe[pause_at:],
                         ref_probe[iters_per_epoch:]):
        assert got['iter'] == want['iter']
        assert got['samples'] == want['samples'], got['iter']
        assert got['input_sums'] == want['input_sums'], got['iter']
    # and randomness is really on: a video's clip differs between epochs
    per_epoch = [{s: v for e in ref_probe if e['epoch'] == epoch
                  for s, v in zip(e['samples'], e['input_sums'])}
                 for epoch in range(max_epochs)]
    assert any(per_epoch[0][s] != per_epoch[1][s] for s in per_epoch[0])
    ckpt_1 = safe_torch_load(str(work_dir / 'epoch_1.pth'))
    assert len(ckpt_1['rng_states']['states']) == 1
    ckpt = safe_torch_load(str(work_dir / f'epoch_{max_epochs}.pth'))
    ref_ckpt = safe_torch_load(str(ref_dir / f'epoch_{max_epochs}.pth'))
    assert ckpt['meta']['iter'] == ref_ckpt['meta']['iter'] == total
    assert ckpt['meta']['epoch'] == ref_ckpt['meta']['epoch'] == max_epochs

    resumed = read_scalars(log_dirs(work_dir)[-1])
    ref = read_scalars(log_dirs(ref_dir)[-1])
    resumed_train, ref_train = train_rows(resumed), train_rows(ref)
    assert sorted(resumed_train) == list(
        range(iters_per_epoch + 1, total + 1))
    for step, row in resumed_train.items():
        assert row['lr'] == ref_train[step]['lr'], step
        assert row['loss'] == ref_train[step]['loss'], step
    # the schedule really warmed up and then decayed
    lrs = [ref_train[s]['lr'] for s in sorted(ref_train)]
    assert lrs[0] == pytest.approx(1e-4) and max(lrs) == pytest.approx(1e-3)
    assert lrs[:warmup] == sorted(set(lrs[:warmup]))  # rising
    assert lrs[warmup:] == sorted(lrs[warmup:], reverse=True)  # decaying
    assert lrs[-1] < lrs[warmup] / 2
    assert [r['step'] for r in val_rows(resumed)] == [2, 3]
    assert metrics_of(val_rows(resumed)[-1]) == metrics_of(val_rows(ref)[-1])
    # bit-identical weights and optimizer state
    assert ckpt['state_dict'].keys() == ref_ckpt['state_dict'].keys()
    for key, value in ckpt['state_dict'].items():
        assert torch.equal(value, ref_ckpt['state_dict'][key]), key
    for state, ref_state in zip(ckpt['optimizer']['state'].values(),
                                ref_ckpt['optimizer']['state'].values()):
        for key, value in state.items():
            assert torch.equal(torch.as_tensor(value),
                               torch.as_tensor(ref_state[key])), key
