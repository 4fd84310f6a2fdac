"""TDS-CLIP equals the official model on every fixture in
``$TDSCLIP_OFFICIAL_FIXTURES`` (default: tests/data/official_tdsclip):
logits, video feature, CLIP tokens, stems, every side block and the adapters
of the first block, at atol = rtol = 1e-4, in eval mode."""
import glob
import os
import os.path as osp

import pytest
import torch
from helpers.tdsclip import ABSENT_FROM_OFFICIAL, case_clip
from mmaction.registry import MODELS

import dist_plugin_projects.tds_clip  # noqa: F401  (registers TDS-CLIP)
from dist_plugin.checkpoint.convert_tdsclip import (
    convert_official_tdsclip_state_dict, tdsclip_official_to_model_cfg)
from dist_plugin_projects.tds_clip.models import tdsclip_side_block, \
    tdsclip_side_neck
from dist_plugin_projects.tds_clip.models.tdsclip_side_block import (
    tokens_to_volume, volume_to_tokens)

FIXTURE_DIR = os.environ.get(
    'TDSCLIP_OFFICIAL_FIXTURES',
    osp.join(osp.dirname(osp.dirname(__file__)), 'data', 'official_tdsclip'))
CASES = sorted(glob.glob(osp.join(FIXTURE_DIR, '*.case.pth')))
TOL = dict(atol=1e-4, rtol=1e-4)


def test_fixture_folder_is_not_empty():
    assert CASES, f'no *.case.pth fixture in {FIXTURE_DIR}'


def _build(case_path: str):
    """The model of ``case['config']`` with the converted official weights."""
    case = torch.load(case_path, weights_only=True)
    name = osp.basename(case_path)[:-len('.case.pth')]
    official = torch.load(
        osp.join(FIXTURE_DIR, f'{name}.official_state_dict.pth'),
        weights_only=True)
    model = MODELS.build(tdsclip_official_to_model_cfg(case['config']))
    # an official training file: wrapped, saved from DDP
    wrapped = dict(
        epoch=0,
        model_state_dict={f'module.{k}': v
                          for k, v in official.items()})
    converted, report = convert_official_tdsclip_state_dict(wrapped)
    assert report['unused'] == []
    # Every model weight comes from the file except the CLIP image head that
    # the official model does not have and TDS-CLIP never reads.
    absent = set(model.state_dict()) - set(converted)
    assert absent == set(ABSENT_FROM_OFFICIAL)
    converted.update({k: model.state_dict()[k] for k in absent})
    model.load_state_dict(converted, strict=True)
    return case, model.eval()


def _run(model, case):
    """Backbone features, side volume and logits of the fixture input."""
    clip = case_clip(case)
    with torch.no_grad():
        feats = model.backbone(clip)
        volume, _ = model.neck(feats)
        logits = model.cls_head(volume)
        recognizer_logits = model(clip[:, None], mode='tensor', stage='head')
    return feats, volume, logits, recognizer_logits


@pytest.mark.parametrize('case_path', CASES, ids=osp.basename)
def test_matches_official_outputs(case_path):
    case, model = _build(case_path)
    feats, volume, logits, recognizer_logits = _run(model, case)
    torch.testing.assert_close(logits, case['logits'], **TOL)
    torch.testing.assert_close(recognizer_logits, case['logits'], **TOL)
    with torch.no_grad():
        torch.testing.assert_close(
            model.cls_head.pool(volume), case['video_feature'], **TOL)
        torch.testing.assert_close(
            model.cls_head.norm(volume), case['post_bn'], **TOL)
    assert len(feats.layer_tokens) == len(case['clip_tokens'])
    for ours, ref in zip(feats.layer_tokens, case['clip_tokens']):
        torch.testing.assert_close(ours, ref, **TOL)


@pytest.mark.parametrize('case_path', CASES, ids=osp.basename)
def test_stems_and_every_side_block_match(case_path):
    case, model = _build(case_path)
    neck = model.neck
    clip = case_clip(case)
    with torch.no_grad():
        feats = model.backbone(clip)
        windows, centre = neck.split_clip(clip)
        stem = case['stem']
        rgb_conv = neck.rgb_stem.conv(centre)
        torch.testing.assert_close(rgb_conv, stem['rgb_conv'], **TOL)
        torch.testing.assert_close(
            neck.rgb_stem.norm(rgb_conv), stem['rgb_bn'], **TOL)
        sme = neck.sme_adapter(windows)
        torch.testing.assert_close(sme, stem['diff_bn'], **TOL)
        torch.testing.assert_close(
            neck.sme_adapter.stem.conv(
                neck.sme_adapter.differences(windows)), stem['diff_conv'],
            **TOL)
        num_segments, grid = int(case['config']['T']), tuple(feats.grid_size)
        s = volume_to_tokens(neck.stem(clip))
        for i, (tokens, block) in enumerate(zip(feats.layer_tokens,
                                                neck.blocks)):
            p = neck.clip_projs[i](neck.clip_norms[i](tokens))
            torch.testing.assert_close(p, case['side_proj_tokens'][i], **TOL)
            s = 0.5 * s + 0.5 * p[:, 1:]
            torch.testing.assert_close(s, case['side_block_inputs'][i],
                                       **TOL)
            s = block(s, p[:, 0], neck.pos_embed, num_segments, grid)
            torch.testing.assert_close(s, case['side_block_outputs'][i],
                                       **TOL)


