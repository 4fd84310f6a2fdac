from .clip_block import clip_block_forward, supports_fast_forward
from .common import (ChannelLastLayerNorm, QuickGELU, TokenMLP, quick_gelu,
                     quick_gelu_, quick_gelu_linear)
from .shape_check import ShapeCheckedLoadMixin, check_loaded_shapes

__all__ = [
    "ChannelLastLayerNorm", "QuickGELU", "TokenMLP", "ShapeCheckedLoadMixin",
    "check_loaded_shapes", "clip_block_forward", "quick_gelu", "quick_gelu_",
    "quick_gelu_linear",
    "supports_fast_forward"
]
