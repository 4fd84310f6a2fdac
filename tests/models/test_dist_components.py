"""DiST components on tiny CLIP towers: shapes, frames, freezing, errors."""
import copy

import pytest
import torch
from helpers.tiny_models import TINY_CLIP, tiny_dist_model
from mmaction.registry import MODELS
from mmengine.optim import build_optim_wrapper


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    recognizer = MODELS.build(tiny_dist_model(num_classes=3, clip_len=8))
    recognizer.init_weights()
    return recognizer


def _clip(batch=2, frames=8, size=32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, frames, size, size, generator=gen)


def test_shapes(model):
    video = _clip()
    feats = model.backbone(video)
    assert feats.layer_ids == (0, 1)
    # 2 clips x 4 sparse frames, CLS + 2x2 patches, CLIP width 64
    assert [tuple(t.shape) for t in feats.layer_tokens] == [(8, 5, 64)] * 2
    assert feats.inputs is video
    assert feats.frame_embeddings.shape == (2, 4, 32)
    assert (feats.batch_size, feats.num_frames) == (2, 4)
    assert feats.grid_size == (2, 2) and feats.layer_qk is None
    embed, aux = model.neck(feats)
    assert embed.shape == (2, 32) and aux == {}
    logits = model.cls_head(embed)
    assert logits.shape == (2, 3)
    temporal = model.neck.temporal_encoder(video)
    assert [tuple(t.shape) for t in temporal] == [(2, 16, 8, 2, 2)] * 2


def test_clip_sees_only_every_alpha_th_frame(model):
    video = _clip()
    tokens = model.backbone(video).layer_tokens[-1]
    odd = video.clone()
    odd[:, :, 1::2] = torch.randn_like(odd[:, :, 1::2])
    torch.testing.assert_close(model.backbone(odd).layer_tokens[-1], tokens)
    first = video.clone()
    first[:, :, 0] += 1.
    assert (model.backbone(first).layer_tokens[-1] -
            tokens).abs().max() > 1e-3
    # the temporal stream does see the odd frames
    embed = model.neck(model.backbone(video))[0]
    assert (model.neck(model.backbone(odd))[0] - embed).abs().max() > 1e-4


def test_frozen_means_frozen(model):
    model.train()
    assert not model.backbone.visual.training
    assert not model.cls_head.clip.training
    assert model.neck.training
    frozen = list(model.backbone.parameters()) + list(
        model.cls_head.parameters())
    assert frozen and all(not p.requires_grad for p in frozen)
    inputs = _clip()[:, None]
    from mmaction.structures import ActionDataSample
    samples = [ActionDataSample().set_gt_label(i) for i in (0, 2)]
    model.zero_grad()
    losses = model(inputs, samples, mode='loss')
    losses['loss_cls'].backward()
    assert all(p.grad is None for p in frozen)
    trainable = [(n, p) for n, p in model.named_parameters()
                 if p.requires_grad]
    assert trainable and all(n.startswith('neck.') for n, _ in trainable)
    no_grad = [n for n, p in trainable
               if p.grad is None or p.grad.abs().sum() == 0]
    assert no_grad == [], f'parameters without gradient: {no_grad}'
    # the optimizer holds exactly the new parameters
    wrapper = build_optim_wrapper(
        model,
        dict(
            constructor='TrainableOnlyOptimWrapperConstructor',
            optimizer=dict(type='AdamW', lr=1e-3)))
    in_optim = {id(p) for g in wrapper.optimizer.param_groups
                for p in g['params']}
    assert in_optim == {id(p) for _, p in trainable}
    wrapper_pw = build_optim_wrapper(
        model,
        dict(
            constructor='TrainableOnlyOptimWrapperConstructor',
            optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.1),
            paramwise_cfg=dict(norm_decay_mult=0.)))
    in_optim = {id(p) for g in wrapper_pw.optimizer.param_groups
                for p in g['params']}
    assert in_optim == {id(p) for _, p in trainable}
    model.eval()


def test_backbone_runs_without_autograd(model):
    video = _clip().requires_grad_(True)
    feats = model.backbone(video)
    assert all(not t.requires_grad for t in feats.layer_tokens)
    assert not feats.frame_embeddings.requires_grad


