"""Bounded pipeline runs for the web service: a fixed number of slots, a thread pool, and the job records.

The pipeline is CPU work in numpy/OpenCV (which release the GIL), so it runs on threads and the event loop never
blocks. When every slot is taken the caller gets :class:`ServerBusy` at once (HTTP 503 with Retry-After), never a hang.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipeline.ledger import LocalLedger
from pipeline.runner import InProcessExecutor
from pipeline.settings import Settings


class ServerBusy(Exception):
    """Every run slot is taken."""


class RunSlots:
    def __init__(self, size: int):
        self.size = size
        self._sem = threading.BoundedSemaphore(size)

    def acquire(self) -> None:
        if not self._sem.acquire(blocking=False):
            raise ServerBusy(f"All {self.size} run slots are busy")

    def release(self) -> None:
        self._sem.release()


@dataclass
class JobRecord:
    id: str
    status: str = "queued"  # queued | running | done | failed
    created: float = field(default_factory=time.time)
    events: list[dict[str, Any]] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def view(self) -> dict[str, Any]:
        files = (self.manifest or {}).get("files", [])
        return {"id": self.id, "status": self.status, "events": self.events, "error": self.error,
                "results": {name: f"/runs/{self.id}/{name}" for name in files}}


def _interrupted(job_id: str) -> JobRecord:
    record = JobRecord(id=job_id, status="failed", error={
        "code": "interrupted", "message": "The server stopped before this job finished. Submit it again with a new "
        "Idempotency-Key."})
    record.done.set()
    return record


class RunPool:
    """Slots, worker threads, the executor (backends built once) and the job records."""

    def __init__(self, settings: Settings, executor=None):
        self.settings = settings
        self.executor = executor or InProcessExecutor(settings)
        self.slots = RunSlots(settings.max_concurrent_jobs)
        self.threads = ThreadPoolExecutor(max_workers=settings.max_concurrent_jobs, thread_name_prefix="bgflow-run")
        self.jobs: dict[str, JobRecord] = {}
        self.runs_dir = Path(settings.runs_dir)
        self._keys: LocalLedger | None = None  # Idempotency-Key -> job id, on disk: it outlives a restart
        self._lock = threading.Lock()

    @property
    def keys(self) -> LocalLedger:
        if self._keys is None:
            self._keys = LocalLedger(self.runs_dir / ".ledger" / "http-jobs")
        return self._keys

    def submit_job(self, work: Callable[[JobRecord], None], idempotency_key: str | None = None) -> tuple[JobRecord, bool]:
        """Start ``work`` on a new job; returns (record, created). A known idempotency key returns its job, even
        one started before the server restarted."""
        with self._lock:
            if idempotency_key:
                state, entry = self.keys.claim(f"http-job:{idempotency_key}")
                if state != "new":
                    job_id = (entry or {}).get("result", {}).get("job_id", "")
                    if not job_id:
                        raise ServerBusy("A request with this Idempotency-Key is being accepted right now")
                    return self.record(job_id) or _interrupted(job_id), False
            try:
                self.slots.acquire()
            except ServerBusy:
                if idempotency_key:
                    self.keys.release(f"http-job:{idempotency_key}")
                raise
            record = JobRecord(id=uuid.uuid4().hex[:16])
            self.jobs[record.id] = record
            if idempotency_key:
                self.keys.complete(f"http-job:{idempotency_key}", {"job_id": record.id})

        def body() -> None:
            record.status = "running"
            try:
                work(record)
            except Exception as exc:  # recorded on the job; the pool keeps serving
                record.status, record.error = "failed", {"code": "internal_error", "message": str(exc)}
            finally:
                self.slots.release()
                record.done.set()

        self.threads.submit(body)
        return record, True

    def record(self, job_id: str) -> JobRecord | None:
        """A job of this process, or one finished (or cut short) before a restart, from its manifest on disk."""
        if job_id in self.jobs:
            return self.jobs[job_id]
        if not job_id or not job_id.isalnum() or not (self.runs_dir / job_id).is_dir():
            return None
        manifest_path = self.runs_dir / job_id / "manifest.json"
        if not manifest_path.is_file():
            return _interrupted(job_id)
        record = JobRecord(id=job_id, manifest=json.loads(manifest_path.read_text()))
        record.status = "done" if record.manifest["status"] == "ok" else "failed"
        record.error = record.manifest["error"]
        record.done.set()
        return record

    def shutdown(self) -> None:
        self.threads.shutdown(wait=False, cancel_futures=True)
