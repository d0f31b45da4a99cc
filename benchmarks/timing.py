"""What the benchmarks share: the timing rule, CPU time, and one process per measurement.

The timing rule: a warm-up call, then the median of repeats.

The median, not the mean, because a 2-core machine's stray background work shows up as a
few slow repeats that would drag a mean; the warm-up keeps first-call allocation and
thread-pool start-up out of the figure.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
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


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far (all threads).

    On a loaded machine wall time measures the queue as much as the work; CPU time
    per image is the figure least disturbed by other processes.
    """
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_worker(cmd: list[str], threads: int | None = None) -> dict:
    """Run one measurement in a fresh Python process and return its last stdout line,
    decoded as JSON.

    A process per measurement because allocator settings and thread pools are
    process-wide and a fresh process gives every side the same starting heap.
    ``threads`` also sets ``OMP_NUM_THREADS`` (read when torch and BLAS start).
    A failing worker raises ``RuntimeError`` carrying the last line of its stderr.
    """
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = str(threads)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"worker {' '.join(cmd[1:3])} failed (exit {out.returncode}): "
                           f"{tail}")
    return json.loads(out.stdout.strip().splitlines()[-1])
