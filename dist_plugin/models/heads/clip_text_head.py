"""Classifier made of the frozen CLIP text tower (no learnable classes)."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import open_clip
import torch
from mmaction.models.heads import BaseHead
from mmaction.registry import MODELS
from torch import Tensor

from ..clip_builder import build_clip, get_clip_config
from ..layers import ShapeCheckedLoadMixin
from .class_names import ClassNames, load_class_names


@MODELS.register_module()
class CLIPTextHead(ShapeCheckedLoadMixin, BaseHead):
    """Cosine classifier against CLIP text embeddings of the class names.

    ``logits = exp(logit_scale) * cos(video, text)``. The text tower is frozen
    and embeds the class names once, in float32 outside any autocast
    (cached; loading new weights clears the cache); replacing the class list
    (for zero-shot testing) needs no retraining.

    Args:
        num_classes (int): Number of classes; must equal the class list.
        in_channels (int): Video-embedding size (CLIP ``embed_dim``).
        arch (str | dict): open_clip model name or config dict; must be the
            CLIP of the backbone.
        class_names (str | Sequence[str], optional): Names, a label file or a
            comma-separated string. Defaults to None (call
            :meth:`set_classes` before the first forward).
        pretrained (str, optional): Same sources as the backbone.
            Defaults to None.
        quick_gelu (bool): QuickGELU as in OpenAI CLIP. Defaults to True.
        templates (Sequence[str], optional): Prompt templates with ``{}``; the
            normalized embeddings of several templates are averaged. Defaults
            to None (the bare class name, as in the official code).
        logit_scale (float, optional): Fixed logit multiplier ``1 / tau``
            (STAN: 100) used instead of CLIP's ``exp(logit_scale)``.
            Defaults to None.
        fusion_weight (float): Weight of the frozen-CLIP frame logits mixed
            into the DiST logits (needs ``neck.with_frame_embedding``).
            Defaults to 0.
        loss_cls (dict): Loss config. Defaults to
            ``dict(type='CrossEntropyLoss')``.
        label_smooth_eps (float): Label smoothing. Defaults to 0.
        average_clips (str, optional): Test-time view averaging.
            Defaults to ``'prob'``.
        init_cfg (dict, optional): Unused. Defaults to None.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 arch: Union[str, Dict],
                 class_names: Optional[ClassNames] = None,
                 pretrained: Optional[str] = None,
                 quick_gelu: bool = True,
                 templates: Optional[Sequence[str]] = None,
                 logit_scale: Optional[float] = None,
                 fusion_weight: float = 0.,
                 loss_cls: Dict = dict(type='CrossEntropyLoss'),
                 label_smooth_eps: float = 0.,
                 average_clips: Optional[str] = 'prob',
                 topk: Tuple[int, ...] = (1, 5),
                 init_cfg: Optional[Dict] = None,
                 **kwargs) -> None:
        super().__init__(
            num_classes,
            in_channels,
            loss_cls=loss_cls,
            label_smooth_eps=label_smooth_eps,
            topk=topk,
            average_clips=average_clips,
            init_cfg=init_cfg,
            **kwargs)
        if not 0. <= fusion_weight <= 1.:
            raise ValueError(f'fusion_weight must be in [0, 1], got '
                             f'{fusion_weight}')
        self.fusion_weight = fusion_weight
        if logit_scale is not None and logit_scale <= 0:
            raise ValueError(f'logit_scale must be > 0, got {logit_scale}')
        self.fixed_logit_scale = logit_scale
        clip = build_clip(arch, pretrained, quick_gelu)
        clip.visual = None  # the backbone owns the visual tower
        clip.requires_grad_(False)
        self.clip = clip.eval()
        if clip.text_projection.shape[-1] != in_channels:
            raise ValueError(
                f'in_channels={in_channels} differs from the CLIP embedding '
                f'size {clip.text_projection.shape[-1]}')
        context_length = get_clip_config(arch)['text_cfg'].get(
            'context_length', 77)
        self.tokenizer = (
            open_clip.get_tokenizer(arch) if isinstance(arch, str) else
            open_clip.SimpleTokenizer(context_length=context_length))
        self.templates = list(templates) if templates else ['{}']
        self.class_names: Optional[List[str]] = None
        self._tokens: Optional[Tensor] = None
        self._text_features: Optional[Tensor] = None
        if class_names is not None:
            self.set_classes(class_names)

    def init_weights(self) -> None:
        """The text tower keeps its loaded weights."""

    def train(self, mode: bool = True) -> 'CLIPTextHead':
        """The frozen text tower stays in eval mode."""
        super().train(mode)
        self.clip.eval()
        return self

    def set_classes(self,
                    class_names: Optional[ClassNames] = None,
                    tokens: Optional[Tensor] = None) -> None:
        """Replace the class list (zero-shot / open vocabulary).

        Args:
            class_names (str | Sequence[str], optional): New class names.
            tokens (Tensor, optional): Token ids ``[K, L]`` or
                ``[K, P, L]`` (P prompts per class) instead of names.
        """
        if (class_names is None) == (tokens is None):
            raise ValueError('Pass exactly one of class_names and tokens.')
        if class_names is not None:
            names = load_class_names(class_names)
            prompts = [t.format(n) for n in names for t in self.templates]
            tokens = self.tokenizer(prompts).view(len(names),
                                                  len(self.templates), -1)
            self.class_names = names
        elif tokens.dim() == 2:
            tokens = tokens[:, None]
        if tokens.shape[0] != self.num_classes:
            raise ValueError(
                f'The class list has {tokens.shape[0]} entries but '
                f'num_classes={self.num_classes}; set cls_head.num_classes to '
                f'the length of the class list.')
        vocab = self.clip.token_embedding.num_embeddings
        if int(tokens.max()) >= vocab:
            raise ValueError(f'Token id {int(tokens.max())} exceeds the CLIP '
                             f'vocabulary ({vocab}); use the matching '
                             f'tokenizer.')
        self._tokens = tokens.long()
        self._text_features = None

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        self._text_features = None  # new weights: embed the classes again
        super()._load_from_state_dict(*args, **kwargs)

    def text_features(self) -> Tensor:
        """Unit-norm text embedding per class ``[K, E]``, float32 (cached).

        The text tower runs in float32 with autocast disabled, whatever
        autocast the caller is in: the cache filled by the first (possibly
        mixed-precision) training step is reused by float32 validation and
        testing, which must see the same values as a fresh ``tools/test.py``.
        """
        if self._tokens is None:
            raise RuntimeError('CLIPTextHead has no classes: set class_names '
                               'in the config or call set_classes().')
        device = self.clip.text_projection.device
        cached = self._text_features
        if cached is None or cached.device != device:
            num_classes, num_prompts, length = self._tokens.shape
            with torch.no_grad(), torch.autocast(
                    device_type=device.type, enabled=False):
                feats = self.clip.encode_text(
                    self._tokens.view(-1, length).to(device)).float()
            feats = feats.view(num_classes, num_prompts, -1)
            feats = feats / feats.norm(dim=-1, keepdim=True)
            if num_prompts > 1:
                feats = feats.mean(dim=1)
                feats = feats / feats.norm(dim=-1, keepdim=True)
            else:
                feats = feats[:, 0]
            self._text_features = feats
        return self._text_features

    def cosine_logits(self, embed: Tensor) -> Tensor:
        """``scale * cos(embed, text)`` ``[B, K]``."""
        text = self.text_features().to(embed.dtype)
        embed = embed / embed.norm(dim=1, keepdim=True)
        if self.fixed_logit_scale is not None:
            scale = embed.new_tensor(self.fixed_logit_scale)
        else:
            scale = self.clip.logit_scale.exp().to(embed.dtype)
        return (scale * embed) @ text.t()

    def forward(self, x: Union[Tensor, Tuple[Tensor, Tensor]],
                **kwargs) -> Tensor:
        """Video embedding ``[B, E]`` (or a pair with the frozen-CLIP frame
        embedding) -> logits ``[B, K]``."""
        if isinstance(x, (tuple, list)):
            video_embed, frame_embed = x
        else:
            video_embed, frame_embed = x, None
        logits = self.cosine_logits(video_embed)
        if self.fusion_weight > 0:
            if frame_embed is None:
                raise ValueError('fusion_weight > 0 needs the frozen-CLIP '
                                 'frame embedding: set '
                                 'neck.with_frame_embedding=True.')
            logits = ((1 - self.fusion_weight) * logits +
                      self.fusion_weight * self.cosine_logits(frame_embed))
        return logits
