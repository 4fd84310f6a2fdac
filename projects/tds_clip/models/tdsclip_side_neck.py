"""The TDS-CLIP side network, fed by the shared CLIP video backbone."""
from typing import Dict, List, Optional, Tuple

import torch
from mmaction.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn

from dist_plugin.models.backbones.clip_video_features import \
    CLIPVideoFeatures

from .side_patch_stem import SidePatchStem
from .sme_adapter import SMEAdapter
from .tdsclip_side_block import (TDSCLIPSideBlock, tokens_to_volume,
                                 volume_to_tokens)


@MODELS.register_module()
class TDSCLIPSideNeck(BaseModule):
    """Side network of TDS-CLIP (one side block per CLIP block).

    Reads ``CLIPVideoFeatures`` from ``CLIPVideoBackbone(frame_sampling=
    'window_center', window=w)``: ``layer_tokens`` (every CLIP block's
    output for the centre frame of each window, ``[B*T, 1+N, D]``) and
    ``inputs`` (the dense clip ``[B, 3, T*w, H, W]``, time ordered as
    ``(segment t, frame m of its window)``).

    ``s = tok(RGBStem(centre frames) + sme_weight * SMEAdapter(windows))``;
    then for each layer ``i``: ``p = Linear_i(LN_i(clip_tokens_i))``,
    ``s = (1 - merge_weight) * s + merge_weight * p[:, 1:]``,
    ``s = side_block_i(s, p[:, 0], E)``.

    Args:
        clip_width (int): CLIP width ``D``.
        num_layers (int): CLIP blocks (all are tapped), i.e. side blocks.
        patch_size (int): CLIP patch size ``P`` (the side stems use it too).
        input_resolution (int): Input size; sets the side position table
            (``(R / P)^2`` rows). Defaults to 224.
        side_width (int): Side width ``Ds`` (320 for B/16, 512 for L/14).
            Defaults to 320.
        window (int): Frames per window ``w``. Defaults to 5.
        num_segments (int, optional): Windows per clip ``T``; when given,
            a clip of another length is refused. Defaults to 8.
        num_heads (int, optional): Side attention heads. Defaults to None
            (``Ds // 64``).
        mlp_ratio (float): Side MLP ratio. Defaults to 4.
        td_reduction (int): TD-Adapter gate ratio. Defaults to 16.
        sme_weight (float): Weight of the SME-Adapter. Defaults to 0.5.
        merge_weight (float): Weight of the projected CLIP patches in the
            side merge. Defaults to 0.5.
        stem_padding (int): Spatial padding of both stems (1 as official).
            Defaults to 1.
        init_depth (int): Depth in the side-block init scale (12 in the
            official code for every size). Defaults to 12.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 clip_width: int,
                 num_layers: int,
                 patch_size: int,
                 input_resolution: int = 224,
                 side_width: int = 320,
                 window: int = 5,
                 num_segments: Optional[int] = 8,
                 num_heads: Optional[int] = None,
                 mlp_ratio: float = 4.,
                 td_reduction: int = 16,
                 sme_weight: float = 0.5,
                 merge_weight: float = 0.5,
                 stem_padding: int = 1,
                 init_depth: int = 12,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if input_resolution % patch_size:
            raise ValueError(f'input_resolution {input_resolution} is not a '
                             f'multiple of the patch size {patch_size}')
        self.window = window
        self.num_segments = num_segments
        self.num_layers = num_layers
        self.sme_weight = sme_weight
        self.merge_weight = merge_weight
        grid = input_resolution // patch_size
        self.grid_size = (grid, grid)
        self.rgb_stem = SidePatchStem(
            3, side_width, patch_size, spatial_padding=stem_padding)
        self.sme_adapter = SMEAdapter(
            window, side_width, patch_size, spatial_padding=stem_padding)
        self.pos_embed = nn.Parameter(torch.zeros(grid * grid, side_width))
        nn.init.normal_(self.pos_embed, std=0.01)
        self.clip_norms = nn.ModuleList(
            nn.LayerNorm(clip_width) for _ in range(num_layers))
        self.clip_projs = nn.ModuleList(
            nn.Linear(clip_width, side_width) for _ in range(num_layers))
        self.blocks = nn.ModuleList(
            TDSCLIPSideBlock(
                side_width,
                num_heads=num_heads,
                mlp_ratio=mlp_ratio,
                td_reduction=td_reduction,
                init_depth=init_depth) for _ in range(num_layers))

    def init_weights(self) -> None:
        """Official init: position table N(0, 0.01), side blocks as theirs."""
        super().init_weights()
        if self.init_cfg is None:
            nn.init.normal_(self.pos_embed, std=0.01)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Refuse a checkpoint of another model with a clear message."""
        own = set(k for k in self.state_dict())
        theirs = set(k[len(prefix):] for k in state_dict
                     if k.startswith(prefix))
        if prefix and theirs and not theirs & own:
            raise ValueError(
                f'The checkpoint has {len(theirs)} weights under '
                f'"{prefix}" but none of TDSCLIPSideNeck\'s (e.g. '
                f'{sorted(theirs)[:3]}): it is a checkpoint of another '
                'method. Convert an official TDS-CLIP file with '
                'tools/convert_official_checkpoint.py or use the config the '
                'checkpoint was trained with.')
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def split_clip(self, clip: Tensor) -> Tuple[Tensor, Tensor]:
        """Check the clip layout and cut it into windows.

        Args:
            clip (Tensor): ``[B, 3, T*w, H, W]``.

        Returns:
            tuple: windows ``[B, 3, T, w, H, W]`` and the centre frames
            ``[B, 3, T, H, W]`` (frame ``w // 2`` of each window).
        """
        if clip.dim() != 5:
            raise ValueError(f'TDSCLIPSideNeck expects the clip [B, 3, T*w, '
                             f'H, W], got shape {tuple(clip.shape)}')
        num_frames = clip.shape[2]
        expected = (self.num_segments * self.window
                    if self.num_segments else None)
        if num_frames % self.window or (expected and num_frames != expected):
            want = (f'{self.num_segments} segments x {self.window} frames = '
                    f'{expected}' if expected else
                    f'a multiple of the window {self.window}')
            raise ValueError(
                f'TDS-CLIP got a clip of {num_frames} frames; it needs '
                f'{want}, laid out as T windows of w consecutive frames. '
                'Sample with WindowSampleFrames(num_segments=T, window=w) '
                'and give the backbone and neck the same window.')
        windows = clip.unflatten(2, (-1, self.window))
        return windows, windows[:, :, :, self.window // 2]

    def stem(self, clip: Tensor) -> Tensor:
        """Side input ``[B, Ds, T, h, w]`` of a clip ``[B, 3, T*w, H, W]``."""
        windows, centre = self.split_clip(clip)
        rgb = self.rgb_stem(centre)
        return rgb + self.sme_weight * self.sme_adapter(windows)

    def forward(self,
                feats: CLIPVideoFeatures,
                data_samples: Optional[List] = None
                ) -> Tuple[Tensor, Dict]:
        """Run the side network.

        Args:
            feats (CLIPVideoFeatures): The backbone output.
            data_samples (list, optional): Unused. Defaults to None.

        Returns:
            tuple: the side feature volume ``[B, Ds, T, h, w]`` (before the
            head's BatchNorm) and an empty auxiliary-loss dict.
        """
        layer_tokens = feats.layer_tokens
        if len(layer_tokens) != self.num_layers:
            raise ValueError(
                f'TDSCLIPSideNeck has {self.num_layers} side blocks but the '
                f'backbone returned {len(layer_tokens)} CLIP blocks; TDS-CLIP '
                'taps every block (backbone out_indices=None).')
        s = self.stem(feats.inputs)
        batch, _, num_segments, grid_h, grid_w = s.shape
        if feats.num_frames != num_segments:
            raise ValueError(
                f'The backbone encoded {feats.num_frames} frames per clip, '
                f'the side network has {num_segments} windows: use '
                "frame_sampling='window_center' with the same window.")
        grid = (grid_h, grid_w)
        if grid != self.grid_size or tuple(feats.grid_size) != grid:
            raise ValueError(
                f'Patch grid {grid} (CLIP {tuple(feats.grid_size)}) does not '
                f'fit the side position table {self.grid_size}; set the '
                'neck input_resolution to the input size.')
        s = volume_to_tokens(s)  # [B*T, N, Ds]
        for tokens, norm, proj, block in zip(layer_tokens, self.clip_norms,
                                             self.clip_projs, self.blocks):
            p = proj(norm(tokens.to(s.dtype)))  # [B*T, 1+N, Ds]
            s = (1 - self.merge_weight) * s + self.merge_weight * p[:, 1:]
            s = block(s, p[:, 0], self.pos_embed, num_segments, grid)
        return tokens_to_volume(s, num_segments, grid), {}
