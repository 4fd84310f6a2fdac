from .class_names import load_class_names
from .clip_text_head import CLIPTextHead
from .linear_head import DiSTLinearHead

__all__ = ['CLIPTextHead', 'DiSTLinearHead', 'load_class_names']
