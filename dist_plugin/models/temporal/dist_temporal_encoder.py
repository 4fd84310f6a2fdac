"""DiST temporal encoder: a light 3D-conv stream over all dense frames.

The stream is kept channels-last, ``[B, T, h, w, C]`` in memory: the
LayerNorm then reads contiguous channels, and the two convolutions of a block
(temporal ``(k, 1, 1)``, spatial ``(1, 3, 3)``) run as 2D convolutions on
channels-last views of the same memory, so no layout copies are made.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch.nn.functional as F
from mmaction.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..layers import quick_gelu, recomputed


def temporal_conv_cl(x: Tensor, conv: nn.Conv3d) -> Tensor:
    """A ``(k, 1, 1)`` :class:`nn.Conv3d` applied to a channels-last stream.

    Args:
        x (Tensor): ``[B, T, N, C]`` (``N`` spatial positions).
        conv (nn.Conv3d): Kernel ``(k, 1, 1)``, stride ``(s, 1, 1)``.

    Returns:
        Tensor: ``[B, T', N, C']``, a channels-last 2D convolution output
        (a permuted view of contiguous memory).
    """
    y = F.conv2d(
        x.permute(0, 3, 1, 2), conv.weight.flatten(3), conv.bias,
        stride=(conv.stride[0], 1), padding=(conv.padding[0], 0))
    return y.permute(0, 2, 3, 1)


class TemporalBlock(nn.Module):
    """One temporal block: ``QG(x + conv_s(QG(conv_t(LN(x)))))`` on a
    channels-last stream ``[B, T, h, w, C]``.

    Args:
        width (int): Channels of the temporal stream.
        kernel_size (int): Temporal kernel of ``conv_t``.
        mlp_ratio (float): Hidden width of the block relative to ``width``.
    """

    def __init__(self, width: int, kernel_size: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = int(width * mlp_ratio)
        self.norm = nn.LayerNorm(width)
        self.conv_t = nn.Conv3d(
            width, hidden, (kernel_size, 1, 1),
            padding=(kernel_size // 2, 0, 0))
        self.conv_s = nn.Conv3d(hidden, width, (1, 3, 3), padding=(0, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``[B, T, h, w, C]`` -> same shape."""
        batch, num_frames, grid_h, grid_w, width = x.shape
        # The convolutions' inputs (the LayerNorm and QuickGELU outputs) are
        # recomputed in the backward pass, not kept.
        with recomputed(self.norm, x) as y:
            y = y.view(batch, num_frames, grid_h * grid_w, width)
            y = temporal_conv_cl(y, self.conv_t)  # [B, T, N, C']
        with recomputed(quick_gelu, y) as y:
            y = y.reshape(batch * num_frames, grid_h, grid_w, -1)
            y = F.conv2d(
                y.permute(0, 3, 1, 2), self.conv_s.weight.squeeze(2),
                self.conv_s.bias, padding=self.conv_s.padding[1:])
        y = y.permute(0, 2, 3, 1).view(x.shape)
        return quick_gelu(x + y)


@MODELS.register_module()
class DiSTTemporalEncoder(BaseModule):
    """Temporal encoder of DiST: a stem over all dense frames and one
    temporal block per tapped CLIP layer.

    Args:
        num_layers (int): Number of temporal blocks (tapped CLIP layers).
        width (int): Channels of the temporal stream. Defaults to 96.
        patch_size (Sequence[int]): Stem kernel ``(t, p, p)``; ``p`` must equal
            the CLIP patch size. Defaults to (5, 16, 16).
        kernel_size (int): Temporal kernel of the blocks. Defaults to 3.
        mlp_ratio (float): Block hidden ratio. Defaults to 1.
        in_channels (int): Input channels. Defaults to 3.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 num_layers: int,
                 width: int = 96,
                 patch_size: Sequence[int] = (5, 16, 16),
                 kernel_size: int = 3,
                 mlp_ratio: float = 1.,
                 in_channels: int = 3,
                 init_cfg: Optional[Union[Dict, list]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        patch_size = tuple(patch_size)
        if len(patch_size) != 3:
            raise ValueError(f'patch_size must be (t, p, p), got {patch_size}')
        self.width = width
        self.patch_size = patch_size
        self.stem = nn.Conv3d(
            in_channels, width, patch_size,
            stride=(1, ) + patch_size[1:],
            padding=(patch_size[0] // 2, 0, 0))
        self.blocks = nn.ModuleList(
            TemporalBlock(width, kernel_size, mlp_ratio)
            for _ in range(num_layers))

    def forward_stem(self, video: Tensor) -> Tensor:
        """``[B, 3, T, H, W]`` -> the channels-last stream
        ``[B, T, H/p, W/p, Dt]``."""
        return self.stem(video).permute(0, 2, 3, 4, 1).contiguous()

    def forward_block(self, index: int, x: Tensor) -> Tensor:
        """Apply temporal block ``index`` to the channels-last stream
        ``[B, T, h, w, Dt]``."""
        return self.blocks[index](x)

    def forward(self, video: Tensor) -> Tuple[Tensor, ...]:
        """Run the stream alone (no integration); returns every block output
        as ``[B, Dt, T, h, w]`` (a view of the channels-last stream)."""
        x = self.forward_stem(video)
        outs = []
        for index in range(len(self.blocks)):
            x = self.forward_block(index, x)
            outs.append(x.permute(0, 4, 1, 2, 3))
        return tuple(outs)
