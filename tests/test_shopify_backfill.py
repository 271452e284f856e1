"""Catalogue backfill against the loopback Admin GraphQL server: 120 products over three pages, some already
processed (a result in the product, or in the ledger), one image the CDN has lost, an interruption and a resume."""

import json
import socket
from collections import Counter

import httpx
import pytest

from events.settings import Settings
from events.shopify_admin import ShopifyAdmin
from events.shopify_backfill import Backfill, product_from_node
from events.web.webhooks import local_trigger
from pipeline.options import RunOptions
from pipeline.runner import InProcessExecutor
from pipeline.synthetic import make_sample
from tests.conftest import encode
from tests.shopify_server import FakeShopifyAdmin

SHOP, TOKEN, VERSION = "northwood.myshopify.com", "shpat_backfill", "2026-10"
PHOTO = encode(make_sample("box", "white", 3, size=(96, 80)).image)
LOST = 60  # this product's photo is gone from the CDN


def _catalogue() -> list[dict]:
    products = []
    for i in range(120):
        pid, image_id = 7_000_000 + i, 50_000 + i
        images = [{"id": image_id, "src": f"https://cdn.shopify.com/s/files/p{i}.jpg", "alt": f"Chair {i}"}]
        if i < 10:  # processed before: bgflow's result is already in the product
            images.append({"id": 90_000 + i, "alt": f"Chair {i} (bgflow)",
                           "src": f"https://cdn.shopify.com/s/files/{pid}-{image_id}-bgflow.png?v=1"})
        if i % 40 == 39:
            images = []  # a product without photos
        products.append({"id": pid, "title": f"Chair {i}", "product_type": "Chair", "images": images})
    return products


@pytest.fixture
def cdn(monkeypatch):
    real = socket.getaddrinfo
    monkeypatch.setattr("socket.getaddrinfo", lambda host, *a, **k: [(2, 1, 6, "", ("151.101.2.133", 443))]
                        if host == "cdn.shopify.com" else real(host, *a, **k))
    hits = Counter()

    def serve(request: httpx.Request) -> httpx.Response:
        hits[request.url.path] += 1
        return httpx.Response(404 if request.url.path.endswith(f"/p{LOST}.jpg") else 200, content=PHOTO)

    return hits, httpx.MockTransport(serve)


class Interrupted(Exception):
    pass


def test_backfill_processes_every_unprocessed_image_exactly_once(tmp_path, cdn):
    hits, transport = cdn
    with FakeShopifyAdmin(TOKEN, VERSION, products=_catalogue(), bucket=120, restore_rate=40) as server:
        settings = Settings(shopify_access_token=TOKEN, shopify_api_version=VERSION, runs_dir=tmp_path / "runs",
                            shopify_admin_base_url=server.url)

        def backfill(dispatch=None) -> Backfill:
            trigger = local_trigger(settings, InProcessExecutor(settings), RunOptions(preset="marketplace", size=64))
            trigger.image_transport, trigger.attempts = transport, 1
            admin = ShopifyAdmin(SHOP, TOKEN, VERSION, server.url)
            return Backfill(trigger, admin, trigger.storage, SHOP, page_size=50, dispatch=dispatch)

        first = backfill()
        for i in range(10, 15):  # processed before, recorded in the ledger
            first.trigger.ledger.complete(f"shopify:{SHOP}:{7_000_000 + i}:{50_000 + i}", {"status": "ok"})
        wanted = {f"/s/files/p{i}.jpg" for i in range(15, 120) if i % 40 != 39}

        plan = first.run(dry_run=True)
        assert {url.split("cdn.shopify.com")[1] for _, _, url in plan.planned} == wanted and plan.products == 120
        assert not hits and not server.uploads  # a dry run changes nothing

        seen = []

        def stop_after_70(product):
            if len(seen) == 70:
                raise Interrupted("the operator pressed Ctrl-C")
            seen.append(product.product_id)
            return first.trigger.handle(product)

        cut = backfill(dispatch=stop_after_70)
        with pytest.raises(Interrupted):
            cut.run()
        done_before = set(hits)

        resumed = backfill().run()
        assert resumed.resumed_from == "50"  # the first page finished, the second was cut short
        assert set(hits) == wanted and all(n == 1 for n in hits.values())  # every image fetched exactly once
        assert done_before < set(hits)
        uploaded = Counter(u["product_id"] for u in server.uploads)
        assert sorted(uploaded) == sorted(7_000_000 + i for i in range(15, 120) if i % 40 != 39 and i != LOST)
        assert set(uploaded.values()) == {1}
        lost = json.loads((tmp_path / "runs" / "shopify" / SHOP / str(7_000_000 + LOST) / str(50_000 + LOST)
                           / "manifest.json").read_text())
        assert lost["status"] == "failed" and lost["error"]["code"] == "fetch_failed"  # recorded, the others went on
        # Paced by query cost: a fresh client (three here) can meet a bucket its predecessor emptied, once; after that
        # answer it knows the bucket and waits instead of being throttled.
        assert server.over_budget <= 2

        again = backfill().run()  # the walk finished: a new one starts over and finds nothing to do
        assert again.resumed_from is None and again.outcomes == [] and len(server.uploads) == len(uploaded)


def test_results_in_the_product_count_as_processed():
    node = {"legacyResourceId": "7", "title": "t", "media": {"nodes": [
        {"image": {"id": "gid://shopify/ProductImage/11", "url": "https://cdn.shopify.com/a.jpg", "altText": "a"}},
        {"image": {"id": "gid://shopify/ProductImage/12", "url": "https://cdn.shopify.com/b.jpg", "altText": "b"}},
        {"image": {"id": "gid://shopify/ProductImage/13", "url": "https://cdn.shopify.com/7-11-bgflow.png?v=2",
                   "altText": "a (bgflow)"}},
        {}, {"image": {"id": "gid://shopify/Video/1"}}]}}
    product = product_from_node(SHOP, node)
    assert [i.id for i in product.images] == [12, 13]  # 11 answered; 13 is a result, left out by the trigger


def test_backfill_command_dry_run_and_usage_errors(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    with FakeShopifyAdmin(TOKEN, VERSION, products=_catalogue()[:20]) as server:
        env = os.environ | {"BGFLOW_SHOPIFY_ACCESS_TOKEN": TOKEN, "BGFLOW_SHOPIFY_API_VERSION": VERSION,
                            "BGFLOW_SHOPIFY_ADMIN_BASE_URL": server.url, "BGFLOW_RUNS_DIR": str(tmp_path / "runs")}
        cmd = [sys.executable, "-m", "events.cli", "shopify", "backfill"]
        dry = subprocess.run(cmd + ["--shop", SHOP, "--dry-run"], cwd=root, env=env, capture_output=True, text=True,
                             timeout=120)
        assert dry.returncode == 0, dry.stderr
        assert "10 images in 20 products would be processed" in dry.stderr and not server.uploads
        bad = subprocess.run(cmd + ["--shop", "127.0.0.1:9000", "--dry-run"], cwd=root, env=env, capture_output=True,
                             text=True, timeout=60)
        assert bad.returncode == 2 and "myshopify.com" in bad.stderr
