"""The converter accepts every official layout and the CLI writes a
checkpoint that mmengine loads."""
import os.path as osp
import subprocess
import sys

import pytest
import torch
from helpers.official_fixtures import case_video
from mmaction.registry import MODELS
from mmengine.runner import load_checkpoint

from dist_plugin.checkpoint import (convert_official_state_dict,
                                    official_to_model_cfg)
from dist_plugin.checkpoint.convert import LEGACY_RENAMES

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FIXTURES = osp.join(REPO, 'tests', 'data', 'official_dist')


@pytest.fixture(scope='module')
def official():
    return torch.load(
        osp.join(FIXTURES, 'tiny-a.official_state_dict.pth'),
        weights_only=True)


@pytest.fixture(scope='module')
def case():
    return torch.load(
        osp.join(FIXTURES, 'tiny-a.case.pth'), weights_only=True)


def _legacy(state_dict):
    inverse = {new: old for old, new in LEGACY_RENAMES}
    out = {}
    for key, value in state_dict.items():
        for new, old in inverse.items():
            if key.startswith(new):
                key = old + key[len(new):]
                break
        out[key] = value
    return out


def test_every_official_layout_converts_the_same(official):
    reference, report = convert_official_state_dict(official)
    assert report == dict(
        unused=[],
        dropped=[
            'dist_net.integration2temporal_nets.2.linear_fuse.weight',
            'dist_net.integration2temporal_nets.2.linear_fuse.bias'
        ])
    layouts = {
        'released': {
            'model_state': {
                'backbone.base_encoder.' + k: v
                for k, v in official.items()
            }
        },
        'ddp': {'module.' + k: v for k, v in official.items()},
        'released+ddp': {
            'model_state': {
                'module.backbone.base_encoder.' + k: v
                for k, v in official.items()
            }
        },
        'legacy': _legacy(official),
    }
    assert any(k.startswith('ladder_net.s2t_fuse_nets.')
               for k in layouts['legacy'])
    for name, layout in layouts.items():
        converted, _ = convert_official_state_dict(layout)
        assert converted.keys() == reference.keys(), name
        for key in reference:
            assert torch.equal(converted[key], reference[key]), (name, key)


def test_unknown_keys_are_reported(official):
    extra = dict(official)
    extra['dist_net.something_new.weight'] = torch.zeros(2)
    extra['optimizer_momentum'] = torch.zeros(2)
    _, report = convert_official_state_dict(extra)
    assert report['unused'] == [
        'dist_net.something_new.weight', 'optimizer_momentum'
    ]


def test_reshaped_weights(official):
    converted, _ = convert_official_state_dict(official)
    assert converted['neck.video_query'].shape == (128, )
    assert converted['neck.t2i_links.0.cls_token'].shape == (4, 128)
    assert converted['neck.pooling_layers.1.pos_embed'].shape == (4, 128)
    assert converted['neck.integration_blocks.0.temporal_fc1.weight'].shape \
        == (32, 128)
    assert converted['neck.integration_blocks.0.temporal_conv.weight'].shape \
        == (32, 32, 3)
    torch.testing.assert_close(
        converted['neck.integration_blocks.2.temporal_fc2.weight'],
        official['dist_net.integration_nets.2.temporal_ffn.c_proj.weight']
        .flatten(1))


def test_cli_writes_a_loadable_checkpoint(tmp_path, official, case):
    src = tmp_path / 'official.pyth'
    torch.save(
        {
            'model_state': {
                'module.backbone.base_encoder.' + k: v
                for k, v in official.items()
            }
        }, src)
    dst = tmp_path / 'out' / 'dist.pth'
    result = subprocess.run(
        [
            sys.executable,
            osp.join(REPO, 'tools', 'convert_official_checkpoint.py'),
            str(src),
            str(dst)
        ],
        capture_output=True,
        text=True,
        cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert 'dropped (never used by the official model): ' \
        'dist_net.integration2temporal_nets.2.linear_fuse.weight' \
        in result.stdout
    assert 'sha256' in result.stdout
    model = MODELS.build(official_to_model_cfg(case['config']))
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    model.cls_head.set_classes(tokens=case['text_tokens'])
    video = case_video(case)
    with torch.no_grad():
        logits = model.eval()(video[:, None], mode='tensor', stage='head')
    torch.testing.assert_close(logits, case['logits'], atol=1e-4, rtol=1e-4)


def test_cli_refuses_a_non_dist_checkpoint(tmp_path):
    src = tmp_path / 'resnet.pth'
    torch.save({'state_dict': {'conv1.weight': torch.zeros(1)}}, src)
    result = subprocess.run(
        [
            sys.executable,
            osp.join(REPO, 'tools', 'convert_official_checkpoint.py'),
            str(src),
            str(tmp_path / 'x.pth')
        ],
        capture_output=True,
        text=True,
        cwd=REPO)
    assert result.returncode == 1
    assert 'holds no DiST weights' in result.stderr
    assert not (tmp_path / 'x.pth').exists()
