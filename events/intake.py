"""The one way from a trigger to a run.

Every entry point (the CLI, the folder watcher, ``/photography/background``, ``/jobs``, the S3 worker, the Shopify
webhook, Modal's ``run_job``) hands the intake an explicit *input kind* and the caller's raw options:

- :class:`Upload`: bytes a client sent; :class:`Base64Text`: base64 or a ``data:`` URI, decoded, never a path;
- :class:`HttpsUrl`: fetched through the guarded fetcher; :class:`BucketObject`: read from S3;
- :class:`LocalFile`: a file on this machine, which only the CLI and the folder watcher may name.

:meth:`Intake.accept` checks the options and the input kind before any work (a usage error, exit 2 or a 4xx).
:meth:`Intake.run` is the idempotent unit of work: claim the event's key, run, then complete it, or release it so the
event's next delivery retries it; the claim is renewed while the work runs, so a dead worker's claim goes stale within
one lease. The outcome is recorded in one place.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Protocol

from pipeline.contract import process, record_failure
from pipeline.errors import BgflowError, ImageTooLarge, InputNotFound, InternalError, UnsupportedFormat
from pipeline.normalize import read_source
from pipeline.options import RunOptions
from pipeline.runner import Job
from pipeline.settings import Settings as PipelineSettings
from pipeline.storage import Storage, error_code
from pipeline.types import StageEvent

from .fetch import AllowList, check_url, fetch_image
from .ledger import DEFAULT_LEASE_S, Ledger
from .outcome import Outcome, error_detail
from .settings import Settings

log = logging.getLogger(__name__)

# Failures that may pass on a second try (a crashed stage, an unreachable model or service); the others are the
# input's own and are final.
RETRYABLE = frozenset({"internal_error", "describer_failed", "external_service_failed", "backend_unavailable"})


# ---------------------------------------------------------------------------------------------------- input kinds

class InputKind(Protocol):
    def check(self, settings: Settings) -> "InputKind":
        """Refuse at once what can be refused before any work; the kind to run with (base64 comes back decoded)."""
    def read(self, settings: Settings) -> bytes: ...
    def describe(self) -> str: ...


@dataclass(frozen=True)
class Upload:
    """Bytes a client sent (a multipart file, a request body)."""

    data: bytes = field(repr=False)
    filename: str | None = None

    def check(self, settings: Settings) -> "Upload":
        read_source(self.data, settings)
        return self

    def read(self, settings: Settings) -> bytes:
        return self.data

    def describe(self) -> str:
        return self.filename or f"<upload, {len(self.data)} bytes>"


@dataclass(frozen=True)
class Base64Text:
    """Base64 text or a ``data:image/...;base64,`` URI from a request: decoded, and never looked up as a path."""

    text: str = field(repr=False)

    def read(self, settings: Settings) -> bytes:
        text = self.text.strip()
        if text.startswith("data:"):
            header, _, text = text.partition(",")
            if ";base64" not in header:
                raise UnsupportedFormat("Only base64 data URIs are accepted: use 'data:image/png;base64,<data>'.")
        if len(text) > settings.max_bytes * 4 // 3 + 8:
            raise ImageTooLarge(f"The image is over {settings.max_bytes / 1e6:.0f} MB. Send a smaller file.")
        try:
            data = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise UnsupportedFormat("image_b64 is not valid base64: send the image file's bytes base64-encoded, "
                                    "or as a data URI.") from None
        return read_source(data, settings)

    def check(self, settings: Settings) -> Upload:
        return Upload(self.read(settings), self.describe())

    def describe(self) -> str:
        return f"<base64, {len(self.text)} characters>"


@dataclass(frozen=True)
class HttpsUrl:
    """An image URL: only https, only allow-listed public hosts, through :func:`events.fetch.fetch_image`."""

    url: str
    allow: AllowList | None = None  # None: BGFLOW_URL_ALLOW_HOSTS
    transport: Any = field(default=None, repr=False, compare=False)  # an httpx transport (tests, proxies)

    def _allow(self, settings: Settings) -> AllowList:
        return self.allow or AllowList.for_requests(settings)

    def check(self, settings: Settings) -> "HttpsUrl":
        check_url(self.url, self._allow(settings))
        return self

    def read(self, settings: Settings) -> bytes:
        return read_source(fetch_image(self.url, settings, self._allow(settings), self.transport), settings)

    def describe(self) -> str:
        return self.url


@dataclass(frozen=True)
class BucketObject:
    """An object in an S3 bucket (``client`` is boto3's); refused unread when over the byte limit."""

    client: Any = field(repr=False)
    bucket: str
    key: str
    version_id: str | None = None

    def _version(self) -> dict[str, str]:
        return {"VersionId": self.version_id} if self.version_id else {}

    def check(self, settings: Settings) -> "BucketObject":
        return self  # read in the run: a missing or oversized object is the run's recorded failure

    def read(self, settings: Settings) -> bytes:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.key, **self._version())
            size = int(head.get("ContentLength", 0))
            if size > settings.max_bytes:
                raise ImageTooLarge(f"{self.describe()} is {size / 1e6:.1f} MB; the limit is "
                                    f"{settings.max_bytes / 1e6:.0f} MB (BGFLOW_MAX_BYTES). Upload a smaller export.")
            data = self.client.get_object(Bucket=self.bucket, Key=self.key, **self._version())["Body"].read()
        except Exception as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound", "NoSuchVersion"):
                raise InputNotFound(f"{self.describe()} no longer exists (deleted before bgflow read it).") from None
            raise
        return read_source(data, settings)

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class LocalFile:
    """A file on this machine, named by the person running the CLI or the folder watcher: never from a request."""

    path: Path

    def check(self, settings: Settings) -> "LocalFile":
        return self  # a missing or unreadable file is that input's recorded failure; the others go on

    def read(self, settings: Settings) -> bytes:
        return read_source(self.path, settings)

    def describe(self) -> str:
        return str(self.path)


