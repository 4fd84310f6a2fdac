"""Load any checkpoint (ours or an official DiST / TDS-CLIP one, file or URL)
into a model."""
import re
from typing import Callable, Dict, List, MutableMapping, Sequence, Tuple, \
    Union

from mmengine.logging import print_log
from mmengine.runner import CheckpointLoader
from torch import nn

from dist_plugin.checkpoint.official_methods import (OFFICIAL_CONVERTERS,
                                                     detect_official_method)

MapLocation = Union[str, Callable, None]


def convert_loaded_checkpoint(checkpoint: MutableMapping) -> bool:
    """Convert a loaded official checkpoint (any method of
    ``OFFICIAL_CONVERTERS``) in place.

    Meant for mmengine's ``after_load_checkpoint`` hook point, which passes
    the loaded dict before it reaches the model.

    Args:
        checkpoint (MutableMapping): A loaded checkpoint of any layout.

    Returns:
        bool: True when it was an official layout and was replaced by
        ``{'state_dict': ..., 'meta': ...}`` in our key layout.
    """
    if not isinstance(checkpoint, MutableMapping):
        return False
    method = detect_official_method(checkpoint)
    if method is None:
        return False
    state_dict, report = OFFICIAL_CONVERTERS[method].convert(checkpoint)
    checkpoint.clear()
    checkpoint['state_dict'] = state_dict
    checkpoint['meta'] = dict(
        converter='dist_plugin.checkpoint.convert',
        official_method=method,
        dropped=list(report.get('dropped', [])),
        unused=list(report['unused']),
        kept_from_model=list(report.get('kept_from_model', [])))
    print_log(
        f'Converted an official {method} checkpoint on the fly '
        f'({len(state_dict)} tensors; {len(report["unused"])} unknown keys '
        'ignored).',
        logger='current')
    return True


def load_dist_checkpoint(
        model: nn.Module,
        filename: str,
        map_location: MapLocation = 'cpu',
        strict: bool = True,
        revise_keys: Sequence[Tuple[str, str]] = ((r'^module\.', ''), )
) -> Dict:
    """Load a checkpoint into ``model``, converting official layouts.

    The file goes through mmengine's ``CheckpointLoader`` (local paths,
    ``http(s)://``, ``s3://``...), which dist_plugin makes load with
    ``weights_only=True``.

    Args:
        model (nn.Module): The recognizer.
        filename (str): Checkpoint path or URL.
        map_location (str | callable, optional): As in ``torch.load``.
            Defaults to ``'cpu'``.
        strict (bool): Raise when keys are missing or unexpected.
            Defaults to True.
        revise_keys (Sequence[tuple]): ``(pattern, replacement)`` regexes
            applied to every key. Defaults to stripping ``module.``.

    Returns:
        dict: The loaded (converted) checkpoint.
    """
    checkpoint = CheckpointLoader.load_checkpoint(
        filename, map_location=map_location)
    if not isinstance(checkpoint, MutableMapping):
        raise ValueError(f'{filename} holds a {type(checkpoint).__name__}, '
                         'not a checkpoint dict')
    convert_loaded_checkpoint(checkpoint)
    state_dict = checkpoint.get('state_dict', checkpoint)
    for pattern, replacement in revise_keys:
        state_dict = {
            re.sub(pattern, replacement, k): v
            for k, v in state_dict.items()
        }
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    # weights an official file never holds (e.g. TDS-CLIP's unused CLIP
    # image head) keep the model's pretrained values
    kept = set((checkpoint.get('meta') or {}).get('kept_from_model', []))
    missing = [k for k in missing if k not in kept]
    problems: List[str] = []
    if missing:
        problems.append(f'{len(missing)} missing key(s): {missing[:10]}')
    if unexpected:
        problems.append(
            f'{len(unexpected)} unexpected key(s): {unexpected[:10]}')
    if problems:
        message = (f'{filename} does not fit the model: ' +
                   '; '.join(problems))
        if strict:
            raise ValueError(message + '. Use the config the checkpoint was '
                             'trained with.')
        print_log(message, logger='current', level=30)
    return checkpoint
