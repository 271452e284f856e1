"""Stage 2, analyze (embedded heuristic backends): what the product looks like and how it stands.

Description without an LLM: palette with colour names, extent, white parts, overlays, a background suggestion and a
ready inpainting prompt. Orientation from the matte: principal axis, left/right symmetry, ground contact. The LLM
and Orient-Anything backends fill the same types.
"""

from __future__ import annotations

import cv2
import numpy as np

from .color import chroma, color_name, rgb_to_lab
from .segment import Coarse
from .types import Analysis, Normalized, Orientation, PaletteColor

PROMPT_VERSION = "heuristic-1"


def palette(pixels: np.ndarray, k: int = 4, seed: int = 0) -> list[PaletteColor]:
    """Dominant colours of RGB uint8 Nx3 pixels, most frequent first, similar names merged."""
    if len(pixels) == 0:
        return []
    rng = np.random.default_rng(seed)
    sample = pixels[rng.choice(len(pixels), size=min(len(pixels), 6000), replace=False)].astype(np.float32)
    k = min(k, len(sample))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    cv2.setRNGSeed(seed)
    _, labels, centers = cv2.kmeans(sample, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    counts = np.bincount(labels.ravel(), minlength=k).astype(np.float64)
    merged: dict[str, list] = {}
    for c, n in zip(centers, counts):
        rgb = tuple(int(v) for v in np.clip(c + 0.5, 0, 255))
        name = color_name(rgb)
        if name in merged:
            merged[name][1] += n
        else:
            merged[name] = [rgb, n]
    total = counts.sum()
    out = [PaletteColor(name=n, rgb=v[0], fraction=round(float(v[1] / total), 3)) for n, v in merged.items()]
    return sorted(out, key=lambda c: -c.fraction)


def _category(aspect: float, fill: float, has_holes: bool) -> str:
    if aspect > 1.8:
        return "wide furniture" if fill > 0.45 else "table or bench"
    if aspect < 0.55:
        return "tall furniture" if fill > 0.5 else "shelving or stand"
    if has_holes or fill < 0.4:
        return "open-frame furniture"
    return "product"


STYLE_SUGGESTIONS = {"light": "sweep", "dark": "sweep", "colourful": "pastel"}


def describe(norm: Normalized, coarse: Coarse, seed: int = 0) -> Analysis:
    """The heuristic describer."""
    mask = coarse.mask
    ys, xs = np.nonzero(mask)
    s = coarse.scale
    x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    bbox = (int(x0 / s), int(y0 / s), min(norm.size[0], int(np.ceil(x1 / s))), min(norm.size[1], int(np.ceil(y1 / s))))
    pixels = coarse.image[mask]
    lab = rgb_to_lab(pixels)
    white = (lab[:, 0] > 85) & (chroma(lab) < 10)
    white_fraction = float(white.mean())
    colours = palette(pixels, seed=seed)
    names = [c.name for c in colours if c.fraction >= 0.08][:3] or ["neutral"]
    aspect = (x1 - x0) / max(1, y1 - y0)
    fill = float(mask[y0:y1, x0:x1].mean())
    category = _category(aspect, fill, bool(coarse.holes.any()))
    mean_l = float(lab[:, 0].mean())
    mean_c = float(chroma(lab).mean())
    tone = "colourful" if mean_c > 25 else ("dark" if mean_l < 45 else "light")
    style = STYLE_SUGGESTIONS[tone]
    objects = [f"{' and '.join(names)} {category}"]
    objects_white = ["white parts of the product"] if white_fraction > 0.15 else []
    if tone == "light":
        backdrop = "a warm light-grey seamless studio sweep with soft daylight"
    elif tone == "dark":
        backdrop = "a pale warm studio sweep that lets the dark product stand out"
    else:
        backdrop = "a soft neutral studio backdrop in a muted tone of the product's colour"
    prompt = (
        f"Professional catalogue photo of a {objects[0]} standing on the floor of {backdrop}, "
        "soft natural contact shadow, even diffuse lighting, photorealistic, high detail, no other objects"
    )
    return Analysis(
        objects=objects,
        objects_white=objects_white,
        background_suggestion=backdrop,
        prompt=prompt,
        style=style,
        category=category,
        palette=colours,
        bbox=bbox,
        white_fraction=round(white_fraction, 4),
        overlays=list(coarse.removed),
        describer="heuristic",
        confidence=0.5,
        extra={"tone": tone, "fill": round(fill, 3), "prompt_version": PROMPT_VERSION},
    )


def orient(coarse: Coarse) -> Orientation:
    """The geometric orienter: pose cues from the matte alone."""
    mask = coarse.mask.astype(np.uint8)
    ys, xs = np.nonzero(mask)
    h = mask.shape[0]
    cx, cy = xs.mean(), ys.mean()
    cov = np.cov(np.stack([xs - cx, ys - cy]))
    evals, evecs = np.linalg.eigh(cov)
    major = evecs[:, int(np.argmax(evals))]
    angle = float(np.degrees(np.arctan2(major[1], major[0])))
    angle = (angle + 90.0) % 180.0 - 90.0
    x0, x1 = xs.min(), xs.max() + 1
    crop = mask[ys.min() : ys.max() + 1, x0:x1]
    mirrored = crop[:, ::-1]
    inter = np.logical_and(crop, mirrored).sum()
    union = np.logical_or(crop, mirrored).sum()
    symmetry = float(inter / max(1, union))
    ground = float((ys.max() + 1) / h)
    # More mass on one side of the box means that side is nearer the camera.
    left_mass = int(crop[:, : crop.shape[1] // 2].sum())
    right_mass = int(crop[:, crop.shape[1] // 2 :].sum())
    balance = (right_mass - left_mass) / max(1, left_mass + right_mass)
    facing = "front" if symmetry > 0.8 or abs(balance) < 0.06 else ("left" if balance > 0 else "right")
    return Orientation(
        principal_angle_deg=round(angle, 2),
        symmetry=round(symmetry, 4),
        ground_y=round(ground, 4),
        facing=facing,
        confidence=round(float(symmetry), 3),
        backend="geometric",
    )
