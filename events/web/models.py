"""Request bodies of the web API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.runner import RunOptions

OPTION_FIELDS = ("preset", "style", "size", "format", "seed", "variants", "prompt", "on_scene")


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    preset: Literal["centered", "marketplace", "portrait", "landscape"] | None = None
    style: str | None = None
    size: int | None = Field(None, ge=64, le=8192)
    format: Literal["png", "jpg", "jpeg", "webp"] | None = None
    seed: int | None = None
    variants: int | None = Field(None, ge=1, le=8)
    prompt: str | None = Field(None, max_length=2000)
    on_scene: Literal["keep", "skip", "process"] | None = None


class BackgroundRequest(Options):
    """The old service's body: ``image_b64`` (data URI or raw base64), options nested or at the top level, and
    ``preferences``, the old free-text field, fed to the background prompt."""

    model_config = ConfigDict(extra="ignore")
    image_b64: str = Field(min_length=1)
    options: Options | None = None
    preferences: str | None = Field(None, max_length=2000)

    def run_options(self) -> RunOptions:
        merged = {k: getattr(self, k) for k in OPTION_FIELDS if getattr(self, k) is not None}
        if self.options:
            merged |= self.options.model_dump(exclude_none=True)
        if self.preferences and not merged.get("prompt"):
            merged["prompt"] = self.preferences
        return RunOptions(**merged)


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_b64: str | None = None
    url: str | None = Field(None, max_length=2048)
    options: Options | None = None