def test_t_not_divisible_by_alpha(model):
    with pytest.raises(ValueError, match=r'T=7 .*alpha=2'):
        model.backbone(_clip(frames=7))


def test_input_not_multiple_of_patch(model):
    with pytest.raises(ValueError, match='multiple of the CLIP patch size 16'):
        model.backbone(_clip(size=40))


def test_neck_frame_count_mismatch(model):
    with pytest.raises(ValueError, match='num_frames=4'):
        model.neck(model.backbone(_clip(frames=12)))


def test_class_list_length_must_match():
    cfg = tiny_dist_model(num_classes=3, class_names=['a', 'b'])
    with pytest.raises(ValueError, match='2 entries but num_classes=3'):
        MODELS.build(cfg)


def test_zero_shot_class_swap(model):
    """Replacing the class list changes the classifier, no retraining."""
    embed = model.neck(model.backbone(_clip()))[0]
    head = model.cls_head
    before = head(embed)
    old_names = list(head.class_names)
    head.num_classes = 4
    head.set_classes(['jumping', 'running', 'swimming', old_names[0]])
    after = head(embed)
    assert after.shape == (2, 4)
    torch.testing.assert_close(after[:, 3], before[:, 0])
    head.num_classes = 3
    head.set_classes(old_names)
    torch.testing.assert_close(head(embed), before)


def test_logits_are_scaled_cosine(model):
    embed = model.neck(model.backbone(_clip()))[0]
    head = model.cls_head
    text = head.clip.encode_text(head._tokens[:, 0])
    cos = torch.nn.functional.normalize(embed, dim=-1) @ \
        torch.nn.functional.normalize(text, dim=-1).t()
    torch.testing.assert_close(head(embed), head.clip.logit_scale.exp() * cos)


def test_template_ensemble_averages_normalized_embeddings():
    cfg = tiny_dist_model(num_classes=2, class_names=['cat', 'dog'])
    cfg['cls_head']['templates'] = ['a photo of {}.', 'a video of {}.']
    model = MODELS.build(cfg)
    head = model.cls_head
    clip = head.clip
    parts = []
    for template in head.templates:
        feats = clip.encode_text(head.tokenizer(
            [template.format(n) for n in ('cat', 'dog')]))
        parts.append(torch.nn.functional.normalize(feats, dim=-1))
    expected = torch.nn.functional.normalize(sum(parts) / 2, dim=-1)
    torch.testing.assert_close(head.text_features(), expected)


def test_fusion_with_frozen_clip_logits():
    cfg = tiny_dist_model(num_classes=3)
    cfg['neck']['with_frame_embedding'] = True
    cfg['cls_head']['fusion_weight'] = 0.25
    model = MODELS.build(cfg).eval()
    video = _clip()
    (embed, frame), _ = model.neck(model.backbone(video))
    head = model.cls_head
    expected = 0.75 * head.cosine_logits(embed) + \
        0.25 * head.cosine_logits(frame)
    torch.testing.assert_close(head((embed, frame)), expected)
    with pytest.raises(ValueError, match='with_frame_embedding'):
        head(embed)


def test_checkpoint_with_other_shapes_is_refused(model):
    other = MODELS.build(tiny_dist_model(num_classes=3, clip_len=16))
    with pytest.raises(ValueError, match=r'neck\.t2i_links\.0\.cls_token'):
        model.load_state_dict(other.state_dict())


def test_multi_view_testing_and_max_testing_views():
    torch.manual_seed(0)
    cfg = tiny_dist_model(num_classes=3)
    model = MODELS.build(cfg).eval()
    model.init_weights()
    from mmaction.structures import ActionDataSample
    views = _clip(batch=3)[None]  # one video, 3 views
    sample = [ActionDataSample().set_gt_label(0)]
    full = model(views, sample, mode='predict')[0].pred_score
    per_view = torch.softmax(model(views, mode='tensor', stage='head'), dim=-1).mean(0)
    torch.testing.assert_close(full, per_view)
    model.test_cfg = dict(max_testing_views=2)
    sample = [ActionDataSample().set_gt_label(0)]
    chunked = model(views, sample, mode='predict')[0].pred_score
    torch.testing.assert_close(chunked, full)


