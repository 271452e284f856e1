"""Push the bad-input corpus (tests/badinputs.py) through the three entry points and say what came out.

- ``bgflow run`` in a subprocess: one batch holding every file case, then its summary.json and manifests read back;
  each hostile CLI option in its own short run.
- ``POST /photography/background`` and ``POST /jobs`` through Starlette's TestClient, each call under a deadline.

Every call returns an :class:`Observed`; :func:`verdict` compares it with the case's :class:`Expect`.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from tests.badinputs import ESCAPE, OK, SIZE, Expect, FileCase, Http, RequestCase, png

REPO = Path(__file__).resolve().parent.parent
HTTP_DEADLINE_S = 60.0
REQUEST_CAP = 4_000_000  # the test server's body limit: every corpus file fits, an oversized body is cheap to send
CLI_DEADLINE_S = 300.0


@dataclass
class Observed:
    outcome: str  # "ok", an error code, or what went wrong: http_500, traceback, timeout, ...
    status: int | None = None  # HTTP status or exit code
    background: str | None = None
    size: tuple[int, int] | None = None
    detail: str = ""

    def short(self) -> str:
        text = self.outcome if self.status is None else f"{self.outcome} [{self.status}]"
        if self.outcome == OK and self.background:
            text += f" ({self.background})"
        return text


def verdict(expect: Expect, seen: Observed) -> tuple[bool, str]:
    """(passed, why): the outcome is one of the expected ones, with the right status, background and size."""
    if seen.outcome not in expect.outcomes:
        return False, f"expected {expect.describe()}, got {seen.short()}: {seen.detail}"
    if seen.outcome == OK:
        if expect.background and seen.background and seen.background != expect.background:
            return False, f"expected background {expect.background}, got {seen.background}"
        if expect.size and seen.size and tuple(seen.size) != tuple(expect.size):
            return False, f"expected normalized size {expect.size}, got {tuple(seen.size)}"
        return True, ""
    if expect.before_work and not (seen.status is not None and 400 <= seen.status < 500):
        return False, f"{seen.outcome} came after work started ({seen.status}), not as a 4xx refusal: {seen.detail}"
    if seen.status is not None and 400 <= seen.status < 600 and seen.status not in expect.statuses():
        return False, f"code {seen.outcome} with HTTP {seen.status}, expected {sorted(expect.statuses())}"
    return True, ""


def within(seconds: float, fn: Callable[[], Observed]) -> Observed:
    """Run ``fn`` under a deadline: a hang becomes an Observed('timeout') instead of a stuck suite."""
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(fn)
    try:
        return future.result(timeout=seconds)
    except FutureTimeout:
        return Observed("timeout", detail=f"no answer within {seconds:.0f} s")
    except Exception as exc:  # the client itself blew up: a broken reply
        return Observed("client_error", detail=f"{type(exc).__name__}: {exc}"[:300])
    finally:
        pool.shutdown(wait=False)


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return {k: v for k, v in env.items() if not k.startswith("BGFLOW_")}


# ---------------------------------------------------------------------------------------------------------------
# CLI


@dataclass
class CliBatch:
    returncode: int | None
    stderr: str
    summary: dict | None
    observed: dict[str, Observed]
    problems: list[str] = field(default_factory=list)  # batch-wide: traceback, no summary, rows missing, ...
    seconds: float = 0.0


def write_inputs(cases: list[FileCase], folder: Path) -> list[bytes]:
    """Each case as a file in ``folder`` under its own (possibly hostile) name; returns the paths as bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for case in cases:
        name = case.disk_name if isinstance(case.disk_name, bytes) else os.fsencode(case.disk_name)
        path = os.path.join(os.fsencode(folder), name)
        with open(path, "wb") as f:
            f.write(case.data)
        paths.append(path)
    return paths


def run_cli(args: list[str | bytes], timeout: float = CLI_DEADLINE_S) -> tuple[int | None, str, str, float]:
    t0 = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "events.cli", "run", *args], cwd=REPO, env=_env(),
                              capture_output=True, timeout=timeout)
        return proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"), \
            time.monotonic() - t0
    except subprocess.TimeoutExpired as exc:
        return None, "", (exc.stderr or b"").decode(errors="replace"), time.monotonic() - t0


