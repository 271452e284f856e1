"""Deterministic product photos with known masks: products drawn procedurally on studio backdrops.

Products: box, bottle, chair (thin legs), white cabinet (white-on-white), glossy vase, frame with a hole. Backdrops:
white, off-white, plain colour, gradient. Each photo gets a soft floor shadow and JPEG noise; the ground-truth mask
is the product alone (the shadow is background). ``python -m pipeline.synthetic DIR`` writes a sample set.
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
BACKDROPS = ("white", "offwhite", "plain", "gradient")
BACKDROP_KIND = {"white": "white", "offwhite": "white", "plain": "plain", "gradient": "plain"}


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


def _backdrop(kind: str, w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    if kind == "white":
        c = np.array([255, 255, 255], np.float32)
        return np.broadcast_to(c, (h, w, 3)).copy()
    if kind == "offwhite":
        c = np.array([242, 239, 233], np.float32) + rng.uniform(-3, 3, 3)
        return np.broadcast_to(c, (h, w, 3)).copy() - 6 * y
    if kind == "plain":
        palette = [(120, 160, 200), (214, 196, 170), (150, 190, 160), (200, 140, 140), (90, 95, 105)]
        c = np.array(palette[rng.integers(len(palette))], np.float32)
        return np.broadcast_to(c, (h, w, 3)).copy()
    top = np.array([235, 236, 240], np.float32) - rng.uniform(0, 20, 3)
    bottom = top - np.array([60, 55, 45], np.float32)
    return top * (1 - y) + bottom * y * np.ones((1, w, 1), np.float32)


def _product(kind: str, w: int, h: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(mask uint8 0/255, colour layer float32 HxWx3)."""
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


def make_sample(product: str, backdrop: str, seed: int, size: tuple[int, int] = (800, 640), quality: int = 88) -> Sample:
    rng = np.random.default_rng(seed)
    w, h = size
    bg = _backdrop(backdrop, w, h, rng)
    mask, colour = _product(product, w, h, rng)
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
    img = colour * alpha + bg * (1 - alpha)
    img = img + rng.normal(0, 1.2, img.shape)
    img = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    img = np.asarray(Image.open(buf).convert("RGB")).copy()
    return Sample(name=f"{product}_on_{backdrop}_{seed}", image=img, mask=mask, product=product, backdrop=backdrop)


def sample_set(seed: int = 0, products=PRODUCTS, backdrops=BACKDROPS, size: tuple[int, int] = (800, 640)):
    """Every product on every backdrop, deterministic for ``seed``."""
    for i, product in enumerate(products):
        for j, backdrop in enumerate(backdrops):
            yield make_sample(product, backdrop, seed * 1000 + i * 10 + j, size)


def write_set(out: Path, samples) -> None:
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    with open(out / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "background", "product"])
        for s in samples:
            Image.fromarray(s.image).save(out / "images" / f"{s.name}.jpg", quality=92)
            Image.fromarray(s.mask).save(out / "masks" / f"{s.name}.png")
            writer.writerow([f"{s.name}.jpg", s.kind, s.product])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    write_set(args.out, sample_set(args.seed))


if __name__ == "__main__":
    main()
