"""Recompute a cheap input of an expensive op in the backward pass.

A LayerNorm or an activation followed by a linear layer or a convolution
makes autograd keep two tensors of the same size: the LayerNorm keeps its
input, the linear layer keeps the LayerNorm's output (for its weight
gradient). :func:`recomputed` keeps only the first: inside its block, an op
that saves the prologue's output saves a marker instead, and the backward
pass recomputes the output from the prologue's inputs (which the prologue's
own backward keeps anyway). The recomputation runs the same kernels on the
same inputs, so the gradients are bitwise those of plain autograd.
"""
from contextlib import contextmanager, nullcontext
from typing import Callable, ContextManager, Iterator, Optional, Tuple

import torch
from torch import Tensor


class _Recompute:
    """What a saved tensor becomes: where it lies in the prologue output."""

    __slots__ = ('size', 'stride', 'offset')

    def __init__(self, size: Tuple[int, ...], stride: Tuple[int, ...],
                 offset: int) -> None:
        self.size, self.stride, self.offset = size, stride, offset


def _autocast_state(device_type: str) -> Tuple[Optional[torch.dtype],
                                               Callable[[], ContextManager]]:
    """The autocast dtype active on ``device_type`` (None where autocast is
    off) and a factory of contexts that restore that state."""
    try:
        if torch.is_autocast_enabled(device_type):
            dtype = torch.get_autocast_dtype(device_type)
            return dtype, lambda: torch.autocast(device_type, dtype=dtype)
        torch.autocast(device_type, enabled=False)
    except RuntimeError:  # a device type without autocast (meta)
        return None, nullcontext
    return None, lambda: torch.autocast(device_type, enabled=False)


@contextmanager
def recomputed(prologue: Callable[..., Tensor],
               *inputs: Tensor,
               single_use: bool = True) -> Iterator[Tensor]:
    """Yield ``prologue(*inputs)``; ops run inside the block that save it
    (or a view of it) for the backward pass recompute it there instead.

    Args:
        prologue (Callable): A cheap, deterministic function of ``inputs``
            (a LayerNorm, an activation), with no side effects.
        *inputs (Tensor): Its inputs; they must not be modified in place
            before the backward pass (checked).
        single_use (bool): One op (a linear layer, a convolution) reads the
            output. Under autocast it is then cast to the autocast dtype
            here, as autocast would cast it for that op, so the op saves
            this tensor rather than its own cast. With several ops, autocast
            casts it once per op and sums their gradients in the output's
            dtype, so no cast is made here, and under autocast the ops keep
            their own casts (nothing is recomputed). Defaults to True.

    Yields:
        Tensor: ``prologue(*inputs)``.
    """
    out = prologue(*inputs)
    if not (torch.is_grad_enabled() and out.requires_grad):
        yield out
        return
    autocast_dtype, autocast_state = _autocast_state(out.device.type)
    if single_use and autocast_dtype is not None and out.is_floating_point():
        out = out.to(autocast_dtype)
    # The hooks outlive the block (autograd keeps them with each saved
    # tensor), so they hold no reference to ``out``, only its description.
    storage, device, dtype = (out.untyped_storage().data_ptr(), out.device,
                              out.dtype)
    stride, offset = out.stride(), out.storage_offset()
    versions = [t._version for t in inputs]

    def pack(saved: Tensor):
        if (saved.dtype == dtype and saved.device == device
                and saved.untyped_storage().data_ptr() == storage):
            return _Recompute(tuple(saved.shape), saved.stride(),
                              saved.storage_offset() - offset)
        return saved

    def unpack(packed):
        if not isinstance(packed, _Recompute):
            return packed
        if [t._version for t in inputs] != versions:
            raise RuntimeError(
                'An input of a recomputed prologue was modified in place '
                'before the backward pass; the prologue cannot be '
                'recomputed. Do not modify it in place.')
        # under the forward's autocast state (the backward runs outside it)
        with torch.no_grad(), autocast_state():
            again = prologue(*inputs)
        if again.dtype != dtype:  # the cast made above under autocast
            again = again.to(dtype)
        if again.stride() != stride:
            raise RuntimeError(
                f'The recomputed prologue has strides {again.stride()}, the '
                f'forward had {stride}; it must be deterministic.')
        return again.as_strided(packed.size, packed.stride,
                                again.storage_offset() + packed.offset)

    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        yield out
