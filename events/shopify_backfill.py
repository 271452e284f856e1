"""A store's existing catalogue through the same path as new products: walk the products with the Admin GraphQL API
(cursor pagination, paced by query cost), and hand each product's unprocessed images to the Shopify trigger.

An image is unprocessed unless the ledger says it ran (the same key as the webhook's: shop, product, image), and
unless the product already holds bgflow's result for it (media uploaded as ``<product>-<image>-bgflow.<ext>``, alt
text ending in ``(bgflow)``). The walk is resumable: after each page the cursor is saved beside the run records
(``shopify/<shop>/backfill.json``), and a walk started again with the same query goes on from there; images of a
page cut short are found done in the ledger.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator

from pipeline.storage import Storage

from .intake import safe_segment
from .outcome import Outcome
from .shopify import MARK, ProductCreated, ProductImage, ShopifyTrigger
from .shopify_admin import ShopifyAdmin

RESULT_NAME = re.compile(rf"/(\d+)-(\d+)-{MARK}\.\w+(?:\?|$)")


def _gid_number(gid: str | None) -> int | None:
    tail = (gid or "").rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else None


def product_from_node(shop: str, node: dict[str, Any]) -> ProductCreated:
    """A products-query node as the same typed view the webhook gives, with only images bgflow has not made and
    not yet answered in the product's media."""
    images, answered = [], set()
    for media in (node.get("media") or {}).get("nodes") or []:
        image = (media or {}).get("image") or {}
        image_id, url = _gid_number(image.get("id")), image.get("url") or ""
        if image_id is None or not url:
            continue
        if found := RESULT_NAME.search(url):
            answered.add(int(found[2]))
        images.append(ProductImage(id=image_id, src=url, position=len(images) + 1, alt=image.get("altText"),
                                   width=image.get("width"), height=image.get("height")))
    pending = tuple(i for i in images if i.id not in answered)
    return ProductCreated(shop=shop, product_id=int(node["legacyResourceId"]), title=str(node.get("title") or ""),
                          product_type=str(node.get("productType") or ""), images=pending)


@dataclass
class BackfillReport:
    products: int = 0
    outcomes: list[Outcome] = field(default_factory=list)
    planned: list[tuple[int, int, str]] = field(default_factory=list)  # dry run: (product, image, url)
    resumed_from: str | None = None

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)


class Backfill:
    """Walks one shop. ``dispatch(product) -> list[Outcome]`` runs a product's images (the trigger here; on Modal a
    spawned ``shopify_product`` per product)."""

    def __init__(self, trigger: ShopifyTrigger, admin: ShopifyAdmin, storage: Storage, shop: str,
                 query: str | None = None, page_size: int = 50,
                 dispatch: Callable[[ProductCreated], list[Outcome]] | None = None):
        self.trigger, self.admin, self.storage, self.shop = trigger, admin, storage, shop
        self.query, self.page_size = query, page_size
        self.dispatch = dispatch or trigger.handle
        self.checkpoint = f"shopify/{safe_segment(shop)}/backfill.json"

    def _saved_cursor(self) -> str | None:
        if not self.storage.exists(self.checkpoint):
            return None
        state = json.loads(self.storage.get(self.checkpoint))
        return state.get("cursor") if state.get("query") == self.query and not state.get("finished") else None

    def _save(self, cursor: str | None, finished: bool) -> None:
        self.storage.put_json(self.checkpoint, {"shop": self.shop, "query": self.query, "cursor": cursor,
                                                "finished": finished})

    def pages(self, after: str | None) -> Iterator[tuple[list[dict[str, Any]], str | None, bool]]:
        while True:
            page = self.admin.products(self.page_size, after, self.query)
            info = page.get("pageInfo") or {}
            yield page.get("nodes") or [], info.get("endCursor"), bool(info.get("hasNextPage"))
            if not info.get("hasNextPage"):
                return
            after = info.get("endCursor")

    def unprocessed(self, product: ProductCreated) -> list[ProductImage]:
        return [image for image in self.trigger.pending(product)
                if self.trigger.ledger.state(product.image_key(image)) != "done"]

    def run(self, dry_run: bool = False, on_product: Callable[[ProductCreated, list[Outcome]], None] | None = None
            ) -> BackfillReport:
        report = BackfillReport(resumed_from=None if dry_run else self._saved_cursor())
        for nodes, cursor, more in self.pages(report.resumed_from):
            for node in nodes:
                product = product_from_node(self.shop, node)
                todo = self.unprocessed(product)
                report.products += 1
                if dry_run:
                    report.planned += [(product.product_id, image.id, image.src) for image in todo]
                    outcomes: list[Outcome] = []
                elif todo:
                    outcomes = self.dispatch(replace(product, images=tuple(todo)))
                    report.outcomes += outcomes
                else:
                    outcomes = []
                if on_product:
                    on_product(product, outcomes)
            if not dry_run:
                self._save(cursor, finished=not more)
        return report
