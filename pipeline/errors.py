"""Errors with a stable ``code`` and a message that says what to fix.

Every failure a user can cause or repair surfaces as a :class:`BgflowError`; the code is part of the public
contract (manifest ``error.code``, HTTP error bodies) and never changes meaning.
"""

from __future__ import annotations


class BgflowError(Exception):
    """Base error: ``code`` is stable and machine-readable, the message tells the user what to do."""

    code = "bgflow_error"
    http_status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class InputError(BgflowError):
    """The input cannot be processed as given; the caller must change it."""

    code = "invalid_input"
    http_status = 400


class EmptyInput(InputError):
    code = "empty_input"


class InputNotFound(InputError):
    """The named input (a local file, a bucket object) does not exist (any more)."""

    code = "input_not_found"
    http_status = 404


class UnsupportedFormat(InputError):
    code = "unsupported_format"
    http_status = 415


class CorruptImage(InputError):
    code = "corrupt_image"
    http_status = 422


class ImageTooLarge(InputError):
    code = "image_too_large"
    http_status = 413


class ImageTooSmall(InputError):
    code = "image_too_small"
    http_status = 422


class InvalidOption(InputError):
    code = "invalid_option"
    http_status = 422


class UnknownBackend(BgflowError):
    code = "unknown_backend"
    http_status = 400


class BackendUnavailable(BgflowError):
    """A model backend cannot run here: weights or packages are missing. The message names the fix."""

    code = "backend_unavailable"
    http_status = 503


class ProductNotFound(BgflowError):
    code = "product_not_found"
    http_status = 422


class UnsafeUrl(InputError):
    code = "unsafe_url"
    http_status = 400


class FetchFailed(InputError):
    code = "fetch_failed"
    http_status = 422


class InternalError(BgflowError):
    code = "internal_error"


class DescriberFailed(BgflowError):
    """The vision model could not be reached, refused, or timed out."""

    code = "describer_failed"
    http_status = 502


class DescriberInvalidOutput(BgflowError):
    """The vision model answered, but not with JSON that follows the schema."""

    code = "describer_invalid_output"
    http_status = 502


class InvalidEvent(InputError):
    """A trigger's payload is not an event bgflow understands (S3 notification, EventBridge, Shopify webhook)."""

    code = "invalid_event"
    http_status = 400


class InvalidSignature(BgflowError):
    """A webhook whose signature does not match its body (or that has none)."""

    code = "invalid_signature"
    http_status = 401


class ExternalServiceFailed(BgflowError):
    """A service bgflow writes results to (S3, the Shopify Admin API) refused or failed."""

    code = "external_service_failed"
    http_status = 502


class Cancelled(BgflowError):
    """The caller went away (a closed stream) or asked to stop; the run ended after the stage in hand."""

    code = "cancelled"
    http_status = 499


def error_for(error: dict[str, str]) -> BgflowError:
    """The error a recorded ``{code, message}`` stands for (its class, so its HTTP status), e.g. from a manifest."""
    def subclasses(cls: type[BgflowError]):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    cls = next((c for c in subclasses(BgflowError) if c.code == error.get("code")), None)
    exc = (cls or InternalError)(error.get("message", ""))
    if cls is None:
        exc.code = error.get("code") or InternalError.code
    return exc
