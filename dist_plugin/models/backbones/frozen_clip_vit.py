"""DiST's backbone: a frozen CLIP ViT on every alpha-th frame of a clip."""
from typing import Dict, Optional, Union

from mmaction.registry import MODELS

from .clip_video_backbone import CLIPVideoBackbone


@MODELS.register_module()
class FrozenCLIPViT(CLIPVideoBackbone):
    """:class:`CLIPVideoBackbone` with DiST's settings.

    Only the sparse frames ``0, alpha, 2 * alpha, ...`` run through CLIP,
    the weights are frozen and every block's output is returned. The forward
    returns a :class:`CLIPVideoFeatures`.

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
    """

    def __init__(self,
                 arch: Union[str, Dict],
                 pretrained: Optional[str] = None,
                 alpha: int = 2,
                 quick_gelu: bool = True,
                 input_resolution: Optional[int] = None,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(
            arch=arch,
            pretrained=pretrained,
            quick_gelu=quick_gelu,
            input_resolution=input_resolution,
            frame_sampling='stride',
            alpha=alpha,
            frozen=True,
            init_cfg=init_cfg)
