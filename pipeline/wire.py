"""Stage inputs and outputs as they cross between containers: PNG bytes plus small JSON, never pickled objects.

Each ``*_to_wire`` returns a dict of JSON values and ``bytes``; each ``*_from_wire`` rebuilds the frozen dataclass.
Mattes travel as 16-bit PNG so soft edges keep their precision.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import cv2
import numpy as np

from .backdrop import BackdropModel
from .segment import Coarse
from .types import (Analysis, BackgroundInfo, Matte, Normalized, Orientation, PaletteColor, Placement, Result,
                    Scene)

Wire = dict[str, Any]


def _png(arr: np.ndarray) -> bytes:
    img = arr[:, :, ::-1] if arr.ndim == 3 else arr
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def _unpng(data: bytes) -> np.ndarray:
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ValueError("not a PNG")
    return np.ascontiguousarray(arr[:, :, ::-1]) if arr.ndim == 3 else arr


def _alpha_png(alpha: np.ndarray) -> bytes:
    return _png(np.clip(alpha * 65535.0 + 0.5, 0, 65535).astype(np.uint16))


def _alpha_unpng(data: bytes) -> np.ndarray:
    return _unpng(data).astype(np.float32) / 65535.0


def normalized_to_wire(n: Normalized) -> Wire:
    return {"image": _png(n.image), "alpha_prior": None if n.alpha_prior is None else _png(n.alpha_prior),
            "background": asdict(n.background), "source_format": n.source_format,
            "original_size": list(n.original_size), "notes": list(n.notes)}


def normalized_from_wire(w: Wire) -> Normalized:
    bg = w["background"]
    return Normalized(image=_unpng(w["image"]),
                      alpha_prior=None if w["alpha_prior"] is None else _unpng(w["alpha_prior"]),
                      background=BackgroundInfo(kind=bg["kind"], color=tuple(bg["color"]), confidence=bg["confidence"],
                                                features=bg["features"]),
                      source_format=w["source_format"], original_size=tuple(w["original_size"]), notes=tuple(w["notes"]))


def coarse_to_wire(c: Coarse) -> Wire:
    return {"mask": _png(c.mask.astype(np.uint8) * 255), "image": _png(c.image), "scale": c.scale,
            "model": None if c.model is None else {"coeffs": c.model.coeffs.tolist(), "noise": c.model.noise},
            "removed": list(c.removed), "holes": _png(c.holes.astype(np.uint8) * 255),
            "shading": None if c.shading is None else _png(_shading_u16(c.shading))}


def _shading_u16(shading: np.ndarray) -> np.ndarray:
    """L offsets (-100..100) as 16-bit steps of 1/300."""
    return np.clip((shading + 100.0) * 300.0 + 0.5, 0, 65535).astype(np.uint16)


def coarse_from_wire(w: Wire) -> Coarse:
    model = None if w["model"] is None else BackdropModel(coeffs=np.asarray(w["model"]["coeffs"]),
                                                         noise=w["model"]["noise"])
    return Coarse(mask=_unpng(w["mask"]) > 127, image=_unpng(w["image"]), scale=w["scale"], model=model,
                  removed=tuple(w["removed"]), holes=_unpng(w["holes"]) > 127,
                  shading=None if w.get("shading") is None else _unpng(w["shading"]).astype(np.float32) / 300.0 - 100.0)


def analysis_to_wire(a: Analysis) -> Wire:
    d = asdict(a)
    d["bbox"] = list(a.bbox)
    return d


def analysis_from_wire(w: Wire) -> Analysis:
    d = dict(w)
    d["palette"] = [PaletteColor(name=c["name"], rgb=tuple(c["rgb"]), fraction=c["fraction"]) for c in d["palette"]]
    d["bbox"] = tuple(d["bbox"])
    return Analysis(**d)


def orientation_to_wire(o: Orientation) -> Wire:
    return o.to_dict()


def orientation_from_wire(w: Wire) -> Orientation:
    return Orientation(**w)


def matte_to_wire(m: Matte) -> Wire:
    return {"alpha": _alpha_png(m.alpha), "foreground": _png(m.foreground), "bbox": list(m.bbox),
            "removed": list(m.removed), "backend": m.backend}


def matte_from_wire(w: Wire) -> Matte:
    return Matte(alpha=_alpha_unpng(w["alpha"]), foreground=_unpng(w["foreground"]), bbox=tuple(w["bbox"]),
                 removed=tuple(w["removed"]), backend=w["backend"])


def _placement(p: dict) -> Placement:
    return Placement(scale=p["scale"], offset=tuple(p["offset"]))


def scene_to_wire(s: Scene) -> Wire:
    return {"background": _png(s.background), "canvas_size": list(s.canvas_size), "placement": s.placement.to_dict(),
            "style": s.style, "preset": s.preset, "seed": s.seed, "backend": s.backend, "info": s.info}


def scene_from_wire(w: Wire) -> Scene:
    return Scene(background=_unpng(w["background"]), canvas_size=tuple(w["canvas_size"]),
                 placement=_placement(w["placement"]), style=w["style"], preset=w["preset"], seed=w["seed"],
                 backend=w["backend"], info=w["info"])


def result_to_wire(r: Result) -> Wire:
    return {"image": _png(r.image), "placement": r.placement.to_dict(), "fidelity": r.fidelity, "backend": r.backend}


def result_from_wire(w: Wire) -> Result:
    return Result(image=_unpng(w["image"]), placement=_placement(w["placement"]), fidelity=w["fidelity"],
                  backend=w["backend"])
