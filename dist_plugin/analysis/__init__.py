"""Efficiency analysis: FLOP handles, complexity counts, benchmarks."""
from .complexity import (RecognizerLogits, cache_text_features,
                         count_parameters, flop_counter, infer_input_shape,
                         recognizer_flops, strip_pretrained)
from .flop_handles import (ATTENTION_FLOP_HANDLES, FLOP_CONVENTION,
                           attention_core_flops, native_mha_flop_jit,
                           sdpa_flop_jit)

__all__ = [
    'ATTENTION_FLOP_HANDLES', 'FLOP_CONVENTION', 'RecognizerLogits',
    'attention_core_flops', 'cache_text_features', 'count_parameters',
    'flop_counter', 'infer_input_shape', 'native_mha_flop_jit',
    'recognizer_flops', 'sdpa_flop_jit', 'strip_pretrained'
]
