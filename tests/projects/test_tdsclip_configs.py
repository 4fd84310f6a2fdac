"""TDS-CLIP configs: one per official row with the official recipe; the
real-size B/16 model has the official trainable count; one real training
iteration of the B/16 K400 config with a tiny CLIP on generated videos."""
import glob
import os.path as osp

import pytest
import torch
from helpers.tdsclip import TINY_TDSCLIP_CLIP
from helpers.video import make_video_dataset
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.runner import Runner
from mmaction.registry import MODELS

import dist_plugin_projects.tds_clip  # noqa: F401  (registers TDS-CLIP)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO, 'projects', 'tds_clip', 'configs')
CONFIGS = sorted(glob.glob(osp.join(CONFIG_DIR, '*.py')))
B16_K400 = osp.join(
    CONFIG_DIR,
    'tdsclip_vit-b16_clip-openai-pre_8xb16x2-8x5f_30e_kinetics400-rgb.py')
# (dataset, CLIP) -> (lr, epochs) of the official configs
OFFICIAL = {
    ('kinetics400', 'ViT-B-16'): (1e-3, 30),
    ('kinetics400', 'ViT-L-14'): (1e-4, 30),
    ('sthv1', 'ViT-B-16'): (1e-3, 40),
    ('sthv1', 'ViT-L-14'): (1e-4, 30),
    ('sthv2', 'ViT-B-16'): (1e-3, 30),
    ('sthv2', 'ViT-L-14'): (1e-4, 30),
}


def _dataset(path):
    return path.rsplit('_', 1)[1].split('-')[0]


def test_one_config_per_official_row():
    rows = {(_dataset(p), Config.fromfile(p).model.backbone.arch)
            for p in CONFIGS}
    assert rows == set(OFFICIAL) and len(CONFIGS) == len(OFFICIAL)


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_official_recipe(path):
    cfg = Config.fromfile(path)
    dataset = _dataset(path)
    lr, epochs = OFFICIAL[(dataset, cfg.model.backbone.arch)]
    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer.type == 'AdamW' and optimizer.lr == pytest.approx(lr)
    assert optimizer.weight_decay == 0.15 and optimizer.eps == 1e-8
    assert cfg.train_cfg.max_epochs == epochs
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.end) == ('LinearLR', 4)
    assert (cosine.begin, cosine.end, cosine.eta_min) == (4, epochs, 0.)
    assert cfg.model.cls_head.label_smooth_eps == 0.1
    assert cfg.model.cls_head.num_classes == (400 if dataset == 'kinetics400'
                                              else 174)
    side = 320 if cfg.model.backbone.arch == 'ViT-B-16' else 512
    assert cfg.model.neck.side_width == cfg.model.cls_head.in_channels == side
    assert cfg.model.backbone.frame_sampling == 'window_center'
    assert cfg.model.backbone.window == cfg.model.neck.window == 5
    assert cfg.get('sync_bn') is None  # per-GPU BatchNorm, as official
    assert cfg.custom_imports.imports == [
        'dist_plugin', 'dist_plugin_projects.tds_clip'
    ]
    train = [t['type'] for t in cfg.train_pipeline]
    assert ('ClipRandAugment' in train) == (dataset != 'kinetics400')
    assert ('RandomGrayscale' in train) == (dataset == 'kinetics400')
    assert ('FlipWithLabelSwap' in train) == (dataset != 'kinetics400')
    sampler = [t for t in cfg.test_pipeline
               if t['type'] == 'WindowSampleFrames'][0]
    assert (sampler.num_segments, sampler.window) == (8, 5)
    assert sampler.num_clips == (4 if dataset == 'kinetics400' else 2)
    assert any(t['type'] == 'ThreeCrop' for t in cfg.test_pipeline)
    videos_per_step = cfg.train_dataloader.batch_size * 8
    repeats = cfg.train_dataloader.dataset.get('num_repeats', 1)
    assert videos_per_step * repeats == 256
    assert cfg.auto_scale_lr.base_batch_size == videos_per_step
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        Compose(cfg[loader].dataset.pipeline)


def test_real_size_b16_has_the_official_trainable_count():
    cfg = Config.fromfile(B16_K400)
    cfg.model.backbone.pretrained = None
    model = MODELS.build(cfg.model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.backbone.parameters())
    assert not any(p.requires_grad for p in model.backbone.parameters())
    # official: 24.3 M trainable, 85.8 M frozen (+ ln_post/proj, which the
    # official model drops: 0.39 M)
    assert abs(trainable - 24.3e6) < 0.05e6, trainable
    assert abs(frozen - (85.8e6 + 768 * 2 + 768 * 512)) < 0.05e6, frozen


