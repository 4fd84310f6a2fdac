"""DiST (ICCV 2023) as MMAction2 components.

Importing the package first absorbs the known defects of the upstream stack
(:mod:`dist_plugin.upstream_fixes`), then registers every component in
MMAction2's registries. Configs pull it in with
``custom_imports = dict(imports=['dist_plugin'])``.
"""
from .upstream_fixes import apply_all as _apply_upstream_fixes

_apply_upstream_fixes()

from . import (apis, checkpoint, datasets, engine, evaluation,  # noqa: E402
               models)

__version__ = '0.1.0'
__all__ = [
    'apis', 'checkpoint', 'datasets', 'engine', 'evaluation', 'models',
    '__version__'
]
