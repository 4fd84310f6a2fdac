"""DiST integration branch: fuses the frozen CLIP stream and the temporal
stream at every tapped layer, then pools the result into a video embedding.

Layouts are chosen so that no step copies a whole stream: the integration
tokens stay ``[B*Ts, 1+N, Di]`` and their temporal convolution runs on a
channels-last view ``[B, h, Ts, L]`` of the same memory; the temporal stream
stays channels-last ``[B, T, h, w, Dt]`` (see ``DiSTTemporalEncoder``).
Attention uses ``F.scaled_dot_product_attention`` with the parameters of
the ``nn.MultiheadAttention`` modules (state-dict keys are unchanged).
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmaction.registry import MODELS
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from ..backbones.clip_video_features import CLIPVideoFeatures
from ..layers import (ShapeCheckedLoadMixin, TokenMLP, add_to_fresh,
                      quick_gelu_linear, recomputed)
from ..temporal.dist_temporal_encoder import temporal_conv_cl


def cross_attention(attn: nn.MultiheadAttention, query: Tensor,
                    key_value: Tensor) -> Tensor:
    """``attn(query, key_value, key_value)[0]`` of a batch-first, packed
    :class:`nn.MultiheadAttention` without masks or dropout.

    When the queries are few (the pooling queries: one per frame or video),
    they are folded into the key and value projections, so the keys and
    values of the many tokens are never formed: per head ``h``,
    ``q_h . (W_k,h x + b_k,h) = (W_k,h^T q_h) . x + const`` (the constant
    cancels in the softmax) and ``sum_j a_j (W_v,h x_j + b_v,h) =
    W_v,h (sum_j a_j x_j) + b_v,h``. Otherwise SDPA on the projected keys
    and values.

    Args:
        attn (nn.MultiheadAttention): Supplies the weights.
        query (Tensor): ``[M, Lq, D]``.
        key_value (Tensor): ``[M, Lk, D]``.

    Returns:
        Tensor: ``[M, Lq, D]``.
    """
    num, len_q, width = query.shape
    len_k = key_value.shape[1]
    heads = attn.num_heads
    head_dim = width // heads
    w_q, w_k, w_v = attn.in_proj_weight.chunk(3)
    b_q, b_k, b_v = attn.in_proj_bias.chunk(3)
    q = F.linear(query, w_q, b_q)
    # multiply-adds per sample: folded vs projecting the keys and values
    folded = len_q * width * width + heads * len_q * len_k * width
    projected = len_k * width * width + len_q * len_k * width
    if folded < projected:
        q = q.view(num, len_q, heads, head_dim) * head_dim**-0.5
        q_k = torch.einsum('mqhd,hdc->mhqc', q,
                           w_k.view(heads, head_dim, width))
        scores = q_k.reshape(num, heads * len_q, width) @ key_value.mT
        pooled = scores.softmax(-1) @ key_value  # [M, H*Lq, D]
        out = torch.einsum('mhqc,hdc->mqhd',
                           pooled.view(num, heads, len_q, width),
                           w_v.view(heads, head_dim, width))
        out = out.reshape(num, len_q, width) + b_v
    else:
        kv = F.linear(key_value, torch.cat([w_k, w_v]),
                      torch.cat([b_k, b_v]))
        q = q.view(num, len_q, heads, head_dim).transpose(1, 2)
        kv = kv.view(num, len_k, 2, heads, head_dim).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, kv[0], kv[1])
        out = out.transpose(1, 2).reshape(num, len_q, width)
    return F.linear(out, attn.out_proj.weight, attn.out_proj.bias)


class IntegrationToTemporal(nn.Module):
    """Integration -> temporal link: project patch tokens to the temporal
    width and repeat each sparse step over the dense frames it covers.

    Args:
        width (int): Integration width.
        temporal_width (int): Temporal width.
    """

    def __init__(self, width: int, temporal_width: int) -> None:
        super().__init__()
        self.proj = nn.Linear(width, temporal_width)

    def forward(self, tokens: Tensor, temporal: Tensor) -> Tensor:
        """``temporal`` ``[B, T, h, w, Dt]`` (channels-last) plus the
        projected patch tokens of ``tokens`` ``[B*Ts, 1+N, Di]``; returns the
        updated stream, same shape."""
        batch, num_frames = temporal.shape[:2]
        num_sparse = tokens.shape[0] // batch
        y = self.proj(tokens[:, 1:])  # [B*Ts, N, Dt]
        # Nearest upsampling in time (dense frame t reads sparse step
        # t // alpha) as a broadcast add: no repeated copy is made.
        y = y.view(batch, num_sparse, 1, -1)
        out = temporal.view(batch, num_sparse, num_frames // num_sparse,
                            -1) + y
        return out.view(temporal.shape)


class TemporalToIntegration(nn.Module):
    """Temporal -> integration link: a strided temporal conv to the sparse
    rate, plus a learnable CLS token per sparse step.

    Args:
        temporal_width (int): Temporal width.
        width (int): Integration width.
        alpha (int): Dense frames per sparse frame.
        num_frames (int): Sparse frames ``Ts``.
    """

    def __init__(self, temporal_width: int, width: int, alpha: int,
                 num_frames: int) -> None:
        super().__init__()
        self.proj = nn.Conv3d(
            temporal_width, width, (alpha, 1, 1), stride=(alpha, 1, 1))
        self.cls_token = nn.Parameter(torch.zeros(num_frames, width))

    def forward(self, temporal: Tensor) -> Tensor:
        """``[B, T, h, w, Dt]`` (channels-last) -> tokens
        ``[B*Ts, 1+N, Di]``."""
        z = temporal_conv_cl(temporal.flatten(2, 3), self.proj)
        batch, num_sparse, _, width = z.shape  # [B, Ts, N, Di]
        cls = self.cls_token.view(1, num_sparse, 1, width)
        z = torch.cat([cls.expand(batch, -1, -1, -1), z], dim=2)
        return z.flatten(0, 1)


class IntegrationBlock(nn.Module):
    """Integration block: returns a delta (token MLP + temporal conv MLP).

    Args:
        width (int): Integration width.
        kernel_size (int): Temporal kernel.
        mlp_ratio (float): Hidden ratio of the token MLP.
        temporal_mlp_ratio (float): Hidden ratio of the temporal MLP.
    """

    def __init__(self, width: int, kernel_size: int, mlp_ratio: float,
                 temporal_mlp_ratio: float) -> None:
        super().__init__()
        hidden = int(width * temporal_mlp_ratio)
        self.norm = nn.LayerNorm(width)
        self.mlp = TokenMLP(width, int(width * mlp_ratio))
        self.temporal_norm = nn.LayerNorm(width)
        self.temporal_fc1 = nn.Linear(width, hidden)
        self.temporal_conv = nn.Conv1d(
            hidden, hidden, kernel_size, padding=kernel_size // 2)
        self.temporal_fc2 = nn.Linear(hidden, width)

    def forward(self, x: Tensor, batch: int) -> Tensor:
        """``x`` ``[B*Ts, L, Di]`` -> delta of the same shape."""
        num_sparse, num_tokens = x.shape[0] // batch, x.shape[1]
        # LayerNorm outputs feeding a linear layer are recomputed in the
        # backward pass (from ``x``, which the LayerNorms keep anyway).
        with recomputed(self.temporal_norm, x) as normed:
            t = self.temporal_fc1(normed)  # [B*Ts, L, h]
        t = t.view(batch, num_sparse, num_tokens, -1)
        # The temporal conv over Ts, per token, as a 2D conv with kernel
        # (k, 1) on the channels-last view [B, h, Ts, L] of the same memory.
        t = F.conv2d(
            t.permute(0, 3, 1, 2), self.temporal_conv.weight.unsqueeze(-1),
            self.temporal_conv.bias,
            padding=(self.temporal_conv.padding[0], 0))
        t = t.permute(0, 2, 3, 1).reshape(x.shape[0], num_tokens, -1)
        t = quick_gelu_linear(t, self.temporal_fc2)  # fc2(QuickGELU(t))
        return add_to_fresh(self.mlp(x, norm=self.norm), t)


class AttentionPoolingLayer(nn.Module):
    """Two-stage attention pooling: a spatial query per sparse frame reads
    that frame's tokens, then a video query reads the spatial queries.

    Args:
        width (int): Integration width.
        num_heads (int): Attention heads.
        num_frames (int): Sparse frames ``Ts`` (temporal position embedding).
        mlp_ratio (float): Hidden ratio of both MLPs. Defaults to 4.
    """

    def __init__(self, width: int, num_heads: int, num_frames: int,
                 mlp_ratio: float = 4.) -> None:
        super().__init__()
        hidden = int(width * mlp_ratio)
        self.spatial_norm = nn.LayerNorm(width)
        self.spatial_attn = nn.MultiheadAttention(
            width, num_heads, batch_first=True)
        self.spatial_mlp_norm = nn.LayerNorm(width)
        self.spatial_mlp = TokenMLP(width, hidden)
        self.pos_embed = nn.Parameter(torch.zeros(num_frames, width))
        self.temporal_norm = nn.LayerNorm(width)
        self.temporal_attn = nn.MultiheadAttention(
            width, num_heads, batch_first=True)
        self.temporal_mlp_norm = nn.LayerNorm(width)
        self.temporal_mlp = TokenMLP(width, hidden)

    def forward(self, video_query: Tensor, frame_query: Tensor,
                tokens: Tensor) -> Tuple[Tensor, Tensor]:
        """``video_query`` ``[B, 1, Di]``, ``frame_query`` ``[B*Ts, 1, Di]``,
        ``tokens`` ``[B*Ts, L, Di]`` -> updated queries."""
        batch = video_query.shape[0]
        # One LayerNorm serves query, key and value (as in the official
        # code); the normalized tokens are recomputed in the backward pass.
        q = self.spatial_norm(frame_query)
        with recomputed(self.spatial_norm, tokens, single_use=False) as kv:
            attended = cross_attention(self.spatial_attn, q, kv)
        frame_query = frame_query + attended
        frame_query = frame_query + self.spatial_mlp(
            frame_query, norm=self.spatial_mlp_norm)
        frames = frame_query.view(batch, -1, frame_query.shape[-1])
        kv = self.temporal_norm(frames + self.pos_embed)  # [B, Ts, Di]
        q = self.temporal_norm(video_query)
        video_query = video_query + cross_attention(self.temporal_attn, q,
                                                    kv)
        video_query = video_query + self.temporal_mlp(
            video_query, norm=self.temporal_mlp_norm)
        return video_query, frame_query


@MODELS.register_module()
class DiSTIntegrationNeck(ShapeCheckedLoadMixin, BaseModule):
    """DiST integration branch over a frozen CLIP ViT and a temporal encoder.

    Takes the :class:`CLIPVideoFeatures` of :class:`FrozenCLIPViT` (CLIP
    tokens of the sparse frames, the dense clip, frozen-CLIP frame
    embeddings) and returns the video embedding in CLIP's embedding space.
    Defaults are the official values.

    Args:
        in_channels (int): CLIP width ``D`` (768 for ViT-B/16).
        embed_dim (int): CLIP embedding size ``E`` (512 for ViT-B/16).
        num_layers (int): Number of tapped CLIP layers.
        num_frames (int): Sparse frames per clip ``Ts`` (sizes the temporal
            CLS tokens and position embeddings).
        alpha (int): Dense frames per sparse frame. Defaults to 2.
        selected_layers (Sequence[int], optional): CLIP blocks to tap.
            Defaults to None (all ``num_layers`` blocks).
        width (int): Integration width. Defaults to 384.
        temporal_encoder (dict): Config of the temporal encoder; its
            ``num_layers`` is filled in. Defaults to
            ``dict(type='DiSTTemporalEncoder')`` (width 96, patch (5, 16, 16),
            kernel 3, MLP ratio 1).
        kernel_size (int): Temporal kernel of the integration blocks.
            Defaults to 3.
        mlp_ratio (float): Integration token-MLP ratio. Defaults to 1.
        temporal_mlp_ratio (float): Integration temporal-MLP ratio.
            Defaults to 0.25.
        num_pooling_layers (int): Attention-pooling layers. Defaults to 4.
        num_heads (int, optional): Attention heads. Defaults to None
            (``width // 64``).
        pooling_mlp_ratio (float): Pooling MLP ratio. Defaults to 4.
        with_frame_embedding (bool): Also return the frozen-CLIP frame-average
            embedding (for zero-shot logit fusion). Defaults to False.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 embed_dim: int,
                 num_layers: int,
                 num_frames: int,
                 alpha: int = 2,
                 selected_layers: Optional[Sequence[int]] = None,
                 width: int = 384,
                 temporal_encoder: Dict = dict(type='DiSTTemporalEncoder'),
                 kernel_size: int = 3,
                 mlp_ratio: float = 1.,
                 temporal_mlp_ratio: float = 0.25,
                 num_pooling_layers: int = 4,
                 num_heads: Optional[int] = None,
                 pooling_mlp_ratio: float = 4.,
                 with_frame_embedding: bool = False,
                 init_cfg: Optional[Union[Dict, List]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if selected_layers is not None and len(selected_layers) != num_layers:
            raise ValueError(f'selected_layers {list(selected_layers)} must '
                             f'have num_layers={num_layers} entries')
        self.num_layers = num_layers
        self.num_frames = num_frames
        self.alpha = alpha
        self.selected_layers = (
            list(selected_layers) if selected_layers is not None else None)
        self.width = width
        self.with_frame_embedding = with_frame_embedding
        num_heads = num_heads or max(width // 64, 1)

        temporal_cfg = dict(temporal_encoder)
        temporal_cfg.setdefault('num_layers', num_layers)
        self.temporal_encoder = MODELS.build(temporal_cfg)
        temporal_width = self.temporal_encoder.width

        self.input_projs = nn.ModuleList(
            nn.Linear(in_channels, width) for _ in range(num_layers))
        # The last integration -> temporal link would feed nothing (the
        # official model computes it and never reads it), so it is omitted.
        self.i2t_links = nn.ModuleList(
            IntegrationToTemporal(width, temporal_width)
            for _ in range(num_layers - 1))
        self.t2i_links = nn.ModuleList(
            TemporalToIntegration(temporal_width, width, alpha, num_frames)
            for _ in range(num_layers))
        self.integration_blocks = nn.ModuleList(
            IntegrationBlock(width, kernel_size, mlp_ratio,
                             temporal_mlp_ratio) for _ in range(num_layers))
        self.video_query = nn.Parameter(torch.zeros(width))
        self.frame_query = nn.Parameter(torch.zeros(width))
        self.pooling_layers = nn.ModuleList(
            AttentionPoolingLayer(width, num_heads, num_frames,
                                  pooling_mlp_ratio)
            for _ in range(num_pooling_layers))
        self.spatial_cls_proj = nn.Linear(in_channels, width)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.zeros(width, embed_dim))
        self._reset_parameters()

    def init_weights(self) -> None:
        """Truncated-normal linear/conv weights, zero biases, small tokens
        (unless ``init_cfg`` says otherwise)."""
        super().init_weights()
        if self.init_cfg is None:
            self._reset_parameters()

    def _reset_parameters(self) -> None:
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv3d)):
                trunc_normal_(module.weight, std=.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        for param in (self.video_query, self.frame_query):
            nn.init.normal_(param, std=.02)
        for link in self.t2i_links:
            nn.init.normal_(link.cls_token, std=.02)
        for layer in self.pooling_layers:
            nn.init.normal_(layer.pos_embed, std=.02)
        nn.init.normal_(self.proj, std=self.width**-0.5)

    def _check_shapes(self, feats: CLIPVideoFeatures,
                      temporal: Tensor) -> List[Tensor]:
        """Validate the two streams against each other; return the tapped
        blocks' tokens."""
        if self.selected_layers is None:
            if len(feats.layer_ids) != self.num_layers:
                raise ValueError(
                    f'The backbone returned {len(feats.layer_ids)} layers but '
                    f'the neck has num_layers={self.num_layers}; set '
                    f'num_layers or selected_layers to match the CLIP depth.')
            layer_tokens = list(feats.layer_tokens)
        else:
            layer_tokens = [feats.tokens_of(i) for i in self.selected_layers]
        num_frames = feats.inputs.shape[2]
        num_sparse = feats.num_frames
        if num_sparse != self.num_frames:
            raise ValueError(
                f'The neck was built for num_frames={self.num_frames} sparse '
                f'frames, got {num_sparse} (clip of {num_frames} frames, '
                f'alpha={self.alpha}). Set neck.num_frames = clip_len / '
                f'alpha.')
        if num_frames != num_sparse * self.alpha:
            raise ValueError(
                f'{num_frames} dense frames with {num_sparse} sparse frames '
                f'do not match the neck alpha={self.alpha}; use the same '
                f'alpha in the backbone and the neck.')
        grid_h, grid_w = temporal.shape[2:4]  # channels-last stream
        if grid_h * grid_w + 1 != layer_tokens[0].shape[1]:
            raise ValueError(
                f'The temporal stem grid ({grid_h}x{grid_w}) does not match '
                f'the CLIP token grid '
                f'({layer_tokens[0].shape[1] - 1} patches): its spatial patch '
                f'size must equal the CLIP patch size.')
        return layer_tokens

    def forward(self,
                feats: CLIPVideoFeatures,
                data_samples: Optional[list] = None
                ) -> Tuple[Union[Tensor, Tuple[Tensor, Tensor]], Dict]:
        """Fuse the streams.

        Args:
            feats (CLIPVideoFeatures): Output of :class:`FrozenCLIPViT`.
            data_samples (list, optional): Unused. Defaults to None.

        Returns:
            tuple: The video embedding ``[B, E]`` (or, with
            ``with_frame_embedding``, a pair with the frozen-CLIP frame-average
            embedding) and an empty auxiliary-loss dict.
        """
        video = feats.inputs  # [B, 3, T, H, W]
        temporal = self.temporal_encoder.forward_stem(video)  # [B,T,h,w,Dt]
        layer_tokens = self._check_shapes(feats, temporal)
        batch = video.shape[0]

        # Sums are taken in place on fresh outputs that autograd does not
        # keep (fewer temporaries at the peak of the forward pass).
        delta = None
        for idx, clip_tokens in enumerate(layer_tokens):
            temporal = self.temporal_encoder.forward_block(idx, temporal)
            mixed = self.input_projs[idx](clip_tokens)
            if delta is not None:
                mixed = add_to_fresh(mixed, delta)
            # temporal -> integration reads the stream before this layer's
            # integration -> temporal update.
            fused = add_to_fresh(self.t2i_links[idx](temporal), mixed)
            if idx < len(self.i2t_links):
                temporal = self.i2t_links[idx](mixed, temporal)
            delta = self.integration_blocks[idx](fused, batch)
        tokens = add_to_fresh(delta, fused)  # [B*Ts, 1+N, Di]

        video_query = self.video_query.expand(batch, 1, -1)
        frame_query = self.frame_query.expand(tokens.shape[0], 1, -1)
        for layer in self.pooling_layers:
            video_query, frame_query = layer(video_query, frame_query, tokens)

        # Spatial shortcut: raw CLS of the last tapped CLIP block, averaged
        # over the sparse frames.
        cls = layer_tokens[-1][:, 0]
        cls = cls.reshape(batch, -1, cls.shape[-1]).mean(dim=1)  # [B, D]
        video_embed = self.ln_post(video_query[:, 0] +
                                   self.spatial_cls_proj(cls)) @ self.proj
        if self.with_frame_embedding:
            return (video_embed,
                    feats.require_frame_embeddings().mean(dim=1)), dict()
        return video_embed, dict()
