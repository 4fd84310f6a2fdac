"""SME-Adapter of TDS-CLIP: a patch stem on the RGB differences of each
window."""
from typing import Optional

from mmaction.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor

from .side_patch_stem import SidePatchStem


@MODELS.register_module()
class SMEAdapter(BaseModule):
    """Side motion-enhancement adapter.

    For every segment, the ``w - 1`` differences of consecutive frames of its
    ``w``-frame window (``F1 - F0, F2 - F1, ...``) are stacked on the channel
    axis (channel ``3 * j + c`` is colour ``c`` of difference ``j``) and
    patch-embedded by a :class:`SidePatchStem`.

    Args:
        window (int): Frames per window ``w`` (5 in every official config).
        out_channels (int): Side width ``Ds``.
        patch_size (int): Patch size ``P``.
        temporal_kernel (int): Temporal kernel of the stem. Defaults to 3.
        spatial_padding (int): Spatial padding of the stem (1 as official).
            Defaults to 1.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 window: int,
                 out_channels: int,
                 patch_size: int,
                 temporal_kernel: int = 3,
                 spatial_padding: int = 1,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if window < 2:
            raise ValueError(f'window must be >= 2 frames, got {window}')
        self.window = window
        self.stem = SidePatchStem(3 * (window - 1), out_channels, patch_size,
                                  temporal_kernel, spatial_padding)

    def differences(self, windows: Tensor) -> Tensor:
        """``[B, 3, T, w, H, W]`` -> ``[B, 3 (w - 1), T, H, W]``, channel
        ``3 * j + c`` = colour ``c`` of ``F[j + 1] - F[j]``."""
        batch, channels, num_segments, window, height, width = windows.shape
        if window != self.window:
            raise ValueError(f'SMEAdapter was built for windows of '
                             f'{self.window} frames, got {window}')
        diff = windows[:, :, :, 1:] - windows[:, :, :, :-1]  # [B,3,T,w-1,H,W]
        return diff.permute(0, 3, 1, 2, 4, 5).reshape(
            batch, (window - 1) * channels, num_segments, height, width)

    def forward(self, windows: Tensor) -> Tensor:
        """``[B, 3, T, w, H, W]`` windows -> ``[B, Ds, T, H/P, W/P]``."""
        return self.stem(self.differences(windows))
