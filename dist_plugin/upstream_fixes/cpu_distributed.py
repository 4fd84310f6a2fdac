"""CPU distributed training with mmengine 0.10.7 (item 7).

Upstream defects (mmengine 0.10.7): with ``launcher='pytorch'`` and no GPU,
``mmengine.dist.utils._init_dist_pytorch`` always calls
``torch.cuda.set_device`` (RuntimeError: no NVIDIA driver), and
``Runner.wrap_model`` always passes ``device_ids=[LOCAL_RANK]`` to DDP, which
DDP rejects for a CPU module (see open-mmlab/mmengine PR #973 for where both
values come from). No upstream fix exists.

Fix: when ``RANK`` is set (torchrun) and CUDA is unavailable, initialise the
``gloo`` process group before the Runner is built (``Runner.setup_env`` then
skips its own ``init_dist``) and give the DDP wrapper ``device_ids=None``.
"""
import copy
import datetime
import os
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.logging import print_log

DDP_WRAPPER = 'MMDistributedDataParallel'


def needs_cpu_distributed(launcher: str) -> bool:
    """Whether the run is a distributed launch on a machine without CUDA.

    Args:
        launcher (str): The job launcher: ``'none'``, ``'pytorch'``, ...

    Returns:
        bool: True for a distributed launch (``RANK`` set) without CUDA.
    """
    return (launcher != 'none' and 'RANK' in os.environ
            and not torch.cuda.is_available())


def _is_ddp_wrapper(wrapper_type) -> bool:
    from mmengine.registry import MODEL_WRAPPERS
    from torch.nn.parallel import DistributedDataParallel
    cls = (MODEL_WRAPPERS.get(wrapper_type)
           if isinstance(wrapper_type, str) else wrapper_type)
    return isinstance(cls, type) and issubclass(cls, DistributedDataParallel)


def cpu_model_wrapper_cfg(cfg: Config) -> dict:
    """The DDP wrapper config for CPU ranks (``device_ids=None``).

    Keeps a user's ``model_wrapper_cfg``; otherwise uses mmengine's defaults
    (``broadcast_buffers=False`` and the config's ``find_unused_parameters``).

    Args:
        cfg (Config): The run config.

    Returns:
        dict: The model wrapper config to use.
    """
    wrapper_cfg: Optional[dict] = cfg.get('model_wrapper_cfg', None)
    if wrapper_cfg is None:
        wrapper_cfg = dict(
            type=DDP_WRAPPER,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    else:
        wrapper_cfg = copy.deepcopy(dict(wrapper_cfg))
        wrapper_cfg.setdefault('type', DDP_WRAPPER)
    if _is_ddp_wrapper(wrapper_cfg['type']):
        wrapper_cfg['device_ids'] = None
    return wrapper_cfg


def setup_cpu_distributed(cfg: Config, launcher: str) -> bool:
    """Prepare a CPU distributed run before ``Runner.from_cfg(cfg)``.

    Initialises the ``gloo`` process group from the torchrun environment
    (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``) and sets
    ``cfg.model_wrapper_cfg`` so that DDP gets ``device_ids=None``. Does
    nothing when CUDA is available or the launch is not distributed.

    Args:
        cfg (Config): The run config; ``model_wrapper_cfg`` is updated.
        launcher (str): The job launcher passed to the Runner.

    Returns:
        bool: True when the CPU set-up was applied.
    """
    if not needs_cpu_distributed(launcher):
        return False
    if not dist.is_initialized():
        dist_cfg = cfg.get('env_cfg', {}).get('dist_cfg', {}) or {}
        kwargs = dict(backend='gloo')
        if dist_cfg.get('timeout') is not None:
            kwargs['timeout'] = datetime.timedelta(
                seconds=dist_cfg['timeout'])
        dist.init_process_group(**kwargs)
    cfg.model_wrapper_cfg = cpu_model_wrapper_cfg(cfg)
    print_log(
        f'CPU distributed run: gloo rank {dist.get_rank()}/'
        f'{dist.get_world_size()}, DDP device_ids=None', logger='current')
    return True
