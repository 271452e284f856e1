"""The coarse pass: the product as a hard mask at the working size, by the strategy the photo calls for (the input's
own alpha, a studio backdrop, a scene)."""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import ProductNotFound
from ..types import Normalized
from .common import Coarse, fill_small_gaps, resize_to, working_scale
from .overlays import remove_overlays
from .scene import GRABCUT_SIDE, scene_foreground
from .studio import studio_foreground


def coarse_foreground(norm: Normalized) -> Coarse:
    """The product as a hard mask at the working size; used by analyze and refined by :func:`refine`."""
    scale = working_scale(norm.size)
    image = resize_to(norm.image, scale)
    holes = np.zeros(image.shape[:2], bool)
    removed: list[str] = []
    model = shading = faces = None
    if norm.alpha_prior is not None and (norm.alpha_prior < 128).mean() > 0.01:
        fg = resize_to(norm.alpha_prior, scale) >= 128
    elif norm.background.kind == "scene":
        small = resize_to(image, GRABCUT_SIDE / max(image.shape[:2])) if max(image.shape[:2]) > GRABCUT_SIDE else image
        fg = scene_foreground(small)
        fg = cv2.resize(fg.astype(np.uint8), (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    else:
        fg, holes, model, shading, faces = studio_foreground(image)
        fg = fill_small_gaps(fg) & ~holes
        fg, removed = remove_overlays(fg, image)
    if fg.sum() < max(16, fg.size * 0.001):
        raise ProductNotFound(
            "No product stands out from the background. Check that the photo shows a product and is not blank."
        )
    return Coarse(mask=fg, image=image, scale=scale, model=model, removed=tuple(removed), holes=holes,
                  shading=shading, faces=faces)
