"""One figure from a benchmark: printed, and kept for `benchmarks/results.py` when it asks.

`results.py` sets YOTQA_BENCH_RESULTS to a file; each figure is appended to it as a JSON line
(name, value, unit, target, the database and a note), so RESULTS.md is written from what the
benchmarks measured in that run, never typed by hand. Also what more than one benchmark
measures the same way: peak memory, and work timed in a pool of worker processes.
"""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_worker_processes(
    work: Callable[[Job], Result], jobs: list[Job], workers: int
) -> tuple[list[Result], float]:
    """`work` done for every job in a pool of `workers` processes: the results, in the jobs'
    order, and the wall-clock seconds the whole pool took."""
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(work, jobs))
    return results, time.perf_counter() - started


def record(
    name: str,
    value: float,
    unit: str,
    *,
    target: float | None = None,
    database: str = "",
    note: str = "",
) -> None:
    path = os.environ.get("YOTQA_BENCH_RESULTS")
    if not path:
        return
    line = {
        "name": name,
        "value": round(value, 3),
        "unit": unit,
        "target": target,
        "database": database,
        "note": note,
    }
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")
