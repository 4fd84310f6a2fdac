"""EVL's temporal cross attention between adjacent frames."""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def relative_position_index(grid_h: int, grid_w: int) -> Tensor:
    """Index ``[N, N]`` into a ``(2h-1)*(2w-1)`` table of 2-D offsets.

    Patch ``m = row * grid_w + col``; entry ``[m, n]`` is
    ``(row_m - row_n + h - 1) * (2w - 1) + (col_m - col_n + w - 1)``.
    """
    rows = torch.arange(grid_h).repeat_interleave(grid_w)  # [N]
    cols = torch.arange(grid_w).repeat(grid_h)  # [N]
    d_row = rows[:, None] - rows[None, :] + grid_h - 1
    d_col = cols[:, None] - cols[None, :] + grid_w - 1
    return d_row * (2 * grid_w - 1) + d_col


class TemporalCrossAttention(nn.Module):
    """Attention maps between the patches of adjacent frames, used to weight
    learned relative-position tables.

    For frame ``t``, the attention of its patch queries over the patch keys
    of frame ``t - 1`` (softmax over keys, mean over heads) weights the
    ``w_prev`` table entry of each query-key offset; the same with frame
    ``t + 1`` and ``w_next``. The q and k are the CLIP block's own
    (unscaled); scores are scaled by ``1 / sqrt(head_dim)``. CLS rows are
    zero.

    Args:
        grid_size (Sequence[int]): Patch grid ``(h, w)`` the tables are
            built for.
        width (int): Token width ``D``.
    """

    def __init__(self, grid_size: Sequence[int], width: int) -> None:
        super().__init__()
        grid_h, grid_w = (int(v) for v in grid_size)
        self.grid_size: Tuple[int, int] = (grid_h, grid_w)
        num_offsets = (2 * grid_h - 1) * (2 * grid_w - 1)
        # Official names: w1 (previous frame) and w2 (next frame).
        self.w_prev = nn.Parameter(torch.zeros(num_offsets, width))
        self.w_next = nn.Parameter(torch.zeros(num_offsets, width))
        self.register_buffer(
            'rel_index', relative_position_index(grid_h, grid_w),
            persistent=False)

    @staticmethod
    def _attend(queries: Tensor, keys: Tensor, table: Tensor) -> Tensor:
        """``queries``/``keys`` ``[B, T', N, h, dh]``, ``table``
        ``[N, N, D]`` -> ``[B, T', N, D]``."""
        scale = queries.shape[-1]**-0.5
        scores = torch.einsum('btmhd,btnhd->bthmn', queries, keys) * scale
        attn = scores.softmax(dim=-1).mean(dim=2)  # [B, T', N, N]
        return torch.einsum('btmn,mnc->btmc', attn, table.to(attn.dtype))

    def forward(self, q: Tensor, k: Tensor, batch: int) -> Tensor:
        """``q``, ``k`` ``[B*T, 1+N, h, dh]`` -> ``[B, T, 1+N, D]``."""
        q = q.view(batch, -1, *q.shape[1:])[:, :, 1:]  # [B, T, N, h, dh]
        k = k.view(batch, -1, *k.shape[1:])[:, :, 1:]
        prev = self._attend(q[:, 1:], k[:, :-1],
                            self.w_prev[self.rel_index])  # frames 1..T-1
        next_ = self._attend(q[:, :-1], k[:, 1:],
                             self.w_next[self.rel_index])  # frames 0..T-2
        # [B, T, N, D]: frame 0 has no previous frame, frame T-1 no next one
        patches = F.pad(prev, (0, 0, 0, 0, 1, 0)) + \
            F.pad(next_, (0, 0, 0, 0, 0, 1))
        return F.pad(patches, (0, 0, 1, 0))  # zero CLS rows
