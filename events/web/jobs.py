"""Async jobs for long work: POST /jobs -> 202; GET /jobs/{id}; GET /jobs/{id}/events (SSE, resumable);
artefacts under GET /runs/{id}/{name}. Any app instance that shares the runs store answers for any job."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

from pipeline.errors import InvalidOption

from events.intake import Base64Text, HttpsUrl, Upload, fingerprint

from .deps import IntakeDep, JobsDep, SettingsDep, StoreDep, require_token
from .models import JobRequest, JobView, Options
from .store import job_status

router = APIRouter(tags=["jobs"], dependencies=[Depends(require_token)])
EVENTS_TIMEOUT_S = 900
ARTEFACT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
IdempotencyKey = Annotated[str | None, Header(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")]


class IdempotencyKeyReused(InvalidOption):
    code = "idempotency_key_reused"


async def _job_input(request: Request) -> tuple[Any, dict, bytes]:
    """(input kind, raw options, what identifies the input) from a multipart upload or a JSON body."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or not hasattr(upload, "read"):
            raise InvalidOption("Send the image as the multipart field 'file'.")
        data = await upload.read()
        raw = form.get("options") or "{}"
        options = Options.model_validate_json(raw if isinstance(raw, str) else "{}")
        return Upload(data, upload.filename), options.model_dump(exclude_none=True), data
    if ctype == "application/json":
        body = JobRequest.model_validate_json(await request.body())
        if bool(body.image_b64) == bool(body.url):
            raise InvalidOption("Send exactly one of 'image_b64' or 'url'.")
        options = (body.options or Options()).model_dump(exclude_none=True)
        if body.url:
            return HttpsUrl(body.url), options, body.url.encode()
        return Base64Text(body.image_b64), options, body.image_b64.encode()
    raise HTTPException(status_code=415, detail={"code": "unsupported_media_type",
                                                 "message": "Send multipart/form-data or application/json."})


@router.post("/jobs", status_code=202, response_model=JobView)
async def create_job(request: Request, intake: IntakeDep, store: StoreDep, jobs: JobsDep,
                     idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Start a job from a multipart upload (``file``, optional ``options`` JSON), JSON ``image_b64``, or JSON ``url``
    (https, allow-listed hosts only). Send ``Idempotency-Key`` to make retries safe: the same key with the same request
    returns the same job, with another request a 422."""
    source, raw_options, identity = await _job_input(request)
    job_id = (hashlib.sha256(f"http-job:{idempotency_key}".encode()).hexdigest()[:16] if idempotency_key
              else uuid.uuid4().hex[:16])
    ticket = await asyncio.to_thread(intake.accept, source, raw_options, name=job_id, key=f"http-job:{job_id}",
                                     run_id=job_id)
    digest = fingerprint(hashlib.sha256(identity).hexdigest(), ticket.options.to_dict())
    created, record = store.create(job_id, digest)
    if not created:
        if record.get("fingerprint") != digest:
            raise IdempotencyKeyReused("This Idempotency-Key was used with a different request. Use a new key for "
                                       "a new request.")
        return JSONResponse(status_code=200, content=_links(job_id) | {"status": _status(request, job_id, record)})
    try:
        await asyncio.to_thread(jobs.start, ticket, job_id)
    except Exception:
        store.remove(job_id)  # not accepted: a retry with the same key starts it
        raise
    return JSONResponse(status_code=202, content=_links(job_id) | {"status": "queued"})


def _links(job_id: str) -> dict[str, str]:
    return {"id": job_id, "status_url": f"/jobs/{job_id}", "events_url": f"/jobs/{job_id}/events"}


def _status(request: Request, job_id: str, record: dict[str, Any]) -> str:
    state = request.app.state
    return job_status(job_id, record, state.store, state.jobs, state.intake.ledger)


JobId = Annotated[str, PathParam(description="The id POST /jobs returned.")]


def _record(store, job_id: str) -> dict[str, Any]:
    record = store.get(job_id)
    if record is None:
        raise HTTPException(status_code=404, detail={"code": "job_not_found", "message": "No such job."})
    return record


@router.get("/jobs/{job_id}", response_model=JobView)
def get_job(request: Request, job_id: JobId, store: StoreDep) -> dict:
    return _view(request, job_id, _record(store, job_id))


def _view(request: Request, job_id: str, record: dict[str, Any]) -> dict[str, Any]:
    store = request.app.state.store
    status = _status(request, job_id, record)
    manifest = store.manifest(job_id) or {}
    error = manifest.get("error")
    if status == "interrupted":
        error = {"code": "interrupted", "message": "The server stopped before this job finished. Submit it again "
                 "with a new Idempotency-Key."}
    files = manifest.get("files", [])
    return _links(job_id) | {"status": status, "events": store.events(job_id), "error": error,
                             "results": {name: f"/runs/{job_id}/{name}" for name in files}}


@router.get("/jobs/{job_id}/events", response_class=StreamingResponse)
async def job_events(request: Request, job_id: JobId, store: StoreDep,
                     last_event_id: Annotated[int | None, Header(ge=0, le=10_000)] = None) -> StreamingResponse:
    """Server-sent events of the job's steps; reconnect with Last-Event-ID to resume after that event."""
    record = _record(store, job_id)

    async def frames():
        i = 0 if last_event_id is None else last_event_id + 1
        deadline = time.monotonic() + EVENTS_TIMEOUT_S
        while time.monotonic() < deadline:
            events = await asyncio.to_thread(store.events, job_id)
            while i < len(events):
                yield f"id: {i}\nevent: step\ndata: {json.dumps(events[i])}\n\n"
                i += 1
            if await asyncio.to_thread(_status, request, job_id, record) in ("done", "failed", "interrupted"):
                view = await asyncio.to_thread(_view, request, job_id, record)
                yield f"event: end\ndata: {json.dumps(view | {'events': None})}\n\n"
                return
            await asyncio.sleep(0.2)

    return StreamingResponse(frames(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.get("/runs/{run_id}/{name}")
def artefact(request: Request, run_id: str, name: str, settings: SettingsDep) -> FileResponse:
    root = Path(settings.runs_dir).resolve()
    if not re.fullmatch(r"[0-9a-f]{12,16}", run_id) or not ARTEFACT.match(name) or name.startswith("job."):
        raise HTTPException(status_code=404, detail={"code": "not_found", "message": "No such artefact."})
    path = root / run_id / name
    if not path.is_file():
        request.app.state.reload_runs()  # written by another container since this one last looked
    if not path.is_file():
        raise HTTPException(status_code=404, detail={"code": "not_found", "message": "No such artefact."})
    return FileResponse(path)
