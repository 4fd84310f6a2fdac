"""Small layers shared by the DiST modules."""
import torch
from torch import Tensor, nn


class QuickGELU(nn.Module):
    """``x * sigmoid(1.702 x)``, the activation of OpenAI CLIP and DiST."""

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(1.702 * x)


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
