"""Record the machine's load around a measured run and flag competition.

On a 2-core machine a training step measured while other processes run can
be several times slower than on a quiet one, so every timed run carries the
load seen before, during and after it, and a ``competing`` flag.
"""
import os
import statistics
import threading
import time
from typing import Any, Dict, List, Optional

_LOADAVG = '/proc/loadavg'
_STAT = '/proc/stat'


def read_load(loadavg: str = _LOADAVG, stat: str = _STAT) -> Dict[str, Any]:
    """One sample of the system load.

    Args:
        loadavg (str): Path of ``/proc/loadavg``.
        stat (str): Path of ``/proc/stat``.

    Returns:
        dict: ``load1``, ``load5`` (load averages; ``os.getloadavg`` where
        ``/proc`` is missing) and ``procs_running`` (threads runnable right
        now, this sampler included; None where unknown).
    """
    try:
        with open(loadavg, encoding='ascii') as f:
            fields = f.read().split()
        load1, load5 = float(fields[0]), float(fields[1])
    except (OSError, ValueError, IndexError):
        load1, load5 = os.getloadavg()[:2]
    running = None
    try:
        with open(stat, encoding='ascii') as f:
            for line in f:
                if line.startswith('procs_running'):
                    running = int(line.split()[1])
                    break
    except (OSError, ValueError, IndexError):
        pass
    return dict(load1=load1, load5=load5, procs_running=running)


class LoadMonitor:
    """Sample the load in a background thread while a run is measured.

    The parent process of the measured worker runs this monitor and itself
    sleeps, so a sample of ``procs_running`` counts the sampling thread (1),
    the worker's compute threads (at most ``own_threads``) and every other
    runnable thread on the machine. ``others = procs_running - 1 -
    own_threads`` (at least 0) is the competition; the run is flagged when
    the median of ``others`` over the run reaches ``max_others``, or when
    the 1-minute load average before the run reaches ``max_load_before``.

    Args:
        own_threads (int): Compute threads of the measured worker.
        interval_s (float): Seconds between samples. Defaults to 0.5.
        max_others (float): Median competing runnable threads that flag
            the run. Defaults to 1.0.
        max_load_before (float): 1-minute load average before the run that
            flags it. Defaults to 1.0.
    """

    def __init__(self,
                 own_threads: int,
                 interval_s: float = 0.5,
                 max_others: float = 1.0,
                 max_load_before: float = 1.0) -> None:
        if own_threads < 1:
            raise ValueError(f'own_threads must be >= 1, got {own_threads}')
        self.own_threads = own_threads
        self.interval_s = interval_s
        self.max_others = max_others
        self.max_load_before = max_load_before
        self._samples: List[Dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._before: Optional[Dict[str, Any]] = None

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._samples.append(read_load())

    def start(self) -> None:
        """Take the ``before`` sample and start sampling."""
        self._before = read_load()
        self._samples = []
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> Dict[str, Any]:
        """Stop sampling; the record of the run.

        Returns:
            dict: ``before`` / ``after`` samples, ``during`` (``load1_max``,
            ``procs_running_median`` / ``_max``, ``others_median`` /
            ``_max``, ``samples``), the thresholds and ``competing`` (bool)
            with ``reasons``.
        """
        if self._thread is None or self._before is None:
            raise RuntimeError('LoadMonitor.stop() called before start()')
        self._stop.set()
        self._thread.join()
        self._thread = None
        after = read_load()
        running = [s['procs_running'] for s in self._samples
                   if s['procs_running'] is not None]
        others = [max(r - 1 - self.own_threads, 0) for r in running]
        during = dict(
            samples=len(self._samples),
            load1_max=max((s['load1'] for s in self._samples), default=None),
            procs_running_median=statistics.median(running)
            if running else None,
            procs_running_max=max(running, default=None),
            others_median=statistics.median(others) if others else None,
            others_max=max(others, default=None))
        reasons = []
        if self._before['load1'] >= self.max_load_before:
            reasons.append(f"load average before {self._before['load1']:.2f}"
                           f' >= {self.max_load_before}')
        if others and during['others_median'] >= self.max_others:
            reasons.append(
                f"median {during['others_median']} other runnable threads "
                f'>= {self.max_others}')
        return dict(
            before=self._before,
            during=during,
            after=after,
            own_threads=self.own_threads,
            max_others=self.max_others,
            max_load_before=self.max_load_before,
            competing=bool(reasons),
            reasons=reasons)


def wait_until_quiet(max_load: float, timeout_s: float,
                     poll_s: float = 5.0) -> Dict[str, Any]:
    """Wait (up to ``timeout_s``) for the 1-minute load to drop below
    ``max_load``.

    Args:
        max_load (float): Load average to wait for.
        timeout_s (float): Longest wait in seconds (0: do not wait).
        poll_s (float): Seconds between checks. Defaults to 5.

    Returns:
        dict: ``waited_s`` and ``quiet`` (whether the load dropped).
    """
    start = time.monotonic()
    while True:
        load = read_load()['load1']
        waited = time.monotonic() - start
        if load < max_load:
            return dict(waited_s=waited, quiet=True)
        if waited >= timeout_s:
            return dict(waited_s=waited, quiet=False)
        time.sleep(poll_s)
