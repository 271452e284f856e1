"""run(job) -> StageEvents: normalize -> analyze -> segment -> compose -> upscale, each timed.

The runner does not know where a stage runs: an executor provides the stage functions. ``InProcessExecutor`` calls
the backends here; a Modal executor calls the same functions deployed remotely.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from . import __version__
from .backends import new_backend
from .errors import Cancelled, ProductNotFound
from .normalize import Source, normalize
from .options import RunOptions
from .segment import Coarse, coarse_foreground, whole_photo_matte
from .settings import Settings, get_settings
from .types import Analysis, Matte, Normalized, Orientation, Result, Scene, StageEvent
from .upscale import keep_scene

log = logging.getLogger(__name__)

STEP = {"normalize": 0, "analyze": 1, "segment": 2, "compose": 2, "upscale": 3}


@dataclass(frozen=True)
class Job:
    source: Source
    name: str = "image"
    options: RunOptions = field(default_factory=RunOptions)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    idempotency_key: str | None = None
    filename: str | None = None  # the input's original name, when the source is bytes (kept with its extension)


class InProcessExecutor:
    """Runs every stage in this process with backends built once from settings. Other executors (Modal) offer the
    same methods and run them elsewhere."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or get_settings()
        s = self.settings
        self.describer = new_backend("describer", s.describer, s)
        self.orienter = new_backend("orienter", s.orienter, s)
        self.segmenter = new_backend("segmenter", s.segmenter, s)
        self.background = new_backend("background", s.background, s)
        self.upscaler = new_backend("upscaler", s.upscaler, s)

    def backend_names(self) -> dict[str, str]:
        return {
            "describer": self.describer.name, "orienter": self.orienter.name, "segmenter": self.segmenter.name,
            "background": self.background.name, "upscaler": self.upscaler.name,
        }

    def to(self, device: str) -> "InProcessExecutor":
        """Move model backends to ``device`` (embedded backends have nothing to move)."""
        for backend in (self.describer, self.orienter, self.segmenter, self.background, self.upscaler):
            if hasattr(backend, "to"):
                backend.to(device)
        return self

    def normalize(self, source: Source) -> Normalized:
        return normalize(source, self.settings)

    def analyze(self, norm: Normalized, seed: int) -> tuple[Coarse, Analysis, Orientation]:
        coarse = coarse_foreground(norm)
        return coarse, self.describer.describe(norm, coarse, seed=seed), self.orienter.orient(norm, coarse)

    def segment(self, norm: Normalized, coarse: Coarse, analysis: Analysis) -> Matte:
        return self.segmenter.segment(norm, coarse, analysis)

    def compose(self, norm: Normalized, matte: Matte, analysis: Analysis, orientation: Orientation, *, preset: str,
                style: str, size: int, seed: int, prompt: str | None) -> Scene:
        return self.background.compose(norm, matte, analysis, orientation, preset=preset, style=style, size=size,
                                       seed=seed, prompt=prompt)

    def upscale(self, norm: Normalized, matte: Matte, scene: Scene) -> Result:
        return self.upscaler.post_produce(norm, matte, scene)

    def keep(self, norm: Normalized, matte: Matte, size: int) -> Result:
        return keep_scene(norm, matte, size)


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, round((time.perf_counter() - t0) * 1000.0, 2)


def run(job: Job, executor: InProcessExecutor | None = None,
        should_stop: Callable[[], bool] = lambda: False) -> Iterator[StageEvent]:
    """Yield one StageEvent per finished stage. A BgflowError propagates to the caller after the events so far;
    ``should_stop()`` is asked between stages, and a yes ends the run with :class:`Cancelled`."""
    ex = executor or InProcessExecutor()
    opts = job.options.resolved(ex.settings)
    for event in _stages(job, ex, opts):
        yield event
        if should_stop():
            raise Cancelled(f"Run {job.run_id} stopped after {event.stage}: the caller went away.")


