"""Baseline neck: frozen CLIP frame embeddings averaged over time."""
from typing import Dict, Optional, Tuple

from mmaction.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor

from ..backbones.clip_video_features import CLIPVideoFeatures


@MODELS.register_module()
class FrozenCLIPPoolNeck(BaseModule):
    """Average the frozen-CLIP embeddings of the sparse frames.

    This is DiST with its temporal stream and integration branch removed: a
    frozen image model plus temporal mean pooling. It has no parameters; the
    head on top is the only trainable part.

    Args:
        init_cfg (dict, optional): Unused. Defaults to None.
    """

    def __init__(self, init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)

    def forward(self,
                feats: CLIPVideoFeatures,
                data_samples: Optional[list] = None
                ) -> Tuple[Tensor, Dict]:
        """``feats`` from :class:`FrozenCLIPViT` -> ``([B, E], {})``."""
        return feats.require_frame_embeddings().mean(dim=1), dict()  # [B, E]
