"""Shopify webhooks: POST /webhooks/shopify/products-create. Signed by Shopify (HMAC of the raw body), so no bearer
token; answered at once (Shopify waits 5 s) while the product's images run on the pool, or on Modal as a spawned call."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from typing import Callable

from fastapi import APIRouter, Request

from events.shopify import ProductCreated, ShopifyTrigger, parse_webhook
from events.ledger import LocalLedger
from events.settings import Settings
from pipeline.options import RunOptions
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
    """The default outside Modal: each image of a product is one run on the app's bounded queue, after the reply.
    A full queue refuses the delivery (503), and Shopify delivers it again later."""

    def __init__(self, pool: RunPool, make_trigger: Callable[[], ShopifyTrigger]):
        self.pool, self.make_trigger = pool, make_trigger
        self._trigger: ShopifyTrigger | None = None
        self._lock = threading.Lock()
        self.pending: list[Future] = []

    def __call__(self, product: ProductCreated) -> list[Future]:
        with self._lock:
            if self._trigger is None:
                self._trigger = self.make_trigger()
        trigger = self._trigger
        futures = self.pool.submit_all([(trigger.handle_safely, (product, image)) for image in trigger.pending(product)])
        for future in futures:
            future.add_done_callback(_log_outcome)
        self.pending.extend(futures)
        return futures


def _log_outcome(future: Future) -> None:
    outcome = future.result()
    log.info("%s %s %s", outcome.status, outcome.source, outcome.detail)


def local_trigger(settings: Settings, executor, options: RunOptions | None = None) -> ShopifyTrigger:
    """Results and the ledger in the runs folder, the Admin API from settings."""
    return ShopifyTrigger(settings, executor, LocalStorage(settings.runs_dir),
                          LocalLedger.in_runs(settings.runs_dir, settings.ledger_lease_s),
                          options=options)
