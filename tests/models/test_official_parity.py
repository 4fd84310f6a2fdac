"""DiST equals the official model: logits, video embedding and text features
of every fixture in ``$DIST_OFFICIAL_FIXTURES`` (default: tests/data)."""
import glob
import os
import os.path as osp

import pytest
import torch
from helpers.official_fixtures import case_video
from mmaction.registry import MODELS

from dist_plugin.checkpoint import (convert_official_state_dict,
                                    official_to_model_cfg)

FIXTURE_DIR = os.environ.get(
    'DIST_OFFICIAL_FIXTURES',
    osp.join(osp.dirname(osp.dirname(__file__)), 'data', 'official_dist'))
CASES = sorted(glob.glob(osp.join(FIXTURE_DIR, '*.case.pth')))
TOL = dict(atol=1e-4, rtol=1e-4)


def test_fixture_folder_is_not_empty():
    assert CASES, f'no *.case.pth fixture in {FIXTURE_DIR}'


def _build(case_path: str):
    case = torch.load(case_path, weights_only=True)
    name = osp.basename(case_path)[:-len('.case.pth')]
    state_path = osp.join(FIXTURE_DIR, f'{name}.official_state_dict.pth')
    official = torch.load(state_path, weights_only=True)
    model = MODELS.build(official_to_model_cfg(case['config']))
    converted, report = convert_official_state_dict(official)
    assert report['unused'] == []
    missing, unexpected = model.load_state_dict(converted, strict=True)
    assert not missing and not unexpected
    model.cls_head.set_classes(tokens=case['text_tokens'])
    return case, model.eval()


@pytest.mark.parametrize('case_path', CASES, ids=osp.basename)
def test_matches_official_outputs(case_path):
    case, model = _build(case_path)
    cfg = case['config']
    frames = cfg['DATA']['NUM_INPUT_FRAMES']
    video = case_video(case)
    inputs = video[:, None]  # mmaction layout [N, V=1, 3, T, H, W]
    with torch.no_grad():
        logits = model(inputs, mode='tensor', stage='head')
        feats = model.backbone(video)
        embed, _ = model.neck(feats)
        text = model.cls_head.clip.encode_text(case['text_tokens'])
    torch.testing.assert_close(logits, case['logits'], **TOL)
    torch.testing.assert_close(embed, case['video_embedding'], **TOL)
    torch.testing.assert_close(text, case['text_features'], **TOL)
    # Per-layer CLIP tokens of the first clip, official layout [1+N, Ts, D].
    keys = case['per_layer_visual_features_keys']
    num_sparse = frames // cfg['DATA']['SPARSE_SAMPLE_ALPHA']
    for layer, tokens in zip(feats.layer_ids, feats.layer_tokens):
        ref = case['per_layer_visual_features'][keys.index(str(layer))]
        torch.testing.assert_close(
            tokens[:num_sparse].transpose(0, 1), ref, **TOL)


@pytest.mark.parametrize('case_path', CASES, ids=osp.basename)
def test_train_mode_matches_official_train_logits(case_path):
    """The official model has no dropout, BatchNorm or drop-path: in train
    mode (autograd on) it gives ``logits_train``, equal to the eval logits.
    Fixtures without ``logits_train`` (tiny-a) are checked against their eval
    logits, which the official code gives in train mode too."""
    case, model = _build(case_path)
    expected = case.get('logits_train', case['logits'])
    model.train()
    assert model.neck.training and not model.backbone.visual.training
    logits = model(case_video(case)[:, None], mode='tensor', stage='head')
    assert logits.requires_grad  # a real training-mode forward
    torch.testing.assert_close(logits.detach(), expected, **TOL)
    # and the two passes agree with each other (no stochastic layer)
    with torch.no_grad():
        again = model(case_video(case)[:, None], mode='tensor', stage='head')
    torch.testing.assert_close(again, logits.detach(), **TOL)
    # the training path's backward (memory-lean activations) reaches every
    # trainable DiST parameter with finite gradients
    logits.square().sum().backward()
    trainable = [(n, p) for n, p in model.named_parameters()
                 if p.requires_grad]
    assert trainable and all(n.startswith('neck.') for n, _ in trainable)
    missing = [n for n, p in trainable if p.grad is None]
    assert not missing, f'no gradient for {missing}'
    assert all(torch.isfinite(p.grad).all() for _, p in trainable)


@pytest.mark.parametrize('case_path', CASES, ids=osp.basename)
def test_a_single_wrong_weight_breaks_parity(case_path):
    """The comparison is sensitive: perturbing one DiST weight fails the
    parity check itself (``TOL``), not some other threshold."""
    case, model = _build(case_path)
    video = case_video(case)
    with torch.no_grad():
        logits = model(video[:, None], mode='tensor', stage='head')
        assert torch.allclose(logits, case['logits'], **TOL)
        # A deep weight (reached only through the whole integration branch),
        # moved by half its own spread (a constant shift would vanish in the
        # LayerNorms that read it; the floor covers an all-zero tensor).
        token = model.neck.t2i_links[0].cls_token
        scale = 0.5 * max(token.std().item(), 0.02)
        token.add_(scale * torch.randn(
            token.shape, generator=torch.Generator().manual_seed(0)))
        logits = model(video[:, None], mode='tensor', stage='head')
    assert not torch.allclose(logits, case['logits'], **TOL), (
        'one wrong weight passes the parity tolerance: max change '
        f'{(logits - case["logits"]).abs().max():.2e}')
