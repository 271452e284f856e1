"""A small Hugging Face Hub on 127.0.0.1 for `bgflow models download`: the three routes huggingface_hub uses to
resolve a revision, list a repository and fetch its files, serving repositories from a dict of folders.

    /api/models/<repo>/revision/<rev>          -> {"id", "sha", "siblings"}
    /api/models/<repo>/tree/<commit>[/<path>]  -> [{"type": "file", "path", "size", "oid"}]
    HEAD|GET /<repo>/resolve/<rev>/<file>      -> the bytes, with X-Repo-Commit and ETag
"""

from __future__ import annotations

import hashlib
import re
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tests.loopback import LoopbackServer, reply_json

REPO = r"(?P<repo>[^/]+/[^/]+)"


class FakeHub(LoopbackServer):
    def __init__(self, repos: dict[str, Path]):
        self.repos = repos
        self.commits = {name: hashlib.sha1(name.encode()).hexdigest() for name in repos}
        self.requests: list[str] = []
        super().__init__(self._handler())

    def files(self, repo: str) -> list[str]:
        root = self.repos[repo]
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _json(self, body) -> None:
                reply_json(self, 200, body)

            def _missing(self) -> None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _route(self, head: bool) -> None:
                path = unquote(urlsplit(self.path).path)
                hub.requests.append(f"{self.command} {path}")
                if m := re.fullmatch(rf"/api/models/{REPO}/revision/(?P<rev>[^/]+)", path):
                    if m["repo"] not in hub.repos:
                        return self._missing()
                    return self._json({"id": m["repo"], "sha": hub.commits[m["repo"]],
                                       "siblings": [{"rfilename": f} for f in hub.files(m["repo"])]})
                if m := re.fullmatch(rf"/api/models/{REPO}/tree/(?P<rev>[^/]+)(?P<sub>/.*)?", path):
                    root = hub.repos[m["repo"]]
                    return self._json([{"type": "file", "path": f, "size": (root / f).stat().st_size,
                                        "oid": hashlib.sha1((root / f).read_bytes()).hexdigest()}
                                       for f in hub.files(m["repo"])])
                if m := re.fullmatch(rf"/{REPO}/resolve/(?P<rev>[^/]+)/(?P<file>.+)", path):
                    target = hub.repos.get(m["repo"], Path("/nonexistent")) / m["file"]
                    if not target.is_file():
                        return self._missing()
                    data = target.read_bytes()
                    self.send_response(200)
                    self.send_header("X-Repo-Commit", hub.commits[m["repo"]])
                    self.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if not head:
                        self.wfile.write(data)
                    return None
                return self._missing()

            def do_GET(self) -> None:
                self._route(head=False)

            def do_HEAD(self) -> None:
                self._route(head=True)

        return Handler
