"""Job records every app instance can read: ``<runs>/<id>/job.json`` (the request's fingerprint and when it came),
``<id>/events.jsonl`` (the steps so far) and the run contract beside them. Locally the runs folder; on Modal the runs
Volume. A job's liveness across instances comes from its claim in the intake's ledger."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

JOB_ID = re.compile(r"^[0-9a-f]{16}$")


class JobStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock = threading.Lock()
        self.accepted: set[str] = set()  # jobs this instance queued (a queued job has no claim yet)

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
