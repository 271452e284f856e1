"""Shopify products/create: signature on the raw body, the payload view, and the whole round trip through the web app:
webhook -> images fetched (the real fetcher, allow-listed to Shopify's CDN) -> pipeline -> results uploaded to a
Shopify Admin API on 127.0.0.1 -> a redelivery runs nothing twice."""

import base64
import hashlib
import hmac
import io
import json
import logging
import socket
import threading
from concurrent.futures import wait
from pathlib import Path

import httpx
import pytest
from PIL import Image
from starlette.testclient import TestClient

from events.http import create_app
from events.shopify import ProductCreated, ShopifyTrigger, verify_webhook
from events.shopify_admin import ShopifyAdmin
from events.web.webhooks import local_trigger
from pipeline.errors import ExternalServiceFailed, InvalidSignature
from pipeline.runner import InProcessExecutor, RunOptions
from events.settings import Settings
from tests.shopify_server import FakeShopifyAdmin

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = (ROOT / "tests" / "data" / "events" / "shopify_products_create.json").read_bytes()
SECRET, TOKEN, SHOP, VERSION = "whsec-test-4f1c9a", "shpat_test_token_8d2e", "northwood.myshopify.com", "2025-01"
PHOTO = (ROOT / "samples" / "box_white.jpg").read_bytes()


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def headers(body: bytes, **overrides) -> dict[str, str]:
    h = {"Content-Type": "application/json", "X-Shopify-Topic": "products/create", "X-Shopify-Shop-Domain": SHOP,
         "X-Shopify-Hmac-Sha256": sign(body), "X-Shopify-Webhook-Id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
         "X-Shopify-API-Version": VERSION}
    return h | overrides


def test_signature_is_checked_on_the_exact_raw_body():
    verify_webhook(PAYLOAD, sign(PAYLOAD), SECRET)
    reformatted = json.dumps(json.loads(PAYLOAD)).encode()  # same JSON, other bytes
    for body, sig, secret in ((reformatted, sign(PAYLOAD), SECRET), (PAYLOAD, sign(PAYLOAD), "other-secret"),
                              (PAYLOAD, None, SECRET), (PAYLOAD, "", SECRET), (PAYLOAD, "not base64 at all", SECRET)):
        with pytest.raises(InvalidSignature):
            verify_webhook(body, sig, secret)


def test_payload_view():
    product = ProductCreated.from_webhook(json.loads(PAYLOAD), SHOP, "wh-1")
    assert product.product_id == 7845123456789 and product.title == "Oak Lounge Chair"
    assert [i.id for i in product.images] == [34123456789011, 34123456789012, 34123456789013]
    assert product.image_key(product.images[0]) == f"shopify:{SHOP}:7845123456789:34123456789011"
    assert ProductCreated.from_dict(json.loads(json.dumps(product.to_dict()))) == product


def _settings(tmp_path, **kw) -> Settings:
    return Settings(shopify_webhook_secret=SECRET, shopify_access_token=TOKEN, shopify_shops=[SHOP],
                    shopify_api_version=VERSION, runs_dir=tmp_path / "runs", output_size=512, **kw)


@pytest.mark.parametrize("change, status, code", [
    ({"X-Shopify-Hmac-Sha256": sign(b"something else")}, 401, "invalid_signature"),
    ({"X-Shopify-Topic": "products/update"}, 400, "invalid_event"),
    ({"X-Shopify-Shop-Domain": "someone-else.myshopify.com"}, 400, "invalid_event"),
])
def test_refused_deliveries_queue_nothing(tmp_path, change, status, code):
    queued = []
    app = create_app(_settings(tmp_path), shopify_dispatch=queued.append)
    with TestClient(app) as c:
        r = c.post("/webhooks/shopify/products-create", content=PAYLOAD, headers=headers(PAYLOAD, **change))
    assert r.status_code == status and r.json()["error"]["code"] == code
    assert queued == []


@pytest.mark.parametrize("shop", ["127.0.0.1:8443", "evil.example.com", "shop.myshopify.com.evil.net",
                                  "a.myshopify.com/../x", ""])
def test_only_myshopify_domains_even_without_an_allow_list(tmp_path, shop):
    """With BGFLOW_SHOPIFY_SHOPS empty, a correctly signed delivery naming another host never gets the token sent
    there: the shop must be a <name>.myshopify.com domain."""
    queued = []
    app = create_app(_settings(tmp_path).model_copy(update={"shopify_shops": []}), shopify_dispatch=queued.append)
    with TestClient(app) as c:
        r = c.post("/webhooks/shopify/products-create", content=PAYLOAD,
                   headers=headers(PAYLOAD, **{"X-Shopify-Shop-Domain": shop}))
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_event" and queued == []


