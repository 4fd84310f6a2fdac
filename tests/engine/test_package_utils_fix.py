"""mmengine resolves ``mmaction::`` config bases without pkg_resources
(setuptools >= 82; open-mmlab/mmengine PR #1676)."""
import importlib.util
import os.path as osp

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


@pytest.mark.skipif(not fix.pkg_resources_missing(),
                    reason='pkg_resources present: upstream works here')
def test_upstream_fails_and_the_fix_resolves_mmaction_bases(tmp_path):
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
