"""Workarounds for defects of the upstream stack (mmaction2 1.2.0, mmengine
0.10.7) on current torch / numpy, items 1-9 of ``docs/upstream-compat.md``.

Each module fixes one defect as narrowly as possible and names the upstream
issue. :func:`apply_all` installs them; it is idempotent and must run before
anything imports ``mmaction.models`` (``import dist_plugin`` calls it).

- item 1 ``drn_standin``: stand-in for mmaction's missing ``localizers/drn``.
- item 2 ``importlib_metadata``: a declared dependency in ``setup.py``.
- item 3 ``numpy2_color_jitter``, ``numpy2_removed_aliases``: numpy 2.
- item 4 ``bf16_head_scores``: bfloat16 scores in ``BaseHead``.
- item 5 ``tools/dist_train.sh`` uses ``torchrun``.
- item 6 ``safe_checkpoint``: ``weights_only=True`` with an allow-list.
- item 7 ``cpu_distributed``: gloo + ``device_ids=None`` without CUDA.
- item 8 ``cpu_amp_optim_wrapper``: ``CPUAwareAmpOptimWrapper``.
- item 9 ``package_utils_importlib``: ``mmaction::`` config bases without
  ``pkg_resources`` (setuptools >= 82; mmengine PR #1676), for environments
  that lack it despite ``setup.py``'s ``setuptools<82``; our own configs
  need no ``pkg_resources`` at all.
- ``decord_pyav_fallback``: PyAV decodes the frame widths decord 0.6 cannot
  (dmlc/decord#336) inside mmaction's ``DecordDecode`` step.
- ``process_group_exit``: the default process group is destroyed at exit, so
  gloo ranks do not abort while the interpreter shuts down
  (pytorch/pytorch#190489).
"""
from typing import Dict

from . import (bf16_head_scores, decord_pyav_fallback, drn_standin,
               numpy2_color_jitter, numpy2_removed_aliases,
               package_utils_importlib, process_group_exit,
               safe_checkpoint)
from .cpu_amp_optim_wrapper import CPUAwareAmpOptimWrapper
from .cpu_distributed import needs_cpu_distributed, setup_cpu_distributed
from .safe_checkpoint import (allow_checkpoint_globals,
                              checkpoint_safe_globals, safe_torch_load)

# Order matters: the drn stand-in must exist before the other fixes import
# mmaction.models (through mmaction.datasets / mmaction.models.heads).
_FIXES = (
    ('drn_standin', drn_standin.apply),
    ('numpy2_removed_aliases', numpy2_removed_aliases.apply),
    ('numpy2_color_jitter', numpy2_color_jitter.apply),
    ('bf16_head_scores', bf16_head_scores.apply),
    ('safe_checkpoint', safe_checkpoint.apply),
    ('package_utils_importlib', package_utils_importlib.apply),
    ('decord_pyav_fallback', decord_pyav_fallback.apply),
    ('process_group_exit', process_group_exit.apply),
)
_STATUS: Dict[str, bool] = {}


def apply_all() -> Dict[str, bool]:
    """Install every fix once; later calls return the recorded status.

    Returns:
        dict: Fix name -> whether it is active (False when not needed, e.g.
        a source install of mmaction2 that has ``drn`` or numpy 1).
    """
    if not _STATUS:
        for name, apply in _FIXES:
            _STATUS[name] = bool(apply())
    return dict(_STATUS)


__all__ = [
    'apply_all', 'safe_torch_load', 'allow_checkpoint_globals',
    'checkpoint_safe_globals', 'setup_cpu_distributed',
    'needs_cpu_distributed', 'CPUAwareAmpOptimWrapper'
]
