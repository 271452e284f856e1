import numpy as np
import pytest

from pipeline.backdrop import classify_background
from pipeline.synthetic import BACKDROPS, BACKDROP_KIND, HARD_BACKDROPS, make_sample


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


@pytest.mark.parametrize("level", [235, 242, 250])
@pytest.mark.parametrize("vignette", [0.0, 0.06, 0.1])
def test_light_neutral_sweep_with_vignette_noise_and_shadow_is_white(level, vignette):
    import cv2

    rng = np.random.default_rng(level)
    h, w = 384, 480
    y, x = np.linspace(0, 1, h)[:, None, None], np.linspace(0, 1, w)[None, :, None]
    img = level * (1 - vignette * ((x - 0.5) ** 2 + (y - 0.45) ** 2) / 0.5) * np.ones((1, 1, 3))
    img = img + rng.normal(0, 2.5, (h, w, 3))
    img[220:330, 180:300] = (90, 60, 40)  # the product
    shadow = np.zeros((h, w), np.float32)
    cv2.ellipse(shadow, (240, 332), (90, 10), 0, 0, 360, 1.0, -1)
    img = img * (1 - 0.4 * cv2.GaussianBlur(shadow, (0, 0), 8)[..., None])
    assert classify_background(np.clip(img, 0, 255).astype(np.uint8)).kind == "white"


@pytest.mark.parametrize("top, bottom", [((238, 238, 240), (168, 170, 176)), ((244, 232, 214), (196, 170, 140))])
def test_gradient_sweep_is_plain_even_when_its_top_is_light(top, bottom):
    h, w = 384, 480
    t = np.linspace(0, 1, h)[:, None, None]
    img = np.array(top, np.float64) * (1 - t) + np.array(bottom, np.float64) * t + np.zeros((1, w, 1))
    img[220:330, 180:300] = (40, 40, 44)
    assert classify_background(np.clip(img, 0, 255).astype(np.uint8)).kind == "plain"


@pytest.mark.parametrize("backdrop", HARD_BACKDROPS)
def test_hard_set_backdrops_get_their_kind(backdrop):
    for product in ("tripod", "white_lamp", "edge_shelf"):
        for seed in (1, 2):
            s = make_sample(product, backdrop, seed, size=(480, 384))
            assert classify_background(s.image).kind == BACKDROP_KIND[backdrop], s.name
