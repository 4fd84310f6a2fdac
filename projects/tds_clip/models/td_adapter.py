"""TD-Adapter of TDS-CLIP: a temporal conv branch gated by temporal
differences."""
from typing import Optional

import torch
import torch.nn.functional as F
from mmaction.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn


@MODELS.register_module()
class TDAdapter(BaseModule):
    """Temporal-difference adapter (the conv branch of a side block).

    ``u = pw(dw_t(pw(BN(v))))`` (pointwise, depthwise temporal, pointwise 3D
    convs, no activation), then a gate from "feature minus its local temporal
    max": ``z = BN(conv1x1(u))`` per frame (``Ds / reduction`` channels),
    ``d = z - maxpool_t(z)`` (``-inf`` padding: edge segments compare with
    their one neighbour), ``y = sigmoid(BN(conv1x1(0.5 d + 0.5 mean_c d)))
    - 0.5``, output ``u * (1 + y)``. The caller adds it to the block input.

    Args:
        channels (int): Side width ``Ds``.
        reduction (int): Bottleneck ratio of the gate. Defaults to 16.
        temporal_kernel (int): Kernel of the depthwise temporal conv.
            Defaults to 3.
        pool_kernel (int): Temporal window of the max. Defaults to 3.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 channels: int,
                 reduction: int = 16,
                 temporal_kernel: int = 3,
                 pool_kernel: int = 3,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if channels // reduction < 1:
            raise ValueError(f'channels={channels} is smaller than the gate '
                             f'reduction {reduction}')
        if temporal_kernel % 2 != 1 or pool_kernel % 2 != 1:
            raise ValueError('temporal_kernel and pool_kernel must be odd')
        hidden = channels // reduction
        self.pool_kernel = pool_kernel
        self.norm = nn.BatchNorm3d(channels)
        self.conv_in = nn.Conv3d(channels, channels, 1)
        self.conv_temporal = nn.Conv3d(
            channels,
            channels, (temporal_kernel, 1, 1),
            padding=(temporal_kernel // 2, 0, 0),
            groups=channels)
        self.conv_out = nn.Conv3d(channels, channels, 1)
        self.gate_reduce = nn.Conv2d(channels, hidden, 1, bias=False)
        self.gate_reduce_norm = nn.BatchNorm2d(hidden)
        self.gate_expand = nn.Conv2d(hidden, channels, 1, bias=False)
        self.gate_expand_norm = nn.BatchNorm2d(channels)

    @staticmethod
    def _frames(x: Tensor) -> Tensor:
        """``[B, C, T, h, w]`` -> ``[B*T, C, h, w]``."""
        return x.transpose(1, 2).flatten(0, 1)

    @staticmethod
    def _volume(x: Tensor, num_segments: int) -> Tensor:
        """``[B*T, C, h, w]`` -> ``[B, C, T, h, w]``."""
        return x.unflatten(0, (-1, num_segments)).transpose(1, 2)

    def conv_branch(self, x: Tensor) -> Tensor:
        """Pointwise / depthwise-temporal / pointwise convs of ``BN(v)``."""
        return self.conv_out(self.conv_temporal(self.conv_in(x)))

    def bottleneck(self, u: Tensor) -> Tensor:
        """Per-frame reduction: ``[B, Ds, T, h, w]`` ->
        ``[B*T, Ds/r, h, w]``."""
        return self.gate_reduce_norm(self.gate_reduce(self._frames(u)))

    def temporal_max(self, z: Tensor, num_segments: int) -> Tensor:
        """Local temporal max ``[B*T, C, h, w]`` -> ``[B, C, T, h, w]``."""
        pad = self.pool_kernel // 2
        return F.max_pool3d(
            self._volume(z, num_segments), (self.pool_kernel, 1, 1),
            stride=1,
            padding=(pad, 0, 0))

    def gate_logits(self, z: Tensor, z_max: Tensor) -> Tensor:
        """Gate before the sigmoid, ``[B*T, Ds, h, w]``."""
        diff = self._volume(z, z_max.shape[2]) - z_max  # <= 0
        mixed = 0.5 * diff + 0.5 * diff.mean(dim=1, keepdim=True)
        return self.gate_expand_norm(self.gate_expand(self._frames(mixed)))

    def forward(self, v: Tensor) -> Tensor:
        """``[B, Ds, T, h, w]`` -> gated branch output of the same shape."""
        num_segments = v.shape[2]
        u = self.conv_branch(self.norm(v))
        z = self.bottleneck(u)
        logits = self.gate_logits(z, self.temporal_max(z, num_segments))
        gate = torch.sigmoid(logits) - 0.5
        return u + u * self._volume(gate, num_segments)
