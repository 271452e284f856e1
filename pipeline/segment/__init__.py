"""Stage 3a, segment (embedded classical backend): a soft alpha matte of the product.

Strategies (``coarse``): the input's own alpha; ``studio`` (white, off-white, tinted or graded backdrops, in named
passes: backdrop, flood, shading, holes, panels, attached shadows, then ``overlays``); ``scene`` (rooms and streets).
The ``matte`` refinement makes the edge soft at the normalized size.
"""

from __future__ import annotations

from ..types import Matte, Normalized
from .coarse import coarse_foreground
from .common import WORK_PIXELS, WORK_SIDE, Coarse, resize_to, working_scale
from .matte import known_backdrop_alpha, refine, whole_photo_matte
from .overlays import remove_overlays
from .scene import scene_foreground
from .studio import backdrop_foreground, studio_foreground

__all__ = ["Coarse", "coarse_foreground", "refine", "segment", "working_scale", "resize_to", "remove_overlays",
           "scene_foreground", "studio_foreground", "backdrop_foreground", "known_backdrop_alpha", "whole_photo_matte",
           "WORK_SIDE", "WORK_PIXELS"]


def segment(norm: Normalized) -> Matte:
    """Stage 3a with the classical backend."""
    return refine(norm, coarse_foreground(norm))
