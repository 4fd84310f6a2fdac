"""STAN cross-frame module: self-attention over time at each patch."""
from typing import Dict, Optional

import torch
from mmaction.registry import MODELS
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from torch import Tensor, nn


@MODELS.register_module()
class STANCrossFrameAttention(BaseModule):
    """Attention across the frames of each spatial position (STAN-self).

    Input and output are STAN sequences ``[B, 1 + N*T, D]``: token 0 is the
    video CLS (passed through unchanged), token ``1 + n*T + t`` is patch
    ``n`` of frame ``t``. Each position's ``T`` tokens attend to each other:
    ``p = p + temporal_fc(drop_path(attn(ln_1(p))))``.

    Args:
        width (int): Token width D.
        num_heads (int): Attention heads.
        drop_path (float): Drop-path rate on the attention output.
            Defaults to 0.
        init_cfg (dict, optional): Unused. Defaults to None.
    """

    def __init__(self,
                 width: int,
                 num_heads: int,
                 drop_path: float = 0.,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, num_heads, batch_first=True)
        self.temporal_fc = nn.Linear(width, width)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else \
            nn.Identity()
        self.init_weights()

    def init_weights(self) -> None:
        """Official init: ``temporal_fc`` is zero, so the module starts as
        the identity; the attention keeps PyTorch's defaults."""
        nn.init.zeros_(self.temporal_fc.weight)
        nn.init.zeros_(self.temporal_fc.bias)

    def forward(self, x: Tensor, num_frames: int) -> Tensor:
        """``[B, 1 + N*T, D]`` -> ``[B, 1 + N*T, D]``."""
        batch, length, width = x.shape
        cls, patches = x[:, :1], x[:, 1:]
        patches = patches.reshape(-1, num_frames, width)  # [B*N, T, D]
        y = self.ln_1(patches)
        y = self.attn(y, y, y, need_weights=False)[0]
        patches = patches + self.temporal_fc(self.drop_path(y))
        return torch.cat([cls, patches.reshape(batch, length - 1, width)],
                         dim=1)