@pytest.mark.parametrize("field, value", [("position", "abc"), ("width", "wide"), ("alt", 5), ("images", "x")])
def test_odd_payload_fields_are_not_a_500(tmp_path, field, value):
    payload = json.loads(PAYLOAD)
    if field == "images":
        payload["images"] = value
    else:
        payload["images"][0][field] = value
    body = json.dumps(payload).encode()
    queued = []
    app = create_app(_settings(tmp_path), shopify_dispatch=queued.append)
    with TestClient(app) as c:
        r = c.post("/webhooks/shopify/products-create", content=body, headers=headers(body))
    assert r.status_code == 200 and len(queued) == 1


def test_webhook_images_share_the_bounded_queue(tmp_path):
    """A delivery is accepted only when the run queue has room for all its images; otherwise 503 and Shopify
    delivers it again later."""
    app = create_app(_settings(tmp_path, max_concurrent_jobs=1, max_queued_jobs=1))
    release = threading.Event()
    app.state.pool.submit(release.wait, 30)  # a long run holds the only slot
    try:
        with TestClient(app) as c:
            r = c.post("/webhooks/shopify/products-create", content=PAYLOAD, headers=headers(PAYLOAD))
            assert r.status_code == 503 and r.headers["Retry-After"]
            assert c.get("/readyz").json()["slots"] == {"size": 1, "busy": 1, "queued": 0, "queue_size": 1}
    finally:
        release.set()


def test_webhooks_are_off_until_a_secret_is_set(tmp_path):
    queued = []
    app = create_app(Settings(runs_dir=tmp_path), shopify_dispatch=queued.append)
    with TestClient(app) as c:
        r = c.post("/webhooks/shopify/products-create", content=PAYLOAD, headers=headers(PAYLOAD))
    assert r.status_code == 401 and "BGFLOW_SHOPIFY_WEBHOOK_SECRET" in r.json()["error"]["message"]
    assert queued == []


def test_products_create_round_trip(tmp_path, monkeypatch, caplog):
    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr("socket.getaddrinfo", lambda host, *a, **k: [(2, 1, 6, "", ("23.227.38.65", 443))]
                        if host == "cdn.shopify.com" else real_getaddrinfo(host, *a, **k))  # Shopify's CDN, public
    cdn_hits = []

    def cdn(request: httpx.Request) -> httpx.Response:
        cdn_hits.append(str(request.url))
        if request.url.path.endswith("oak-lounge-front.jpg"):
            return httpx.Response(200, content=PHOTO, headers={"Content-Type": "image/jpeg"})
        return httpx.Response(404)

    caplog.set_level(logging.DEBUG)
    with FakeShopifyAdmin(TOKEN, VERSION, throttled=1) as admin:
        settings = _settings(tmp_path, shopify_admin_base_url=admin.url)
        executor = InProcessExecutor(settings)
        trigger = local_trigger(settings, executor)
        trigger.image_transport = httpx.MockTransport(cdn)
        app = create_app(settings, executor, shopify_trigger=trigger)
        with TestClient(app) as c:
            r = c.post("/webhooks/shopify/products-create", content=PAYLOAD, headers=headers(PAYLOAD))
            assert r.status_code == 200 and r.json()["images"] == 3
            done, _ = wait(app.state.shopify_dispatch.pending, timeout=120)
            outcomes = {f.result().source.rsplit(":", 1)[-1]: f.result() for f in done}  # one run per image

            assert outcomes["34123456789011"].status == "ok"
            assert outcomes["34123456789012"].status == "failed"
            assert outcomes["34123456789012"].detail.startswith("fetch_failed")
            assert "34123456789013" not in outcomes  # our own earlier result is never processed again
            assert len(cdn_hits) == 2 and admin.calls == 3  # throttled once, then staged upload and attach

            [upload] = admin.uploads
            assert upload["product_id"] == 7845123456789 and upload["type"] == "IMAGE"
            assert upload["alt"] == "Oak lounge chair, front (bgflow)"
            assert upload["filename"] == "7845123456789-34123456789011-bgflow.png"
            final = Image.open(io.BytesIO(upload["bytes"]))
            assert final.format == "PNG" and max(final.size) == 512

            runs = tmp_path / "runs" / "shopify" / SHOP / "7845123456789"
            ok = json.loads((runs / "34123456789011" / "manifest.json").read_text())
            assert ok["status"] == "ok" and ok["fidelity"]["delta_e_mean"] <= 1.5
            assert ok["input"].startswith("https://cdn.shopify.com/")
            failed = json.loads((runs / "34123456789012" / "manifest.json").read_text())
            assert failed["error"]["code"] == "fetch_failed" and failed["input"].endswith("oak-lounge-gone.jpg?v=1732457566")

            # Shopify redelivers the same webhook (a timeout on its side): nothing runs or uploads twice.
            app.state.shopify_dispatch.pending.clear()
            r = c.post("/webhooks/shopify/products-create", content=PAYLOAD, headers=headers(PAYLOAD))
            assert r.status_code == 200
            done, _ = wait(app.state.shopify_dispatch.pending, timeout=60)
            again = {f.result().source.rsplit(":", 1)[-1]: f.result().status for f in done}
            assert again == {"34123456789011": "duplicate", "34123456789012": "duplicate"}
            assert len(admin.uploads) == 1 and len(cdn_hits) == 2

    everything = caplog.text + "".join(p.read_text() for p in (tmp_path / "runs").rglob("*.json"))
    assert SECRET not in everything and TOKEN not in everything


