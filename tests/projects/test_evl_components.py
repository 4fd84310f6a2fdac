"""EVL in projects/evl: zoo configs, parameter counts, bad inputs, official
checkpoints (converter CLI, OfficialCheckpointHook) and the K400 classes."""
import copy
import glob
import hashlib
import importlib.util
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.runner import Runner

import dist_plugin_projects.evl  # noqa: F401  (registers EVL)
from dist_plugin.checkpoint import convert_evl_state_dict
from dist_plugin.demo.make_dataset import generate_demo_dataset
from dist_plugin.models.heads.class_names import load_class_names
from dist_plugin_projects.evl.official_config import official_to_model_cfg

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
EVL_DIR = osp.join(REPO, 'projects', 'evl')
CONFIG_DIR = osp.join(EVL_DIR, 'configs')
EVL_FIXTURES = osp.join(REPO, 'tests', 'data', 'official_evl')
DIST_FIXTURES = osp.join(REPO, 'tests', 'data', 'official_dist')
B16_8F = osp.join(
    CONFIG_DIR,
    'evl_vit-b16_clip-openai-pre_8xb32-8x16x1-50k_kinetics400-rgb.py')

#: The official model zoo (README of OpenGVLab/efficient-video-recognition):
#: arch, frames, stride, test clips, test crop, trainable M (400 classes,
#: counted from the official code), gradient accumulation (batch_split).
ZOO = {
    'evl_vit-b16_clip-openai-pre_8xb32-8x16x1-50k_kinetics400-rgb.py':
    ('ViT-B-16', 8, 16, 3, 'CenterCrop', 33.18, 1),
    'evl_vit-b16_clip-openai-pre_8xb32-16x16x1-50k_kinetics400-rgb.py':
    ('ViT-B-16', 16, 16, 1, 'ThreeCrop', 33.21, 1),
    'evl_vit-b16_clip-openai-pre_8xb32-32x8x1-50k_kinetics400-rgb.py':
    ('ViT-B-16', 32, 8, 1, 'ThreeCrop', 33.26, 1),
    'evl_vit-l14_clip-openai-pre_8xb32-8x16x1-50k_kinetics400-rgb.py':
    ('ViT-L-14', 8, 16, 3, 'CenterCrop', 58.73, 1),
    'evl_vit-l14_clip-openai-pre_8xb32-16x16x1-50k_kinetics400-rgb.py':
    ('ViT-L-14', 16, 16, 1, 'ThreeCrop', 58.76, 2),
    'evl_vit-l14_clip-openai-pre_8xb32-32x8x1-50k_kinetics400-rgb.py':
    ('ViT-L-14', 32, 8, 1, 'ThreeCrop', 58.83, 4),
}

#: sha256 of the official K400 class list (data/k400_class_mappings.json of
#: OpenGVLab/efficient-video-recognition at b282e8b, its 400 names joined by
#: '\n'), computed from that file.
OFFICIAL_K400_NAMES_SHA256 = (
    'a8dafb93a1204d4ecfa904f943ce5ee0c62ddeeb1df71aa1f96983fca17d777e')

TINY_CLIP = dict(
    embed_dim=32,
    vision_cfg=dict(
        image_size=32, layers=2, width=64, patch_size=16, head_width=32),
    text_cfg=dict(context_length=4, vocab_size=10, width=32, heads=2,
                  layers=1))


def _tiny_evl(num_frames=4, grid=(2, 2), num_classes=3, **neck):
    cfg = dict(
        type='Recognizer3D',
        backbone=dict(
            type='CLIPVideoBackbone', arch=copy.deepcopy(TINY_CLIP),
            frame_sampling='all', out_indices=[-2, -1], return_qk=True,
            image_head=False),
        neck=dict(
            type='EVLDecoder', in_channels=64, num_layers=2,
            num_frames=num_frames, grid_size=grid, num_heads=2, **neck),
        cls_head=dict(type='EVLHead', num_classes=num_classes,
                      in_channels=64),
        data_preprocessor=dict(
            type='ActionDataPreprocessor', format_shape='NCTHW'))
    return cfg


