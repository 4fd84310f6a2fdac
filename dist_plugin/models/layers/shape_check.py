"""Refuse checkpoints whose tensor shapes do not fit the module."""
from typing import Dict, List

from torch import Tensor, nn


def check_loaded_shapes(module: nn.Module, state_dict: Dict[str, Tensor],
                        prefix: str) -> None:
    """Raise if a key under ``prefix`` has a shape the module cannot take.

    mmengine's ``load_checkpoint(strict=False)`` (used by ``load_from``) only
    logs shape mismatches and goes on with the random weights; for DiST that
    means silently training or testing the wrong model, so the modules check
    shapes themselves.
    """
    own = module.state_dict()
    bad: List[str] = []
    for name, value in own.items():
        key = prefix + name
        if key in state_dict and hasattr(state_dict[key], 'shape') and \
                tuple(state_dict[key].shape) != tuple(value.shape):
            bad.append(f'{key}: checkpoint {tuple(state_dict[key].shape)} '
                       f'vs model {tuple(value.shape)}')
    if bad:
        raise ValueError(
            f'The checkpoint does not fit {type(module).__name__}; '
            f'{len(bad)} tensor(s) have other shapes:\n  ' +
            '\n  '.join(bad[:20]) + '\nBuild the model with the '
            'architecture the checkpoint was trained with (CLIP arch, '
            'widths, num_frames, num_pooling_layers).')


class ShapeCheckedLoadMixin:
    """Checks shapes once, at the module the checkpoint is loaded into."""

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        self._prepare_state_dict(state_dict, prefix)
        check_loaded_shapes(self, state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _prepare_state_dict(self, state_dict: Dict[str, Tensor],
                            prefix: str) -> None:
        """Adapt ``state_dict`` in place before the check (e.g. resize)."""
