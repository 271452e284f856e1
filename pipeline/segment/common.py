"""What every segmentation strategy and pass shares: the coarse result, the working size, region helpers."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..backdrop import BackdropModel

WORK_SIDE = 768
WORK_PIXELS = 300_000


@dataclass(frozen=True, eq=False)
class Coarse:
    """Hard foreground at the working size, with what the refinement needs."""

    mask: np.ndarray  # bool HxW at the working size
    image: np.ndarray  # RGB uint8 at the working size
    scale: float  # working / normalized
    model: BackdropModel | None
    removed: tuple[str, ...]
    holes: np.ndarray  # bool HxW: enclosed backdrop seen through the product
    shading: np.ndarray | None = None  # float32 HxW: L offset of the local backdrop from the model (shadows < 0)
    faces: np.ndarray | None = None  # bool HxW: faint faces and wires, pale tinted faces (within the noise)


def working_scale(size: tuple[int, int], side: int = WORK_SIDE, pixels: int = WORK_PIXELS) -> float:
    w, h = size
    return float(min(1.0, side / max(w, h), (pixels / (w * h)) ** 0.5))


def resize_to(img: np.ndarray, scale: float, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    if scale == 1.0:
        return img
    h, w = img.shape[:2]
    return cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interpolation)


def flood_from_border(passable: np.ndarray) -> np.ndarray:
    """The ``passable`` pixels connected (4-neighbours) to the image border."""
    n, labels = cv2.connectedComponents(passable.astype(np.uint8), connectivity=4)
    edge_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    edge_labels = edge_labels[edge_labels > 0]
    reached = np.zeros(n, bool)
    reached[edge_labels] = True
    return reached[labels] & passable


def grow_within(region: np.ndarray, allowed: np.ndarray, steps: int) -> np.ndarray:
    """Grow ``region`` pixel by pixel, only onto ``allowed`` pixels."""
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(steps):
        region = region | ((cv2.dilate(region.astype(np.uint8), kernel) > 0) & allowed)
    return region


def fill_small_gaps(fg: np.ndarray) -> np.ndarray:
    k = np.ones((3, 3), np.uint8)
    return cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_CLOSE, k).astype(bool) | fg


# Per-pixel reductions over the three channels, channel by channel: numpy's axis=2 reductions are several times slower.
def length(v: np.ndarray) -> np.ndarray:
    """Euclidean length of HxWx3 vectors."""
    return np.sqrt(v[..., 0] ** 2 + v[..., 1] ** 2 + v[..., 2] ** 2)


def level_of(ratio: np.ndarray) -> np.ndarray:
    """Mean of the three channels."""
    return (ratio[..., 0] + ratio[..., 1] + ratio[..., 2]) / 3.0


def spread(ratio: np.ndarray) -> np.ndarray:
    """Largest minus smallest channel."""
    r, g, b = ratio[..., 0], ratio[..., 1], ratio[..., 2]
    return np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)


def chroma_of(ratio: np.ndarray) -> np.ndarray:
    """Each channel's share of the level, less one (HxWx3): zero where the backdrop is only made darker or lighter
    (shade scales every channel alike), the tint where something coloured lets it through."""
    return ratio / np.maximum(level_of(ratio), 1e-3)[..., None] - 1.0