def cli_batch(cases: list[FileCase], workdir: Path) -> CliBatch:
    """One ``bgflow run`` over every case's file (given one by one after ``--``), then each row checked."""
    paths = write_inputs(cases, workdir / "in")
    out = workdir / "out"
    rc, _, stderr, seconds = run_cli(["--out", str(out), "--size", str(SIZE), "--", *paths])
    batch = CliBatch(rc, stderr, None, {}, seconds=round(seconds, 1))
    if rc is None:
        batch.problems.append(f"the batch did not finish within {CLI_DEADLINE_S:.0f} s")
    if "Traceback" in stderr:
        batch.problems.append("traceback on stderr: " + _last_traceback(stderr))
    summary_path = out / "summary.json"
    if summary_path.is_file():
        batch.summary = json.loads(summary_path.read_text())
    else:
        batch.problems.append("no summary.json")
    rows = (batch.summary or {}).get("items", [])
    if batch.summary is not None and len(rows) != len(cases):
        batch.problems.append(f"summary.json has {len(rows)} rows for {len(cases)} inputs")
    by_input = {}
    for row in rows:
        by_input.setdefault(row["input"], []).append(row)
    folders: dict[str, list[str]] = {}  # keyed case-insensitively: a.jpg and A.jpg must not meet on macOS or Windows
    for row in rows:
        folders.setdefault(row["name"].casefold(), []).append(row["input"])
    for case, path in zip(cases, paths):
        batch.observed[case.name] = _cli_row(case, os.fsdecode(path), by_input, folders, out, batch)
    return batch


def _cli_row(case: FileCase, path: str, by_input: dict, folders: dict, out: Path, batch: CliBatch) -> Observed:
    if batch.summary is None:
        return Observed("no_summary", batch.returncode, detail="the batch wrote no summary.json: "
                        + _last_traceback(batch.stderr))
    found = by_input.get(path, [])
    if len(found) != 1:
        return Observed("missing_from_summary", batch.returncode, detail=f"{len(found)} rows for {path!r}")
    row = found[0]
    root = out.resolve()
    folder = (out / row["name"]).resolve()
    if folder == root or root not in folder.parents:
        return Observed("outside_out", batch.returncode, detail=f"folder name {row['name']!r} -> {folder}")
    if len(folders[row["name"].casefold()]) > 1:
        return Observed("shared_folder", batch.returncode,
                        detail=f"{row['name']!r} shared (ignoring case) by {folders[row['name'].casefold()]}")
    hidden = [f"U+{ord(ch):04X}" for ch in row["name"] if unicodedata.category(ch) in ("Cc", "Cf")]
    if hidden:
        return Observed("unsafe_folder_name", batch.returncode,
                        detail=f"{row['name']!r} holds control or format characters {hidden}")
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        return Observed("no_manifest", batch.returncode, detail=str(manifest_path))
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("input") != path:
        return Observed("overwritten", batch.returncode, detail=f"{manifest_path} holds {manifest.get('input')!r}")
    if row["status"] == "ok":
        if not any((folder / f).is_file() for f in row["files"] if f.startswith("final")):
            return Observed("no_final", batch.returncode, detail=f"files {row['files']}")
        size = (manifest.get("properties") or {}).get("size")
        return Observed(OK, batch.returncode, row["background_kind"], tuple(size) if size else None)
    error = row["error"] or {}
    if case.data and not any(f.startswith("input") for f in os.listdir(folder)):
        return Observed("input_not_kept", batch.returncode, detail=f"{error.get('code')}: no input.* beside the "
                        f"manifest of a failed input (files {sorted(os.listdir(folder))})")
    return Observed(error.get("code", "no_error_code"), batch.returncode, detail=error.get("message", "")[:200])


