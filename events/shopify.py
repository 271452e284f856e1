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
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any, Callable

from pipeline.contract import final_name
from pipeline.errors import ExternalServiceFailed, InvalidEvent, InvalidSignature
from pipeline.options import RunOptions
from pipeline.storage import Storage

from .fetch import AllowList
from .intake import HttpsUrl, Intake, safe_segment
from .ledger import Ledger
from .outcome import Outcome
from .settings import Settings
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
        raw_images = payload.get("images")
        for raw in raw_images if isinstance(raw_images, list) else []:
            if isinstance(raw, dict) and isinstance(raw.get("id"), int) and isinstance(raw.get("src"), str):
                images.append(ProductImage(id=raw["id"], src=raw["src"], position=_int(raw.get("position"), 1),
                                           alt=raw["alt"] if isinstance(raw.get("alt"), str) else None,
                                           width=_int(raw.get("width")), height=_int(raw.get("height"))))
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


def _int(value: Any, default: int | None = None) -> int | None:
    """A field Shopify sends as an integer; anything else is treated as absent."""
    return value if isinstance(value, int) and not isinstance(value, bool) else default


class ShopifyTrigger:
    """Runs a created product's images through the intake, in parallel, and uploads the results. Collaborators are
    passed in: the executor, where the run contract goes, the ledger and the Admin API factory."""

    def __init__(self, settings: Settings, executor: Any, storage: Storage, ledger: Ledger,
                 admin: Callable[[str], ShopifyAdmin] | None = None, options: RunOptions | None = None,
                 attempts: int = 3, backoff_s: float = 2.0, parallel: int = 4, image_transport: Any = None):
        self.settings = settings
        self.intake = Intake(settings, executor, storage, ledger, attempts=attempts, backoff_s=backoff_s)
        self.storage, self.ledger = storage, ledger
        self.admin = admin or self._default_admin
        self.options = options or RunOptions(preset="marketplace", on_scene="skip")
        self.parallel = parallel
        self.image_transport = image_transport  # an httpx transport for the CDN (tests); None: the network

    def _default_admin(self, shop: str) -> ShopifyAdmin:
        token = self.settings.shopify_access_token
        if token is None:
            raise ExternalServiceFailed("Set BGFLOW_SHOPIFY_ACCESS_TOKEN (an Admin API token with write_products) so "
                                        "results can be uploaded to the product.")
        return ShopifyAdmin(shop, token.get_secret_value(), self.settings.shopify_api_version,
                            self.settings.shopify_admin_base_url)

    def pending(self, product: ProductCreated) -> list[ProductImage]:
        """The product's images that are not bgflow's own results."""
        return [image for image in product.images if MARK not in (image.alt or "").lower()]

    def handle(self, product: ProductCreated) -> list[Outcome]:
        """Every image of the product, in parallel; one image's failure never stops the others."""
        images = self.pending(product)
        if len(images) <= 1:
            return [self.handle_safely(product, image) for image in images]
        with ThreadPoolExecutor(max_workers=min(self.parallel, len(images)), thread_name_prefix="bgflow-shop") as pool:
            return list(pool.map(lambda image: self.handle_safely(product, image), images))

    def handle_safely(self, product: ProductCreated, image: ProductImage) -> Outcome:
        try:
            return self.handle_image(product, image)
        except Exception as exc:  # released in the ledger: the next delivery or backfill runs it again
            log.error("shopify image %s failed after retries: %s", product.image_key(image), type(exc).__name__)
            return Outcome(product.image_key(image), "busy", f"will be retried: {type(exc).__name__}: {exc}")

    def handle_image(self, product: ProductCreated, image: ProductImage) -> Outcome:
        key = product.image_key(image)
        name = f"shopify/{safe_segment(product.shop)}/{product.product_id}/{image.id}"
        source = HttpsUrl(image.src, AllowList.for_shopify_images(self.settings), self.image_transport)
        ticket = self.intake.accept(source, self.options, name=name, key=key, check_input=False)

        def upload(manifest: dict[str, Any]) -> dict[str, Any]:
            if manifest["status"] != "ok" or manifest["action"] != "processed":  # scene photos are left as they are
                return {"uploaded": None}
            final = final_name(manifest["settings"]["options"]["format"], 0)
            alt = f"{image.alt or product.title} ({MARK})".strip()
            uploaded = self.admin(product.shop).add_product_image(
                product.product_id, self.storage.get(f"{name}/{final}"),
                filename=f"{product.product_id}-{image.id}-{MARK}.{final.rsplit('.', 1)[-1]}", alt=alt,
                mime=mimetypes.guess_type(final)[0] or "image/png")
            return {"uploaded": uploaded}

        outcome = self.intake.run(ticket, finish=upload)
        uploaded = (outcome.result or {}).get("uploaded")
        detail = f"uploaded as {uploaded}" if uploaded else (outcome.detail or "nothing to do")
        return Outcome(key, outcome.status, detail, name, outcome.result, outcome.manifest)


SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]{0,60}\.myshopify\.com$")


def check_shop(shop: str, settings: Settings) -> str:
    """A shop's permanent ``*.myshopify.com`` domain, in the allow-list when one is set; InvalidEvent otherwise.
    The Admin API token is only ever sent to such a shop."""
    shop = shop.strip().lower()
    if not SHOP_DOMAIN.match(shop):
        raise InvalidEvent("X-Shopify-Shop-Domain must be a shop's '<name>.myshopify.com' domain.")
    allowed = [s.lower() for s in settings.shopify_shops]
    if allowed and shop not in allowed:
        raise InvalidEvent(f"Shop '{shop}' is not in BGFLOW_SHOPIFY_SHOPS; its webhooks are not processed.")
    return shop


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
    shop = check_shop(headers.get("x-shopify-shop-domain") or "", settings)
    return ProductCreated.from_webhook(payload, shop, headers.get("x-shopify-webhook-id"))
