"""Idempotency for event triggers: a retried or duplicated event never runs twice.

Each event has a key built from what the event contains (bucket, object key and version or ETag; shop, product and
image id). Before the work, a worker *claims* the key: the first claim wins (``new``); a key whose work finished
answers ``done`` with the recorded result; a key another worker holds answers ``busy`` until its lease runs out,
after which the next claim takes it over (the holder died). The claim is atomic: an exclusive file create locally, a
conditional put (``If-None-Match: *`` / ``If-Match``) on S3.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Literal, Protocol

from pipeline.storage import error_code

ClaimState = Literal["new", "done", "busy"]
DEFAULT_LEASE_S = 60.0


class Ledger(Protocol):
    def claim(self, key: str) -> tuple[ClaimState, dict[str, Any] | None]: ...
    def renew(self, key: str, token: str) -> bool: ...
    def state(self, key: str) -> ClaimState | None: ...
    def complete(self, key: str, result: dict[str, Any]) -> None: ...
    def release(self, key: str) -> None: ...


def entry_name(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32] + ".json"


def _in_progress(key: str, token: str | None = None) -> dict[str, Any]:
    """A fresh claim; its token names this claim's generation for a takeover. Renewing keeps the token and moves
    ``started`` (the lease runs from the last renewal)."""
    return {"key": key, "status": "in_progress", "started": time.time(), "token": token or uuid.uuid4().hex,
            "result": None}


def _held_by(record: dict[str, Any] | None, token: str) -> bool:
    return bool(record) and record.get("status") == "in_progress" and record.get("token") == token


def _done(key: str, result: dict[str, Any]) -> dict[str, Any]:
    """A finished claim; the result as JSON would hold it (values JSON cannot hold become strings)."""
    as_json = json.loads(json.dumps(result, default=str))
    return {"key": key, "status": "done", "finished": time.time(), "result": as_json}


def _encoded(record: dict[str, Any]) -> bytes:
    return json.dumps(record).encode()


def _state(record: dict[str, Any], lease_s: float) -> ClaimState | None:
    """done / busy for a record someone else wrote; None when its lease ran out and it may be taken over."""
    if record.get("status") == "done":
        return "done"
    return "busy" if time.time() - float(record.get("started", 0)) < lease_s else None


class LocalLedger:
    """Claims as files in ``folder`` (one per key)."""

    def __init__(self, folder: str | Path, lease_s: float = DEFAULT_LEASE_S):
        self.folder, self.lease_s = Path(folder), lease_s
        self.folder.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.folder / entry_name(key)

    @staticmethod
    def _staged(path: Path, record: dict[str, Any]) -> Path:
        tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_bytes(_encoded(record))
        return tmp

    def claim(self, key: str) -> tuple[ClaimState, dict[str, Any] | None]:
        path = self._path(key)
        # Written whole under a private name, then linked into place: a reader never sees half a claim, and link()
        # fails when the name exists, so exactly one claimant wins.
        mine = _in_progress(key)
        tmp = self._staged(path, mine)
        try:
            os.link(tmp, path)
            return "new", mine
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        try:
            record = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return "busy", None  # being completed or released right now
        state = _state(record, self.lease_s)
        if state:
            return state, record
        # Stale: the first to create this claim generation's sentinel takes it over; the others see busy.
        sentinel = path.with_name(f"{path.name}.takeover-{record.get('token', record.get('started'))}")
        try:
            os.close(os.open(sentinel, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            return "busy", None
        mine = _in_progress(key)
        self._staged(path, mine).replace(path)
        return "new", mine

    def state(self, key: str) -> ClaimState | None:
        """done / busy (held, lease running) / None (free or stale), without claiming."""
        try:
            return _state(json.loads(self._path(key).read_text()), self.lease_s)
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def renew(self, key: str, token: str) -> bool:
        """Extend the lease of the claim ``token`` holds; False when it is no longer held (taken over, finished)."""
        path = self._path(key)
        try:
            if not _held_by(json.loads(path.read_text()), token):
                return False
        except (FileNotFoundError, json.JSONDecodeError):
            return False
        self._staged(path, _in_progress(key, token)).replace(path)
        return True

    def complete(self, key: str, result: dict[str, Any]) -> None:
        path = self._path(key)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(_encoded(_done(key, result)))
        tmp.replace(path)

    def release(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    @classmethod
    def in_runs(cls, runs_dir: str | Path, lease_s: float = DEFAULT_LEASE_S) -> LocalLedger:
        """The ledger the local server's intakes share (its streams, jobs and webhooks): beside the runs they make."""
        return cls(Path(runs_dir) / ".ledger", lease_s=lease_s)


