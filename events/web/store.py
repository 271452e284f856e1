"""Job records every app instance can read, and where jobs run.

A store keeps, per job id, the record (the request's fingerprint, when it came, where it runs), the steps so far and
the manifest: :class:`FolderJobStore` in the runs folder (``bgflow serve``), :class:`DictJobStore` in a shared
key-value store (a ``modal.Dict``: any web container answers for any job). A job's liveness comes from its claim in
the intake's ledger (running), or from whoever started it (queued): :class:`LocalJobs` on this app's pool, or Modal's
spawned ``run_job`` (``functions/web.py``)."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from pipeline.types import StageEvent

JOB_ID = re.compile(r"^[0-9a-f]{16}$")


class JobStore(Protocol):
    def create(self, job_id: str, fingerprint: str) -> tuple[bool, dict[str, Any]]: ...
    def get(self, job_id: str) -> dict[str, Any] | None: ...
    def update(self, job_id: str, **fields: Any) -> None: ...
    def remove(self, job_id: str) -> None: ...
    def add_event(self, job_id: str, event: dict[str, Any]) -> None: ...
    def events(self, job_id: str) -> list[dict[str, Any]]: ...
    def manifest(self, job_id: str) -> dict[str, Any] | None: ...
    def record_manifest(self, job_id: str, manifest: dict[str, Any]) -> None: ...


class FolderJobStore:
    """``<runs>/<id>/job.json``, ``<id>/events.jsonl`` and the run contract beside them."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock = threading.Lock()

    def _dir(self, job_id: str) -> Path:
        if not JOB_ID.match(job_id):
            raise KeyError(job_id)
        return self.root / job_id

    def create(self, job_id: str, fingerprint: str) -> tuple[bool, dict[str, Any]]:
        """(True, record) for a new job; (False, the existing record) when the id is taken (written whole, once)."""
        folder = self._dir(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        record = {"id": job_id, "fingerprint": fingerprint, "created": time.time()}
        tmp = folder / f"job.json.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.write_text(json.dumps(record))
        try:
            os.link(tmp, folder / "job.json")
            return True, record
        except FileExistsError:
            return False, self.get(job_id) or {}
        finally:
            tmp.unlink()

    def get(self, job_id: str) -> dict[str, Any] | None:
        try:
            return json.loads((self._dir(job_id) / "job.json").read_text())
        except (KeyError, FileNotFoundError, json.JSONDecodeError):
            return None

    def update(self, job_id: str, **fields: Any) -> None:
        with self._lock:
            record = (self.get(job_id) or {}) | fields
            path = self._dir(job_id) / "job.json"
            tmp = path.with_name("job.json.part")
            tmp.write_text(json.dumps(record))
            tmp.replace(path)

    def remove(self, job_id: str) -> None:
        (self._dir(job_id) / "job.json").unlink(missing_ok=True)

    def add_event(self, job_id: str, event: dict[str, Any]) -> None:
        with self._lock, open(self._dir(job_id) / "events.jsonl", "a") as f:
            f.write(json.dumps(event) + "\n")

    def events(self, job_id: str) -> list[dict[str, Any]]:
        try:
            lines = (self._dir(job_id) / "events.jsonl").read_text().splitlines()
        except (KeyError, FileNotFoundError):
            return []
        return [json.loads(line) for line in lines if line.endswith("}")]

    def manifest(self, job_id: str) -> dict[str, Any] | None:
        try:
            return json.loads((self._dir(job_id) / "manifest.json").read_text())
        except (KeyError, FileNotFoundError, json.JSONDecodeError):
            return None

    def record_manifest(self, job_id: str, manifest: dict[str, Any]) -> None:
        pass  # the run contract's manifest.json is in the job's folder already


class DictJobStore:
    """Job records in a shared key-value store with put-if-absent (``modal.Dict``): ``put(key, value,
    skip_if_exists=True) -> bool``, ``put``, ``get(key, default)``, ``pop``. One writer per job adds its events."""

    def __init__(self, kv: Any):
        self.kv = kv

    @staticmethod
    def _key(job_id: str, part: str = "") -> str:
        if not JOB_ID.match(job_id):
            raise KeyError(job_id)
        return f"job:{job_id}{':' + part if part else ''}"

    def create(self, job_id: str, fingerprint: str) -> tuple[bool, dict[str, Any]]:
        record = {"id": job_id, "fingerprint": fingerprint, "created": time.time()}
        if self.kv.put(self._key(job_id), record, skip_if_exists=True):
            return True, record
        return False, self.get(job_id) or {}

    def get(self, job_id: str) -> dict[str, Any] | None:
        try:
            return self.kv.get(self._key(job_id), None)
        except KeyError:
            return None

    def update(self, job_id: str, **fields: Any) -> None:
        self.kv.put(self._key(job_id), (self.get(job_id) or {}) | fields)

    def remove(self, job_id: str) -> None:
        self.kv.pop(self._key(job_id), None)

    def add_event(self, job_id: str, event: dict[str, Any]) -> None:
        self.kv.put(self._key(job_id, "events"), self.events(job_id) + [event])

    def events(self, job_id: str) -> list[dict[str, Any]]:
        try:
            return list(self.kv.get(self._key(job_id, "events"), []) or [])
        except KeyError:
            return []

    def manifest(self, job_id: str) -> dict[str, Any] | None:
        try:
            return self.kv.get(self._key(job_id, "manifest"), None)
        except KeyError:
            return None

    def record_manifest(self, job_id: str, manifest: dict[str, Any]) -> None:
        self.kv.put(self._key(job_id, "manifest"), manifest)


def job_event(job_id: str, event: StageEvent) -> dict[str, Any]:
    """A step for job watchers: the stage's JSON and links to the artefacts that exist so far."""
    links = {"normalize": "normalized.png", "segment": "mask.png"}
    item = {"step": event.step, "stage": event.stage, "ms": event.ms, "run_id": job_id} | event.payload
    if event.stage in links:
        item["image"] = f"/runs/{job_id}/{links[event.stage]}"
    return item


class LocalJobs:
    """Jobs run on this app's bounded pool through its intake; the steps and manifest go to the store."""

    def __init__(self, pool: Any, intake: Any, store: JobStore):
        self.pool, self.intake, self.store = pool, intake, store
        self.accepted: set[str] = set()  # queued here and not finished (a queued job has no claim yet)

    def start(self, ticket: Any, job_id: str) -> None:
        def work() -> None:
            try:
                outcome = self.intake.run(ticket, on_event=lambda e: self.store.add_event(job_id, job_event(job_id, e)))
                if outcome.manifest is not None:
                    self.store.record_manifest(job_id, outcome.manifest)
            finally:
                self.accepted.discard(job_id)

        self.accepted.add(job_id)
        try:
            self.pool.submit(work)
        except Exception:
            self.accepted.discard(job_id)
            raise

    def pending(self, job_id: str, record: dict[str, Any]) -> bool:
        return job_id in self.accepted


def job_status(job_id: str, record: dict[str, Any], store: JobStore, jobs: Any, ledger: Any) -> str:
    """done / failed from the manifest; running while a renewed claim holds it; queued while whoever started it
    still has it; otherwise interrupted (the process that had it died)."""
    manifest = store.manifest(job_id)
    if manifest is not None:
        return "done" if manifest["status"] == "ok" else "failed"
    if ledger is not None and ledger.state(f"http-job:{job_id}") == "busy":
        return "running"
    return "queued" if jobs.pending(job_id, record) else "interrupted"
