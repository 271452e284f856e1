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
    return JSONResponse({"status": "ready", "backends": {family: {"name": name, "ready": True}
                                                         for family, name in backends.items()},
                         "slots": pool.gauge()})
