"""Prologues recomputed in the backward pass: exact gradients, less kept."""
import gc
import weakref
from contextlib import contextmanager

import pytest
import torch
from helpers.tiny_models import tiny_dist_model
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from torch import nn

from dist_plugin.models.layers import recomputed


def _leaves(*modules, extra=()):
    return [p for m in modules for p in m.parameters()] + list(extra)


def _grads(loss_fn, params):
    for p in params:
        p.grad = None
    loss_fn().backward()
    return [p.grad.clone() for p in params]


def _assert_bitwise_same_gradients(loss, params):
    """``loss(fused)`` gives the same gradients with and without
    :func:`recomputed`, bit for bit."""
    for ref, ours in zip(_grads(lambda: loss(False), params),
                         _grads(lambda: loss(True), params)):
        assert torch.equal(ours, ref)


@pytest.mark.parametrize('amp,dtype', [(False, torch.float32),
                                       (True, torch.float32),
                                       (True, torch.bfloat16)])
def test_layer_norm_linear_gradients_are_those_of_plain_autograd(amp, dtype):
    # under autocast a LayerNorm runs in float32 whatever its input dtype;
    # the recomputation in the backward pass (outside autocast) must too
    torch.manual_seed(0)
    norm, linear = nn.LayerNorm(96), nn.Linear(96, 40)
    nn.init.normal_(norm.weight)
    x = (torch.randn(3, 7, 96) * 3 + 1).to(dtype).requires_grad_()
    weight = torch.randn(3, 7, 40)

    def loss(fused):
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=amp):
            if fused:
                with recomputed(norm, x) as h:
                    y = linear(h)
            else:
                y = linear(norm(x))
        assert y.dtype == (torch.bfloat16 if amp else torch.float32)
        return (y.float() * weight).sum()

    _assert_bitwise_same_gradients(loss, _leaves(norm, linear, extra=[x]))


def test_the_prologue_output_is_not_kept():
    norm, linear = nn.LayerNorm(16), nn.Linear(16, 8)
    x = torch.randn(4, 16, requires_grad=True)
    kept = []
    with torch.autograd.graph.saved_tensors_hooks(
            lambda t: kept.append(t) or t, lambda t: t):
        with recomputed(norm, x) as h:
            ref = weakref.ref(h)
            y = linear(h)
    del h
    gc.collect()
    assert ref() is None  # neither autograd nor the hooks hold it
    # the outer hooks saw only the LayerNorm's own saved tensors
    assert any(t is x for t in kept)
    assert not any(t.shape == (4, 16) and t is not x for t in kept)
    y.sum().backward()
    assert linear.weight.grad is not None and x.grad is not None


def test_views_of_the_output_and_activation_prologues_are_recomputed():
    # a channels-last permuted view into a convolution, as in the temporal
    # encoder, with QuickGELU as the prologue
    from dist_plugin.models.layers import quick_gelu
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 5, (3, 1), padding=(1, 0))
    u = torch.randn(2, 4, 9, 6, requires_grad=True)

    def loss(fused):
        if fused:
            with recomputed(quick_gelu, u) as h:
                y = conv(h.permute(0, 3, 1, 2))
        else:
            y = conv(quick_gelu(u).permute(0, 3, 1, 2))
        return y.sin().sum()

    _assert_bitwise_same_gradients(loss, _leaves(conv, extra=[u]))


def test_several_readers_under_autocast_sum_their_gradients_in_float32():
    torch.manual_seed(0)
    norm = nn.LayerNorm(16)
    x = torch.randn(2, 5, 16, requires_grad=True)
    q = torch.randn(2, 3, 16)

    def loss(fused):
        with torch.autocast('cpu', dtype=torch.bfloat16):
            if fused:
                with recomputed(norm, x, single_use=False) as kv:
                    out = (q @ kv.mT).softmax(-1) @ kv
            else:
                kv = norm(x)
                out = (q @ kv.mT).softmax(-1) @ kv
        return out.float().square().sum()

    _assert_bitwise_same_gradients(loss, _leaves(norm, extra=[x]))


def test_an_input_modified_in_place_is_an_error():
    norm, linear = nn.LayerNorm(8), nn.Linear(8, 8)
    x = torch.randn(3, 8, requires_grad=True)
    inner = x * 1.  # a non-leaf that can be modified in place
    with recomputed(norm, inner) as h:
        y = linear(h)
    with torch.no_grad():
        inner.add_(1.)
    with pytest.raises(RuntimeError, match='modified in place'):
        y.sum().backward()


@contextmanager
def _plain(prologue, *inputs, single_use=True):
    yield prologue(*inputs)


def _saved_bytes(model, video, samples, amp):
    """Bytes of the distinct storages autograd keeps for the loss."""
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), \
            torch.autocast('cpu', dtype=torch.bfloat16, enabled=amp):
        losses = model(video, samples, mode='loss')
    return sum(storages.values()), losses['loss_cls']


@pytest.mark.parametrize('amp', [False, True])
def test_dist_neck_keeps_less_and_trains_exactly_as_plain_autograd(
        monkeypatch, amp):
    import dist_plugin.models.layers.common as common
    import dist_plugin.models.necks.dist_integration_neck as neck_mod
    import dist_plugin.models.temporal.dist_temporal_encoder as temporal_mod
    torch.manual_seed(0)
    model = MODELS.build(tiny_dist_model(num_classes=3, clip_len=8))
    model.init_weights()
    model.train()
    video = torch.randn(2, 1, 3, 8, 32, 32,
                        generator=torch.Generator().manual_seed(1))
    samples = [ActionDataSample().set_gt_label(i) for i in (0, 2)]
    params = [p for p in model.parameters() if p.requires_grad]
    runs = []
    for plain in (False, True):
        if plain:
            for mod in (common, neck_mod, temporal_mod):
                monkeypatch.setattr(mod, 'recomputed', _plain)
        kept, loss = _saved_bytes(model, video, samples, amp)
        runs.append((kept, _grads(lambda: loss, params)))
    (lean, grads), (full, ref) = runs
    for ours, expected in zip(grads, ref):
        assert torch.equal(ours, expected)
    if amp:
        return
    # per integration block two LayerNorm outputs of [B*Ts, 1+N, Di], per
    # temporal block a LayerNorm and a QuickGELU output of [B, T, h, w, Dt]
    neck = model.neck
    tokens = 2 * 4 * 5 * neck.width * 4
    stream = 2 * 8 * 2 * 2 * neck.temporal_encoder.width * 4
    assert full - lean >= neck.num_layers * (2 * tokens + 2 * stream)


def test_the_prologue_is_recomputed_under_the_forward_autocast_state():
    # the backward pass runs outside autocast; a prologue whose result
    # depends on autocast (a matmul: bfloat16 under CPU autocast) must be
    # recomputed as the forward computed it
    torch.manual_seed(0)
    inner, linear = nn.Linear(32, 32), nn.Linear(32, 16)
    x = torch.randn(5, 32, requires_grad=True)

    def loss(fused):
        with torch.autocast('cpu', dtype=torch.bfloat16):
            if fused:
                with recomputed(inner, x) as h:
                    y = linear(h)
            else:
                y = linear(inner(x))
        return y.float().sin().sum()

    _assert_bitwise_same_gradients(loss, _leaves(inner, linear, extra=[x]))
