"""One bounded queue for every run the web service does: streamed requests, ``/jobs`` and webhook images.

``max_concurrent_jobs`` runs at once on worker threads (the pipeline is numpy/OpenCV work that releases the GIL, so
the event loop never blocks); up to ``max_queued_jobs`` more wait for a slot. Past that the caller gets
:class:`ServerBusy` at once (HTTP 503 with Retry-After), never a hang. ``/readyz`` shows the gauge.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

from pipeline.runner import InProcessExecutor

from events.settings import Settings


class ServerBusy(Exception):
    """Every run slot and every queue place is taken."""


class RunPool:
    def __init__(self, settings: Settings, executor=None):
        self.settings = settings
        self.executor = executor or InProcessExecutor(settings)
        self.size, self.backlog = settings.max_concurrent_jobs, settings.max_queued_jobs
        self.threads = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="bgflow-run")
        self._lock = threading.Lock()
        self._admitted = 0
        self._running = 0

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        return self.submit_all([(fn, args)])[0]

    def submit_all(self, calls: list[tuple[Callable[..., Any], tuple]]) -> list[Future]:
        """Queue every call or none (ServerBusy): a webhook's images are accepted together."""
        with self._lock:
            if self._admitted + len(calls) > self.size + self.backlog:
                raise ServerBusy(f"All {self.size} run slots and {self.backlog} queue places are taken")
            self._admitted += len(calls)
        return [self.threads.submit(self._tracked, fn, args) for fn, args in calls]

    def _tracked(self, fn: Callable[..., Any], args: tuple) -> Any:
        with self._lock:
            self._running += 1
        try:
            return fn(*args)
        finally:
            with self._lock:
                self._running -= 1
                self._admitted -= 1

    def gauge(self) -> dict[str, int]:
        with self._lock:
            return {"size": self.size, "busy": self._running, "queued": self._admitted - self._running,
                    "queue_size": self.backlog}

    def shutdown(self) -> None:
        self.threads.shutdown(wait=False, cancel_futures=True)
