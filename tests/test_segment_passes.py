"""Each named pass of the studio strategy on generated cases, and the hard generated products end to end."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline import wire
from pipeline.backdrop import classify_background
from pipeline.normalize import normalize
from pipeline.segment import Coarse, segment
from pipeline.segment.overlays import remove_overlays
from pipeline.segment.studio import backdrop_holes, framed_gaps, mostly_exact, shading_field, thin_parts, tinted
from pipeline.synthetic import BACKDROP_KIND, HARD_BACKDROPS, make_sample


def _iou(sample):
    buf = io.BytesIO()
    Image.fromarray(sample.image).save(buf, "PNG")
    pred, gt = segment(normalize(buf.getvalue())).alpha > 0.5, sample.mask > 127
    return (pred & gt).sum() / (pred | gt).sum()


def test_thin_parts_find_a_wire_on_a_soft_shadow_but_not_the_shadow():
    y, x = np.mgrid[0:120, 0:160].astype(np.float32)
    lightness = 100 - 25 * np.exp(-((x - 80) ** 2 + (y - 60) ** 2) / (2 * 25.0**2))  # a soft shadow
    lightness[:, 50:52] -= 8  # a two-pixel wire across it
    found = thin_parts(lightness, 0.5)
    assert found[:, 50:52].mean() > 0.9
    assert found[:, 60:].sum() == 0


def test_shading_field_carries_the_shadow_into_unknown_pixels():
    y, x = np.mgrid[0:80, 0:80].astype(np.float32)
    offset = -10 * np.exp(-((x - 40) ** 2) / 400.0)
    known = np.ones((80, 80), bool)
    known[30:50, 30:50] = False  # a product covers this
    est = shading_field(np.where(known, offset, 50.0), known)
    assert np.abs(est - offset)[35:45, 35:45].max() < 3.0  # of a 10-deep shadow


def test_every_cell_of_a_mesh_is_a_hole():
    fg = np.zeros((100, 100), bool)
    fg[10:90, 10:90] = True
    residual = np.full((100, 100), 5.0, np.float32)
    cells = np.zeros_like(fg)
    for i in range(14, 86, 8):
        for j in range(14, 86, 8):
            cells[i : i + 5, j : j + 5] = True  # 5x5 px cells between 3 px wires
    residual[cells] = 0.4
    holes = backdrop_holes(fg, residual, 2.0, np.zeros_like(fg), np.zeros_like(fg), np.ones(fg.shape, np.float32))
    assert holes[cells].mean() > 0.99 and not holes[fg & ~cells].any()


def test_a_white_face_a_little_off_the_backdrop_is_not_a_hole():
    fg = np.zeros((100, 100), bool)
    fg[10:90, 10:90] = True
    residual = np.full((100, 100), 3.5, np.float32)  # 3.5 dE off: a white panel, not the backdrop
    holes = backdrop_holes(fg, residual, 2.0, fg.copy(), np.zeros_like(fg), np.full(fg.shape, 0.95, np.float32))
    assert not holes.any()


def test_a_leaning_leg_is_not_a_dimension_line():
    fg = np.zeros((200, 200), bool)
    fg[20:60, 60:140] = True  # the body
    leg = np.zeros((200, 200), np.uint8)
    cv2.line(leg, (70, 60), (20, 190), 1, 2)  # a thin leg leaning out, beyond the body's outline
    fg |= leg > 0
    kept, removed = remove_overlays(fg, np.zeros((200, 200, 3), np.uint8))
    assert "dimension line" not in removed and kept[leg > 0].mean() > 0.95


@pytest.mark.parametrize("backdrop", HARD_BACKDROPS)
def test_hard_backdrops_are_classified(backdrop):
    for product in ("tripod", "white_lamp", "edge_shelf"):
        s = make_sample(product, backdrop, 7, size=(480, 384))
        assert classify_background(s.image).kind == BACKDROP_KIND[backdrop], (product, backdrop)


# Floors met today on the hard generated set; the 0.95 target is tracked in bench/quality.py --hard.
@pytest.mark.parametrize("product, backdrop, floor", [
    ("tripod", "offwhite", 0.8), ("wire_basket", "white", 0.5), ("keys_ring", "pastel", 0.7),
    ("edge_shelf", "gradient", 0.75),
])
def test_hard_products_keep_thin_parts_and_open_holes(product, backdrop, floor):
    assert _iou(make_sample(product, backdrop, 21, size=(800, 640))) >= floor


def test_shading_crosses_the_wire():
    c = Coarse(mask=np.zeros((4, 5), bool), image=np.zeros((4, 5, 3), np.uint8), scale=1.0, model=None, removed=(),
               holes=np.zeros((4, 5), bool), shading=np.linspace(-30, 2, 20, dtype=np.float32).reshape(4, 5))
    back = wire.coarse_from_wire(wire.coarse_to_wire(c))
    assert np.abs(back.shading - c.shading).max() < 0.01


def _framed_shadow(graded: bool, meets_floor: float = 1.0):
    """A table seen from the front: a frame of dark product around the backdrop, and under the top a region
    darker than the backdrop (a warm shadow when graded, a grey panel when flat)."""
    from pipeline.segment.studio import shadows_seen_through

    h, w = 120, 160
    ratio = np.ones((h, w, 3), np.float32)
    fg = np.zeros((h, w), bool)
    fg[10:110, 20:140] = True  # the product's outline: top, legs, rail and what lies between
    ratio[10:20, 20:140] = 0.3  # the top
    ratio[20:110, 20:26] = ratio[20:110, 134:140] = 0.1  # the legs
    ratio[104:110, 20:140] = 0.1  # the rail
    region = np.zeros((h, w), bool)
    region[20:50, 26:134] = True
    if graded:
        # a warm shadow, deepest under the top, fading into the floor seen below it
        ratio[20:50, 26:134] = np.linspace(0.55, meets_floor, 30)[:, None, None] * np.array([1.0, 0.96, 0.92])
    else:
        ratio[20:50, 26:134] = 0.8
    holes = fg & (ratio.mean(axis=2) > 0.99)  # the backdrop seen through the frame below
    return shadows_seen_through(ratio, fg & ~holes, holes, np.zeros((h, w), np.float32), 0.5), region


def test_a_shadow_under_a_tabletop_seen_through_the_frame_is_not_the_product():
    found, region = _framed_shadow(graded=True)
    assert found[region].mean() > 0.95 and not found[~region].any()


def test_a_shaded_white_face_meeting_the_floor_in_a_step_is_kept():
    """Graded like a shadow (a curved shell in shade), but it ends in a step where the floor shows below it."""
    found, _ = _framed_shadow(graded=True, meets_floor=0.85)
    assert not found.any()


def test_a_white_face_in_light_shade_beside_a_cut_out_is_not_a_hole():
    """A white panel with a cut-out, the panel a flat 6% below the backdrop and meeting the cut-out smoothly (no
    sharp rim found): the cut-out is a hole, the panel is not its shadow."""
    fg = np.zeros((100, 100), bool)
    fg[10:90, 10:90] = True
    level = np.full((100, 100), 0.94, np.float32)
    level[30:50, 30:50] = 1.0  # the cut-out: the backdrop
    level[:10] = level[90:] = level[:, :10] = level[:, 90:] = 1.0
    level = cv2.GaussianBlur(level, (0, 0), 1.5)  # soft, so a smooth growth could cross it
    residual = np.where(level > 0.995, 0.3, 6.0).astype(np.float32)
    shadow = (level < 0.999) & (level > 0.3)
    holes = backdrop_holes(fg, residual, 2.0, shadow, np.zeros_like(fg), level)
    assert holes[34:46, 34:46].all() and not holes[60:85, 15:85].any()


def test_a_lit_white_face_running_into_its_shade_is_product_but_the_floor_under_the_product_is_seen():
    """White on white: high up, a lit face exactly the backdrop's white that runs on, without an edge, into its own
    shade; low down, between the legs, the floor and the shadow cast on it. Only the floor may be a hole."""
    fg = np.zeros((100, 100), bool)
    fg[10:95, 10:90] = True
    exact = np.zeros_like(fg)
    shadow = np.zeros_like(fg)
    sharp = np.zeros_like(fg)
    exact[15:35, 15:85] = True  # the lit face
    shadow[35:60, 15:85] = True  # its shade, as neutral and smooth as a shadow
    sharp[60:63, 10:90] = True  # the face's lower edge
    exact[85:95, 20:80] = True  # the floor seen under the product
    shadow[70:85, 20:80] = True  # the shadow the product casts on it, wider than the floor seen
    sharp[67:70, 10:90] = sharp[67:95, 15:20] = sharp[67:95, 80:85] = True  # the bottom rail and the legs
    ok = mostly_exact(fg, exact, shadow, sharp)
    assert not ok[15:60, 15:85].any() and ok[70:95, 20:80].all()


def test_a_flat_grey_panel_in_the_frame_is_kept():
    found, _ = _framed_shadow(graded=False)
    assert not found.any()


def test_the_floor_seen_through_a_frame_darkens_into_its_shadow_but_a_grey_part_is_kept():
    """A hole whose lower part is the shadow under the frame: the smooth ramp joins the hole; a grey bar (a step
    away from the floor's level) beside it does not."""
    fg = np.zeros((100, 100), bool)
    fg[10:90, 10:90] = True
    level = np.ones((100, 100), np.float32)
    level[50:80, 15:85] = np.linspace(1.0, 0.7, 30)[:, None]  # the shadow darkening downwards, smoothly
    level[80:90, 10:90] = 0.45  # a grey bar, the frame's bottom rail, a step darker than the shadow meeting it
    level[15:80, 15:85][level[15:80, 15:85] > 0.999] = 1.0
    residual = np.where(level > 0.999, 0.3, 10.0).astype(np.float32)
    residual[:10] = residual[90:] = residual[:, :10] = residual[:, 90:] = 0.3
    residual[10:15, 10:90] = residual[10:90, 10:15] = residual[10:90, 85:90] = 20.0  # the frame's other bars
    level[10:15, 10:90] = level[10:90, 10:15] = level[10:90, 85:90] = 0.2
    shadow = (level < 1.0) & (level > 0.3)
    holes = backdrop_holes(fg, residual, 2.0, shadow, np.zeros_like(fg), level)
    assert holes[15:50, 15:85].all() and holes[50:79, 15:85].mean() > 0.95
    assert not holes[81:90, 15:85].any()


def test_sam2_is_prompted_away_from_the_holes_of_the_classical_pass():
    pytest.importorskip("torch")
    from pipeline.backends.sam2 import prompts_from_mask

    mask = np.zeros((120, 160), bool)
    mask[20:100, 30:130] = True
    holes = np.zeros_like(mask)
    holes[35:85, 50:110] = True  # a frame: the backdrop seen through it
    mask &= ~holes
    box, points, labels = prompts_from_mask(mask, holes=holes)
    assert box == [30.0, 20.0, 130.0, 100.0]
    negatives_in_holes = [p for p, lab in zip(points, labels) if lab == 0 and holes[int(p[1]), int(p[0])]]
    positives = [p for p, lab in zip(points, labels) if lab == 1]
    assert len(negatives_in_holes) == 2 and all(mask[int(p[1]), int(p[0])] for p in positives)


def test_a_pale_face_beside_one_dark_part_is_not_a_framed_gap():
    """Pale gaps framed by dark product all round are the floor between legs; a white chair shell standing in front
    of a dark sofa meets dark product along one side only."""
    residual = np.zeros((100, 100), np.float32)
    fg = np.zeros((100, 100), bool)
    fg[20:80, 20:80] = True
    residual[20:80, 20:80] = 40.0  # dark product all round
    residual[30:70, 30:70] = 3.0  # a pale gap in it
    assert framed_gaps(fg, residual, 2.0)[35:65, 35:65].all()
    residual[20:80, 20:80] = 1.0  # now a faint outline on three sides ...
    residual[20:30, 20:80] = 40.0  # ... and the dark sofa along the top
    residual[30:70, 30:70] = 3.0
    assert not framed_gaps(fg, residual, 2.0).any()


def test_specks_of_the_band_go_but_a_wire_joined_to_the_product_stays():
    from pipeline.segment.matte import drop_specks

    alpha = np.zeros((100, 100), np.float32)
    solid = np.zeros((100, 100), bool)
    alpha[20:60, 20:60] = 1.0
    solid[22:58, 22:58] = True
    alpha[60:95, 39:40] = 0.6  # a one-pixel wire hanging from the product, all band
    alpha[80:82, 70:72] = 0.3  # a speck of backdrop noise beside it
    drop_specks(alpha, solid, 25)
    assert alpha[60:95, 39].min() == np.float32(0.6) and not alpha[80:82, 70:72].any()



def test_a_thin_products_floor_shadow_wider_than_the_product_is_not_the_product():
    """Keys on a ring cast a floor shadow covering more pixels than the keys themselves: how big a floor shadow may
    be is judged against the product's extent, not its pixel count."""
    s = make_sample("keys_ring", "pastel", 100_062, size=(960, 768))
    buf = io.BytesIO()
    Image.fromarray(s.image).save(buf, "PNG")
    pred, gt = segment(normalize(buf.getvalue())).alpha > 0.5, s.mask > 127
    near = cv2.dilate(gt.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert (pred & gt).sum() > 0.95 * gt.sum()
    assert (pred & ~near).sum() < 0.05 * gt.sum()


def test_a_grey_products_own_legs_are_not_its_floor_shadow():
    """A dark grey chair on a grey sweep: its seat and legs are the backdrop's colour made darker, graded and
    reaching the floor, like a shadow; but they are as tall as the product, a share of its pixels no floor shadow
    has."""
    assert _iou(make_sample("chair", "gradient", 10, size=(900, 720))) >= 0.95


def test_a_white_face_tinted_off_the_backdrop_is_found_but_not_a_shadow_or_a_wires_fringe():
    rng = np.random.default_rng(3)
    h, w = 160, 200
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    ratio = np.ones((h, w, 3), np.float32)
    ratio *= (1 - 0.3 * np.exp(-((x - 150) ** 2 + (y - 120) ** 2) / (2 * 12.0**2)))[:, :, None]  # a soft shadow
    face = np.zeros((h, w), bool)
    face[40:100, 30:90] = True
    ratio[face] *= np.array([1.0, 1.0, 0.975], np.float32)  # a warmer white, as light as the backdrop
    sharp = np.zeros((h, w), bool)
    sharp[20:140, 120:122] = True  # a wire of a strong colour
    ratio[sharp] = (0.6, 0.4, 0.3)
    ratio += rng.normal(0, 0.01, ratio.shape).astype(np.float32)  # sensor noise
    quiet = np.zeros((h, w), bool)
    quiet[:12], quiet[-12:], quiet[:, :12], quiet[:, -12:] = True, True, True, True
    found = tinted(ratio, quiet, sharp)
    assert found[face].mean() > 0.95
    near_face = cv2.dilate(face.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0  # its outline to within 3 px
    assert not found[~near_face].any()  # not the shadow, not beside the wire, not the plain backdrop


def test_a_white_lamp_shade_a_little_warmer_than_an_off_white_sweep_is_kept():
    """The shade's lit face is within the sweep's noise in lightness; only its tint tells it apart."""
    assert _iou(make_sample("white_lamp", "offwhite", 26, size=(800, 640))) >= 0.6