@pytest.mark.parametrize('case_path', CASES, ids=osp.basename)
def test_first_block_adapters_match(case_path):
    case, model = _build(case_path)
    neck, ref = model.neck, case['block0']
    block = neck.blocks[0]
    adapter = block.td_adapter
    num_segments = int(case['config']['T'])
    x = case['side_block_inputs'][0]
    grid = tuple(case['post_bn'].shape[-2:])
    with torch.no_grad():
        v = tokens_to_volume(x, num_segments, grid)
        normed = adapter.norm(v)
        torch.testing.assert_close(normed, ref['bn_1'], **TOL)
        u = adapter.conv_branch(normed)
        torch.testing.assert_close(u, ref['conv'], **TOL)
        z = adapter.bottleneck(u)
        torch.testing.assert_close(z, ref['td_bottleneck'], **TOL)
        z_max = adapter.temporal_max(z, num_segments)
        torch.testing.assert_close(z_max, ref['td_maxpool'], **TOL)
        torch.testing.assert_close(
            adapter.gate_logits(z, z_max), ref['td_gate_logits'], **TOL)
        torch.testing.assert_close(adapter(v), ref['td_out'], **TOL)
        x1 = x + volume_to_tokens(ref['td_out'])
        cls = case['side_proj_tokens'][0][:, 0]
        seq = block.attention_input(x1, cls, neck.pos_embed, num_segments)
        torch.testing.assert_close(seq, ref['attn_seq'], **TOL)
        normed_seq = block.attn_norm(seq)
        torch.testing.assert_close(normed_seq, ref['ln_1'], **TOL)
        attn = block.attend(normed_seq)
        torch.testing.assert_close(attn, ref['attn'], **TOL)
        x2 = x1 + attn
        torch.testing.assert_close(
            block.mlp_norm(tokens_to_volume(x2, num_segments, grid)),
            ref['bn_2'], **TOL)
        torch.testing.assert_close(
            block.mlp_branch(x2, num_segments, grid), ref['mlp'], **TOL)


@pytest.mark.parametrize('case_path', CASES, ids=osp.basename)
def test_a_single_wrong_weight_breaks_parity(case_path):
    """The comparison is sensitive: perturbing one side weight fails it."""
    case, model = _build(case_path)
    with torch.no_grad():
        weight = model.neck.blocks[0].td_adapter.conv_temporal.weight
        weight.add_(0.05 * torch.randn(
            weight.shape, generator=torch.Generator().manual_seed(0)))
    _, _, logits, _ = _run(model, case)
    with pytest.raises(AssertionError):
        torch.testing.assert_close(logits, case['logits'], **TOL)


def _swapped_shift(tokens, num_segments):
    """Token shift with the two directions swapped (a reader's mistake)."""
    x = tokens.unflatten(0, (-1, num_segments))
    fold = x.shape[-1] // 2
    out = x.new_zeros(x.shape)
    out[:, 1:, :fold] = x[:, :-1, :fold]
    out[:, :-1, fold:] = x[:, 1:, fold:]
    return out.flatten(0, 1)


MISTAKES = {
    'token shift directions swapped':
    lambda mp, model: mp.setattr(tdsclip_side_block, 'shift_tokens',
                                 _swapped_shift),
    'SME-Adapter weight 1':
    lambda mp, model: mp.setattr(model.neck, 'sme_weight', 1.0),
    'side merge s + p':
    lambda mp, model: mp.setattr(model.neck, 'merge_weight', 1.0),
    'stems without spatial padding': lambda mp, model: [
        mp.setattr(stem.conv, 'padding', (1, 0, 0)) for stem in (
            model.neck.rgb_stem, model.neck.sme_adapter.stem)
    ],
    'centre frame off by one':
    lambda mp, model: mp.setattr(
        tdsclip_side_neck.TDSCLIPSideNeck, 'split_clip',
        lambda self, clip: (clip.unflatten(2, (-1, self.window)),
                            clip.unflatten(2, (-1, self.window))[:, :, :, 0])),
}


@pytest.mark.parametrize('mistake', sorted(MISTAKES))
def test_reader_mistakes_break_parity(mistake, monkeypatch):
    """Mistakes listed in the fixture README change the logits beyond the
    tolerance (so the parity test can see them)."""
    case, model = _build(CASES[0])
    MISTAKES[mistake](monkeypatch, model)
    _, _, logits, _ = _run(model, case)
    with pytest.raises(AssertionError):
        torch.testing.assert_close(logits, case['logits'], **TOL)
