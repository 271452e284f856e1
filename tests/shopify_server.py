"""A small Shopify Admin GraphQL API on 127.0.0.1, with its staged-upload store: ``stagedUploadsCreate`` hands out a
target on this server, a multipart POST there stores the bytes, ``productUpdate`` with that ``resourceUrl`` as media
attaches them. It checks the access token and answers the first ``throttled`` GraphQL calls with THROTTLED."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler

from tests.loopback import LoopbackServer, reply_json

CDN = "https://shopify-staged-uploads.storage.googleapis.com/tmp"


class FakeShopifyAdmin(LoopbackServer):
    """``products`` (a list of REST-like product dicts with ``images``) are listed by the ``products`` query, a page
    at a time with opaque cursors; every answer carries ``extensions.cost`` like Shopify's, from a leaky bucket of
    ``bucket`` points refilled at ``restore_rate`` per second (a query over what is left is THROTTLED)."""

    def __init__(self, token: str, api_version: str, throttled: int = 0, products: list[dict] | None = None,
                 bucket: float = 2000.0, restore_rate: float = 100.0, page_cost: float = 52.0):
        self.token, self.api_version, self.throttled = token, api_version, throttled
        self.products = products or []
        self.bucket, self.available, self.restore_rate, self.page_cost = bucket, bucket, restore_rate, page_cost
        self.refilled = time.monotonic()
        self.over_budget = 0  # queries sent while the bucket could not pay for them
        self.staged: dict[str, dict] = {}  # token -> {"resource", "filename", "bytes"}
        self.uploads: list[dict] = []  # media attached to products
        self.calls = 0
        self.lock = threading.Lock()
        super().__init__(self._handler())

    def _charge(self, cost: float) -> dict:
        now = time.monotonic()
        self.available = min(self.bucket, self.available + (now - self.refilled) * self.restore_rate)
        self.refilled = now
        status = {"maximumAvailable": self.bucket, "restoreRate": self.restore_rate}
        if cost > self.available:
            self.over_budget += 1
            return {"errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                    "extensions": {"cost": {"requestedQueryCost": cost, "actualQueryCost": None,
                                            "throttleStatus": status | {"currentlyAvailable": self.available}}}}
        self.available -= cost
        return {"extensions": {"cost": {"requestedQueryCost": cost, "actualQueryCost": cost,
                                        "throttleStatus": status | {"currentlyAvailable": self.available}}}}

    def _product_node(self, product: dict) -> dict:
        media = [{"image": {"id": f"gid://shopify/ProductImage/{i['id']}", "url": i["src"], "altText": i.get("alt"),
                            "width": i.get("width"), "height": i.get("height")}} for i in product.get("images", [])]
        return {"legacyResourceId": str(product["id"]), "title": product.get("title", ""),
                "productType": product.get("product_type", ""), "media": {"nodes": media}}

    def graphql(self, query: str, variables: dict) -> dict:
        if "bgflowProductsCount" in query:
            return self._charge(1) | {"data": {"productsCount": {"count": len(self.products)}}}
        if "bgflowProducts" in query:
            charged = self._charge(self.page_cost)
            if "errors" in charged:
                return charged
            start = int(variables.get("after") or "0")
            page = self.products[start:start + variables["first"]]
            more = start + len(page) < len(self.products)
            return charged | {"data": {"products": {
                "pageInfo": {"hasNextPage": more, "endCursor": str(start + len(page))},
                "nodes": [self._product_node(p) for p in page]}}}
        if "stagedUploadsCreate" in query:
            targets = []
            for item in variables["input"]:
                token = uuid.uuid4().hex[:12]
                resource = f"{CDN}/{token}/{item['filename']}"
                self.staged[token] = {"resource": resource, "filename": item["filename"], "bytes": None}
                targets.append({"url": f"{self.url}/staged/{token}", "resourceUrl": resource,
                                "parameters": [{"name": "key", "value": f"tmp/{token}/{item['filename']}"},
                                               {"name": "Content-Type", "value": item["mimeType"]}]})
            return {"data": {"stagedUploadsCreate": {"stagedTargets": targets, "userErrors": []}}}
        if "productUpdate" in query:
            pid = int(variables["product"]["id"].rsplit("/", 1)[-1])
            for media in variables["media"]:
                staged = next((s for s in self.staged.values() if s["resource"] == media["originalSource"]), None)
                if staged is None or staged["bytes"] is None:
                    return {"data": {"productUpdate": {"product": None, "userErrors": [
                        {"field": ["media"], "message": "Media originalSource was not uploaded"}]}}}
                self.uploads.append({"product_id": pid, "alt": media["alt"], "filename": staged["filename"],
                                     "type": media["mediaContentType"], "bytes": staged["bytes"]})
                for product in self.products:  # the result becomes one of the product's images
                    if product["id"] == pid:
                        product.setdefault("images", []).append({
                            "id": 9_000_000 + len(self.uploads), "alt": media["alt"],
                            "src": f"https://cdn.shopify.com/s/files/{staged['filename']}"})
            return {"data": {"productUpdate": {"product": {"id": variables["product"]["id"]}, "userErrors": []}}}
        return {"errors": [{"message": "unknown operation"}]}

    def _handler(self):
        admin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _reply(self, status: int, body: dict | None = None) -> None:
                reply_json(self, status, body or {})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if m := re.fullmatch(r"/staged/(\w+)", self.path):
                    message = BytesParser(policy=HTTP).parsebytes(
                        f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body)
                    parts = {part.get_param("name", header="content-disposition"): part
                             for part in message.iter_parts()}
                    if m[1] not in admin.staged or "file" not in parts or "key" not in parts:
                        return self._reply(400, {"error": "bad upload"})
                    admin.staged[m[1]]["bytes"] = parts["file"].get_payload(decode=True)
                    return self._reply(201)
                if self.path != f"/admin/api/{admin.api_version}/graphql.json":
                    return self._reply(404, {"errors": "Not Found"})
                if self.headers.get("X-Shopify-Access-Token") != admin.token:
                    return self._reply(401, {"errors": "[API] Invalid API key or access token"})
                request = json.loads(body)
                with admin.lock:
                    admin.calls += 1
                    if admin.calls <= admin.throttled:
                        return self._reply(200, {"errors": [{"message": "Throttled",
                                                             "extensions": {"code": "THROTTLED"}}]})
                    return self._reply(200, admin.graphql(request["query"], request["variables"]))

        return Handler
