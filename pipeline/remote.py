"""Running the stages in other containers: the remote executor (caller side) and ``handle`` (container side).

The runner calls the executor; ``RemoteExecutor`` turns each stage into a call ``call(target, payload)`` where the
payload is wire data (images as PNG bytes or blob references, and JSON) and ``target`` names a deployed function:
``cpu.<stage>`` for CPU functions, ``gpu.<Class>.<method>`` for the GPU classes, chosen by the backend settings.
``call`` is the seam: on Modal it is a ``.remote()`` call; in tests it is an in-process call that records the chain.

Every payload carries the caller's settings (:func:`portable_settings`: backend choices and options, no secrets, no
paths of the caller's machine); the container builds its executor from them, its secrets and paths from its own
environment. This module never imports modal.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any, Callable

from . import wire
from .normalize import Source, read_source
from .runner import InProcessExecutor
from .segment import Coarse
from .settings import Settings
from .types import Analysis, Matte, Normalized, Orientation, Result, Scene

Call = Callable[[str, dict[str, Any]], dict[str, Any]]

# Model backends and the GPU class that serves each; the rest run in CPU functions.
GPU_TARGETS = {
    ("background", "flux-fill"): "gpu.Inpainter.compose",
    ("upscaler", "realesrgan"): "gpu.Upscaler.upscale",
    ("segmenter", "sam2"): "gpu.Segmenter.segment",
    ("orienter", "orient-anything"): "gpu.Orienter.orient",
}


def target_for(stage: str, settings: Settings) -> str:
    family = {"compose": "background", "upscale": "upscaler", "segment": "segmenter", "orient": "orienter"}.get(stage)
    if family:
        gpu = GPU_TARGETS.get((family, getattr(settings, family)))
        if gpu:
            return gpu
    return f"cpu.{stage}"


# Fields that describe the machine a process runs on, not the job: never sent, each container has its own.
MACHINE_FIELDS = frozenset({"weights_dir", "cache_dir", "device", "load_device"})
SECRET_FIELDS = frozenset(name for name, f in Settings.model_fields.items() if "SecretStr" in str(f.annotation))


def portable_settings(settings: Settings) -> dict[str, Any]:
    """The settings a job carries to other containers: the pipeline's own fields (an adapter's subclass adds web and
    trigger fields, secrets among them, that never travel) but secrets and machine paths, as JSON values."""
    return settings.model_dump(mode="json", include=set(Settings.model_fields) - SECRET_FIELDS - MACHINE_FIELDS)


def settings_from(carried: dict[str, Any], cls: type[Settings] = Settings, **machine: Any) -> Settings:
    """A container's settings for one call: the carried ones over its own environment (secrets, paths), and
    ``machine`` (e.g. the weights folder of a GPU class) over both. Carried secrets or machine fields are refused.
    ``cls`` may be an adapter's subclass (its extra fields come from the container's environment)."""
    unexpected = sorted(set(carried) - set(Settings.model_fields))
    leaked = sorted(set(carried) & (MACHINE_FIELDS | SECRET_FIELDS))
    if unexpected or leaked:
        raise ValueError(f"settings a job may not carry: {', '.join(unexpected + leaked)}")
    return cls(**{**carried, **machine})


def for_cpu(carried: dict[str, Any]) -> dict[str, Any]:
    """The settings a CPU container builds its executor from: a backend served by a GPU class is never run there
    (its stage is a call to that class), so its family keeps the embedded default instead of loading weights."""
    out = dict(carried)
    for family, name in GPU_TARGETS:
        if out.get(family) == name:
            out[family] = Settings.model_fields[family].default
    return out


class ExecutorCache:
    """Executors built from carried settings (through ``view``), the most recent few kept (building one loads its
    backends)."""

    def __init__(self, view: Callable[[dict[str, Any]], dict[str, Any]] = for_cpu,
                 build: Callable[[Settings], InProcessExecutor] = InProcessExecutor, size: int = 4):
        self.view, self.build, self.size = view, build, size
        self._cache: OrderedDict[str, InProcessExecutor] = OrderedDict()

    def get(self, carried: dict[str, Any]) -> InProcessExecutor:
        carried = self.view(carried)
        key = json.dumps(carried, sort_keys=True)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        ex = self.build(settings_from(carried))
        self._cache[key] = ex
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return ex


class RemoteExecutor:
    """The executor interface of :class:`InProcessExecutor`, each stage a call to another container. With ``blobs``
    (a store both sides see), images cross as references, each stored once; without, as PNG bytes, each encoded once."""

    def __init__(self, settings: Settings, call: Call, blobs: wire.Blobs | None = None):
        self.settings, self.call = settings, call
        self.codec = wire.Codec(blobs)
        self.carried = portable_settings(settings)

    def backend_names(self) -> dict[str, str]:
        s = self.settings
        return {"describer": s.describer, "orienter": s.orienter, "segmenter": s.segmenter,
                "background": s.background, "upscaler": s.upscaler}

    def _call(self, stage: str, payload: dict[str, Any]) -> dict[str, Any]:
        blobs = self.codec.blobs
        if blobs is not None:
            blobs.flush()  # what this side stored is visible before the call that reads it
        return self.call(target_for(stage, self.settings),
                         {**payload, "settings": self.carried, "blobs": None if blobs is None else blobs.name})

    def normalize(self, source: Source) -> Normalized:
        data = read_source(source, self.settings)
        return wire.normalized_from_wire(self._call("normalize", {"source": data}), self.codec)

    def analyze(self, norm: Normalized, seed: int) -> tuple[Coarse, Analysis, Orientation]:
        c = self.codec
        n = wire.normalized_to_wire(norm, c)
        out = self._call("analyze", {"normalized": n, "seed": seed})
        coarse = wire.coarse_from_wire(out["coarse"], c)
        orientation = wire.orientation_from_wire(out["orientation"])
        if target_for("orient", self.settings) != "cpu.orient":
            orientation = wire.orientation_from_wire(
                self._call("orient", {"normalized": n, "coarse": out["coarse"]})["orientation"])
        return coarse, wire.analysis_from_wire(out["analysis"]), orientation

    def segment(self, norm: Normalized, coarse: Coarse, analysis: Analysis) -> Matte:
        c = self.codec
        out = self._call("segment", {"normalized": wire.normalized_to_wire(norm, c),
                                     "coarse": wire.coarse_to_wire(coarse, c),
                                     "analysis": wire.analysis_to_wire(analysis)})
        return wire.matte_from_wire(out["matte"], c)

    def compose(self, norm: Normalized, matte: Matte, analysis: Analysis, orientation: Orientation, *, preset: str,
                style: str, size: int, seed: int, prompt: str | None) -> Scene:
        c = self.codec
        out = self._call("compose", {
            "normalized": wire.normalized_to_wire(norm, c), "matte": wire.matte_to_wire(matte, c),
            "analysis": wire.analysis_to_wire(analysis), "orientation": wire.orientation_to_wire(orientation),
            "options": {"preset": preset, "style": style, "size": size, "seed": seed, "prompt": prompt}})
        return wire.scene_from_wire(out["scene"], c)

    def upscale(self, norm: Normalized, matte: Matte, scene: Scene) -> Result:
        c = self.codec
        out = self._call("upscale", {"normalized": wire.normalized_to_wire(norm, c),
                                     "matte": wire.matte_to_wire(matte, c), "scene": wire.scene_to_wire(scene, c)})
        return wire.result_from_wire(out["result"], c)

    def keep(self, norm: Normalized, matte: Matte, size: int) -> Result:
        c = self.codec
        out = self._call("keep", {"normalized": wire.normalized_to_wire(norm, c),
                                  "matte": wire.matte_to_wire(matte, c), "size": size})
        return wire.result_from_wire(out["result"], c)


def handle(stage: str, payload: dict[str, Any], ex: InProcessExecutor,
           blobs: wire.Blobs | None = None) -> dict[str, Any]:
    """Container side: decode the payload, run the stage in this process with ``ex`` (built from the payload's
    settings), encode the answer (images into ``blobs``, the store named by the payload's ``blobs``, when given)."""
    out = _handle(stage, payload, ex, wire.Codec(blobs))
    if blobs is not None:
        blobs.flush()
    return out


def _handle(stage: str, payload: dict[str, Any], ex: InProcessExecutor, c: wire.Codec) -> dict[str, Any]:
    if stage == "normalize":
        return wire.normalized_to_wire(ex.normalize(payload["source"]), c)
    norm = wire.normalized_from_wire(payload["normalized"], c)
    if stage == "analyze":
        coarse, analysis, orientation = ex.analyze(norm, payload["seed"])
        return {"coarse": wire.coarse_to_wire(coarse, c), "analysis": wire.analysis_to_wire(analysis),
                "orientation": wire.orientation_to_wire(orientation)}
    if stage == "orient":
        return {"orientation": wire.orientation_to_wire(
            ex.orienter.orient(norm, wire.coarse_from_wire(payload["coarse"], c)))}
    if stage == "segment":
        matte = ex.segment(norm, wire.coarse_from_wire(payload["coarse"], c),
                           wire.analysis_from_wire(payload["analysis"]))
        return {"matte": wire.matte_to_wire(matte, c)}
    matte = wire.matte_from_wire(payload["matte"], c)
    if stage == "compose":
        scene = ex.compose(norm, matte, wire.analysis_from_wire(payload["analysis"]),
                           wire.orientation_from_wire(payload["orientation"]), **payload["options"])
        return {"scene": wire.scene_to_wire(scene, c)}
    if stage == "upscale":
        return {"result": wire.result_to_wire(ex.upscale(norm, matte, wire.scene_from_wire(payload["scene"], c)), c)}
    if stage == "keep":
        return {"result": wire.result_to_wire(ex.keep(norm, matte, payload["size"]), c)}
    raise ValueError(f"unknown stage {stage!r}")
