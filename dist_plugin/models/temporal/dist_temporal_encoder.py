"""DiST temporal encoder: a light 3D-conv stream over all dense frames."""
from typing import Dict, Optional, Sequence, Tuple, Union

from mmaction.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..layers import ChannelLastLayerNorm, QuickGELU


class TemporalBlock(nn.Module):
    """One temporal block: ``QG(x + conv_s(QG(conv_t(LN(x)))))``.

    Args:
        width (int): Channels of the temporal stream.
        kernel_size (int): Temporal kernel of ``conv_t``.
        mlp_ratio (float): Hidden width of the block relative to ``width``.
    """

    def __init__(self, width: int, kernel_size: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = int(width * mlp_ratio)
        self.norm = ChannelLastLayerNorm(width)
        self.conv_t = nn.Conv3d(
            width, hidden, (kernel_size, 1, 1),
            padding=(kernel_size // 2, 0, 0))
        self.conv_s = nn.Conv3d(hidden, width, (1, 3, 3), padding=(0, 1, 1))
        self.act = QuickGELU()

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``[B, C, T, h, w]`` -> same shape."""
        y = self.conv_s(self.act(self.conv_t(self.norm(x))))
        return self.act(x + y)


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
        """``[B, 3, T, H, W]`` -> ``[B, Dt, T, H/p, W/p]``."""
        return self.stem(video)

    def forward_block(self, index: int, x: Tensor) -> Tensor:
        """Apply temporal block ``index`` to ``x`` ``[B, Dt, T, h, w]``."""
        return self.blocks[index](x)

    def forward(self, video: Tensor) -> Tuple[Tensor, ...]:
        """Run the stream alone (no integration); returns every block output."""
        x = self.forward_stem(video)
        outs = []
        for index in range(len(self.blocks)):
            x = self.forward_block(index, x)
            outs.append(x)
        return tuple(outs)
