import io

import numpy as np
import pytest
from PIL import Image

from pipeline.normalize import normalize
from pipeline.segment import segment
from pipeline.synthetic import make_sample


def _iou(product, backdrop, seed=11):
    s = make_sample(product, backdrop, seed, size=(560, 448))
    buf = io.BytesIO()
    Image.fromarray(s.image).save(buf, "PNG")
    m = segment(normalize(buf.getvalue()))
    pred, gt = m.alpha > 0.5, s.mask > 127
    return (pred & gt).sum() / (pred | gt).sum(), m


# Floors the embedded segmenter meets today; the target (0.97 mean) is tracked in bench/quality.
@pytest.mark.parametrize("product, backdrop, floor", [
    ("box", "plain", 0.93), ("bottle", "white", 0.9), ("chair", "gradient", 0.9), ("frame", "plain", 0.6),
    ("white_cabinet", "gradient", 0.93), ("glossy_vase", "offwhite", 0.9),
])
def test_mask_iou_on_generated_ground_truth(product, backdrop, floor):
    iou, m = _iou(product, backdrop)
    assert iou >= floor


def test_matte_is_soft_only_at_the_edge():
    _, m = _iou("box", "plain")
    soft = (m.alpha > 0.02) & (m.alpha < 0.98)
    assert 0 < soft.mean() < 0.03
    assert m.alpha.dtype == np.float32 and m.alpha.min() >= 0 and m.alpha.max() <= 1


def test_alpha_prior_is_used_as_the_matte(box_on_white):
    rgba = np.dstack([box_on_white.image, box_on_white.mask])
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, "PNG")
    m = segment(normalize(buf.getvalue()))
    assert m.backend == "alpha-prior"
    assert np.array_equal(m.alpha > 0.5, box_on_white.mask > 127)


def test_detached_swatches_are_left_out():
    s = make_sample("box", "white", 2, size=(560, 448))
    img = s.image.copy()
    for i, colour in enumerate([(200, 120, 40), (230, 225, 215), (10, 10, 10)]):
        img[30:60, 380 + i * 45 : 410 + i * 45] = colour  # three colour swatches in a corner
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    m = segment(normalize(buf.getvalue()))
    assert "swatch" in m.removed
    assert m.alpha[30:60, 380:500].max() < 0.5


def test_dimension_lines_drawn_against_the_product_are_left_out():
    """A listing photo with its measurements drawn on: a line along the product's side, joined to it by end ticks,
    and its label. Both go; the product stays whole."""
    import cv2

    s = make_sample("box", "white", 2, size=(560, 448))
    img = s.image.copy()
    ys, xs = np.nonzero(s.mask > 127)
    x0, y0, y1 = xs.min(), ys.min(), ys.max()
    line_x = x0 - 14
    cv2.line(img, (line_x, y0), (line_x, y1), (40, 40, 40), 1)
    for y in (y0, y1):
        cv2.line(img, (line_x - 4, y), (x0 + 2, y), (40, 40, 40), 1)  # end ticks touching the product
    label = np.zeros(img.shape[:2], np.uint8)
    cv2.putText(label, "850", (line_x - 38, (y0 + y1) // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1, 1, cv2.LINE_AA)
    cv2.line(label, (line_x - 14, (y0 + y1) // 2 + 2), (line_x, (y0 + y1) // 2 + 2), 1, 1)
    img[label > 0] = (40, 40, 40)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    m = segment(normalize(buf.getvalue()))
    pred, gt = m.alpha > 0.5, s.mask > 127
    assert "dimension line" in m.removed
    assert pred[y0 : y1 - 20, line_x - 1 : line_x + 2].sum() == 0 and pred[label > 0].sum() == 0  # no line, no label
    # Where the line meets the product's floor shadow a short stub can stay (a known limit, see the README).
    assert pred[:, : x0 - 10].sum() < 100
    assert (pred & gt).sum() / (pred | gt).sum() >= 0.95


def test_white_cabinet_meeting_its_own_shadow_on_white():
    iou, _ = _iou("white_cabinet", "white", seed=30)
    assert iou >= 0.85


def test_mean_iou_per_backdrop_on_the_generated_set():
    from collections import defaultdict

    from pipeline.synthetic import sample_set

    scores = defaultdict(list)
    for s in sample_set(0):
        buf = io.BytesIO()
        Image.fromarray(s.image).save(buf, "PNG")
        m = segment(normalize(buf.getvalue()))
        pred, gt = m.alpha > 0.5, s.mask > 127
        scores[s.backdrop].append((pred & gt).sum() / (pred | gt).sum())
    means = {k: float(np.mean(v)) for k, v in scores.items()}
    for backdrop in ("white", "offwhite", "plain"):
        assert means[backdrop] >= 0.97, means


def _legs_with_soft_shadows(panel: bool) -> tuple[bytes, np.ndarray]:
    """Wooden legs on a white studio floor, each with a soft grey shadow beside it (JPEG, as shot), and optionally a
    pale grey panel with a faint outline resting on them: a shadow fades into the floor, a panel does not."""
    import cv2

    h, w = 420, 640
    rng = np.random.default_rng(3)
    img = np.full((h, w, 3), 250.0)
    yy, xx = np.mgrid[0:h, 0:w]
    legs = np.zeros((h, w), np.float32)
    for x in (170, 330, 480):
        cv2.line(legs, (x, 120), (x - 40, 380), 1.0, 14, cv2.LINE_AA)
        along = x - 40 * (yy - 120) / 260.0 + 16  # the shadow lies along the leg, against it
        blob = np.exp(-(((xx - along) / 14.0) ** 2 + ((yy - 290) / 80.0) ** 2))
        img *= (1 - 0.08 * blob)[..., None]
    cover = cv2.GaussianBlur(legs, (0, 0), 0.8)[..., None]  # a lens, not a ruler: edges a pixel or so soft
    img = img * (1 - cover) + np.array([205.0, 170.0, 110.0]) * cover
    truth = cover[..., 0] > 0.5
    if panel:
        top = np.zeros((h, w), bool)
        top[70:122, 110:540] = True
        img[top] = (232, 232, 230)
        img[top & ((yy == 70) | (yy == 121) | (xx == 110) | (xx == 539))] = (215, 215, 213)
        truth = truth | top
    img += rng.normal(0, 0.8, img.shape)
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=85, subsampling=0)
    return buf.getvalue(), truth


@pytest.mark.parametrize("panel", [False, True])
def test_shadows_beside_legs_are_not_the_product(panel):
    import cv2

    data, truth = _legs_with_soft_shadows(panel)
    pred = segment(normalize(data)).alpha > 0.5
    near = cv2.dilate(truth.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0  # the edge itself is matting's job
    assert (pred & ~near).sum() < 0.01 * truth.sum()  # nothing of the shadows beyond the edge band
    assert (truth & ~pred).sum() < 0.01 * truth.sum()
    if panel:
        assert pred[75:118, 115:535].mean() > 0.95  # the pale panel is kept whole


def test_compression_halo_around_thin_wooden_legs_is_left_out():
    """JPEG ringing leaves a pale rim around colourful thin parts; it must not become a white outline."""
    data, truth = _legs_with_soft_shadows(panel=False)
    pred = segment(normalize(data)).alpha > 0.5
    assert (truth & ~pred).sum() < 0.01 * truth.sum()
    assert (pred & ~truth).sum() < 0.2 * truth.sum()  # 0.24 before the halo was opened to the matting
