"""CLIPVideoBackbone: frame sampling, returned blocks, q/k, freezing and
memory."""
import copy
import gc
import weakref

import pytest
import torch
from helpers.tiny_models import TINY_CLIP
from mmaction.registry import MODELS

from dist_plugin.models.backbones import (CLIPVideoBackbone,
                                          CLIPVideoFeatures, FrozenCLIPViT)

# Three blocks, two heads of 32 channels.
ARCH = copy.deepcopy(TINY_CLIP)
ARCH['vision_cfg']['layers'] = 3


@pytest.fixture(scope='module')
def weights():
    torch.manual_seed(0)
    backbone = CLIPVideoBackbone(ARCH)
    # LayerNorm affine parameters away from (1, 0) so that ln_1 matters
    with torch.no_grad():
        for name, param in backbone.named_parameters():
            if 'ln' in name:
                param.add_(0.3 * torch.randn_like(param))
    return backbone.state_dict()


def _build(weights, **kwargs) -> CLIPVideoBackbone:
    backbone = MODELS.build(dict(type='CLIPVideoBackbone', arch=ARCH,
                                 **kwargs))
    backbone.load_state_dict(weights)
    return backbone


def _clip(frames=8, batch=2, size=32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, frames, size, size, generator=gen)


@pytest.mark.parametrize('sampling, extra, frames, expected', [
    ('stride', dict(alpha=4), 16, [0, 4, 8, 12]),
    ('stride', dict(alpha=1), 3, [0, 1, 2]),
    ('all', dict(), 5, [0, 1, 2, 3, 4]),
    ('window_center', dict(window=5), 15, [2, 7, 12]),
    ('window_center', dict(window=4), 8, [2, 6]),
    ('window_center', dict(window=1), 3, [0, 1, 2]),
])
def test_frame_sampling_encodes_exactly_these_frames(weights, sampling, extra,
                                                     frames, expected):
    backbone = _build(weights, frame_sampling=sampling, **extra)
    assert backbone.frame_indices(frames) == expected
    video = _clip(frames=frames)
    feats = backbone(video)
    assert feats.num_frames == len(expected)
    # the same tokens as encoding exactly those frames with 'all'
    reference = _build(weights)(video[:, :, expected])
    for got, want in zip(feats.layer_tokens, reference.layer_tokens):
        torch.testing.assert_close(got, want, atol=0, rtol=0)
    # the other frames never reach CLIP
    others = [t for t in range(frames) if t not in expected]
    if others:
        changed = video.clone()
        changed[:, :, others] += 10.
        torch.testing.assert_close(
            backbone(changed).layer_tokens[-1], feats.layer_tokens[-1],
            atol=0, rtol=0)
    changed = video.clone()
    changed[:, :, expected[-1]] += 1.
    assert (backbone(changed).layer_tokens[-1] -
            feats.layer_tokens[-1]).abs().max() > 1e-3


@pytest.mark.parametrize('kwargs, frames, match', [
    (dict(frame_sampling='stride', alpha=4), 10, r'T=10 .*alpha=4'),
    (dict(frame_sampling='window_center', window=5), 12, r'T=12 .*window=5'),
])
def test_frame_count_must_fit_the_sampling(weights, kwargs, frames, match):
    backbone = _build(weights, **kwargs)
    with pytest.raises(ValueError, match=match):
        backbone(_clip(frames=frames))
    with pytest.raises(ValueError, match=match):
        backbone.frame_indices(frames)


