"""Interleaved measurement rounds and the statistics over them.

On a shared CPU a slow phase of the machine should not always hit the same
method: :func:`interleaved_orders` rotates the run order from round to
round, and :func:`median_spread` summarises each method's per-round values.
The load around each run is recorded by
:class:`~dist_plugin.analysis.load_monitor.LoadMonitor`.
"""
import statistics
from typing import Any, Dict, Iterable, List, Optional, Sequence


def interleaved_orders(names: Iterable[Any], rounds: int) -> List[List[Any]]:
    """The run order of ``names`` in each round, rotated by one per round
    (A B C, B C A, C A B, A B C, ...), so that a drift of the machine's
    speed affects every name alike."""
    names = list(names)
    n = len(names)
    if n == 0:
        return [[] for _ in range(rounds)]
    return [names[r % n:] + names[:r % n] for r in range(rounds)]


def median_spread(values: Sequence[Optional[float]]) -> Dict[str, Any]:
    """Median, min, max and count ``n`` of per-round values (None values
    skipped) and the spread ``(max - min) / median``; None statistics and
    ``n=0`` when no value is left."""
    values = [v for v in values if v is not None]
    if not values:
        return dict(median=None, min=None, max=None, spread=None, n=0)
    med = statistics.median(values)
    return dict(
        median=med, min=min(values), max=max(values),
        spread=(max(values) - min(values)) / med if med else 0.,
        n=len(values))
