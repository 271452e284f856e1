"""Images between stages, stored once on the runs Volume: one folder per job (``/runs/.wire/<name>``), committed after
a stage writes to it, reloaded before reading a file not there yet, removed when the job is done."""

from __future__ import annotations

from typing import Any, Callable

from .infra import RUNS_DIR, runs

WIRE_DIR = f"{RUNS_DIR}/.wire"


def volume_blobs(name: str) -> Any:
    from pipeline.wire import FolderBlobs

    return FolderBlobs(WIRE_DIR, name, after_put=runs.commit, before_miss=runs.reload)


STORE: Callable[[str], Any] = volume_blobs  # tests replace it with a local folder


def for_payload(payload: dict[str, Any]) -> Any:
    """The store a stage call names (``payload["blobs"]``), or None when its images travel as bytes."""
    name = payload.get("blobs")
    return None if name is None else STORE(name)
