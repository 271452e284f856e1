"""Colour conversions, CIE76 colour difference and colour names."""

from __future__ import annotations

import cv2
import numpy as np

# A compact vocabulary of names a seller would use, as sRGB.
NAMED_COLORS: dict[str, tuple[int, int, int]] = {
    "white": (245, 245, 245), "off-white": (236, 232, 222), "light grey": (200, 200, 200), "grey": (128, 128, 128),
    "dark grey": (70, 70, 70), "charcoal": (45, 45, 48), "black": (15, 15, 15), "beige": (220, 200, 165),
    "cream": (245, 235, 200), "sand": (194, 178, 128), "tan": (190, 150, 105), "light wood": (205, 165, 115),
    "oak": (170, 120, 70), "walnut": (110, 70, 40), "dark wood": (70, 45, 28), "brown": (120, 75, 45),
    "red": (190, 30, 35), "burgundy": (110, 20, 40), "pink": (235, 160, 180), "orange": (235, 120, 30),
    "terracotta": (190, 95, 65), "yellow": (235, 205, 40), "mustard": (200, 160, 40), "olive": (120, 120, 50),
    "green": (50, 140, 70), "sage": (150, 170, 140), "teal": (30, 120, 120), "turquoise": (60, 190, 190),
    "light blue": (150, 190, 225), "blue": (40, 80, 170), "navy": (25, 35, 80), "purple": (110, 60, 140),
    "lavender": (180, 165, 215), "gold": (200, 165, 70), "silver": (190, 192, 196),
}
_NAMES = list(NAMED_COLORS)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 (...x3) -> CIE Lab float32 (L 0-100), D65."""
    arr = np.asarray(rgb)
    shape = arr.shape
    flat = arr.reshape(-1, 1, 3).astype(np.float32) / 255.0
    return cv2.cvtColor(flat, cv2.COLOR_RGB2Lab).reshape(shape)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    arr = np.asarray(lab, np.float32)
    shape = arr.shape
    rgb = cv2.cvtColor(arr.reshape(-1, 1, 3), cv2.COLOR_Lab2RGB).reshape(shape)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def delta_e76(lab_a: np.ndarray, lab_b: np.ndarray) -> np.ndarray:
    return np.sqrt(np.sum((lab_a.astype(np.float32) - lab_b.astype(np.float32)) ** 2, axis=-1))


_NAMED_LAB = rgb_to_lab(np.array([NAMED_COLORS[n] for n in _NAMES], np.uint8))


def color_name(rgb: tuple[int, int, int]) -> str:
    lab = rgb_to_lab(np.array(rgb, np.uint8))
    return _NAMES[int(np.argmin(delta_e76(_NAMED_LAB, lab[None, :])))]


def chroma(lab: np.ndarray) -> np.ndarray:
    return np.hypot(lab[..., 1], lab[..., 2])
