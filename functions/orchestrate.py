"""The orchestrator: runs a job's stages as function calls (CPU functions, GPU classes), never in-process, stores
the artefacts on the runs Volume and returns the step events with the manifest."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any, Callable

import modal

from . import blobs, state
from .cpu import CPU_FUNCTIONS
from .gpu import GPU_CLASSES
from .infra import RUNS_DIR, app, cpu_image, runs, secrets

with cpu_image.imports():
    from events.intake import HttpsUrl, Intake, Upload, key_folder
    from events.settings import Settings
    from events.web.store import job_event
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


SOURCES = ("source", "source_key", "source_url")


def job_source(job: dict[str, Any], root: str, reload: Callable[[], None] | None = None) -> Any:
    """The job's input kind: ``source`` (bytes), ``source_key`` (a file the caller put on the runs Volume: a path
    relative to the runs folder, no absolute paths, no dot-names, so never outside it) or ``source_url`` (fetched in
    the run through the guarded fetcher)."""
    given = [name for name in SOURCES if name in job]
    if len(given) != 1:
        raise ValueError(f"a job has exactly one of {', '.join(SOURCES)}")
    if "source" in job:
        if not isinstance(job["source"], (bytes, bytearray)):
            raise ValueError("'source' must be bytes")
        return Upload(bytes(job["source"]), job.get("filename"))
    if "source_url" in job:
        return HttpsUrl(str(job["source_url"]))
    key = job["source_key"]
    if not isinstance(key, str) or not INPUT_KEY.match(key):
        raise ValueError(f"not a runs Volume key: {str(key)[:80]!r}")
    path = Path(root) / key
    if not path.is_file() and reload is not None:
        reload()  # written by another container since this one last looked
    return Upload(path.read_bytes(), job.get("filename"))


def orchestrate(job: dict[str, Any], call: Callable[[str, dict[str, Any]], dict[str, Any]], root: str,
                store: Any = None, reload: Callable[[], None] | None = None, ledger: Any = None,
                on_event: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """job: {"source": bytes | "source_key": str | "source_url": str, "name": str, "options": {...},
    "settings": portable_settings(...), "run_id": optional, "key": optional} -> {"manifest", "events"}. The job's
    settings over this container's environment (its secrets); images between stages through ``store`` (stored once,
    referenced) when given; ``key`` claimed in ``ledger``, so a job spawned twice runs once."""
    source = job_source(job, root, reload)
    settings = settings_from(job.get("settings", {}), cls=Settings)
    run_id = job.get("run_id") or uuid.uuid4().hex[:12]
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        raise ValueError(f"not a run id: {str(run_id)[:80]!r}")
    events: list[dict[str, Any]] = []

    def record(e) -> None:
        events.append({"step": e.step, "stage": e.stage, "backend": e.backend, "ms": e.ms, **e.payload})
        if on_event:
            on_event(e)

    key = job.get("key")
    intake = Intake(settings, RemoteExecutor(settings, call, store), LocalStorage(root), ledger if key else None)
    ticket = intake.accept(source, job.get("options"), name=key_folder(str(job.get("name") or "image")),
                           run_id=run_id, key=key, check_input=False)
    outcome = intake.run(ticket, on_event=record)
    return {"manifest": outcome.manifest, "events": events, "status": outcome.status}


@app.function(image=cpu_image, volumes={RUNS_DIR: runs}, secrets=secrets, timeout=1800, max_containers=50)
def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """One image: the single entry for every trigger. ``job`` is plain data (see :func:`orchestrate`); its run id is
    this call's FunctionCall id unless the job names one, so a caller that spawned it can use that id as the job id.
    A web job (``job_id``) reports its steps and manifest to the job store every web container reads."""
    if not job.get("run_id") and modal.current_function_call_id():
        job = {**job, "run_id": modal.current_function_call_id()}
    job_id = job.get("job_id")
    jobs = state.JOBS() if job_id else None
    on_event = (lambda e: jobs.add_event(job_id, job_event(job_id, e))) if jobs else None
    store = blobs.STORE(uuid.uuid4().hex)
    try:
        out = orchestrate(job, CALL, RUNS_DIR, store, reload=None if modal.is_local() else runs.reload,
                          ledger=state.LEDGER() if job.get("key") else None, on_event=on_event)
    finally:
        store.remove()
    if not modal.is_local():
        runs.commit()  # make the artefacts visible to other containers now, before the job says it is done
    if jobs and out["manifest"] is not None:
        jobs.record_manifest(job_id, out["manifest"])
    return out
