"""STAN configs: every results-table row, the real-size model's trainable
parameters next to DiST's, and one real training iteration with CLIP's and
STAN's learning rates in the log."""
import copy
import glob
import json
import os.path as osp
import re

import pytest
import torch
import yaml
from helpers.video import make_video_dataset
from mmengine.config import Config
from mmengine.runner import Runner
from mmaction.registry import MODELS

import dist_plugin  # noqa: F401
import dist_plugin_projects.stan  # noqa: F401
from dist_plugin.analysis.complexity import count_parameters

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STAN = osp.join(REPO, 'projects', 'stan')
CONFIGS = sorted(
    c for c in glob.glob(osp.join(STAN, 'configs', 'stan-*.py'))
    if 'msrvtt' not in c)  # recognition; retrieval: test_stan_retrieval.py
DIST_B16 = osp.join(
    REPO, 'configs', 'dist',
    'dist_vit-b16_clip-openai-pre_8xb32-u16-a2_36e_kinetics400-rgb.py')


def _metafile():
    with open(osp.join(STAN, 'metafile.yml'), encoding='utf-8') as f:
        return yaml.safe_load(f)


def test_one_config_per_results_row_with_published_numbers():
    rows = _metafile()['Models']
    recognition = [
        r for r in rows if r['Results'][0]['Task'] == 'Action Recognition'
    ]
    assert len(recognition) == len(CONFIGS) == 6
    assert len(rows) == 7  # + MSR-VTT retrieval
    for row in rows:
        assert osp.isfile(osp.join(REPO, row['Config'])), row['Config']
        assert row['Weights'] is None  # no K400/SSv2 checkpoint is released
    top1 = {r['Name']: r['Results'][0]['Metrics']['Top 1 Accuracy']
            for r in recognition}
    assert top1['stan-self_vit-b16_clip-openai-pre_8xb16-u8_30e_'
                'kinetics400-rgb'] == 84.2
    assert top1['stan-self_vit-b16_clip-openai-pre_8xb16-u16_30e_'
                'sthv2-rgb'] == 69.5


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_matches_its_name(path):
    cfg = Config.fromfile(path)
    name = osp.basename(path)
    variant, frames, dataset = re.match(
        r'stan-(self|conv)_vit-b16_.*-u(\d+)_30e_(\w+)-rgb\.py', name).groups()
    model = cfg.model
    depth = 4 if dataset == 'kinetics400' else 6
    assert model.neck.num_layers == depth
    assert model.neck.time_module == {'self': 'selfattn',
                                      'conv': 'conv'}[variant]
    assert tuple(model.backbone.out_indices) == tuple(range(-depth, 0))
    assert model.backbone.frozen is False
    assert model.cls_head.num_classes == {'kinetics400': 400,
                                          'sthv2': 174}[dataset]
    sample = cfg.train_dataloader.dataset.pipeline[1]
    assert sample.type == 'UniformSample' and sample.clip_len == int(frames)
    assert cfg.test_dataloader.dataset.pipeline[1].clip_len == int(frames)
    optim = cfg.optim_wrapper
    assert optim.optimizer.lr == 2e-6
    assert optim.paramwise_cfg.custom_keys == {'neck': dict(lr_mult=10.)}
    assert optim.paramwise_cfg.norm_decay_mult == 0.
    assert optim.paramwise_cfg.bias_decay_mult == 0.
    assert cfg.custom_imports.imports == ['dist_plugin',
                                          'dist_plugin_projects.stan']


def _build_random(path):
    model_cfg = copy.deepcopy(Config.fromfile(path).model)
    model_cfg.backbone.pretrained = None
    model_cfg.cls_head.pretrained = None
    return MODELS.build(model_cfg)


def test_real_size_stan_b16_trainable_parameters_next_to_dist(capsys):
    path = osp.join(
        STAN, 'configs',
        'stan-self_vit-b16_clip-openai-pre_8xb16-u8_30e_kinetics400-rgb.py')
    stan = count_parameters(_build_random(path))
    dist = count_parameters(_build_random(DIST_B16))
    by = stan['by_module']
    # STAN branch K = 4 on ViT-B/16: 40.2 M (peer-stan.md, from the shapes)
    assert abs(by['neck']['trainable'] / 1e6 - 40.2) < 0.05
    # the whole CLIP vision tower (86 M) trains; the text tower does not
    assert 85e6 < by['backbone']['trainable'] < 87e6
    assert by['cls_head']['trainable'] == 0
    assert dist['by_module']['backbone']['trainable'] == 0
    with capsys.disabled():
        print(f"\ntrainable parameters: STAN-self B/16 K=4 "
              f"{stan['trainable'] / 1e6:.1f} M, DiST B/16 8+16 "
              f"{dist['trainable'] / 1e6:.1f} M")
    assert stan['trainable'] > 4 * dist['trainable']  # 126.4 M vs 26.1 M


