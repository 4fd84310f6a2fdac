"""Every model-zoo config builds its model at real size (random weights)
and trains only DiST's new parameters."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.dataset import Compose
from mmaction.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'dist', '*.py')))

# Trainable (new) parameters, in millions, of our DiST at each CLIP size with
# the official hyperparameters and 4 pooling layers.
EXPECTED_NEW_PARAMS_M = {'ViT-B-16': (25.5, 26.6), 'ViT-L-14': (39.0, 40.5)}


def test_there_is_one_config_per_model_zoo_row():
    assert len(CONFIGS) == 9
    assert osp.isfile(osp.join(REPO, 'configs', 'dist_vitb_k400.py'))


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds_real_size_model(path):
    cfg = Config.fromfile(path)
    cfg.model.backbone.pretrained = None
    cfg.model.cls_head.pretrained = None
    model = MODELS.build(cfg.model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    clip_trainable = sum(
        p.numel() for p in list(model.backbone.parameters()) +
        list(model.cls_head.parameters()) if p.requires_grad)
    assert clip_trainable == 0
    low, high = EXPECTED_NEW_PARAMS_M[cfg.model.backbone.arch]
    assert low * 1e6 < trainable < high * 1e6, trainable
    clip_len = cfg.train_pipeline[1]['clip_len']
    assert cfg.model.neck.num_frames * cfg.model.backbone.alpha == clip_len
    num_classes = 400 if 'kinetics400' in path else 174
    assert cfg.model.cls_head.num_classes == num_classes
    assert len(model.cls_head.class_names) == num_classes
    for augment in cfg.model.data_preprocessor.blending.augments:
        assert augment.num_classes == num_classes
    # the data pipelines are built from registered transforms
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        Compose(cfg[loader].dataset.pipeline)
    assert [t['num_clips'] for t in cfg.test_pipeline
            if t['type'] == 'UniformSample'] == [3]


def test_recipe_of_the_user_facing_config():
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'dist_vitb_k400.py'))
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(3.2e-4)
    assert cfg.optim_wrapper.optimizer.weight_decay == pytest.approx(1e-4)
    assert cfg.optim_wrapper.optimizer.betas == (0.9, 0.999)
    # mmaction convention: off unless --auto-scale-lr is given
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=256)
    assert cfg.train_dataloader.batch_size * 8 == 256
    warmup, cosine = cfg.param_scheduler
    assert warmup.end == 6 and cosine.end == cfg.train_cfg.max_epochs == 36
    assert warmup.start_factor * cfg.optim_wrapper.optimizer.lr == \
        pytest.approx(8e-8)
    assert cosine.eta_min == pytest.approx(8e-8)
    assert cfg.model.cls_head.label_smooth_eps == 0.1
    mixup, cutmix = cfg.model.data_preprocessor.blending.augments
    assert (mixup.alpha, cutmix.alpha) == (0.8, 1.0)
    assert cfg.model.data_preprocessor.blending.probs == [0.5, 0.5]
    crop = [t for t in cfg.train_pipeline if t['type'] == 'RandomResizedCrop']
    assert crop[0]['area_range'] == (0.4, 1.0)
    jitter = [t for t in cfg.train_pipeline if t['type'] == 'ColorJitter'][0]
    assert (jitter['brightness'], jitter['contrast'], jitter['saturation'],
            jitter['hue']) == (0.4, 0.4, 0.2, 0.1)
    assert cfg.val_evaluator.metric_list == ('top_k_accuracy',
                                             'mean_class_accuracy')


#: Every runnable config: the zoo, the user-facing one, zero-shot, demo and
#: the worked example (``_``-prefixed files are bases, not configs).
ALL_CONFIGS = sorted(
    p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                         recursive=True) +
    glob.glob(osp.join(REPO, 'projects', 'swap_into_mmaction', 'configs',
                       '*.py'))
    if '_base_' not in p.split(osp.sep)
    and not osp.basename(p).startswith('_'))
SAMPLERS = ('UniformSample', 'SampleFrames')


def _sampling_step(pipeline, where):
    steps = [t for t in pipeline if t['type'] in SAMPLERS]
    assert len(steps) == 1, f'{where}: expected one frame sampler, got {steps}'
    return steps[0]


def test_all_configs_are_listed():
    assert len(ALL_CONFIGS) >= len(CONFIGS) + 6


@pytest.mark.parametrize(
    'path', ALL_CONFIGS, ids=lambda p: osp.relpath(p, REPO))
def test_dataloader_pipelines_match_the_neck(path):
    """The pipelines the dataloaders really use (not the top-level
    ``*_pipeline`` variables) sample ``num_frames * alpha`` frames, and
    validation/testing sample deterministically."""
    cfg = Config.fromfile(path)
    alpha = cfg.model.backbone.alpha
    neck = cfg.model.neck
    zoo = path in CONFIGS or osp.basename(path) == 'dist_vitb_k400.py'
    loaders = [name for name in ('train_dataloader', 'val_dataloader',
                                 'test_dataloader') if cfg.get(name)]
    # zero-shot configs only test; every config can be tested
    assert 'test_dataloader' in loaders
    if 'zeroshot' not in path:
        assert len(loaders) == 3, loaders
    for loader in loaders:
        pipeline = cfg[loader].dataset.pipeline
        where = f'{osp.basename(path)} {loader}'
        step = _sampling_step(pipeline, where)
        clip_len = step['clip_len']
        if neck.type == 'DiSTIntegrationNeck':
            assert neck.num_frames * alpha == clip_len, where
            assert neck.alpha == alpha, where
        else:  # frozen-CLIP baseline: any multiple of alpha
            assert clip_len % alpha == 0, where
        test_mode = step.get('test_mode', False)
        assert test_mode == (loader != 'train_dataloader'), where
        assert bool(cfg[loader].dataset.get('test_mode', False)) == \
            (loader != 'train_dataloader'), where
        if zoo:
            # the official protocol: 1 training clip, 3 test clips
            expected_clips = {'train_dataloader': 1, 'val_dataloader': 1,
                              'test_dataloader': 3}[loader]
            assert step['num_clips'] == expected_clips, where
            if loader == 'train_dataloader':
                assert any(t['type'] == 'RandomResizedCrop'
                           for t in pipeline), where
            else:
                assert any(t['type'] == 'CenterCrop' for t in pipeline), where


#: Every runnable config of the plugin and its projects.
EVERY_CONFIG = sorted(
    p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                         recursive=True) +
    glob.glob(osp.join(REPO, 'projects', '*', 'configs', '*.py'))
    if '_base_' not in p.split(osp.sep)
    and not osp.basename(p).startswith('_'))


@pytest.mark.parametrize(
    'path', EVERY_CONFIG, ids=lambda p: osp.relpath(p, REPO))
def test_every_config_keeps_the_safety_hooks(path):
    """A config that sets its own ``custom_hooks`` replaces the runtime's
    list (lists do not merge): official checkpoints must still convert,
    a checkpoint of another model must still be refused at test time and
    resumes must stay exact."""
    cfg = Config.fromfile(path)
    hooks = [h['type'] for h in cfg.get('custom_hooks', [])]
    for needed in ('OfficialCheckpointHook', 'CheckpointKeysHook',
                   'ResumeRandomnessHook'):
        assert needed in hooks, f'{osp.relpath(path, REPO)}: {hooks}'
