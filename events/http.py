"""The FastAPI app: ``create_app()``; served locally by ``bgflow serve`` and on Modal through ``@modal.asgi_app``.

No work at import time: the app, its run pool and its settings are built by the factory.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import Callable

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline import __version__
from pipeline.errors import BgflowError
from pipeline.storage import LocalStorage

from .intake import Intake
from .ledger import LocalLedger
from .settings import Settings, get_settings
from .web import check, health, jobs, photography, playground, webhooks
from .web.deps import require_token
from .web.playground import STATIC
from .web.pool import RunPool, ServerBusy
from .web.store import FolderJobStore, LocalJobs

RETRY_AFTER_S = 5


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413: from Content-Length at once, or, for a chunked body, by
    reading it (up to the limit) before the app sees it."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.limit:
                return await _too_large(self.limit)(scope, receive, send)
            return await self.app(scope, receive, send)
        if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        messages, seen = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            seen += len(message.get("body", b""))
            if seen > self.limit:
                return await _too_large(self.limit)(scope, receive, send)
            if not message.get("more_body"):
                break

        async def replay():
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(status_code=413, content={"error": {
        "code": "request_too_large", "message": f"The request body is over {limit / 1e6:.0f} MB. Send a smaller image."}})


def _error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}}, headers=headers)


def create_app(settings: Settings | None = None, executor=None, shopify_trigger=None,
               shopify_dispatch: Callable | None = None, ledger=None, store=None, job_runner=None,
               reload_runs: Callable[[], None] = lambda: None) -> FastAPI:
    """The app; ``executor`` runs the stages (in this process by default, or as Modal function calls).
    ``shopify_dispatch(product)`` queues a webhook's product (default: the pool's threads running
    ``shopify_trigger``, itself by default :func:`events.web.webhooks.local_trigger`). Job records live in ``store``
    and idempotency claims in ``ledger`` (default: the runs folder); ``job_runner`` starts them (default: this app's pool;
    on Modal a spawned ``run_job``); ``reload_runs`` refreshes the runs folder when it is a shared Volume."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        app.state.pool.shutdown()

    closed = settings.api_token is not None  # the API description is served only with the token, then
    app = FastAPI(title="bgflow", version=__version__, lifespan=lifespan,
                  description="Product photos in, catalogue-ready images out.",
                  docs_url=None if closed else "/docs", redoc_url=None, openapi_url=None if closed else "/openapi.json")
    app.state.settings = settings
    app.state.pool = RunPool(settings, executor)
    runs = Path(settings.runs_dir)
    app.state.intake = Intake(settings, app.state.pool.executor, LocalStorage(runs),
                              ledger or LocalLedger.in_runs(runs, settings.ledger_lease_s))
    app.state.store = store or FolderJobStore(runs)
    app.state.jobs = job_runner or LocalJobs(app.state.pool, app.state.intake, app.state.store)
    app.state.reload_runs = reload_runs
    app.state.shopify_dispatch = shopify_dispatch or webhooks.PoolDispatch(
        app.state.pool, lambda: shopify_trigger or webhooks.local_trigger(settings, app.state.pool.executor))
    if closed:
        @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require_token)])
        def openapi() -> dict:
            return app.openapi()

    @app.exception_handler(BgflowError)
    async def bgflow_error(_: Request, exc: BgflowError):
        return _error(exc.http_status, exc.code, exc.message)

    @app.exception_handler(ServerBusy)
    async def busy(_: Request, exc: ServerBusy):
        return _error(503, "server_busy", f"{exc}. Retry in a few seconds.", {"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _error(422, "invalid_request", f"{where or 'body'}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(ValidationError)
    async def invalid_model(_: Request, exc: ValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, "invalid_request", f"{where or 'body'}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException):
        if isinstance(exc.detail, dict):
            detail = exc.detail
        elif exc.status_code == 400:  # FastAPI could not parse the body (not JSON, or nested past any reason)
            detail = {"code": "invalid_request", "message": "The request body could not be parsed: send JSON "
                      "(Content-Type: application/json) or multipart/form-data as documented."}
        else:
            detail = {"code": f"http_{exc.status_code}", "message": str(exc.detail)}
        return JSONResponse(status_code=exc.status_code, content={"error": detail}, headers=exc.headers)

    for module in (health, photography, jobs, check, webhooks, playground):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"])
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    return app
