"""Describe the machine a benchmark ran on."""
import os
import platform
from typing import Any, Dict, Optional


def _cpu_model(cpuinfo: str = '/proc/cpuinfo') -> str:
    try:
        with open(cpuinfo, encoding='utf-8', errors='replace') as f:
            for line in f:
                key, _, value = line.partition(':')
                if key.strip() in ('model name', 'Model', 'Processor'):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or 'unknown'


def _ram_gib(meminfo: str = '/proc/meminfo') -> Optional[float]:
    try:
        with open(meminfo, encoding='ascii') as f:
            for line in f:
                if line.startswith('MemTotal:'):
                    return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError):
        pass
    return None


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def machine_info() -> Dict[str, Any]:
    """CPU model, cores, RAM, GPU and software versions of this machine.

    Returns:
        dict: ``cpu``, ``cores`` (usable by this process), ``ram_gib``,
        ``gpu`` (None without CUDA), ``torch``, ``python``, ``platform``.
    """
    import torch
    gpu = None
    if torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(0)
    return dict(
        cpu=_cpu_model(),
        cores=usable_cores(),
        ram_gib=_ram_gib(),
        gpu=gpu,
        torch=torch.__version__,
        python=platform.python_version(),
        platform=platform.platform(terse=True))