def test_one_training_iteration_with_a_tiny_clip(tmp_path):
    """The B/16 K400 config (RepeatAugDataset, windowed sampling, official
    augmentation) with only the CLIP size and frame size shrunk."""
    files = make_video_dataset(tmp_path / 'data', num_per_class=1,
                               num_frames=24)
    cfg = Config.fromfile(B16_K400)
    vision = TINY_TDSCLIP_CLIP['vision_cfg']
    cfg.model.backbone.update(arch=TINY_TDSCLIP_CLIP, pretrained=None)
    cfg.model.neck.update(
        clip_width=vision['width'], num_layers=vision['layers'],
        patch_size=vision['patch_size'], input_resolution=32, side_width=64)
    cfg.model.cls_head.update(in_channels=64, num_classes=4)
    for step in cfg.train_pipeline:
        if step['type'] == 'Resize':
            step['scale'] = (-1, 36) if step['scale'][0] == -1 else (32, 32)
    cfg.train_dataloader.update(batch_size=2, num_workers=0,
                                persistent_workers=False)
    cfg.train_dataloader.dataset.update(
        ann_file=files.ann_file, data_prefix=dict(video=files.data_root),
        pipeline=cfg.train_pipeline)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=1)
    cfg.param_scheduler = None
    cfg.auto_scale_lr = dict(enable=False)
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator',
                'test_dataloader', 'test_cfg', 'test_evaluator'):
        cfg[key] = None
    cfg.default_hooks.checkpoint = None
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    seen = {}

    def grab(module, args, output):
        seen['inputs'] = args[0].shape

    runner.model.backbone.register_forward_hook(grab)
    runner.train()
    after = runner.model.state_dict()
    # 2 videos x 2 repeated augmentations, 8 windows of 5 frames each
    assert tuple(seen['inputs']) == (4, 3, 40, 32, 32)
    changed = {k.split('.')[0] for k in before
               if not torch.equal(before[k], after[k])}
    assert changed == {'neck', 'cls_head'}
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert 0 < loss < 10


def test_get_flops_reads_the_windowed_clip_length():
    """tools/analysis/get_flops.py sizes a TDS-CLIP view from the sampler
    (T * w frames) and counts CLIP on the T centre frames only."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'tdsclip_get_flops',
        osp.join(REPO, 'tools', 'analysis', 'get_flops.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    res = tool.get_flops(osp.join(REPO, 'configs', 'demo',
                                  'tdsclip_tiny_demo.py'))
    assert res['input_shape_per_view'] == [3, 20, 32, 32]
    # 4 centre frames of 64 tokens (+ CLS) through 2 blocks of width 64
    per_frame_block = 65 * (4 * 64 * 64 + 2 * 64 * 256) + 2 * 65 * 65 * 64
    patch_embed = 64 * 64 * 3 * 4 * 4
    backbone = res['flops_by_module']['backbone']
    assert 4 * (2 * per_frame_block + patch_embed) <= backbone
    assert backbone < 1.05 * 4 * (2 * per_frame_block + patch_embed)
    assert res['flops_by_module']['neck'] > 0


def test_metafile_lists_every_config():
    import yaml
    with open(osp.join(REPO, 'projects', 'tds_clip', 'metafile.yml')) as f:
        meta = yaml.safe_load(f)
    paths = sorted(osp.join(REPO, m['Config']) for m in meta['Models'])
    assert paths == CONFIGS
    published = {m['Name'].split('_')[1] + '/' + _dataset(m['Config']):
                 m['Results'][0]['Metrics']['Top 1 Accuracy']
                 for m in meta['Models'] if 'Results' in m}
    assert published == {'vit-b16/kinetics400': 83.9, 'vit-b16/sthv1': 60.1,
                         'vit-b16/sthv2': 71.8, 'vit-l14/sthv2': 73.4}


def test_sync_bn_switch_converts_every_side_batchnorm():
    """`sync_bn = 'torch'` (mmengine's switch, off by default as in the
    official runs) turns every BatchNorm of the side network and head into
    SyncBatchNorm with the same state-dict keys (official checkpoints still
    load)."""
    from helpers.tdsclip import tiny_tdsclip_model
    from mmengine.model import convert_sync_batchnorm
    model = MODELS.build(tiny_tdsclip_model())
    keys = set(model.state_dict())
    norms = [m for m in model.modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    # 2 stems + 4 per side block x 2 blocks + head
    assert len(norms) == 2 + 4 * 2 + 1
    converted = convert_sync_batchnorm(model, 'torch')
    synced = [m for m in converted.modules()
              if isinstance(m, torch.nn.SyncBatchNorm)]
    assert len(synced) == len(norms)
    assert set(converted.state_dict()) == keys
