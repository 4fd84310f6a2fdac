"""fvcore FLOP handles for the attention ops that fvcore does not count.

fvcore counts one fused multiply-add as one FLOP but has no handle for
``aten::scaled_dot_product_attention`` (nn.MultiheadAttention's path with
autograd on) nor for ``aten::_native_multi_head_attention`` (its fused fast
path in eval mode without autograd, which also swallows the input and output
projections). Without them a CLIP ViT-B/16 frame counts 16.87 G (SDPA
skipped) or 11.29 G (fast path skipped) instead of 17.58 G.
"""
from math import prod
from typing import Any, Dict, List, Optional

from fvcore.nn.jit_handles import Handle, get_shape

# The FLOP convention of fvcore and of published video-model GFLOPs.
FLOP_CONVENTION = 'multiply-adds (one fused multiply-add = 1 FLOP)'


def _shape(value: Any, name: str) -> List[int]:
    shape = get_shape(value)
    if shape is None:
        raise ValueError(f'fvcore traced no shape for the {name} of an '
                         'attention op')
    return list(shape)


def attention_core_flops(query_shape: List[int], key_shape: List[int],
                         value_shape: List[int]) -> int:
    """Multiply-adds of ``softmax(q k^T) v`` for ``[..., L, d]`` inputs.

    ``q k^T`` costs ``b * Lq * Lk * dq`` and the product with ``v``
    ``b * Lq * Lk * dv``, where ``b`` is the product of the leading
    dimensions of the query (batch and heads).

    Args:
        query_shape (list[int]): ``[..., Lq, dq]``.
        key_shape (list[int]): ``[..., Lk, dq]``.
        value_shape (list[int]): ``[..., Lk, dv]``.

    Returns:
        int: The multiply-add count.
    """
    *batch, len_q, dim_q = query_shape
    len_k = key_shape[-2]
    dim_v = value_shape[-1]
    return prod(batch) * len_q * len_k * (dim_q + dim_v)


def sdpa_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """fvcore handle for ``aten::scaled_dot_product_attention`` (and the
    backend ops ``aten::_scaled_dot_product_*`` that share its first three
    arguments): ``b * Lq * Lk * (dq + dv)``."""
    return attention_core_flops(
        _shape(inputs[0], 'query'), _shape(inputs[1], 'key'),
        _shape(inputs[2], 'value'))


def native_mha_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """fvcore handle for ``aten::_native_multi_head_attention``.

    The fused op computes the q/k/v input projections, the attention and the
    output projection, so all four are counted:
    ``b*Lq*E*E + 2*b*Lk*E*E + b*Lq*Lk*2E + b*Lq*E*E``.
    """
    query = _shape(inputs[0], 'query')  # [B, Lq, E] or [Lq, E]
    key = _shape(inputs[1], 'key')
    embed_dim = _shape(inputs[5], 'qkv_weight')[-1]
    batch = prod(query[:-2])
    len_q, len_k = query[-2], key[-2]
    projections = batch * (2 * len_q + 2 * len_k) * embed_dim * embed_dim
    core = batch * len_q * len_k * 2 * embed_dim
    return projections + core


ATTENTION_FLOP_HANDLES: Dict[str, Optional[Handle]] = {
    'aten::scaled_dot_product_attention': sdpa_flop_jit,
    'aten::_scaled_dot_product_flash_attention_for_cpu': sdpa_flop_jit,
    'aten::_scaled_dot_product_flash_attention': sdpa_flop_jit,
    'aten::_scaled_dot_product_efficient_attention': sdpa_flop_jit,
    'aten::_scaled_dot_product_cudnn_attention': sdpa_flop_jit,
    'aten::_native_multi_head_attention': native_mha_flop_jit,
}
