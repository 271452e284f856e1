"""Running the stages in other containers: the remote executor (caller side) and ``handle`` (container side).

The runner calls the executor; ``RemoteExecutor`` turns each stage into a call ``call(target, payload)`` where the
payload is wire data (PNG bytes + JSON) and ``target`` names a deployed function: ``cpu.<stage>`` for CPU functions,
``gpu.<Class>.<method>`` for the GPU classes, chosen by the backend settings. ``call`` is the seam: on Modal it is a
``.remote()`` call; in tests it is an in-process call that records the chain. This module never imports modal.
"""

from __future__ import annotations

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
    ("upscaler", "sd-x4"): "gpu.Upscaler.upscale",
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


class RemoteExecutor:
    """The executor interface of :class:`InProcessExecutor`, each stage a call to another container."""

    def __init__(self, settings: Settings, call: Call):
        self.settings, self.call = settings, call

    def backend_names(self) -> dict[str, str]:
        s = self.settings
        return {"describer": s.describer, "orienter": s.orienter, "segmenter": s.segmenter,
                "background": s.background, "upscaler": s.upscaler}

    def _call(self, stage: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self.call(target_for(stage, self.settings), payload)

    def normalize(self, source: Source) -> Normalized:
        return wire.normalized_from_wire(self._call("normalize", {"source": read_source(source, self.settings)}))

    def analyze(self, norm: Normalized, seed: int) -> tuple[Coarse, Analysis, Orientation]:
        n = wire.normalized_to_wire(norm)
        out = self._call("analyze", {"normalized": n, "seed": seed})
        coarse = wire.coarse_from_wire(out["coarse"])
        orientation = wire.orientation_from_wire(out["orientation"])
        if target_for("orient", self.settings) != "cpu.orient":
            orientation = wire.orientation_from_wire(
                self._call("orient", {"normalized": n, "coarse": out["coarse"]})["orientation"])
        return coarse, wire.analysis_from_wire(out["analysis"]), orientation

    def segment(self, norm: Normalized, coarse: Coarse, analysis: Analysis) -> Matte:
        out = self._call("segment", {"normalized": wire.normalized_to_wire(norm), "coarse": wire.coarse_to_wire(coarse),
                                     "analysis": wire.analysis_to_wire(analysis)})
        return wire.matte_from_wire(out["matte"])

    def compose(self, norm: Normalized, matte: Matte, analysis: Analysis, orientation: Orientation, *, preset: str,
                style: str, size: int, seed: int, prompt: str | None) -> Scene:
        out = self._call("compose", {
            "normalized": wire.normalized_to_wire(norm), "matte": wire.matte_to_wire(matte),
            "analysis": wire.analysis_to_wire(analysis), "orientation": wire.orientation_to_wire(orientation),
            "options": {"preset": preset, "style": style, "size": size, "seed": seed, "prompt": prompt}})
        return wire.scene_from_wire(out["scene"])

    def upscale(self, norm: Normalized, matte: Matte, scene: Scene) -> Result:
        out = self._call("upscale", {"normalized": wire.normalized_to_wire(norm), "matte": wire.matte_to_wire(matte),
                                     "scene": wire.scene_to_wire(scene)})
        return wire.result_from_wire(out["result"])

    def keep(self, norm: Normalized, matte: Matte, size: int) -> Result:
        out = self._call("keep", {"normalized": wire.normalized_to_wire(norm), "matte": wire.matte_to_wire(matte),
                                  "size": size})
        return wire.result_from_wire(out["result"])


def handle(stage: str, payload: dict[str, Any], ex: InProcessExecutor) -> dict[str, Any]:
    """Container side: decode the payload, run the stage in this process, encode the answer."""
    if stage == "normalize":
        return wire.normalized_to_wire(ex.normalize(payload["source"]))
    norm = wire.normalized_from_wire(payload["normalized"])
    if stage == "analyze":
        coarse, analysis, orientation = ex.analyze(norm, payload["seed"])
        return {"coarse": wire.coarse_to_wire(coarse), "analysis": wire.analysis_to_wire(analysis),
                "orientation": wire.orientation_to_wire(orientation)}
    if stage == "orient":
        return {"orientation": wire.orientation_to_wire(
            ex.orienter.orient(norm, wire.coarse_from_wire(payload["coarse"])))}
    if stage == "segment":
        matte = ex.segment(norm, wire.coarse_from_wire(payload["coarse"]), wire.analysis_from_wire(payload["analysis"]))
        return {"matte": wire.matte_to_wire(matte)}
    matte = wire.matte_from_wire(payload["matte"])
    if stage == "compose":
        scene = ex.compose(norm, matte, wire.analysis_from_wire(payload["analysis"]),
                           wire.orientation_from_wire(payload["orientation"]), **payload["options"])
        return {"scene": wire.scene_to_wire(scene)}
    if stage == "upscale":
        return {"result": wire.result_to_wire(ex.upscale(norm, matte, wire.scene_from_wire(payload["scene"])))}
    if stage == "keep":
        return {"result": wire.result_to_wire(ex.keep(norm, matte, payload["size"]))}
    raise ValueError(f"unknown stage {stage!r}")
