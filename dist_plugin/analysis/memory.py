"""Peak-memory probes for one process: CUDA allocator or CPU resident set."""
import resource
import sys
from typing import Dict, Optional

import torch

_CLEAR_REFS = '/proc/self/clear_refs'
_STATUS = '/proc/self/status'


def _status_kib() -> Dict[str, int]:
    """``VmRSS`` / ``VmHWM`` of this process in KiB (Linux only)."""
    values = {}
    try:
        with open(_STATUS, encoding='ascii') as f:
            for line in f:
                key, _, rest = line.partition(':')
                if key in ('VmRSS', 'VmHWM'):
                    values[key] = int(rest.split()[0])
    except OSError:
        pass
    return values


def _maxrss_kib() -> int:
    """Peak resident set of this process in KiB (bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == 'darwin' else peak


class PeakMemoryMeter:
    """Peak memory of a code region above the memory held when it starts.

    On CUDA: ``torch.cuda.max_memory_allocated`` after
    ``reset_peak_memory_stats``. On the CPU: the process's peak resident set
    (``VmHWM``, reset through ``/proc/self/clear_refs``) minus the resident
    set at :meth:`start`. Where the peak cannot be reset, ``ru_maxrss`` is
    used; it then only counts growth beyond every earlier peak of the process,
    so run each measured model in its own process.

    Args:
        device (torch.device | str): The device whose memory is measured.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = torch.device(device)
        self.method: Optional[str] = None
        self._baseline = 0

    def start(self) -> None:
        """Mark the baseline and reset the peak."""
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._baseline = torch.cuda.memory_allocated(self.device)
            self.method = 'torch.cuda.max_memory_allocated'
            return
        try:
            with open(_CLEAR_REFS, 'w', encoding='ascii') as f:
                f.write('5')  # resets VmHWM to the current VmRSS
            status = _status_kib()
            if 'VmRSS' in status and 'VmHWM' in status:
                self._baseline = status['VmRSS'] * 1024
                self.method = 'VmHWM (reset) - VmRSS at start'
                return
        except OSError:
            pass
        self._baseline = _maxrss_kib() * 1024
        self.method = 'ru_maxrss growth'

    def baseline_bytes(self) -> int:
        """Memory held at :meth:`start`."""
        return self._baseline

    def peak_bytes(self) -> int:
        """Peak since :meth:`start`, above the baseline."""
        if self.method is None:
            raise RuntimeError('Call start() first.')
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        elif self.method.startswith('VmHWM'):
            peak = _status_kib()['VmHWM'] * 1024
        else:
            peak = _maxrss_kib() * 1024
        return max(peak - self._baseline, 0)
