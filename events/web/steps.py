"""StageEvents -> the old service's streamed steps 0-3, field for field, as NDJSON lines or SSE frames.

Step 2 joins segment (mask) and compose (images_bg), as the old service sent them together. Every step also carries
run_id, stage and ms. Images are inline data URIs, or links to stored artefacts (``images=url``).
"""

from __future__ import annotations

import base64
import json
from typing import Any, AsyncIterator, Callable

from pipeline.contract import png_bytes
from pipeline.errors import BgflowError
from pipeline.types import StageEvent
from pipeline.upscale import encode

MIME = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}

# store(name, data, mime) -> a URL for the client
Store = Callable[[str, bytes, str], str]


def data_uri(name: str, data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


class LegacySteps:
    """Feeds on StageEvents and yields the old service's step objects."""

    def __init__(self, run_id: str, fmt: str = "png", store: Store = data_uri):
        self.run_id, self.fmt, self.store = run_id, fmt, store
        self.pending_mask: StageEvent | None = None
        self.sent_step2 = False
        self.last_step = -1

    def _base(self, step: int, stage: str, ms: float) -> dict[str, Any]:
        self.last_step = step
        return {"step": step, "run_id": self.run_id, "stage": stage, "ms": round(ms, 2)}

    def feed(self, event: StageEvent) -> list[dict[str, Any]]:
        p = event.payload
        if event.stage == "normalize":
            return [self._base(0, "normalize", event.ms) | {
                "white_bg": p["white_bg"], "size": p["size"], "aspect_ratio": p["aspect_ratio"],
                "background_kind": p["background_kind"], "background": p["background"]}]
        if event.stage == "analyze":
            return [self._base(1, "analyze", event.ms) | {"orientation": p["orientation"], "analysis": p["analysis"]}]
        if event.stage == "segment":
            self.pending_mask = event
            return []
        if event.stage == "compose":
            bg = self.store(f"background_v{p['images_bg']['variant'] + 1}.png", png_bytes(event.images["background"]),
                            "image/png")
            if self.sent_step2:
                return []
            return [self._step2(event.ms, [bg], p["images_bg"])]
        if event.stage == "upscale":
            out = []
            if not self.sent_step2:  # a kept scene photo has no new background
                out.append(self._step2(0.0, [], None))
            o = p["output"]
            name = "final" if o["variant"] == 0 else f"final_v{o['variant'] + 1}"
            uri = self.store(f"{name}.{self.fmt}", encode(event.images["final"], self.fmt), MIME[self.fmt])
            out.append(self._base(3, "upscale", event.ms) | {"output": uri} | {k: v for k, v in o.items()})
            return out
        return []

    def _step2(self, compose_ms: float, images_bg: list[str], scene: dict | None) -> dict[str, Any]:
        seg = self.pending_mask
        self.sent_step2 = True
        mask_uri = self.store("mask.png", png_bytes(seg.images["mask"]), "image/png")
        return self._base(2, "segment+compose", seg.ms + compose_ms) | {
            "mask": {"image": mask_uri, **seg.payload["mask"]}, "images_bg": images_bg, "scene": scene}

    def error(self, exc: BgflowError) -> dict[str, Any]:
        return {"step": self.last_step + 1, "run_id": self.run_id, "error": exc.to_dict()}


async def ndjson(items: AsyncIterator[dict[str, Any] | None]) -> AsyncIterator[bytes]:
    """One JSON object a line, as the old service sent them (keep-alives are SSE's only)."""
    async for item in items:
        if item is not None:
            yield (json.dumps(item) + "\n").encode()


async def sse(items: AsyncIterator[dict[str, Any] | None], start_id: int = 0, keepalive: bool = True
              ) -> AsyncIterator[bytes]:
    i = start_id
    async for item in items:
        if item is None:
            if keepalive:
                yield b": keep-alive\n\n"
            continue
        yield f"id: {i}\nevent: {'error' if 'error' in item else 'step'}\ndata: {json.dumps(item)}\n\n".encode()
        i += 1
