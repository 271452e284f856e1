"""Bounded pipeline runs for the web service: a fixed number of slots, a thread pool, and the job records.

The pipeline is CPU work in numpy/OpenCV (which release the GIL), so it runs on threads and the event loop never
blocks. When every slot is taken the caller gets :class:`ServerBusy` at once (HTTP 503 with Retry-After), never a hang.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

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


class RunPool:
    """Slots, worker threads, the executor (backends built once) and the job records."""

    def __init__(self, settings: Settings, executor=None):
        self.settings = settings
        self.executor = executor or InProcessExecutor(settings)
        self.slots = RunSlots(settings.max_concurrent_jobs)
        self.threads = ThreadPoolExecutor(max_workers=settings.max_concurrent_jobs, thread_name_prefix="bgflow-run")
        self.jobs: dict[str, JobRecord] = {}
        self.idempotency: dict[str, str] = {}
        self._lock = threading.Lock()

    def submit_job(self, work: Callable[[JobRecord], None], idempotency_key: str | None = None) -> tuple[JobRecord, bool]:
        """Start ``work`` on a new job; returns (record, created). A known idempotency key returns its job."""
        with self._lock:
            if idempotency_key and idempotency_key in self.idempotency:
                return self.jobs[self.idempotency[idempotency_key]], False
            self.slots.acquire()
            record = JobRecord(id=uuid.uuid4().hex[:16])
            self.jobs[record.id] = record
            if idempotency_key:
                self.idempotency[idempotency_key] = record.id

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

    def shutdown(self) -> None:
        self.threads.shutdown(wait=False, cancel_futures=True)