@pytest.mark.parametrize('kwargs, match', [
    (dict(frame_sampling='middle'), 'frame_sampling must be one of'),
    (dict(frame_sampling='all', alpha=2), 'only used by frame_sampling'),
    (dict(frame_sampling='stride', alpha=2, window=3), 'window=3'),
    (dict(grad_checkpointing=True), 'needs frozen=False'),
    (dict(out_indices=[3]), 'out of range'),
    (dict(out_indices=[-4]), 'out of range'),
    (dict(out_indices=[1, -2]), 'at most once'),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CLIPVideoBackbone(ARCH, **kwargs)


def test_out_indices_select_and_order_blocks(weights):
    video = _clip()
    full = _build(weights)(video)
    assert isinstance(full, CLIPVideoFeatures)
    assert full.layer_ids == (0, 1, 2) and len(full.layer_tokens) == 3
    last = _build(weights, out_indices=[-1])(video)
    assert last.layer_ids == (2, ) and len(last.layer_tokens) == 1
    torch.testing.assert_close(last.layer_tokens[0], full.layer_tokens[2],
                               atol=0, rtol=0)
    picked = _build(weights, out_indices=[2, 0])(video)
    assert picked.layer_ids == (2, 0)
    torch.testing.assert_close(picked.tokens_of(0), full.layer_tokens[0],
                               atol=0, rtol=0)
    torch.testing.assert_close(picked.layer_tokens[0], full.layer_tokens[2],
                               atol=0, rtol=0)
    # frame embeddings always come from the last block
    torch.testing.assert_close(picked.frame_embeddings, full.frame_embeddings,
                               atol=0, rtol=0)
    with pytest.raises(KeyError, match='out_indices'):
        picked.tokens_of(1)


@pytest.mark.parametrize('out_indices', [None, [0, 1], [1, 0], [-2]])
def test_without_image_head(weights, out_indices):
    """image_head=False: no ln_post / proj (in the module or the state dict),
    no frame embeddings, the returned blocks unchanged and the blocks after
    the last returned one not run."""
    video = _clip(frames=3)
    with_head = _build(weights, out_indices=out_indices)
    without = _build(weights, out_indices=out_indices, image_head=False)
    keys = set(without.state_dict())
    assert keys == set(with_head.state_dict()) - {
        'visual.ln_post.weight', 'visual.ln_post.bias', 'visual.proj'}
    assert not hasattr(without.visual, 'ln_post')
    assert not hasattr(without.visual, 'proj')
    assert without.embed_dim == with_head.embed_dim == ARCH['embed_dim']
    # every block stays loadable (official files hold them all)
    assert {'visual.transformer.resblocks.2.mlp.c_fc.weight'} <= keys
    runs = []
    last = without.visual.transformer.resblocks[2]
    handle = last.register_forward_hook(lambda *args: runs.append(1))
    ours, ref = without(video), with_head(video)
    handle.remove()
    assert len(runs) == (1 if 2 in without.out_indices else 0)
    assert ours.frame_embeddings is None
    assert ref.frame_embeddings is not None
    assert ours.layer_ids == ref.layer_ids
    for a, b in zip(ours.layer_tokens, ref.layer_tokens):
        # the same blocks on the same input (SDPA may pick another kernel
        # for another batch layout: float32 rounding only)
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match='image_head=True'):
        ours.require_frame_embeddings()
    with pytest.raises(ValueError, match='image_head=True'):
        without.frame_embedding(ref.layer_tokens[0][:, 0])
    # a state dict without the head loads strictly into it
    fresh = MODELS.build(dict(type='CLIPVideoBackbone', arch=ARCH,
                              out_indices=out_indices, image_head=False))
    fresh.load_state_dict(without.state_dict(), strict=True)
    # ... but not into a backbone that has the head
    with pytest.raises(RuntimeError, match='ln_post'):
        with_head.load_state_dict(without.state_dict(), strict=True)


def test_necks_reading_frame_embeddings_name_image_head(weights):
    feats = _build(weights, image_head=False)(_clip(frames=3))
    neck = MODELS.build(dict(type='FrozenCLIPPoolNeck'))
    with pytest.raises(ValueError, match='image_head=True'):
        neck(feats)


def test_frame_embeddings_are_clip_image_embeddings(weights):
    backbone = _build(weights)
    video = _clip(frames=3)
    feats = backbone(video)
    frames = video.transpose(1, 2).flatten(0, 1)  # [B*T, 3, H, W]
    clip = MODELS.build(dict(type='CLIPVideoBackbone', arch=ARCH))
    clip.load_state_dict(weights)
    with torch.no_grad():
        expected = clip.visual(frames).view(2, 3, -1)
    torch.testing.assert_close(feats.frame_embeddings, expected)
    assert feats.inputs is video
    assert (feats.batch_size, feats.num_frames, feats.grid_size) == (2, 3,
                                                                     (2, 2))


def test_qk_are_the_blocks_own_attention_inputs(weights):
    backbone = _build(weights, out_indices=[1, 2], return_qk=True)
    video = _clip(frames=2)
    feats = backbone(video)
    assert _build(weights)(video).layer_qk is None
    blocks = backbone.visual.transformer.resblocks
    full = _build(weights)(video)
    frames = video.transpose(1, 2).flatten(0, 1)
    block_inputs = [backbone.embed(frames)] + list(full.layer_tokens[:-1])
    width, heads = 64, 2
    for pos, idx in enumerate((1, 2)):
        q, k = feats.layer_qk[pos]
        assert q.shape == k.shape == (4, 5, heads, width // heads)
        block = blocks[idx]
        x_in = block_inputs[idx]
        # manual: ln_1, then rows [0:D] and [D:2D] of in_proj, with bias
        mean = x_in.mean(-1, keepdim=True)
        var = x_in.var(-1, keepdim=True, unbiased=False)
        u = (x_in - mean) / torch.sqrt(var + 1e-5) * block.ln_1.weight + \
            block.ln_1.bias
        w, b = block.attn.in_proj_weight, block.attn.in_proj_bias
        manual_q = (u @ w[:width].t() + b[:width]).view(4, 5, heads, -1)
        manual_k = (u @ w[width:2 * width].t() +
                    b[width:2 * width]).view(4, 5, heads, -1)
        torch.testing.assert_close(q, manual_q, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(k, manual_k, atol=1e-5, rtol=1e-5)
        # they give the attention map the block itself computes
        with torch.no_grad():
            _, attn = block.attn(u, u, u, need_weights=True,
                                 average_attn_weights=False)
        scores = torch.einsum('mlhd,mnhd->mhln', q, k) / (width // heads)**.5
        torch.testing.assert_close(scores.softmax(-1), attn, atol=1e-5,
                                   rtol=1e-5)
        assert feats.qk_of(idx)[0] is q
        # the blocks that also return q/k give the same tokens
        torch.testing.assert_close(feats.layer_tokens[pos],
                                   full.layer_tokens[idx], atol=1e-5,
                                   rtol=1e-5)


def test_frozen_backbone_keeps_no_graph_and_only_returned_blocks(weights):
    backbone = _build(weights, out_indices=[-1])
    backbone.train()
    assert not backbone.visual.training
    assert all(not p.requires_grad for p in backbone.parameters())
    outputs = []
    hooks = [
        block.register_forward_hook(
            lambda m, i, o: outputs.append(weakref.ref(o)))
        for block in backbone.visual.transformer.resblocks
    ]
    video = _clip().requires_grad_(True)
    feats = backbone(video)
    for hook in hooks:
        hook.remove()
    gc.collect()
    assert len(feats.layer_tokens) == 1
    assert feats.layer_tokens[0].grad_fn is None
    assert feats.frame_embeddings.grad_fn is None
    # the outputs of blocks 0 and 1 are freed; block 2's is the one returned
    assert [ref() is None for ref in outputs] == [True, True, False]
    assert outputs[2]() is feats.layer_tokens[0]


@pytest.mark.parametrize('return_qk', [False, True])
def test_trainable_backbone_and_grad_checkpointing(weights, return_qk):
    video = _clip(frames=4)
    results = []
    for checkpointing in (False, True):
        backbone = _build(weights, frozen=False, out_indices=[0, 2],
                          grad_checkpointing=checkpointing,
                          return_qk=return_qk)
        backbone.train()
        assert backbone.visual.training
        feats = backbone(video)
        assert feats.layer_tokens[1].grad_fn is not None
        loss = feats.layer_tokens[0].square().mean() + \
            feats.layer_tokens[1].sin().mean() + \
            feats.frame_embeddings.mean()
        if return_qk:
            q, k = feats.layer_qk[1]
            loss = loss + (q * k).mean()
        loss.backward()
        grads = {n: p.grad.clone() for n, p in backbone.named_parameters()}
        assert all(g.abs().sum() > 0 for n, g in grads.items()), [
            n for n, g in grads.items() if g.abs().sum() == 0]
        results.append((feats, grads))
    (plain, plain_grads), (ckpt, ckpt_grads) = results
    for a, b in zip(plain.layer_tokens, ckpt.layer_tokens):
        torch.testing.assert_close(a, b)
    if return_qk:
        for a, b in zip(plain.layer_qk, ckpt.layer_qk):
            torch.testing.assert_close(a, b)
    for name, grad in plain_grads.items():
        torch.testing.assert_close(ckpt_grads[name], grad, msg=name)


def test_input_resolution_resizes_position_embedding(weights):
    backbone = MODELS.build(
        dict(type='CLIPVideoBackbone', arch=ARCH, input_resolution=48))
    assert backbone.visual.positional_embedding.shape == (10, 64)
    # a 32px checkpoint is resized at load time
    backbone.load_state_dict(weights)
    feats = backbone(_clip(frames=2, size=48))
    assert feats.grid_size == (3, 3)
    assert feats.layer_tokens[0].shape == (4, 10, 64)
    with pytest.raises(ValueError, match='patch size 16'):
        backbone(_clip(frames=2, size=40))


def test_frozen_clip_vit_is_dist_stride_sampling(weights):
    dist = FrozenCLIPViT(ARCH, alpha=2)
    dist.load_state_dict(weights)
    assert (dist.frame_sampling, dist.alpha, dist.frozen) == ('stride', 2,
                                                              True)
    video = _clip(frames=8)
    reference = _build(weights, frame_sampling='stride', alpha=2)(video)
    feats = dist(video)
    assert feats.layer_ids == (0, 1, 2)
    for a, b in zip(feats.layer_tokens, reference.layer_tokens):
        # the same blocks on the same input (SDPA may pick another kernel
        # for another batch layout: float32 rounding only)
        torch.testing.assert_close(a, b)
