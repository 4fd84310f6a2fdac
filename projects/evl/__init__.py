"""EVL (ECCV 2022) on dist_plugin's shared CLIP video backbone.

Importing it registers :class:`EVLDecoder` and :class:`EVLHead` in
MMAction2's registry; configs do that with
``custom_imports = dict(imports=['dist_plugin', 'dist_plugin_projects.evl'])``.
"""
import dist_plugin  # noqa: F401  (upstream fixes, shared backbone)

from .models import *  # noqa: F401,F403