def _cdn_serving_the_photo(monkeypatch) -> httpx.MockTransport:
    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr("socket.getaddrinfo", lambda host, *a, **k: [(2, 1, 6, "", ("151.101.2.133", 443))]
                        if host == "cdn.shopify.com" else real_getaddrinfo(host, *a, **k))
    return httpx.MockTransport(lambda request: httpx.Response(200, content=PHOTO))


def test_a_failed_upload_is_released_for_the_next_delivery(tmp_path, monkeypatch):
    settings = _settings(tmp_path)
    local = local_trigger(settings, None)
    unreachable = ShopifyAdmin(SHOP, TOKEN, VERSION, "http://127.0.0.1:9", max_retries=0, timeout_s=2)  # no server
    trigger = ShopifyTrigger(settings, InProcessExecutor(settings), local.storage, local.ledger,
                             admin=lambda shop: unreachable, options=RunOptions(size=256), attempts=1,
                             image_transport=_cdn_serving_the_photo(monkeypatch))
    product = ProductCreated.from_webhook(json.loads(PAYLOAD), SHOP)
    with pytest.raises(ExternalServiceFailed, match="could not be reached"):
        trigger.handle_image(product, product.images[0])
    assert trigger.ledger.claim(product.image_key(product.images[0]))[0] == "new"  # released for the retry


def test_a_failed_upload_is_retried_and_other_images_go_on(tmp_path, monkeypatch):
    """The first upload fails (Admin API down for a moment): the image is tried again and uploaded; a product's
    other image runs whatever happens to the first."""
    settings = _settings(tmp_path)
    local = local_trigger(settings, None)
    uploads = []

    class FlakyAdmin:
        def add_product_image(self, product_id, data, filename, alt, mime):
            uploads.append(filename)
            if len(uploads) == 1:
                raise ExternalServiceFailed("The Shopify Admin API could not be reached.")
            return f"gid://shopify/MediaImage/{len(uploads)}"

    trigger = ShopifyTrigger(settings, InProcessExecutor(settings), local.storage, local.ledger,
                             admin=lambda shop: FlakyAdmin(), options=RunOptions(size=128), attempts=3,
                             backoff_s=0.01, parallel=1, image_transport=_cdn_serving_the_photo(monkeypatch))
    product = ProductCreated.from_webhook(json.loads(PAYLOAD), SHOP)
    outcomes = trigger.handle(product)
    assert [o.status for o in outcomes] == ["ok", "ok"] and len(uploads) == 3  # one failed upload, tried again
    assert all(o.detail.startswith("uploaded as gid://") for o in outcomes)


def test_admin_refusals_are_clear_and_keep_the_token_out():
    from events.shopify_admin import ATTACH, _raise_user_errors

    never_staged = {"product": {"id": "gid://shopify/Product/1"},
                    "media": [{"originalSource": "https://elsewhere.example/x.png", "alt": "", "mediaContentType": "IMAGE"}]}
    with FakeShopifyAdmin(TOKEN, VERSION) as server:
        admin = ShopifyAdmin(SHOP, TOKEN, VERSION, server.url, max_retries=0)
        with pytest.raises(ExternalServiceFailed, match="was not uploaded"):
            _raise_user_errors(admin.graphql(ATTACH, never_staged)["productUpdate"], "adding the image")
        wrong = ShopifyAdmin(SHOP, "shpat_wrong", VERSION, server.url, max_retries=0)
        with pytest.raises(ExternalServiceFailed, match="HTTP 401") as info:
            wrong.add_product_image(1, PHOTO, "a.png", "alt")
        assert "shpat_wrong" not in info.value.message
