"""One figure from a benchmark: printed, and kept for `benchmarks/results.py` when it asks.

`results.py` sets YOTQA_BENCH_RESULTS to a file; each figure is appended to it as a JSON line
(name, value, unit, target, the database and a note), so RESULTS.md is written from what the
benchmarks measured in that run, never typed by hand.
"""

from __future__ import annotations

import json
import os
import resource


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
