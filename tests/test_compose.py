import numpy as np
import pytest

from pipeline.errors import InvalidOption, UnknownBackend
from pipeline.backends import new_backend
from pipeline.compose import STYLES
from pipeline.runner import InProcessExecutor, Job, RunOptions, run
from pipeline.settings import Settings


def _final(png: bytes, **opts):
    events = list(run(Job(source=png, options=RunOptions.parse({"size": 512, **opts})), InProcessExecutor(Settings())))
    return [e for e in events if e.stage == "upscale"], events


def test_marketplace_is_pure_white_and_fills_85_percent(product_png):
    finals, _ = _final(product_png, preset="marketplace")
    img = finals[0].images["final"]
    assert img.shape[:2] == (512, 512)
    assert (img[:20] == 255).all() and (img[:, :10] == 255).all()
    non_white = np.nonzero((img < 250).any(axis=2))
    extent = max(np.ptp(non_white[0]), np.ptp(non_white[1])) + 1
    assert 0.8 * 512 <= extent <= 0.9 * 512


@pytest.mark.parametrize("style", STYLES)
def test_every_style_renders_and_keeps_the_product(product_png, style):
    finals, _ = _final(product_png, style=style)
    assert finals[0].payload["output"]["fidelity"]["delta_e_mean"] <= 1.5


def test_same_seed_same_image_other_seed_other_background(product_png):
    a = _final(product_png, seed=3)[0][0].images["final"]
    b = _final(product_png, seed=3)[0][0].images["final"]
    c = _final(product_png, seed=4)[0][0].images["final"]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_variants_give_one_final_each(product_png):
    finals, _ = _final(product_png, variants=3)
    assert [f.payload["output"]["variant"] for f in finals] == [0, 1, 2]


def test_presets_set_the_canvas(product_png):
    assert _final(product_png, preset="portrait")[0][0].images["final"].shape[:2] == (512, 410)
    assert _final(product_png, preset="landscape")[0][0].images["final"].shape[:2] == (288, 512)


def test_shadow_darkens_the_floor_under_the_product(product_png):
    _, events = _final(product_png, style="sweep")
    bg = [e for e in events if e.stage == "compose"][0].images["background"].astype(int)
    assert bg.min() < bg.max() - 30  # a visible shadow exists somewhere


def test_unknown_style_and_backend_list_the_valid_ones(product_png):
    with pytest.raises(InvalidOption, match="sweep"):
        _final(product_png, style="neon")
    with pytest.raises(UnknownBackend, match="classical"):
        new_backend("segmenter", "magic", Settings())
