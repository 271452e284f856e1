"""Shopify products/create webhook -> Jobs -> results uploaded back to the product.

A webhook is verified on its raw body (HMAC-SHA256 with the app's secret, base64, compared in constant time) before
anything else is read. :class:`ProductCreated` is a typed view over the payload. Each product image becomes one job
keyed ``shopify:<shop>:<product id>:<image id>`` in the ledger, so Shopify's retries (it redelivers until it gets a 2xx)
and duplicate deliveries never run an image twice. Results go back through the Admin GraphQL API as new product media
(see shopify_admin.py); every run also writes the run contract (failures with their input URL) to the storage.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import mimetypes
from dataclasses import dataclass, replace
from collections.abc import Mapping
from typing import Any, Callable

from pipeline.contract import final_name, process, record_failure
from pipeline.errors import BgflowError, ExternalServiceFailed, InvalidEvent, InvalidSignature
from pipeline.ledger import Ledger
from pipeline.runner import Job, RunOptions
from pipeline.settings import Settings
from pipeline.storage import Storage

from .outcome import Outcome, error_detail
from .shopify_admin import ShopifyAdmin

log = logging.getLogger(__name__)

TOPIC = "products/create"
MARK = "bgflow"  # in the alt text of uploaded results: never processed again


def verify_webhook(raw_body: bytes, signature: str | None, secret: str) -> None:
    """Raise InvalidSignature unless ``signature`` (X-Shopify-Hmac-Sha256) signs exactly ``raw_body``."""
    expected = base64.b64encode(hmac.new(secret.encode(), raw_body, hashlib.sha256).digest())
    if not signature or not hmac.compare_digest(expected, signature.strip().encode()):
        raise InvalidSignature("The webhook signature does not match its body. Check that BGFLOW_SHOPIFY_WEBHOOK_SECRET "
                               "is the app's client secret and that nothing rewrites the body in between.")


@dataclass(frozen=True)
class ProductImage:
    id: int
    src: str
    position: int = 1
    alt: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class ProductCreated:
    shop: str
    product_id: int
    title: str
    product_type: str
    images: tuple[ProductImage, ...]
    webhook_id: str | None = None

    @classmethod
    def from_webhook(cls, payload: Any, shop: str, webhook_id: str | None = None) -> "ProductCreated":
        if not isinstance(payload, dict) or not isinstance(payload.get("id"), int):
            raise InvalidEvent("Not a products/create payload: expected a JSON product with an integer 'id'.")
        images = []
        for raw in payload.get("images") or []:
            if isinstance(raw, dict) and isinstance(raw.get("id"), int) and isinstance(raw.get("src"), str):
                images.append(ProductImage(id=raw["id"], src=raw["src"], position=int(raw.get("position") or 1),
                                           alt=raw.get("alt"), width=raw.get("width"), height=raw.get("height")))
        return cls(shop=shop, product_id=payload["id"], title=str(payload.get("title") or ""),
                   product_type=str(payload.get("product_type") or ""), images=tuple(images), webhook_id=webhook_id)

    def image_key(self, image: ProductImage) -> str:
        return f"shopify:{self.shop}:{self.product_id}:{image.id}"

    def to_dict(self) -> dict[str, Any]:
        return {"shop": self.shop, "product_id": self.product_id, "title": self.title,
                "product_type": self.product_type, "webhook_id": self.webhook_id,
                "images": [img.__dict__ for img in self.images]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ProductCreated":
        return cls(**(d | {"images": tuple(ProductImage(**i) for i in d["images"])}))


class ShopifyTrigger:
    """Runs a created product's images through the pipeline and uploads the results. Collaborators are passed in:
    the executor, where the run contract goes, the ledger, the Admin API factory and the image fetcher."""

    def __init__(self, settings: Settings, executor: Any, storage: Storage, ledger: Ledger,
                 admin: Callable[[str], ShopifyAdmin] | None = None, fetch: Callable[[str], bytes] | None = None,
                 options: RunOptions | None = None):
        self.settings, self.executor, self.storage, self.ledger = settings, executor, storage, ledger
        self.admin = admin or self._default_admin
        self.fetch = fetch or self._default_fetch
        self.options = options or RunOptions(preset="marketplace", on_scene="skip")

    def _default_admin(self, shop: str) -> ShopifyAdmin:
        token = self.settings.shopify_access_token
        if token is None:
            raise ExternalServiceFailed("Set BGFLOW_SHOPIFY_ACCESS_TOKEN (an Admin API token with write_products) so "
                                        "results can be uploaded to the product.")
        return ShopifyAdmin(shop, token.get_secret_value(), self.settings.shopify_api_version,
                            self.settings.shopify_admin_base_url)

    def _default_fetch(self, url: str) -> bytes:
        from .web.fetch import fetch_image

        return fetch_image(url, self.settings.model_copy(update={"url_allow_hosts": self.settings.shopify_image_hosts}))

    def handle(self, product: ProductCreated) -> list[Outcome]:
        return [self.handle_image(product, image) for image in product.images
                if MARK not in (image.alt or "").lower()]

    def handle_image(self, product: ProductCreated, image: ProductImage) -> Outcome:
        key = product.image_key(image)
        state, record = self.ledger.claim(key)
        if state != "new":
            return Outcome(key, "duplicate" if state == "done" else "busy", "already processed" if state == "done"
                           else "another worker is processing it", (record or {}).get("result", {}).get("output"))
        name = f"shopify/{product.shop}/{product.product_id}/{image.id}"
        job = Job(source=b"", name=name, options=self.options, filename=image.src, idempotency_key=key)
        try:
            try:
                manifest = process(replace(job, source=self.fetch(image.src)), self.storage, self.executor)
            except BgflowError as exc:  # the image URL failed or was refused: the record keeps the URL
                manifest = record_failure(job, self.storage, exc)
            uploaded = None
            if manifest["status"] == "ok" and manifest["action"] == "processed":  # not scene photos kept as they are
                final = final_name(manifest["settings"]["options"]["format"], 0)
                alt = f"{image.alt or product.title} ({MARK})".strip()
                uploaded = self.admin(product.shop).add_product_image(
                    product.product_id, self.storage.get(f"{name}/{final}"),
                    filename=f"{product.product_id}-{image.id}-{MARK}.{final.rsplit('.', 1)[-1]}", alt=alt,
                    mime=mimetypes.guess_type(final)[0] or "image/png")
        except Exception:
            self.ledger.release(key)  # Shopify redelivers; the image runs again then
            raise
        self.ledger.complete(key, {"status": manifest["status"], "output": name, "error": manifest["error"],
                                   "uploaded": uploaded})
        detail = f"uploaded as {uploaded}" if uploaded else (error_detail(manifest) or "nothing to do")
        return Outcome(key, manifest["status"], detail, name)


def parse_webhook(raw_body: bytes, headers: Mapping[str, str], settings: Settings) -> ProductCreated:
    """Verify, then view: the whole check a products/create delivery goes through before any work is queued."""
    secret = settings.shopify_webhook_secret
    if secret is None:
        raise InvalidSignature("Shopify webhooks are off: set BGFLOW_SHOPIFY_WEBHOOK_SECRET to the app's client secret.")
    verify_webhook(raw_body, headers.get("x-shopify-hmac-sha256"), secret.get_secret_value())
    topic = headers.get("x-shopify-topic")
    if topic != TOPIC:
        raise InvalidEvent(f"This endpoint takes the '{TOPIC}' topic, not '{topic}'.")
    try:
        payload = json.loads(raw_body)
    except ValueError:
        raise InvalidEvent("The webhook body is not JSON.") from None
    allowed = [s.lower() for s in settings.shopify_shops]
    shop = (headers.get("x-shopify-shop-domain") or "").lower()
    if not shop or (allowed and shop not in allowed):
        raise InvalidEvent(f"Shop '{shop}' is not in BGFLOW_SHOPIFY_SHOPS; its webhooks are not processed.")
    return ProductCreated.from_webhook(payload, shop, headers.get("x-shopify-webhook-id"))
