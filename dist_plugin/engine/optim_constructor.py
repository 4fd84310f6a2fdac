"""Optimizer constructor that hands only trainable parameters to the optimizer."""
from typing import List, Optional

from mmaction.registry import (OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS,
                               OPTIMIZERS)
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from torch import nn


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class TrainableOnlyOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Like mmengine's default constructor, but frozen parameters
    (``requires_grad=False``, e.g. the CLIP towers) never reach the optimizer.

    Without ``paramwise_cfg`` mmengine passes ``model.parameters()`` (frozen
    ones included) to the optimizer; with it, it logs a warning for each of
    the hundreds of frozen CLIP tensors. Here frozen modules are skipped
    quietly in both cases.
    """

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   is_dcn_module: Optional[int] = None) -> None:
        """Add the trainable parameters of ``module`` to ``params``."""
        if not any(p.requires_grad for p in module.parameters()):
            return
        super().add_params(params, module, prefix, is_dcn_module)

    def __call__(self, model: nn.Module) -> OptimWrapper:
        if self.paramwise_cfg:
            return super().__call__(model)
        model = getattr(model, 'module', model)
        trainable = [p for p in model.parameters() if p.requires_grad]
        if not trainable:
            raise ValueError('The model has no trainable parameters.')
        optimizer_cfg = self.optimizer_cfg.copy()
        optimizer_cfg['params'] = trainable
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        wrapper_cfg = self.optim_wrapper_cfg.copy()
        wrapper_cfg.setdefault('type', 'OptimWrapper')
        return OPTIM_WRAPPERS.build(
            wrapper_cfg, default_args=dict(optimizer=optimizer))
