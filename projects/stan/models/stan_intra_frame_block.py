"""STAN intra-frame module: a CLIP-shaped block over each frame."""
from collections import OrderedDict
from typing import Dict, Optional

import torch
from mmaction.registry import MODELS
from mmcv.cnn.bricks import DropPath
from mmengine.model import BaseModule
from torch import Tensor, nn

from dist_plugin.models.layers import QuickGELU


@MODELS.register_module()
class STANIntraFrameBlock(BaseModule):
    """CLIP residual block applied frame by frame to a STAN sequence.

    Parameter names and shapes are open_clip's ``ResidualAttentionBlock``
    (``ln_1``, ``attn``, ``ln_2``, ``mlp.c_fc``, ``mlp.c_proj``), so the
    block can start as a copy of a CLIP layer (:meth:`copy_from`). Each frame
    attends over ``[video CLS, its N patches]``; the frames' CLS outputs are
    averaged back into one video CLS. The MLP then runs on all tokens.

    Args:
        width (int): Token width D.
        num_heads (int): Attention heads.
        mlp_ratio (float): MLP hidden size over D. Defaults to 4.
        quick_gelu (bool): QuickGELU (OpenAI CLIP) instead of GELU.
            Defaults to True.
        drop_path (float): Drop-path rate on the attention branch.
            Defaults to 0.
        init_cfg (dict, optional): Unused. Defaults to None.
    """

    def __init__(self,
                 width: int,
                 num_heads: int,
                 mlp_ratio: float = 4.,
                 quick_gelu: bool = True,
                 drop_path: float = 0.,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        hidden = int(width * mlp_ratio)
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, num_heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict([('c_fc', nn.Linear(width, hidden)),
                         ('gelu', QuickGELU() if quick_gelu else nn.GELU()),
                         ('c_proj', nn.Linear(hidden, width))]))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else \
            nn.Identity()

    def copy_from(self, block: nn.Module) -> None:
        """Copy the weights of an open_clip ``ResidualAttentionBlock``."""
        own = self.state_dict()
        source = {k: v for k, v in block.state_dict().items() if k in own}
        missing = sorted(set(own) - set(source))
        if missing:
            raise ValueError(f'Cannot initialise the intra-frame block from '
                             f'{type(block).__name__}: it lacks {missing}.')
        with torch.no_grad():
            for key, value in source.items():
                if value.shape != own[key].shape:
                    raise ValueError(
                        f'Cannot initialise the intra-frame block: {key} is '
                        f'{tuple(value.shape)} in the CLIP layer, '
                        f'{tuple(own[key].shape)} here.')
                own[key].copy_(value)

    def forward(self, x: Tensor, num_frames: int) -> Tensor:
        """``[B, 1 + N*T, D]`` -> ``[B, 1 + N*T, D]``."""
        batch, length, width = x.shape
        num_patches = (length - 1) // num_frames
        cls = x[:, :1].expand(batch, num_frames, width)
        cls = cls.reshape(batch * num_frames, 1, width)
        patches = x[:, 1:].reshape(batch, num_patches, num_frames, width)
        patches = patches.transpose(1, 2).reshape(batch * num_frames,
                                                  num_patches, width)
        frames = torch.cat([cls, patches], dim=1)  # [B*T, 1+N, D]
        y = self.ln_1(frames)
        y = self.attn(y, y, y, need_weights=False)[0]
        y_cls = y[:, 0].reshape(batch, num_frames, width).mean(1)
        y_patches = y[:, 1:].reshape(batch, num_frames, num_patches, width)
        y_patches = y_patches.transpose(1, 2).reshape(batch, length - 1,
                                                      width)
        x = x + self.drop_path(torch.cat([y_cls[:, None], y_patches], dim=1))
        return x + self.mlp(self.ln_2(x))
