"""projects/swap_into_mmaction: DiST in mmaction2's own I3D experiment.

The config keeps the I3D experiment's dataset settings, carries DiST's model
from ``configs/_base_/models/dist_vit-b16.py``, and (shrunk to a tiny CLIP
on 32x32 frames) trains one real iteration on generated videos.
"""
import copy
import math
import os.path as osp

import mmaction
import pytest
import torch
from helpers.tiny_models import TINY_CLIP
from helpers.video import make_video_dataset
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.hooks import Hook
from mmengine.runner import Runner

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(
    REPO, 'projects', 'swap_into_mmaction', 'configs',
    'dist_vit-b16_clip-openai-pre_i3d-recipe_8xb8-32x2x1-100e_'
    'kinetics400-rgb.py')
I3D_CONFIG = osp.join(
    osp.dirname(mmaction.__file__), '.mim', 'configs', 'recognition', 'i3d',
    'i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py')
DIST_MODEL = osp.join(REPO, 'configs', '_base_', 'models', 'dist_vit-b16.py')
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
SIDE = 32  # tiny input: a 2x2 grid of 16-pixel patches


def plain(value):
    """Config values without mmengine's ``_scope_`` bookkeeping."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if k != '_scope_'}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    return value


@pytest.fixture(scope='module')
def cfgs():
    return (Config.fromfile(CONFIG), Config.fromfile(I3D_CONFIG),
            Config.fromfile(DIST_MODEL))


def test_dataset_settings_are_the_experiments(cfgs):
    cfg, i3d, _ = cfgs
    for key in ('dataset_type', 'data_root', 'data_root_val',
                'ann_file_train', 'ann_file_val', 'ann_file_test'):
        assert cfg[key] == i3d[key], key
    for loader in LOADERS:
        ours, theirs = plain(cfg[loader]), plain(i3d[loader])
        ours_ds, theirs_ds = ours.pop('dataset'), theirs.pop('dataset')
        assert ours == theirs, loader  # batch size, workers, sampler
        ours_ds.pop('pipeline'), theirs_ds.pop('pipeline')  # next test
        assert ours_ds == theirs_ds, loader  # type, ann_file, data_prefix
        assert ours_ds['type'] == 'VideoDataset'
    assert cfg.train_dataloader.dataset.ann_file == (
        'data/kinetics400/kinetics400_train_list_videos.txt')
    for key in ('val_evaluator', 'test_evaluator', 'train_cfg',
                'param_scheduler', 'auto_scale_lr', 'default_hooks'):
        assert plain(cfg[key]) == plain(i3d[key]), key
    assert cfg.optim_wrapper.clip_grad == i3d.optim_wrapper.clip_grad


def test_pipelines_fit_dist(cfgs):
    cfg, i3d, _ = cfgs
    alpha = cfg.model.backbone.alpha
    patch = cfg.model.neck.temporal_encoder.patch_size[-1]
    for name in ('train_pipeline', 'val_pipeline', 'test_pipeline'):
        ours, theirs = plain(cfg[name]), plain(i3d[name])
        assert [s['type'] for s in ours] == [s['type'] for s in theirs]
        assert cfg[name.replace('pipeline', 'dataloader')
                   ].dataset.pipeline == cfg[name]
        for step, base in zip(ours, theirs):
            if step['type'] == 'SampleFrames':
                assert step['clip_len'] % alpha == 0
                assert step['clip_len'] == alpha * cfg.model.neck.num_frames
                assert step['frame_interval'] == base['frame_interval']
                assert step['num_clips'] == base['num_clips']
            elif step['type'] in ('CenterCrop', 'ThreeCrop'):
                assert step['crop_size'] % patch == 0
            else:
                assert step == base
        Compose(cfg[name])
    # the one real change: I3D's 256-pixel test crops
    three_crop = [s for s in cfg.test_pipeline if s.type == 'ThreeCrop']
    assert three_crop[0].crop_size == 224
    assert [s for s in i3d.test_pipeline
            if s.type == 'ThreeCrop'][0].crop_size == 256


def test_model_is_dist_from_our_base(cfgs):
    cfg, _, dist = cfgs
    model = plain(cfg.model)
    # `_delete_` dropped every I3D key: only DiST's parts are left
    assert set(model) == {'type', 'backbone', 'neck', 'cls_head',
                          'data_preprocessor', 'test_cfg'}
    assert model['type'] == 'Recognizer3D'
    assert 'ResNet3d' not in cfg.pretty_text
    ours, base = copy.deepcopy(model), plain(dist.model)
    # 32 dense frames (I3D's clips) -> 16 for CLIP, 8 in the u16 base
    assert ours['neck'].pop('num_frames') == 16
    assert base['neck'].pop('num_frames') == 8
    for part in ('backbone', 'neck', 'cls_head'):
        assert ours[part] == base[part], part
    # CLIP's normalisation; the experiment's recipe has no Mixup/CutMix
    base['data_preprocessor'].pop('blending')
    assert ours['data_preprocessor'] == base['data_preprocessor']
    assert ours['test_cfg'] == dict(max_testing_views=10)
    assert cfg.optim_wrapper.constructor == (
        'TrainableOnlyOptimWrapperConstructor')
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert 'momentum' not in cfg.optim_wrapper.optimizer
    assert 'dist_plugin' in cfg.custom_imports.imports


class SnapshotHook(Hook):
    """Copies the weights once the Runner initialised them."""

    def before_train(self, runner):
        model = runner.model
        self.neck = {k: v.clone() for k, v in model.neck.state_dict().items()}
        self.clip = {
            k: v.clone()
            for k, v in model.backbone.state_dict().items()
        }
        self.text = {
            k: v.clone()
            for k, v in model.cls_head.state_dict().items()
        }


def tiny_cfg(cfg, files, work_dir):
    """The project config on a tiny CLIP, 32x32 frames, generated videos."""
    cfg = copy.deepcopy(cfg)
    names = files.class_names
    width, embed = TINY_CLIP['vision_cfg']['width'], TINY_CLIP['embed_dim']
    model = cfg.model
    model.backbone.update(arch=copy.deepcopy(TINY_CLIP), pretrained=None)
    model.neck.update(
        in_channels=width, embed_dim=embed,
        num_layers=TINY_CLIP['vision_cfg']['layers'], width=64)
    model.neck.temporal_encoder.width = 16
    model.cls_head.update(
        arch=copy.deepcopy(TINY_CLIP), pretrained=None, in_channels=embed,
        num_classes=len(names), class_names=names)
    pipeline = []
    for step in cfg.train_dataloader.dataset.pipeline:
        step = copy.deepcopy(step)
        if step.type == 'Resize':
            step.scale = ((SIDE, SIDE) if step.get('keep_ratio') is False
                          else (-1, SIDE))
        elif step.type == 'MultiScaleCrop':
            step.input_size = SIDE
        pipeline.append(step)
    loader = cfg.train_dataloader
    loader.update(batch_size=2, num_workers=0, persistent_workers=False)
    loader.dataset.update(
        ann_file=files.ann_file, data_prefix=dict(video=files.data_root),
        pipeline=pipeline)
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1)
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator',
                'test_dataloader', 'test_cfg', 'test_evaluator'):
        cfg[key] = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.work_dir = str(work_dir)
    cfg.randomness = dict(seed=0)
    cfg.log_level = 'WARNING'
    return cfg


def test_one_training_iteration(cfgs, tmp_path):
    # one batch of 2 videos of 2 classes, 32 frames (I3D samples 32x2)
    files = make_video_dataset(
        str(tmp_path / 'data'), num_per_class=1, num_classes=2,
        num_frames=32)
    cfg = tiny_cfg(cfgs[0], files, tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    snapshot = SnapshotHook()
    runner.register_hook(snapshot)
    runner.train()

    assert runner.iter == 1
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert math.isfinite(loss) and loss > 0
    # only the neck trained; CLIP's image and text towers did not move
    neck = runner.model.neck.state_dict()
    changed = [k for k, v in neck.items() if not torch.equal(
        v, snapshot.neck[k])]
    assert 'proj' in changed and len(changed) > len(neck) // 2
    for own, before in ((runner.model.backbone, snapshot.clip),
                        (runner.model.cls_head, snapshot.text)):
        for key, value in own.state_dict().items():
            assert torch.equal(value, before[key]), key
    # the optimizer held exactly the neck's parameters
    params = [p for g in runner.optim_wrapper.optimizer.param_groups
              for p in g['params']]
    assert {id(p) for p in params} == {
        id(p) for p in runner.model.neck.parameters()}
    assert osp.isfile(tmp_path / 'work' / 'epoch_1.pth')
