"""Describer backend ``openai``: an OpenAI-compatible vision chat model with structured output.

The normalized photo goes as a downscaled JPEG data URI; the answer follows ``pipeline.prompts.SCHEMA``. Pixel facts
(extent, palette, white share) still come from the heuristic pass; the model adds what only it can see: what the
product is, its white parts, overlays, a setting and a ready inpainting prompt. Answers are cached by image, model
and prompt version, so a retried job costs nothing. The official client retries 429, 5xx and timeouts with backoff.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image
from pydantic import BaseModel, ValidationError

from .. import analyze, prompts
from ..options import STYLES
from ..errors import BackendUnavailable, DescriberFailed, DescriberInvalidOutput
from ..segment import Coarse
from ..settings import Settings
from ..types import Analysis, Normalized
from . import register

log = logging.getLogger(__name__)


class _Object(BaseModel):
    name: str
    material: str
    colour: str
    texture: str
    shape: str


class ModelAnswer(BaseModel):
    category: str
    objects: list[_Object]
    objects_white: list[str]
    props: list[str]
    overlays: list[str]
    background_suggestion: str
    inpainting_prompt: str
    studio_style: str
    photo_angle: str
    confidence: float


class AnswerCache:
    """JSON files keyed by a hash; written atomically, read by any process."""

    def __init__(self, folder: Path):
        self.folder = folder

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.folder / f"{key}.json"
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def put(self, key: str, value: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f"{key}.json.part"
        tmp.write_text(json.dumps(value))
        tmp.replace(self.folder / f"{key}.json")


def jpeg_for_model(rgb: np.ndarray, side: int) -> bytes:
    h, w = rgb.shape[:2]
    s = min(1.0, side / max(h, w))
    if s < 1.0:
        rgb = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=88)
    return buf.getvalue()


class OpenAIDescriber:
    name = "openai"

    def __init__(self, settings: Settings, client: Any = None):
        if settings.openai_api_key is None and client is None:
            raise BackendUnavailable(
                "BGFLOW_DESCRIBER=openai needs an API key: set BGFLOW_OPENAI_API_KEY (and BGFLOW_OPENAI_BASE_URL for "
                "another OpenAI-compatible server), or use BGFLOW_DESCRIBER=auto to fall back to the heuristic."
            )
        self.settings = settings
        if client is None:
            try:
                import openai
            except ImportError:
                raise BackendUnavailable("The openai package is missing: pip install 'bgflow[cloud]'.") from None
            client = openai.OpenAI(api_key=settings.openai_api_key.get_secret_value(),
                                   base_url=settings.openai_base_url, timeout=settings.openai_timeout_s,
                                   max_retries=settings.openai_max_retries)
        self.client = client
        self.cache = AnswerCache(Path(settings.cache_dir) / "describe")

    def describe(self, norm: Normalized, coarse: Coarse, seed: int = 0) -> Analysis:
        base = analyze.describe(norm, coarse, seed=seed)
        model = self.settings.openai_model
        image = jpeg_for_model(norm.image, self.settings.openai_image_side)
        key = hashlib.sha256(image + model.encode() + prompts.PROMPT_VERSION.encode()).hexdigest()
        cached = self.cache.get(key)
        if cached is not None:
            answer, usage, latency = cached["answer"], cached["usage"], 0.0
        else:
            answer, usage, latency = self._ask(model, image)
            self.cache.put(key, {"answer": answer, "usage": usage, "model": model,
                                 "prompt_version": prompts.PROMPT_VERSION})
        parsed = ModelAnswer.model_validate(answer)
        log.info("described with %s in %.0f ms (%s tokens, cached=%s)", model, latency, usage.get("total_tokens"),
                 cached is not None)
        return Analysis(
            objects=[f"{o.colour} {o.material} {o.name} ({o.texture}, {o.shape})" for o in parsed.objects],
            objects_white=parsed.objects_white,
            background_suggestion=parsed.background_suggestion,
            prompt=parsed.inpainting_prompt,
            style=parsed.studio_style if parsed.studio_style in STYLES else base.style,
            category=parsed.category,
            palette=base.palette,
            bbox=base.bbox,
            white_fraction=base.white_fraction,
            overlays=sorted(set(base.overlays) | set(parsed.overlays)),
            describer="openai",
            confidence=float(np.clip(parsed.confidence, 0.0, 1.0)),
            extra={"model": model, "prompt_version": prompts.PROMPT_VERSION, "tokens": usage,
                   "latency_ms": round(latency, 1), "cached": cached is not None, "photo_angle": parsed.photo_angle,
                   "props": parsed.props, "objects_detail": [o.model_dump() for o in parsed.objects]},
        )

    def _ask(self, model: str, image: bytes) -> tuple[dict[str, Any], dict[str, int], float]:
        import openai

        uri = "data:image/jpeg;base64," + base64.b64encode(image).decode()
        t0 = time.perf_counter()
        try:
            resp = self.client.chat.completions.create(
                model=model,
                temperature=0,
                response_format=prompts.response_format(),
                messages=[
                    {"role": "system", "content": prompts.SYSTEM},
                    {"role": "user", "content": [{"type": "text", "text": prompts.USER},
                                                 {"type": "image_url", "image_url": {"url": uri, "detail": "low"}}]},
                ],
            )
        except openai.APITimeoutError:
            raise DescriberFailed(
                f"The describer model did not answer within {self.settings.openai_timeout_s:.0f} s after "
                f"{self.settings.openai_max_retries} retries. Try again later or raise BGFLOW_OPENAI_TIMEOUT_S."
            ) from None
        except openai.APIStatusError as exc:
            raise DescriberFailed(
                f"The describer model answered HTTP {exc.status_code} after retries. Check BGFLOW_OPENAI_MODEL, the "
                "key's quota and the server at BGFLOW_OPENAI_BASE_URL."
            ) from None
        except openai.APIConnectionError:
            raise DescriberFailed(
                "Could not reach the describer model. Check BGFLOW_OPENAI_BASE_URL and the network."
            ) from None
        latency = (time.perf_counter() - t0) * 1000.0
        content = resp.choices[0].message.content if resp.choices else None
        try:
            answer = json.loads(content or "")
            ModelAnswer.model_validate(answer)
        except (json.JSONDecodeError, ValidationError) as exc:
            raise DescriberInvalidOutput(
                f"The describer model ({model}) did not answer with JSON in the product_analysis schema "
                f"({type(exc).__name__}). Use a model that supports structured output."
            ) from None
        usage = resp.usage.model_dump() if getattr(resp, "usage", None) else {}
        usage = {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens") if k in usage}
        return answer, usage, latency


class AutoDescriber:
    """``auto``: the model when a key is configured, else the heuristic, with the reason in the analysis."""

    def __init__(self, settings: Settings):
        from .embedded import HeuristicDescriber

        if settings.openai_api_key is not None:
            self.inner, self.reason = OpenAIDescriber(settings), None
        else:
            self.inner = HeuristicDescriber()
            self.reason = "no API key configured (BGFLOW_OPENAI_API_KEY); used the heuristic describer"
        self.name = self.inner.name

    def describe(self, norm: Normalized, coarse: Coarse, seed: int = 0) -> Analysis:
        analysis = self.inner.describe(norm, coarse, seed=seed)
        if self.reason:
            analysis.extra["fallback"] = {"from": "auto", "to": self.inner.name, "reason": self.reason}
        return analysis


register("describer", "openai")(lambda s: OpenAIDescriber(s))
register("describer", "auto")(lambda s: AutoDescriber(s))
