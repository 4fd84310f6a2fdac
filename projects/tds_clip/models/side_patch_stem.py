"""Patch stem of the TDS-CLIP side network (3D conv + BatchNorm)."""
from typing import Optional

from mmaction.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn


@MODELS.register_module()
class SidePatchStem(BaseModule):
    """Patch embedding of a frame sequence for the side network.

    A ``Conv3d`` with kernel ``(temporal_kernel, P, P)`` and stride
    ``(1, P, P)``, then ``BatchNorm3d``. The official TDS-CLIP stems pad the
    space by one pixel (``spatial_padding=1``): the grid keeps ``H / P`` rows,
    but each side patch reads rows ``P*i - 1 ... P*i + P - 2``, one pixel up
    and left of CLIP's patch ``i`` (row -1 is zero, the last row and column
    are never read). Keep it to use the released weights; 0 aligns the side
    patches with CLIP's.

    Args:
        in_channels (int): Channels per time step (3 for RGB frames).
        out_channels (int): Side width ``Ds``.
        patch_size (int): Spatial kernel and stride ``P``.
        temporal_kernel (int): Temporal kernel (zero padded to keep ``T``).
            Defaults to 3.
        spatial_padding (int): Spatial zero padding. Defaults to 1.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 patch_size: int,
                 temporal_kernel: int = 3,
                 spatial_padding: int = 1,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if temporal_kernel % 2 != 1:
            raise ValueError(
                f'temporal_kernel must be odd, got {temporal_kernel}')
        self.patch_size = patch_size
        self.conv = nn.Conv3d(
            in_channels,
            out_channels,
            kernel_size=(temporal_kernel, patch_size, patch_size),
            stride=(1, patch_size, patch_size),
            padding=(temporal_kernel // 2, spatial_padding, spatial_padding))
        self.norm = nn.BatchNorm3d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C, T, H, W]`` -> ``[B, Ds, T, H/P, W/P]``."""
        return self.norm(self.conv(x))
