"""One block of the TDS-CLIP side network."""
from typing import Optional, Tuple

import torch
from mmaction.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn

from .td_adapter import TDAdapter


def tokens_to_volume(x: Tensor, num_segments: int,
                     grid: Tuple[int, int]) -> Tensor:
    """``[B*T, h*w, C]`` (row ``b*T + t``, patches row-major) ->
    ``[B, C, T, h, w]``."""
    return x.unflatten(0, (-1, num_segments)).unflatten(2, grid).permute(
        0, 4, 1, 2, 3)


def volume_to_tokens(x: Tensor) -> Tensor:
    """``[B, C, T, h, w]`` -> ``[B*T, h*w, C]``."""
    return x.permute(0, 2, 3, 4, 1).flatten(2, 3).flatten(0, 1)


def shift_tokens(tokens: Tensor, num_segments: int) -> Tensor:
    """Token shift within each clip, ``[B*T, C]`` -> ``[B*T, C]``.

    The first ``C // 2`` channels of segment ``t`` come from segment
    ``t + 1``, the rest from segment ``t - 1``; zeros where the clip ends.
    """
    x = tokens.unflatten(0, (-1, num_segments))  # [B, T, C]
    fold = x.shape[-1] // 2
    out = x.new_zeros(x.shape)
    out[:, :-1, :fold] = x[:, 1:, :fold]
    out[:, 1:, fold:] = x[:, :-1, fold:]
    return out.flatten(0, 1)


@MODELS.register_module()
class TDSCLIPSideBlock(BaseModule):
    """Side block: TD-Adapter, attention of the patch tokens over
    [token-shifted CLIP CLS; patches + position table], BatchNorm + MLP.

    ``x1 = x + TD(x)``; ``seq = [shift(cls); x1 + E]``;
    ``x2 = x1 + MHA(LN(seq)[1:], LN(seq))`` (the position table ``E`` enters
    the attention input only); ``x3 = x2 + MLP(BN(x2))`` with erf GELU.

    Args:
        channels (int): Side width ``Ds``.
        num_heads (int, optional): Attention heads. Defaults to None
            (``Ds // 64``, as official).
        mlp_ratio (float): MLP hidden width over ``Ds``. Defaults to 4.
        td_reduction (int): Gate bottleneck ratio of the TD-Adapter.
            Defaults to 16.
        init_depth (int): Depth in the output-projection init scale
            ``Ds^-0.5 (2 depth)^-0.5``; the official code uses 12 for every
            size. Defaults to 12.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 channels: int,
                 num_heads: Optional[int] = None,
                 mlp_ratio: float = 4.,
                 td_reduction: int = 16,
                 init_depth: int = 12,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        num_heads = num_heads or max(channels // 64, 1)
        if channels % num_heads:
            raise ValueError(f'{num_heads} heads do not divide the side '
                             f'width {channels}')
        self.init_depth = init_depth
        self.td_adapter = TDAdapter(channels, reduction=td_reduction)
        self.attn_norm = nn.LayerNorm(channels)
        self.attn = nn.MultiheadAttention(
            channels, num_heads, batch_first=True)
        self.mlp_norm = nn.BatchNorm3d(channels)
        hidden = int(channels * mlp_ratio)
        self.mlp = nn.Sequential()
        self.mlp.add_module('fc1', nn.Linear(channels, hidden))
        self.mlp.add_module('act', nn.GELU())
        self.mlp.add_module('fc2', nn.Linear(hidden, channels))

    def init_weights(self) -> None:
        """The official side-block initialisation (training start only)."""
        super().init_weights()
        if self.init_cfg is not None:
            return
        width = self.attn.embed_dim
        attn_std = width**-0.5
        proj_std = attn_std * (2 * self.init_depth)**-0.5
        nn.init.normal_(self.attn.in_proj_weight, std=attn_std)
        nn.init.normal_(self.attn.out_proj.weight, std=proj_std)
        nn.init.normal_(self.mlp.fc1.weight, std=(2 * width)**-0.5)
        nn.init.normal_(self.mlp.fc2.weight, std=proj_std)

    def attention_input(self, x: Tensor, cls: Tensor, pos_embed: Tensor,
                        num_segments: int) -> Tensor:
        """``[shift(cls); x + E]``, ``[B*T, 1+N, Ds]``."""
        cls = shift_tokens(cls, num_segments)
        patches = x + pos_embed.to(x.dtype)
        return torch.cat([cls[:, None].to(x.dtype), patches], dim=1)

    def attend(self, normed: Tensor) -> Tensor:
        """Patch queries over all tokens: ``[B*T, 1+N, Ds]`` ->
        ``[B*T, N, Ds]``."""
        return self.attn(
            normed[:, 1:], normed, normed, need_weights=False)[0]

    def mlp_branch(self, x: Tensor, num_segments: int,
                   grid: Tuple[int, int]) -> Tensor:
        """``MLP(BN(x))`` of tokens ``[B*T, N, Ds]``."""
        normed = self.mlp_norm(tokens_to_volume(x, num_segments, grid))
        return self.mlp(volume_to_tokens(normed))

    def forward(self, x: Tensor, cls: Tensor, pos_embed: Tensor,
                num_segments: int, grid: Tuple[int, int]) -> Tensor:
        """Run the block.

        Args:
            x (Tensor): Side tokens ``[B*T, N, Ds]``.
            cls (Tensor): Projected CLIP CLS of this layer ``[B*T, Ds]``.
            pos_embed (Tensor): Side position table ``[N, Ds]``.
            num_segments (int): ``T``.
            grid (tuple[int, int]): ``(h, w)`` with ``h * w = N``.

        Returns:
            Tensor: ``[B*T, N, Ds]``.
        """
        td = self.td_adapter(tokens_to_volume(x, num_segments, grid))
        x = x + volume_to_tokens(td)
        seq = self.attention_input(x, cls, pos_embed, num_segments)
        x = x + self.attend(self.attn_norm(seq))
        return x + self.mlp_branch(x, num_segments, grid)

