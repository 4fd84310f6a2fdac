"""Small layers shared by the DiST modules."""
import torch
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


def quick_gelu_(x: Tensor) -> Tensor:
    """In-place QuickGELU for tensors outside autograd (one temporary)."""
    return x.mul_(torch.sigmoid(x * QUICK_GELU_SLOPE))


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
        self.act = QuickGELU()
        self.fc2 = nn.Linear(hidden_channels, in_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))
