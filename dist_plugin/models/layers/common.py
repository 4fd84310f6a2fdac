"""Small layers shared by the DiST modules."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .recompute import recomputed

#: The slope of QuickGELU, ``x * sigmoid(1.702 x)``.
QUICK_GELU_SLOPE = 1.702


def _sigmoid_of_slope(x: Tensor) -> Tensor:
    """``sigmoid(1.702 x)`` in one new tensor."""
    return torch.mul(x, QUICK_GELU_SLOPE).sigmoid_()


def _quick_gelu_new(x: Tensor) -> Tensor:
    """``x * sigmoid(1.702 x)`` in one new tensor (the same values as the
    out-of-place formula: the products are the same products)."""
    return _sigmoid_of_slope(x).mul_(x)


def _quick_gelu_grad(grad: Tensor, x: Tensor, s: Tensor) -> Tensor:
    """``grad * s * (1 + 1.702 x (1 - s))`` with ``s = sigmoid(1.702 x)``,
    the gradient through QuickGELU, with two temporaries."""
    # d/dx [x s(ax)] = s + a x s (1 - s)
    factor = torch.mul(x, QUICK_GELU_SLOPE).mul_(1 - s).add_(1)
    return torch.mul(grad, s).mul_(factor)


def add_to_fresh(fresh: Tensor, other: Tensor) -> Tensor:
    """``fresh + other``, written into ``fresh`` where the sum has its dtype.

    ``fresh`` must be a temporary that nothing else reads and that autograd
    does not keep (an op's new output); under autocast a sum that promotes
    (bfloat16 + float32) is taken out of place, as ``+`` would.
    """
    if torch.result_type(fresh, other) == fresh.dtype and \
            fresh.shape == torch.broadcast_shapes(fresh.shape, other.shape):
        return fresh.add_(other)
    return fresh + other


class _QuickGELUFunction(torch.autograd.Function):
    """QuickGELU that keeps only its input for the backward pass.

    Autograd on ``x * sigmoid(1.702 x)`` keeps both ``x`` and the sigmoid;
    recomputing the sigmoid in the backward halves the activation memory.
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return _quick_gelu_new(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        x, = ctx.saved_tensors
        return _quick_gelu_grad(grad, x, _sigmoid_of_slope(x))


def quick_gelu(x: Tensor) -> Tensor:
    """``x * sigmoid(1.702 x)``; under autograd only ``x`` is kept."""
    if torch.is_grad_enabled() and x.requires_grad:
        return _QuickGELUFunction.apply(x)
    return _quick_gelu_new(x)


class _QuickGELULinearFunction(torch.autograd.Function):
    """``F.linear(quick_gelu(u), weight, bias)`` keeping only ``u``.

    The activation output (the linear layer's input, needed for the weight
    gradient) is recomputed from ``u`` in the backward pass instead of being
    kept.
    """

    @staticmethod
    def forward(ctx, u: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        ctx.save_for_backward(u, weight)
        ctx.has_bias = bias is not None
        out = F.linear(_quick_gelu_new(u), weight, bias)
        # F.linear returns a view of its 2D product for batched inputs; a
        # plain tensor lets callers add to the output in place.
        return torch.ops.aten._unsafe_view(out, out.shape)

    @staticmethod
    def backward(ctx, grad: Tensor):
        u, weight = ctx.saved_tensors
        s = _sigmoid_of_slope(u)
        # Under autocast the forward's linear ran in the autocast dtype (the
        # dtype of ``grad``); the backward runs outside autocast, so it casts
        # itself and returns gradients in each input's own dtype.
        dtype = grad.dtype
        grad_u = grad_w = grad_b = None
        grad2d = grad.reshape(-1, grad.shape[-1])
        if ctx.needs_input_grad[1]:
            act = torch.mul(u, s).reshape(-1, u.shape[-1]).to(dtype)
            grad_w = grad2d.t().mm(act).to(weight.dtype)
            del act
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad2d.sum(0).to(weight.dtype)
        if ctx.needs_input_grad[0]:
            grad_h = grad.matmul(weight.to(dtype)).to(u.dtype)
            grad_u = _quick_gelu_grad(grad_h, u, s)
        return grad_u, grad_w, grad_b


def quick_gelu_linear(u: Tensor, linear: nn.Linear) -> Tensor:
    """``linear(quick_gelu(u))``; under autograd only ``u`` is kept (the
    activation is recomputed in the backward pass)."""
    if torch.is_grad_enabled() and (u.requires_grad
                                    or linear.weight.requires_grad):
        return _QuickGELULinearFunction.apply(u, linear.weight, linear.bias)
    return linear(_quick_gelu_new(u))


def quick_gelu_(x: Tensor) -> Tensor:
    """In-place QuickGELU for tensors outside autograd (one temporary)."""
    return x.mul_(_sigmoid_of_slope(x))


class QuickGELU(nn.Module):
    """``x * sigmoid(1.702 x)``, the activation of OpenAI CLIP and DiST."""

    def forward(self, x: Tensor) -> Tensor:
        return quick_gelu(x)


class ChannelLastLayerNorm(nn.LayerNorm):
    """LayerNorm over dim 1 of a ``[B, C, ...]`` tensor."""

    def forward(self, x: Tensor) -> Tensor:
        x = x.movedim(1, -1)
        x = super().forward(x)
        return x.movedim(-1, 1)


class TokenMLP(nn.Module):
    """Two linear layers with QuickGELU between them.

    Args:
        in_channels (int): Input and output width.
        hidden_channels (int): Hidden width.
    """

    def __init__(self, in_channels: int, hidden_channels: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_channels, hidden_channels)
        self.fc2 = nn.Linear(hidden_channels, in_channels)

    def forward(self, x: Tensor, norm: Optional[nn.Module] = None) -> Tensor:
        """``fc2(act(fc1(x)))``, or ``fc2(act(fc1(norm(x))))`` with ``norm``
        (its output is recomputed in the backward pass, not kept)."""
        if norm is None:
            hidden = self.fc1(x)
        else:
            with recomputed(norm, x) as normed:
                hidden = self.fc1(normed)
        # one hidden tensor is kept for the backward pass
        return quick_gelu_linear(hidden, self.fc2)
