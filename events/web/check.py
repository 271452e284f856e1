"""POST /check: one image against a marketplace's rules, the same report as ``bgflow check --json``."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from pipeline.compliance import check_image, load_rules, marketplaces
from pipeline.errors import InputError, InvalidOption

from events.intake import Base64Text, Upload

from .deps import PoolDep, SettingsDep, require_token

router = APIRouter(tags=["compliance"], dependencies=[Depends(require_token)])
INPUT_ERRORS = {cls.code: cls for cls in InputError.__subclasses__()}  # unreadable, too large, too small ...


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_b64: str = Field(min_length=1, description="The image as base64 or a base64 data URI.")
    marketplace: str = Field(max_length=32, description=" | ".join(marketplaces()))


@router.post("/check")
async def check(request: Request, pool: PoolDep, settings: SettingsDep) -> dict:
    """Check one image (multipart ``file`` + ``marketplace`` field, or JSON ``image_b64`` + ``marketplace``) against
    the marketplace's image rules: per rule the measured value, the limit, pass/fail/warn and what to fix."""
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        form = await request.form()
        upload, marketplace = form.get("file"), form.get("marketplace")
        if upload is None or not hasattr(upload, "read"):
            raise InvalidOption("Send the image as the multipart field 'file'.")
        if not isinstance(marketplace, str) or len(marketplace) > 32:
            raise InvalidOption("Send the marketplace as the multipart field 'marketplace'.")
        source = Upload(await upload.read(), upload.filename or "upload")
    elif ctype.startswith("application/json"):
        body = CheckRequest.model_validate_json(await request.body())
        source, marketplace = Base64Text(body.image_b64), body.marketplace
    else:
        raise HTTPException(status_code=415, detail={"code": "unsupported_media_type",
                                                     "message": "Send multipart/form-data or application/json."})
    rules = load_rules(marketplace)  # an unknown name is a 422 that lists the valid ones
    checked = source.check(settings)  # decoded (base64 is data, never a path), not empty, within the byte limit
    data, name = checked.data, checked.describe()
    # A check is CPU work like a run: it takes a place in the same bounded queue (ServerBusy -> 503 when full).
    report = await asyncio.wrap_future(pool.submit(check_image, data, rules, name, settings))
    unreadable = INPUT_ERRORS.get((report.error or {}).get("code"))
    if unreadable is not None:  # nothing could be measured: the request is at fault, not the image's compliance
        raise unreadable(report.error["message"])
    return report.to_dict()
