"""The orchestrator: runs a job's stages as function calls (CPU functions, GPU classes), never in-process, stores
the artefacts on the runs Volume and returns the step events with the manifest."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any, Callable

import modal

from . import blobs
from .cpu import CPU_FUNCTIONS
from .gpu import GPU_CLASSES
from .infra import RUNS_DIR, app, cpu_image, runs

with cpu_image.imports():
    from events.intake import Intake, Upload, key_folder
    from pipeline.remote import RemoteExecutor, settings_from
    from pipeline.storage import LocalStorage


def remote_call(target: str, payload: dict[str, Any]) -> dict[str, Any]:
    """``cpu.<stage>`` -> that function's ``.remote``; ``gpu.<Class>.<method>`` -> the class method's ``.remote``."""
    kind, *rest = target.split(".")
    if kind == "cpu":
        return CPU_FUNCTIONS[rest[0]].remote(payload)
    cls_name, method = rest
    return getattr(GPU_CLASSES[cls_name](), method).remote(payload)


# The seam: tests replace it with in-process calls that record the chain.
CALL: Callable[[str, dict[str, Any]], dict[str, Any]] = remote_call


RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
INPUT_KEY = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}(/[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}){0,7}$")


def job_source(job: dict[str, Any], root: str, reload: Callable[[], None] | None = None) -> bytes:
    """The job's input: ``source`` (bytes) or ``source_key``, a file the caller put on the runs Volume (a path
    relative to the runs folder: no absolute paths, no dot-names, so never outside it)."""
    if ("source" in job) == ("source_key" in job):
        raise ValueError("a job has exactly one of 'source' (bytes) and 'source_key' (a runs Volume key)")
    if "source" in job:
        if not isinstance(job["source"], (bytes, bytearray)):
            raise ValueError("'source' must be bytes")
        return bytes(job["source"])
    key = job["source_key"]
    if not isinstance(key, str) or not INPUT_KEY.match(key):
        raise ValueError(f"not a runs Volume key: {str(key)[:80]!r}")
    path = Path(root) / key
    if not path.is_file() and reload is not None:
        reload()  # written by another container since this one last looked
    return path.read_bytes()


def orchestrate(job: dict[str, Any], call: Callable[[str, dict[str, Any]], dict[str, Any]], root: str,
                store: Any = None, reload: Callable[[], None] | None = None) -> dict[str, Any]:
    """job: {"source": bytes | "source_key": str, "name": str, "options": {...}, "settings": portable_settings(...),
    "run_id": optional} -> {"manifest", "events"}. The job's settings over this container's environment (its secrets); images between
    stages through ``store`` (stored once, referenced) when given."""
    source = job_source(job, root, reload)
    settings = settings_from(job.get("settings", {}))
    run_id = job.get("run_id") or uuid.uuid4().hex[:12]
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        raise ValueError(f"not a run id: {str(run_id)[:80]!r}")
    events: list[dict[str, Any]] = []
    record = lambda e: events.append({"step": e.step, "stage": e.stage, "backend": e.backend, "ms": e.ms,  # noqa: E731
                                      **e.payload})
    intake = Intake(settings, RemoteExecutor(settings, call, store), LocalStorage(root))
    ticket = intake.accept(Upload(source, job.get("filename")), job.get("options"),
                           name=key_folder(str(job.get("name") or "image")), run_id=run_id)
    return {"manifest": intake.run(ticket, on_event=record).manifest, "events": events}


@app.function(image=cpu_image, volumes={RUNS_DIR: runs}, timeout=1800, max_containers=50)
def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One image: the single entry for every trigger. ``job`` is plain data (see :func:`orchestrate`); its run id is
    this call's FunctionCall id unless the job names one, so a caller that spawned it can use that id as the job id."""
    if not job.get("run_id") and modal.current_function_call_id():
        job = {**job, "run_id": modal.current_function_call_id()}
    store = blobs.STORE(uuid.uuid4().hex)
    try:
        out = orchestrate(job, CALL, RUNS_DIR, store, reload=None if modal.is_local() else runs.reload)
    finally:
        store.remove()
    if not modal.is_local():
        runs.commit()  # make the artefacts visible to other containers now
    return out
