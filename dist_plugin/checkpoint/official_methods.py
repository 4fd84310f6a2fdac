"""Which method an official checkpoint belongs to, and its converter.

Each entry of :data:`OFFICIAL_CONVERTERS` recognises one method's official
layout by its sentinel keys and converts it (a pure function returning
``(state_dict, report)``). Add a method by adding an entry.
"""
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, \
    Tuple

from torch import Tensor

from .convert import convert_official_state_dict, is_official_layout
from .convert_tdsclip import (convert_official_tdsclip_state_dict,
                              is_official_tdsclip_layout)


class OfficialConverter(NamedTuple):
    """How to recognise and convert one method's official checkpoints."""
    detect: Callable[[Mapping], bool]
    convert: Callable[[Mapping], Tuple[Dict[str, Tensor], Dict[str,
                                                              List[str]]]]
    sentinel: str  # the keys that identify the layout, for messages


OFFICIAL_CONVERTERS: Dict[str, OfficialConverter] = {
    'DiST':
    OfficialConverter(is_official_layout, convert_official_state_dict,
                      'dist_net.* / ladder_net.*'),
    'TDS-CLIP':
    OfficialConverter(is_official_tdsclip_layout,
                      convert_official_tdsclip_state_dict,
                      'visual.side_conv1_c5.*, visual.transformer.'
                      'side_transformer.N.mse.*'),
}


def detect_official_method(checkpoint: Mapping) -> Optional[str]:
    """Name of the method whose official layout ``checkpoint`` has, or
    None."""
    if not isinstance(checkpoint, Mapping):
        return None
    for name, converter in OFFICIAL_CONVERTERS.items():
        if converter.detect(checkpoint):
            return name
    return None


def convert_official_checkpoint(
    checkpoint: Mapping,
    method: Optional[str] = None
) -> Tuple[str, Dict[str, Tensor], Dict[str, List[str]]]:
    """Detect the method of an official checkpoint and convert it.

    Args:
        checkpoint (Mapping): A loaded official checkpoint.
        method (str, optional): The method the caller expects; a checkpoint
            of another method is refused. Defaults to None (any).

    Returns:
        tuple: ``(method, state_dict, report)``.

    Raises:
        ValueError: If no known official layout is found, or the checkpoint
            belongs to another method than ``method``.
    """
    if method is not None and method not in OFFICIAL_CONVERTERS:
        raise ValueError(f'Unknown method {method!r}; known: '
                         f'{sorted(OFFICIAL_CONVERTERS)}')
    found = detect_official_method(checkpoint)
    if found is None:
        known = '; '.join(f'{name}: {conv.sentinel}'
                          for name, conv in OFFICIAL_CONVERTERS.items())
        raise ValueError('No official checkpoint layout recognised (keys '
                         f'looked for: {known}).')
    if method is not None and found != method:
        raise ValueError(
            f'This is an official {found} checkpoint, not {method}: use it '
            f'with a {found} config, or pass a {method} checkpoint.')
    state_dict, report = OFFICIAL_CONVERTERS[found].convert(checkpoint)
    return found, state_dict, report
