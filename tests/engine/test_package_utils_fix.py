"""mmengine resolves ``mmaction::`` config bases without pkg_resources
(setuptools >= 82; open-mmlab/mmengine PR #1676).

The environment installed per the README has ``setuptools<82``; the test
hides ``pkg_resources`` (as setuptools >= 82 does) so that it runs in both.
"""
import importlib.util
import os.path as osp
import sys

import mmengine
import pytest
from mmengine.config import Config

from dist_plugin.upstream_fixes import package_utils_importlib as fix


def _pristine_package_utils():
    """A fresh copy of mmengine's own module, untouched by the fix."""
    path = osp.join(osp.dirname(mmengine.__file__), 'utils',
                    'package_utils.py')
    spec = importlib.util.spec_from_file_location('_pristine_pkg_utils', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def without_pkg_resources(monkeypatch):
    """``import pkg_resources`` fails, as with setuptools >= 82."""
    monkeypatch.setitem(sys.modules, 'pkg_resources', None)
    assert fix.pkg_resources_missing()
    # what fix.apply() does, undone after the test
    for name in fix._PATCHED_MODULES:
        module = sys.modules.get(name)
        for attr in ('is_installed', 'get_installed_path'):
            if module is not None and hasattr(module, attr):
                monkeypatch.setattr(module, attr, getattr(fix, attr))


def test_upstream_fails_and_the_fix_resolves_mmaction_bases(
        tmp_path, without_pkg_resources):
    upstream = _pristine_package_utils()
    with pytest.raises(ModuleNotFoundError, match='pkg_resources'):
        upstream.is_installed('mmaction2')
    assert fix.is_installed('mmaction2')
    assert not fix.is_installed('surely_not_a_package_name')
    path = fix.get_installed_path('mmaction2')
    assert osp.basename(path) == 'mmaction'
    assert osp.isfile(osp.join(path, '.mim', 'configs', '_base_',
                               'default_runtime.py'))
    config = tmp_path / 'child.py'
    config.write_text("_base_ = ['mmaction::_base_/default_runtime.py']\n")
    cfg = Config.fromfile(str(config))
    assert cfg.default_scope == 'mmaction'
