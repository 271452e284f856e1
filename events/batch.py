"""A batch of local files through the intake: in this process, in a pool of worker processes (``--workers``), or
as concurrent calls to the deployed stages (``--executor modal``). Every input gets its own folder and summary row;
one bad input never stops the others."""

from __future__ import annotations

import json
import os
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
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


# One intake per worker process, built once by the pool's initializer.
_worker_intake: Intake | None = None


def _init_worker(settings: Settings, out: Path) -> None:
    global _worker_intake
    from pipeline.runner import InProcessExecutor

    _worker_intake = Intake(settings, InProcessExecutor(settings), LocalStorage(out))


def _run_in_worker(item: BatchItem, options: RunOptions) -> dict[str, Any]:
    return _run(_worker_intake, item, options)


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
    pool: Executor
    if executor is not None:
        intake = Intake(settings, executor, LocalStorage(out))
        pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="bgflow-call")
        submit = lambda item: pool.submit(_run, intake, item, options)  # noqa: E731
    elif workers > 1:
        pool = ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(settings, out))
        submit = lambda item: pool.submit(_run_in_worker, item, options)  # noqa: E731
    else:
        from pipeline.runner import InProcessExecutor

        intake = Intake(settings, InProcessExecutor(settings), LocalStorage(out))
        for i, item in todo:
            rows[i] = _run(intake, item, options)
            on_row(item, rows[i])
        return [rows[i] for i in range(len(items))]
    with pool:
        futures: dict[Future, int] = {submit(item): i for i, item in todo}
        for future in as_completed(futures):
            i = futures[future]
            try:
                rows[i] = future.result()
            except Exception as exc:  # a worker process died (killed, out of memory): that input failed, not the batch
                rows[i] = _crashed_row(items[i], exc)
            on_row(items[i], rows[i])
    return [rows[i] for i in range(len(items))]


def _crashed_row(item: BatchItem, exc: Exception) -> dict[str, Any]:
    error = {"code": "internal_error", "message": f"The worker running this input stopped ({type(exc).__name__}). "
             "Run it again alone; if it fails again, report it."}
    return {"name": item.name, "input": str(item.path), "status": "failed", "error": error, "background_kind": None,
            "action": None, "total_ms": None, "delta_e_mean": None, "files": []}