def _clip(frames=4, size=32, batch=2):
    gen = torch.Generator().manual_seed(0)
    return torch.randn(batch, 3, frames, size, size, generator=gen)


def test_there_is_one_config_per_zoo_row():
    found = {
        osp.basename(p)
        for p in glob.glob(osp.join(CONFIG_DIR, 'evl_vit-*.py'))
    }
    assert found == set(ZOO)


@pytest.mark.parametrize('name', sorted(ZOO))
def test_config_follows_the_official_recipe(name):
    arch, frames, stride, clips, crop, _, accum = ZOO[name]
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    assert cfg.custom_imports.imports == ['dist_plugin',
                                          'dist_plugin_projects.evl']
    model = cfg.model
    assert model.backbone.type == 'CLIPVideoBackbone'
    assert (model.backbone.arch, model.backbone.pretrained) == (arch,
                                                                'openai')
    assert model.backbone.frame_sampling == 'all' and model.backbone.frozen
    assert model.backbone.out_indices == [-4, -3, -2, -1]
    assert model.backbone.return_qk and model.backbone.quick_gelu
    assert model.neck.num_frames == frames and model.neck.num_layers == 4
    width = 768 if arch == 'ViT-B-16' else 1024
    patch = 16 if arch == 'ViT-B-16' else 14
    assert model.neck.in_channels == model.cls_head.in_channels == width
    assert model.neck.num_heads == width // 64
    assert tuple(model.neck.grid_size) == (224 // patch, ) * 2
    assert model.neck.mlp_dropout == model.cls_head.dropout_ratio == 0.5
    assert model.cls_head.num_classes == 400
    assert model.cls_head.average_clips == 'prob'
    # sampling: dense, fixed stride; views of the zoo table
    steps = {s['type']: s for s in cfg.train_pipeline}
    assert steps['SampleFrames']['clip_len'] == frames
    assert steps['SampleFrames']['frame_interval'] == stride
    assert steps['TorchVisionWrapper']['op'] == 'RandAugment'
    assert (steps['TorchVisionWrapper']['num_ops'],
            steps['TorchVisionWrapper']['magnitude']) == (4, 7)
    assert steps['RandomResizedCrop']['area_range'] == (0.08, 1.0)
    assert 'Flip' not in steps
    test_steps = {s['type']: s for s in cfg.test_pipeline}
    assert test_steps['SampleFrames']['num_clips'] == clips
    assert test_steps['SampleFrames']['frame_interval'] == stride
    assert test_steps[crop]['crop_size'] == 224
    # AdamW 4e-4, wd 0.05, cosine without warm-up, 256 clips per update
    optimizer = cfg.optim_wrapper.optimizer
    assert (optimizer.type, optimizer.lr, optimizer.weight_decay) == (
        'AdamW', 4e-4, 0.05)
    assert cfg.optim_wrapper.get('accumulative_counts', 1) == accum
    assert [s.type for s in cfg.param_scheduler] == ['CosineAnnealingLR']
    assert cfg.param_scheduler[0].T_max == cfg.train_cfg.max_iters == \
        50000 * accum
    assert cfg.train_dataloader.batch_size * 8 * accum == 256
    assert cfg.auto_scale_lr.base_batch_size * accum == 256
    assert {'type': 'OfficialCheckpointHook'} in cfg.custom_hooks


@pytest.mark.parametrize('name', sorted(ZOO))
def test_trainable_parameters_equal_the_official_count(name):
    """Only the decoder and head train; the frozen CLIP adds none."""
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    neck = MODELS.build(cfg.model.neck)
    head = MODELS.build(cfg.model.cls_head)
    count = sum(p.numel() for m in (neck, head) for p in m.parameters())
    assert round(count / 1e6, 2) == ZOO[name][5]


def test_real_size_b16_8f_model():
    cfg = Config.fromfile(B16_8F)
    cfg.model.backbone.pretrained = None
    model = MODELS.build(cfg.model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == 33_183_376  # 33.18 M, the official count
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(n.startswith('backbone.') for n in frozen)


def test_train_py_runs_the_b16_config_with_a_tiny_clip(tmp_path):
    """tools/train.py on the B/16 8x16 config (its pipeline, optimizer and
    schedule) with a tiny CLIP, one iteration on the demo data."""
    data = tmp_path / 'demo'
    generate_demo_dataset(str(data), num_train=8, num_val=4)
    child = tmp_path / 'evl_tiny_b16_recipe.py'
    child.write_text(f'''
_base_ = [{B16_8F!r}]
model = dict(
    backbone=dict(arch=dict(_delete_=True, **{TINY_CLIP!r}),
                  pretrained=None, out_indices=[-2, -1]),
    neck=dict(in_channels=64, num_layers=2, num_heads=2, qkv_dim=64),
    cls_head=dict(in_channels=64))
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(ann_file={str(data / 'train_list.txt')!r},
                 data_prefix=dict(video={str(data)!r})))
train_cfg = dict(max_iters=1, val_interval=10)
val_cfg = None
val_dataloader = None
val_evaluator = None
default_hooks = dict(logger=dict(interval=1))
''')
    work = tmp_path / 'work'
    result = subprocess.run(
        [sys.executable, 'tools/train.py', str(child), '--work-dir',
         str(work)],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    log = open(next(work.glob('*/*.log')), encoding='utf-8').read()
    assert 'Iter(train) [1/1]' in log and 'loss_cls' in log
    assert 'M trainable' in log
    assert (work / 'iter_1.pth').exists()


@pytest.mark.parametrize('frames, size, match', [
    (6, 32, r'num_frames=4 .*temporal position embeddings.* 6 frames'),
    (4, 48, r'2x2 patch grid .*relative-position tables.* 3x3'),
])
def test_inputs_that_do_not_fit_are_named(frames, size, match):
    model = MODELS.build(_tiny_evl())
    with pytest.raises(ValueError, match=match):
        model(_clip(frames=frames, size=size)[:, None], mode='tensor',
              stage='head')


def test_wiring_errors_are_named():
    cfg = _tiny_evl()
    cfg['backbone']['return_qk'] = False
    with pytest.raises(ValueError, match='return_qk=True'):
        MODELS.build(cfg)(_clip()[:, None], mode='tensor', stage='head')
    cfg = _tiny_evl()
    cfg['backbone']['out_indices'] = [-1]
    with pytest.raises(ValueError, match='num_layers=2 .* 1 blocks'):
        MODELS.build(cfg)(_clip()[:, None], mode='tensor', stage='head')


def test_ablations_without_temporal_terms_build_and_run():
    """The official enable_* switches: the decoder alone, without q/k."""
    cfg = _tiny_evl(temporal_conv=False, temporal_pos_embed=False,
                    temporal_cross_attention=False)
    cfg['backbone']['return_qk'] = False
    model = MODELS.build(cfg)
    assert not any('temporal' in n or 'cross' in n
                   for n, _ in model.named_parameters())
    # without the position embedding, any frame count is accepted
    logits = model(_clip(frames=6)[:, None], mode='tensor', stage='head')
    assert logits.shape == (2, 3)


def test_training_gives_every_trainable_parameter_a_gradient():
    torch.manual_seed(0)
    model = MODELS.build(_tiny_evl())
    model.init_weights()
    # the official init starts the temporal terms at zero: move them so that
    # every path carries a gradient
    with torch.no_grad():
        for name, param in model.neck.named_parameters():
            if 'cross_attentions' in name or 'pos_embeds' in name or \
                    name == 'query':
                param.normal_(std=0.1)
    model.train()
    assert not model.backbone.visual.training
    from mmaction.structures import ActionDataSample
    samples = [ActionDataSample().set_gt_label(i) for i in (0, 2)]
    losses = model(_clip()[:, None], samples, mode='loss')
    losses['loss_cls'].backward()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(
        n.startswith(('neck.', 'cls_head.')) for n in trainable)
    no_grad = [n for n, p in trainable.items()
               if p.grad is None or p.grad.abs().sum() == 0]
    assert no_grad == []
    assert all(p.grad is None for n, p in model.named_parameters()
               if not p.requires_grad)


def test_trainable_backbone_fine_tunes_through_the_decoder():
    """Official issue #14: in-place adds into the backbone outputs break
    fine-tuning. Here the memory is never written in place."""
    cfg = _tiny_evl()
    cfg['backbone']['frozen'] = False
    model = MODELS.build(cfg).train()
    with torch.no_grad():
        for cross in model.neck.cross_attentions:
            cross.w_prev.normal_()
    from mmaction.structures import ActionDataSample
    samples = [ActionDataSample().set_gt_label(i) for i in (0, 1)]
    model(_clip()[:, None], samples, mode='loss')['loss_cls'].backward()
    block = model.backbone.visual.transformer.resblocks[-1]
    assert block.attn.in_proj_weight.grad.abs().sum() > 0


def test_k400_class_order_equals_mmaction_label_map():
    names = load_class_names('kinetics400')
    assert len(names) == 400
    digest = hashlib.sha256('\n'.join(names).encode()).hexdigest()
    assert digest == OFFICIAL_K400_NAMES_SHA256


# ---- official checkpoints -------------------------------------------------


@pytest.fixture(scope='module')
def fixture():
    case = torch.load(osp.join(EVL_FIXTURES, 'tiny-a.case.pth'),
                      weights_only=True)
    official = torch.load(
        osp.join(EVL_FIXTURES, 'tiny-a.official_state_dict.pth'),
        weights_only=True)
    return case, official


def _released(official, with_optimizer=True):
    """The released layout: DDP keys of the decoder and head only."""
    model = {
        'module.' + k: v
        for k, v in official.items() if not k.startswith('backbone.')
    }
    if not with_optimizer:
        return {'model': model}
    return dict(
        model=model,
        optimizer=dict(
            state={0: dict(step=torch.tensor(3.),
                           exp_avg=torch.zeros(4))},
            param_groups=[dict(lr=4e-4, weight_decay=0.05, params=[0])]),
        lr_sched=dict(last_epoch=3, base_lrs=[4e-4]),
        loss_scaler=dict(scale=65536.),
        next_step=3)


def _model_with_backbone(case, official):
    """The fixture's EVL with its CLIP weights (a user gets them from
    ``pretrained``) and a random decoder/head."""
    torch.manual_seed(0)
    model = MODELS.build(official_to_model_cfg(case['config']))
    converted, _ = convert_evl_state_dict(official)
    backbone = {k: v for k, v in converted.items()
                if k.startswith('backbone.')}
    model.load_state_dict(backbone, strict=False)
    return model


@pytest.mark.parametrize('with_optimizer', [True, False])
def test_released_layout_converts_to_the_fixture_weights(
        fixture, with_optimizer):
    _, official = fixture
    reference, _ = convert_evl_state_dict(official)
    converted, report = convert_evl_state_dict(
        _released(official, with_optimizer))
    assert report == dict(unused=[], dropped=[])
    expected = {k: v for k, v in reference.items()
                if not k.startswith('backbone.')}
    assert converted.keys() == expected.keys()
    assert all(torch.equal(converted[k], expected[k]) for k in expected)
    assert any(k.startswith('neck.cross_attentions.') for k in converted)
    assert 'cls_head.fc_cls.weight' in converted


def _write_config(path, model_cfg):
    path.write_text(
        "custom_imports = dict(imports=['dist_plugin', "
        "'dist_plugin_projects.evl'], allow_failed_imports=False)\n"
        f'model = {model_cfg!r}\n')
    return str(path)


def test_cli_converts_a_released_file(tmp_path, fixture):
    case, official = fixture
    src = tmp_path / 'evl_official.pth'
    torch.save(_released(official), src)
    config = _write_config(tmp_path / 'evl_tiny.py',
                           official_to_model_cfg(case['config']))
    dst = tmp_path / 'out' / 'evl.pth'
    result = subprocess.run(
        [sys.executable, 'tools/convert_official_checkpoint.py', str(src),
         str(dst), '--config', config, '--method', 'evl'],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert 'official EVL checkpoint' in result.stdout
    saved = torch.load(dst, weights_only=True)
    assert saved['meta']['method'] == 'evl'
    model = _model_with_backbone(case, official)
    missing, unexpected = model.load_state_dict(saved['state_dict'],
                                                strict=False)
    assert unexpected == [] and all(k.startswith('backbone.')
                                    for k in missing)
    with torch.no_grad():
        logits = model.eval()(case['video'][:, None], mode='tensor',
                              stage='head')
    torch.testing.assert_close(logits, case['logits'], atol=1e-4, rtol=1e-4)
    # a DiST config refuses it, naming the method
    from helpers.tiny_models import tiny_dist_model
    dist_config = _write_config(tmp_path / 'dist_tiny.py', tiny_dist_model())
    result = subprocess.run(
        [sys.executable, 'tools/convert_official_checkpoint.py', str(src),
         str(tmp_path / 'x.pth'), '--config', dist_config],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert 'official EVL checkpoint does not fit' in result.stderr
    # --method dist refuses an EVL file
    result = subprocess.run(
        [sys.executable, 'tools/convert_official_checkpoint.py', str(src),
         str(tmp_path / 'y.pth'), '--method', 'dist'],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert 'official EVL checkpoint, not DiST' in result.stderr
    assert not (tmp_path / 'x.pth').exists()
    assert not (tmp_path / 'y.pth').exists()


def _runner(tmp_path, model_cfg, load_from):
    return Runner(
        model=model_cfg,
        work_dir=str(tmp_path / 'work'),
        load_from=str(load_from),
        custom_hooks=[dict(type='OfficialCheckpointHook')],
        default_scope='mmaction',
        env_cfg=dict(dist_cfg=dict(backend='gloo')))


def test_load_from_takes_an_official_file(tmp_path, fixture):
    case, official = fixture
    src = tmp_path / 'evl_official.pth'
    torch.save(_released(official), src)
    runner = _runner(tmp_path, official_to_model_cfg(case['config']), src)
    backbone = _model_with_backbone(case, official).backbone.state_dict()
    runner.model.backbone.load_state_dict(backbone)  # ``pretrained``
    runner.load_or_resume()
    with torch.no_grad():
        logits = runner.model.eval()(case['video'][:, None], mode='tensor',
                                     stage='head')
    torch.testing.assert_close(logits, case['logits'], atol=1e-4, rtol=1e-4)


def test_load_from_refuses_another_method_or_size(tmp_path, fixture):
    case, official = fixture
    evl_file = tmp_path / 'evl_official.pth'
    torch.save(_released(official), evl_file)
    # an EVL file for a DiST model
    from helpers.tiny_models import tiny_dist_model
    runner = _runner(tmp_path, tiny_dist_model(), evl_file)
    with pytest.raises(ValueError, match='official EVL checkpoint does not '
                       r'fit this model.*Use the EVL config'):
        runner.load_or_resume()
    # a DiST file for an EVL model
    dist_file = osp.join(DIST_FIXTURES, 'tiny-a.official_state_dict.pth')
    runner = _runner(tmp_path, official_to_model_cfg(case['config']),
                     dist_file)
    with pytest.raises(ValueError, match='official DiST checkpoint does not '
                       'fit'):
        runner.load_or_resume()
    # the same EVL file for EVL models of another size
    for change in (dict(num_frames=16), dict(num_classes=7),
                   dict(num_layers=1)):
        config = dict(case['config'])
        key = dict(num_frames='num_frames', num_classes='num_classes',
                   num_layers='decoder_num_layers')[next(iter(change))]
        config[key] = next(iter(change.values()))
        runner = _runner(tmp_path, official_to_model_cfg(config), evl_file)
        with pytest.raises(ValueError, match='another model size|no place'):
            runner.load_or_resume()


def test_get_flops_on_an_evl_config(tmp_path):
    """tools/analysis/get_flops.py reads EVL configs; the q/k for the
    temporal cross attention cost no extra backbone FLOPs."""
    spec = importlib.util.spec_from_file_location(
        'evl_get_flops', osp.join(REPO, 'tools', 'analysis', 'get_flops.py'))
    get_flops = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(get_flops)
    config = tmp_path / 'evl_tiny.py'
    config.write_text(
        "custom_imports = dict(imports=['dist_plugin', "
        "'dist_plugin_projects.evl'], allow_failed_imports=False)\n"
        f'model = {_tiny_evl()!r}\n'
        "test_pipeline = [dict(type='SampleFrames', clip_len=4, "
        'frame_interval=2, num_clips=1)]\n')
    res = get_flops.main([str(config), '--json', str(tmp_path / 'f.json')])
    assert res['input_shape_per_view'] == [3, 4, 32, 32]
    frames, tokens, width = 4, 5, 64
    patch_embed = 4 * width * 3 * 16 * 16
    layer_norm = 5 * tokens * width  # fvcore: 5 per element with affine
    block = (2 * layer_norm + 4 * tokens * width * width +
             2 * tokens * tokens * width + 2 * tokens * width * 4 * width)
    by_module = res['flops_by_module']
    assert by_module['backbone'] == frames * (patch_embed + layer_norm +
                                              2 * block)
    assert by_module['cls_head'] == 5 * width + width * 3
    assert by_module['neck'] > 0
    assert res['params']['trainable'] == sum(
        p.numel() for p in MODELS.build(_tiny_evl()).parameters()
        if p.requires_grad)


def test_metafile_rows_are_the_zoo_configs():
    from dist_plugin.checkpoint.model_zoo import load_model_zoo
    zoo = load_model_zoo(osp.join(EVL_DIR, 'metafile.yml'))
    assert {name + '.py' for name in zoo} == set(ZOO)
    published = {
        (8, 16, 'ViT-B-16'): 82.8, (16, 16, 'ViT-B-16'): 83.7,
        (32, 8, 'ViT-B-16'): 84.3, (8, 16, 'ViT-L-14'): 86.3,
        (16, 16, 'ViT-L-14'): 86.9, (32, 8, 'ViT-L-14'): 87.7
    }
    for name, entry in zoo.items():
        arch, frames, stride = ZOO[name + '.py'][:3]
        assert osp.isfile(entry.config)
        assert entry.top1 == published[(frames, stride, arch)]
        assert entry.dataset == 'Kinetics-400' and entry.layout == 'official'
        assert entry.url.startswith('https://drive.google.com/file/d/')


def test_download_tool_converts_a_local_official_evl_file(tmp_path, fixture):
    from dist_plugin.checkpoint.download import fetch_checkpoint
    case, official = fixture
    src = tmp_path / 'evl_official.pth'
    torch.save(_released(official), src)
    result = fetch_checkpoint(str(src), out_dir=str(tmp_path / 'cache'),
                              progress=False)
    assert result.converted and result.path != str(src)
    saved = torch.load(result.path, weights_only=True)
    assert saved['meta']['method'] == 'evl'
    reference, _ = convert_evl_state_dict(_released(official))
    assert saved['state_dict'].keys() == reference.keys()
