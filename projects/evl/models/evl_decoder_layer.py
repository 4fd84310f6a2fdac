"""One EVL decoder layer: a query reads the frame tokens of one CLIP block."""
from collections import OrderedDict

import torch.nn.functional as F
from torch import Tensor, nn

from dist_plugin.models.layers import QuickGELU


class EVLDecoderLayer(nn.Module):
    """Pre-norm cross attention of the query over the memory, then an MLP.

    There is no self-attention: the single query attends to every token of
    every frame. Keys and values share one LayerNorm.

    Args:
        width (int): Token and query width ``D``.
        qkv_dim (int): Width of the attention projections.
        num_heads (int): Attention heads (head dim ``qkv_dim / num_heads``).
        mlp_ratio (float): MLP hidden size over ``D``.
        mlp_dropout (float): Dropout after the MLP activation.
    """

    def __init__(self, width: int, qkv_dim: int, num_heads: int,
                 mlp_ratio: float, mlp_dropout: float) -> None:
        super().__init__()
        if qkv_dim % num_heads:
            raise ValueError(f'qkv_dim={qkv_dim} is not divisible by '
                             f'num_heads={num_heads}')
        self.num_heads = num_heads
        # Official names: norm1 (query), norm3 (memory), norm2 (MLP).
        self.norm_query = nn.LayerNorm(width)
        self.norm_memory = nn.LayerNorm(width)
        self.norm_mlp = nn.LayerNorm(width)
        self.q_proj = nn.Linear(width, qkv_dim)
        self.k_proj = nn.Linear(width, qkv_dim)
        self.v_proj = nn.Linear(width, qkv_dim)
        self.out_proj = nn.Linear(qkv_dim, width)
        hidden = round(mlp_ratio * width)
        self.mlp = nn.Sequential(
            OrderedDict([('fc1', nn.Linear(width, hidden)),
                         ('act', QuickGELU()),
                         ('drop', nn.Dropout(mlp_dropout)),
                         ('fc2', nn.Linear(hidden, width))]))

    def _split_heads(self, x: Tensor) -> Tensor:
        """``[B, L, C]`` -> ``[B, heads, L, C / heads]``."""
        return x.unflatten(-1, (self.num_heads, -1)).transpose(1, 2)

    def forward(self, query: Tensor, memory: Tensor) -> Tensor:
        """``query`` ``[B, 1, D]``, ``memory`` ``[B, T*L, D]`` -> the
        updated query ``[B, 1, D]``."""
        kv = self.norm_memory(memory)
        q = self._split_heads(self.q_proj(self.norm_query(query)))
        k = self._split_heads(self.k_proj(kv))
        v = self._split_heads(self.v_proj(kv))
        out = F.scaled_dot_product_attention(q, k, v)  # [B, heads, 1, dd]
        query = query + self.out_proj(out.transpose(1, 2).flatten(2))
        return query + self.mlp(self.norm_mlp(query))
