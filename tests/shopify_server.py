"""A small Shopify Admin API on 127.0.0.1: POST /admin/api/<version>/products/<id>/images.json, checking the access
token, answering the first ``rate_limited`` calls with 429 + Retry-After, and keeping what was uploaded."""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeShopifyAdmin:
    def __init__(self, token: str, api_version: str, rate_limited: int = 0):
        self.token, self.api_version, self.rate_limited = token, api_version, rate_limited
        self.uploads: list[dict] = []
        self.calls = 0
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FakeShopifyAdmin":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        admin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _reply(self, status: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", "Content-Length": str(len(data)),
                             **(headers or {})}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                m = re.fullmatch(rf"/admin/api/{re.escape(admin.api_version)}/products/(\d+)/images\.json", self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not m:
                    return self._reply(404, {"errors": "Not Found"})
                if self.headers.get("X-Shopify-Access-Token") != admin.token:
                    return self._reply(401, {"errors": "[API] Invalid API key or access token"})
                with admin.lock:
                    admin.calls += 1
                    if admin.calls <= admin.rate_limited:
                        return self._reply(429, {"errors": "Exceeded 2 calls per second"}, {"Retry-After": "0.1"})
                    image = json.loads(body)["image"]
                    upload = {"product_id": int(m[1]), "id": 90000 + len(admin.uploads), **image,
                              "bytes": base64.b64decode(image["attachment"])}
                    admin.uploads.append(upload)
                return self._reply(200, {"image": {k: v for k, v in upload.items() if k not in ("attachment", "bytes")}})

        return Handler
