"""Stage 4, post-produce (embedded Lanczos backend): background to the final size, the original product pasted
back at full quality, fidelity measured, and the export encoders."""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageCms

from .color import delta_e76, rgb_to_lab
from .errors import InvalidOption
from .placement import grow_box, paste_box, warp
from .types import Matte, Normalized, Placement, Result, Scene

_SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def upscale_background(background: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Lanczos to ``size`` plus unsharp masking weighted by local edges, so flat areas stay smooth."""
    if (background.shape[1], background.shape[0]) == size:
        return background
    up = cv2.resize(background, size, interpolation=cv2.INTER_LANCZOS4)
    if size[0] <= background.shape[1]:
        return up
    blur = cv2.GaussianBlur(up, (0, 0), 1.2)
    gray = cv2.cvtColor(up, cv2.COLOR_RGB2GRAY)
    edges = cv2.morphologyEx(gray, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).astype(np.float32)
    weight = np.clip(edges / 24.0, 0.0, 1.0)[:, :, None] * 0.6
    sharp = up.astype(np.float32) + weight * (up.astype(np.float32) - blur.astype(np.float32))
    return np.clip(sharp + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True, eq=False)
class PlacedProduct:
    """The product resampled onto the final canvas once, for both compositing and the fidelity check."""

    alpha: np.ndarray  # float32 patch
    original: np.ndarray  # RGB uint8 patch: the normalized image resampled, nothing else
    region: tuple[int, int, int, int]  # the part of the normalized image that was resampled
    pos: tuple[int, int]  # top-left of the patches on the canvas
    canvas: tuple[int, int]

    def boxes(self):
        return paste_box(self.alpha.shape, self.pos, self.canvas)


def place_product(norm: Normalized, matte: Matte, placement: Placement, canvas: tuple[int, int]) -> PlacedProduct:
    region = grow_box(matte.bbox, 8, norm.size)
    interp = cv2.INTER_LINEAR if placement.scale >= 1 else cv2.INTER_AREA
    alpha, pos = warp(matte.alpha, placement, canvas, region, interpolation=interp)
    original, _ = warp(norm.image, placement, canvas, region)
    return PlacedProduct(alpha=alpha, original=original, region=region, pos=pos, canvas=canvas)


def paste_product(canvas: np.ndarray, matte: Matte, placement: Placement, placed: PlacedProduct) -> np.ndarray:
    """Composite the product over ``canvas`` (RGB uint8 at the final size). Where the placed alpha is 1 the
    output is the original image resampled and nothing else; decontaminated colours only touch the soft edge."""
    boxes = placed.boxes()
    if boxes is None:
        return canvas
    edge_colours, _ = warp(matte.foreground, placement, placed.canvas, placed.region)
    (cy, cx), (py, px) = boxes
    a = np.clip(placed.alpha[py, px], 0.0, 1.0)
    product = np.where((a >= 0.999)[:, :, None], placed.original[py, px], edge_colours[py, px]).astype(np.float32)
    out = canvas.copy()
    base = out[cy, cx].astype(np.float32)
    out[cy, cx] = np.clip(product * a[:, :, None] + base * (1.0 - a[:, :, None]) + 0.5, 0, 255).astype(np.uint8)
    return out


def fidelity(placed: PlacedProduct, final: np.ndarray, erode_px: int = 3) -> dict[str, float]:
    """CIE76 colour difference inside the product (alpha >= 0.99, eroded) between the normalized input mapped
    through the placement and the final image."""
    boxes = placed.boxes()
    if boxes is None:
        return {"delta_e_mean": float("nan"), "delta_e_p95": float("nan"), "delta_e_max": float("nan"), "pixels": 0}
    (cy, cx), (py, px) = boxes
    inside = (placed.alpha[py, px] >= 0.99).astype(np.uint8)
    if erode_px:
        inside = cv2.erode(inside, np.ones((2 * erode_px + 1, 2 * erode_px + 1), np.uint8))
    sel = inside > 0
    if not sel.any():
        return {"delta_e_mean": 0.0, "delta_e_p95": 0.0, "delta_e_max": 0.0, "pixels": 0}
    step = max(1, int(np.sqrt(sel.sum() / 400_000)))  # a large product is sampled, not skipped
    a_lab = rgb_to_lab(placed.original[py, px][sel][::step])
    b_lab = rgb_to_lab(final[cy, cx][sel][::step])
    de = delta_e76(a_lab, b_lab)
    return {
        "delta_e_mean": round(float(de.mean()), 4),
        "delta_e_p95": round(float(np.percentile(de, 95)), 4),
        "delta_e_max": round(float(de.max()), 4),
        "pixels": int(sel.sum()),
    }


def post_produce(norm: Normalized, matte: Matte, scene: Scene, background_full: np.ndarray | None = None) -> Result:
    """Stage 4: background to the final size (unless a model already made it), product pasted back, fidelity."""
    canvas = background_full if background_full is not None else upscale_background(scene.background, scene.canvas_size)
    placed = place_product(norm, matte, scene.placement, scene.canvas_size)
    final = paste_product(canvas, matte, scene.placement, placed)
    return Result(image=final, placement=scene.placement, fidelity=fidelity(placed, final))


def keep_scene(norm: Normalized, matte: Matte, size: int) -> Result:
    """A scene photo kept as it is, only resized to the output long side (the old service's behaviour)."""
    w, h = norm.size
    scale = size / max(w, h)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LANCZOS4
    # No sharpening here: the whole photo is the product's context, and its pixels must stay faithful.
    final = cv2.resize(norm.image, None, fx=scale, fy=scale, interpolation=interp)
    placement = Placement(scale=float(scale), offset=(0.0, 0.0))
    placed = place_product(norm, matte, placement, (final.shape[1], final.shape[0]))
    return Result(image=final, placement=placement, fidelity=fidelity(placed, final), backend="lanczos")


def encode(image: np.ndarray, fmt: str, jpeg_quality: int = 92) -> bytes:
    """PNG, JPEG or WEBP bytes with an embedded sRGB profile."""
    fmt = fmt.lower()
    pil = Image.fromarray(image)
    buf = io.BytesIO()
    if fmt == "png":
        pil.save(buf, "PNG", compress_level=1, icc_profile=_SRGB_ICC)
    elif fmt in ("jpg", "jpeg"):
        pil.save(buf, "JPEG", quality=jpeg_quality, subsampling=0 if jpeg_quality >= 90 else 2, icc_profile=_SRGB_ICC)
    elif fmt == "webp":
        pil.save(buf, "WEBP", quality=jpeg_quality, method=2, icc_profile=_SRGB_ICC)
    else:
        raise InvalidOption(f"Unknown output format '{fmt}'. Valid formats: png, jpg, webp.")
    return buf.getvalue()
