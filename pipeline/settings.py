"""The pipeline's settings, read from ``BGFLOW_*`` environment variables. Adapters (web, triggers) extend them in
``events/settings.py``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .options import FORMATS, PRESETS, SEED_MAX, STYLE_CHOICES, RunOptions

OnScene = Literal["keep", "skip", "process"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BGFLOW_", env_file=None, extra="forbid")

    # Input limits.
    max_pixels: int = Field(60_000_000, description="Refuse images with more pixels than this (decompression bombs).")
    max_bytes: int = Field(40 * 1024 * 1024, description="Refuse inputs larger than this many bytes.")
    min_side: int = Field(16, description="Refuse images whose shorter side is below this.")
    max_side: int = Field(4096, description="Normalized images are downscaled to at most this long side.")

    # Output defaults (each can be overridden per job).
    output_size: int = Field(2048, ge=64, le=8192, description="Long side of the final image in pixels.")
    output_format: str = Field("png", description=" | ".join(FORMATS))
    preset: str = Field("centered", description=" | ".join(PRESETS))
    style: str = Field("sweep", description=" | ".join(STYLE_CHOICES))
    seed: int = Field(0, ge=0, le=SEED_MAX)
    variants: int = Field(1, ge=1, le=8)
    on_scene: OnScene = "keep"
    jpeg_quality: int = Field(92, ge=50, le=100)

    # Backends, chosen by name from pipeline.backends registries.
    segmenter: str = "classical"
    background: str = "procedural"
    upscaler: str = "lanczos"
    describer: str = "heuristic"
    orienter: str = "geometric"
    weights_dir: Path = Path("weights")
    model_revisions: dict[str, str] = Field(default_factory=dict, description="Model name -> Hub commit to download.")
    device: str = Field("auto", description="Where models run: auto (cuda when available), cpu or cuda; their dtype "
                        "follows it (bf16/fp16 on cuda, fp32 on cpu).")
    load_device: str | None = Field(None, description="Where weights are loaded before .to(device) moves them "
                                    "(cpu under a memory snapshot); None: straight onto the device.")
    # Flux Fill
    flux_steps: int = Field(28, ge=1, le=100)
    flux_guidance: float = 30.0
    flux_cpu_offload: bool = False
    # Real-ESRGAN
    upscale_tile: int = Field(512, ge=32, description="Tile size in pixels for the x4 model; 0 overlap below 32.")
    upscale_tile_overlap: int = Field(32, ge=0)

    # OpenAI-compatible describer.
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o"
    openai_timeout_s: float = Field(30.0, description="Per request; retries come on top.")
    openai_max_retries: int = Field(3, ge=0, description="Retries with backoff on 429, 5xx and timeouts.")
    openai_image_side: int = Field(768, ge=128, le=2048, description="Long side of the image sent to the model.")
    cache_dir: Path = Field(Path(".bgflow-cache"), description="Answers of paid models, keyed by image and prompt.")

    @field_validator("output_format", "preset", "style")
    @classmethod
    def _registered(cls, value: str, info) -> str:
        """Checked against the same registries as per-job options."""
        field = {"output_format": "format"}.get(info.field_name, info.field_name)
        return getattr(RunOptions.parse({field: value}), field)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
