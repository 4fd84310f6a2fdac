"""STAN video encoder + CLIP text encoder for video-text retrieval."""
import math
from typing import Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from mmaction.models.similarity.clip_similarity import GatherLayer
from mmaction.registry import MODELS
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from torch import Tensor

from dist_plugin.models.clip_builder import build_clip


@MODELS.register_module()
class STANSimilarity(BaseModel):
    """Video-text retrieval model with STAN as the video encoder.

    The same interface as mmaction's ``CLIPSimilarity`` (inputs
    ``{'imgs', 'text'}`` from ``VideoTextDataset`` +
    ``PackActionInputs(collect_keys=('imgs', 'text'))``; ``predict`` fills
    ``data_sample.features`` for mmaction's ``RetrievalMetric``), with the
    video side replaced by ``CLIPVideoBackbone`` + ``STANNeck`` and the
    official STAN loss: symmetric InfoNCE over the batch gathered from every
    process, ``CE(v2t) + CE(t2v)`` on ``cos / tau`` with a fixed ``tau``.

    Args:
        backbone (dict): ``CLIPVideoBackbone`` config (``frame_sampling=
            'all'``, usually ``frozen=False``).
        neck (dict): ``STANNeck`` config.
        text_arch (str | dict): open_clip model of the text tower (the same
            CLIP as the backbone).
        text_pretrained (str, optional): Its weights. Defaults to None.
        quick_gelu (bool): QuickGELU (OpenAI CLIP). Defaults to True.
        tau (float): Temperature (0.01 for B/32, 0.02 for B/16 officially).
            Defaults to 0.01.
        frozen_text (bool): Freeze the text tower (the official code trains
            it). Defaults to False.
        data_preprocessor (dict, optional): Usually mmaction's
            ``MultiModalDataPreprocessor``. Defaults to None.
        init_cfg (dict, optional): Unused. Defaults to None.
    """

    def __init__(self,
                 backbone: Dict,
                 neck: Dict,
                 text_arch: Union[str, Dict],
                 text_pretrained: Optional[str] = None,
                 quick_gelu: bool = True,
                 tau: float = 0.01,
                 frozen_text: bool = False,
                 data_preprocessor: Optional[Dict] = None,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if tau <= 0:
            raise ValueError(f'tau must be > 0, got {tau}')
        self.tau = tau
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        self.neck.bind_backbone(self.backbone)
        text = build_clip(text_arch, text_pretrained, quick_gelu)
        text.visual = None  # the backbone owns the vision tower
        text.logit_scale.data.fill_(math.log(1. / tau))
        text.logit_scale.requires_grad_(False)  # the scale is fixed
        self.text = text
        self.frozen_text = frozen_text
        if frozen_text:
            self.text.requires_grad_(False)

    def init_weights(self) -> None:
        """CLIP keeps its loaded weights; STAN gets the official init."""
        self.neck.init_weights()

    def _load_from_state_dict(self, state_dict, prefix, *args,
                              **kwargs) -> None:
        # Official checkpoints converted for recognition put the text tower
        # under cls_head.clip.; here it is text.
        old = prefix + 'cls_head.clip.'
        for key in [k for k in state_dict if k.startswith(old)]:
            state_dict[prefix + 'text.' + key[len(old):]] = \
                state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def train(self, mode: bool = True) -> 'STANSimilarity':
        super().train(mode)
        if self.frozen_text:
            self.text.eval()
        return self

    def encode_video(self, video: Tensor) -> Tensor:
        """``[B, (V,) 3, T, H, W]`` -> video embeddings ``[B*V, E]``."""
        if video.dim() == 6:
            video = video.flatten(0, 1)
        embed, _ = self.neck(self.backbone(video))
        return embed

    def encode_text(self, tokens: Tensor) -> Tensor:
        """Token ids ``[B, L]`` (L <= context) -> embeddings ``[B, E]``."""
        context = self.text.positional_embedding.shape[0]
        if tokens.shape[-1] > context:
            raise ValueError(
                f'Captions have {tokens.shape[-1]} tokens but the text tower '
                f'takes {context}: lower OpenCLIPTokenize.max_tokens.')
        tokens = F.pad(tokens.long(), (0, context - tokens.shape[-1]))
        return self.text.encode_text(tokens)

    def extract_feat(self, inputs: Dict[str, Tensor], norm: bool = True):
        """Video and text embeddings of a batch of pairs."""
        video = self.encode_video(inputs['imgs'])
        text = self.encode_text(inputs['text'])
        if norm:
            video = F.normalize(video, dim=-1, eps=1e-8)
            text = F.normalize(text, dim=-1, eps=1e-8)
        return video, text

    def loss(self, inputs: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Symmetric InfoNCE over the pairs of every process."""
        video, text = self.extract_feat(inputs)
        video = torch.cat(GatherLayer.apply(video), dim=0)
        text = torch.cat(GatherLayer.apply(text), dim=0)
        logits = video @ text.t() / self.tau
        labels = torch.arange(logits.shape[0], device=logits.device)
        return dict(
            loss_v2t=F.cross_entropy(logits, labels),
            loss_t2v=F.cross_entropy(logits.t(), labels))

    def forward(self,
                inputs: Dict[str, Tensor],
                data_samples: Optional[List] = None,
                mode: str = 'tensor'):
        """mmengine's ``tensor`` / ``loss`` / ``predict`` modes."""
        if mode == 'tensor':
            return self.extract_feat(inputs, norm=False)
        if mode == 'loss':
            return self.loss(inputs)
        if mode == 'predict':
            video, text = self.extract_feat(inputs)
            for sample, v, t in zip(data_samples, video, text):
                sample.features = InstanceData(video_feature=v, text_feature=t)
            return data_samples
        raise RuntimeError(f'Invalid mode {mode!r}: use loss, predict or '
                           f'tensor.')
