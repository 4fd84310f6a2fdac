"""Stand-in for the ``mmaction.models.localizers.drn`` package (item 1).

Upstream defect: open-mmlab/mmaction2 issue #2714 (open). The folder
``mmaction/models/localizers/drn/`` has no ``__init__.py``, so the 1.2.0
wheel and sdist leave it out, while ``mmaction/models/localizers/__init__.py``
still runs ``from .drn.drn import DRN``. ``import mmaction.models`` (which
mmengine's Runner triggers through the ``mmaction`` registry scope) then fails
with ``No module named 'mmaction.models.localizers.drn'``.

Fix: when the folder is absent, put a package stand-in and a module stand-in
in ``sys.modules`` before anything imports ``mmaction.models``. The stand-in
``DRN`` is registered under the real name and raises a clear error when built.
A source install of mmaction2 that ships the folder is left untouched.
"""
import importlib.machinery
import importlib.util
import os.path as osp
import sys
import types

DRN_PACKAGE = 'mmaction.models.localizers.drn'
DRN_MODULE = DRN_PACKAGE + '.drn'
UPSTREAM_ISSUE = 'https://github.com/open-mmlab/mmaction2/issues/2714'


class DRN:
    """Stand-in for mmaction2's DRN localizer, missing from the 1.2.0 wheel.

    Building it raises ``RuntimeError`` that names the upstream issue.
    """

    def __init__(self, *args, **kwargs) -> None:
        raise RuntimeError(
            'DRN is not available: the mmaction2 1.2.0 package ships without '
            "'mmaction/models/localizers/drn' (see "
            f'{UPSTREAM_ISSUE}). dist_plugin installed a stand-in so that '
            'the rest of mmaction.models imports; install mmaction2 from '
            'source to use DRN.')


def real_drn_folder_present() -> bool:
    """Whether the installed mmaction2 ships ``models/localizers/drn/``.

    Returns:
        bool: True when the folder exists (a source install), else False.
    """
    spec = importlib.util.find_spec('mmaction')
    if spec is None or not spec.submodule_search_locations:
        return False
    return any(
        osp.isdir(osp.join(root, 'models', 'localizers', 'drn'))
        for root in spec.submodule_search_locations)


def _new_module(name: str, is_package: bool) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(
        name, loader=None, is_package=is_package)
    if is_package:
        module.__path__ = []
    return module


def apply() -> bool:
    """Install the stand-ins when they are needed.

    Returns:
        bool: True when the stand-ins are (now) in ``sys.modules``.
    """
    if sys.modules.get(DRN_MODULE) is not None:
        return getattr(sys.modules[DRN_MODULE], 'DRN', None) is DRN
    if ('mmaction.models.localizers' in sys.modules
            or real_drn_folder_present()):
        # Too late (already imported) or not needed (source install).
        return False
    package = _new_module(DRN_PACKAGE, is_package=True)
    module = _new_module(DRN_MODULE, is_package=False)
    module.DRN = DRN
    package.drn = module
    sys.modules[DRN_PACKAGE] = package
    sys.modules[DRN_MODULE] = module

    from mmaction.registry import MODELS
    if 'DRN' not in MODELS.module_dict:
        MODELS.register_module(name='DRN', module=DRN)
    return True
