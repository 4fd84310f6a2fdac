"""TDS-CLIP components: the windowed sampler on real videos, the clip layout
through the model, bad inputs, checkpoints of other methods, the official
converter and its CLI."""
import copy
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers.tdsclip import case_clip, tiny_tdsclip_model
from helpers.video import make_random_video, read_video
from mmengine.dataset import Compose
from mmaction.registry import MODELS

import dist_plugin_projects.tds_clip  # noqa: F401  (registers TDS-CLIP)
from dist_plugin.apis import load_dist_checkpoint
from dist_plugin.checkpoint import (convert_official_checkpoint,
                                    convert_official_state_dict,
                                    convert_official_tdsclip_state_dict,
                                    detect_official_method,
                                    tdsclip_official_to_model_cfg)
from dist_plugin_projects.tds_clip.datasets import WindowSampleFrames

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TDS_FIXTURES = osp.join(REPO, 'tests', 'data', 'official_tdsclip')
DIST_FIXTURES = osp.join(REPO, 'tests', 'data', 'official_dist')


def _sample(total, start_index=0, **kwargs):
    results = WindowSampleFrames(**kwargs).transform(
        dict(total_frames=total, start_index=start_index))
    return results


def test_sampler_train_layout():
    np.random.seed(0)
    res = _sample(100, num_segments=8, window=5)
    inds = res['frame_inds'].reshape(8, 5)
    assert res['clip_len'] == 40 and res['num_clips'] == 1
    # consecutive frames around each centre, clamped to the video
    np.testing.assert_array_equal(
        inds, np.clip(inds[:, 2:3] + np.arange(-2, 3), 0, 99))
    centres = inds[:, 2]
    seg = 100 / 8
    assert ((centres >= np.floor(np.arange(8) * seg)) &
            (centres < np.arange(1, 9) * seg)).all()
    shifted = _sample(100, start_index=1, num_segments=8, window=5)
    assert shifted['frame_inds'].min() >= 1  # rawframes count from 1


def test_sampler_test_positions():
    fractions = _sample(
        80, num_segments=8, window=3, num_clips=2,
        test_mode=True)['frame_inds'].reshape(2, 8, 3)[:, :, 1]
    np.testing.assert_array_equal(fractions[0], np.arange(8) * 10 + 3)
    np.testing.assert_array_equal(fractions[1], np.arange(8) * 10 + 6)
    linspace = _sample(
        80, num_segments=8, window=3, num_clips=4, test_mode=True,
        test_positions='linspace')['frame_inds'].reshape(4, 8, 3)[:, :, 1]
    for k, offset in enumerate((0, 3, 6, 9)):
        np.testing.assert_array_equal(linspace[k], np.arange(8) * 10 + offset)
    first = _sample(
        80, num_segments=8, window=3, test_mode=True,
        test_positions='linspace')['frame_inds'].reshape(8, 3)[:, 1]
    np.testing.assert_array_equal(first, np.arange(8) * 10)


def test_sampler_clamps_instead_of_wrapping():
    inds = _sample(
        6, num_segments=4, window=5, test_mode=True,
        test_positions='linspace')['frame_inds'].reshape(4, 5)
    assert inds.min() == 0 and inds.max() == 5
    np.testing.assert_array_equal(inds[0], [0, 0, 0, 1, 2])  # no wrap to 5
    with pytest.raises(ValueError, match='test_positions'):
        WindowSampleFrames(test_positions='random')


def test_decoded_clip_is_t_windows_of_w_frames(tmp_path):
    path = str(tmp_path / 'v.mp4')
    make_random_video(path, num_frames=30, seed=3)
    frames = read_video(path)
    pipeline = Compose([
        dict(type='DecordInit'),
        dict(type='WindowSampleFrames', num_segments=3, window=5,
             num_clips=2, test_mode=True),
        dict(type='DecordDecode'),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs')
    ])
    out = pipeline(dict(filename=path, label=0, start_index=0, modality='RGB'))
    inputs = out['inputs']  # [views, 3, T*w, H, W]
    assert tuple(inputs.shape[:3]) == (2, 3, 15)
    inds = WindowSampleFrames(
        num_segments=3, window=5, num_clips=2,
        test_mode=True).transform(dict(total_frames=len(frames),
                                       start_index=0))['frame_inds']
    inds = inds.reshape(2, 3, 5)
    for view in range(2):
        for t in range(3):
            for m in range(5):
                expected = torch.from_numpy(frames[inds[view, t, m]])
                got = inputs[view, :, t * 5 + m].permute(1, 2, 0)
                assert torch.equal(got, expected), (view, t, m)


