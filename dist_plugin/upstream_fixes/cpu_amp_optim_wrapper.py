"""Automatic mixed precision on CPU (item 8).

Upstream defect: mmengine 0.10.7 ``AmpOptimWrapper.__init__`` asserts a GPU,
NPU, MLU or MUSA device (``AmpOptimizerWrapper is only available training on
gpu, npu, mlu or musa``; reported e.g. in open-mmlab/mmpretrain issue #1556),
so ``tools/train.py --amp`` fails on CPU, although ``torch.autocast('cpu')``
supports bfloat16 (and float16 with a CPU ``GradScaler``).

Fix: a subclass registered under a new name, ``CPUAwareAmpOptimWrapper``,
rather than replacing ``AmpOptimWrapper`` with ``force=True``: upstream's
class and registry entry stay untouched for everyone else, and configs that
name ``AmpOptimWrapper`` keep upstream behaviour. It is registered in
mmaction2's ``OPTIM_WRAPPERS`` (scope ``mmaction``, the default scope of
every mmaction config), not in mmengine's root registry. On an accelerator the
subclass is exactly ``AmpOptimWrapper`` (float16 or ``dtype``); on CPU it
autocasts with ``torch.autocast('cpu', dtype)`` (bfloat16 by default), with a
no-op loss scaler for bfloat16 and a CPU ``GradScaler`` for float16.
"""
from contextlib import contextmanager
from typing import Optional, Union

import torch
import torch.nn as nn
from mmengine.device import (is_cuda_available, is_mlu_available,
                             is_musa_available, is_npu_available)
from mmaction.registry import OPTIM_WRAPPERS
from mmengine.optim import AmpOptimWrapper, OptimWrapper

#: dtypes ``torch.autocast('cpu')`` supports.
CPU_AUTOCAST_DTYPES = (torch.bfloat16, torch.float16)


def accelerator_available() -> bool:
    """Whether upstream ``AmpOptimWrapper`` supports this machine."""
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


def _cpu_grad_scaler(loss_scale: Union[str, float, dict],
                     enabled: bool) -> torch.amp.GradScaler:
    """A CPU ``GradScaler`` configured like ``AmpOptimWrapper``'s."""
    if loss_scale == 'dynamic':
        kwargs = {}
    elif isinstance(loss_scale, float):
        kwargs = dict(init_scale=loss_scale)
    elif isinstance(loss_scale, dict):
        kwargs = dict(loss_scale)
    else:
        raise TypeError('loss_scale must be of type float, dict, or '
                        f'"dynamic", but got {loss_scale}')
    return torch.amp.GradScaler('cpu', enabled=enabled, **kwargs)


@OPTIM_WRAPPERS.register_module()
class CPUAwareAmpOptimWrapper(AmpOptimWrapper):
    """``AmpOptimWrapper`` that also trains on CPU.

    Args:
        loss_scale (str | float | dict): As in ``AmpOptimWrapper``; on CPU it
            only matters for float16. Defaults to ``'dynamic'``.
        dtype (str | torch.dtype, optional): Autocast dtype. On an
            accelerator as in ``AmpOptimWrapper``; on CPU ``'bfloat16'`` or
            ``'float16'``, None meaning bfloat16. Defaults to None.
        use_fsdp (bool): As in ``AmpOptimWrapper`` (accelerators only).
            Defaults to False.
        **kwargs: Passed to ``OptimWrapper``.
    """

    def __init__(self,
                 loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Optional[Union[str, torch.dtype]] = None,
                 use_fsdp: bool = False,
                 **kwargs) -> None:
        if accelerator_available():
            super().__init__(
                loss_scale=loss_scale, dtype=dtype, use_fsdp=use_fsdp,
                **kwargs)
            self.autocast_device: Optional[str] = None
            return
        if use_fsdp:
            raise ValueError('use_fsdp=True needs an accelerator')
        OptimWrapper.__init__(self, **kwargs)
        if isinstance(dtype, str):
            if dtype not in self.valid_dtypes:
                raise ValueError(f'dtype should be any of {self.valid_dtypes}'
                                 f', got {dtype}')
            dtype = getattr(torch, dtype)
        dtype = torch.bfloat16 if dtype is None else dtype
        if dtype not in CPU_AUTOCAST_DTYPES:
            raise ValueError(f'CPU autocast supports {CPU_AUTOCAST_DTYPES}, '
                             f'got {dtype}')
        self.cast_dtype = dtype
        self._scale_update_param = (
            loss_scale if isinstance(loss_scale, float) else None)
        # bfloat16 has float32's range: no scaling (a disabled scaler is a
        # pass-through with an empty state dict).
        self.loss_scaler = _cpu_grad_scaler(
            loss_scale, enabled=dtype == torch.float16)
        self.autocast_device = 'cpu'

    @contextmanager
    def optim_context(self, model: nn.Module):
        """Autocast (and DDP no-sync during accumulation) for a step.

        Args:
            model (nn.Module): The training model.
        """
        if self.autocast_device is None:
            with super().optim_context(model):
                yield
        else:
            with OptimWrapper.optim_context(self, model), torch.autocast(
                    self.autocast_device, dtype=self.cast_dtype):
                yield
