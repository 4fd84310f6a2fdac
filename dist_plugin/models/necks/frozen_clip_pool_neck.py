"""Baseline neck: frozen CLIP frame embeddings averaged over time."""
from typing import Dict, Optional, Tuple, Union

from mmaction.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor


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
                feats: Tuple[Tuple[Tensor, ...], Tensor, Tensor],
                data_samples: Optional[list] = None
                ) -> Tuple[Tensor, Dict]:
        """``feats`` from :class:`FrozenCLIPViT` -> ``([B, E], {})``."""
        frame_embeds = feats[2]  # [B, Ts, E]
        return frame_embeds.mean(dim=1), dict()
