from .common import ChannelLastLayerNorm, QuickGELU, TokenMLP
from .shape_check import ShapeCheckedLoadMixin, check_loaded_shapes

__all__ = [
    "ChannelLastLayerNorm", "QuickGELU", "TokenMLP", "ShapeCheckedLoadMixin",
    "check_loaded_shapes"
]
