"""The orchestrator: runs a job's stages as function calls (CPU functions, GPU classes), never in-process, stores
the artefacts on the runs Volume and returns the step events with the manifest."""

from __future__ import annotations

from typing import Any, Callable

import modal

from .cpu import CPU_FUNCTIONS
from .gpu import GPU_CLASSES
from .infra import RUNS_DIR, app, cpu_image, runs

with cpu_image.imports():
    from events.intake import Intake, Upload
    from events.settings import Settings
    from pipeline.remote import RemoteExecutor
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


def orchestrate(job: dict[str, Any], call: Callable[[str, dict[str, Any]], dict[str, Any]], root: str) -> dict[str, Any]:
    """job: {"source": bytes, "name": str, "options": {...}, "settings": {...}} -> {"manifest", "events"}."""
    settings = Settings(**job.get("settings", {}))
    events: list[dict[str, Any]] = []
    record = lambda e: events.append({"step": e.step, "stage": e.stage, "backend": e.backend, "ms": e.ms,  # noqa: E731
                                      **e.payload})
    intake = Intake(settings, RemoteExecutor(settings, call), LocalStorage(root))
    ticket = intake.accept(Upload(job["source"], job.get("filename")), job.get("options"),
                           name=job.get("name", "image"))
    return {"manifest": intake.run(ticket, on_event=record).manifest, "events": events}


@app.function(image=cpu_image, volumes={RUNS_DIR: runs}, timeout=1800, max_containers=50)
def run_job(job: dict[str, Any]) -> dict[str, Any]:
    out = orchestrate(job, CALL, RUNS_DIR)
    if not modal.is_local():
        runs.commit()  # make the artefacts visible to other containers now
    return out
