"""POST /photography/background: the old service's endpoint, streamed step by step (NDJSON, or SSE on request).

The run goes through the intake like every other trigger (the run contract lands in the runs folder under the run
id) on the pool's bounded queue. A client that goes away stops the run after the stage in hand and frees its slot.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
import uuid
from pathlib import Path
from typing import Annotated, Any, AsyncIterator, Literal

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import StreamingResponse

from pipeline.errors import BgflowError, error_for
from pipeline.storage import LocalStorage
from pipeline.types import StageEvent

from events.intake import Base64Text
from events.outcome import Outcome

from .deps import IntakeDep, PoolDep, SettingsDep, require_json, require_token
from .models import BackgroundRequest
from .steps import LegacySteps, data_uri, ndjson, sse

router = APIRouter(tags=["photography"], dependencies=[Depends(require_token)])
KEEPALIVE_S = 15.0
POLL_S = 0.05


def _stored_as_links(storage: LocalStorage, run_id: str):
    """Step images written under the run's folder and referred to by URL instead of inline."""
    def store(name: str, data: bytes, mime: str) -> str:
        storage.put(f"{run_id}/{name}", data, mime)
        return f"/runs/{run_id}/{name}"

    return store


class _Run:
    """A run on the pool whose events arrive on a queue; ``stop`` asks it to end after the stage in hand."""

    def __init__(self):
        self.items: queue.Queue[StageEvent | Outcome | BaseException] = queue.Queue()
        self.stop = threading.Event()

    async def next(self) -> StageEvent | Outcome | BaseException:
        while True:
            try:
                return self.items.get_nowait()
            except queue.Empty:
                await asyncio.sleep(POLL_S)


@router.post("/photography/background", dependencies=[Depends(require_json)],
             responses={200: {"content": {"application/x-ndjson": {}, "text/event-stream": {}}}})
async def background(body: BackgroundRequest, pool: PoolDep, intake: IntakeDep, settings: SettingsDep,
                     images: Annotated[Literal["inline", "url"], Query()] = "inline",
                     accept: Annotated[str, Header()] = "application/x-ndjson") -> StreamingResponse:
    """Steps 0-3 of one photo as they finish: normalize, analysis, mask + background, output."""
    run_id = uuid.uuid4().hex[:12]
    ticket = await asyncio.to_thread(intake.accept, Base64Text(body.image_b64), body.run_options(), name=run_id,
                                     run_id=run_id)
    run = _Run()

    def work() -> None:
        try:
            run.items.put(intake.run(ticket, on_event=run.items.put, should_stop=run.stop.is_set))
        except BaseException as exc:  # reported as the stream's last step
            run.items.put(exc)

    pool.submit(work)  # ServerBusy -> 503 before anything starts
    try:
        first = await run.next()
    except BaseException:  # the client went away while the run was queued or starting
        run.stop.set()
        raise
    if not isinstance(first, StageEvent):  # nothing streamed yet: the failure is the HTTP answer
        run.stop.set()
        raise _error(first)
    fmt = ticket.options.resolved(settings).format
    store = data_uri if images != "url" else _stored_as_links(LocalStorage(Path(settings.runs_dir)), run_id)
    steps = _steps(first, run, LegacySteps(run_id, fmt, store))
    if "text/event-stream" in accept:
        return StreamingResponse(sse(steps, keepalive=True), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})
    return StreamingResponse(ndjson(steps), media_type="application/x-ndjson")


def _error(item: Outcome | BaseException) -> BgflowError:
    if isinstance(item, Outcome) and item.manifest and item.manifest.get("error"):
        return error_for(item.manifest["error"])
    return error_for({"code": "internal_error", "message": "The run failed unexpectedly; it is recorded on the server."})


async def _steps(first: StageEvent, run: _Run, steps: LegacySteps) -> AsyncIterator[dict[str, Any] | None]:
    """Step objects as the run makes them (None: nothing new for a while, a keep-alive); the run is told to stop
    when the client goes away (the generator is closed)."""
    try:
        for item in steps.feed(first):
            yield item
        quiet_since = time.monotonic()
        while True:
            try:
                item = run.items.get_nowait()
            except queue.Empty:
                if time.monotonic() - quiet_since > KEEPALIVE_S:
                    quiet_since = time.monotonic()
                    yield None
                await asyncio.sleep(POLL_S)
                continue
            quiet_since = time.monotonic()
            if isinstance(item, StageEvent):
                for step in steps.feed(item):
                    yield step
                continue
            if isinstance(item, Outcome) and item.manifest and item.manifest.get("status") == "ok":
                return
            yield steps.error(_error(item))
            return
    finally:
        run.stop.set()
