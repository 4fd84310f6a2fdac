"""Frozen CLIP ViT that encodes every alpha-th frame of a dense clip."""
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmaction.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor

from ..clip_builder import build_clip
from ..layers import ShapeCheckedLoadMixin


@MODELS.register_module()
class FrozenCLIPViT(ShapeCheckedLoadMixin, BaseModule):
    """Frozen CLIP vision transformer for DiST.

    Only the sparse frames ``0, alpha, 2 * alpha, ...`` are embedded and run
    through CLIP (sampling happens before the patch embedding). The weights
    never train: they are ``requires_grad_(False)``, the module stays in eval
    mode and the forward runs without autograd.

    Args:
        arch (str | dict): open_clip model name (e.g. ``'ViT-B-16'``) or an
            open_clip model-config dict.
        pretrained (str, optional): open_clip tag, local state-dict file
            (``.pt``, ``.pth``, ``.safetensors``) or OpenAI TorchScript
            archive. Defaults to None.
        alpha (int): Temporal stride from dense to sparse frames.
            Defaults to 2.
        quick_gelu (bool): QuickGELU activations, as in OpenAI CLIP.
            Defaults to True.
        input_resolution (int, optional): Input size if it differs from the
            architecture's; position embeddings are resized. Defaults to None.
        init_cfg (dict, optional): Unused; weights come from ``pretrained``.
            Defaults to None.

    Returns from ``forward``:
        tuple: ``(layer_tokens, dense_clip, frame_embeddings)`` where
        ``layer_tokens`` holds every CLIP block's output ``[B*Ts, 1+N, D]``,
        ``dense_clip`` is the input ``[B, 3, T, H, W]`` and
        ``frame_embeddings`` is ``ln_post(CLS) @ proj`` of the last block for
        each sparse frame, ``[B, Ts, E]``.
    """

    def __init__(self,
                 arch: Union[str, Dict],
                 pretrained: Optional[str] = None,
                 alpha: int = 2,
                 quick_gelu: bool = True,
                 input_resolution: Optional[int] = None,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if alpha < 1:
            raise ValueError(f'alpha must be >= 1, got {alpha}')
        self.alpha = alpha
        clip = build_clip(arch, pretrained, quick_gelu, input_resolution)
        if not hasattr(clip.visual, 'conv1') or not hasattr(
                clip.visual, 'transformer'):
            raise ValueError(f'{arch!r} has no ViT visual tower.')
        self.visual = clip.visual
        del clip
        self.visual.requires_grad_(False)
        self.visual.eval()
        self.patch_size = self.visual.conv1.kernel_size[0]
        self.width = self.visual.conv1.out_channels
        self.num_layers = len(self.visual.transformer.resblocks)
        self.embed_dim = self.visual.proj.shape[1]
        self._pos_cache = None

    def init_weights(self) -> None:
        """Keep the CLIP weights loaded at construction."""

    def train(self, mode: bool = True) -> 'FrozenCLIPViT':
        """The frozen tower stays in eval mode."""
        super().train(False)
        return self

    def _prepare_state_dict(self, state_dict: Dict[str, Tensor],
                            prefix: str) -> None:
        """Resize a checkpoint's position embedding to this model's grid."""
        self._pos_cache = None
        key = prefix + 'visual.positional_embedding'
        own = self.visual.positional_embedding
        if key in state_dict and state_dict[key].dim() == 2 and \
                state_dict[key].shape[1] == own.shape[1] and \
                state_dict[key].shape[0] != own.shape[0]:
            side = int(round((own.shape[0] - 1)**0.5))
            state_dict[key] = self._resize_position_embedding(
                state_dict[key], side, side)

    @staticmethod
    def _resize_position_embedding(pos: Tensor, grid_h: int,
                                   grid_w: int) -> Tensor:
        """Bicubic resize of ``[1+N0, D]`` to ``[1+grid_h*grid_w, D]``."""
        num_old = pos.shape[0] - 1
        side = int(round(num_old**0.5))
        grid = pos[1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(
            grid.float(), size=(grid_h, grid_w), mode='bicubic',
            align_corners=False).to(pos.dtype)
        grid = grid.permute(0, 2, 3, 1).reshape(grid_h * grid_w, -1)
        return torch.cat([pos[:1], grid], dim=0)

    def _position_embedding(self, grid_h: int, grid_w: int) -> Tensor:
        """Position embedding for a ``grid_h x grid_w`` patch grid."""
        pos = self.visual.positional_embedding  # [1+N0, D]
        if pos.shape[0] - 1 == grid_h * grid_w:
            return pos
        cached = self._pos_cache
        if cached is None or cached[0] != (grid_h, grid_w, pos.device):
            resized = self._resize_position_embedding(pos, grid_h, grid_w)
            self._pos_cache = ((grid_h, grid_w, pos.device), resized)
        return self._pos_cache[1]

    def embed(self, frames: Tensor) -> Tensor:
        """Patch-embed frames ``[M, 3, H, W]`` into tokens ``[M, 1+N, D]``."""
        visual = self.visual
        x = visual.conv1(frames)  # [M, D, gh, gw]
        grid_h, grid_w = x.shape[-2:]
        x = x.flatten(2).transpose(1, 2)  # [M, N, D]
        cls = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1)
        x = x + self._position_embedding(grid_h, grid_w).to(x.dtype)
        return visual.ln_pre(x)

    def frame_embedding(self, cls_tokens: Tensor) -> Tensor:
        """CLIP image embedding ``ln_post(cls) @ proj`` of CLS tokens."""
        return self.visual.ln_post(cls_tokens) @ self.visual.proj

    def check_input(self, x: Tensor) -> None:
        """Raise a clear error for inputs DiST cannot encode."""
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError(
                f'FrozenCLIPViT expects a clip [B, 3, T, H, W], got shape '
                f'{tuple(x.shape)}. Use FormatShape(input_format="NCTHW").')
        num_frames, height, width = x.shape[2:]
        if num_frames % self.alpha:
            raise ValueError(
                f'The clip has T={num_frames} frames, which alpha='
                f'{self.alpha} does not divide. Sample a multiple of alpha '
                f'(SampleFrames clip_len) or change the backbone alpha.')
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(
                f'Input size {height}x{width} is not a multiple of the CLIP '
                f'patch size {self.patch_size}. Crop or resize to a multiple '
                f'(e.g. 224 for ViT-B/16).')

    def forward(self, x: Tensor) -> Tuple[Tuple[Tensor, ...], Tensor, Tensor]:
        """Encode the sparse frames of ``x`` ``[B, 3, T, H, W]``."""
        self.check_input(x)
        batch, channels, _, height, width = x.shape
        with torch.no_grad():
            sparse = x[:, :, ::self.alpha]  # [B, 3, Ts, H, W]
            num_sparse = sparse.shape[2]
            frames = sparse.transpose(1, 2).reshape(batch * num_sparse,
                                                    channels, height, width)
            tokens = self.embed(frames)  # [B*Ts, 1+N, D]
            layer_tokens = []
            for block in self.visual.transformer.resblocks:
                tokens = block(tokens)
                layer_tokens.append(tokens)
            frame_embeds = self.frame_embedding(tokens[:, 0])
            frame_embeds = frame_embeds.view(batch, num_sparse, -1)
        return tuple(layer_tokens), x, frame_embeds
