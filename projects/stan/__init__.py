"""STAN (CVPR 2023) on dist_plugin's shared CLIP video backbone."""
from . import models  # noqa: F401