class S3Ledger:
    """Claims as objects ``s3://bucket/<prefix>/<hash>.json`` written with conditional puts; ``client`` is boto3's."""

    def __init__(self, client: Any, bucket: str, prefix: str = ".bgflow/ledger", lease_s: float = DEFAULT_LEASE_S):
        self.client, self.bucket, self.prefix, self.lease_s = client, bucket, prefix.strip("/"), lease_s

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{entry_name(key)}"

    def claim(self, key: str) -> tuple[ClaimState, dict[str, Any] | None]:
        mine = _in_progress(key)
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=_encoded(mine), IfNoneMatch="*")
            return "new", mine
        except Exception as exc:
            if error_code(exc) not in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                raise
        try:
            got = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return "busy", None  # released between our put and get: the next delivery claims it
            raise
        record = json.loads(got["Body"].read() or b"{}")
        state = _state(record, self.lease_s)
        if state:
            return state, record
        try:  # stale: take it over only if nobody changed it since we read it
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=_encoded(mine), IfMatch=got["ETag"])
            return "new", mine
        except Exception as exc:
            if error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                return "busy", None
            raise

    def state(self, key: str) -> ClaimState | None:
        try:
            got = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise
        return _state(json.loads(got["Body"].read() or b"{}"), self.lease_s)

    def renew(self, key: str, token: str) -> bool:
        try:
            got = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            if not _held_by(json.loads(got["Body"].read() or b"{}"), token):
                return False
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=_encoded(_in_progress(key, token)),
                                   IfMatch=got["ETag"])
            return True
        except Exception as exc:
            if error_code(exc) in ("NoSuchKey", "404", "PreconditionFailed", "ConditionalRequestConflict", "412",
                                   "409"):
                return False
            raise

    def complete(self, key: str, result: dict[str, Any]) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=_encoded(_done(key, result)),
                               ContentType="application/json")

    def release(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


class DictLedger:
    """Claims in a shared key-value store with an atomic put-if-absent (a ``modal.Dict`` on Modal):
    ``put(key, value, skip_if_exists=True) -> bool``, ``get(key, default)``, ``put(key, value)``, ``pop(key)``.
    A stale claim is taken over by whoever first adds the sentinel ``<key>|takeover|<the stale claim's token>``."""

    def __init__(self, store: Any, lease_s: float = DEFAULT_LEASE_S):
        self.store, self.lease_s = store, lease_s

    def claim(self, key: str) -> tuple[ClaimState, dict[str, Any] | None]:
        mine = _in_progress(key)
        if self.store.put(key, mine, skip_if_exists=True):
            return "new", mine
        record = self.store.get(key, None)
        if record is None:
            return "busy", None
        state = _state(record, self.lease_s)
        if state:
            return state, record
        if not self.store.put(f"{key}|takeover|{record.get('token')}", time.time(), skip_if_exists=True):
            return "busy", None
        self.store.put(key, mine)
        return "new", mine

    def state(self, key: str) -> ClaimState | None:
        record = self.store.get(key, None)
        return _state(record, self.lease_s) if record else None

    def renew(self, key: str, token: str) -> bool:
        if not _held_by(self.store.get(key, None), token):
            return False
        self.store.put(key, _in_progress(key, token))
        return True

    def complete(self, key: str, result: dict[str, Any]) -> None:
        self.store.put(key, _done(key, result))

    def release(self, key: str) -> None:
        self.store.pop(key, None)
