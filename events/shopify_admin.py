"""The Shopify Admin GraphQL calls bgflow makes: list the catalogue's products with their images, add an image to a
product.

The REST product-image resource is deprecated as of API version 2025-01, so images go the GraphQL way: a staged upload
target (``stagedUploadsCreate``), the bytes posted to it, then ``productUpdate(product: {id}, media: [...])`` with the
target's ``resourceUrl`` as the media's ``originalSource``. Throttling (HTTP 429 or a ``THROTTLED`` GraphQL error) and
5xx answers are retried with backoff; anything else is an :class:`ExternalServiceFailed` that never quotes the token.
Calls are paced by Shopify's calculated query cost: each answer's ``extensions.cost.throttleStatus`` says how many
points are left and how fast they come back, and a call that would not fit waits until it does
(https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits).
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from pipeline.errors import ExternalServiceFailed

STAGE = """
mutation bgflowStageImage($input: [StagedUploadInput!]!) {
  stagedUploadsCreate(input: $input) {
    stagedTargets { url resourceUrl parameters { name value } }
    userErrors { field message }
  }
}"""

ATTACH = """
mutation bgflowAttachImage($product: ProductUpdateInput!, $media: [CreateMediaInput!]) {
  productUpdate(product: $product, media: $media) {
    product { id }
    userErrors { field message }
  }
}"""


PRODUCTS = """
query bgflowProducts($first: Int!, $after: String, $query: String) {
  products(first: $first, after: $after, query: $query, sortKey: ID) {
    pageInfo { hasNextPage endCursor }
    nodes {
      legacyResourceId title productType
      media(first: 50) { nodes { ... on MediaImage { image { id url altText width height } } } }
    }
  }
}"""

PRODUCTS_COUNT = """
query bgflowProductsCount($query: String) { productsCount(query: $query) { count } }"""


class ShopifyAdmin:
    def __init__(self, shop: str, token: str, api_version: str, base_url: str | None = None,
                 transport: httpx.BaseTransport | None = None, timeout_s: float = 30.0, max_retries: int = 3):
        self.endpoint = (base_url or f"https://{shop}").rstrip("/") + f"/admin/api/{api_version}/graphql.json"
        self.token = token
        self.client = httpx.Client(timeout=timeout_s, transport=transport, follow_redirects=False)
        self.max_retries = max_retries
        self.throttle: dict[str, float] | None = None  # the last throttleStatus Shopify sent
        self.last_cost = 0.0
        self.waited_s = 0.0

    def products(self, first: int = 50, after: str | None = None, query: str | None = None) -> dict[str, Any]:
        """One page of products: ``{"pageInfo": {hasNextPage, endCursor}, "nodes": [...]}``."""
        return self.graphql(PRODUCTS, {"first": first, "after": after, "query": query})["products"]

    def products_count(self, query: str | None = None) -> int | None:
        return int((self.graphql(PRODUCTS_COUNT, {"query": query}).get("productsCount") or {}).get("count") or 0)

    def _pace(self) -> None:
        """Wait until the bucket holds what the previous call cost (the best estimate of the next one)."""
        if not self.throttle or not self.last_cost:
            return
        available, rate = self.throttle.get("currentlyAvailable", 0.0), self.throttle.get("restoreRate", 0.0)
        if available < self.last_cost and rate > 0:
            wait = min((self.last_cost - available) / rate, 60.0)
            self.waited_s += wait
            time.sleep(wait)

    def add_product_image(self, product_id: int, data: bytes, filename: str, alt: str, mime: str = "image/png") -> str:
        """Upload ``data`` and attach it to the product as an image; returns the staged resource URL."""
        staged = self.graphql(STAGE, {"input": [{"resource": "IMAGE", "filename": filename, "mimeType": mime,
                                                 "httpMethod": "POST", "fileSize": str(len(data))}]})
        payload = staged["stagedUploadsCreate"]
        _raise_user_errors(payload, "staging the upload")
        target = payload["stagedTargets"][0]
        self._upload(target, data, filename, mime)
        attached = self.graphql(ATTACH, {
            "product": {"id": f"gid://shopify/Product/{product_id}"},
            "media": [{"originalSource": target["resourceUrl"], "alt": alt, "mediaContentType": "IMAGE"}]})
        _raise_user_errors(attached["productUpdate"], f"adding the image to product {product_id}")
        return target["resourceUrl"]

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(self.max_retries + 1):
            wait = min(2.0**attempt, 8.0)
            self._pace()
            try:
                resp = self.client.post(self.endpoint, json={"query": query, "variables": variables},
                                        headers={"X-Shopify-Access-Token": self.token, "Accept": "application/json"})
            except httpx.HTTPError as exc:
                if attempt == self.max_retries:
                    raise ExternalServiceFailed(f"The Shopify Admin API could not be reached ({type(exc).__name__}).")
                time.sleep(wait)
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                if attempt < self.max_retries:
                    time.sleep(min(float(resp.headers.get("Retry-After") or wait), 10.0))
                    continue
            if resp.status_code != 200:
                raise ExternalServiceFailed(f"The Shopify Admin API answered HTTP {resp.status_code}. Check the "
                                            "access token and that the app has the write_products scope.")
            body = resp.json()
            cost = (body.get("extensions") or {}).get("cost") or {}
            if cost.get("throttleStatus"):
                self.throttle = {k: float(v) for k, v in cost["throttleStatus"].items()}
                self.last_cost = float(cost.get("actualQueryCost") or cost.get("requestedQueryCost") or 0)
            errors = body.get("errors") or []
            if any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors):
                if attempt < self.max_retries:
                    time.sleep(wait)
                    continue
            if errors:
                raise ExternalServiceFailed("The Shopify Admin API refused the request: "
                                            + "; ".join(str(e.get("message", "")) for e in errors)[:300])
            return body["data"]
        raise ExternalServiceFailed("The Shopify Admin API kept throttling; the next delivery retries.")

    def _upload(self, target: dict[str, Any], data: bytes, filename: str, mime: str) -> None:
        fields = {p["name"]: p["value"] for p in target["parameters"]}
        try:
            resp = self.client.post(target["url"], data=fields, files={"file": (filename, data, mime)})
        except httpx.HTTPError as exc:
            raise ExternalServiceFailed(f"The staged upload could not be sent ({type(exc).__name__}).") from None
        if resp.status_code not in (200, 201, 204):
            raise ExternalServiceFailed(f"The staged upload answered HTTP {resp.status_code}.")


def _raise_user_errors(payload: dict[str, Any], doing: str) -> None:
    errors = payload.get("userErrors") or []
    if errors:
        raise ExternalServiceFailed(f"Shopify refused {doing}: " + "; ".join(e.get("message", "") for e in errors)[:300])
