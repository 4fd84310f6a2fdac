"""A faster forward of open_clip's ``ResidualAttentionBlock``.

It computes what the block computes, with the block's own parameters (so
state-dict keys do not change), but attention goes through
``F.scaled_dot_product_attention`` (the fused kernel on every device)
instead of ``nn.MultiheadAttention`` (on the CPU its inference fast path
materialises every attention matrix). Outside autograd (the frozen tower)
the residual sums are fused into the projections, the activation works in
place, and on the CPU the projections run through oneDNN and the block runs
on groups of frames small enough that its temporaries are reused from the
heap and stay in cache.
"""
from typing import Optional

import torch
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


#: Outside autograd on the CPU, a block runs on groups of frames whose MLP
#: hidden tensor stays under this size. Larger temporaries are served by
#: fresh ``mmap`` calls (glibc's threshold stops at 32 MiB), so they are
#: page-faulted anew at every block; small ones are reused from the heap and
#: stay in cache.
CPU_CHUNK_BYTES = 8 << 20


def _chunk_count(x: Tensor, hidden_width: int,
                 chunk_tokens: Optional[int]) -> int:
    """How many groups of frames :func:`_frozen_block_forward` uses."""
    num, length = x.shape[:2]
    if chunk_tokens is None:
        if x.device.type != 'cpu':
            return 1
        chunk_tokens = max(
            1, CPU_CHUNK_BYTES // (hidden_width * x.element_size()))
    return min(num, max(1, -(-num * length // chunk_tokens)))


#: Outside autograd on the CPU, float32 projections run through oneDNN
#: (``torch.ops.mkldnn._linear_pointwise``, the kernel inductor emits), which
#: beats the default MKL GEMM on the frozen tower (about 11 % on ViT-B/16 with
#: AVX-512, ``tools/analysis/profile_dist.py``) and fuses the residual sum.
#: Set to False to use ``addmm``.
ONEDNN_LINEAR = (torch.backends.mkldnn.is_available()
                 and hasattr(torch.ops.mkldnn, '_linear_pointwise'))


def _frozen_linear(x: Tensor,
                   weight: Tensor,
                   bias: Optional[Tensor],
                   residual: Optional[Tensor] = None) -> Tensor:
    """``x @ weight.T + bias (+ residual)`` for 2D ``x``, outside autograd."""
    if (ONEDNN_LINEAR and x.device.type == 'cpu'
            and x.dtype == weight.dtype == torch.float32):
        if residual is None:
            return torch.ops.mkldnn._linear_pointwise(x, weight, bias,
                                                      'none', [], '')
        return torch.ops.mkldnn._linear_pointwise.binary(
            x, residual, weight, bias, 'add')
    if residual is None:
        return F.linear(x, weight, bias)
    out = torch.addmm(residual, x, weight.t())
    return out if bias is None else out.add_(bias)


def _frozen_block_forward(block: nn.Module, x: Tensor,
                          chunk_tokens: Optional[int]) -> Tensor:
    """``block(x)`` outside autograd, by groups of frames, each residual sum
    fused into the projection before it."""
    attn, mlp = block.attn, block.mlp
    num, length, width = x.shape
    heads = attn.num_heads
    outs = []
    chunks = _chunk_count(x, mlp.c_fc.out_features, chunk_tokens)
    for x_part in x.tensor_split(chunks):
        part = x_part.shape[0]
        x_2d = x_part.reshape(part * length, width)
        qkv = _frozen_linear(block.ln_1(x_2d), attn.in_proj_weight,
                             attn.in_proj_bias)
        qkv = qkv.view(part, length, 3, heads, width // heads).permute(
            2, 0, 3, 1, 4)  # [3, part, heads, L, head_dim]
        mixed = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        del qkv
        mixed = mixed.transpose(1, 2).reshape(part * length, width)
        out = _frozen_linear(mixed, attn.out_proj.weight,
                             attn.out_proj.bias, residual=x_2d)
        del mixed
        hidden = _frozen_linear(block.ln_2(out), mlp.c_fc.weight,
                                mlp.c_fc.bias)
        if _is_quick_gelu(mlp.gelu):
            hidden = quick_gelu_(hidden)
        else:
            hidden = mlp.gelu(hidden)
        out = _frozen_linear(hidden, mlp.c_proj.weight, mlp.c_proj.bias,
                             residual=out)
        del hidden
        outs.append(out.view(part, length, width))
    return outs[0] if len(outs) == 1 else torch.cat(outs)


def clip_block_forward(block: nn.Module,
                       x: Tensor,
                       inplace: bool = False,
                       chunk_tokens: Optional[int] = None) -> Tensor:
    """``block(x)`` for a block that :func:`supports_fast_forward`.

    Args:
        block (nn.Module): An open_clip ``ResidualAttentionBlock``.
        x (Tensor): Tokens ``[M, L, D]`` (batch first). Never modified.
        inplace (bool): Reuse intermediates in place; only valid outside
            autograd. Defaults to False.
        chunk_tokens (int, optional): With ``inplace`` (and outside
            autocast), the tokens per group of frames the block runs on.
            Defaults to None: on the CPU, groups whose MLP hidden tensor
            stays under :data:`CPU_CHUNK_BYTES`; elsewhere one group.

    Returns:
        Tensor: The block output ``[M, L, D]``.
    """
    if inplace and not torch.is_autocast_enabled(x.device.type):
        return _frozen_block_forward(block, x, chunk_tokens)
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
