"""open_clip ViT run frame by frame over a video clip, for every method."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmaction.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ..clip_builder import build_clip
from ..layers import (ShapeCheckedLoadMixin, clip_block_forward,
                      supports_fast_forward)
from .clip_video_features import CLIPVideoFeatures

#: Values of ``frame_sampling``.
FRAME_SAMPLING_MODES = ('stride', 'all', 'window_center')


@MODELS.register_module()
class CLIPVideoBackbone(ShapeCheckedLoadMixin, BaseModule):
    """A CLIP ViT image encoder applied to (some of) the frames of a clip.

    The arguments say what is computed, not which method asks: which frames
    go through CLIP, whether CLIP trains, which blocks' outputs come back and
    whether the q and k of those blocks' attention come back too. The output
    is a :class:`CLIPVideoFeatures`.

    Frame sampling, for a clip of ``T`` frames:

    * ``'stride'``: frames ``0, alpha, 2 * alpha, ...`` (DiST); ``T`` must be
      a multiple of ``alpha``.
    * ``'all'``: every frame (EVL, STAN).
    * ``'window_center'``: the centre frame (index ``window // 2``) of each of
      the ``T / window`` consecutive windows of ``window`` frames (TDS-CLIP);
      ``T`` must be a multiple of ``window``.

    Frozen (the default): the weights are ``requires_grad_(False)``, the
    tower stays in eval mode when the recognizer calls ``train()``, the
    forward runs under ``torch.no_grad()`` and only the returned blocks'
    outputs are kept. Trainable: CLIP trains with the rest of the model
    (optionally with gradient checkpointing of every block). A trainable
    backbone whose neck ignores some outputs (e.g. ``frame_embeddings``)
    leaves ``ln_post``/``proj`` without gradients; under DDP set
    ``find_unused_parameters=True`` or freeze them.

    Image head: CLIP's ``ln_post`` and ``proj`` only serve
    ``frame_embeddings``. Methods that read the block tokens alone (EVL,
    TDS-CLIP) set ``image_head=False``: the two are removed from the tower
    (not in the state dict, so the official checkpoints, which lack them,
    load strictly), ``frame_embeddings`` is None and the blocks after the
    last returned one are not run (they stay in the module and the state
    dict: the official files hold them; a trainable backbone leaves them
    without gradients).

    Args:
        arch (str | dict): open_clip model name (e.g. ``'ViT-B-16'``) or an
            open_clip model-config dict.
        pretrained (str, optional): open_clip tag, local state-dict file
            (``.pt``, ``.pth``, ``.safetensors``) or OpenAI TorchScript
            archive. Defaults to None (random weights).
        quick_gelu (bool): QuickGELU activations, as in OpenAI CLIP.
            Defaults to True.
        input_resolution (int, optional): Input size if it differs from the
            architecture's; position embeddings are resized. Defaults to None.
        frame_sampling (str): ``'stride'``, ``'all'`` or ``'window_center'``.
            Defaults to ``'all'``.
        alpha (int): Stride of ``'stride'`` sampling. Defaults to 1.
        window (int): Window length of ``'window_center'`` sampling.
            Defaults to 1.
        frozen (bool): Freeze CLIP. Defaults to True.
        grad_checkpointing (bool): Recompute each block in the backward pass
            to save memory (trainable backbones only). Defaults to False.
        out_indices (Sequence[int], optional): Blocks whose outputs are
            returned, in this order; negative indices count from the last
            block. Defaults to None (every block).
        return_qk (bool): Also return, per returned block, the q and k of
            that block's attention (``ln_1(block input)`` through the first
            two thirds of ``in_proj``, with bias, unscaled, split into
            heads). Defaults to False.
        image_head (bool): Keep CLIP's image head (``ln_post``, ``proj``)
            and return ``frame_embeddings``. Defaults to True (DiST, STAN,
            zero-shot); False for necks that never read it (EVL, TDS-CLIP).
        init_cfg (dict, optional): Unused; weights come from ``pretrained``.
            Defaults to None.
    """

    def __init__(self,
                 arch: Union[str, Dict],
                 pretrained: Optional[str] = None,
                 quick_gelu: bool = True,
                 input_resolution: Optional[int] = None,
                 frame_sampling: str = 'all',
                 alpha: int = 1,
                 window: int = 1,
                 frozen: bool = True,
                 grad_checkpointing: bool = False,
                 out_indices: Optional[Sequence[int]] = None,
                 return_qk: bool = False,
                 image_head: bool = True,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if frame_sampling not in FRAME_SAMPLING_MODES:
            raise ValueError(f'frame_sampling must be one of '
                             f'{FRAME_SAMPLING_MODES}, got {frame_sampling!r}')
        if alpha < 1 or window < 1:
            raise ValueError(f'alpha and window must be >= 1, got '
                             f'alpha={alpha}, window={window}')
        if alpha != 1 and frame_sampling != 'stride':
            raise ValueError(f"alpha={alpha} is only used by frame_sampling="
                             f"'stride' (got {frame_sampling!r}); leave it "
                             f'at 1 or choose stride sampling.')
        if window != 1 and frame_sampling != 'window_center':
            raise ValueError(f"window={window} is only used by frame_sampling"
                             f"='window_center' (got {frame_sampling!r}); "
                             f'leave it at 1 or choose window_center.')
        if grad_checkpointing and frozen:
            raise ValueError('grad_checkpointing needs frozen=False: a frozen '
                             'backbone keeps no autograd graph.')
        self.frame_sampling = frame_sampling
        self.alpha = alpha
        self.window = window
        self.frozen = frozen
        self.grad_checkpointing = grad_checkpointing
        self.return_qk = return_qk
        self.image_head = image_head

        clip = build_clip(arch, pretrained, quick_gelu, input_resolution)
        if not hasattr(clip.visual, 'conv1') or not hasattr(
                clip.visual, 'transformer'):
            raise ValueError(f'{arch!r} has no ViT visual tower.')
        self.visual = clip.visual
        del clip
        self.patch_size = self.visual.conv1.kernel_size[0]
        self.width = self.visual.conv1.out_channels
        self.num_layers = len(self.visual.transformer.resblocks)
        #: CLIP's image-embedding size (read before the head may go)
        self.embed_dim = self.visual.proj.shape[1]
        if not image_head:
            del self.visual.ln_post
            del self.visual.proj
        self.out_indices = self._normalize_indices(out_indices)
        #: blocks run per forward: all with the image head, else up to the
        #: last returned one
        self.num_run_blocks = self.num_layers if image_head else \
            max(self.out_indices) + 1
        if return_qk:
            for idx in self.out_indices:
                block = self.visual.transformer.resblocks[idx]
                attn = getattr(block, 'attn', None)
                if not isinstance(attn, nn.MultiheadAttention) or \
                        attn.in_proj_weight is None or \
                        not attn.batch_first or hasattr(block, 'ln_1_kv'):
                    raise ValueError(
                        f'return_qk needs open_clip ResidualAttentionBlocks '
                        f'(batch-first nn.MultiheadAttention with a packed '
                        f'in_proj); block {idx} of {arch!r} is a '
                        f'{type(block).__name__} with '
                        f'{type(attn).__name__}.')
        if frozen:
            self.visual.requires_grad_(False)
            self.visual.eval()
        self._pos_cache = None
        # open_clip's own blocks run through the SDPA forward of
        # ``clip_block_forward`` (same parameters, same result).
        self._fast_blocks = all(
            supports_fast_forward(block)
            for block in self.visual.transformer.resblocks)

    def _normalize_indices(
            self, out_indices: Optional[Sequence[int]]) -> Tuple[int, ...]:
        """Non-negative block ids of ``out_indices`` (None = all)."""
        if out_indices is None:
            return tuple(range(self.num_layers))
        ids = []
        for idx in out_indices:
            idx = int(idx)
            if not -self.num_layers <= idx < self.num_layers:
                raise ValueError(
                    f'out_indices entry {idx} is out of range for a CLIP with '
                    f'{self.num_layers} blocks (valid: '
                    f'{-self.num_layers}..{self.num_layers - 1}).')
            ids.append(idx % self.num_layers)
        if not ids or len(set(ids)) != len(ids):
            raise ValueError(f'out_indices must name each block at most once '
                             f'and not be empty, got {list(out_indices)}')
        return tuple(ids)

    def init_weights(self) -> None:
        """Keep the CLIP weights loaded at construction."""

    def train(self, mode: bool = True) -> 'CLIPVideoBackbone':
        """A frozen tower stays in eval mode."""
        super().train(mode and not self.frozen)
        return self

    def _prepare_state_dict(self, state_dict: Dict[str, Tensor],
                            prefix: str) -> None:
        """Resize a checkpoint's position embedding to this model's grid;
        without the image head, drop a checkpoint's ``ln_post``/``proj``
        (e.g. one saved by an earlier version with the head)."""
        self._pos_cache = None
        if not self.image_head:
            for name in [
                    k for k in state_dict
                    if k.startswith(prefix + 'visual.ln_post.') or
                    k == prefix + 'visual.proj'
            ]:
                del state_dict[name]
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
        if not self.frozen:  # a trainable table must stay in the graph
            return self._resize_position_embedding(pos, grid_h, grid_w)
        cached = self._pos_cache
        if cached is None or cached[0] != (grid_h, grid_w, pos.device):
            resized = self._resize_position_embedding(pos, grid_h, grid_w)
            self._pos_cache = ((grid_h, grid_w, pos.device), resized)
        return self._pos_cache[1]

    def embed(self, frames: Tensor) -> Tensor:
        """Patch-embed frames ``[M, 3, H, W]`` into tokens ``[M, 1+N, D]``
        (the input of block 0, after ``ln_pre``)."""
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
        if not self.image_head:
            raise ValueError('This backbone was built with image_head=False '
                             '(no ln_post/proj); build it with '
                             'image_head=True for CLIP image embeddings.')
        return self.visual.ln_post(cls_tokens) @ self.visual.proj

    def frame_indices(self, num_frames: int) -> List[int]:
        """Indices of the frames of a ``num_frames`` clip that CLIP encodes."""
        self._check_num_frames(num_frames)
        if self.frame_sampling == 'stride':
            return list(range(0, num_frames, self.alpha))
        if self.frame_sampling == 'window_center':
            return list(range(self.window // 2, num_frames, self.window))
        return list(range(num_frames))

    def _check_num_frames(self, num_frames: int) -> None:
        if self.frame_sampling == 'stride' and num_frames % self.alpha:
            raise ValueError(
                f'The clip has T={num_frames} frames, which alpha='
                f'{self.alpha} does not divide. Sample a multiple of alpha '
                f'(SampleFrames clip_len) or change the backbone alpha.')
        if self.frame_sampling == 'window_center' and num_frames % self.window:
            raise ValueError(
                f'The clip has T={num_frames} frames, which window='
                f'{self.window} does not divide. Sample a multiple of the '
                f'window (SampleFrames clip_len) or change the backbone '
                f'window.')

    def check_input(self, x: Tensor) -> None:
        """Raise a clear error for inputs the backbone cannot encode."""
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError(
                f'{type(self).__name__} expects a clip [B, 3, T, H, W], got '
                f'shape {tuple(x.shape)}. Use FormatShape('
                f'input_format="NCTHW").')
        num_frames, height, width = x.shape[2:]
        self._check_num_frames(num_frames)
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(
                f'Input size {height}x{width} is not a multiple of the CLIP '
                f'patch size {self.patch_size}. Crop or resize to a multiple '
                f'(e.g. 224 for ViT-B/16).')

    def _sample_frames(self, x: Tensor) -> Tensor:
        """``[B, 3, T, H, W]`` -> the encoded frames ``[B, 3, Tc, H, W]``."""
        if self.frame_sampling == 'stride':
            return x[:, :, ::self.alpha]
        if self.frame_sampling == 'window_center':
            return x[:, :, self.window // 2::self.window]
        return x

    @staticmethod
    def block_with_qk(block: nn.Module,
                      x: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Run an open_clip ``ResidualAttentionBlock`` and also return the q
        and k its attention computed.

        The same math as ``block(x)`` (pre-norm attention and MLP with their
        layer scales), with the packed ``in_proj`` applied once, so q and k
        cost nothing extra.

        Args:
            block (nn.Module): An open_clip ``ResidualAttentionBlock``.
            x (Tensor): The block's input ``[M, L, D]``.

        Returns:
            tuple: The block's output ``[M, L, D]`` and ``(q, k)``, each
            ``[M, L, heads, D // heads]``, with bias and without the
            ``1 / sqrt(head_dim)`` scale.
        """
        attn = block.attn
        qkv = F.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias)
        shape = x.shape[:2] + (attn.num_heads, -1)
        q, k, v = (t.reshape(shape) for t in qkv.chunk(3, dim=-1))
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
            dropout_p=attn.dropout if attn.training else 0.)
        out = attn.out_proj(out.transpose(1, 2).flatten(2))  # [M, L, D]
        x = x + block.ls_1(out)
        x = x + block.ls_2(block.mlp(block.ln_2(x)))
        return x, q, k

    def _block_forward(self, block: nn.Module, x: Tensor) -> Tensor:
        """``x`` through ``block``; the SDPA forward where it applies."""
        # A block with hooks is called as a module so that they run.
        if self._fast_blocks and not (block._forward_hooks
                                      or block._forward_pre_hooks):
            # Outside autograd (the frozen tower) intermediates are reused
            # in place; ``x`` itself is never modified.
            return clip_block_forward(
                block, x, inplace=not torch.is_grad_enabled())
        return block(x)

    def _run_block(self, block: nn.Module, x: Tensor,
                   with_qk: bool) -> Tuple[Tensor, Optional[Tuple[Tensor,
                                                                    Tensor]]]:
        """``x`` through ``block``; also its (q, k) when ``with_qk``."""
        fn = self.block_with_qk if with_qk else self._block_forward
        if self.grad_checkpointing and self.training and \
                torch.is_grad_enabled():
            out = checkpoint(fn, block, x, use_reentrant=False)
        else:
            out = fn(block, x)
        if with_qk:
            return out[0], (out[1], out[2])
        return out, None

    def _encode(self, x: Tensor) -> CLIPVideoFeatures:
        batch, channels, _, height, width = x.shape
        sampled = self._sample_frames(x)  # [B, 3, Tc, H, W]
        num_frames = sampled.shape[2]
        frames = sampled.transpose(1, 2).reshape(batch * num_frames, channels,
                                                 height, width)
        tokens = self.embed(frames)  # [B*Tc, 1+N, D]
        position = {block: pos for pos, block in enumerate(self.out_indices)}
        layer_tokens: List[Optional[Tensor]] = [None] * len(position)
        layer_qk: List[Optional[Tuple[Tensor, Tensor]]] = [None] * len(
            position)
        blocks = self.visual.transformer.resblocks[:self.num_run_blocks]
        for idx, block in enumerate(blocks):
            pos = position.get(idx)
            with_qk = pos is not None and self.return_qk
            tokens, qk = self._run_block(block, tokens, with_qk)
            if pos is not None:
                layer_tokens[pos] = tokens
                layer_qk[pos] = qk
        frame_embeds = None
        if self.image_head:
            frame_embeds = self.frame_embedding(tokens[:, 0]).view(
                batch, num_frames, -1)  # [B, Tc, E]
        return CLIPVideoFeatures(
            layer_tokens=tuple(layer_tokens),
            layer_ids=self.out_indices,
            frame_embeddings=frame_embeds,
            inputs=x,
            batch_size=batch,
            num_frames=num_frames,
            grid_size=(height // self.patch_size, width // self.patch_size),
            layer_qk=tuple(layer_qk) if self.return_qk else None)

    def forward(self, x: Tensor) -> CLIPVideoFeatures:
        """Encode the sampled frames of ``x`` ``[B, 3, T, H, W]``."""
        self.check_input(x)
        if self.frozen:
            with torch.no_grad():
                return self._encode(x)
        return self._encode(x)