# ---------------------------------------------------------------------------------------------------- output names

_UNSAFE = re.compile(r'[/\\:~<>"|?*]+')  # separators and what Windows reserves; ~ marks our own suffix
MAX_NAME = 120


def safe_segment(text: str) -> str:
    """A folder name made from untrusted text: no separators, control or format characters (a newline, a right-to-left
    override) or characters Windows reserves, never empty, ``.`` or ``..``, at most MAX_NAME characters. A name that had to change gets ``~`` and a hash of the original, so two
    different originals never share a folder (``~`` never survives in a name that did not change)."""
    visible = "".join(c if unicodedata.category(c)[0] != "C" else "_" for c in unicodedata.normalize("NFC", text))
    cleaned = _UNSAFE.sub("_", visible).strip(" .")[:MAX_NAME].rstrip(" .") or "image"
    if cleaned == text:
        return cleaned
    return f"{cleaned}~{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def key_folder(key: str) -> str:
    """The output folder of a bucket key or a relative path: its segments made safe, the extension kept (``a.jpg``
    and ``a.png`` are two inputs), ``.``/``..``/empty segments dropped; a key that had to change gets a hash of the
    whole key, so every key has its own folder, always inside the output."""
    kept = [p for p in PurePosixPath(key).parts if p not in ("/", ".", "..")] or ["image"]
    names = [safe_segment(p) for p in kept]
    folder = "/".join(names)
    if folder == key:
        return folder
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return "/".join(names[:-1] + [f"{names[-1].split('~')[0]}~{digest}"])


