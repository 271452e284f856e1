"""Deterministic product photos with known masks: products drawn procedurally on studio backdrops.

Two sets. The basic set (``sample_set``): box, bottle, chair, white cabinet, glossy vase, frame, drawn as hard masks.
The hard set (``hard_set``): thin structures 1-4 px wide at the segmenter's working size (tripods, lamps hanging on
rods, harp strings, table legs), wire meshes and grids (baskets, trolleys, cages), many small enclosed holes, rings and
frames, products cut by the frame edge, transparent and glossy parts, white-on-white and dark products. Backdrops:
pure white, an off-white sweep (235-250 grey, vignette, sensor noise), a plain studio colour, a pastel colour and a
gradient. Every photo gets a soft contact shadow (background in the ground truth) and JPEG compression (quality
75-95 in the hard set); the hard set's products are drawn anti-aliased at ``SUPER`` x size. ``make_scene`` draws
rooms, streets and foliage in which no product stands out. ``python -m pipeline.synthetic DIR [--hard]`` writes a set.
"""

from __future__ import annotations

import argparse
import csv
import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

PRODUCTS = ("box", "bottle", "chair", "white_cabinet", "glossy_vase", "frame")
HARD_PRODUCTS = ("tripod", "wire_basket", "trolley", "cage", "thin_table", "slat_chair", "keys_ring", "ceiling_lamp",
                 "harp", "scooter", "frames", "edge_shelf", "glass_table", "white_lamp")
BACKDROPS = ("white", "offwhite", "plain", "gradient")
HARD_BACKDROPS = ("white", "offwhite", "pastel", "gradient")
BACKDROP_KIND = {"white": "white", "offwhite": "white", "plain": "plain", "pastel": "plain", "gradient": "plain"}
SUPER = 4  # the product is drawn at this multiple of the image size and averaged down: anti-aliased thin parts


@dataclass(frozen=True, eq=False)
class Sample:
    name: str
    image: np.ndarray  # RGB uint8
    mask: np.ndarray  # L uint8, 255 = product
    product: str
    backdrop: str

    @property
    def kind(self) -> str:
        return BACKDROP_KIND[self.backdrop]


# --- backdrops --------------------------------------------------------------------------------------------------
PASTELS = [(236, 208, 214), (204, 222, 240), (212, 236, 214), (240, 226, 196), (222, 212, 238), (200, 232, 230)]
GRADIENTS = [((238, 238, 240), (168, 170, 176)), ((226, 232, 244), (150, 168, 196)), ((244, 232, 214), (196, 170, 140)),
             ((214, 226, 216), (120, 146, 128))]


