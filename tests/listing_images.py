"""Generated listing photos with known properties for the compliance tests: a shaded product of a known extent on a
backdrop, with an optional floor shadow, frame, text, logo badge or colour swatch, encoded as a marketplace would
receive it."""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image, ImageCms


def listing_photo(size: tuple[int, int] = (1600, 1600), fill: float = 0.9, background=(255, 255, 255),
                  shadow: bool = False, border: int = 0, border_colour=(20, 20, 20), text: bool = False,
                  swatch: bool = False, badge: bool = False, stray_grey: bool = False) -> np.ndarray:
    """RGB uint8. ``fill`` is the product's longest extent as a share of the frame (a product 0.6 as wide as it is
    tall, so its height sets the extent in a square frame)."""
    w, h = size
    img = np.empty((h, w, 3), np.float32)
    img[:] = background
    ph = fill * h
    pw = 0.6 * ph
    if pw / w > fill:  # a narrow frame: the width sets the extent
        pw = fill * w
        ph = pw / 0.6
    x0, y0 = (w - pw) / 2, (h - ph) / 2
    if shadow:  # a soft neutral contact shadow under the product, on the floor
        layer = np.zeros((h, w), np.float32)
        cv2.ellipse(layer, (round(w / 2), round(y0 + ph)), (round(pw * 0.55), max(2, round(ph * 0.03))), 0, 0, 360,
                    1.0, -1, cv2.LINE_AA)
        layer = cv2.GaussianBlur(layer, (0, 0), max(1.0, ph * 0.01))
        img *= (1 - 0.35 * layer)[:, :, None]
    mask = np.zeros((h, w), np.uint8)
    r = max(2, round(pw * 0.12))
    x0i, y0i, x1i, y1i = round(x0), round(y0), round(x0 + pw) - 1, round(y0 + ph) - 1
    cv2.rectangle(mask, (x0i + r, y0i), (x1i - r, y1i), 255, -1)
    cv2.rectangle(mask, (x0i, y0i + r), (x1i, y1i - r), 255, -1)
    for cx, cy in ((x0i + r, y0i + r), (x1i - r, y0i + r), (x0i + r, y1i - r), (x1i - r, y1i - r)):
        cv2.circle(mask, (cx, cy), r, 255, -1, cv2.LINE_AA)
    xs = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :, None]
    product = np.array([40, 90, 170], np.float32) * (0.7 + 0.5 * xs)  # shaded like a lit object
    a = (mask.astype(np.float32) / 255.0)[:, :, None]
    img = np.clip(img * (1 - a) + product * a + 0.5, 0, 255).astype(np.uint8)
    unit = min(w, h) / 1600
    if text:
        cv2.putText(img, "SALE -50%", (round(30 * unit), round(h - 30 * unit)), cv2.FONT_HERSHEY_SIMPLEX,
                    1.6 * unit, (200, 20, 20), max(1, round(4 * unit)), cv2.LINE_AA)
    if swatch:
        s = round(90 * unit)
        cv2.rectangle(img, (round(30 * unit), round(30 * unit)), (round(30 * unit) + s, round(30 * unit) + s),
                      (180, 40, 60), -1)
    if badge:
        cv2.circle(img, (round(w - 110 * unit), round(110 * unit)), round(70 * unit), (220, 150, 20), -1, cv2.LINE_AA)
    if stray_grey:  # a grey smudge on the backdrop, away from the product
        cv2.circle(img, (round(w * 0.12), round(h * 0.5)), round(25 * unit), (228, 228, 228), -1, cv2.LINE_AA)
    if border:
        img[:border], img[-border:], img[:, :border], img[:, -border:] = (border_colour,) * 4
    return img


def encode(image: np.ndarray, fmt: str = "JPEG", profile: str | None = "sRGB", **kw) -> bytes:
    """Encode like a seller's export: ``profile`` 'sRGB', 'XYZ' (a non-sRGB RGB profile) or None (untagged)."""
    im = Image.fromarray(image)
    if fmt == "CMYK-JPEG":
        im, fmt = im.convert("CMYK"), "JPEG"
    if profile and im.mode == "RGB":
        kw["icc_profile"] = ImageCms.ImageCmsProfile(ImageCms.createProfile(profile)).tobytes()
    if fmt == "JPEG":
        kw.setdefault("quality", 92)
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()
