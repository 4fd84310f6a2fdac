"""STAN cross-frame module: 3D convolution over (time, grid) (STAN-conv)."""
from typing import Dict, Optional, Tuple

import torch
from mmaction.registry import MODELS
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from torch import Tensor, nn


@MODELS.register_module()
class STANCrossFrameConv(BaseModule):
    """Full ``D -> D`` 3x3x3 convolution over the patch tokens (STAN-conv).

    As in the official CVPR-release code (not the paper's Eq. 9
    bottleneck): the patches ``[B, N*T, D]`` are viewed as a volume
    ``[B, D, T, gh, gw]``, convolved (stride 1, padding 1, no norm or
    activation), projected by ``temporal_fc`` and added back; the video CLS
    passes through.

    Args:
        width (int): Token width D.
        kernel_size (int): Cubic kernel size. Defaults to 3.
        drop_path (float): Drop-path rate on the convolution branch.
            Defaults to 0.
        init_cfg (dict, optional): Unused. Defaults to None.
    """

    def __init__(self,
                 width: int,
                 kernel_size: int = 3,
                 drop_path: float = 0.,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if kernel_size % 2 != 1:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        self.conv = nn.Conv3d(
            width, width, kernel_size, stride=1, padding=kernel_size // 2)
        self.temporal_fc = nn.Linear(width, width)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else \
            nn.Identity()
        self.init_weights()

    def init_weights(self) -> None:
        """Official init: zero ``temporal_fc`` (identity at start); the
        convolution keeps PyTorch's default."""
        nn.init.zeros_(self.temporal_fc.weight)
        nn.init.zeros_(self.temporal_fc.bias)

    def forward(self, x: Tensor, num_frames: int,
                grid_size: Tuple[int, int]) -> Tensor:
        """``[B, 1 + N*T, D]`` -> ``[B, 1 + N*T, D]``."""
        batch, length, width = x.shape
        grid_h, grid_w = grid_size
        cls, patches = x[:, :1], x[:, 1:]
        # token 1 + n*T + t, n = row * gw + col -> [B, D, T, gh, gw]
        vol = patches.reshape(batch, grid_h, grid_w, num_frames, width)
        vol = vol.permute(0, 4, 3, 1, 2)
        y = self.conv(vol)
        y = y.permute(0, 3, 4, 2, 1).reshape(batch, length - 1, width)
        y = self.temporal_fc(self.drop_path(y))
        return torch.cat([cls, patches + y], dim=1)
