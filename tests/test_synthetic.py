"""The generated ground truth: the basic set as before, the hard set and the scenes deterministic and well formed."""

import numpy as np
import pytest

from pipeline.synthetic import (BACKDROP_KIND, HARD_BACKDROPS, HARD_PRODUCTS, SCENES, hard_set, make_sample,
                                make_scene)


@pytest.mark.parametrize("product", HARD_PRODUCTS)
def test_hard_product_is_drawn_where_its_mask_says(product):
    s = make_sample(product, "white", 11, size=(480, 384))
    assert s.image.shape == (384, 480, 3) and s.mask.shape == (384, 480)
    fg, bg = s.mask == 255, s.mask == 0
    assert 0.005 < fg.mean() < 0.6
    # The backdrop is pure white away from the product and its shadow; the product differs from it somewhere.
    assert np.abs(s.image[bg].astype(int) - 255).max(axis=1).mean() < 25
    assert (np.abs(s.image[fg].astype(int) - 255).max(axis=1) > 12).mean() > 0.2


def test_hard_set_is_deterministic_and_covers_every_product_and_backdrop():
    a = list(hard_set(seed=3, repeats=1, size=(240, 192)))
    b = list(hard_set(seed=3, repeats=1, size=(240, 192)))
    assert len(a) == len(HARD_PRODUCTS) * len(HARD_BACKDROPS)
    assert {(s.product, s.backdrop) for s in a} == {(p, k) for p in HARD_PRODUCTS for k in HARD_BACKDROPS}
    assert all(np.array_equal(x.image, y.image) and np.array_equal(x.mask, y.mask) for x, y in zip(a, b))
    assert {s.kind for s in a} == {BACKDROP_KIND[k] for k in HARD_BACKDROPS} == {"white", "plain"}


def test_offwhite_sweep_is_light_grey_with_a_vignette():
    s = make_sample("tripod", "offwhite", 5, size=(480, 384))
    corner, middle = s.image[:20, :20].mean(), s.image[150:170, 20:40].mean()
    assert 200 < corner < middle <= 252


def test_unknown_product_is_refused():
    with pytest.raises(ValueError):
        make_sample("sofa", "white", 0)


@pytest.mark.parametrize("kind", SCENES)
def test_scene_is_deterministic_and_busy(kind):
    a, b = make_scene(kind, 2), make_scene(kind, 2)
    assert a.shape == (480, 640, 3) and np.array_equal(a, b)
    assert a.reshape(-1, 3).std(axis=0).mean() > 10



def test_a_pale_part_on_white_has_no_dark_rim():
    """The lens softens the whole scene: a pixel just outside a white lampshade is less than half covered, so it lies
    nearer the backdrop than the shade (blurring the coverage alone drew a dark rim there)."""
    import cv2

    s = make_sample("white_lamp", "white", 21, size=(480, 384), quality=95)
    top = np.zeros(s.mask.shape, bool)
    top[: s.mask.shape[0] // 2] = True  # the shade; the floor shadow is far below
    shade = (s.mask == 255) & top
    rim = (cv2.dilate(s.mask, np.ones((3, 3), np.uint8)) == 255) & (s.mask == 0) & top
    grey = s.image.astype(np.float32).mean(axis=2)
    assert shade.sum() > 200 and rim.sum() > 50
    assert np.median(grey[rim]) >= (np.median(grey[shade]) + 255) / 2
