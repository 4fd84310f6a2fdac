"""numpy 2: names removed from numpy that mmaction2 1.2.0 still uses (item 3).

Upstream defect: numpy 2 removed ``np.Inf`` (NumPy 2.0 release notes, NEP 52,
https://numpy.org/neps/nep-0052-python-api-cleanup.html); numpy 2.4 removed
the deprecated ``np.trapz`` and ``np.in1d``. mmaction2 1.2.0 uses them in
``PoseCompact``/``MMCompact`` and ``utils/misc.frame_extract`` (``np.Inf``),
``evaluation/functional/accuracy`` used by ``ANetMetric`` (``np.trapz``) and
``RetrievalRecall`` (``np.in1d``); calling them raises ``AttributeError``.

Fix (chosen over adding attributes to numpy itself): the ``np`` global of
exactly those four mmaction modules is replaced by a read-through view of
numpy that adds only the missing names. numpy and every other module are
untouched; with numpy 1 nothing is missing and nothing is patched.
"""
import importlib
import types
from typing import Dict, Tuple

import numpy


def _in1d(ar1, ar2, assume_unique: bool = False,
          invert: bool = False) -> numpy.ndarray:
    """``np.in1d`` semantics: flattened ``np.isin``."""
    return numpy.isin(
        numpy.asarray(ar1).ravel(), ar2, assume_unique=assume_unique,
        invert=invert)


#: Removed name -> replacement with the same behaviour.
REPLACEMENTS: Dict[str, object] = {
    'Inf': numpy.inf,
    'trapz': getattr(numpy, 'trapezoid', None),
    'in1d': _in1d,
}

#: mmaction module -> removed numpy names it uses.
MMACTION_USERS: Dict[str, Tuple[str, ...]] = {
    'mmaction.datasets.transforms.pose_transforms': ('Inf', ),
    'mmaction.utils.misc': ('Inf', ),
    'mmaction.evaluation.functional.accuracy': ('trapz', ),
    'mmaction.evaluation.metrics.multimodal_metric': ('in1d', ),
}


class NumpyWithAliases(types.ModuleType):
    """numpy seen through a module that also defines a few removed names.

    Args:
        aliases (dict): Names to define on top of numpy.
    """

    def __init__(self, aliases: Dict[str, object]) -> None:
        super().__init__(numpy.__name__, numpy.__doc__)
        self.__dict__.update(aliases)

    def __getattr__(self, name: str):
        return getattr(numpy, name)

    def __dir__(self):
        return sorted(set(dir(numpy)) | set(self.__dict__))


def missing_names() -> Dict[str, object]:
    """The removed names that this numpy lacks, with their replacements."""
    return {
        name: value
        for name, value in REPLACEMENTS.items()
        if not hasattr(numpy, name) and value is not None
    }


def apply() -> bool:
    """Give the four mmaction modules a numpy view with the removed names.

    Returns:
        bool: True when at least one module was patched or already was.
    """
    aliases = missing_names()
    if not aliases:
        return False
    view = None
    for module_name, names in MMACTION_USERS.items():
        needed = {n: aliases[n] for n in names if n in aliases}
        if not needed:
            continue
        module = importlib.import_module(module_name)
        if isinstance(module.np, NumpyWithAliases):
            continue
        if view is None:
            view = NumpyWithAliases(aliases)
        module.np = view
    return True
