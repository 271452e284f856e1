"""Request and response bodies of the web API; the options are the pipeline's one schema."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipeline.options import RunOptions


class Options(RunOptions):
    """Per-job options, as in ``pipeline.options.RunOptions`` (unknown fields are refused)."""


class BackgroundRequest(Options):
    """The old service's body: ``image_b64`` (data URI or raw base64), options nested or at the top level, and
    ``preferences``, the old free-text field, fed to the background prompt."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    image_b64: str = Field(min_length=1)
    options: Options | None = None
    preferences: str | None = Field(None, max_length=2000)

    def run_options(self) -> dict[str, Any]:
        merged = {k: getattr(self, k) for k in RunOptions.model_fields if getattr(self, k) is not None}
        if self.options:
            merged |= self.options.model_dump(exclude_none=True)
        if self.preferences and not merged.get("prompt"):
            merged["prompt"] = self.preferences
        return merged


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_b64: str | None = None
    url: str | None = Field(None, max_length=2048)
    options: Options | None = None


class JobView(BaseModel):
    id: str
    status: str = Field(description="queued | running | done | failed | interrupted")
    status_url: str
    events_url: str
    events: list[dict[str, Any]] | None = None
    error: dict[str, str] | None = None
    results: dict[str, str] | None = None