class BatchNames:
    """Unique folder names for one batch of local files: the file's stem where it is unique and safe; otherwise a
    numbered name that no other input of the batch has. Names are compared ignoring case (``a.jpg`` and ``A.png`` would
    share a folder on macOS and Windows)."""

    def __init__(self, paths: list[Path]):
        stems = [safe_segment(p.stem) if p.stem not in ("", ".", "..") else safe_segment(p.name) for p in paths]
        counts: dict[str, int] = {}
        for s in stems:
            counts[s.casefold()] = counts.get(s.casefold(), 0) + 1
        taken = {s.casefold() for s in stems if counts[s.casefold()] == 1}
        self.names: list[str] = []
        for stem in stems:
            if counts[stem.casefold()] == 1:
                self.names.append(stem)
                continue
            n = 1
            name = stem
            while name.casefold() in taken:
                n += 1
                name = f"{stem}-{n}"
            taken.add(name.casefold())
            self.names.append(name)


# ---------------------------------------------------------------------------------------------------- the intake

@dataclass(frozen=True)
class Ticket:
    """An accepted request: its input, checked options, where its run contract goes, and its idempotency key."""

    source: InputKind
    options: RunOptions
    name: str
    key: str | None = None
    run_id: str | None = None

    def job(self, data: bytes | Path) -> Job:
        extra = {"run_id": self.run_id} if self.run_id else {}
        return Job(source=data, name=self.name, options=self.options, filename=self.source.describe(),
                   idempotency_key=self.key, **extra)


