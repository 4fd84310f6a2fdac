"""Interleaved measurement rounds and the machine load around each one.

On a shared CPU a timing says little unless it is known what else ran.
:class:`LoadMonitor` samples the 1-minute load average before, during and
after a measurement and flags it as contended when more runnable processes
than usable cores were seen; :func:`interleaved_orders` alternates the order
of the measured methods from round to round, so that a slow phase of the
machine does not always hit the same method.
"""
import os
import statistics
import threading
from typing import Any, Dict, List, Optional, Sequence

from .machine import usable_cores


class LoadMonitor:
    """Samples ``os.getloadavg()[0]`` around a measurement.

    Use as a context manager::

        with LoadMonitor() as load:
            measure()
        load.record()  # {'before': .., 'during_max': .., ...}

    Args:
        interval (float): Seconds between samples during the measurement.
            Defaults to 1.
        own_processes (float): Runnable processes the measurement itself
            adds (its threads); the run is contended when the load exceeds
            the usable cores by more than what it adds. Defaults to the
            usable cores (a measurement that uses every core).
    """

    def __init__(self, interval: float = 1.,
                 own_processes: Optional[float] = None) -> None:
        self.interval = interval
        self.cores = usable_cores()
        self.own = self.cores if own_processes is None else own_processes
        self.before: Optional[float] = None
        self.after: Optional[float] = None
        self.samples: List[float] = []
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> 'LoadMonitor':
        self.before = os.getloadavg()[0]
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.after = os.getloadavg()[0]

    def record(self) -> Dict[str, Any]:
        """Load before / during (max, mean) / after and the verdict."""
        during = self.samples or [self.after]
        peak = max([self.before, self.after] + during)
        return dict(
            before=self.before,
            during_max=max(during),
            during_mean=statistics.fmean(during),
            after=self.after,
            cores=self.cores,
            contended=is_contended(peak, self.cores, self.own))


def is_contended(load: float, cores: int, own_processes: float) -> bool:
    """Whether a 1-minute load of ``load`` means other processes competed
    with a measurement that itself keeps ``own_processes`` busy.

    The load average lags (1-minute decay), so this flags sustained
    competition, not a short burst.
    """
    others = load - min(own_processes, cores)
    return others > 0.5 * cores


def interleaved_orders(names: Sequence[str],
                       rounds: int) -> List[List[str]]:
    """The order of ``names`` in each round: as given in even rounds,
    reversed in odd ones (A B C, C B A, A B C, ...)."""
    names = list(names)
    return [names if r % 2 == 0 else names[::-1] for r in range(rounds)]


def median_spread(values: Sequence[float]) -> Dict[str, float]:
    """Median, min and max of per-round values, and the spread
    ``(max - min) / median``."""
    values = list(values)
    med = statistics.median(values)
    return dict(
        median=med, min=min(values), max=max(values),
        spread=(max(values) - min(values)) / med if med else 0.)
