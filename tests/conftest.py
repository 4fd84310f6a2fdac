import os.path as osp
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO_ROOT, 'tests'))

import dist_plugin  # noqa: E402,F401  (applies upstream fixes, registers)
from mmengine.registry import init_default_scope  # noqa: E402

init_default_scope('mmaction')


@pytest.fixture(autouse=True)
def _mmaction_scope():
    init_default_scope('mmaction')
    yield
