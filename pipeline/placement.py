"""Where the product goes on the canvas, and the one resampling routine used both to draw it and to check it."""

from __future__ import annotations

import cv2
import numpy as np

from .errors import InvalidOption
from .options import PRESETS
from .types import Placement



def canvas_size(preset: str, long_side: int, input_size: tuple[int, int]) -> tuple[int, int]:
    if preset not in PRESETS:
        raise InvalidOption(f"Unknown preset '{preset}'. Valid presets: {', '.join(PRESETS)}.")
    aspect = PRESETS[preset].aspect or input_size[0] / input_size[1]
    if aspect >= 1:
        return long_side, max(16, round(long_side / aspect))
    return max(16, round(long_side * aspect)), long_side


def place(bbox: tuple[int, int, int, int], preset: str, canvas: tuple[int, int]) -> Placement:
    """Scale and offset that fit the product's bbox into the canvas, centred, filling the preset's share."""
    fill = PRESETS[preset].fill
    x0, y0, x1, y1 = bbox
    bw, bh = max(1, x1 - x0), max(1, y1 - y0)
    cw, ch = canvas
    scale = fill * min(cw / bw, ch / bh)
    ox = round(cw / 2 - (x0 + bw / 2) * scale)
    oy = round(ch / 2 - (y0 + bh / 2) * scale)
    return Placement(scale=float(scale), offset=(float(ox), float(oy)))


def warp(image: np.ndarray, placement: Placement, canvas: tuple[int, int], region: tuple[int, int, int, int] | None = None,
         interpolation: int | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """Resample ``image`` (or its ``region``) by ``placement``. Returns the resampled patch and its top-left
    position on the canvas; the patch may extend past the canvas (callers clip with :func:`paste_box`)."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = region or (0, 0, w, h)
    s = placement.scale
    if interpolation is None:
        interpolation = cv2.INTER_AREA if s < 1 else cv2.INTER_LANCZOS4
    # Start the crop on a pixel that lands on an integer canvas position so the offset stays exact.
    size = (max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s)))  # a sliver never scales to 0 pixels
    patch = cv2.resize(np.ascontiguousarray(image[y0:y1, x0:x1]), size, interpolation=interpolation)
    px = round(x0 * s + placement.offset[0])
    py = round(y0 * s + placement.offset[1])
    return patch, (px, py)


def paste_box(patch_shape: tuple[int, int], pos: tuple[int, int], canvas: tuple[int, int]):
    """Slices (canvas, patch) for the part of a patch at ``pos`` that lies on the canvas, or None."""
    ph, pw = patch_shape
    px, py = pos
    cw, ch = canvas
    cx0, cy0, cx1, cy1 = max(0, px), max(0, py), min(cw, px + pw), min(ch, py + ph)
    if cx0 >= cx1 or cy0 >= cy1:
        return None
    return (slice(cy0, cy1), slice(cx0, cx1)), (slice(cy0 - py, cy1 - py), slice(cx0 - px, cx1 - px))


def grow_box(bbox: tuple[int, int, int, int], margin: int, size: tuple[int, int]) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = bbox
    w, h = size
    return max(0, x0 - margin), max(0, y0 - margin), min(w, x1 + margin), min(h, y1 + margin)
