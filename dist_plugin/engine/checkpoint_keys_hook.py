"""Name what a loaded checkpoint lacks, and what it has in excess."""
import re
from typing import Dict, List, NamedTuple, Sequence, Tuple

from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop
from torch import nn

#: Key rewrites mmengine's ``Runner.load_checkpoint`` applies by default.
RUNNER_REVISE_KEYS: Sequence[Tuple[str, str]] = ((r'^module\.', ''), )


class KeyReport(NamedTuple):
    """How a state dict fits a model's trainable parameters."""
    missing_trainable: List[str]  # trainable, absent from the checkpoint
    mismatched_trainable: List[str]  # trainable, present with another shape
    unexpected: List[str]  # in the checkpoint, not in the model


class CheckpointMismatchError(RuntimeError):
    """A checkpoint lacks weights of trainable modules of the model."""


def checkpoint_state_dict(
        checkpoint: Dict,
        revise_keys: Sequence[Tuple[str, str]] = RUNNER_REVISE_KEYS
) -> Dict:
    """The model state of a loaded checkpoint, keys revised as mmengine's
    ``_load_checkpoint_to_model`` revises them."""
    state = checkpoint.get('state_dict', checkpoint)
    revised = {}
    for key, value in state.items():
        if key == '_metadata':
            continue
        for pattern, replacement in revise_keys:
            key = re.sub(pattern, replacement, key)
        revised[key] = value
    return revised


def compare_keys(model: nn.Module, state_dict: Dict) -> KeyReport:
    """Compare a state dict with the model it is loaded into.

    Only parameters with ``requires_grad`` count as missing: frozen parts
    (the CLIP tower) come from their own ``pretrained`` weights.

    Args:
        model (nn.Module): The model (unwrapped).
        state_dict (dict): Checkpoint state, keys as the model names them.

    Returns:
        KeyReport: Sorted key lists.
    """
    model_state = model.state_dict()
    trainable = [name for name, p in model.named_parameters() if
                 p.requires_grad]
    missing = sorted(n for n in trainable if n not in state_dict)
    mismatched = sorted(
        n for n in trainable if n in state_dict
        and hasattr(state_dict[n], 'shape')
        and tuple(state_dict[n].shape) != tuple(model_state[n].shape))
    unexpected = sorted(k for k in state_dict if k not in model_state)
    return KeyReport(missing, mismatched, unexpected)


def _listing(keys: Sequence[str], limit: int = 20) -> str:
    shown = ', '.join(keys[:limit])
    more = len(keys) - limit
    return shown + (f' (and {more} more)' if more > 0 else '')


@HOOKS.register_module()
class CheckpointKeysHook(Hook):
    """Check every checkpoint the Runner loads (``load_from``, test.py's
    CHECKPOINT, ``resume``) against the model.

    mmengine loads with ``strict=False`` and only logs mismatches, so a
    checkpoint of another config tests with random weights and exits 0.
    This hook runs after the checkpoint is read (and after
    ``OfficialCheckpointHook`` converted it) and before the weights reach
    the model:

    - trainable parameters absent from the checkpoint, or present with
      another shape: an error naming them when testing or validating; a
      warning when training (fine-tuning from a partial checkpoint);
    - checkpoint keys the model does not have: a warning naming them.

    Args:
        error_when_training (bool): Also fail when training starts from a
            checkpoint lacking trainable weights. Defaults to False.
    """

    priority = 'VERY_LOW'  # after every hook that rewrites the checkpoint

    def __init__(self, error_when_training: bool = False) -> None:
        self.error_when_training = error_when_training

    def after_load_checkpoint(self, runner, checkpoint: Dict) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        report = compare_keys(model, checkpoint_state_dict(checkpoint))
        # Runner.train() builds its loop before loading; test()/val() do not.
        training = isinstance(getattr(runner, '_train_loop', None), BaseLoop)
        source = runner._load_from if getattr(runner, '_load_from', None) \
            else 'the checkpoint'
        if report.unexpected:
            print_log(
                f'{source}: {len(report.unexpected)} key(s) that the model '
                f'does not have are ignored: {_listing(report.unexpected)}',
                logger='current', level=30)
        absent = report.missing_trainable + report.mismatched_trainable
        if not absent:
            return
        counts = []
        if report.missing_trainable:
            counts.append(f'{len(report.missing_trainable)} missing')
        if report.mismatched_trainable:
            counts.append(
                f'{len(report.mismatched_trainable)} with another shape')
        message = (
            f'{source} lacks weights of trainable modules of this model '
            f'({", ".join(counts)}): {_listing(absent)}. Is it a checkpoint '
            f'of this config?')
        if training and not self.error_when_training:
            print_log(message + ' They keep their initial values.',
                      logger='current', level=30)
            return
        raise CheckpointMismatchError(
            message + ' Testing would use untrained weights; pass the '
            'checkpoint written by training this config.')
