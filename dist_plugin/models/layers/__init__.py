from .clip_block import clip_block_forward, supports_fast_forward
from .common import (ChannelLastLayerNorm, QuickGELU, TokenMLP, add_to_fresh,
                     quick_gelu, quick_gelu_, quick_gelu_linear)
from .recompute import recomputed
from .shape_check import ShapeCheckedLoadMixin, check_loaded_shapes

__all__ = [
    "ChannelLastLayerNorm", "QuickGELU", "TokenMLP", "ShapeCheckedLoadMixin",
    "add_to_fresh", "check_loaded_shapes", "clip_block_forward", "quick_gelu",
    "quick_gelu_", "quick_gelu_linear", "recomputed", "supports_fast_forward"
]
