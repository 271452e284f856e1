"""Settings of the adapters (web service, event triggers) on top of the pipeline's, from ``BGFLOW_*`` variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr

from pipeline.settings import Settings as PipelineSettings

from .ledger import DEFAULT_LEASE_S


class Settings(PipelineSettings):
    """Everything an entry point needs; the pipeline reads only the fields it declares."""

    # Web service.
    api_token: SecretStr | None = Field(None, description="When set, API calls need 'Authorization: Bearer <token>'.")
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS; none by default.")
    max_request_bytes: int = Field(30 * 1024 * 1024, description="Largest request body accepted.")
    max_concurrent_jobs: int = Field(2, ge=1, description="Pipeline runs at once.")
    max_queued_jobs: int = Field(8, ge=0, description="Runs waiting for a slot; past that, 503 with Retry-After.")
    runs_dir: Path = Field(Path("runs"), description="Where the web service keeps job artefacts.")
    url_allow_hosts: list[str] = Field(default_factory=list, description="Hosts image URLs may be fetched from.")
    url_timeout_s: float = 10.0
    url_max_bytes: int = 20 * 1024 * 1024

    # Event triggers.
    aws_endpoint_url: str | None = Field(None, description="S3/SQS endpoint (MinIO, LocalStack); None for AWS.")
    sqs_queue_url: str | None = Field(None, description="Queue receiving the input bucket's ObjectCreated events.")
    s3_output: str | None = Field(None, description="Where S3-triggered results go: s3://bucket/prefix.")
    ledger_lease_s: float = Field(DEFAULT_LEASE_S, ge=3, description="A claim not renewed for this long is taken "
                                   "over (its worker died); a live worker renews it every third of this.")
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
