"""The FastAPI app: ``create_app()``; served locally by ``bgflow serve`` and on Modal through ``@modal.asgi_app``.

No work at import time: the app, its run pool and its settings are built by the factory.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline import __version__
from pipeline.errors import BgflowError
from pipeline.settings import Settings, get_settings

from .web import health, jobs, photography, playground, webhooks
from .web.playground import STATIC
from .web.pool import RunPool, ServerBusy

RETRY_AFTER_S = 5


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, from Content-Length or while reading a chunked body."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            return await _too_large(self.limit)(scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _BodyTooLarge()
            return message

        try:
            await self.app(scope, counted, send)
        except _BodyTooLarge:
            await _too_large(self.limit)(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(status_code=413, content={"error": {
        "code": "request_too_large", "message": f"The request body is over {limit / 1e6:.0f} MB. Send a smaller image."}})


def _error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}}, headers=headers)


def create_app(settings: Settings | None = None, executor=None, shopify_trigger=None,
               shopify_dispatch: Callable | None = None) -> FastAPI:
    """The app; ``executor`` runs the stages (in this process by default, or as Modal function calls).
    ``shopify_dispatch(product)`` queues a webhook's product (default: the pool's threads running
    ``shopify_trigger``, itself by default :func:`events.web.webhooks.local_trigger`)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        app.state.pool.shutdown()

    app = FastAPI(title="bgflow", version=__version__, lifespan=lifespan,
                  description="Product photos in, catalogue-ready images out.")
    app.state.settings = settings
    app.state.pool = RunPool(settings, executor)
    app.state.shopify_dispatch = shopify_dispatch or webhooks.PoolDispatch(
        app.state.pool, lambda: shopify_trigger or webhooks.local_trigger(settings, app.state.pool.executor))

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
        detail = exc.detail if isinstance(exc.detail, dict) else {"code": f"http_{exc.status_code}",
                                                                   "message": str(exc.detail)}
        return JSONResponse(status_code=exc.status_code, content={"error": detail}, headers=exc.headers)

    for module in (health, photography, jobs, webhooks, playground):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"])
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes)
    return app
