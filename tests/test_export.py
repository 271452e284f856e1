import io

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.upscale import _SRGB_ICC, png_with_profile, upscale_background


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 9), (7, 5, 3), (333, 517, 3), (200, 301)])
def test_png_keeps_every_pixel_and_the_profile(shape):
    image = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    for icc in (None, _SRGB_ICC) if len(shape) == 3 else (None,):
        data = png_with_profile(image, icc)
        with Image.open(io.BytesIO(data)) as im:
            assert np.array_equal(np.asarray(im), image)
            assert im.info.get("icc_profile") == icc
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(decoded[..., ::-1] if decoded.ndim == 3 else decoded, image)
        assert png_with_profile(image.copy(), icc) == data


def test_png_of_a_view_and_refusals():
    base = np.random.default_rng(3).integers(0, 256, (40, 90, 3), dtype=np.uint8)
    view = base[5:, ::3]
    with Image.open(io.BytesIO(png_with_profile(view))) as im:
        assert np.array_equal(np.asarray(im), view)
    for bad in (base.astype(np.uint16), np.zeros((4, 4, 4), np.uint8), np.zeros(4, np.uint8)):
        with pytest.raises(ValueError):
            png_with_profile(bad)


def _sharpened_everywhere(background: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The unsharp mask over the whole image: what the tiled one must equal pixel for pixel."""
    up = cv2.resize(background, size, interpolation=cv2.INTER_LANCZOS4)
    gray = cv2.cvtColor(background, cv2.COLOR_RGB2GRAY)
    edges = cv2.morphologyEx(gray, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).astype(np.float32)
    weight_small = np.clip((edges - 4.0) / 20.0, 0.0, 1.0) * 0.6
    weight = cv2.resize(weight_small, size, interpolation=cv2.INTER_LINEAR)[:, :, None]
    blur = cv2.GaussianBlur(up, (0, 0), 1.2)
    sharp = up.astype(np.float32) + weight * (up.astype(np.float32) - blur.astype(np.float32))
    return np.clip(sharp + 0.5, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("size", [(2048, 1536), (1999, 1111)])
def test_tiled_sharpening_equals_the_whole_image_one(size):
    rng = np.random.default_rng(size[1])
    h, w = round(size[1] / 2), round(size[0] / 2)
    background = np.full((h, w, 3), 200.0) + rng.normal(0, 0.6, (h, w, 1))
    background[int(h * 0.6):] -= 30  # a horizon across the whole width
    cv2.circle(background, (w - 3, 2), 40, (90, 90, 90), -1)  # an edge at the image's corner
    cv2.line(background, (64, 0), (64, h - 1), (150, 140, 130), 2)  # one on a tile border of the upscaled image
    background = np.clip(background + 0.5, 0, 255).astype(np.uint8)
    assert np.array_equal(upscale_background(background, size), _sharpened_everywhere(background, size))
