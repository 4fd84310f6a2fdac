"""mmengine 0.10.7 resolves ``mmaction::`` config bases with
``pkg_resources``, which setuptools >= 82 no longer ships:
``Config.fromfile`` of any config inheriting ``'mmaction::...'`` fails with
``No module named 'pkg_resources'``.

Upstream: open-mmlab/mmengine PR #1676 (replace pkg_resources with
importlib), merged after 0.10.7; see also open-mmlab/mmcv issue #3325.
Fix: when ``pkg_resources`` is missing, give mmengine importlib-based
``is_installed`` / ``get_installed_path`` (same contract).
"""
import importlib.util
import os.path as osp
from importlib import metadata

_PATCHED_MODULES = ('mmengine.utils.package_utils', 'mmengine.utils',
                    'mmengine.config.config', 'mmengine.hub.hub')


def pkg_resources_missing() -> bool:
    """Whether ``import pkg_resources`` fails in this environment."""
    return importlib.util.find_spec('pkg_resources') is None


def is_installed(package: str) -> bool:
    """Whether a distribution or an importable module named ``package``
    exists."""
    try:
        metadata.distribution(package)
        return True
    except metadata.PackageNotFoundError:
        spec = importlib.util.find_spec(package)
        return spec is not None and spec.origin is not None


def get_installed_path(package: str) -> str:
    """Directory of the installed module of ``package`` (e.g. ``mmaction``
    for ``mmaction2``)."""
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        top_level = dist.read_text('top_level.txt')
        names = top_level.split() if top_level else [package]
        for name in names:
            spec = importlib.util.find_spec(name)
            if spec is not None and spec.origin is not None:
                return osp.dirname(spec.origin)
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise RuntimeError(f'{package} is not installed')
    return osp.dirname(spec.origin)


def apply() -> bool:
    """Install the importlib versions where mmengine looks them up."""
    if not pkg_resources_missing():
        return False
    import sys
    import mmengine.config.config  # noqa: F401
    import mmengine.hub.hub  # noqa: F401
    for name in _PATCHED_MODULES:
        module = sys.modules.get(name)
        if module is None:
            continue
        if hasattr(module, 'is_installed'):
            module.is_installed = is_installed
        if hasattr(module, 'get_installed_path'):
            module.get_installed_path = get_installed_path
    return True
