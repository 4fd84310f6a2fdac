"""STAN as the video encoder of mmaction's retrieval stack, for real:
VideoTextDataset with encoded videos and captions, the symmetric InfoNCE
loss over a batch gathered from two gloo processes, and RetrievalMetric."""
import copy
import json
import os
import os.path as osp
import re
import shutil
import socket
import subprocess
import sys

import pytest
from helpers.tiny_models import TINY_CLIP
from helpers.video import make_video_dataset
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MSRVTT = osp.join(
    REPO, 'projects', 'stan', 'configs',
    'stan-self_vit-b32_clip-openai-pre_8xb16-u12-10e_msrvtt-9k-rgb.py')
TIMEOUT = 300


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _env(tmp_path):
    env = dict(os.environ)
    env.update(
        PATH=osp.dirname(sys.executable) + os.pathsep + env.get('PATH', ''),
        PYTHONPATH=os.pathsep.join(
            [REPO, env.get('PYTHONPATH', '')]),
        OMP_WAIT_POLICY='PASSIVE', OMP_NUM_THREADS='1',
        CUDA_VISIBLE_DEVICES='')
    return env


def _run(args, tmp_path):
    proc = subprocess.run(args, cwd=REPO, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


def _tiny_model_cfg():
    cfg = copy.deepcopy(Config.fromfile(MSRVTT).model.to_dict())
    cfg['backbone'].update(arch=copy.deepcopy(TINY_CLIP), pretrained=None,
                           out_indices=(-2, -1))
    cfg['neck'].update(in_channels=64, num_layers=2, num_heads=2)
    cfg.update(text_arch=copy.deepcopy(TINY_CLIP), text_pretrained=None)
    return cfg


def _captions(tmp_path):
    """4 encoded videos with 2 captions each (8 video-text pairs)."""
    files = make_video_dataset(str(tmp_path / 'msrvtt'), num_per_class=1,
                               num_classes=4, num_frames=16, seed=5)
    ann = {}
    with open(files.ann_file, encoding='utf-8') as f:
        for line in f:
            name, label = line.split()
            words = files.class_names[int(label)]
            ann[name] = [f'a shape is {words}', f'video {name} shows {words}']
    path = tmp_path / 'msrvtt' / 'captions.json'
    path.write_text(json.dumps(ann), encoding='utf-8')
    return files.data_root, str(path)


def _tiny_config(tmp_path):
    data_root, ann_file = _captions(tmp_path)
    cfg = Config.fromfile(MSRVTT)
    cfg.model = _tiny_model_cfg()
    cfg.optim_wrapper.type = 'OptimWrapper'  # no AMP on CPU
    for key in ('train', 'val', 'test'):
        pipeline = cfg[f'{key}_dataloader'].dataset.pipeline \
            if key != 'test' else None
        if pipeline is None:
            continue
        for step in pipeline:
            if step['type'] == 'UniformSample':
                step['clip_len'] = 4
            if step['type'] == 'OpenCLIPTokenize':
                step['max_tokens'] = 16  # the tiny text tower's context
            if step['type'] == 'Resize' and step['scale'] == (224, 224):
                step['scale'] = (32, 32)
            if step['type'] == 'Resize' and step['scale'] == (-1, 224):
                step['scale'] = (-1, 32)
            if step['type'] == 'Resize' and step['scale'] == (-1, 256):
                step['scale'] = (-1, 36)
            if step['type'] == 'CenterCrop':
                step['crop_size'] = 32
    for key in ('train', 'val'):
        loader = cfg[f'{key}_dataloader']
        loader.batch_size = 2
        loader.num_workers = 0
        loader.persistent_workers = False
        loader.dataset.ann_file = ann_file
        loader.dataset.data_root = ''
        loader.dataset.data_prefix = dict(video=data_root)
    cfg.test_dataloader = copy.deepcopy(cfg.val_dataloader)
    cfg.train_cfg.max_epochs = 1
    cfg.param_scheduler = []
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.env_cfg = dict(dist_cfg=dict(backend='gloo'))
    cfg.randomness = dict(seed=0)
    path = tmp_path / 'tiny_retrieval.py'
    cfg.dump(str(path))
    return path


def test_msrvtt_config_is_the_official_recipe():
    cfg = Config.fromfile(MSRVTT)
    assert cfg.model.type == 'STANSimilarity' and cfg.model.tau == 0.01
    assert cfg.model.neck.num_layers == 4
    assert cfg.train_dataloader.dataset.type == 'VideoTextDataset'
    steps = {s['type']: s for s in cfg.train_dataloader.dataset.pipeline}
    assert steps['UniformSample']['clip_len'] == 12
    assert steps['OpenCLIPTokenize']['max_tokens'] == 32
    assert cfg.val_evaluator.type == 'RetrievalMetric'
    assert cfg.optim_wrapper.optimizer.lr == 2e-6
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys == {
        'neck': dict(lr_mult=10.)}
    # the schedule leaves its warm-up long before the last epoch
    warmup, cosine = cfg.param_scheduler
    assert warmup.end < cfg.train_cfg.max_epochs == cosine.end


def test_two_process_training_and_retrieval_metric(tmp_path):
    assert shutil.which('torchrun', path=osp.dirname(sys.executable))
    config = _tiny_config(tmp_path)
    work = tmp_path / 'work'
    _run([
        'torchrun', '--nproc_per_node=2', f'--master_port={_free_port()}',
        'tools/train.py', str(config), '--launcher', 'pytorch',
        '--work-dir', str(work)
    ], tmp_path)
    scalars = [
        json.loads(line) for line in open(
            next(work.glob('*/vis_data/scalars.json')), encoding='utf-8')
    ]
    train_rows = [s for s in scalars if 'loss' in s]
    assert len(train_rows) == 2  # 8 pairs / (2 ranks x 2)
    for row in train_rows:
        assert 0 < row['loss_v2t'] < 10 and 0 < row['loss_t2v'] < 10
    val = [s for s in scalars if 'retrieval/R1' in s]
    assert len(val) == 1
    keys = ('R1', 'R5', 'R10', 'MdR', 'MnR')
    # RetrievalMetric gathered both ranks: equals a single-process test
    test_dir = tmp_path / 'test'
    _run([
        sys.executable, 'tools/test.py', str(config),
        str(work / 'epoch_1.pth'), '--work-dir', str(test_dir)
    ], tmp_path)
    test = json.loads(
        next(test_dir.glob('*/*.json')).read_text(encoding='utf-8'))
    for key in keys:
        assert val[0][f'retrieval/{key}'] == pytest.approx(
            test[f'retrieval/{key}']), key
    # 4 videos x 2 captions: each text has 8 candidates, R@10 covers all
    assert test['retrieval/R10'] == 100.0
    assert 1 <= test['retrieval/MdR'] <= 8


GATHER_SCRIPT = r'''
import json, sys
import torch
import torch.distributed as dist
import dist_plugin, dist_plugin_projects.stan  # noqa: F401
from mmengine.registry import init_default_scope
from mmaction.registry import MODELS
init_default_scope('mmaction')
cfg = json.loads(open(sys.argv[1]).read())
cfg.pop('data_preprocessor')
torch.manual_seed(0)
model = MODELS.build(cfg).eval()
for t_layer in model.neck.t_layers:  # leave the identity start
    torch.nn.init.normal_(t_layer.temporal_fc.weight, std=0.05)
gen = torch.Generator().manual_seed(1)
video = torch.randn(4, 1, 3, 4, 32, 32, generator=gen)
text = torch.randint(1, 400, (4, 16), generator=gen)
text[:, 7] = 49407  # end-of-text token (argmax pooling)
param = model.neck.s_layers[0].mlp.c_fc.weight

def loss_and_grad(inputs):
    model.zero_grad()
    losses = model.loss(inputs)
    total = losses['loss_v2t'] + losses['loss_t2v']
    total.backward()
    return total.detach(), param.grad.detach().clone()

full_loss, full_grad = loss_and_grad(dict(imgs=video, text=text))
dist.init_process_group('gloo')
rank, world = dist.get_rank(), dist.get_world_size()
shard = slice(rank * 2, rank * 2 + 2)
loss, grad = loss_and_grad(dict(imgs=video[shard], text=text[shard]))
dist.all_reduce(grad)  # what DDP sums (and divides by the world size)
torch.testing.assert_close(loss, full_loss, rtol=1e-5, atol=1e-5)
torch.testing.assert_close(grad, full_grad, rtol=1e-4, atol=1e-6)
print(f'rank {rank}: loss {loss.item():.6f} == full-batch loss '
      f'{full_loss.item():.6f}')
'''


def test_infonce_gathers_the_batch_of_every_process(tmp_path):
    """Two ranks with 2 pairs each compute the loss (and, summed, the
    gradient) of the 4-pair batch in one process."""
    cfg_path = tmp_path / 'model.json'
    cfg_path.write_text(json.dumps(_tiny_model_cfg()), encoding='utf-8')
    script = tmp_path / 'gather_check.py'
    script.write_text(GATHER_SCRIPT, encoding='utf-8')
    proc = _run([
        'torchrun', '--nproc_per_node=2', f'--master_port={_free_port()}',
        str(script), str(cfg_path)
    ], tmp_path)
    found = re.findall(r'rank (\d): loss ([\d.]+) == full-batch loss',
                       proc.stdout)
    assert sorted(r for r, _ in found) == ['0', '1']
    assert found[0][1] == found[1][1]