def fingerprint(*parts: Any) -> str:
    """What a request asked for, as a short hash: the same key with another request is a different request."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else json.dumps(part, sort_keys=True, default=str).encode())
        digest.update(b"\x00")
    return digest.hexdigest()[:32]


class Intake:
    """Accepts requests and runs them once. Collaborators are passed in: settings, the executor (in-process, a
    process pool, Modal stages), where run contracts go, and the ledger (None: no idempotency, e.g. the CLI)."""

    def __init__(self, settings: PipelineSettings, executor: Any, storage: Storage, ledger: Ledger | None = None,
                 attempts: int = 1, backoff_s: float = 2.0):
        self.settings, self.executor, self.storage, self.ledger = settings, executor, storage, ledger
        self.attempts, self.backoff_s = max(1, attempts), backoff_s

    @staticmethod
    def options(raw: RunOptions | dict[str, Any] | None) -> RunOptions:
        """The caller's options, checked (InvalidOption names the bad field)."""
        return raw if isinstance(raw, RunOptions) else RunOptions.parse(raw)

    def accept(self, source: InputKind, options: RunOptions | dict[str, Any] | None, *, name: str,
               key: str | None = None, run_id: str | None = None, check_input: bool = True) -> Ticket:
        """Check everything a request can get wrong before any work: options (resolved against the settings) and
        the input kind (decodable base64, an allowed URL, the size limit)."""
        opts = self.options(options)
        opts.resolved(self.settings)
        if check_input:
            source = source.check(self.settings)
        return Ticket(source=source, options=opts, name=name, key=key, run_id=run_id)

    def run(self, ticket: Ticket, on_event: Callable[[StageEvent], None] | None = None,
            should_stop: Callable[[], bool] = lambda: False, heartbeat: Callable[[], None] | None = None,
            finish: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None) -> Outcome:
        """Claim -> run (and ``finish``, e.g. upload the result) -> complete, or release for a retry. Failures that
        may pass are tried again up to ``attempts`` times; then the claim is released and the error raised (storage,
        executor or ``finish`` down) or a ``busy`` outcome returned (a retryable code recorded in the manifest).
        ``heartbeat`` runs with each renewal of the claim (e.g. extend an SQS message's visibility)."""
        what = ticket.source.describe()
        token = None
        if ticket.key and self.ledger is not None:
            state, record = self.ledger.claim(ticket.key)
            if state == "done":
                result = (record or {}).get("result") or {}
                return Outcome(what, "duplicate", "already processed", result.get("output"), result)
            if state == "busy":
                return Outcome(what, "busy", "another worker is processing it")
            token = (record or {}).get("token")
        renewer = _Renewer(self.ledger, ticket.key, token, getattr(self.ledger, "lease_s", DEFAULT_LEASE_S) / 3,
                           heartbeat)
        try:
            with renewer:
                manifest, finished = self._attempts(ticket, on_event, should_stop, finish)
        except BaseException as exc:
            self._release(ticket)
            self._record_crash(ticket, exc)
            raise
        code = (manifest.get("error") or {}).get("code")
        result = {"status": manifest["status"], "output": ticket.name, "error": manifest["error"],
                  "run_id": manifest["run_id"], "action": manifest.get("action")} | (finished or {})
        if code in RETRYABLE or code == "cancelled":
            self._release(ticket)  # recorded; the event's next delivery runs it again
            return Outcome(what, "busy", f"will be retried: {code}", ticket.name, result, manifest)
        if ticket.key and self.ledger is not None:
            self.ledger.complete(ticket.key, result)
        return Outcome(what, manifest["status"], error_detail(manifest), ticket.name, result, manifest)

    def _attempts(self, ticket: Ticket, on_event, should_stop, finish) -> tuple[dict[str, Any], dict | None]:
        """The one retry rule: a retryable code or an exception is tried again, with exponential backoff."""
        attempt = 1
        while True:
            try:
                manifest = self._once(ticket, on_event, should_stop)
                code = (manifest.get("error") or {}).get("code")
                if code not in RETRYABLE:
                    return manifest, (finish(manifest) if finish else None)
                if attempt >= self.attempts:
                    return manifest, None
                why = code
            except Exception as exc:
                if attempt >= self.attempts:
                    raise
                why = type(exc).__name__
            log.warning("%s: %s (attempt %d of %d); trying again", ticket.name, why, attempt, self.attempts)
            time.sleep(self.backoff_s * 2 ** (attempt - 1))
            attempt += 1

    def _once(self, ticket: Ticket, on_event, should_stop) -> dict[str, Any]:
        try:
            data = ticket.source.path if isinstance(ticket.source, LocalFile) else ticket.source.read(self.settings)
        except BgflowError as exc:  # the input could not be had: recorded, nothing to keep
            return record_failure(ticket.job(b""), self.storage, exc)
        return process(ticket.job(data), self.storage, self.executor, on_event=on_event, should_stop=should_stop)

    def _record_crash(self, ticket: Ticket, exc: BaseException) -> None:
        """A run that could not finish (storage, executor or upload down) still leaves a failed manifest where it
        can, so its job never looks queued forever; the event's next delivery overwrites it."""
        if not isinstance(exc, Exception):
            return
        log.error("run %s stopped: %s", ticket.name, type(exc).__name__)
        try:
            record_failure(ticket.job(b""), self.storage, InternalError(
                f"The run stopped ({type(exc).__name__}) before it finished; it is retried on the next delivery."))
        except Exception:
            log.exception("could not record the failure of %s", ticket.name)

    def _release(self, ticket: Ticket) -> None:
        if ticket.key and self.ledger is not None:
            self.ledger.release(ticket.key)


class _Renewer:
    """Renews a claim every ``interval_s`` while the work runs (and calls ``heartbeat``); stops with the work."""

    def __init__(self, ledger: Ledger | None, key: str | None, token: str | None, interval_s: float,
                 heartbeat: Callable[[], None] | None):
        self.ledger, self.key, self.token, self.interval_s, self.heartbeat = ledger, key, token, interval_s, heartbeat
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "_Renewer":
        if (self.ledger is not None and self.token) or self.heartbeat:
            self._thread = threading.Thread(target=self._loop, name="bgflow-renew", daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                if self.ledger is not None and self.token and not self.ledger.renew(self.key, self.token):
                    log.warning("claim on %s was lost while running", self.key)
                if self.heartbeat:
                    self.heartbeat()
            except Exception:  # a missed renewal is retried at the next tick
                log.exception("renewing the claim on %s failed", self.key)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
