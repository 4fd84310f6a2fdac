from .frozen_clip_vit import FrozenCLIPViT

__all__ = ['FrozenCLIPViT']
