"""The benchmarks' process pool: worker processes started fresh, never forked.

A fork copies a process mid-flight: when the parent already runs Ray's threads or has used an
OpenMP thread pool (torch in GPSampler), a lock held at that moment stays held in the child and
the child can wait on it forever. The suite's worker processes do both, and a forked pool hung a
CI run that way (test_benchmarks, oldest pins, 2026-12-05). ``spawn`` starts each worker as a new
interpreter with the parent's ``sys.path``, so it costs an import of the benchmark per worker.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Optional


def process_pool(processes: int, initializer: Optional[Callable[[], None]] = None) -> ProcessPoolExecutor:
    """``processes`` fresh worker processes, each running ``initializer`` once first."""
    return ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("spawn"),
                               initializer=initializer)
