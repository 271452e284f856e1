"""POST /check: one image against a marketplace's rules, the same report as ``bgflow check --json``."""

from __future__ import annotations

import asyncio
import base64
import binascii

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from pipeline.compliance import check_image, load_rules, marketplaces
from pipeline.errors import EmptyInput, ImageTooLarge, InputError, InvalidOption, UnsupportedFormat

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
        data, name = await upload.read(), upload.filename or "upload"
    elif ctype.startswith("application/json"):
        body = CheckRequest.model_validate_json(await request.body())
        data, marketplace, name = _decode_b64(body.image_b64), body.marketplace, "image_b64"
    else:
        raise HTTPException(status_code=415, detail={"code": "unsupported_media_type",
                                                     "message": "Send multipart/form-data or application/json."})
    rules = load_rules(marketplace)  # an unknown name is a 422 that lists the valid ones
    if not data:
        raise EmptyInput("The image is empty (0 bytes): send the image file's contents.")
    if len(data) > settings.max_bytes:
        raise ImageTooLarge(f"The image is {len(data) / 1e6:.1f} MB; the limit is {settings.max_bytes / 1e6:.0f} MB.")
    # A check is CPU work like a run: it takes a place in the same bounded queue (ServerBusy -> 503 when full).
    report = await asyncio.wrap_future(pool.submit(check_image, data, rules, name, settings))
    unreadable = INPUT_ERRORS.get((report.error or {}).get("code"))
    if unreadable is not None:  # nothing could be measured: the request is at fault, not the image's compliance
        raise unreadable(report.error["message"])
    return report.to_dict()


def _decode_b64(text: str) -> bytes:
    """Base64 text or a base64 data URI -> bytes (request text is data, never a path)."""
    text = text.strip()
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        if ";base64" not in header:
            raise UnsupportedFormat("Only base64 data URIs are accepted: use 'data:image/png;base64,<data>'.")
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise UnsupportedFormat("image_b64 is not valid base64: send the image as base64 or a data URI.") from None
