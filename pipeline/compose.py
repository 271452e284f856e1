"""Stage 3b, compose (embedded procedural backend): a studio background made for this product, with its shadow.

The background is drawn at compose resolution (long side <= 1024, like an inpainting model's canvas) and the product
is not drawn here: post-production pastes the original product at full quality over the upscaled background.
"""

from __future__ import annotations

import colorsys

import cv2
import numpy as np

from .errors import InvalidOption
from .options import STYLES
from .placement import canvas_size, place
from .types import Analysis, Matte, Normalized, Orientation, Placement, Scene

COMPOSE_SIDE = 1024


def _harmony(analysis: Analysis, style: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Wall and floor colours (sRGB float 0-255) in harmony with the product's dominant colour."""
    base = np.array(analysis.palette[0].rgb if analysis.palette else (128, 128, 128), np.float64) / 255.0
    h, l, s = colorsys.rgb_to_hls(*base)
    if s < 0.12:  # a neutral product: a warm neutral setting
        h, s = 0.09, 0.10
    else:  # analogous hue, pulled far towards neutral so the product stays the subject
        h = (h + rng.uniform(-0.04, 0.04)) % 1.0
        s = min(0.22, s * 0.35)
    jitter = rng.uniform(-0.015, 0.015)
    if style == "dark":
        wall, floor = (h, 0.20 + jitter, s * 0.8), (h, 0.13 + jitter, s * 0.8)
    elif style == "pastel":
        wall, floor = (h, 0.86 + jitter, min(0.45, s * 2.2 + 0.15)), (h, 0.80 + jitter, min(0.4, s * 2 + 0.1))
    elif style == "white":
        wall, floor = (h, 1.0, 0.0), (h, 1.0, 0.0)
    else:
        wall, floor = (h, 0.93 + jitter, s), (h, 0.85 + jitter, s * 1.1)
    to_rgb = lambda hls: np.array(colorsys.hls_to_rgb(*hls)) * 255.0  # noqa: E731
    return to_rgb(wall), to_rgb(floor)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def draw_background(size: tuple[int, int], style: str, horizon: float, wall: np.ndarray, floor: np.ndarray,
                    light_x: float, rng: np.random.Generator) -> np.ndarray:
    """Float32 HxWx3 sRGB 0-255. ``horizon`` is the wall/floor line as a share of the height."""
    w, h = size
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    if style == "white":
        return np.full((h, w, 3), 255.0, np.float32)
    if style == "wall-floor":
        t = _smoothstep((y - horizon) / 0.012 + 0.5)  # a crisp but anti-aliased horizon
    elif style == "gradient":
        t = y
    else:  # sweep, pastel, dark: the wall curves into the floor without a line
        t = _smoothstep((y - (horizon - 0.18)) / 0.36)
    t = t[:, :, None]  # t depends on the row only: the wall-floor blend is one column, widened by the light below
    img = wall[None, None, :] * (1 - t) + floor[None, None, :] * t
    # A soft key light behind the product and a gentle fall-off to the corners.
    dx, dy = (x - light_x) / 0.75, (y - horizon * 0.8) / 0.9
    glow = np.exp(-(dx * dx + dy * dy))[:, :, None].astype(np.float32)
    img = img * (0.93 + 0.09 * glow)
    img += rng.normal(0.0, 0.6, size=(h, w, 1)).astype(np.float32)  # dither against banding
    return np.clip(img, 0.0, 255.0, out=img)


def shadow_layer(alpha_canvas: np.ndarray, ground_y: int, light_dx: float, strength: float,
                 contact_only: bool = False) -> np.ndarray:
    """Float32 HxW 0-1 darkening: a tight contact shadow where the product meets the ground plus a soft cast shadow
    (the product's silhouette laid on the floor away from the light)."""
    h, w = alpha_canvas.shape
    ys = np.nonzero(alpha_canvas.max(axis=1) > 0.5)[0]
    if len(ys) == 0:
        return np.zeros((h, w), np.float32)
    top, bottom = int(ys[0]), int(ys[-1])
    height = max(1, bottom - top)
    diag = float(np.hypot(w, h))
    # Contact: under each column's own lowest product pixel, where that pixel is on the floor (feet seen in
    # perspective end at different heights; a table top between the legs does not touch the floor).
    solid = alpha_canvas > 0.5
    has = solid.any(axis=0)
    foot_y = h - 1 - np.argmax(solid[::-1], axis=0)
    feet = has & (foot_y >= bottom - max(2, int(height * 0.15)))
    thick = max(2, int(diag * 0.006))
    rows = np.arange(h, dtype=np.int32)[:, None]
    contact = ((rows >= foot_y[None, :] - thick // 2) & (rows <= foot_y[None, :] + thick) & feet[None, :])
    contact = _soft_blur(contact.astype(np.float32), max(1.0, diag * 0.004))
    # Ambient occlusion: the floor under the whole footprint is a little darker.
    ambient = np.zeros((h, w), np.float32)
    xs = np.nonzero(feet)[0]
    if len(xs) and not contact_only:
        centre = (int((xs[0] + xs[-1]) / 2), int(bottom - height * 0.04))
        axes = (max(2, int((xs[-1] - xs[0]) * 0.55)), max(thick * 2, int(height * 0.07)))
        cv2.ellipse(ambient, centre, axes, 0, 0, 360, 1.0, -1)
        ambient = _soft_blur(ambient, max(2.0, diag * 0.01))
    out = np.maximum(contact * 0.55, ambient * 0.22)
    y0 = min(h - 1, ground_y)
    if not contact_only:
        laid = cv2.resize(alpha_canvas[top : bottom + 1], (w, max(1, int(height * 0.22))), interpolation=cv2.INTER_AREA)
        rows = min(h - y0, laid.shape[0])
        if rows > 0:
            # The silhouette laid on the floor (its base on the ground line), leaning away from the light.
            laid = np.ascontiguousarray(laid[::-1][:rows])
            sheared = cv2.warpAffine(laid, np.float32([[1, light_dx, 0], [0, 1, 0]]), (w, rows), flags=cv2.INTER_LINEAR)
            cast = np.zeros((h, w), np.float32)
            cast[y0 : y0 + rows] = sheared * np.linspace(1.0, 0.2, rows, dtype=np.float32)[:, None]
            cast = _soft_blur(cast, max(1.5, diag * 0.012))
            out = np.maximum(out, cast * 0.30)
    return np.clip(out * strength, 0.0, 0.85)


def _soft_blur(layer: np.ndarray, sigma: float) -> np.ndarray:
    """A wide Gaussian blur done at a quarter of the size when the blur is wide enough not to show it."""
    if sigma < 8:
        return cv2.GaussianBlur(layer, (0, 0), sigma)
    h, w = layer.shape
    small = cv2.resize(layer, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    return cv2.resize(cv2.GaussianBlur(small, (0, 0), sigma / 4), (w, h), interpolation=cv2.INTER_LINEAR)


def compose(norm: Normalized, matte: Matte, analysis: Analysis, orientation: Orientation, *, preset: str,
            style: str, size: int, seed: int) -> Scene:
    """Stage 3b: background + shadow at compose resolution, and the placement at the final size."""
    if style not in STYLES:
        raise InvalidOption(f"Unknown style '{style}'. Valid styles: {', '.join(STYLES)}.")
    canvas = canvas_size(preset, size, norm.size)
    placement = place(matte.bbox, preset, canvas)
    c = min(1.0, COMPOSE_SIDE / max(canvas))
    small = (max(16, round(canvas[0] * c)), max(16, round(canvas[1] * c)))
    rng = np.random.default_rng(seed)
    wall, floor = _harmony(analysis, style, rng)
    compose_placement = Placement(scale=placement.scale * c, offset=(placement.offset[0] * c, placement.offset[1] * c))
    alpha_small = _place_alpha(matte.alpha, compose_placement, small)
    ground = _ground_row(alpha_small)
    horizon = ground / small[1] - 0.02
    if orientation.polar_deg is not None:  # a camera looking down shows more floor: the horizon moves up
        horizon -= 0.12 * float(np.clip(orientation.polar_deg / 45.0, -1.0, 1.0))
    horizon = min(0.9, max(0.35, horizon))
    # Light from the side the product faces away from; the seed varies it a little.
    side = {"left": 1.0, "right": -1.0}.get(orientation.facing, rng.choice([-1.0, 1.0]))
    light_x = 0.5 - 0.18 * side + rng.uniform(-0.05, 0.05)
    background = draw_background(small, style, horizon, wall, floor, light_x, rng)
    shadow = shadow_layer(alpha_small, ground, light_dx=0.6 * side, strength=0.9 if style != "dark" else 0.7,
                          contact_only=style == "white")
    background *= (1.0 - shadow)[:, :, None]
    if style == "white":
        background[shadow < 0.004] = 255.0
    background += 0.5
    return Scene(
        background=np.clip(background, 0, 255, out=background).astype(np.uint8),
        canvas_size=canvas,
        placement=placement,
        style=style,
        preset=preset,
        seed=seed,
        info={"wall": [round(v) for v in wall], "floor": [round(v) for v in floor], "horizon": round(horizon, 3),
              "compose_size": list(small), "light_x": round(float(light_x), 3)},
    )


def _place_alpha(alpha: np.ndarray, placement: Placement, size: tuple[int, int]) -> np.ndarray:
    m = np.float32([[placement.scale, 0, placement.offset[0]], [0, placement.scale, placement.offset[1]]])
    return cv2.warpAffine(alpha, m, size, flags=cv2.INTER_AREA if placement.scale < 1 else cv2.INTER_LINEAR)


def _ground_row(alpha_canvas: np.ndarray) -> int:
    ys = np.nonzero(alpha_canvas.max(axis=1) > 0.5)[0]
    return int(ys[-1]) if len(ys) else alpha_canvas.shape[0] - 1
