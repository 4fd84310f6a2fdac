from .evl_decoder import EVLDecoder
from .evl_decoder_layer import EVLDecoderLayer
from .evl_head import EVLHead
from .temporal_cross_attention import TemporalCrossAttention

__all__ = [
    'EVLDecoder', 'EVLDecoderLayer', 'EVLHead', 'TemporalCrossAttention'
]