@pytest.fixture(scope='module')
def tiny_model():
    return MODELS.build(tiny_tdsclip_model(num_segments=4, window=5)).eval()


def test_bad_clip_lengths_are_refused(tiny_model):
    with pytest.raises(ValueError, match='window=5 does not divide'):
        tiny_model(torch.randn(1, 1, 3, 21, 32, 32), mode='tensor',
                   stage='head')
    with pytest.raises(ValueError, match=r'4 segments x 5 frames = 20'):
        tiny_model(torch.randn(1, 1, 3, 15, 32, 32), mode='tensor',
                   stage='head')
    logits = tiny_model(torch.randn(2, 1, 3, 20, 32, 32), mode='tensor',
                        stage='head')
    assert logits.shape == (2, 4)


def test_only_the_side_network_and_head_train(tiny_model):
    trainable = {n.split('.')[0] for n, p in tiny_model.named_parameters()
                 if p.requires_grad}
    assert trainable == {'neck', 'cls_head'}
    model = copy.deepcopy(tiny_model).train()
    assert not model.backbone.visual.training
    assert model.neck.blocks[0].td_adapter.norm.training


def test_window_order_matters(tiny_model):
    """Frames of one window reversed (a layout mistake) change the output:
    the SME-Adapter reads the windows' frame order."""
    clip = torch.randn(1, 3, 20, 32, 32)
    swapped = clip.unflatten(2, (4, 5)).flip(3).flatten(2, 3)
    with torch.no_grad():
        a = tiny_model(clip[:, None], mode='tensor', stage='head')
        b = tiny_model(swapped[:, None], mode='tensor', stage='head')
    assert (a - b).abs().max() > 1e-4


@pytest.fixture(scope='module')
def tds_official():
    return torch.load(
        osp.join(TDS_FIXTURES, 'tiny-a.official_state_dict.pth'),
        weights_only=True)


@pytest.fixture(scope='module')
def dist_official():
    return torch.load(
        osp.join(DIST_FIXTURES, 'tiny-a.official_state_dict.pth'),
        weights_only=True)


def test_every_official_layout_converts_the_same(tds_official):
    reference, report = convert_official_tdsclip_state_dict(tds_official)
    assert report['unused'] == []
    layouts = [
        dict(epoch=3, model_state_dict=tds_official,
             optimizer_state_dict=dict(state={}, param_groups=[])),
        {f'module.{k}': v for k, v in tds_official.items()},
        dict(model_state_dict={f'module.{k}': v
                               for k, v in tds_official.items()}),
    ]
    for layout in layouts:
        assert detect_official_method(layout) == 'tdsclip'
        converted, _ = convert_official_tdsclip_state_dict(layout)
        assert converted.keys() == reference.keys()
        assert all(torch.equal(converted[k], reference[k]) for k in reference)


def test_another_methods_checkpoint_is_refused(tds_official, dist_official,
                                               tiny_model):
    assert detect_official_method(dist_official) == 'dist'
    with pytest.raises(ValueError, match=r'official DiST weights'):
        convert_official_tdsclip_state_dict(dist_official)
    with pytest.raises(ValueError, match='official DiST checkpoint, not '
                       'TDS-CLIP'):
        convert_official_checkpoint(dist_official, method='tdsclip')
    with pytest.raises(ValueError, match='official TDS-CLIP checkpoint, not '
                       'DiST'):
        convert_official_checkpoint(tds_official, method='dist')
    # DiST weights with a CLIP of the right size: the side network refuses
    # DiST's neck (load_from loads non-strictly, so this must raise).
    dist_converted, _ = convert_official_state_dict(dist_official)
    dist_neck = {k: v for k, v in dist_converted.items()
                 if k.startswith('neck.')}
    with pytest.raises(ValueError, match='checkpoint of another method'):
        copy.deepcopy(tiny_model).load_state_dict(dist_neck, strict=False)


def _cli(*args):
    return subprocess.run(
        [sys.executable,
         osp.join(REPO, 'tools', 'convert_official_checkpoint.py')] +
        [str(a) for a in args],
        capture_output=True, text=True, cwd=REPO)


