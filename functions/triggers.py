"""Event triggers on Modal: the S3 queue poller (scheduled), which spawns one ``s3_object`` run per object version,
and the Shopify product runner (spawned by the webhook). Runs chain the stages as function calls through the
orchestrator's call seam, like every other entry point."""

from __future__ import annotations

import os
from typing import Any, Callable

import modal

from . import state
from .infra import RUNS_DIR, app, cpu_image, runs, secrets

with cpu_image.imports():
    from events.s3 import ObjectCreated, worker_for
    from events.outcome import Outcome
    from events.shopify import ProductCreated, ShopifyTrigger, check_shop
    from events.shopify_backfill import Backfill
    from pipeline.remote import RemoteExecutor
    from events.settings import get_settings
    from pipeline.storage import LocalStorage

POLL_SECONDS = 50  # each scheduled run drains for this long, then the next one starts
# The poller is scheduled only when the deploy names a queue (BGFLOW_SQS_QUEUE_URL in the deploying shell); its AWS
# credentials and BGFLOW_S3_OUTPUT come from a secret named in BGFLOW_MODAL_SECRETS.
S3_SCHEDULE = modal.Period(minutes=1) if os.environ.get("BGFLOW_SQS_QUEUE_URL") else None
S3_ENV = {k: os.environ[k] for k in ("BGFLOW_SQS_QUEUE_URL", "BGFLOW_S3_OUTPUT") if os.environ.get(k)}


def _call(target: str, payload: dict[str, Any]) -> dict[str, Any]:
    from .orchestrate import remote_call

    return remote_call(target, payload)


CALL: Callable[[str, dict[str, Any]], dict[str, Any]] = _call  # tests replace it with in-process calls


# The deploying shell's queue settings reach the poller as a secret: an image build step after the project code is
# added (cpu_image.env(...)) is refused by modal at deploy.
S3_SECRETS = [modal.Secret.from_dict(S3_ENV)] if S3_ENV else []


S3_RUNS = 100  # s3_object containers at once: the fan-out's bound, and how many runs the poller keeps in flight


def _worker():
    settings = get_settings()
    return worker_for(settings, RemoteExecutor(settings, CALL), settings.sqs_queue_url, settings.s3_output)


@app.function(image=cpu_image, secrets=secrets + S3_SECRETS, timeout=900, max_containers=S3_RUNS)
def s3_object(event: dict[str, Any]) -> dict[str, Any]:
    """One created object version, once (the ledger in the output bucket); its stages as function calls."""
    return _worker().handle(ObjectCreated(**event)).view()


class SpawnedRun:
    """A spawned call as the S3 worker's future: ``done()`` without waiting, ``result()`` as an Outcome."""

    def __init__(self, call: Any):
        self.call, self._value, self._done = call, None, False

    def done(self) -> bool:
        if not self._done:
            try:
                self._value, self._done = self.call.get(timeout=0), True
            except (TimeoutError, modal.exception.TimeoutError):  # still running
                return False
            except Exception as exc:  # the run itself raised: a redelivery retries it
                self._value, self._done = exc, True
        return True

    def result(self) -> Outcome:
        if isinstance(self._value, Exception):
            raise self._value
        return Outcome(**self._value)


def _spawn(event: ObjectCreated) -> SpawnedRun:
    return SpawnedRun(s3_object.spawn(event.__dict__))


SPAWN: Callable[[Any], Any] = _spawn  # tests replace it with a local pool


@app.function(image=cpu_image, secrets=secrets + S3_SECRETS, schedule=S3_SCHEDULE, timeout=POLL_SECONDS + 900,
              max_containers=1)
def s3_poll() -> list[dict[str, str | None]]:
    """Receive for about POLL_SECONDS, in batches, spawning one s3_object run per object version (up to S3_RUNS at
    once); each message stays hidden while its runs go on and is deleted once they are settled."""
    import time

    settings = get_settings()
    if not settings.sqs_queue_url or not settings.s3_output:
        return []
    worker = _worker()
    worker.submit, worker.max_in_flight = SPAWN, S3_RUNS
    deadline = time.monotonic() + POLL_SECONDS
    outcomes = worker.drain(wait_s=max(1, min(10, POLL_SECONDS // 3)), until=lambda: time.monotonic() > deadline,
                            finish_s=840)
    return [o.view() for o in outcomes]


def _shopify_trigger() -> "ShopifyTrigger":
    settings = get_settings()
    return ShopifyTrigger(settings, RemoteExecutor(settings, CALL), LocalStorage(RUNS_DIR), state.LEDGER())


@app.function(image=cpu_image, volumes={RUNS_DIR: runs}, secrets=secrets, timeout=1800, retries=1)
def shopify_product(product: dict[str, Any]) -> list[dict[str, str | None]]:
    """A verified products/create delivery, or a product of a backfill: each image once (in parallel), results
    uploaded to the product."""
    outcomes = _shopify_trigger().handle(ProductCreated.from_dict(product))
    if not modal.is_local():
        runs.commit()
    return [o.view() for o in outcomes]


def _spawn_product(product: "ProductCreated") -> Any:
    return shopify_product.spawn(product.to_dict())


SPAWN_PRODUCT: Callable[[Any], Any] = _spawn_product  # tests replace it


@app.function(image=cpu_image, volumes={RUNS_DIR: runs}, secrets=secrets, timeout=3600)
def shopify_backfill(shop: str, query: str = "") -> dict[str, Any]:
    """Walk a store's existing products and spawn one shopify_product run per product with unprocessed images:
    ``modal run modal_app.py::shopify_backfill --shop yourshop.myshopify.com``. Resumable like the CLI's walk."""
    trigger = _shopify_trigger()
    shop = check_shop(shop, trigger.settings)
    spawned: list[Any] = []

    def dispatch(product: "ProductCreated") -> list:
        spawned.append(SPAWN_PRODUCT(product))
        return []  # the outcomes are the spawned runs' own

    report = Backfill(trigger, trigger.admin(shop), trigger.storage, shop, query=query or None,
                      dispatch=dispatch).run()
    if not modal.is_local():
        runs.commit()
    return {"shop": shop, "products": report.products, "spawned": len(spawned),
            "resumed_from": report.resumed_from}
