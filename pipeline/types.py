"""Frozen dataclasses passed between stages.

Image conventions: ``RGB uint8 HxWx3`` for pictures, ``float32 HxW 0-1`` for mattes, coordinates in pixels of the
normalized image unless a field says otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

BackgroundKind = Literal["white", "plain", "scene"]


@dataclass(frozen=True, eq=False)
class BackgroundInfo:
    kind: BackgroundKind
    color: tuple[int, int, int]  # median backdrop colour, sRGB
    confidence: float
    features: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Normalized:
    image: np.ndarray  # RGB uint8 HxWx3, oriented, sRGB, long side <= settings.max_side
    alpha_prior: np.ndarray | None  # L uint8 HxW from the input's own alpha channel, None when opaque
    background: BackgroundInfo
    source_format: str
    original_size: tuple[int, int]  # (w, h) as decoded, after orientation
    notes: tuple[str, ...] = ()  # what normalization did: "exif_rotated", "icc_to_srgb", "cmyk", ...

    @property
    def size(self) -> tuple[int, int]:
        return int(self.image.shape[1]), int(self.image.shape[0])

    def properties(self) -> dict[str, Any]:
        w, h = self.size
        return {
            "size": [w, h],
            "original_size": list(self.original_size),
            "aspect_ratio": round(w / h, 4),
            "format": self.source_format,
            "has_alpha": self.alpha_prior is not None,
            "notes": list(self.notes),
            "background_color": list(self.background.color),
        }


@dataclass(frozen=True)
class PaletteColor:
    name: str
    rgb: tuple[int, int, int]
    fraction: float

    @property
    def hex(self) -> str:
        return "#%02x%02x%02x" % self.rgb


@dataclass(frozen=True)
class Orientation:
    """Pose of the product. The geometric backend fills angle/symmetry/ground; model backends add the angles."""

    principal_angle_deg: float  # main axis of the matte, 0 = horizontal
    symmetry: float  # 0-1, left/right mirror agreement of the matte
    ground_y: float  # 0-1 from the top of the image: where the product meets the ground
    facing: str  # "front" | "left" | "right"
    azimuth_deg: float | None = None
    polar_deg: float | None = None
    rotation_deg: float | None = None
    confidence: float = 0.0
    backend: str = "geometric"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Analysis:
    """What the product is and how to stage it. Field names of the old service kept: objects, objects_white,
    background_suggestion."""

    objects: list[str]
    objects_white: list[str]
    background_suggestion: str
    prompt: str
    style: str
    category: str
    palette: list[PaletteColor]
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 of the product in the normalized image
    white_fraction: float  # share of product pixels that are white or near white
    overlays: list[str]
    describer: str = "heuristic"
    confidence: float = 0.5
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def aspect(self) -> float:
        x0, y0, x1, y1 = self.bbox
        return (x1 - x0) / max(1, y1 - y0)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["palette"] = [{"name": c.name, "hex": c.hex, "rgb": list(c.rgb), "fraction": c.fraction} for c in self.palette]
        d["bbox"] = list(self.bbox)
        d["aspect"] = round(self.aspect, 4)
        return d


@dataclass(frozen=True, eq=False)
class Matte:
    alpha: np.ndarray  # float32 HxW 0-1 at the normalized size
    foreground: np.ndarray  # RGB uint8 HxWx3: colours decontaminated where 0 < alpha < 1, original elsewhere
    bbox: tuple[int, int, int, int]
    removed: tuple[str, ...] = ()  # overlays left out of the product, e.g. "swatches"
    backend: str = "classical"

    def mask_u8(self) -> np.ndarray:
        return np.clip(self.alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Placement:
    """final = normalized * scale + offset (pixels of the final image)."""

    scale: float
    offset: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "offset": [self.offset[0], self.offset[1]]}


@dataclass(frozen=True, eq=False)
class Scene:
    """The new background with its shadow, at compose resolution, and where the product goes."""

    background: np.ndarray  # RGB uint8 HxWx3, shadow included, no product
    canvas_size: tuple[int, int]  # (w, h) of the final image
    placement: Placement  # placement at the final size
    style: str
    preset: str
    seed: int
    backend: str = "procedural"
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Result:
    image: np.ndarray  # RGB uint8 HxWx3 at the final size
    placement: Placement
    fidelity: dict[str, float]
    backend: str = "lanczos"


@dataclass(frozen=True)
class StageEvent:
    """One finished stage, as streamed and recorded in the manifest."""

    step: int
    stage: str
    backend: str
    ms: float
    payload: dict[str, Any] = field(default_factory=dict)
    images: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # artefacts, never serialized as is
    objects: dict[str, Any] = field(default_factory=dict, repr=False)  # typed stage outputs for in-process callers
