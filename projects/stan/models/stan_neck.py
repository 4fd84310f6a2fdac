"""STAN branch over the last K CLIP layers (video embedding neck)."""
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from mmaction.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from dist_plugin.models.backbones.clip_video_features import \
    CLIPVideoFeatures

from .stan_cross_frame_attention import STANCrossFrameAttention
from .stan_cross_frame_conv import STANCrossFrameConv
from .stan_intra_frame_block import STANIntraFrameBlock

#: Values of ``time_module``.
TIME_MODULES = ('selfattn', 'conv')

#: Parameter-name prefixes of the neck (for checkpoint checks).
_OWN_PREFIXES = ('s_layers.', 't_layers.', 'time_embed.')


@MODELS.register_module()
class STANNeck(BaseModule):
    """Spatial-Temporal Auxiliary Network (STAN) as an mmaction neck.

    Reads the outputs of the last ``num_layers`` (K) blocks of a trainable or
    frozen ``CLIPVideoBackbone`` with ``frame_sampling='all'``. STAN layer k
    adds CLIP layer ``L-K+k``'s tokens to its running sequence ``[B, 1+N*T,
    D]`` (layer 0 instead builds the video CLS from the frames' CLS and
    adds CLIP's position table and a learned time embedding to the
    patches), then applies a cross-frame module (attention over time per
    patch, or a 3D convolution) and an intra-frame CLIP-shaped block. The
    final STAN CLS is added to each frame's last CLIP CLS, then CLIP's
    ``ln_post`` and ``proj`` run per frame and the frames are averaged.

    The CLIP parameters it reuses (``class_embedding``, position table,
    ``ln_post``, ``proj``) stay owned by the backbone (one copy, CLIP's
    learning rate): :class:`STANRecognizer` calls :meth:`bind_backbone`.

    Args:
        in_channels (int): CLIP width D.
        num_layers (int): STAN depth K (4 for K400, 6 for SSv2).
        num_heads (int, optional): Attention heads. Defaults to None
            (``in_channels // 64``, as in OpenAI CLIP).
        time_module (str): ``'selfattn'`` (STAN-self) or ``'conv'``
            (STAN-conv). Defaults to ``'selfattn'``.
        max_frames (int): Rows of the time embedding (64 officially).
            Defaults to 64.
        mlp_ratio (float): MLP ratio of the intra-frame blocks.
            Defaults to 4.
        quick_gelu (bool): QuickGELU in the intra-frame MLPs.
            Defaults to True.
        drop_path_rate (float): Largest drop-path rate; layer k gets
            ``linspace(0, rate, K)[k]``. Defaults to 0.1.
        grad_checkpointing (bool): Recompute each STAN layer in the backward
            pass. Defaults to False.
        init_cfg (dict, optional): Unused. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 num_layers: int,
                 num_heads: Optional[int] = None,
                 time_module: str = 'selfattn',
                 max_frames: int = 64,
                 mlp_ratio: float = 4.,
                 quick_gelu: bool = True,
                 drop_path_rate: float = 0.1,
                 grad_checkpointing: bool = False,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if time_module not in TIME_MODULES:
            raise ValueError(f'time_module must be one of {TIME_MODULES}, got '
                             f'{time_module!r}')
        if num_layers < 1:
            raise ValueError(f'num_layers (K) must be >= 1, got {num_layers}')
        num_heads = num_heads or max(in_channels // 64, 1)
        if in_channels % num_heads:
            raise ValueError(f'in_channels={in_channels} is not divisible by '
                             f'num_heads={num_heads}')
        self.in_channels = in_channels
        self.num_layers = num_layers
        self.time_module = time_module
        self.max_frames = max_frames
        self.grad_checkpointing = grad_checkpointing
        rates = np.linspace(0, drop_path_rate, num_layers).tolist()
        self.s_layers = nn.ModuleList([
            STANIntraFrameBlock(in_channels, num_heads, mlp_ratio, quick_gelu,
                                rate) for rate in rates
        ])
        if time_module == 'selfattn':
            t_layers = [
                STANCrossFrameAttention(in_channels, num_heads, rate)
                for rate in rates
            ]
        else:
            t_layers = [
                STANCrossFrameConv(in_channels, drop_path=rate)
                for rate in rates
            ]
        self.t_layers = nn.ModuleList(t_layers)
        self.time_embed = nn.Embedding(max_frames, in_channels)
        self.__dict__['_backbone'] = None  # not a submodule: no 2nd copy

    # ----------------------------------------------------------- binding
    @property
    def backbone(self) -> nn.Module:
        """The bound ``CLIPVideoBackbone``."""
        if self._backbone is None:
            raise RuntimeError(
                'STANNeck is not bound to a CLIP backbone: use '
                "model type='STANRecognizer' (or call bind_backbone()).")
        return self._backbone

    def bind_backbone(self, backbone: nn.Module) -> None:
        """Share the CLIP tower of ``backbone`` and check it fits.

        Also initialises intra-frame block k as a copy of CLIP layer
        ``L-K+k`` (the official init).
        """
        visual = getattr(backbone, 'visual', None)
        if visual is None or not hasattr(visual, 'transformer'):
            raise TypeError(f'STANNeck needs a CLIPVideoBackbone, got '
                            f'{type(backbone).__name__}.')
        depth = len(visual.transformer.resblocks)
        if self.num_layers > depth:
            raise ValueError(
                f'STANNeck num_layers={self.num_layers} (K) exceeds the CLIP '
                f'depth {depth}: STAN reads the last K CLIP layers, so K must '
                f'be at most {depth}.')
        width = visual.conv1.out_channels
        if width != self.in_channels:
            raise ValueError(f'neck.in_channels={self.in_channels} differs '
                             f'from the CLIP width {width}.')
        if getattr(backbone, 'frame_sampling', 'all') != 'all':
            raise ValueError(
                "STAN encodes every frame: set backbone.frame_sampling='all' "
                f'(got {backbone.frame_sampling!r}).')
        needed = set(self.layer_ids(depth))
        have = set(getattr(backbone, 'out_indices', range(depth)))
        if not needed <= have:
            raise ValueError(
                f'STANNeck needs the outputs of CLIP blocks {sorted(needed)} '
                f'but backbone.out_indices gives {sorted(have)}; set '
                f'backbone.out_indices={tuple(range(-self.num_layers, 0))}.')
        self.__dict__['_backbone'] = backbone
        self.copy_clip_layers()

    def layer_ids(self, depth: int) -> List[int]:
        """CLIP blocks read by STAN layers 0..K-1 for a CLIP of ``depth``."""
        return list(range(depth - self.num_layers, depth))

    def copy_clip_layers(self) -> None:
        """Intra-frame block k <- CLIP layer ``L-K+k`` (official init)."""
        blocks = self.backbone.visual.transformer.resblocks
        for block, idx in zip(self.s_layers, self.layer_ids(len(blocks))):
            block.copy_from(blocks[idx])

    def init_weights(self) -> None:
        """Official init: zero ``temporal_fc``, intra-frame blocks copied
        from CLIP, default time embedding."""
        super().init_weights()
        if self._backbone is not None:
            self.copy_clip_layers()

    def _load_from_state_dict(self, state_dict, prefix, *args,
                              **kwargs) -> None:
        foreign = [
            k for k in state_dict
            if k.startswith(prefix) and not k[len(prefix):].startswith(
                _OWN_PREFIXES)
        ]
        if foreign:
            raise ValueError(
                f'The checkpoint holds neck weights of another model '
                f'({foreign[:3]}...), not STAN ones (neck.s_layers.*, '
                f'neck.t_layers.*, neck.time_embed.weight). Load a STAN '
                f'checkpoint, or convert an official STAN one with '
                f'tools/convert_official_checkpoint.py.')
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ----------------------------------------------------------- forward
    def _first_input(self, tokens: Tensor, num_frames: int,
                     grid_size: Tuple[int, int]) -> Tensor:
        """STAN layer 0 input from CLIP tokens ``[B*T, 1+N, D]``."""
        visual = self.backbone.visual
        batch = tokens.shape[0] // num_frames
        tokens = tokens.view(batch, num_frames, *tokens.shape[1:])
        pos = self.backbone._position_embedding(*grid_size).to(tokens.dtype)
        cls = (tokens[:, :, 0].mean(1) + visual.class_embedding.to(
            tokens.dtype) + pos[0]) / 2
        time = self.time_embed.weight[:num_frames].to(tokens.dtype)
        patches = tokens[:, :, 1:] + pos[1:] + time[:, None]  # [B, T, N, D]
        patches = patches.transpose(1, 2).flatten(1, 2)  # [B, N*T, D]
        return torch.cat([cls[:, None], patches], dim=1)

    @staticmethod
    def _fuse(prev: Tensor, tokens: Tensor, num_frames: int) -> Tensor:
        """Add CLIP tokens ``[B*T, 1+N, D]`` to the previous STAN output."""
        batch = prev.shape[0]
        tokens = tokens.view(batch, num_frames, *tokens.shape[1:])
        cls = prev[:, :1] + tokens[:, :, :1].mean(1)
        patches = prev[:, 1:] + tokens[:, :, 1:].transpose(1, 2).flatten(1, 2)
        return torch.cat([cls, patches], dim=1)

    def _layer(self, k: int, x: Tensor, num_frames: int,
               grid_size: Tuple[int, int]) -> Tensor:
        if self.time_module == 'selfattn':
            x = self.t_layers[k](x, num_frames)
        else:
            x = self.t_layers[k](x, num_frames, grid_size)
        return self.s_layers[k](x, num_frames)

    def _run_layer(self, k: int, x: Tensor, num_frames: int,
                   grid_size: Tuple[int, int]) -> Tensor:
        if self.grad_checkpointing and self.training and \
                torch.is_grad_enabled():
            return checkpoint(
                self._layer, k, x, num_frames, grid_size, use_reentrant=False)
        return self._layer(k, x, num_frames, grid_size)

    def check_frames(self, num_frames: int) -> None:
        """Raise a clear error for clips longer than the time embedding."""
        if num_frames > self.max_frames:
            raise ValueError(
                f'The clip has T={num_frames} frames but the STAN time '
                f'embedding has {self.max_frames} rows (neck.max_frames): '
                f'sample at most {self.max_frames} frames (SampleFrames / '
                f'UniformSample clip_len) or raise neck.max_frames (official '
                f'checkpoints have 64 rows).')

    def forward(self,
                feats: CLIPVideoFeatures,
                data_samples: Optional[List] = None) -> Tuple[Tensor, Dict]:
        """``CLIPVideoFeatures`` -> (video embedding ``[B, E]``, ``{}``)."""
        num_frames = feats.num_frames
        self.check_frames(num_frames)
        depth = self.backbone.num_layers
        by_id = dict(zip(feats.layer_ids, feats.layer_tokens))
        ids = self.layer_ids(depth)
        missing = [i for i in ids + [depth - 1] if i not in by_id]
        if missing:
            raise ValueError(
                f'STANNeck needs CLIP block outputs {missing}; set '
                f'backbone.out_indices={tuple(range(-self.num_layers, 0))}.')
        x = None
        for k, idx in enumerate(ids):
            tokens = by_id[idx]
            x = (self._first_input(tokens, num_frames, feats.grid_size)
                 if x is None else self._fuse(x, tokens, num_frames))
            x = self._run_layer(k, x, num_frames, feats.grid_size)
        visual = self.backbone.visual
        last_cls = by_id[depth - 1][:, 0]  # [B*T, D]
        fused = last_cls + x[:, 0].repeat_interleave(num_frames, dim=0)
        frames = visual.ln_post(fused) @ visual.proj  # [B*T, E]
        video = frames.view(-1, num_frames, frames.shape[-1]).mean(1)
        return video, dict()
