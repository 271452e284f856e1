"""A small Shopify Admin GraphQL API on 127.0.0.1, with its staged-upload store: ``stagedUploadsCreate`` hands out a
target on this server, a multipart POST there stores the bytes, ``productUpdate`` with that ``resourceUrl`` as media
attaches them. It checks the access token and answers the first ``throttled`` GraphQL calls with THROTTLED."""

from __future__ import annotations

import json
import re
import threading
import uuid
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler

from tests.loopback import LoopbackServer, reply_json

CDN = "https://shopify-staged-uploads.storage.googleapis.com/tmp"


class FakeShopifyAdmin(LoopbackServer):
    def __init__(self, token: str, api_version: str, throttled: int = 0):
        self.token, self.api_version, self.throttled = token, api_version, throttled
        self.staged: dict[str, dict] = {}  # token -> {"resource", "filename", "bytes"}
        self.uploads: list[dict] = []  # media attached to products
        self.calls = 0
        self.lock = threading.Lock()
        super().__init__(self._handler())

    def graphql(self, query: str, variables: dict) -> dict:
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
