"""A small OpenAI-compatible chat-completions server for tests, on 127.0.0.1. It checks each request (model, an image
part as a JPEG data URI, the product_analysis schema, the bearer key) and answers as ``behaviour`` says."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

ANSWER = {
    "category": "side chair", "objects": [{"name": "chair", "material": "powder-coated steel", "colour": "charcoal",
                                           "texture": "matte", "shape": "open frame with four thin legs"}],
    "objects_white": [], "props": [], "overlays": [], "background_suggestion": "a calm light-oak Scandinavian room",
    "inpainting_prompt": "a bright Scandinavian living room with a light oak floor, soft daylight, photographic",
    "studio_style": "wall-floor", "photo_angle": "front", "confidence": 0.82,
}


class FakeOpenAI:
    def __init__(self, key: str = "sk-test-SECRET-123", model: str = "gpt-4o"):
        self.key, self.model = key, model
        self.behaviour = "ok"  # ok | malformed | 429-then-ok | slow | 500
        self.calls: list[dict] = []
        self.problems: list[str] = []
        self.app = self._make_app()

    def _make_app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def completions(request: Request):
            body = await request.json()
            self.calls.append(body)
            self._check(request, body)
            n = len(self.calls)
            if self.behaviour == "429-then-ok" and n == 1:
                return JSONResponse({"error": {"message": "rate limited", "type": "rate_limit"}}, status_code=429,
                                    headers={"retry-after": "0"})
            if self.behaviour == "500":
                return JSONResponse({"error": {"message": "boom"}}, status_code=500)
            if self.behaviour == "slow":
                await asyncio.sleep(3)
            content = "{not json" if self.behaviour == "malformed" else json.dumps(ANSWER)
            return {"id": f"chatcmpl-{n}", "object": "chat.completion", "created": int(time.time()),
                    "model": body["model"], "choices": [{"index": 0, "finish_reason": "stop",
                                                         "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 812, "completion_tokens": 143, "total_tokens": 955}}

        return app

    def _check(self, request: Request, body: dict) -> None:
        if request.headers.get("authorization") != f"Bearer {self.key}":
            self.problems.append("bad key")
        if body.get("model") != self.model:
            self.problems.append(f"model {body.get('model')}")
        rf = body.get("response_format") or {}
        if rf.get("type") != "json_schema" or rf.get("json_schema", {}).get("name") != "product_analysis":
            self.problems.append("no schema")
        parts = body["messages"][-1]["content"]
        urls = [p["image_url"]["url"] for p in parts if p.get("type") == "image_url"]
        if not urls or not urls[0].startswith("data:image/jpeg;base64,"):
            self.problems.append("no image part")

    def start(self) -> str:
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started and time.time() < deadline:
            time.sleep(0.02)
        return f"http://127.0.0.1:{port}/v1"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
