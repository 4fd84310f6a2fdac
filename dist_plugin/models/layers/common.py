"""Small layers shared by the DiST modules."""
import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: The slope of QuickGELU, ``x * sigmoid(1.702 x)``.
QUICK_GELU_SLOPE = 1.702


class _QuickGELUFunction(torch.autograd.Function):
    """QuickGELU that keeps only its input for the backward pass.

    Autograd on ``x * sigmoid(1.702 x)`` keeps both ``x`` and the sigmoid;
    recomputing the sigmoid in the backward halves the activation memory.
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x * torch.sigmoid(QUICK_GELU_SLOPE * x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        x, = ctx.saved_tensors
        s = torch.sigmoid(QUICK_GELU_SLOPE * x)
        # d/dx [x s(ax)] = s + a x s (1 - s)
        return grad * s * (1 + QUICK_GELU_SLOPE * x * (1 - s))


def quick_gelu(x: Tensor) -> Tensor:
    """``x * sigmoid(1.702 x)``; under autograd only ``x`` is kept."""
    if torch.is_grad_enabled() and x.requires_grad:
        return _QuickGELUFunction.apply(x)
    return x * torch.sigmoid(QUICK_GELU_SLOPE * x)


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
        return F.linear(u * torch.sigmoid(QUICK_GELU_SLOPE * u), weight, bias)

    @staticmethod
    def backward(ctx, grad: Tensor):
        u, weight = ctx.saved_tensors
        s = torch.sigmoid(QUICK_GELU_SLOPE * u)
        # Under autocast the forward's linear ran in the autocast dtype (the
        # dtype of ``grad``); the backward runs outside autocast, so it casts
        # itself and returns gradients in each input's own dtype.
        dtype = grad.dtype
        grad_u = grad_w = grad_b = None
        grad2d = grad.reshape(-1, grad.shape[-1])
        if ctx.needs_input_grad[1]:
            act = (u * s).reshape(-1, u.shape[-1]).to(dtype)
            grad_w = grad2d.t().mm(act).to(weight.dtype)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad2d.sum(0).to(weight.dtype)
        if ctx.needs_input_grad[0]:
            grad_h = grad.matmul(weight.to(dtype)).to(u.dtype)
            grad_u = grad_h * s * (1 + QUICK_GELU_SLOPE * u * (1 - s))
        return grad_u, grad_w, grad_b


def quick_gelu_linear(u: Tensor, linear: nn.Linear) -> Tensor:
    """``linear(quick_gelu(u))``; under autograd only ``u`` is kept (the
    activation is recomputed in the backward pass)."""
    if torch.is_grad_enabled() and (u.requires_grad
                                    or linear.weight.requires_grad):
        return _QuickGELULinearFunction.apply(u, linear.weight, linear.bias)
    return linear(u * torch.sigmoid(QUICK_GELU_SLOPE * u))


def quick_gelu_(x: Tensor) -> Tensor:
    """In-place QuickGELU for tensors outside autograd (one temporary)."""
    return x.mul_(torch.sigmoid_(x * QUICK_GELU_SLOPE))


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

    def forward(self, x: Tensor) -> Tensor:
        # fc2(act(fc1(x))), keeping one hidden tensor for the backward pass
        return quick_gelu_linear(self.fc1(x), self.fc2)
