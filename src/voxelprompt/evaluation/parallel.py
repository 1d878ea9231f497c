"""Evaluation cases spread over worker processes, each given its share of the CPU cores.

Scoring a case is mostly registration and network passes that use few threads well: on 2 cores
two single-threaded cases at a time finish sooner than one case on two threads. ``score_cases``
runs ``task(engine, item)`` for every item, in order, either here (``jobs`` 1) or in ``jobs``
fresh processes (started by *spawn*, so no thread pool is copied half-started), each of which
builds its own engine once with ``engine_factory`` and limits ITK, PyTorch and BLAS to its share
of the cores. Results come back in the order of ``items`` whatever order the workers finish in.

A worker left with one thread registers single-threaded, as ``voxelprompt --deterministic``
does, so its registrations are bit-identical to a deterministic run in one process (and in the
tests and benchmarks every score of 1 and 2 jobs agreed, bit for bit).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from voxelprompt.engines import Engine
from voxelprompt.engines.atlas import REPRODUCIBLE_THREADS
from voxelprompt.errors import VoxelPromptError

Item = TypeVar("Item")
EngineFactory = Callable[[], Engine]  # picklable: a module-level function or a functools.partial of one
Task = Callable[[Engine, Any], Any]  # picklable: a module-level function or a functools.partial of one

_engine: Engine | None = None  # a worker's engine, built once by _start_worker


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_job(jobs: int) -> int:
    """Threads each of ``jobs`` workers gets: an even share of the cores, at least one."""
    return max(1, available_cores() // max(jobs, 1))


def run_settings(jobs: int) -> dict:
    """What a report records of how its cases were run (their seconds depend on it)."""
    return {"jobs": jobs, "threads_per_job": threads_per_job(jobs)}


def score_cases(task: Task, items: Sequence[Item], engine: Engine, *,
                engine_factory: EngineFactory | None = None, jobs: int = 1,
                done: Callable[[Any], None] | None = None) -> list:
    """``[task(engine, item) for item in items]``, in ``jobs`` processes when ``jobs`` > 1.

    One process uses ``engine``; several need ``engine_factory`` to build one each, as an
    engine's loaded state does not travel between processes. ``done``
    is called with each result as it arrives.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    if jobs == 1 or len(items) <= 1:
        results = []
        for item in items:
            results.append(task(engine, item))
            if done:
                done(results[-1])
        return results
    if engine_factory is None:
        raise ValueError("several jobs need an engine_factory: each worker process builds its own engine")
    results: list = [None] * len(items)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(items)), mp_context=context, initializer=_start_worker,
                             initargs=(engine_factory, threads_per_job(jobs))) as pool:
        futures = {pool.submit(_run, task, item): k for k, item in enumerate(items)}
        try:
            for future in as_completed(futures):
                k = futures[future]
                results[k] = future.result()
                if done:
                    done(results[k])
        except BrokenProcessPool as exc:
            raise VoxelPromptError("an evaluation worker process died (out of memory?)", "run with fewer jobs") from exc
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # a failed case (or Ctrl-C) stops the cases not yet begun
            raise
    return results


def _start_worker(engine_factory: EngineFactory, threads: int) -> None:
    """Limit this worker to ``threads`` threads (before its first registration), then build its engine."""
    global _engine
    if os.environ.get(REPRODUCIBLE_THREADS) != "1":  # keep --deterministic's single thread
        os.environ[REPRODUCIBLE_THREADS] = str(threads)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)
    _engine = engine_factory()


def _run(task: Task, item: Any) -> Any:
    return task(_engine, item)
