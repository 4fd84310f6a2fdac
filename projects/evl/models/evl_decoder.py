"""EVL's decoder: one query reads the last CLIP blocks, with local temporal
terms added to each block's tokens."""
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from mmaction.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn

from dist_plugin.models.backbones import CLIPVideoFeatures
from dist_plugin.models.layers import ShapeCheckedLoadMixin
from .evl_decoder_layer import EVLDecoderLayer
from .temporal_cross_attention import TemporalCrossAttention


@MODELS.register_module()
class EVLDecoder(ShapeCheckedLoadMixin, BaseModule):
    """EVL decoder over the frozen CLIP blocks returned by the backbone.

    Decoder layer ``i`` reads the ``i``-th returned block (the last
    ``num_layers`` blocks in EVL: backbone ``out_indices=[-n, ..., -1]``,
    ``return_qk=True``, ``frame_sampling='all'``). Its memory is that block's
    tokens of all frames plus three local temporal terms: a depthwise
    temporal convolution, a temporal position embedding and the temporal
    cross attention of adjacent frames. The memory is never written in
    place, so a trainable backbone gets correct gradients. Returns the final
    query ``[B, D]``.

    Args:
        in_channels (int): CLIP width ``D`` (768 for ViT-B/16).
        num_layers (int): Decoder layers = returned CLIP blocks.
            Defaults to 4.
        num_frames (int): Frames per clip ``T``; sizes the temporal position
            embeddings. Defaults to 8.
        grid_size (Sequence[int]): Patch grid ``(h, w)``; sizes the relative
            tables. Defaults to ``(14, 14)`` (224 px, patch 16).
        num_heads (int, optional): Decoder attention heads. Defaults to None
            (``in_channels // 64``).
        qkv_dim (int, optional): Width of the decoder's q/k/v projections.
            Defaults to None (``in_channels``).
        mlp_ratio (float): Decoder MLP ratio. Defaults to 4.
        mlp_dropout (float): Dropout in the decoder MLP. Defaults to 0.5.
        temporal_conv (bool): Add the depthwise temporal convolution.
            Defaults to True.
        temporal_pos_embed (bool): Add the temporal position embedding.
            Defaults to True.
        temporal_cross_attention (bool): Add the temporal cross attention
            (needs the backbone's q and k). Defaults to True.
        temporal_kernel_size (int): Kernel of the temporal convolution.
            Defaults to 3.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 num_layers: int = 4,
                 num_frames: int = 8,
                 grid_size: Sequence[int] = (14, 14),
                 num_heads: Optional[int] = None,
                 qkv_dim: Optional[int] = None,
                 mlp_ratio: float = 4.,
                 mlp_dropout: float = 0.5,
                 temporal_conv: bool = True,
                 temporal_pos_embed: bool = True,
                 temporal_cross_attention: bool = True,
                 temporal_kernel_size: int = 3,
                 init_cfg: Optional[Union[Dict, List]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if temporal_kernel_size % 2 == 0:
            raise ValueError(f'temporal_kernel_size must be odd, got '
                             f'{temporal_kernel_size}')
        self.in_channels = in_channels
        self.num_layers = num_layers
        self.num_frames = num_frames
        self.grid_size = tuple(int(v) for v in grid_size)
        num_heads = num_heads or max(in_channels // 64, 1)
        qkv_dim = qkv_dim or in_channels

        # Official name: cls_token.
        self.query = nn.Parameter(torch.zeros(in_channels))
        self.layers = nn.ModuleList(
            EVLDecoderLayer(in_channels, qkv_dim, num_heads, mlp_ratio,
                            mlp_dropout) for _ in range(num_layers))
        self.temporal_convs = nn.ModuleList(
            nn.Conv1d(in_channels, in_channels, temporal_kernel_size,
                      padding=temporal_kernel_size // 2, groups=in_channels)
            for _ in range(num_layers if temporal_conv else 0))
        self.temporal_pos_embeds = nn.ParameterList(
            nn.Parameter(torch.zeros(num_frames, in_channels))
            for _ in range(num_layers if temporal_pos_embed else 0))
        self.cross_attentions = nn.ModuleList(
            TemporalCrossAttention(self.grid_size, in_channels)
            for _ in range(num_layers if temporal_cross_attention else 0))
        self._reset_parameters()

    def init_weights(self) -> None:
        """The initialisation that trained the official models (unless
        ``init_cfg`` says otherwise)."""
        super().init_weights()
        if self.init_cfg is None:
            self._reset_parameters()

    def _reset_parameters(self) -> None:
        # Zero query, tables and position embeddings: the temporal terms
        # start as identity. Attention: xavier, zero bias; MLP: xavier,
        # bias N(0, 1e-6). The temporal convs keep PyTorch's default.
        nn.init.zeros_(self.query)
        for param in self.temporal_pos_embeds:
            nn.init.zeros_(param)
        for module in self.cross_attentions:
            nn.init.zeros_(module.w_prev)
            nn.init.zeros_(module.w_next)
        for layer in self.layers:
            for proj in (layer.q_proj, layer.k_proj, layer.v_proj,
                         layer.out_proj):
                nn.init.xavier_uniform_(proj.weight)
                nn.init.zeros_(proj.bias)
            for fc in (layer.mlp.fc1, layer.mlp.fc2):
                nn.init.xavier_uniform_(fc.weight)
                nn.init.normal_(fc.bias, std=1e-6)
        for conv in self.temporal_convs:
            conv.reset_parameters()

    def _check(self, feats: CLIPVideoFeatures) -> None:
        """Raise a clear error for backbone outputs EVL cannot read."""
        if len(feats.layer_tokens) != self.num_layers:
            raise ValueError(
                f'EVLDecoder has num_layers={self.num_layers} but the '
                f'backbone returned {len(feats.layer_tokens)} blocks '
                f'{list(feats.layer_ids)}; set the backbone out_indices to '
                f'the last {self.num_layers} blocks.')
        width = feats.layer_tokens[0].shape[-1]
        if width != self.in_channels:
            raise ValueError(f'EVLDecoder in_channels={self.in_channels} but '
                             f'the CLIP width is {width}.')
        if len(self.temporal_pos_embeds) and \
                feats.num_frames != self.num_frames:
            raise ValueError(
                f'EVL was built for num_frames={self.num_frames} (its '
                f'temporal position embeddings have {self.num_frames} rows) '
                f'but the clip has {feats.num_frames} frames through CLIP. '
                f'Sample clip_len={self.num_frames} frames or use a config '
                f'for {feats.num_frames} frames.')
        if len(self.cross_attentions):
            if tuple(feats.grid_size) != self.grid_size:
                raise ValueError(
                    f'EVL was built for a {self.grid_size[0]}x'
                    f'{self.grid_size[1]} patch grid (its relative-position '
                    f'tables) but the input gives {feats.grid_size[0]}x'
                    f'{feats.grid_size[1]}. Crop the input to the size of '
                    f'the config (e.g. 224 for ViT-B/16) or set grid_size.')
            if feats.layer_qk is None:
                raise ValueError(
                    'EVL temporal cross attention needs the q and k of the '
                    'CLIP blocks: build the backbone with return_qk=True.')

    def memory(self, idx: int, tokens: Tensor,
               qk: Optional[Tuple[Tensor, Tensor]],
               batch: int) -> Dict[str, Optional[Tensor]]:
        """Memory of decoder layer ``idx``.

        Args:
            idx (int): Decoder layer.
            tokens (Tensor): The block's tokens ``[B*T, L, D]``.
            qk (tuple, optional): The block's ``(q, k)``
                ``[B*T, L, heads, head_dim]``.
            batch (int): ``B``.

        Returns:
            dict: ``memory`` ``[B, T*L, D]`` (token index ``t * L + l``),
            and the terms ``temporal_conv`` and ``cross_attention``
            ``[B, T, L, D]`` (None when disabled).
        """
        frames = tokens.view(batch, -1, *tokens.shape[1:])  # [B, T, L, D]
        num_frames, num_tokens, width = frames.shape[1:]
        out = dict(temporal_conv=None, cross_attention=None)
        memory = frames
        if len(self.temporal_convs):
            x = frames.permute(0, 2, 3, 1).reshape(-1, width, num_frames)
            conv = self.temporal_convs[idx](x)  # [B*L, D, T]
            conv = conv.view(batch, num_tokens, width, num_frames)
            out['temporal_conv'] = conv.permute(0, 3, 1, 2)  # [B, T, L, D]
            memory = memory + out['temporal_conv']
        if len(self.temporal_pos_embeds):
            pos = self.temporal_pos_embeds[idx]  # [T, D]
            memory = memory + pos.view(1, num_frames, 1, width)
        if len(self.cross_attentions):
            out['cross_attention'] = self.cross_attentions[idx](*qk, batch)
            memory = memory + out['cross_attention']
        out['memory'] = memory.flatten(1, 2)  # [B, T*L, D]
        return out

    def iter_layers(
            self, feats: CLIPVideoFeatures
    ) -> Iterator[Tuple[Tensor, Dict[str, Optional[Tensor]]]]:
        """Yield, per decoder layer, the query after it ``[B, 1, D]`` and
        the layer's inputs (see :meth:`memory`)."""
        self._check(feats)
        batch = feats.batch_size
        query = self.query.expand(batch, 1, -1)
        for idx, layer in enumerate(self.layers):
            qk = feats.layer_qk[idx] if feats.layer_qk is not None else None
            terms = self.memory(idx, feats.layer_tokens[idx], qk, batch)
            query = layer(query, terms['memory'])
            yield query, terms

    def forward(self,
                feats: CLIPVideoFeatures,
                data_samples: Optional[list] = None
                ) -> Tuple[Tensor, Dict]:
        """``feats`` from :class:`CLIPVideoBackbone` -> (``[B, D]``, {})."""
        query = None
        for query, _ in self.iter_layers(feats):
            pass
        return query[:, 0], dict()
