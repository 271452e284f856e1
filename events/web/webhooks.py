"""Shopify webhooks: POST /webhooks/shopify/products-create. Signed by Shopify (HMAC of the raw body), so no bearer
token; answered at once (Shopify waits 5 s) while the product's images run on the pool, or on Modal as a spawned call."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Callable

from fastapi import APIRouter, Request

from events.shopify import ProductCreated, ShopifyTrigger, parse_webhook
from pipeline.ledger import LocalLedger
from pipeline.settings import Settings
from pipeline.storage import LocalStorage

from .deps import SettingsDep
from .pool import RunPool

log = logging.getLogger(__name__)
router = APIRouter(tags=["webhooks"])


@router.post("/webhooks/shopify/products-create")
async def shopify_products_create(request: Request, settings: SettingsDep) -> dict:
    """Verify the delivery, queue each product image once, answer 200 with what was accepted."""
    product: ProductCreated = parse_webhook(await request.body(), request.headers, settings)
    request.app.state.shopify_dispatch(product)
    log.info("shopify webhook %s: product %s from %s, %d images", product.webhook_id, product.product_id,
             product.shop, len(product.images))
    return {"accepted": True, "product_id": product.product_id, "images": len(product.images),
            "webhook_id": product.webhook_id}


class PoolDispatch:
    """The default outside Modal: a product's images run on the app's pool threads, after the reply."""

    def __init__(self, pool: RunPool, make_trigger: Callable[[], ShopifyTrigger]):
        self.pool, self.make_trigger = pool, make_trigger
        self._trigger: ShopifyTrigger | None = None
        self._lock = threading.Lock()
        self.pending: list[Future] = []

    def __call__(self, product: ProductCreated) -> Future:
        with self._lock:
            if self._trigger is None:
                self._trigger = self.make_trigger()
        future = self.pool.threads.submit(self._trigger.handle, product)
        future.add_done_callback(_log_outcomes)
        self.pending.append(future)
        return future


def _log_outcomes(future: Future) -> None:
    if future.exception() is not None:
        log.error("shopify product failed; Shopify's next delivery retries it: %r", future.exception())
        return
    for outcome in future.result():
        log.info("%s %s %s", outcome.status, outcome.source, outcome.detail)


def local_trigger(settings: Settings, executor) -> ShopifyTrigger:
    """Results and the ledger in the runs folder, the Admin API from settings."""
    return ShopifyTrigger(settings, executor, LocalStorage(settings.runs_dir),
                          LocalLedger(Path(settings.runs_dir) / ".ledger", lease_s=settings.ledger_lease_s))
