"""POST /photography/background: the old service's endpoint, streamed step by step (NDJSON, or SSE on request)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from pipeline.runner import Job, run
from pipeline.storage import LocalStorage

from .deps import PoolDep, SettingsDep, require_json, require_token
from .models import BackgroundRequest
from .steps import LegacySteps, data_uri, ndjson, sse, stream

router = APIRouter(tags=["photography"], dependencies=[Depends(require_token)])


def _stored_as_links(storage: LocalStorage, run_id: str):
    """Step images written under the run's folder and referred to by URL instead of inline."""
    def store(name: str, data: bytes, mime: str) -> str:
        storage.put(f"{run_id}/{name}", data, mime)
        return f"/runs/{run_id}/{name}"

    return store


@router.post("/photography/background", dependencies=[Depends(require_json)],
             responses={200: {"content": {"application/x-ndjson": {}, "text/event-stream": {}}}})
async def background(body: BackgroundRequest, pool: PoolDep, settings: SettingsDep,
                     images: Annotated[Literal["inline", "url"], Query()] = "inline",
                     accept: Annotated[str, Header()] = "application/x-ndjson") -> StreamingResponse:
    """Steps 0-3 of one photo as they finish: normalize, analysis, mask + background, output."""
    options = body.run_options()
    job = Job(source=body.image_b64, name="request", options=options)
    fmt = options.resolved(settings).format
    pool.slots.acquire()  # ServerBusy -> 503 before anything starts
    try:
        events = run(job, pool.executor)
        first = await run_in_threadpool(next, events)  # a bad image is a 4xx here, before any byte is streamed
    except BaseException:
        pool.slots.release()
        raise
    store = data_uri if images != "url" else _stored_as_links(LocalStorage(Path(settings.runs_dir)), job.run_id)

    steps = stream(first, events, LegacySteps(job.run_id, fmt, store), on_close=pool.slots.release)
    if "text/event-stream" in accept:
        return StreamingResponse(sse(steps), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    return StreamingResponse(ndjson(steps), media_type="application/x-ndjson")