def _backdrop(kind: str, w: int, h: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """(RGB float32 HxWx3, sensor noise sigma)."""
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    if kind == "white":
        return np.full((h, w, 3), 255.0, np.float32), 1.0
    if kind == "offwhite":  # a grey studio sweep: 235-250, a little warm or cool, lit in the middle, darker corners
        level = rng.uniform(235, 250)
        c = level + rng.uniform(-2.5, 2.5, 3).astype(np.float32)
        cx, cy = rng.uniform(0.35, 0.65), rng.uniform(0.3, 0.6)
        r2 = ((x - cx) ** 2 + (y - cy) ** 2) / 0.5
        vignette = 1.0 - rng.uniform(0.03, 0.1) * r2
        return (c * vignette - rng.uniform(0, 4) * y).astype(np.float32), float(rng.uniform(1.5, 3.0))
    if kind == "plain":
        palette = [(120, 160, 200), (214, 196, 170), (150, 190, 160), (200, 140, 140), (90, 95, 105)]
        c = np.array(palette[rng.integers(len(palette))], np.float32)
        return np.broadcast_to(c, (h, w, 3)).copy(), 1.2
    if kind == "pastel":
        c = np.array(PASTELS[rng.integers(len(PASTELS))], np.float32) + rng.uniform(-4, 4, 3).astype(np.float32)
        r2 = ((x - 0.5) ** 2 + (y - 0.45) ** 2) / 0.5
        return (c * (1.0 - rng.uniform(0.0, 0.05) * r2)).astype(np.float32), float(rng.uniform(1.2, 2.5))
    top, bottom = (np.array(c, np.float32) for c in GRADIENTS[rng.integers(len(GRADIENTS))])
    if rng.random() < 0.5:
        top, bottom = bottom, top
    t = y * np.ones((1, w, 1), np.float32) if rng.random() < 0.7 else (0.6 * y + 0.4 * x)
    return (top * (1 - t) + bottom * t).astype(np.float32), float(rng.uniform(1.0, 2.0))


def _basic_backdrop(kind: str, w: int, h: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """The basic set's backdrops: flat off-white with a light fall-off, an even gradient."""
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    if kind == "offwhite":
        c = np.array([242, 239, 233], np.float32) + rng.uniform(-3, 3, 3)
        return np.broadcast_to(c, (h, w, 3)).copy() - 6 * y, 1.2
    if kind == "gradient":
        top = np.array([235, 236, 240], np.float32) - rng.uniform(0, 20, 3)
        bottom = top - np.array([60, 55, 45], np.float32)
        return top * (1 - y) + bottom * y * np.ones((1, w, 1), np.float32), 1.2
    bg, _ = _backdrop(kind, w, h, rng)
    return bg, 1.2


# --- drawing ----------------------------------------------------------------------------------------------------
class Canvas:
    """Product parts drawn at ``SUPER`` x size, colour and coverage; ``finish`` averages them down."""

    def __init__(self, w: int, h: int):
        self.w, self.h = w, h
        self.cov = np.zeros((h * SUPER, w * SUPER), np.uint8)
        self.rgb = np.zeros((h * SUPER, w * SUPER, 3), np.uint8)
        self.glass = np.zeros((h * SUPER, w * SUPER), np.uint8)  # 255 where a part lets the backdrop through

    def _p(self, pt) -> tuple[int, int]:
        return int(round(pt[0] * SUPER)), int(round(pt[1] * SUPER))

    def _draw(self, fn, colour, glass: bool) -> None:
        """``fn(target, value)`` draws one shape on the coverage, colour and glass planes alike."""
        fn(self.cov, 255)
        fn(self.rgb, tuple(float(v) for v in np.clip(np.asarray(colour, np.float32), 0, 255)))
        fn(self.glass, 255 if glass else 0)

    def _width(self, width: float) -> int:
        return max(1, int(round(width * SUPER)))

    def line(self, p0, p1, width: float, colour, glass: bool = False) -> None:
        a, b, t = self._p(p0), self._p(p1), self._width(width)
        self._draw(lambda img, v: cv2.line(img, a, b, v, t, cv2.LINE_8), colour, glass)

    def polyline(self, pts, width: float, colour, closed: bool = False) -> None:
        arr, t = np.array([self._p(p) for p in pts], np.int32), self._width(width)
        self._draw(lambda img, v: cv2.polylines(img, [arr], closed, v, t, cv2.LINE_8), colour, False)

    def poly(self, pts, colour, glass: bool = False) -> None:
        arr = np.array([self._p(p) for p in pts], np.int32)
        self._draw(lambda img, v: cv2.fillPoly(img, [arr], v), colour, glass)

    def rect(self, x0, y0, x1, y1, colour, glass: bool = False) -> None:
        self.poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], colour, glass)

    def ellipse(self, c, axes, colour, angle: float = 0, start: float = 0, end: float = 360, width: float = -1,
                glass: bool = False) -> None:
        t = -1 if width < 0 else self._width(width)
        centre, ax = self._p(c), self._p(axes)
        self._draw(lambda img, v: cv2.ellipse(img, centre, ax, angle, start, end, v, t, cv2.LINE_8), colour, glass)

    def hole(self, pts) -> None:
        """Cut a see-through opening."""
        cv2.fillPoly(self.cov, [np.array([self._p(p) for p in pts], np.int32)], 0)

    def hole_ellipse(self, c, axes) -> None:
        cv2.ellipse(self.cov, self._p(c), self._p(axes), 0, 0, 360, 0, -1, cv2.LINE_8)

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(coverage float32 HxW 0-1, colour float32 HxWx3, glass float32 HxW 0-1) at the image size."""
        size = (self.w, self.h)
        cov = cv2.resize(self.cov.astype(np.float32) / 255.0, size, interpolation=cv2.INTER_AREA)
        pre = self.rgb.astype(np.float32) * (self.cov[..., None] > 0)
        col = cv2.resize(pre, size, interpolation=cv2.INTER_AREA) / np.maximum(cov[..., None], 1e-3)
        glass = cv2.resize(((self.glass > 0) & (self.cov > 0)).astype(np.float32), size, interpolation=cv2.INTER_AREA)
        return cov, col, np.clip(glass / np.maximum(cov, 1e-3), 0, 1)


METALS = [(40, 40, 44), (20, 20, 22), (175, 178, 184), (150, 120, 70), (190, 60, 50), (60, 90, 150)]
WOODS = [(150, 105, 65), (110, 75, 45), (200, 165, 120), (70, 50, 35)]
WHITES = [(246, 246, 244), (240, 240, 238), (236, 234, 230)]


def _pick(rng: np.random.Generator, options):
    return np.array(options[rng.integers(len(options))], np.float32)


def _shade(c, k: float):
    return np.clip(np.asarray(c, np.float32) * k, 0, 255)


def _draw_hard(kind: str, cv: Canvas, rng: np.random.Generator) -> dict:
    """Draw one hard product; returns where its contact shadow goes: {"feet": [(x, y)], "floor": y or None}."""
    w, h = cv.w, cv.h
    u = min(w, h) / 640.0  # line widths in pixels of a 640-px image; at the working size about 0.8x that
    cx = w / 2 + rng.uniform(-0.08, 0.08) * w
    base = h * rng.uniform(0.86, 0.92)
    feet: list[tuple[float, float]] = []
    if kind == "tripod":
        col = _pick(rng, METALS[:3])
        top = h * rng.uniform(0.1, 0.18)
        hub = top + h * 0.1
        cv.rect(cx - 22 * u, top - 14 * u, cx + 22 * u, top + 8 * u, _shade(col, 0.8))  # head
        cv.line((cx, top), (cx, hub + h * 0.25), 5 * u, col)  # centre column
        spread = w * rng.uniform(0.18, 0.28)
        for dx, dy in ((-spread, 0), (spread * 0.9, 0), (spread * 0.15, -h * 0.05)):
            foot = (cx + dx, base + dy)
            mid = (cx + dx * 0.45, hub + (foot[1] - hub) * 0.45)
            cv.line((cx, hub), mid, 4.5 * u, col)
            cv.line(mid, foot, 2.5 * u, col)
            cv.line((cx, hub + h * 0.25), (cx + dx * 0.55, hub + (foot[1] - hub) * 0.55), 1.8 * u, _shade(col, 0.9))
            feet.append(foot)
    elif kind in ("wire_basket", "trolley"):
        col = _pick(rng, METALS)
        bw, bh = w * rng.uniform(0.3, 0.42), h * rng.uniform(0.28, 0.36)
        y1 = base - (h * 0.22 if kind == "trolley" else 0)
        y0 = y1 - bh
        inset = bw * 0.1
        corners = [(cx - bw / 2, y0), (cx + bw / 2, y0), (cx + bw / 2 - inset, y1), (cx - bw / 2 + inset, y1)]
        cv.polyline(corners, 4 * u, col, closed=True)
        pitch = rng.uniform(12, 20) * u
        wire = rng.uniform(1.6, 2.6) * u
        for t in np.arange(pitch, bh, pitch):
            f = t / bh
            cv.line((cx - bw / 2 + inset * f, y0 + t), (cx + bw / 2 - inset * f, y0 + t), wire, col)
        for x in np.arange(-bw / 2 + pitch, bw / 2, pitch):
            cv.line((cx + x, y0), (cx + x * (1 - 2 * inset / bw), y1), wire, col)
        if kind == "wire_basket":
            cv.ellipse((cx, y0), (bw * 0.3, bh * 0.45), col, start=180, end=360, width=3 * u)
            feet += [corners[2], corners[3]]
        else:
            for sx in (-1, 1):  # legs, push handle and wheels
                leg_top = (cx + sx * (bw / 2 - inset), y1)
                foot = (cx + sx * (bw / 2 - inset * 0.5), base - 14 * u)
                cv.line(leg_top, foot, 3 * u, col)
                cv.ellipse(foot, (12 * u, 12 * u), (30, 30, 32), width=5 * u)
                feet.append((foot[0], base))
            cv.line((cx - bw / 2 + inset, y1 + h * 0.08), (cx + bw / 2 - inset, y1 + h * 0.08), 3 * u, col)
            cv.line((cx + bw / 2, y0), (cx + bw / 2 + 40 * u, y0 - 50 * u), 3.5 * u, col)
            cv.line((cx + bw / 2 + 40 * u, y0 - 50 * u), (cx + bw / 2 + 40 * u, y0 - 80 * u), 6 * u, (30, 30, 30))
    elif kind == "cage":
        col = _pick(rng, [(240, 240, 238), (150, 120, 70), (30, 30, 32), (175, 178, 184)])
        bw, bh = w * rng.uniform(0.26, 0.34), h * rng.uniform(0.45, 0.55)
        y1, y0 = base, base - bh
        cv.rect(cx - bw / 2 - 6 * u, y1 - 22 * u, cx + bw / 2 + 6 * u, y1, _shade(col, 0.85))  # tray
        dome = y0 + bw * 0.35
        pitch = rng.uniform(9, 15) * u
        for x in np.arange(-bw / 2, bw / 2 + 1e-3, pitch):
            top = dome - np.sqrt(max(0.0, 1 - (2 * x / bw) ** 2)) * (dome - y0)
            cv.line((cx + x, y1 - 22 * u), (cx + x, top), 1.8 * u, col)
        cv.ellipse((cx, dome), (bw / 2, dome - y0), col, start=180, end=360, width=3 * u)
        for t in (0.35, 0.7):
            y = dome + (y1 - 22 * u - dome) * t
            cv.line((cx - bw / 2, y), (cx + bw / 2, y), 3 * u, col)
        cv.ellipse((cx, y0 - 12 * u), (10 * u, 12 * u), col, width=3 * u)  # the hanging ring
        feet += [(cx - bw / 2, y1), (cx + bw / 2, y1)]
    elif kind in ("thin_table", "slat_chair"):
        col = _pick(rng, METALS + WOODS)
        top_col = _pick(rng, WOODS + WHITES) if kind == "thin_table" else col
        tw = w * rng.uniform(0.45, 0.6) if kind == "thin_table" else w * rng.uniform(0.28, 0.34)
        seat = base - h * (0.42 if kind == "thin_table" else 0.3)
        cv.rect(cx - tw / 2, seat - 12 * u, cx + tw / 2, seat, top_col)
        leg = rng.uniform(2.5, 4.5) * u
        xs = (cx - tw / 2 + 10 * u, cx + tw / 2 - 10 * u, cx - tw / 2 + 40 * u, cx + tw / 2 - 40 * u)
        for i, lx in enumerate(xs):
            foot_y = base - (h * 0.04 if i >= 2 else 0)
            cv.line((lx, seat), (lx + (i % 2 * 2 - 1) * 8 * u, foot_y), leg, _shade(col, 0.9 if i >= 2 else 1))
            feet.append((lx, foot_y))
        cv.line((xs[0], seat + (base - seat) * 0.6), (xs[1], seat + (base - seat) * 0.6), 1.8 * u, col)
        if kind == "slat_chair":
            back_top = seat - h * 0.38
            cv.line((cx - tw / 2 + 4 * u, seat), (cx - tw / 2 + 4 * u, back_top), 5 * u, col)
            cv.line((cx + tw / 2 - 4 * u, seat), (cx + tw / 2 - 4 * u, back_top), 5 * u, col)
            cv.rect(cx - tw / 2, back_top, cx + tw / 2, back_top + 20 * u, col)
            for x in np.linspace(cx - tw / 2 + 14 * u, cx + tw / 2 - 14 * u, 6):
                cv.line((x, back_top + 20 * u), (x, seat - 12 * u), 3 * u, col)
    elif kind == "keys_ring":
        col = _pick(rng, [(190, 192, 196), (180, 150, 80), (120, 122, 128)])
        r = min(w, h) * rng.uniform(0.12, 0.16)
        cy = h * 0.42
        cv.ellipse((cx, cy), (r, r), col, width=rng.uniform(3, 5) * u)
        for ang in rng.uniform(20, 160, 3):
            a = np.radians(ang)
            hx, hy = cx + np.cos(a) * (r + 26 * u), cy + np.sin(a) * (r + 26 * u)
            cv.ellipse((hx, hy), (24 * u, 20 * u), _shade(col, rng.uniform(0.85, 1.05)), angle=ang)
            cv.hole_ellipse((hx - np.cos(a) * 10 * u, hy - np.sin(a) * 10 * u), (5 * u, 5 * u))
            bend = a + rng.uniform(-0.4, 0.4)
            p1 = (hx + np.cos(a) * 60 * u, hy + np.sin(a) * 60 * u)
            p2 = (p1[0] + np.cos(bend) * 70 * u, p1[1] + np.sin(bend) * 70 * u)
            cv.polyline([(hx, hy), p1, p2], 9 * u, col)
            feet.append(p2)
        return {"feet": feet, "floor": max(y for _, y in feet) + 8 * u}  # lying flat: the shadow follows the keys
    elif kind == "ceiling_lamp":
        col = _pick(rng, METALS + WHITES)
        shade_y = h * rng.uniform(0.45, 0.6)
        sw = w * rng.uniform(0.22, 0.34)
        cv.rect(cx - 30 * u, 0, cx + 30 * u, 10 * u, col)  # canopy against the top edge
        for dx in ((0,) if rng.random() < 0.5 else (-sw * 0.35, sw * 0.35)):
            cv.line((cx + dx * 0.2, 0), (cx + dx, shade_y - h * 0.1), rng.uniform(1.4, 2.2) * u, (40, 40, 40))
        cv.poly([(cx - 18 * u, shade_y - h * 0.1), (cx + 18 * u, shade_y - h * 0.1), (cx + sw / 2, shade_y),
                 (cx - sw / 2, shade_y)], col)
        cv.ellipse((cx, shade_y), (sw / 2, 12 * u), _shade(col, 0.7), start=0, end=180)
        for dx in (-sw * 0.6, sw * 0.6):  # arms with small bulbs
            cv.line((cx, shade_y - h * 0.08), (cx + dx, shade_y - h * 0.16), 2 * u, col)
            cv.ellipse((cx + dx, shade_y - h * 0.16 - 8 * u), (7 * u, 9 * u), (250, 236, 200))
        return {"feet": [], "floor": None}
    elif kind == "harp":
        wood = _pick(rng, WOODS)
        string = _pick(rng, [(236, 226, 196), (200, 170, 110), (210, 210, 214)])
        x0, x1 = cx - w * 0.17, cx + w * 0.17
        top, bot = h * 0.1, base
        cv.line((x0, top + 30 * u), (x0, bot), 12 * u, wood)  # pillar
        neck = [(x0, top + 30 * u), (cx - w * 0.05, top), (cx + w * 0.07, top + 40 * u), (x1, top + 20 * u)]
        cv.polyline(neck, 14 * u, wood)
        cv.line((x1, top + 20 * u), (x0 + 20 * u, bot - 10 * u), 18 * u, _shade(wood, 1.1))  # soundboard
        cv.rect(x0 - 14 * u, bot - 14 * u, x0 + 50 * u, bot, _shade(wood, 0.8))
        for t in np.linspace(0.08, 0.92, int(rng.integers(14, 22))):
            sx = x0 + (x1 - x0) * t
            neck_y = np.interp(sx, [p[0] for p in neck], [p[1] for p in neck]) + 6 * u
            board_y = (top + 20 * u) + ((bot - 10 * u) - (top + 20 * u)) * (x1 - sx) / (x1 - x0 - 20 * u)
            cv.line((sx, neck_y), (sx, board_y - 6 * u), rng.uniform(1.2, 2.0) * u, string)
        feet += [(x0, bot), (x0 + 50 * u, bot)]
    elif kind == "scooter":
        col = _pick(rng, METALS)
        length = w * rng.uniform(0.5, 0.62)
        wr = 34 * u
        xa, xb = cx - length / 2 + wr, cx + length / 2 - wr
        wy = base - wr
        for x in (xa, xb):
            cv.ellipse((x, wy), (wr, wr), (30, 30, 30), width=8 * u)
            for a in range(0, 180, 45):
                ra = np.radians(a)
                cv.line((x - np.cos(ra) * wr, wy - np.sin(ra) * wr), (x + np.cos(ra) * wr, wy + np.sin(ra) * wr),
                        2 * u, (160, 160, 165))
            cv.ellipse((x, wy), (6 * u, 6 * u), (90, 90, 90))
        cv.rect(xa, wy - 20 * u, xb - 30 * u, wy - 6 * u, col)  # deck
        head = (xb - 10 * u, h * 0.16)
        cv.line((xb, wy), head, 5 * u, _shade(col, 0.9))
        cv.line((head[0] - 55 * u, head[1]), (head[0] + 55 * u, head[1]), 4 * u, (30, 30, 30))
        feet += [(xa, base), (xb, base)]
    elif kind == "frames":
        col = _pick(rng, METALS + WOODS + WHITES)
        fw, fh = w * rng.uniform(0.28, 0.34), h * rng.uniform(0.5, 0.6)
        x0, y1 = cx - w * 0.2, base
        t = rng.uniform(5, 12) * u
        cv.rect(x0 - fw / 2, y1 - fh, x0 + fw / 2, y1, col)
        cv.hole([(x0 - fw / 2 + t, y1 - fh + t), (x0 + fw / 2 - t, y1 - fh + t), (x0 + fw / 2 - t, y1 - t),
                 (x0 - fw / 2 + t, y1 - t)])
        r = min(w, h) * 0.16
        rc = (cx + w * 0.2, base - r)
        cv.ellipse(rc, (r, r), _shade(col, 0.9), width=rng.uniform(4, 10) * u)
        feet += [(x0 - fw / 2, y1), (x0 + fw / 2, y1), (rc[0], base)]
    elif kind == "edge_shelf":  # an open shelving unit cut by the left or right frame edge
        col = _pick(rng, METALS + WOODS)
        side = -1 if rng.random() < 0.5 else 1
        x_in = w * rng.uniform(0.5, 0.65)
        xa, xb = (0.0, x_in) if side < 0 else (w - x_in, float(w))
        top = h * 0.1
        post = 6 * u
        for x in ((xb - post / 2,) if side < 0 else (xa + post / 2,)):
            cv.line((x, top), (x, base), post, col)
        for y in np.linspace(top, base - 8 * u, 5):
            cv.rect(xa, y, xb, y + 8 * u, col)
            for x in np.linspace(xa + 30 * u, xb - 40 * u, 3):  # books and boxes on the shelves
                if rng.random() < 0.5 and y < base - 20 * u:
                    cv.rect(x, y - 40 * u, x + 24 * u, y, _pick(rng, METALS + WOODS))
        cv.line((xa if side > 0 else xb, top), (xb if side > 0 else xa, base), 2 * u, col)  # a diagonal brace
        return {"feet": [], "floor": base}
    elif kind == "glass_table":
        leg = _pick(rng, METALS[:3])
        tint = _pick(rng, [(150, 200, 190), (170, 190, 200), (120, 130, 125)])
        tw = w * rng.uniform(0.45, 0.56)
        top_y = base - h * 0.38
        cv.poly([(cx - tw / 2, top_y - 30 * u), (cx + tw / 2, top_y - 30 * u), (cx + tw / 2 + 30 * u, top_y),
                 (cx - tw / 2 - 30 * u, top_y)], tint, glass=True)
        cv.line((cx - tw / 2 - 30 * u, top_y), (cx + tw / 2 + 30 * u, top_y), 4 * u, _shade(tint, 0.6))  # the edge
        for lx in (cx - tw / 2 + 10 * u, cx + tw / 2 - 10 * u):
            cv.line((lx, top_y), (lx, base), rng.uniform(3, 4.5) * u, leg)
            feet.append((lx, base))
        vase_x = cx + rng.uniform(-0.15, 0.15) * tw
        cv.ellipse((vase_x, top_y - 70 * u), (22 * u, 45 * u), (235, 240, 245), glass=True)  # a glass vase
        cv.ellipse((vase_x, top_y - 70 * u), (22 * u, 45 * u), (120, 130, 140), width=2 * u)
    else:  # white_lamp: white on white, a thin pole
        col = _pick(rng, WHITES)
        pole = rng.uniform(2.5, 4) * u
        top = h * rng.uniform(0.12, 0.2)
        sw = w * rng.uniform(0.16, 0.22)
        cv.ellipse((cx, base - 6 * u), (w * 0.08, 8 * u), _shade(col, 0.93))
        cv.line((cx, base - 6 * u), (cx, top + 70 * u), pole, _shade(col, 0.9))
        cv.poly([(cx - sw * 0.35, top), (cx + sw * 0.35, top), (cx + sw / 2, top + 90 * u), (cx - sw / 2, top + 90 * u)],
                col)
        cv.poly([(cx + sw * 0.1, top), (cx + sw * 0.35, top), (cx + sw / 2, top + 90 * u), (cx + sw * 0.2, top + 90 * u)],
                _shade(col, 0.95))
        feet.append((cx, base))
    return {"feet": feet, "floor": base}


def _basic_product(kind: str, w: int, h: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The basic set's products, drawn as a hard mask and a colour layer: (mask uint8 0/255, colour float32 HxWx3)."""
    m = np.zeros((h, w), np.uint8)
    col = np.zeros((h, w, 3), np.float32)
    cx, base = w // 2 + int(rng.integers(-w // 10, w // 10)), int(h * 0.86)
    if kind == "box":
        bw, bh = int(w * rng.uniform(0.35, 0.5)), int(h * rng.uniform(0.4, 0.55))
        x0, y0 = cx - bw // 2, base - bh
        cv2.rectangle(m, (x0, y0), (x0 + bw, base), 255, -1)
        colour = np.array([150, 95, 55], np.float32) + rng.uniform(-20, 20, 3)
        col[:] = colour
        col[y0 : y0 + bh // 2, x0 : x0 + bw] *= 1.08
        for yy in range(y0 + bh // 6, base, max(6, bh // 6)):
            cv2.line(col, (x0 + 4, yy), (x0 + bw - 4, yy), tuple(float(v) * 0.7 for v in colour), 2)
    elif kind == "bottle":
        bw, bh = int(w * 0.14), int(h * 0.6)
        x0, y0 = cx - bw // 2, base - bh
        cv2.rectangle(m, (x0, y0 + bh // 3), (x0 + bw, base), 255, -1)
        cv2.ellipse(m, (cx, y0 + bh // 3), (bw // 2, bw // 3), 0, 180, 360, 255, -1)
        cv2.rectangle(m, (cx - bw // 6, y0), (cx + bw // 6, y0 + bh // 3), 255, -1)
        col[:] = (40, 120, 70)
        xs = np.linspace(-1, 1, w, dtype=np.float32)[None, :, None]
        col *= 0.75 + 0.35 * np.exp(-((xs - (cx / w * 2 - 1) + 0.05) ** 2) / 0.002)
    elif kind == "chair":
        sw, leg = int(w * 0.3), max(3, int(w * 0.012))
        seat_y = base - int(h * 0.28)
        cv2.rectangle(m, (cx - sw // 2, seat_y - int(h * 0.04)), (cx + sw // 2, seat_y), 255, -1)
        cv2.rectangle(m, (cx - sw // 2, seat_y - int(h * 0.42)), (cx - sw // 2 + int(sw * 0.12), seat_y), 255, -1)
        cv2.rectangle(m, (cx - sw // 2, seat_y - int(h * 0.42)), (cx + sw // 2, seat_y - int(h * 0.34)), 255, -1)
        for lx in (cx - sw // 2 + 4, cx + sw // 2 - 4 - leg, cx - sw // 4, cx + sw // 4):
            cv2.rectangle(m, (lx, seat_y), (lx + leg, base), 255, -1)
        col[:] = (60, 60, 65)
    elif kind == "white_cabinet":
        bw, bh = int(w * 0.42), int(h * 0.55)
        x0, y0 = cx - bw // 2, base - bh
        cv2.rectangle(m, (x0, y0), (x0 + bw, base), 255, -1)
        col[:] = (246, 246, 244)
        col[y0:base, x0 + bw // 2 : x0 + bw] = (236, 236, 234)  # the side in light shade
        cv2.line(col, (x0 + bw // 2, y0 + 6), (x0 + bw // 2, base - 6), (205, 205, 205), 2)
        for hx in (x0 + bw // 2 - 14, x0 + bw // 2 + 10):
            cv2.rectangle(col, (hx, y0 + bh // 2 - 12), (hx + 4, y0 + bh // 2 + 12), (150, 150, 150), -1)
    elif kind == "glossy_vase":
        bw, bh = int(w * 0.22), int(h * 0.5)
        cv2.ellipse(m, (cx, base - bh // 2), (bw // 2, bh // 2), 0, 0, 360, 255, -1)
        col[:] = (30, 60, 160)
        hl = np.zeros((h, w), np.float32)
        cv2.ellipse(hl, (cx - bw // 6, base - int(bh * 0.65)), (bw // 10, bh // 6), -20, 0, 360, 1.0, -1)
        hl = cv2.GaussianBlur(hl, (0, 0), 4)[:, :, None]
        col = col * (1 - hl) + 250 * hl
    else:  # frame: an open rectangle with a see-through hole
        bw, bh = int(w * 0.4), int(h * 0.5)
        x0, y0 = cx - bw // 2, base - bh
        t = max(6, int(w * 0.035))
        cv2.rectangle(m, (x0, y0), (x0 + bw, base), 255, -1)
        cv2.rectangle(m, (x0 + t, y0 + t), (x0 + bw - t, base - t), 0, -1)
        col[:] = (25, 25, 28)
    return m, col


def _contact_shadow(cov: np.ndarray, where: dict, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """A soft floor shadow under the product and a darker touch under each foot (0-1, HxW)."""
    shadow = np.zeros((h, w), np.float32)
    ys, xs = np.nonzero(cov > 0.5)
    if where.get("floor") is not None and len(xs):
        cx, half = int(xs.mean()), max(8, int((xs.max() - xs.min()) * 0.6))
        cv2.ellipse(shadow, (cx + int(rng.integers(-10, 10)), int(where["floor"])), (half, max(4, h // 40)), 0, 0,
                    360, 1.0, -1)
        shadow = cv2.GaussianBlur(shadow, (0, 0), max(3, w / 90))
    touch = np.zeros((h, w), np.float32)
    for fx, fy in where.get("feet", []):
        cv2.ellipse(touch, (int(fx), int(fy)), (max(4, w // 80), max(2, h // 160)), 0, 0, 360, 1.0, -1)
    if touch.any():
        shadow = np.maximum(shadow, cv2.GaussianBlur(touch, (0, 0), max(2, w / 300)) * 1.2)
    return np.clip(shadow, 0, 1)


def _photograph(img: np.ndarray, noise: float, quality: int, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise and JPEG compression: RGB uint8 as decoded."""
    img = img + rng.normal(0, noise, img.shape)
    img = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB")).copy()


def _render_hard(product: str, backdrop: str, seed: int, size: tuple[int, int], quality: int) -> Sample:
    rng = np.random.default_rng(seed)
    w, h = size
    bg, noise = _backdrop(backdrop, w, h, rng)
    canvas = Canvas(w, h)
    where = _draw_hard(product, canvas, rng)
    cov, colour, glass = canvas.finish()
    bg = bg * (1 - rng.uniform(0.25, 0.45) * _contact_shadow(cov, where, w, h, rng)[:, :, None])
    # Glass lets 60% of the backdrop through, tinted by its own colour.
    see = 0.6 * glass[:, :, None]
    product_px = colour * (1 - see) + (bg * colour / 255.0) * see
    scene = product_px * cov[:, :, None] + bg * (1 - cov[:, :, None])
    # A lens, not a ruler: the whole scene a fraction of a pixel soft (blurring the coverage alone would spread it
    # where the product has no colour and draw a dark rim around every part).
    img = _photograph(cv2.GaussianBlur(scene, (3, 3), 0.5), noise, quality, rng)
    mask = np.where(cov >= 0.5, 255, 0).astype(np.uint8)
    return Sample(name=f"{product}_on_{backdrop}_{seed}", image=img, mask=mask, product=product, backdrop=backdrop)


def _render_basic(product: str, backdrop: str, seed: int, size: tuple[int, int], quality: int) -> Sample:
    rng = np.random.default_rng(seed)
    w, h = size
    bg, noise = _basic_backdrop(backdrop, w, h, rng)
    mask, colour = _basic_product(product, w, h, rng)
    ys, xs = np.nonzero(mask)
    # A soft floor shadow under the product: part of the background, not of the product.
    shadow = np.zeros((h, w), np.float32)
    cx, bottom, half = int(xs.mean()), int(ys.max()), int((xs.max() - xs.min()) * 0.6)
    cv2.ellipse(shadow, (cx + int(rng.integers(-10, 10)), bottom), (half, max(4, h // 40)), 0, 0, 360, 1.0, -1)
    shadow = cv2.GaussianBlur(shadow, (0, 0), max(3, w / 90))
    bg = bg * (1 - 0.35 * shadow[:, :, None])
    # Anti-aliased edge: render the mask at 4x and average down.
    big = cv2.resize(mask, (w * 4, h * 4), interpolation=cv2.INTER_NEAREST)
    alpha = cv2.resize(big.astype(np.float32) / 255.0, (w, h), interpolation=cv2.INTER_AREA)
    alpha = cv2.GaussianBlur(alpha, (3, 3), 0.5)[:, :, None]
    img = _photograph(colour * alpha + bg * (1 - alpha), noise, quality, rng)
    return Sample(name=f"{product}_on_{backdrop}_{seed}", image=img, mask=mask, product=product, backdrop=backdrop)


def make_sample(product: str, backdrop: str, seed: int, size: tuple[int, int] = (800, 640), quality: int | None = None
                ) -> Sample:
    """One photo and its mask. Hard products get a random JPEG quality (75-95) unless ``quality`` is given."""
    hard = product in HARD_PRODUCTS
    if product not in PRODUCTS and not hard:
        raise ValueError(f"unknown product {product!r}")
    if quality is None:
        quality = int(np.random.default_rng(seed + 7).integers(75, 96)) if hard else 88
    return (_render_hard if hard else _render_basic)(product, backdrop, seed, size, quality)


def sample_set(seed: int = 0, products=PRODUCTS, backdrops=BACKDROPS, size: tuple[int, int] = (800, 640)):
    """Every product on every backdrop, deterministic for ``seed``."""
    for i, product in enumerate(products):
        for j, backdrop in enumerate(backdrops):
            yield make_sample(product, backdrop, seed * 1000 + i * 10 + j, size)


def hard_set(seed: int = 0, repeats: int = 2, products=HARD_PRODUCTS, backdrops=HARD_BACKDROPS,
             size: tuple[int, int] = (960, 768)):
    """Every hard product on every backdrop ``repeats`` times (different draws), deterministic for ``seed``."""
    for r in range(repeats):
        for i, product in enumerate(products):
            for j, backdrop in enumerate(backdrops):
                yield make_sample(product, backdrop, 100_000 + seed * 10_000 + r * 1000 + i * 10 + j, size)


SCENES = ("room", "street", "foliage")


def make_scene(kind: str, seed: int, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """A room, a street or a wall of foliage (nothing stands out), as photographed: RGB uint8, JPEG-compressed."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = np.zeros((h, w, 3), np.float32)
    if kind == "room":
        horizon = int(h * rng.uniform(0.45, 0.6))
        img[:horizon] = rng.uniform(150, 220, 3)
        img[horizon:] = rng.uniform(70, 140, 3)
        img[horizon:] += rng.normal(0, 10, (h - horizon, w, 1)) * np.linspace(0.5, 1.5, w)[None, :, None]
        for _ in range(int(rng.integers(2, 5))):  # pictures, a cupboard, a lamp
            x0, y0 = int(rng.integers(0, w - 60)), int(rng.integers(0, h - 60))
            cv2.rectangle(img, (x0, y0), (x0 + int(rng.integers(30, 160)), y0 + int(rng.integers(30, 200))),
                          tuple(float(v) for v in rng.uniform(20, 240, 3)), -1)
    elif kind == "street":
        sky = int(h * rng.uniform(0.2, 0.35))
        img[:sky] = (180, 200, 230)
        x = 0
        while x < w:  # facades with windows
            bw = int(rng.integers(60, 180))
            img[sky - int(rng.integers(0, sky)) :, x : x + bw] = rng.uniform(90, 200, 3)
            for wy in range(sky + 10, int(h * 0.75), 30):
                for wx in range(x + 8, x + bw - 16, 26):
                    img[wy : wy + 16, wx : wx + 12] = (50, 60, 70)
            x += bw
        img[int(h * 0.78) :] = (80, 80, 85)
        img[int(h * 0.78) :] += rng.normal(0, 6, (h - int(h * 0.78), w, 1))
    else:  # foliage: leaves everywhere, nothing in front
        base = rng.normal(0, 1, (h // 8, w // 8, 1)).astype(np.float32)
        leaves = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)[..., None]
        img[:] = np.array([60, 110, 50], np.float32) + 35 * leaves * np.array([0.6, 1.0, 0.5], np.float32)
        img += rng.normal(0, 12, (h, w, 1))
    img = np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=85)
    return np.asarray(Image.open(buf).convert("RGB")).copy()


def write_set(out: Path, samples) -> None:
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    with open(out / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "background", "product", "backdrop"])
        for s in samples:
            # PNG: the photo as generated, its JPEG compression already in it.
            Image.fromarray(s.image).save(out / "images" / f"{s.name}.png", compress_level=1)
            Image.fromarray(s.mask).save(out / "masks" / f"{s.name}.png")
            writer.writerow([f"{s.name}.png", s.kind, s.product, s.backdrop])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hard", action="store_true", help="the hard set instead of the basic one")
    args = ap.parse_args()
    write_set(args.out, hard_set(args.seed) if args.hard else sample_set(args.seed))


if __name__ == "__main__":
    main()
