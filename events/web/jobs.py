"""Async jobs for long work: POST /jobs -> 202; GET /jobs/{id}; GET /jobs/{id}/events (SSE, resumable);
artefacts under GET /runs/{id}/{name}."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

from pipeline.contract import process
from pipeline.errors import InvalidOption
from pipeline.normalize import read_source
from pipeline.runner import Job, RunOptions
from pipeline.storage import LocalStorage

from .deps import PoolDep, SettingsDep, require_token
from .fetch import check_url, fetch_image
from .models import JobRequest, Options
from .pool import JobRecord

router = APIRouter(tags=["jobs"], dependencies=[Depends(require_token)])
EVENTS_TIMEOUT_S = 900


def _job_event(record: JobRecord, event) -> dict:
    """A step for job watchers: the stage's JSON and links to the artefacts that exist so far."""
    links = {"normalize": "normalized.png", "segment": "mask.png"}
    item = {"step": event.step, "stage": event.stage, "ms": event.ms, "run_id": record.id} | event.payload
    if event.stage in links:
        item["image"] = f"/runs/{record.id}/{links[event.stage]}"
    return item


@router.post("/jobs", status_code=202)
async def create_job(request: Request, pool: PoolDep, settings: SettingsDep,
                     idempotency_key: Annotated[str | None, Header(max_length=200)] = None) -> JSONResponse:
    """Start a job from a multipart upload (``file``, optional ``options`` JSON), JSON ``image_b64``, or JSON ``url``
    (https, allow-listed hosts only). Send ``Idempotency-Key`` to make retries safe."""
    ctype = request.headers.get("content-type", "")
    source: bytes | None = None
    url: str | None = None
    if ctype.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or not hasattr(upload, "read"):
            raise InvalidOption("Send the image as the multipart field 'file'.")
        source = await upload.read()
        options = Options.model_validate_json(form.get("options") or "{}")
    elif ctype.startswith("application/json"):
        body = JobRequest.model_validate_json(await request.body())
        if bool(body.image_b64) == bool(body.url):
            raise InvalidOption("Send exactly one of 'image_b64' or 'url'.")
        options = body.options or Options()
        if body.url:
            check_url(body.url, settings)  # refused at once; the fetch itself runs in the job
            url = body.url
        else:
            source = read_source(body.image_b64, settings)
    else:
        raise HTTPException(status_code=415, detail={"code": "unsupported_media_type",
                                                     "message": "Send multipart/form-data or application/json."})
    run_options = RunOptions(**options.model_dump(exclude_none=True))
    run_options.resolved(settings)
    storage = LocalStorage(Path(settings.runs_dir))

    def work(record: JobRecord) -> None:
        data = source if source is not None else fetch_image(url, settings)
        job = Job(source=data, name=record.id, options=run_options, run_id=record.id, idempotency_key=idempotency_key)
        manifest = process(job, storage, pool.executor, on_event=lambda e: record.events.append(_job_event(record, e)))
        record.manifest = manifest
        record.status = "done" if manifest["status"] == "ok" else "failed"
        record.error = manifest["error"]

    record, created = pool.submit_job(work, idempotency_key)
    return JSONResponse(status_code=202 if created else 200, content={
        "id": record.id, "status": record.status, "status_url": f"/jobs/{record.id}",
        "events_url": f"/jobs/{record.id}/events"})


def _record(pool, job_id: str) -> JobRecord:
    record = pool.record(job_id)
    if record is None:
        raise HTTPException(status_code=404, detail={"code": "job_not_found", "message": f"No job '{job_id}'."})
    return record


@router.get("/jobs/{job_id}")
def get_job(job_id: str, pool: PoolDep) -> dict:
    return _record(pool, job_id).view()


@router.get("/jobs/{job_id}/events", response_class=StreamingResponse)
async def job_events(job_id: str, pool: PoolDep,
                     last_event_id: Annotated[int | None, Header()] = None) -> StreamingResponse:
    """Server-sent events of the job's steps; reconnect with Last-Event-ID to resume after that event."""
    record = _record(pool, job_id)

    async def frames():
        i = 0 if last_event_id is None else last_event_id + 1
        deadline = time.monotonic() + EVENTS_TIMEOUT_S
        while time.monotonic() < deadline:
            while i < len(record.events):
                yield f"id: {i}\nevent: step\ndata: {json.dumps(record.events[i])}\n\n"
                i += 1
            if record.done.is_set() and i >= len(record.events):
                yield f"event: end\ndata: {json.dumps(record.view() | {'events': None})}\n\n"
                return
            await asyncio.sleep(0.1)

    return StreamingResponse(frames(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.get("/runs/{run_id}/{name}")
def artefact(run_id: str, name: str, settings: SettingsDep) -> FileResponse:
    root = Path(settings.runs_dir).resolve()
    path = (root / run_id / name).resolve()
    if root not in path.parents or not path.is_file():
        raise HTTPException(status_code=404, detail={"code": "not_found", "message": "No such artefact."})
    return FileResponse(path)