def _last_traceback(stderr: str) -> str:
    """The exception line of the last traceback on stderr (else its last line)."""
    lines = [line.strip(" │") for line in stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[\w.]+(Error|Exception|error)\b", line)]
    return ((errors or lines or [""])[-1])[:300]


def cli_option(args: list[str], workdir: Path) -> Observed:
    """One good photo with a hostile option: must exit 2 before anything is written."""
    workdir.mkdir(parents=True, exist_ok=True)
    photo = workdir / "photo.png"
    photo.write_bytes(png(1))
    out = workdir / "out"
    rc, _, stderr, _ = run_cli(["--out", str(out), "--size", str(SIZE), *args, "--", str(photo)], timeout=120)
    if rc is None:
        return Observed("timeout", None)
    if "Traceback" in stderr:
        return Observed("traceback", rc, detail=_last_traceback(stderr))
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*")) if out.exists() else []
    if rc == 2 and not written:
        return Observed("usage_error", rc)
    return Observed("ran" if rc != 2 else "usage_error_after_writing", rc,
                    detail=f"exit {rc}, wrote {written[:6]}: {_last_traceback(stderr)}")


# ---------------------------------------------------------------------------------------------------------------
# HTTP


@contextmanager
def http_client(runs_dir: Path) -> Iterator[Any]:
    """The app on a TestClient that answers a 500 for a server exception, as a real server would."""
    from fastapi.testclient import TestClient

    from events.http import create_app
    from events.settings import Settings

    settings = Settings(runs_dir=runs_dir, max_concurrent_jobs=4, max_request_bytes=REQUEST_CAP)
    with TestClient(ServerErrors(create_app(settings)), raise_server_exceptions=False) as client:
        yield client


class ServerErrors:
    """ASGI wrapper that remembers the last exception the app let escape (the cause of a 500)."""

    def __init__(self, app):
        self.app, self.last = app, ""

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.last = ""
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            self.last = f"{type(exc).__name__}: {exc}"[:300]
            raise


def _server_error(client) -> str:
    return getattr(client.app, "last", "")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _error(resp) -> tuple[str, str]:
    try:
        e = resp.json()["error"]
        return e["code"], e.get("message", "")
    except Exception:
        return f"http_{resp.status_code}", resp.text[:200]


def _send(client, http: Http, default_path: str, stream: bool = False):
    kwargs: dict[str, Any] = {"headers": dict(http.headers)}
    if http.files is not None or http.form is not None:
        kwargs["files"], kwargs["data"] = http.files, http.form
    elif http.raw is not None:
        kwargs["content"] = iter([http.raw]) if http.chunked else http.raw  # an iterator goes out chunked
        kwargs["headers"]["content-type"] = http.content_type
    elif http.body is not None:
        kwargs["json"] = http.body
    path = http.path or default_path
    if stream:
        return client.stream(http.method, path, **kwargs)
    return client.request(http.method, path, **kwargs)


def photography(client, http: Http, secrets: tuple[bytes, ...] = ()) -> Observed:
    def call() -> Observed:
        with _send(client, http, "/photography/background", stream=True) as r:
            body = b"".join(r.iter_bytes())
            status = r.status_code
            sse = r.headers.get("content-type", "").startswith("text/event-stream")
        leak = _leak(body, secrets)
        if leak:
            return Observed("leak", status, detail=leak)
        if status != 200:
            code, message = _error(_Reply(status, body))
            if status >= 500:
                return Observed(f"http_{status}", status, detail=_server_error(client) or message[:200])
            return Observed(code, status, detail=message[:200])
        try:
            text = body.decode().splitlines()
            lines = [json.loads(line[6:]) for line in text if line.startswith("data: ")] if sse else \
                [json.loads(line) for line in text if line.strip()]
        except ValueError as exc:
            return Observed("bad_stream", status, detail=f"{exc}: {body[:200]!r}")
        if not lines:
            return Observed("empty_stream", status)
        last = lines[-1]
        if "error" in last:
            return Observed(last["error"].get("code", "no_code"), status, detail=last["error"].get("message", "")[:200])
        if last.get("step") != 3:
            return Observed("stream_truncated", status, detail=f"last step {last.get('step')}")
        first = lines[0]
        return Observed(OK, status, first.get("background_kind"), tuple(first["size"]) if "size" in first else None)

    return within(HTTP_DEADLINE_S, call)


class _Reply:
    def __init__(self, status: int, body: bytes):
        self.status_code, self.text, self._body = status, body.decode(errors="replace"), body

    def json(self):
        return json.loads(self._body)


def photography_file(client, case: FileCase) -> Observed:
    return photography(client, Http(body={"image_b64": _b64(case.data), "size": SIZE}))


def jobs(client, http: Http | None = None, files: dict | None = None, data: dict | None = None,
         secrets: tuple[bytes, ...] = ()) -> Observed:
    def call() -> Observed:
        if files is not None:
            r = client.post("/jobs", files=files, data=data)
        else:
            r = _send(client, http, "/jobs")
        leak = _leak(r.content, secrets)
        if leak:
            return Observed("leak", r.status_code, detail=leak)
        if r.status_code not in (200, 202):
            code, message = _error(r)
            if r.status_code >= 500:
                return Observed(f"http_{r.status_code}", r.status_code, detail=_server_error(client) or message[:200])
            return Observed(code, r.status_code, detail=message[:200])
        job_id = r.json()["id"]
        deadline = time.monotonic() + HTTP_DEADLINE_S - 5
        while time.monotonic() < deadline:
            view = client.get(f"/jobs/{job_id}")
            if view.status_code != 200:
                return Observed(f"job_view_{view.status_code}", view.status_code, detail=view.text[:200])
            job = view.json()
            if job["status"] in ("done", "failed"):
                break
            time.sleep(0.05)
        else:
            return Observed("timeout", 202, detail=f"job {job_id} still {job['status']}")
        for name in ("input.bin", "input.png", "input.jpg"):
            artefact = client.get(f"/runs/{job_id}/{name}")
            leak = _leak(artefact.content, secrets) if artefact.status_code == 200 else ""
            if leak:
                return Observed("leak", 202, detail=f"/runs/{job_id}/{name}: {leak}")
        if job["status"] == "done":
            first = next((e for e in job["events"] if e.get("stage") == "normalize"), {})
            return Observed(OK, 202, first.get("background_kind"), tuple(first["size"]) if "size" in first else None)
        error = job.get("error") or {}
        return Observed(error.get("code", "no_code"), 202, detail=(error.get("message") or "")[:200])

    return within(HTTP_DEADLINE_S, call)


def jobs_file(client, case: FileCase) -> Observed:
    name = case.upload_name or case.disk_name
    name = name.decode("latin-1") if isinstance(name, bytes) else name
    seen = jobs(client, files={"file": (name, case.data, "application/octet-stream")},
                data={"options": json.dumps({"size": SIZE})})
    escaped = _escaped(client)
    return Observed("escaped", seen.status, detail=f"wrote {escaped}") if escaped else seen


def _escaped(client) -> list[str]:
    """Files or folders named after ESCAPE outside the runs folder (in /tmp, or beside the runs folder)."""
    runs = Path(client.app.app.state.settings.runs_dir).resolve()
    places = [Path(tempfile.gettempdir()), Path("/tmp"), runs.parent, runs.parent.parent]
    found = {str(p) for place in places if place.is_dir() for p in place.iterdir() if ESCAPE in p.name}
    return sorted(found)


def scenario(client, case: RequestCase) -> Observed:
    def call() -> Observed:
        status, code, detail = case.scenario(client)
        leak = _leak(detail.encode(errors="replace"), case.secrets)
        if leak:
            return Observed("leak", status, detail=leak)
        if status >= 500:
            return Observed(f"http_{status}", status, detail=_server_error(client) or detail)
        return Observed(code, status, detail=detail)

    return within(HTTP_DEADLINE_S, call)


def _leak(body: bytes, secrets: tuple[bytes, ...]) -> str:
    hits = [s.decode(errors="replace") for s in secrets if s in body]
    return f"the reply holds {hits}" if hits else ""


def as_dict(seen: Observed) -> dict[str, Any]:
    d = asdict(seen)
    d["size"] = list(seen.size) if seen.size else None
    return d
