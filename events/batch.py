"""A batch of local files through the intake: in this process, in a pool of worker processes (``--workers``), or
as concurrent calls to the deployed stages (``--executor modal``). Every input gets its own folder and summary row;
one bad input never stops the others."""

from __future__ import annotations

import json
import os
import multiprocessing as mp
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pipeline.contract import summary_row
from pipeline.normalize import IMAGE_SUFFIXES
from pipeline.options import RunOptions
from pipeline.storage import LocalStorage

from .intake import BatchNames, Intake, LocalFile
from .settings import Settings


def collect_inputs(paths: list[Path]) -> list[Path]:
    """Files as given; folders expanded to their images (sorted, not recursive, hidden files left out)."""
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found.extend(sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
                                and not f.name.startswith(".")))
        else:
            found.append(p)  # a missing or odd file is reported per input, it does not stop the others
    return found


@dataclass(frozen=True)
class BatchItem:
    path: Path
    name: str


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


# One intake per worker process, built once by the pool's initializer, and where the worker says what it starts.
_worker_intake: Intake | None = None
_worker_started: Any = None


def _init_worker(settings: Settings, out: Path, started: Any, threads: int) -> None:
    global _worker_intake, _worker_started
    _limit_threads(threads)
    from pipeline.runner import InProcessExecutor

    _worker_intake, _worker_started = Intake(settings, InProcessExecutor(settings), LocalStorage(out)), started


def _run_in_worker(index: int, item: BatchItem, options: RunOptions) -> dict[str, Any]:
    _worker_started.put(index)
    return _run(_worker_intake, item, options)


def _limit_threads(threads: int) -> None:
    """Each worker's share of the cores for OpenCV's, numba's (pymatting's) and the BLAS libraries' (numpy's and
    scipy's OpenBLAS) thread pools: N workers that each start a pool per core would fight over the same cores."""
    import cv2
    from threadpoolctl import threadpool_limits

    cv2.setNumThreads(threads)
    threadpool_limits(threads)
    try:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass


def _in_processes(todo: list[tuple[int, BatchItem]], workers: int, settings: Settings, out: Path,
                  options: RunOptions, done: Callable[[int, dict[str, Any]], None]) -> None:
    """Run items in worker processes (started fresh, not forked: a fork of a process that has used OpenMP dies).
    A worker that dies (killed, out of memory) breaks its pool: the items that were running in it are run again, each
    alone, and one that kills its worker again is that input's failure; the waiting ones go on in a new pool."""
    ctx = mp.get_context("spawn")

    threads = max(1, default_workers() // workers)

    def pool(size: int, started: Any) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=size, mp_context=ctx, initializer=_init_worker,
                                   initargs=(settings, out, started, threads))

    pending, suspects = dict(todo), []
    while pending:
        started, finished = ctx.SimpleQueue(), 0
        with pool(min(workers, len(pending)), started) as workers_pool:
            futures = {workers_pool.submit(_run_in_worker, i, item, options): i for i, item in pending.items()}
            for future in as_completed(futures):
                i = futures[future]
                try:
                    row = future.result()
                except BrokenProcessPool:
                    continue  # sorted out below: was it running, or only waiting?
                except Exception as exc:
                    row = _crashed_row(pending[i], exc)
                del pending[i]
                finished += 1
                done(i, row)
        running = set()
        while not started.empty():
            running.add(started.get())
        crashed = sorted(running & set(pending)) or (sorted(pending) if not finished else [])
        suspects += [(i, pending.pop(i)) for i in crashed]  # no progress at all: every one is a suspect
    for i, item in suspects:
        with pool(1, ctx.SimpleQueue()) as alone:
            try:
                row = alone.submit(_run_in_worker, i, item, options).result()
            except Exception as exc:
                row = _crashed_row(item, exc)
        done(i, row)


def _run(intake: Intake, item: BatchItem, options: RunOptions) -> dict[str, Any]:
    outcome = intake.run(intake.accept(LocalFile(item.path), options, name=item.name))
    return summary_row(outcome.manifest)


def finished_row(out: Path, item: BatchItem, options: RunOptions, settings: Settings) -> dict[str, Any] | None:
    """The summary row of an input already processed in ``out`` with the same options (for ``--resume``)."""
    path = out / item.name / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    same = (manifest.get("settings") or {}).get("options") == options.resolved(settings).to_dict()
    if manifest.get("status") != "ok" or manifest.get("input") != str(item.path) or not same:
        return None
    return summary_row(manifest) | {"resumed": True}


def run_batch(files: list[Path], out: Path, options: RunOptions, settings: Settings, *, workers: int = 1,
              executor: Any = None, resume: bool = False,
              on_row: Callable[[BatchItem, dict[str, Any]], None] = lambda item, row: None) -> list[dict[str, Any]]:
    """Rows in input order. ``executor`` given: stages run there (Modal), ``workers`` calls at a time from threads;
    otherwise ``workers`` > 1 runs images in that many processes, each with its own in-process executor. With
    ``resume``, inputs whose manifest in ``out`` says they were done with the same options are not run again."""
    items = [BatchItem(p, n) for p, n in zip(files, BatchNames(files).names)]
    rows: dict[int, dict[str, Any]] = {}
    if resume:
        for i, item in enumerate(items):
            if (row := finished_row(out, item, options, settings)) is not None:
                rows[i] = row
                on_row(item, row)
    todo = [(i, item) for i, item in enumerate(items) if i not in rows]

    def done(i: int, row: dict[str, Any]) -> None:
        rows[i] = row
        on_row(items[i], row)

    if executor is not None:
        _in_threads(todo, workers, Intake(settings, executor, LocalStorage(out)), options, done)
    elif workers > 1:
        _in_processes(todo, workers, settings, out, options, done)
    else:
        from pipeline.runner import InProcessExecutor

        intake = Intake(settings, InProcessExecutor(settings), LocalStorage(out))
        for i, item in todo:
            done(i, _run(intake, item, options))
    return [rows[i] for i in range(len(items))]


def _in_threads(todo: list[tuple[int, BatchItem]], workers: int, intake: Intake, options: RunOptions,
                done: Callable[[int, dict[str, Any]], None]) -> None:
    """Calls to remote stages: threads wait on the network, ``workers`` images at once."""
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="bgflow-call") as pool:
        futures: dict[Future, tuple[int, BatchItem]] = {pool.submit(_run, intake, item, options): (i, item)
                                                        for i, item in todo}
        for future in as_completed(futures):
            i, item = futures[future]
            try:
                row = future.result()
            except Exception as exc:  # that input failed, not the batch
                row = _crashed_row(item, exc)
            done(i, row)


def _crashed_row(item: BatchItem, exc: Exception) -> dict[str, Any]:
    error = {"code": "internal_error", "message": f"The worker running this input stopped ({type(exc).__name__}). "
             "Run it again alone; if it fails again, report it."}
    return summary_row({"name": item.name, "input": str(item.path), "status": "failed", "error": error,
                        "background_kind": None, "action": None, "files": []})
