"""One Settings object for the whole pipeline, read from ``BGFLOW_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Preset = Literal["centered", "marketplace", "portrait", "landscape"]
OutputFormat = Literal["png", "jpg", "webp"]
OnScene = Literal["keep", "skip", "process"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BGFLOW_", env_file=None, extra="ignore")

    # Input limits.
    max_pixels: int = Field(60_000_000, description="Refuse images with more pixels than this (decompression bombs).")
    max_bytes: int = Field(40 * 1024 * 1024, description="Refuse inputs larger than this many bytes.")
    min_side: int = Field(16, description="Refuse images whose shorter side is below this.")
    max_side: int = Field(4096, description="Normalized images are downscaled to at most this long side.")

    # Output defaults (each can be overridden per job).
    output_size: int = Field(2048, ge=64, le=8192, description="Long side of the final image in pixels.")
    output_format: OutputFormat = "png"
    preset: Preset = "centered"
    style: str = "sweep"
    seed: int = 0
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

    # Web service.
    api_token: SecretStr | None = Field(None, description="When set, API calls need 'Authorization: Bearer <token>'.")
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS; none by default.")
    max_request_bytes: int = Field(30 * 1024 * 1024, description="Largest request body accepted.")
    max_concurrent_jobs: int = Field(2, ge=1, description="Pipeline runs at once; more get 503 with Retry-After.")
    runs_dir: Path = Field(Path("runs"), description="Where the web service keeps job artefacts.")
    url_allow_hosts: list[str] = Field(default_factory=list, description="Hosts image URLs may be fetched from.")
    url_timeout_s: float = 10.0
    url_max_bytes: int = 20 * 1024 * 1024

    # OpenAI-compatible describer.
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o"
    openai_timeout_s: float = Field(30.0, description="Per request; retries come on top.")
    openai_max_retries: int = Field(3, ge=0, description="Retries with backoff on 429, 5xx and timeouts.")
    openai_image_side: int = Field(768, ge=128, le=2048, description="Long side of the image sent to the model.")
    cache_dir: Path = Field(Path(".bgflow-cache"), description="Answers of paid models, keyed by image and prompt.")

    # Event triggers.
    aws_endpoint_url: str | None = Field(None, description="S3/SQS endpoint (MinIO, LocalStack); None for AWS.")
    sqs_queue_url: str | None = Field(None, description="Queue receiving the input bucket's ObjectCreated events.")
    s3_output: str | None = Field(None, description="Where S3-triggered results go: s3://bucket/prefix.")
    ledger_lease_s: float = Field(900.0, ge=1, description="A claimed event not finished by then may be retried.")
    shopify_webhook_secret: SecretStr | None = Field(None, description="The app's client secret: signs webhooks.")
    shopify_access_token: SecretStr | None = Field(None, description="Admin API token used to upload results.")
    shopify_shops: list[str] = Field(default_factory=list, description="Shop domains whose webhooks are accepted.")
    # The latest stable Admin API version: released 2026-10-01, supported until 2027-10-01
    # (https://shopify.dev/docs/api/usage/versioning, release schedule).
    shopify_api_version: str = Field("2026-10", pattern=r"^\d{4}-(01|04|07|10)$",
                                     description="Admin API version (YYYY-MM, a quarterly release).")
    shopify_admin_base_url: str | None = Field(None, description="Override https://<shop> (a test or proxy server).")
    shopify_image_hosts: list[str] = Field(default_factory=lambda: ["cdn.shopify.com"],
                                           description="Hosts product images are fetched from.")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