def test_cli_converts_an_official_training_file(tmp_path, tds_official,
                                                capsys):
    case = torch.load(
        osp.join(TDS_FIXTURES, 'tiny-a.case.pth'), weights_only=True)
    src = tmp_path / 'model_best.pt'
    torch.save(
        dict(epoch=29,
             model_state_dict={f'module.{k}': v
                               for k, v in tds_official.items()},
             optimizer_state_dict=dict(state={}, param_groups=[])), src)
    # --method refuses another method's file (in-process: the same main())
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'tdsclip_convert_cli',
        osp.join(REPO, 'tools', 'convert_official_checkpoint.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main([str(src), str(tmp_path / 'x.pth'), '--method',
                      'dist']) == 1
    assert 'official TDS-CLIP checkpoint, not DiST' in capsys.readouterr().err
    assert not (tmp_path / 'x.pth').exists()
    dst = tmp_path / 'out' / 'tdsclip.pth'
    result = _cli(src, dst)
    assert result.returncode == 0, result.stderr
    assert 'official TDS-CLIP checkpoint' in result.stdout
    assert 'kept from the pretrained CLIP' in result.stdout
    model = MODELS.build(tdsclip_official_to_model_cfg(case['config']))
    load_dist_checkpoint(model, str(dst), strict=True)
    with torch.no_grad():
        logits = model.eval()(case_clip(case)[:, None], mode='tensor',
                              stage='head')
    torch.testing.assert_close(logits, case['logits'], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('patch,resolution,side,segments', [(14, 28, 160, 3),
                                                            (16, 48, 96, 5)])
def test_other_official_sizes_build_and_run(patch, resolution, side,
                                            segments):
    """Patch 14 or 16, any width, depth, side width and segment count: the
    official-config builder gives a model with the official head counts,
    and the side stems read the official one-pixel-shifted patches."""
    official = dict(
        embed_dim=32, image_resolution=resolution, vision_layers=2,
        vision_width=128, vision_patch_size=patch, context_length=8,
        vocab_size=100, transformer_width=64, transformer_heads=1,
        transformer_layers=1, T=segments, side_dim=side, num_diff=5,
        num_classes=3)
    model = MODELS.build(tdsclip_official_to_model_cfg(official)).eval()
    grid = resolution // patch
    assert model.neck.pos_embed.shape == (grid * grid, side)
    assert model.neck.blocks[0].attn.num_heads == side // 64
    assert model.neck.blocks[0].td_adapter.gate_reduce.out_channels == \
        side // 16
    assert model.backbone.visual.transformer.resblocks[0].attn.num_heads == 2
    clip = torch.randn(2, 3, segments * 5, resolution, resolution)
    with torch.no_grad():
        logits = model(clip[:, None], mode='tensor', stage='head')
        feats = model.backbone(clip)
        volume, _ = model.neck(feats)
        # one-pixel shift: same as zero-padding top/left by one, no padding
        # in space, the last row/column never read
        centre = clip.unflatten(2, (segments, 5))[:, :, :, 2]
        conv = model.neck.rgb_stem.conv
        shifted = torch.nn.functional.pad(
            centre, (1, 0, 1, 0))[..., :resolution, :resolution]
        expected = torch.nn.functional.conv3d(
            shifted, conv.weight, conv.bias, stride=conv.stride,
            padding=(1, 0, 0))
        torch.testing.assert_close(conv(centre), expected)
    assert logits.shape == (2, 3)
    assert volume.shape == (2, side, segments, grid, grid)
    assert tuple(feats.grid_size) == (grid, grid)


def test_load_from_converts_and_refuses_on_the_fly(tds_official,
                                                   dist_official):
    """What OfficialCheckpointHook does for load_from / tools/test.py: an
    official TDS-CLIP file is converted and gives the official logits; an
    official DiST file is refused for a TDS-CLIP model with a clear error."""
    from dist_plugin.apis import convert_loaded_checkpoint
    case = torch.load(
        osp.join(TDS_FIXTURES, 'tiny-a.case.pth'), weights_only=True)
    model = MODELS.build(tdsclip_official_to_model_cfg(case['config']))
    checkpoint = dict(epoch=1, model_state_dict=dict(tds_official))
    assert convert_loaded_checkpoint(checkpoint, model)
    missing, unexpected = model.load_state_dict(checkpoint['state_dict'],
                                                strict=False)
    assert not unexpected
    assert sorted(missing) == sorted(checkpoint['meta']['kept_from_model'])
    with torch.no_grad():
        logits = model.eval()(case_clip(case)[:, None], mode='tensor',
                              stage='head')
    torch.testing.assert_close(logits, case['logits'], atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match='official DiST checkpoint does not '
                       'fit this model'):
        convert_loaded_checkpoint(dict(dist_official), model)
