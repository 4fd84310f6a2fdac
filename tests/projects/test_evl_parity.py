"""EVL equals the official model: logits, every decoder layer and the
backbone's tokens and q/k of every fixture in ``$EVL_OFFICIAL_FIXTURES``
(default: tests/data/official_evl), each built from ``case['config']``."""
import glob
import os
import os.path as osp

import pytest
import torch
from mmaction.registry import MODELS

import dist_plugin_projects.evl  # noqa: F401  (registers EVL)
from dist_plugin.checkpoint import convert_evl_state_dict
from dist_plugin_projects.evl.official_config import official_to_model_cfg

FIXTURE_DIR = os.environ.get(
    'EVL_OFFICIAL_FIXTURES',
    osp.join(osp.dirname(osp.dirname(__file__)), 'data', 'official_evl'))
CASES = sorted(glob.glob(osp.join(FIXTURE_DIR, '*.case.pth')))
TOL = dict(atol=1e-4, rtol=1e-4)


def test_fixture_folder_is_not_empty():
    assert CASES, f'no *.case.pth fixture in {FIXTURE_DIR}'


def _load(case_path: str):
    case = torch.load(case_path, weights_only=True)
    name = osp.basename(case_path)[:-len('.case.pth')]
    official = torch.load(
        osp.join(FIXTURE_DIR, f'{name}.official_state_dict.pth'),
        weights_only=True)
    return case, official


def _build(case_path: str, dtype=torch.float32):
    case, official = _load(case_path)
    model = MODELS.build(official_to_model_cfg(case['config']))
    converted, report = convert_evl_state_dict(official)
    assert report['unused'] == []
    assert report['dropped'] == ['backbone.patch_embed.proj.bias']
    # every model weight comes from the file (the backbone is built without
    # CLIP's image head, which the official model lacks too)
    assert set(converted) == set(model.state_dict())
    model.load_state_dict(converted, strict=True)
    return case, model.to(dtype).eval()


def _per_clip(x: torch.Tensor, batch: int) -> torch.Tensor:
    """``[B*T, ...]`` -> ``[B, T, ...]`` (the fixtures' layout)."""
    return x.view(batch, -1, *x.shape[1:])


@pytest.mark.parametrize('case_path', CASES, ids=osp.basename)
def test_matches_official_outputs(case_path):
    case, model = _build(case_path)
    cfg = case['config']
    video = case['video']  # [B, 3, T, H, W], normalized
    batch = video.shape[0]
    with torch.no_grad():
        logits = model(video[:, None], mode='tensor', stage='head')
        feats = model.backbone(video)
        layers = list(model.neck.iter_layers(feats))
        head_ln = model.cls_head.norm(layers[-1][0][:, 0])
    torch.testing.assert_close(logits, case['logits'], **TOL)
    torch.testing.assert_close(head_ln, case['head_ln_out'], **TOL)

    # Backbone: the tapped blocks, their q/k (unscaled, split into heads).
    tapped = cfg['tapped_blocks']
    num_blocks = len(case['backbone_block_out'])
    assert list(feats.layer_ids) == [b % num_blocks for b in tapped]
    for pos, block in enumerate(tapped):
        torch.testing.assert_close(
            _per_clip(feats.layer_tokens[pos], batch),
            case['backbone_block_out'][block], **TOL)
        q, k = feats.layer_qk[pos]
        torch.testing.assert_close(
            _per_clip(q, batch), case['backbone_q'][pos], **TOL)
        torch.testing.assert_close(
            _per_clip(k, batch), case['backbone_k'][pos], **TOL)
    # ... and every block, with the same weights and all blocks returned.
    backbone_cfg = official_to_model_cfg(cfg)['backbone']
    backbone_cfg.update(out_indices=None, return_qk=False)
    every = MODELS.build(backbone_cfg)
    every.load_state_dict(model.backbone.state_dict())
    with torch.no_grad():
        all_feats = every(video)
        frames = video.transpose(1, 2).flatten(0, 1)
        embedded = every.embed(frames)
    torch.testing.assert_close(
        _per_clip(embedded, batch), case['backbone_ln_pre_out'], **TOL)
    assert len(all_feats.layer_tokens) == num_blocks
    for block, tokens in enumerate(all_feats.layer_tokens):
        torch.testing.assert_close(
            _per_clip(tokens, batch), case['backbone_block_out'][block],
            **TOL)

    # Decoder: each layer's local temporal terms, memory and output query.
    assert len(layers) == cfg['decoder_num_layers']
    for idx, (query, terms) in enumerate(layers):
        torch.testing.assert_close(
            terms['temporal_conv'], case['decoder_temporal_conv_out'][idx],
            **TOL)
        torch.testing.assert_close(
            terms['cross_attention'],
            case['decoder_cross_attention_out'][idx], **TOL)
        assert torch.count_nonzero(terms['cross_attention'][:, :, 0]) == 0
        torch.testing.assert_close(
            terms['memory'], case['decoder_frame_features'][idx], **TOL)
        torch.testing.assert_close(query, case['decoder_layer_out'][idx],
                                   **TOL)


@pytest.mark.parametrize('case_path', CASES, ids=osp.basename)
def test_float64_matches_the_written_math(case_path):
    """In float64 the model equals the fixture's independent float64
    evaluation of the official math."""
    case, model = _build(case_path, torch.float64)
    with torch.no_grad():
        logits = model(case['video'][:, None].double(), mode='tensor',
                       stage='head')
    torch.testing.assert_close(logits, case['logits_float64'], **TOL)


@pytest.mark.parametrize('case_path', CASES, ids=osp.basename)
def test_a_single_wrong_weight_breaks_parity(case_path):
    """The comparison is sensitive: one wrong EVL weight fails the parity
    check itself (``TOL``)."""
    case, model = _build(case_path)
    video = case['video'][:, None]
    with torch.no_grad():
        assert torch.allclose(
            model(video, mode='tensor', stage='head'), case['logits'], **TOL)
        # One relative-position table of the first layer's temporal cross
        # attention, moved by half its own spread (floor for all zeros).
        table = model.neck.cross_attentions[0].w_prev
        scale = 0.5 * max(table.std().item(), 0.02)
        table.add_(scale * torch.randn(
            table.shape, generator=torch.Generator().manual_seed(0)))
        logits = model(video, mode='tensor', stage='head')
    assert not torch.allclose(logits, case['logits'], **TOL), (
        'one wrong weight passes the parity tolerance: max change '
        f'{(logits - case["logits"]).abs().max():.2e}')
