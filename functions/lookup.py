"""Calls into the deployed app from outside Modal (``bgflow run --executor modal``)."""

from __future__ import annotations

from typing import Any

from pipeline.errors import BackendUnavailable

from .infra import APP_NAME


def deployed_call(target: str, payload: dict[str, Any]) -> dict[str, Any]:
    import modal

    kind, *rest = target.split(".")
    try:
        if kind == "cpu":
            return modal.Function.from_name(APP_NAME, rest[0]).remote(payload)
        cls_name, method = rest
        return getattr(modal.Cls.from_name(APP_NAME, cls_name)(), method).remote(payload)
    except modal.exception.Error as exc:
        raise BackendUnavailable(
            f"Could not call {target} on the Modal app '{APP_NAME}' ({type(exc).__name__}). Log in with "
            "`modal token new` and deploy with `modal deploy modal_app.py`."
        ) from None
