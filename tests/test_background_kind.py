import numpy as np
import pytest

from pipeline.backdrop import classify_background
from pipeline.synthetic import BACKDROPS, BACKDROP_KIND, make_sample


@pytest.mark.parametrize("backdrop", BACKDROPS)
@pytest.mark.parametrize("product", ["box", "chair", "white_cabinet"])
def test_studio_backdrops(product, backdrop):
    s = make_sample(product, backdrop, 3, size=(400, 320))
    info = classify_background(s.image)
    assert info.kind == BACKDROP_KIND[backdrop], info.features


def test_room_like_photo_is_scene():
    rng = np.random.default_rng(0)
    h, w = 320, 400
    img = np.zeros((h, w, 3), np.float32)
    img[: h // 2] = (200, 190, 170)  # wall
    img[h // 2 :] = (120, 80, 50)  # wooden floor
    img[h // 2 :] += rng.normal(0, 12, (h - h // 2, w, 3))  # wood grain texture
    img[40:120, 30:110] = (60, 90, 140)  # a picture on the wall
    img[150:300, 300:380] = (30, 110, 40)  # a plant
    info = classify_background(np.clip(img, 0, 255).astype(np.uint8))
    assert info.kind == "scene"


def test_old_service_rule_would_miss_offwhite_but_we_do_not():
    s = make_sample("box", "offwhite", 5, size=(400, 320))
    border = np.concatenate([s.image[:32].reshape(-1, 3), s.image[-32:].reshape(-1, 3)])
    assert (border > 250).all(axis=1).mean() < 0.65  # the old test says "scene"
    assert classify_background(s.image).kind == "white"
