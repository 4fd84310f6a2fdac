"""Official checkpoints of every supported method: detection, conversion
and a check that the converted weights fit a model.

Each method's converter is a pure function (checkpoint in, ``(state_dict,
report)`` out) that recognises its official layouts by sentinel keys. To add
a method, add an :class:`OfficialFormat` to :data:`OFFICIAL_FORMATS`.
"""
from typing import (Callable, Dict, List, Mapping, NamedTuple, Optional,
                    Tuple)

from torch import Tensor, nn

from .convert import convert_official_state_dict, is_official_layout
from .convert_stan import (convert_official_stan_state_dict,
                           is_official_stan_layout)
from .evl_convert import convert_evl_state_dict, is_evl_layout
from .convert_tdsclip import (convert_official_tdsclip_state_dict,
                              is_official_tdsclip_layout)

Converted = Tuple[Dict[str, Tensor], Dict[str, List[str]]]


class OfficialFormat(NamedTuple):
    """How to recognise and convert one method's official checkpoints."""
    title: str  # the method's name for messages
    detect: Callable[[Mapping], bool]
    convert: Callable[[Mapping], Converted]
    converter: str  # dotted name of the converter module, for ``meta``


#: Method key -> format. Detection tries them in this order.
OFFICIAL_FORMATS: Dict[str, OfficialFormat] = {
    'dist': OfficialFormat('DiST', is_official_layout,
                           convert_official_state_dict,
                           'dist_plugin.checkpoint.convert'),
    'evl': OfficialFormat('EVL', is_evl_layout, convert_evl_state_dict,
                          'dist_plugin.checkpoint.evl_convert'),
    'stan': OfficialFormat('STAN', is_official_stan_layout,
                           convert_official_stan_state_dict,
                           'dist_plugin.checkpoint.convert_stan'),
    'tdsclip': OfficialFormat('TDS-CLIP', is_official_tdsclip_layout,
                              convert_official_tdsclip_state_dict,
                              'dist_plugin.checkpoint.convert_tdsclip'),
}


def detect_official_method(checkpoint: Mapping) -> Optional[str]:
    """The method whose official layout ``checkpoint`` has, or None (e.g.
    a checkpoint in our own layout)."""
    if not isinstance(checkpoint, Mapping):
        return None
    for method, fmt in OFFICIAL_FORMATS.items():
        if fmt.detect(checkpoint):
            return method
    return None


def convert_official_checkpoint(
        checkpoint: Mapping,
        method: Optional[str] = None) -> Tuple[str, Dict[str, Tensor],
                                               Dict[str, List[str]]]:
    """Convert an official checkpoint of any supported method.

    Args:
        checkpoint (Mapping): A loaded official checkpoint.
        method (str, optional): Expected method (a key of
            :data:`OFFICIAL_FORMATS`); a checkpoint of another method is an
            error. Defaults to None (detect).

    Returns:
        tuple: ``(method, state_dict, report)``.
    """
    if method is not None and method not in OFFICIAL_FORMATS:
        raise ValueError(f'Unknown method {method!r}; known: '
                         f'{sorted(OFFICIAL_FORMATS)}')
    found = detect_official_method(checkpoint)
    if found is None:
        raise ValueError(
            'Not an official checkpoint of any supported method ('
            + ', '.join(f.title for f in OFFICIAL_FORMATS.values()) +
            '): none of their sentinel keys is present.')
    if method is not None and found != method:
        raise ValueError(
            f'This is an official {OFFICIAL_FORMATS[found].title} checkpoint,'
            f' not {OFFICIAL_FORMATS[method].title}; use it with a '
            f'{OFFICIAL_FORMATS[found].title} config.')
    state_dict, report = OFFICIAL_FORMATS[found].convert(checkpoint)
    return found, state_dict, report


def check_converted_fits(model: nn.Module, state_dict: Mapping,
                         method: str) -> None:
    """Raise a clear error when converted official weights do not fit
    ``model`` (another method, or another size of the same method).

    Keys the model lacks and tensors of other shapes are errors; so are
    trainable parameters the checkpoint does not provide. Frozen parameters
    (the pretrained CLIP towers) may be absent: they come from
    ``pretrained``.

    Args:
        model (nn.Module): The recognizer (unwrapped).
        state_dict (Mapping): Converted weights.
        method (str): Key of :data:`OFFICIAL_FORMATS` of the source.
    """
    title = OFFICIAL_FORMATS[method].title
    own = model.state_dict()
    unexpected = sorted(k for k in state_dict if k not in own)
    if unexpected:
        raise ValueError(
            f'An official {title} checkpoint does not fit this model: '
            f'{len(unexpected)} of its tensors have no place in it (e.g. '
            f'{unexpected[:3]}): it is for another method, or for a '
            f'{title} model with more layers. Use the {title} config it was '
            f'trained with.')
    shapes = [
        f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}'
        for k, v in state_dict.items() if tuple(v.shape) != tuple(own[k].shape)
    ]
    if shapes:
        raise ValueError(
            f'The official {title} checkpoint is for another model size; '
            f'{len(shapes)} tensor(s) have other shapes:\n  ' +
            '\n  '.join(shapes[:10]) + '\nUse the config of its row in the '
            'model zoo (backbone, frames, classes).')
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    missing = sorted(n for n in trainable if n not in state_dict)
    if missing:
        raise ValueError(
            f'The official {title} checkpoint lacks {len(missing)} trainable '
            f'tensor(s) of this model (e.g. {missing[:3]}); it was trained '
            f'with another configuration (e.g. fewer decoder layers or '
            f'temporal modules switched off).')
