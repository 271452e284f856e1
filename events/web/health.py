"""GET /healthz (the process answers) and GET /readyz (which backends can run)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from .deps import PoolDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(pool: PoolDep) -> JSONResponse:
    backends = pool.executor.backend_names()
    busy = pool.slots.size - pool.slots._sem._value  # noqa: SLF001 (a gauge, read only)
    return JSONResponse({"status": "ready", "backends": {family: {"name": name, "ready": True}
                                                         for family, name in backends.items()},
                         "slots": {"size": pool.slots.size, "busy": busy}})
