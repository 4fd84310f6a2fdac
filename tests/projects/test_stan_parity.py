"""STAN equals the official model on every fixture in
``$STAN_OFFICIAL_FIXTURES`` (default: tests/data/official_stan): logits,
video embedding, text features, each STAN layer and the CLIP tokens."""
import glob
import os
import os.path as osp

import pytest
import torch
from mmaction.registry import MODELS

import dist_plugin  # noqa: F401
import dist_plugin_projects.stan  # noqa: F401
from dist_plugin.checkpoint.convert_stan import \
    convert_official_stan_state_dict
from dist_plugin_projects.stan.official_config import official_to_model_cfg

FIXTURE_DIR = os.environ.get(
    'STAN_OFFICIAL_FIXTURES',
    osp.join(osp.dirname(osp.dirname(__file__)), 'data', 'official_stan'))
CASES = sorted(glob.glob(osp.join(FIXTURE_DIR, '*.case.pth')))
TOL = dict(atol=1e-4, rtol=1e-4)


def test_fixture_folder_is_not_empty():
    assert CASES, f'no *.case.pth fixture in {FIXTURE_DIR}'


def _build(case_path: str):
    case = torch.load(case_path, weights_only=True)
    name = osp.basename(case_path)[:-len('.case.pth')]
    official = torch.load(
        osp.join(FIXTURE_DIR, f'{name}.official_state_dict.pth'),
        weights_only=True)
    cfg = case['config']
    model = MODELS.build(official_to_model_cfg(cfg))
    converted, report = convert_official_stan_state_dict(
        official,
        text_context_length=cfg['text']['context_length'],
        tau=cfg['tau'])
    assert report['unused'] == []
    model.load_state_dict(converted, strict=True)
    model.cls_head.set_classes(tokens=case['text_tokens'])
    return case, official, model.eval()


def _video(case) -> torch.Tensor:
    """Fixture layout ``[B, T, 3, H, W]`` -> mmaction's ``[B, 3, T, H, W]``."""
    return case['video'].transpose(1, 2).contiguous()


def _run(model, case):
    """Logits, video embedding, text features and tapped intermediates."""
    taps = dict(stan_in=[], stan_t_out=[], stan_s_out=[])
    hooks = []
    for t_layer, s_layer in zip(model.neck.t_layers, model.neck.s_layers):
        hooks.append(t_layer.register_forward_pre_hook(
            lambda m, args: taps['stan_in'].append(args[0])))
        hooks.append(t_layer.register_forward_hook(
            lambda m, args, out: taps['stan_t_out'].append(out)))
        hooks.append(s_layer.register_forward_hook(
            lambda m, args, out: taps['stan_s_out'].append(out)))
    video = _video(case)
    with torch.no_grad():
        logits = model(video[:, None], mode='tensor', stage='head')
        for value in taps.values():
            value.clear()  # keep the second (neck-only) pass
        feats = model.backbone(video)
        embed, _ = model.neck(feats)
        text = model.cls_head.clip.encode_text(case['text_tokens'])
    for hook in hooks:
        hook.remove()
    return logits, embed, text, feats, taps


@pytest.mark.parametrize('case_path', CASES, ids=osp.basename)
def test_matches_official_outputs(case_path):
    case, _, model = _build(case_path)
    logits, embed, text, feats, taps = _run(model, case)
    torch.testing.assert_close(logits, case['logits'], **TOL)
    torch.testing.assert_close(embed, case['video_embedding'], **TOL)
    torch.testing.assert_close(text, case['text_features'], **TOL)
    inter = case['intermediates']
    depth = case['config']['visual_encoder']['depth']
    assert len(taps['stan_s_out']) == depth
    for key in ('stan_in', 'stan_t_out', 'stan_s_out'):
        for k, (ours, ref) in enumerate(zip(taps[key], inter[key])):
            torch.testing.assert_close(
                ours, ref, **TOL, msg=lambda m: f'{key}[{k}]: {m}')
    assert list(feats.layer_ids) == case['config']['tapped_clip_layers']
    for idx, tokens in zip(feats.layer_ids, feats.layer_tokens):
        torch.testing.assert_close(tokens, inter['clip_layer_out'][idx],
                                   **TOL)
    cosine = torch.nn.functional.normalize(embed, dim=-1) @ \
        torch.nn.functional.normalize(text, dim=-1).t()
    torch.testing.assert_close(cosine, case['cosine'], atol=1e-5, rtol=1e-5)


def _perturb_time_order(state):
    rows = state['backbone.STAN_time_embed.weight'].clone()
    rows[[0, 1]] = rows[[1, 0]]
    state['backbone.STAN_time_embed.weight'] = rows


def _perturb_q_as_k(state):
    key = 'backbone.STAN_S_layers.0.self_attn.'
    state[key + 'q_proj.weight'], state[key + 'k_proj.weight'] = \
        state[key + 'k_proj.weight'], state[key + 'q_proj.weight']


def _perturb_cross_frame_fc(state):
    key = 'backbone.STAN_T_layers.0.temporal_fc.bias'
    state[key] = state[key] * 1.01


@pytest.mark.parametrize('perturb', [
    _perturb_time_order, _perturb_q_as_k, _perturb_cross_frame_fc
], ids=lambda f: f.__name__[9:])
@pytest.mark.parametrize('case_path', CASES[:1], ids=osp.basename)
def test_wrong_weight_breaks_parity(case_path, perturb):
    case, official, model = _build(case_path)
    state = dict(official)
    perturb(state)
    converted, _ = convert_official_stan_state_dict(
        state, text_context_length=case['config']['text']['context_length'])
    model.load_state_dict(converted, strict=True)
    logits = _run(model, case)[0]
    assert not torch.allclose(logits, case['logits'], **TOL)


@pytest.mark.parametrize('case_path', CASES, ids=osp.basename)
def test_retrieval_model_matches_official_embeddings(case_path):
    """The same official weights in STANSimilarity (the retrieval model):
    video and text embeddings equal the official ones."""
    from dist_plugin_projects.stan.official_config import official_clip_arch
    case, official, recognizer = _build(case_path)
    cfg = case['config']
    model_cfg = official_to_model_cfg(cfg)
    arch = official_clip_arch(cfg)
    model = MODELS.build(
        dict(type='STANSimilarity', backbone=model_cfg['backbone'],
             neck=model_cfg['neck'], text_arch=arch, tau=cfg['tau']))
    converted, _ = convert_official_stan_state_dict(
        official, text_context_length=cfg['text']['context_length'])
    converted.pop('cls_head.clip.logit_scale')
    missing, unexpected = model.load_state_dict(converted, strict=False)
    assert missing == ['text.logit_scale'] and unexpected == []
    model.eval()
    with torch.no_grad():
        video, text = model.extract_feat(
            dict(imgs=_video(case)[:, None], text=case['text_tokens']),
            norm=False)
    torch.testing.assert_close(video, case['video_embedding'], **TOL)
    torch.testing.assert_close(text, case['text_features'], **TOL)
