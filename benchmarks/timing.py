"""The one timing rule the benchmarks share: a warm-up call, then the median of repeats.

The median, not the mean, because a 2-core machine's stray background work shows up as a
few slow repeats that would drag a mean; the warm-up keeps first-call allocation and
thread-pool start-up out of the figure.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_time(fn: Callable[[], object], repeats: int,
                clock: Callable[[], float] = time.perf_counter) -> float:
    """Median seconds of ``repeats`` calls of ``fn`` after one untimed call."""
    fn()
    times = []
    for _ in range(repeats):
        t = clock()
        fn()
        times.append(clock() - t)
    return statistics.median(times)
