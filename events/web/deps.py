"""Dependencies shared by the routers: settings, the run pool, the intake and the job store from app state;
bearer-token auth."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from events.intake import Intake
from events.settings import Settings

from .pool import RunPool
from .store import JobStore, LocalJobs

_bearer = HTTPBearer(auto_error=False)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_pool(request: Request) -> RunPool:
    return request.app.state.pool


def get_intake(request: Request) -> Intake:
    return request.app.state.intake


def get_store(request: Request) -> JobStore:
    return request.app.state.store


def get_jobs(request: Request) -> LocalJobs:
    return request.app.state.jobs


SettingsDep = Annotated[Settings, Depends(get_settings)]
PoolDep = Annotated[RunPool, Depends(get_pool)]
IntakeDep = Annotated[Intake, Depends(get_intake)]
StoreDep = Annotated[JobStore, Depends(get_store)]
JobsDep = Annotated[LocalJobs, Depends(get_jobs)]


def require_token(settings: SettingsDep,
                  creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """When BGFLOW_API_TOKEN is set, every API call must send it as a bearer token (compared in constant time)."""
    if settings.api_token is None:
        return
    expected = settings.api_token.get_secret_value().encode()
    given = (creds.credentials if creds else "").encode()
    if not secrets.compare_digest(given, expected):
        raise HTTPException(status_code=401, detail={"code": "unauthorized",
                                                     "message": "Send 'Authorization: Bearer <token>'."},
                            headers={"WWW-Authenticate": "Bearer"})


def require_json(request: Request) -> None:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise HTTPException(status_code=415, detail={"code": "unsupported_media_type",
                                                     "message": "Send the request body as application/json."})