@pytest.mark.parametrize('kwargs,millions', [
    (dict(num_layers=6, time_module='selfattn'), 60.3),
    (dict(num_layers=4, time_module='conv'), 94.5),
])
def test_stan_branch_sizes(kwargs, millions):
    neck = MODELS.build(dict(type='STANNeck', in_channels=768, **kwargs))
    count = sum(p.numel() for p in neck.parameters())
    assert abs(count / 1e6 - millions) < 0.05


def test_one_training_iteration_logs_clip_and_stan_learning_rates(tmp_path):
    files = make_video_dataset(str(tmp_path / 'videos'), num_per_class=1,
                               num_classes=4, num_frames=16, seed=3)
    cfg = Config.fromfile(osp.join(STAN, 'configs', 'stan_tiny_demo.py'))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.model.backbone.grad_checkpointing = True  # the config switch
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.num_workers = 0
        loader.persistent_workers = False
        loader.batch_size = 4
        loader.dataset.ann_file = files.ann_file
        loader.dataset.data_prefix = dict(video=files.data_root)
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1,
                         val_interval=10)
    cfg.train_dataloader.sampler.shuffle = False
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=10)
    cfg.optim_wrapper.paramwise_cfg.custom_keys = {'neck': dict(lr_mult=10.)}
    runner = Runner.from_cfg(cfg)
    model = runner.model
    before = dict(clip=model.backbone.visual.transformer.resblocks[0].
                  mlp.c_fc.weight.detach().clone(),
                  stan=model.neck.s_layers[0].mlp.c_fc.weight.detach().clone())
    runner.train()
    assert not torch.equal(
        before['clip'],
        model.backbone.visual.transformer.resblocks[0].mlp.c_fc.weight)
    assert not torch.equal(before['stan'],
                           model.neck.s_layers[0].mlp.c_fc.weight)
    scalars = [
        row for row in (json.loads(line) for line in open(
            next((tmp_path / 'work').glob('*/vis_data/scalars.json')),
            encoding='utf-8')) if 'loss' in row
    ]
    assert len(scalars) == 1  # one iteration
    for row in scalars:  # warm-up from 0.05 x: 2.5e-6 (CLIP), 2.5e-5 (STAN)
        assert row['group_neck_lr'] == pytest.approx(
            10 * row['group_base_lr'])
    assert scalars[0]['group_base_lr'] == pytest.approx(5e-5 * 0.05)
    log = open(next((tmp_path / 'work').glob('*/*.log')),
               encoding='utf-8').read()
    assert re.search(r'group_base_lr: 2\.5000e-06 +group_neck_lr: '
                     r'2\.5000e-05', log), log[-2000:]
    groups = runner.optim_wrapper.optimizer.param_groups
    decay = {g['group_name']: set() for g in groups}
    named = {id(p): n for n, p in model.named_parameters()}
    for g in groups:
        decay[g['group_name']].add((named[id(g['params'][0])],
                                    g['weight_decay']))
    wd = dict(n_wd for group in decay.values() for n_wd in group)
    assert wd['neck.s_layers.0.ln_1.weight'] == 0.
    assert wd['neck.s_layers.0.attn.in_proj_bias'] == 0.
    assert wd['backbone.visual.transformer.resblocks.0.attn.in_proj_bias'] \
        == 0.
    assert wd['neck.s_layers.0.mlp.c_fc.weight'] == pytest.approx(0.02)
    assert not any(n.startswith('cls_head.clip') for n in wd)


def test_benchmark_has_a_stan_variant():
    """tools/analysis/benchmark_train.py --variants dist stan: STAN's step
    trains CLIP and STAN (its memory is what DiST avoids)."""
    from helpers.tiny_models import TINY_CLIP

    from dist_plugin.analysis.benchmark import run_variant, stan_model_cfg
    row = run_variant('stan', TINY_CLIP, num_frames=4, batch=1, steps=1,
                      warmup=0, num_classes=3, infer=False)
    model = MODELS.build(stan_model_cfg(TINY_CLIP, 3))
    counts = count_parameters(model)
    assert row['params_trainable'] == counts['trainable']
    assert row['params_trainable'] == (
        counts['by_module']['backbone']['total'] +
        counts['by_module']['neck']['total'])
    assert row['clip_frames'] == 4
    # a tiny model's step can fit in memory already held (a peak of 0 MiB
    # above the baseline), so only the field's presence and sign are checked
    assert row['train_peak_mem_mib'] >= 0