def test_position_embedding_resizes_for_larger_input():
    arch = copy.deepcopy(TINY_CLIP)
    cfg = tiny_dist_model(num_classes=3, arch=arch)
    cfg['backbone']['input_resolution'] = 48
    model = MODELS.build(cfg)
    assert model.backbone.visual.positional_embedding.shape == (10, 64)
    feats = model.backbone(_clip(size=48))
    assert feats.layer_tokens[0].shape == (8, 10, 64)
    assert feats.grid_size == (3, 3)


def test_backbone_and_neck_alpha_must_agree():
    """Backbone alpha 3 samples frames 0, 3, 6, 9 of 12; a neck built for
    alpha 2 would pool pairs of dense frames: refused with a clear error."""
    cfg = tiny_dist_model(num_classes=3, clip_len=12, alpha=3)
    cfg['neck']['alpha'] = 2  # num_frames stays 12 / 3 = 4
    recognizer = MODELS.build(cfg)
    video = _clip(frames=12)
    with pytest.raises(ValueError, match=r'12 dense frames with 4 sparse '
                       r'frames do not match the neck alpha=2; use the same '
                       r'alpha in the backbone and the neck'):
        recognizer.neck(recognizer.backbone(video))


def test_memory_lean_activations_have_exact_gradients():
    from dist_plugin.models.layers import quick_gelu, quick_gelu_linear
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(3, 5, 4, dtype=torch.double, generator=gen)
    linear = torch.nn.Linear(4, 6).double()
    u.requires_grad_(True)
    assert torch.autograd.gradcheck(quick_gelu, (u, ))
    assert torch.autograd.gradcheck(
        lambda x, w, b: quick_gelu_linear(
            x, type('L', (), dict(weight=w, bias=b))()),
        (u, linear.weight, linear.bias))
    # the same values as the plain formula, with and without autograd
    ref = linear(u * torch.sigmoid(1.702 * u))
    torch.testing.assert_close(quick_gelu_linear(u, linear), ref)
    with torch.no_grad():
        torch.testing.assert_close(quick_gelu_linear(u, linear), ref)
    # only the input is kept for the backward pass
    kept = []
    with torch.autograd.graph.saved_tensors_hooks(
            lambda t: kept.append(t) or t, lambda t: t):
        quick_gelu_linear(u, linear)
    assert [t.shape for t in kept] == [u.shape, linear.weight.shape]


def test_memory_lean_activations_train_under_cpu_autocast():
    """Under bf16 autocast the custom backward casts for itself (the
    autograd engine runs it outside autocast) and matches autograd on the
    plain formula."""
    from dist_plugin.models.layers import quick_gelu_linear
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(2, 7, 8, generator=gen, requires_grad=True)
    linear = torch.nn.Linear(8, 5)
    grads = []
    for fn in (lambda x: quick_gelu_linear(x, linear),
               lambda x: linear(x * torch.sigmoid(1.702 * x))):
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = fn(u)
        assert out.dtype == torch.bfloat16
        grads.append(torch.autograd.grad(out.float().square().sum(),
                                         (u, linear.weight, linear.bias)))
    for ours, ref in zip(*grads):
        assert ours.dtype == ref.dtype == torch.float32
        torch.testing.assert_close(ours, ref, atol=2e-2, rtol=2e-2)


