"""A faster forward of open_clip's ``ResidualAttentionBlock``.

It computes what the block computes, with the block's own parameters (so
state-dict keys do not change), but attention goes through
``F.scaled_dot_product_attention`` (the fused kernel on every device)
instead of ``nn.MultiheadAttention`` (on the CPU its inference fast path
materialises every attention matrix), and outside autograd the residual
additions and the activation work in place, so a block holds one
hidden-width temporary less.
"""
import torch.nn.functional as F
from torch import Tensor, nn

from .common import quick_gelu, quick_gelu_


def _is_quick_gelu(module: nn.Module) -> bool:
    # open_clip's, OpenAI's and ours share the name and the formula.
    return type(module).__name__ == 'QuickGELU'


def supports_fast_forward(block: nn.Module) -> bool:
    """Whether :func:`clip_block_forward` computes ``block(x)``.

    True for an open_clip ``ResidualAttentionBlock`` with a batch-first,
    packed, bias-only ``nn.MultiheadAttention`` without dropout, no
    LayerScale, no cross-attention norm and a ``c_fc``/``gelu``/``c_proj``
    MLP.
    """
    attn = getattr(block, 'attn', None)
    mlp = getattr(block, 'mlp', None)
    if not isinstance(attn, nn.MultiheadAttention) or mlp is None:
        return False
    return (type(block).__name__ == 'ResidualAttentionBlock'
            and attn.batch_first and attn.in_proj_weight is not None
            and attn.bias_k is None and attn.bias_v is None
            and not attn.add_zero_attn and attn.dropout == 0.
            and isinstance(getattr(block, 'ls_1', None), nn.Identity)
            and isinstance(getattr(block, 'ls_2', None), nn.Identity)
            and not hasattr(block, 'ln_1_kv')
            and all(hasattr(mlp, name) for name in ('c_fc', 'gelu',
                                                    'c_proj'))
            and len(mlp) == 3)


def clip_block_forward(block: nn.Module, x: Tensor,
                       inplace: bool = False) -> Tensor:
    """``block(x)`` for a block that :func:`supports_fast_forward`.

    Args:
        block (nn.Module): An open_clip ``ResidualAttentionBlock``.
        x (Tensor): Tokens ``[M, L, D]`` (batch first). Never modified.
        inplace (bool): Reuse intermediates in place; only valid outside
            autograd. Defaults to False.

    Returns:
        Tensor: The block output ``[M, L, D]``.
    """
    attn = block.attn
    num, length, width = x.shape
    heads = attn.num_heads
    qkv = F.linear(block.ln_1(x), attn.in_proj_weight, attn.in_proj_bias)
    qkv = qkv.view(num, length, 3, heads, width // heads).permute(
        2, 0, 3, 1, 4)  # [3, M, heads, L, head_dim]
    out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
    del qkv
    out = out.transpose(1, 2).reshape(num, length, width)
    out = F.linear(out, attn.out_proj.weight, attn.out_proj.bias)
    x = out.add_(x) if inplace else x + out  # x + attention
    mlp = block.mlp
    hidden = mlp.c_fc(block.ln_2(x))
    if _is_quick_gelu(mlp.gelu):
        hidden = quick_gelu_(hidden) if inplace else quick_gelu(hidden)
    else:
        hidden = mlp.gelu(hidden)
    out = mlp.c_proj(hidden)
    del hidden
    return out.add_(x) if inplace else x + out
