"""Load any checkpoint (ours or an official DiST, EVL, STAN or TDS-CLIP one,
file or URL) into a model."""
import re
from typing import Callable, Dict, List, MutableMapping, Optional, \
    Sequence, Tuple, Union

from mmengine.logging import print_log
from mmengine.runner import CheckpointLoader
from torch import nn

from dist_plugin.checkpoint.official import (OFFICIAL_FORMATS,
                                             check_converted_fits,
                                             convert_official_checkpoint,
                                             detect_official_method)

MapLocation = Union[str, Callable, None]


def convert_loaded_checkpoint(checkpoint: MutableMapping,
                              model: Optional[nn.Module] = None) -> bool:
    """Convert a loaded official checkpoint (any supported method) in place.

    Meant for mmengine's ``after_load_checkpoint`` hook point, which passes
    the loaded dict before it reaches the model.

    Args:
        checkpoint (MutableMapping): A loaded checkpoint of any layout.
        model (nn.Module, optional): The model it is for; when given, weights
            of another method or size are a clear error (mmengine's
            ``load_from`` would only log them). Defaults to None.

    Returns:
        bool: True when it was an official layout and was replaced by
        ``{'state_dict': ..., 'meta': ...}`` in our key layout.
    """
    if not isinstance(checkpoint, MutableMapping):
        return False
    method = detect_official_method(checkpoint)
    if method is None:
        return False
    method, state_dict, report = convert_official_checkpoint(
        checkpoint, method)
    if model is not None:
        check_converted_fits(model, state_dict, method)
    title = OFFICIAL_FORMATS[method].title
    checkpoint.clear()
    checkpoint['state_dict'] = state_dict
    checkpoint['meta'] = dict(
        method=method,
        converter=OFFICIAL_FORMATS[method].converter,
        dropped=list(report['dropped']),
        unused=list(report['unused']),
        kept_from_model=list(report.get('kept_from_model', [])))
    print_log(
        f'Converted an official {title} checkpoint on the fly '
        f'({len(state_dict)} tensors; {len(report["unused"])} unknown keys '
        f'ignored).', logger='current')
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
    convert_loaded_checkpoint(checkpoint, model)
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