def _stages(job: Job, ex: InProcessExecutor, opts: RunOptions) -> Iterator[StageEvent]:
    norm, ms = _timed(ex.normalize, job.source)
    bg = norm.background
    yield StageEvent(0, "normalize", "embedded", ms, {
        "white_bg": bg.kind == "white", "background_kind": bg.kind, "size": list(norm.size),
        "aspect_ratio": round(norm.size[0] / norm.size[1], 4), "properties": norm.properties(),
        "background": {"kind": bg.kind, "color": list(bg.color), "confidence": bg.confidence},
    }, images={"normalized": norm.image})

    action = "processed"
    if bg.kind == "scene" and opts.on_scene != "process":
        action = "kept" if opts.on_scene == "keep" else "skipped"
    try:  # a scene photo kept or skipped never fails for lack of a product
        (coarse, analysis, orientation), ms = _timed(ex.analyze, norm, opts.seed)
        yield StageEvent(1, "analyze", f"{analysis.describer}+{orientation.backend}", ms, {
            "analysis": analysis.to_dict(), "orientation": orientation.to_dict(),
        }, objects={"analysis": analysis, "orientation": orientation})
        matte, ms = _timed(ex.segment, norm, coarse, analysis)
    except ProductNotFound:
        if action == "processed":
            raise
        if action == "kept":  # nothing stands out: the whole photo is kept, the whole frame its mask
            yield from _keep_whole(ex, norm, opts)
        return
    yield _segment_event(matte, ms)

    if action == "skipped":
        return
    if action == "kept":
        yield from _keep(ex, norm, matte, opts)
        return
    style = opts.style_for(analysis.style)
    for variant in range(opts.variants):
        seed = opts.seed + variant
        scene, ms = _timed(ex.compose, norm, matte, analysis, orientation, preset=opts.preset, style=style,
                           size=opts.size, seed=seed, prompt=opts.prompt)
        yield StageEvent(2, "compose", scene.backend, ms, {
            "images_bg": {"style": scene.style, "preset": scene.preset, "seed": seed, "variant": variant,
                          **scene.info},
        }, images={"background": scene.background})
        result, ms = _timed(ex.upscale, norm, matte, scene)
        yield StageEvent(3, "upscale", result.backend, ms, _final_payload(result, variant, seed, action),
                         images={"final": result.image}, objects={"result": result})


def _segment_event(matte: Matte, ms: float) -> StageEvent:
    return StageEvent(2, "segment", matte.backend, ms, {
        "mask": {"bbox": list(matte.bbox), "coverage": round(float((matte.alpha > 0.5).mean()), 4),
                 "removed": list(matte.removed)},
    }, images={"mask": matte.mask_u8()})


def _keep_whole(ex: InProcessExecutor, norm: Normalized, opts: RunOptions) -> Iterator[StageEvent]:
    matte, ms = _timed(whole_photo_matte, norm)
    yield _segment_event(matte, ms)
    yield from _keep(ex, norm, matte, opts)


def _keep(ex: InProcessExecutor, norm: Normalized, matte: Matte, opts: RunOptions) -> Iterator[StageEvent]:
    """A kept scene photo has one version: upscaled, not cut out."""
    result, ms = _timed(ex.keep, norm, matte, opts.size)
    yield StageEvent(3, "upscale", result.backend, ms, _final_payload(result, 0, opts.seed, "kept"),
                     images={"final": result.image}, objects={"result": result})


def _final_payload(result, variant: int, seed: int, action: str) -> dict[str, Any]:
    h, w = result.image.shape[:2]
    return {"output": {"size": [w, h], "variant": variant, "seed": seed, "action": action,
                       "placement": result.placement.to_dict(), "fidelity": result.fidelity}}


def settings_snapshot(settings: Settings, opts: RunOptions, backends: dict[str, str]) -> dict[str, Any]:
    """The settings a run used, without secrets."""
    fields = Settings.model_fields  # the pipeline's own; an adapter's subclass adds fields that are not the run's
    secrets = {name for name, f in fields.items() if "SecretStr" in str(f.annotation)}
    data = settings.model_dump(mode="json", include=set(fields) - secrets)
    data.update(backends)
    data["options"] = opts.to_dict()
    data["version"] = __version__
    return data