@pytest.mark.parametrize('grad', [False, True])
def test_fast_clip_block_equals_the_open_clip_block(model, grad):
    from dist_plugin.models.layers import (clip_block_forward,
                                           supports_fast_forward)
    block = model.backbone.visual.transformer.resblocks[0]
    assert supports_fast_forward(block)
    x = torch.randn(3, 5, 64, generator=torch.Generator().manual_seed(1))
    with torch.set_grad_enabled(grad):
        x_in = x.clone().requires_grad_(grad)
        ref = block(x_in)
        out = clip_block_forward(block, x_in, inplace=not grad)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(x_in.detach(), x)  # input not modified
    if grad:
        g_ref, = torch.autograd.grad(ref.sin().sum(), x_in)
        g_out, = torch.autograd.grad(out.sin().sum(), x_in)
        torch.testing.assert_close(g_out, g_ref, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize('onednn', [True, False])
@pytest.mark.parametrize('chunk_tokens', [None, 1, 7, 10**6])
def test_frozen_clip_block_by_groups_of_frames(model, chunk_tokens, onednn,
                                               monkeypatch):
    # outside autograd the block runs on groups of frames (sizes 1, 1-2,
    # all, automatic), with oneDNN or MKL projections, and must still equal
    # the open_clip block without touching its input
    from dist_plugin.models.layers import clip_block_forward, clip_block
    from dist_plugin.models.layers.clip_block import _chunk_count
    if onednn and not clip_block.ONEDNN_LINEAR:
        pytest.skip('this torch build has no oneDNN linear')
    monkeypatch.setattr(clip_block, 'ONEDNN_LINEAR', onednn)
    block = model.backbone.visual.transformer.resblocks[0]
    x = torch.randn(5, 4, 64, generator=torch.Generator().manual_seed(2))
    x_before = x.clone()
    expected = {None: 1, 1: 5, 7: 3, 10**6: 1}[chunk_tokens]
    assert _chunk_count(x, 256, chunk_tokens) == expected
    with torch.no_grad():
        ref = block(x)
        out = clip_block_forward(block, x, inplace=True,
                                 chunk_tokens=chunk_tokens)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-6)
    assert out.data_ptr() != x.data_ptr()
    assert torch.equal(x, x_before)


@pytest.mark.parametrize('onednn', [True, False])
@pytest.mark.parametrize('with_bias', [True, False])
@pytest.mark.parametrize('with_residual', [True, False])
def test_frozen_linear_equals_linear(onednn, with_bias, with_residual,
                                     monkeypatch):
    from dist_plugin.models.layers import clip_block
    if onednn and not clip_block.ONEDNN_LINEAR:
        pytest.skip('this torch build has no oneDNN linear')
    monkeypatch.setattr(clip_block, 'ONEDNN_LINEAR', onednn)
    gen = torch.Generator().manual_seed(3)
    x, weight = torch.randn(37, 24, generator=gen), torch.randn(40, 24,
                                                                generator=gen)
    bias = torch.randn(40, generator=gen) if with_bias else None
    residual = torch.randn(37, 40, generator=gen) if with_residual else None
    expected = torch.nn.functional.linear(x, weight, bias)
    if with_residual:
        expected = expected + residual
        residual_before = residual.clone()
    with torch.no_grad():
        out = clip_block._frozen_linear(x, weight, bias, residual)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    if with_residual:
        assert torch.equal(residual, residual_before)


def test_frozen_clip_block_cpu_groups_bound_the_hidden_tensor():
    from dist_plugin.models.layers.clip_block import (CPU_CHUNK_BYTES,
                                                      _chunk_count)
    # ViT-B/16 frozen stream of 2 clips x 8 frames: 3152 tokens, hidden 3072
    x = torch.empty(16, 197, 768)
    chunks = _chunk_count(x, 3072, None)
    largest = -(-16 // chunks) * 197 * 3072 * 4
    assert chunks == 5 and largest <= CPU_CHUNK_BYTES * 1.2


@pytest.mark.parametrize('len_q,len_k', [(1, 50), (4, 2)])
def test_cross_attention_equals_multihead_attention(len_q, len_k):
    # (1, 50): the queries are folded into the key/value projections;
    # (4, 2): keys and values are projected and go through SDPA
    from dist_plugin.models.necks.dist_integration_neck import cross_attention
    gen = torch.Generator().manual_seed(4)
    attn = torch.nn.MultiheadAttention(32, 2, batch_first=True)
    with torch.no_grad():
        for p in attn.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    query = torch.randn(3, len_q, 32, generator=gen).requires_grad_()
    tokens = torch.randn(3, len_k, 32, generator=gen).requires_grad_()
    ref = attn(query, tokens, tokens, need_weights=False)[0]
    out = cross_attention(attn, query, tokens)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    leaves = [query, tokens, attn.in_proj_weight, attn.in_proj_bias,
              attn.out_proj.weight]
    grads_ref = torch.autograd.grad(ref.sin().sum(), leaves)
    grads = torch.autograd.grad(out.sin().sum(), leaves)
    for got, expected in zip(grads, grads_ref):
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
