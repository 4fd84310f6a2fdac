"""TDS-CLIP (2024) as MMAction2 components: the side network, its head and
the windowed frame sampler. Configs import it with ``custom_imports =
dict(imports=['dist_plugin', 'dist_plugin_projects.tds_clip'])``.
"""
from . import datasets, models  # noqa: F401

__all__ = ['datasets', 'models']
