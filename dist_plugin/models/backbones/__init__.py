from .clip_video_backbone import CLIPVideoBackbone
from .clip_video_features import CLIPVideoFeatures
from .frozen_clip_vit import FrozenCLIPViT

__all__ = ['CLIPVideoBackbone', 'CLIPVideoFeatures', 'FrozenCLIPViT']
