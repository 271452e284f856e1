"""The embedded CPU defaults: no GPU, no weights, always available."""

from __future__ import annotations

from dataclasses import dataclass

from .. import analyze, compose, segment, upscale
from ..types import Analysis, Matte, Normalized, Orientation, Result, Scene
from . import register


@dataclass
class HeuristicDescriber:
    name = "heuristic"

    def describe(self, norm: Normalized, coarse: segment.Coarse, seed: int = 0) -> Analysis:
        return analyze.describe(norm, coarse, seed=seed)


@dataclass
class GeometricOrienter:
    name = "geometric"

    def orient(self, norm: Normalized, coarse: segment.Coarse) -> Orientation:
        return analyze.orient(coarse)


@dataclass
class ClassicalSegmenter:
    name = "classical"

    def segment(self, norm: Normalized, coarse: segment.Coarse, analysis: Analysis) -> Matte:
        return segment.refine(norm, coarse)


@dataclass
class ProceduralBackground:
    name = "procedural"

    def compose(self, norm: Normalized, matte: Matte, analysis: Analysis, orientation: Orientation, *, preset: str,
                style: str, size: int, seed: int, prompt: str | None = None) -> Scene:
        return compose.compose(norm, matte, analysis, orientation, preset=preset, style=style, size=size, seed=seed)


@dataclass
class LanczosUpscaler:
    name = "lanczos"

    def post_produce(self, norm: Normalized, matte: Matte, scene: Scene) -> Result:
        return upscale.post_produce(norm, matte, scene)


register("describer", "heuristic")(lambda s: HeuristicDescriber())
register("orienter", "geometric")(lambda s: GeometricOrienter())
register("segmenter", "classical")(lambda s: ClassicalSegmenter())
register("background", "procedural")(lambda s: ProceduralBackground())
register("upscaler", "lanczos")(lambda s: LanczosUpscaler())
