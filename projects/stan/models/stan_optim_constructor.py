"""Optimizer constructor with STAN's learning-rate and decay rules."""
from typing import Dict, List, Optional

from mmaction.registry import OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from dist_plugin.engine.optim_constructor import \
    TrainableOnlyOptimWrapperConstructor

_NORMS = (_BatchNorm, _InstanceNorm, nn.GroupNorm, nn.LayerNorm)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class STANOptimWrapperConstructor(TrainableOnlyOptimWrapperConstructor):
    """mmengine's ``paramwise_cfg`` where the rules combine.

    Reads the usual ``paramwise_cfg`` keys ``custom_keys`` (``lr_mult`` /
    ``decay_mult`` by name substring, longest key first),
    ``norm_decay_mult`` and ``bias_decay_mult``. Unlike mmengine's default
    constructor, a parameter matched by a custom key still gets the norm and
    bias rules (so ``custom_keys={'neck': dict(lr_mult=10.)}`` with
    ``norm_decay_mult=0.`` gives STAN's norms lr x 10 *and* no decay), and
    every name ending in ``bias`` counts as a bias (also
    ``attn.in_proj_bias``). Frozen parameters are left out. Each param group
    carries ``group_name`` (the matched custom key, else ``'base'``), which
    :class:`ParamGroupLrHook` logs.
    """

    def add_params(self,
                   params: List[dict],
                   module: nn.Module,
                   prefix: str = '',
                   is_dcn_module: Optional[int] = None) -> None:
        """Add one group per trainable parameter of ``module``."""
        cfg: Dict = self.paramwise_cfg or {}
        custom_keys: Dict = cfg.get('custom_keys', {})
        keys = sorted(sorted(custom_keys), key=len, reverse=True)
        norm_decay = cfg.get('norm_decay_mult', 1.)
        bias_decay = cfg.get('bias_decay_mult', 1.)
        for mod_name, mod in module.named_modules(prefix=prefix.rstrip('.')):
            is_norm = isinstance(mod, _NORMS)
            for name, param in mod.named_parameters(recurse=False):
                if not param.requires_grad:
                    continue
                full = f'{mod_name}.{name}' if mod_name else name
                key = next((k for k in keys if k in full), None)
                rule = custom_keys.get(key, {})
                decay_mult = rule.get('decay_mult', 1.)
                if is_norm:
                    decay_mult *= norm_decay
                elif name.endswith('bias'):
                    decay_mult *= bias_decay
                group = dict(
                    params=[param],
                    lr=self.base_lr * rule.get('lr_mult', 1.),
                    group_name=key or 'base')
                if self.base_wd is not None:
                    group['weight_decay'] = self.base_wd * decay_mult
                params.append(group)
