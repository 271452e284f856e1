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
from pipeline.segment.common import level_of
from pipeline.segment.studio import (backdrop_holes, faint_faces, faint_wires, floor_seen_through, framed_gaps,
                                     grow_smoothly, mostly_exact, shading_field, shadow_like, thin_parts, tinted,
                                     tinted_panes)
from pipeline.synthetic import BACKDROP_KIND, HARD_BACKDROPS, make_sample


def _alpha(image, quality=None):
    """The matte of an RGB photo, sent through the pipeline as a PNG (or a JPEG of that ``quality``)."""
    buf = io.BytesIO()
    options = {"format": "PNG"} if quality is None else {"format": "JPEG", "quality": quality}
    Image.fromarray(image).save(buf, **options)
    return segment(normalize(buf.getvalue())).alpha


def _masks(sample):
    """(the predicted product, the ground truth) of a generated sample."""
    return _alpha(sample.image) > 0.5, sample.mask > 127


def _iou(sample):
    pred, gt = _masks(sample)
    return (pred & gt).sum() / (pred | gt).sum()


def _far_extra_and_kept(sample):
    """(pixels predicted farther than 4 px from the product, pixels of the product kept), of the product's size."""
    pred, gt = _masks(sample)
    near = cv2.dilate(gt.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    return (pred & ~near).sum() / gt.sum(), (pred & gt).sum() / gt.sum()


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
    far, kept = _far_extra_and_kept(make_sample("keys_ring", "pastel", 100_062, size=(960, 768)))
    assert kept > 0.95
    assert far < 0.05


def test_a_grey_products_own_legs_are_not_its_floor_shadow():
    """A dark grey chair on a grey sweep: its seat and legs are the backdrop's colour made darker, graded and
    reaching the floor, like a shadow; but they are as tall as the product, a share of its pixels no floor shadow
    has."""
    assert _iou(make_sample("chair", "gradient", 10, size=(900, 720))) >= 0.95


def _pale_products_on_a_floor_shadow():
    """A white backdrop with a soft floor shadow (a blurred ellipse, 40% deep at the foot line) under a pale frame
    (posts and a bottom rail, 6% darker than the backdrop) and a grey tray standing in it; the flood left the shadow
    in the foreground. Returns the image, its ratio to the backdrop, the foreground, the product and the shadow
    outside the frame."""
    h, w = 200, 320
    shadow = np.zeros((h, w), np.float32)
    cv2.ellipse(shadow, (160, 150), (120, 8), 0, 0, 360, 1.0, -1)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 6)
    level = 1.0 - 0.4 * shadow / shadow.max()
    product = np.zeros((h, w), bool)
    product[40:150, 60:66] = product[40:150, 134:140] = product[144:150, 60:140] = True  # the frame
    level[product] = 0.94
    tray = np.zeros((h, w), bool)
    tray[136:150, 180:260] = True
    level[tray] = 0.8
    product |= tray
    rng = np.random.default_rng(0)
    image = np.clip(255 * level[:, :, None] + rng.normal(0, 1.0, (h, w, 1)), 0, 255).repeat(3, axis=2)
    image = image.astype(np.uint8)
    cast = (shadow > 0.05 * shadow.max()) & ~product
    inside = np.zeros((h, w), bool)
    inside[40:144, 66:134] = True  # seen through the frame: the holes pass's
    fg = product | cast
    cast &= ~inside
    ratio = image.astype(np.float32) / 255.0
    return image, ratio, fg, product, cast


def test_a_floor_shadow_under_pale_products_is_not_the_product():
    from pipeline.segment.studio import floor_shadows

    image, ratio, fg, product, cast = _pale_products_on_a_floor_shadow()
    found, panels = floor_shadows(image, ratio, fg, ~fg)
    assert found[cast].mean() > 0.8
    assert found[product].mean() < 0.02  # the rail and the tray lying in the shade stay
    assert panels[product].mean() > 0.3 and panels[cast].mean() < 0.1  # and holes may not take them


def test_pale_frames_standing_on_the_floor_lose_their_floor_shadow():
    far, kept = _far_extra_and_kept(make_sample("frames", "white", 100_100, size=(960, 768)))
    assert kept > 0.93
    assert far < 0.2  # main kept half the product again in shadow


def test_a_half_covered_edge_pixel_is_matted_at_one_half():
    """The known-backdrop matting cuts noise-sized moves without shifting the middle of the edge, and compares the edge
    with the backdrop measured where the product's soft edge no longer darkens it: a column of pixels half covered
    by a pale blue panel gets alpha near one half, not less (the mask would lose a pixel all round)."""
    rng = np.random.default_rng(3)
    h, w = 240, 320
    cov = np.zeros((h, w), np.float32)
    cov[60:200, 121:199] = 1.0
    cov[60:200, 120] = cov[60:200, 199] = 0.5
    back, part = np.float32([242, 242, 242]), np.float32([205, 225, 238])
    img = back * (1 - cov[..., None]) + part * cov[..., None]
    img = np.clip(img + rng.normal(0, 1.5, (h, w, 3)) + 0.5, 0, 255).astype(np.uint8)
    alpha = _alpha(img)[80:180]
    for column in (120, 199):
        assert 0.45 <= alpha[:, column].mean() <= 0.6
    assert alpha[:, 119].max() < 0.1 and alpha[:, 200].max() < 0.1
    assert alpha[:, 122:197].min() > 0.95



def _panes_on_a_tinted_sweep(frame_colour=(40, 40, 44)):
    """A pastel sweep with three 40x40 regions in one product frame: a shaded opening (the backdrop, every channel
    scaled by 0.85), near-white glass (60% of the backdrop let through, tinted by the glass's colour, as the generator
    renders it), and an opening whose rim takes the frame's colour (the bleed of lens blur and JPEG chroma)."""
    rng = np.random.default_rng(3)
    h, w = 120, 200
    backdrop = np.empty((h, w, 3), np.float32)
    backdrop[:] = (204, 222, 240)
    backdrop *= (1 - 0.04 * np.linspace(0, 1, h, dtype=np.float32))[:, None, None]  # a light fall-off
    img = backdrop.copy()
    fg = np.zeros((h, w), bool)
    fg[20:100, 10:190] = True
    img[fg] = frame_colour
    regions = [(slice(40, 80), slice(20 + 60 * i, 60 + 60 * i)) for i in range(3)]
    opening, glass, bled = (np.zeros((h, w), bool) for _ in range(3))
    for mask, r in zip((opening, glass, bled), regions):
        mask[r] = True
    img[opening] = backdrop[opening] * 0.85
    pane = np.array((235, 240, 245), np.float32)
    img[glass] = pane * 0.4 + backdrop[glass] * pane / 255 * 0.6
    img[bled] = backdrop[bled]
    ring = bled & ~(cv2.erode(bled.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0)  # 3 px along the frame
    img[ring] = 0.7 * backdrop[ring] + 0.3 * np.array(frame_colour, np.float32)
    img = np.clip(img + rng.normal(0, 1.5, img.shape), 0, 255).astype(np.uint8)
    return img, backdrop, fg, opening, glass, bled


def test_glass_is_not_a_hole_but_a_shaded_or_bled_opening_on_a_tinted_backdrop_is():
    """Glass lets the backdrop through tinted by its own colour (channels scaled unequally, alike over the pane); an
    opening shows the backdrop itself, only darker where shaded, and colour bled from a red frame fades inwards."""
    img, backdrop, fg, opening, glass, bled = _panes_on_a_tinted_sweep(frame_colour=(190, 60, 50))
    panes = tinted_panes(opening | glass | bled, img.astype(np.float32) / backdrop, ~fg)
    assert panes[glass].all() and not panes[opening | bled].any()


def test_the_cells_of_a_mesh_joined_to_a_glass_pane_through_a_gap_in_the_frame_stay_holes():
    """A row of mesh cells under a glass pane, joined to it through a gap in the frame: the cells show the backdrop
    itself and have no core of their own to judge; the pane's tint does not make them glass."""
    img, backdrop, fg, opening, glass, bled = _panes_on_a_tinted_sweep()
    cells = np.zeros_like(fg)
    for x in range(80, 120, 8):
        cells[88:98, x:x + 6] = True
    gap = np.zeros_like(fg)
    gap[80:88, 100:102] = True
    img[cells | gap] = backdrop[cells | gap].astype(np.uint8)
    panes = tinted_panes(glass | cells | gap, img.astype(np.float32) / backdrop, ~fg)
    assert panes[glass].all() and not panes[cells].any()


def test_the_tint_is_measured_against_the_local_backdrop():
    """The backdrop model is off in colour by a little (a sweep warmer than fitted): measured on the clean backdrop
    beside the product, the error cancels and the shaded opening stays a hole, the glass stays a pane."""
    img, backdrop, fg, opening, glass, bled = _panes_on_a_tinted_sweep()
    model = backdrop * np.array((0.985, 1.0, 1.015), np.float32)  # fitted a little cooler than the sweep is
    clean = ~(cv2.dilate(fg.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0)
    panes = tinted_panes(opening | glass | bled, img.astype(np.float32) / model, clean)
    assert panes[glass].all() and not panes[opening | bled].any()


def test_a_glass_vase_on_the_tabletop_is_product():
    """The glass_table's vase (near-white glass in a thin grey outline) was cut out as a framed gap on off-white."""
    assert _iou(make_sample("glass_table", "offwhite", 100_121, size=(960, 768))) >= 0.9


def test_a_pale_pane_running_on_from_its_outline_keeps_its_rim():
    """The rim inside a dark outline is matted as compression ringing only where it differs from the product
    further in: the glass vase on the table is pale right up to its grey outline, and keeps that rim (without the
    test, about a quarter of the vase is cut away: IoU 0.946)."""
    assert _iou(make_sample("glass_table", "white", 22, size=(800, 640))) >= 0.965


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


def test_faint_faces_are_found_but_not_a_shadow_or_an_outlined_stretch_of_backdrop():
    """Two faces of a white shade, one a little lighter than a noisy sweep, one a little darker (as neutral as a
    shadow), both within the flood's tolerance pixel by pixel: found by their faint straight outlines and their
    consistent step off the backdrop. A soft shadow fades towards its rim, and the backdrop framed by a faint line
    is off by nothing: neither is a face."""
    rng = np.random.default_rng(5)
    h, w = 240, 320
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    lightness = np.full((h, w), 93.0, np.float32)
    lit, shaded = np.zeros((h, w), bool), np.zeros((h, w), bool)
    lit[40:100, 60:140], shaded[40:100, 140:180] = True, True
    lightness[lit] += 1.4
    lightness[shaded] -= 2.8
    shadow = cv2.GaussianBlur(((x - 240) ** 2 / 60**2 + (y - 190) ** 2 / 25**2 < 1).astype(np.float32), (0, 0), 6)
    lightness -= 15 * shadow  # a soft floor shadow
    frame = np.zeros((h, w), np.uint8)
    cv2.rectangle(frame, (30, 150), (110, 210), 1, 1)  # a faint line framing a stretch of backdrop
    lightness[frame > 0] -= 3.0
    lightness += rng.normal(0, 0.8, (h, w)).astype(np.float32)  # sensor noise
    quiet = np.zeros((h, w), bool)
    quiet[:12], quiet[-12:], quiet[:, :12], quiet[:, -12:] = True, True, True, True
    everywhere = np.ones((h, w), bool)  # the flood crossed it all
    found = faint_faces(lightness, everywhere, everywhere, quiet, lightness - 93.0, 2.8)
    assert found[lit].mean() > 0.9 and found[shaded].mean() > 0.9
    near = cv2.dilate((lit | shaded).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0  # the outline to within 3 px
    assert not found[~near].any()  # not the shadow, not the framed backdrop


def _tinted_slab_on_a_sweep(colour: bool):
    """faint_faces on a JPEG'd noisy off-white sweep (everything flooded) with a slab as light as the sweep and
    2-3 b* warmer, a neutral soft floor shadow and a warm one (light bounced off wood) that deepens inwards; the
    slab's and the shadows' masks, and what was found."""
    from pipeline.color import rgb_to_lab
    from pipeline.segment.common import chroma_of
    rng = np.random.default_rng(7)
    h, w = 240, 320
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    sweep = np.array([242.0, 240.0, 235.0], np.float32)
    image = np.tile(sweep, (h, w, 1))
    slab = np.zeros((h, w), bool)
    slab[50:90, 70:230] = True
    image[slab] += np.array([1.0, 0.0, -4.5], np.float32)  # b* about 2.5 up, the lightness the same
    shadow = cv2.GaussianBlur(((x - 110) ** 2 / 50**2 + (y - 180) ** 2 / 18**2 < 1).astype(np.float32), (0, 0), 6)
    warm = cv2.GaussianBlur(((x - 240) ** 2 / 40**2 + (y - 180) ** 2 / 18**2 < 1).astype(np.float32), (0, 0), 6)
    image *= 1 - 0.12 * shadow[..., None]  # neutral: every channel alike
    image *= 1 - 0.12 * warm[..., None] * np.array([0.9, 1.0, 1.15], np.float32)  # a little warmer as it deepens
    image += rng.normal(0, 1.5, (h, w, 1)).astype(np.float32)  # sensor noise, mostly in the lightness
    image += cv2.GaussianBlur(rng.normal(0, 4.0, (h, w, 3)).astype(np.float32), (0, 0), 2)  # and colour mottle
    buf = io.BytesIO()
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
    image = np.asarray(Image.open(buf).convert("RGB"))
    lab = rgb_to_lab(image)
    bg = rgb_to_lab(np.tile(sweep.astype(np.uint8), (1, 1, 1)))[0, 0]
    ratio = image.astype(np.float32) / sweep
    quiet = np.zeros((h, w), bool)
    quiet[:12], quiet[-12:], quiet[:, :12], quiet[:, -12:] = True, True, True, True
    everywhere = np.ones((h, w), bool)  # the flood crossed it all
    found = faint_faces(lab[:, :, 0], everywhere, everywhere, quiet, lab[:, :, 0] - bg[0], 2.8,
                        colour=100 * chroma_of(ratio)[:, :, ::2] if colour else None)
    return slab, (shadow > 0.05) | (warm > 0.05), found


def test_a_face_as_light_as_the_sweep_and_a_little_warmer_is_found_by_its_colour_but_not_a_shadow():
    """A slab 2-3 b* warmer than a noisy off-white sweep, as light as it: its outline and its step are in the
    colour alone (by its lightness it is not found). A neutral soft shadow, and one a little warm that deepens
    inwards, are no face."""
    slab, shadows, found = _tinted_slab_on_a_sweep(colour=False)
    assert found[slab].mean() < 0.1
    slab, shadows, found = _tinted_slab_on_a_sweep(colour=True)
    assert found[slab].mean() > 0.9
    near = cv2.dilate(slab.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0  # the outline to within 3 px
    assert not found[~near].any() and not found[shadows].any()


def test_a_white_lamp_shade_whose_faces_the_flood_crosses_is_kept():
    """On a noisy off-white sweep, the shade's lit face is a lightness unit lighter than the sweep, its other face
    a few units darker and neutral (like a shadow); the flood crossed both (IoU 0.08, the pole alone)."""
    assert _iou(make_sample("white_lamp", "offwhite", 101_131, size=(960, 768))) >= 0.8


def test_faint_wires_are_found_along_their_length_but_not_an_edge_a_shadow_or_a_crease_off_the_product():
    """Wires a lightness unit and a half lighter than a noisy sweep, a pixel wide (standing on the product's base
    under its top rail, upright and leaning): within the noise pixel by pixel, they stand out averaged along their
    length as a ridge.
    The faint straight edge of a face steps instead, a soft shadow is broad, and a faint line away from the product
    is a crease in the sweep."""
    rng = np.random.default_rng(3)
    h, w = 240, 320
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    offset = np.zeros((h, w), np.float32)
    wires = np.zeros((h, w), bool)
    for c in range(40, 130, 12):
        wires[60:200, c] = True
    for k in range(100):  # a leaning wire at 45 degrees
        wires[199 - k, 140 + k] = True
    offset[wires] += 1.6
    offset[60:200, 262:296] += 1.6  # a faint face, its edges straight steps
    offset -= 6 * cv2.GaussianBlur(((x - 200) ** 2 / 40**2 + (y - 60) ** 2 / 20**2 < 1).astype(np.float32), (0, 0), 6)
    offset[20:40, 150] += 1.6  # a crease in the sweep, away from the product
    offset += rng.normal(0, 0.8, (h, w)).astype(np.float32)
    fg = np.zeros((h, w), bool)
    fg[200:215, 30:300] = True  # the base the wires and the face stand on
    fg[56:60, 30:140] = True  # the top rail, found by its own detail
    quiet = np.zeros((h, w), bool)
    quiet[:12], quiet[-12:], quiet[:, :12], quiet[:, -12:] = True, True, True, True
    found = faint_wires(offset, ~fg, quiet, fg)
    near = cv2.dilate(wires.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    assert (found & near).sum() > 0.6 * wires.sum()
    assert (found & ~near).sum() < 0.05 * wires.sum()  # not the face's edge, the shadow or the crease


def test_a_pale_wire_cage_whose_wires_are_within_the_sweeps_noise_is_kept():
    """A pale wire cage on a noisy off-white sweep: its upper wires are within the sweep's noise pixel by pixel, so
    the flood crossed them and the holes pass took what was left (IoU 0.32); found along their length, they stay."""
    assert _iou(make_sample("cage", "offwhite", 101_031, size=(960, 768))) >= 0.55


def test_a_white_face_keeps_its_rim_where_it_is_the_colour_further_in():
    """The rim of a white lampshade on an off-white sweep is within the sweep's noise of it, as the shade is further
    in: it is the face, not backdrop the coarse pass took in (the matting used to cut a band of it: IoU 0.85)."""
    assert _iou(make_sample("white_lamp", "offwhite", 100_131, size=(960, 768))) >= 0.92


def test_a_pale_slab_too_thin_for_a_core_keeps_its_face():
    """A table top on an off-white sweep, as light as it and a little warmer, is a slab a few pixels tall at the
    working size: it has no core further in to compare its rim with, so its own solid pixels, off the backdrop's
    colour on average, tell the face (the matting used to cut half of what the coarse pass found: 0.49 kept)."""
    pred, gt = _masks(make_sample("thin_table", "offwhite", 101_041, size=(960, 768)))
    rows = gt.sum(axis=1)
    top = gt & (rows > 0.5 * rows.max())[:, None]
    assert (pred & top).sum() / top.sum() >= 0.55


def test_growing_smoothly_looks_only_beside_the_last_pixels_added_and_finds_the_same_region():
    def everywhere(region, allowed, level, step, reach):
        k = np.ones((3, 3), np.uint8)
        for _ in range(reach):
            hi = cv2.dilate(np.where(region, level, -1e3).astype(np.float32), k)
            lo = -cv2.dilate(np.where(region, -level, -1e3).astype(np.float32), k)
            add = allowed & ~region & (hi > -1e2) & ((np.abs(level - hi) < step) | (np.abs(level - lo) < step))
            region = region | add
        return region

    rng = np.random.default_rng(0)
    for _ in range(100):
        h, w = rng.integers(5, 60, 2)
        level = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), rng.uniform(0.5, 3))
        allowed = rng.random((h, w)) < rng.uniform(0.3, 1.0)
        region = rng.random((h, w)) < 0.02
        reach = int(rng.integers(1, 40))
        assert np.array_equal(grow_smoothly(region, allowed, level, 0.01, reach),
                              everywhere(region, allowed, level, 0.01, reach))


def _rails(fg, rows, cols):
    """The rails, 3 px thick, of a frame standing in ``fg``: across from each of ``rows``, upright from each of
    ``cols``."""
    frame = np.zeros_like(fg)
    for r in rows:
        frame[r:r + 3] = True
    for c in cols:
        frame[:, c:c + 3] = True
    return frame & fg


def _cells_in_a_floor_shadow():
    """A dark frame standing on the floor, split by a rail into an upper row of cells on the plain backdrop and a
    lower row inside the floor shadow (graded with height, as outside the frame): in the lower row, the floor seen
    through (left), a flat pale face as grey as the shadow on average (middle) and a grey part a step darker than
    the floor (right)."""
    h, w = 100, 200
    y = np.arange(h, dtype=np.float32)[:, None]
    floor = np.broadcast_to(1 - 0.35 * np.exp(-(((y - 88) / 10) ** 2)), (h, w)).copy()
    level = floor.copy()
    fg = np.zeros((h, w), bool)
    fg[40:92, 30:170] = True
    frame = _rails(fg, (40, 89, 68), (30, 167, 78, 118))
    level[frame] = 0.1
    seen, face, part = np.zeros_like(fg), np.zeros_like(fg), np.zeros_like(fg)
    seen[71:89, 33:78] = face[71:89, 81:118] = part[71:89, 121:167] = True
    level[face] = floor[face].mean()
    level[part] = floor[part] - 0.15
    holes = np.zeros_like(fg)
    holes[43:68, 33:167] = True
    holes &= ~frame
    ratio = np.repeat(level[:, :, None], 3, axis=2).astype(np.float32)
    return ratio, fg, holes, seen, face, part


def test_the_floor_shadow_seen_through_an_enclosed_opening_is_a_hole_but_a_face_or_grey_part_in_it_is_not():
    ratio, fg, holes, seen, face, part = _cells_in_a_floor_shadow()
    found = floor_seen_through(level_of(ratio), shadow_like(ratio), fg, holes, np.zeros_like(fg))
    assert found[seen].mean() > 0.9
    assert not found[face].any() and not found[part].any()
    assert not found[~fg].any() and not (found & holes).any()


def test_the_floor_seen_through_a_face_meeting_the_floor_outside_is_not_a_hole():
    """The same lower row open at the side: a region that meets the floor outside is not enclosed (the floor
    shadows pass decides it)."""
    ratio, fg, holes, seen, _, _ = _cells_in_a_floor_shadow()
    fg[71:89, 30:33] = False
    ratio[71:89, 30:33] = ratio[71:89, 33:34]
    assert not floor_seen_through(level_of(ratio), shadow_like(ratio), fg, holes, np.zeros_like(fg))[seen].any()


def test_an_opening_in_a_shadow_deeper_towards_its_middle_matches_the_floor_seen_through_the_openings_beside_it():
    """A row of three cells in a floor shadow that is deeper towards the middle than at the ends, where the floor
    outside the product is measured: the floor seen through the cells on either side (already holes) tells the level
    of the floor in the middle cell."""
    h, w = 100, 200
    y = np.arange(h, dtype=np.float32)[:, None]
    x = np.arange(w, dtype=np.float32)[None, :]
    level = (1 - 0.5 * np.exp(-(((x - 100) / 150) ** 2)) * np.exp(-(((y - 88) / 10) ** 2))).astype(np.float32)
    fg = np.zeros((h, w), bool)
    fg[40:92, 20:180] = True
    frame = _rails(fg, (40, 89, 68), (20, 177, 78, 118))
    level[frame] = 0.1
    holes = np.zeros_like(fg)
    holes[43:68, 23:177] = holes[71:89, 23:78] = holes[71:89, 121:177] = True
    holes &= ~frame
    middle = np.zeros_like(fg)
    middle[71:89, 81:118] = True
    ratio = np.repeat(level[:, :, None], 3, axis=2)
    found = floor_seen_through(level_of(ratio), shadow_like(ratio), fg, holes, np.zeros_like(fg))
    assert found[middle].mean() > 0.8
    assert not found[frame].any()


def test_a_pale_face_in_light_shade_beside_pale_faces_taken_for_openings_is_not_the_floor_seen_through():
    """Three pale faces side by side in light shade, on a lit floor: the two outer ones taken for openings (as white
    faces sometimes are) are as light as the middle one, but the floor is trusted through openings only deep in a
    shadow."""
    h, w = 100, 200
    level = np.ones((h, w), np.float32)
    fg = np.zeros((h, w), bool)
    fg[40:92, 20:180] = True
    frame = _rails(fg, (40, 89), (20, 177, 78, 118))
    level[fg] = 0.93
    level[frame] = 0.1
    holes = np.zeros_like(fg)
    holes[43:89, 23:78] = holes[43:89, 121:177] = True
    middle = np.zeros_like(fg)
    middle[43:89, 81:118] = True
    ratio = np.repeat(level[:, :, None], 3, axis=2)
    assert not floor_seen_through(level_of(ratio), shadow_like(ratio), fg, holes, np.zeros_like(fg))[middle].any()


def test_the_lower_cells_of_a_spoked_wheel_in_the_floor_shadow_are_holes():
    # main kept the cells in the shadow: 0.93
    assert _iou(make_sample("scooter", "white", 100_090, size=(960, 768))) >= 0.95


def test_a_leg_meeting_the_top_end_on_is_kept_whatever_else_it_touches():
    fg = np.zeros((200, 200), bool)
    fg[20:40, 40:160] = True  # the top
    cv2.line(fg.view(np.uint8), (100, 40), (100, 190), 1, 8)  # a solid middle post
    legs = np.zeros((200, 200), np.uint8)
    cv2.line(legs, (150, 40), (152, 190), 1, 1)  # a thin leg, plumb within a degree like a dimension line
    cv2.line(legs, (150, 120), (104, 120), 1, 1)  # a stretcher to the post: the leg's stroke touches it off axis
    fg |= legs > 0
    kept, removed = remove_overlays(fg, np.zeros((200, 200, 3), np.uint8))
    assert "dimension line" not in removed and kept[legs > 0].mean() > 0.95


def test_a_bar_among_evenly_spaced_bars_is_no_dimension_line():
    from pipeline.segment.overlays import _among_bars

    thin = np.zeros((240, 240), bool)
    for x in range(60, 180, 14):  # a cage's bars, 2 px wide every 14 px
        thin[30:200, x : x + 2] = True
    bar = np.zeros_like(thin)
    bar[30:200, 102:104] = True
    assert _among_bars(bar, thin)
    lone = np.zeros_like(thin)
    lone[30:200, 20:21] = True  # a dimension line beside a box, and a second one for the depth
    depth = np.zeros_like(thin)
    depth[30:150, 34:35] = True
    assert not _among_bars(lone, lone | depth)
    chained = np.zeros_like(thin)
    for y in range(20, 220, 50):  # extension lines of chained dimensions: short next to their spacing
        chained[y : y + 1, 200:230] = True
    part = np.zeros_like(thin)
    part[120:121, 200:230] = True
    assert not _among_bars(part, chained)


def test_the_bars_of_a_broken_cage_are_not_dimension_lines():
    """A white cage on an off-white sweep: the flood cut every other bar above its foot, so each bar left is one
    long stroke with a stub beside it, touching the base twice; evenly spaced, they are the product's bars."""
    fg = np.zeros((220, 240), bool)
    fg[190:205, 50:200] = True  # the base
    bars = np.zeros_like(fg)
    for k, x in enumerate(range(60, 190, 14)):
        bars[30 if k % 2 == 0 else 150 : 190, x : x + 2] = True
        if k % 2 == 0:
            bars[170:172, x : x + 16] = True  # a piece of ring to the next bar
    fg |= bars
    kept, removed = remove_overlays(fg, np.zeros((220, 240, 3), np.uint8))
    assert "dimension line" not in removed and kept[bars].mean() > 0.95


def test_a_rod_cut_off_the_product_is_no_swatch():
    fg = np.zeros((240, 300), bool)
    fg[180:210, 40:260] = True  # a scooter's deck
    fg[100:180, 240:248] = True  # the stem standing on it
    fg[20:97, 240:248] = True  # its upper part, cut off by a pale joint: long and thin, filled like a swatch
    kept, removed = remove_overlays(fg, np.zeros((240, 300, 3), np.uint8))
    assert "swatch" not in removed and kept[20:97, 240:248].all()


def test_a_rail_cut_off_at_both_joints_stays_and_a_detached_dimension_line_goes():
    fg = np.zeros((240, 300), bool)
    fg[30:50, 60:240] = True  # the top
    fg[50:200, 70:72] = fg[50:200, 228:230] = True  # two thin legs
    fg[150:152, 75:225] = True  # the rail between them, cut off at both joints by the flood
    fg[220:221, 60:240] = True  # a dimension line below the product, with its end ticks
    fg[215:226, 60:61] = fg[215:226, 239:240] = True
    kept, removed = remove_overlays(fg, np.zeros((240, 300, 3), np.uint8))
    assert kept[150:152, 75:225].all()
    assert "dimension line" in removed and not kept[215:226].any()


def _grey_parts_in_a_floor_shadow(parts: np.ndarray, grey: float = 0.6, depth: float = 0.45,
                                  axes: tuple[int, int] = (120, 9)):
    """A white backdrop with a soft floor shadow (a blurred ellipse of ``axes``, ``depth`` deep at its core) under a
    dark product from which ``parts`` of a ``grey`` level (by default as grey as the shadow's core) reach down into it; the flood
    left the shadow in the foreground. Returns (what the attached shadows pass removes, the shadow outside the
    product)."""
    from pipeline.color import rgb_to_lab
    from pipeline.segment.common import level_of
    from pipeline.segment.studio import _attached_shadows, _edge_strength, gradual

    h, w = parts.shape
    shadow = np.zeros((h, w), np.float32)
    cv2.ellipse(shadow, (180, 205), axes, 0, 0, 360, 1.0, -1)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 6)
    level = 1.0 - depth * shadow / shadow.max()
    body = np.zeros((h, w), bool)
    body[5:106, 120:240] = True
    level[body], level[parts] = 0.15, grey
    rng = np.random.default_rng(0)
    image = np.clip(255 * level[:, :, None] + rng.normal(0, 1.0, (h, w, 1)), 0, 255).repeat(3, axis=2)
    image = cv2.GaussianBlur(image.astype(np.uint8), (0, 0), 0.7)
    cast = (shadow > 0.1 * shadow.max()) & ~parts & ~body
    fg = parts | body | cast
    ratio = image.astype(np.float32) / 255.0
    found = _attached_shadows(ratio, fg, ~fg, _edge_strength(rgb_to_lab(image)), 2.0, gradual=gradual(level_of(ratio)))
    return found, cast


def test_a_grey_part_hanging_into_a_shadow_of_its_grey_is_not_the_shadow():
    """A grey key hangs into the shadow: key and shadow are one region of the backdrop made darker, but the key
    meets the backdrop in a step and the shadow fades into it. The shadow goes, the key stays (but for the tip lost
    in the shadow's core)."""
    key = np.zeros((240, 360), np.uint8)
    cv2.circle(key, (180, 117), 11, 1, -1)  # the head
    key[117:207, 178:182] = 1  # the stem, four pixels wide, down into the shadow's core
    key = key > 0
    found, cast = _grey_parts_in_a_floor_shadow(key)
    assert found[cast].mean() > 0.95
    assert found[key].mean() < 0.1  # main took two thirds of the key with the shadow
    assert not found[:190][key[:190]].any()  # all of it above the shadow's core


def test_the_floor_between_grey_bars_standing_in_a_shadow_is_still_the_shadow():
    """A cage's grey bars and bottom rail stand in the shadow: the floor between them, cut off from the backdrop by
    the bars' steps, goes with the shadow; the bars the shadow took are given back in part."""
    bars = np.zeros((240, 360), bool)
    for x in range(124, 240, 14):
        bars[106:212, x : x + 3] = True
    bars[209:212, 124:239] = True
    found, cast = _grey_parts_in_a_floor_shadow(bars)
    cells = cast.copy()
    cells[:, :124] = cells[:, 239:] = False
    assert found[cast].mean() > 0.9 and found[cells].mean() > 0.9
    assert found[bars].mean() < 0.3  # main took half of them


def test_a_pale_base_lying_in_the_shadow_is_not_the_shadow():
    """A lamp's pale base disc lies in the shadow's core, its stem meeting it from above: disc and shadow are one
    region of the backdrop made darker, and the disc meets no backdrop, but its top is lit, flat and lighter than
    the shade around it by a step, which a shadow (deepest under the product, ramping out) never is. The shadow
    goes, the disc stays (main took all of it)."""
    base = np.zeros((240, 360), np.uint8)
    cv2.ellipse(base, (180, 205), (50, 5), 0, 0, 360, 1, -1)
    base[106:205, 180:182] = 1  # the stem, two pixels wide
    base = base > 0
    found, cast = _grey_parts_in_a_floor_shadow(base, grey=0.97, depth=0.3, axes=(60, 10))
    disc = base.copy()
    disc[:200] = False
    assert found[cast].mean() > 0.9
    assert found[disc].mean() < 0.05  # main took 80% of it


def _ring_in_a_floor_shadow(blue: float = 0.0):
    """A grey ring (4 px, its blue channel ``blue`` times lighter, its red as much darker) stands on a white floor,
    its lower arc running into a floor shadow whose core is as grey as it; the flood left the shadow and the ring's
    inside in the foreground. Returns (what the floor shadows pass removes, the parts it finds lying or running in
    the shadow, the ring, its inside, the shadow)."""
    from pipeline.segment.studio import floor_shadows

    h, w, cy, r = 300, 400, 150, 78
    shadow = np.zeros((h, w), np.float32)
    cv2.ellipse(shadow, (200, cy + r), (120, 8), 0, 0, 360, 1.0, -1)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 8)
    level = 1.0 - 0.34 * shadow / shadow.max()
    ring, inside = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
    cv2.circle(ring, (200, cy), r, 1, 4)
    cv2.circle(inside, (200, cy), r, 1, -1)
    ring, inside = ring > 0, inside > 0
    image = 240 * level[:, :, None].repeat(3, axis=2)
    image[ring] = 240 * 0.69 * np.array([1 - blue, 1, 1 + blue])
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(np.clip(image + rng.normal(0, 1.5, (h, w, 3)), 0, 255).astype(np.uint8), (0, 0), 0.7)
    cast = (level < 0.985) & ~ring
    fg = ring | inside | cast
    found, parts = floor_shadows(image, image.astype(np.float32) / 240.0, fg, ~fg)
    return found, parts, ring, inside, cast


def test_the_arc_of_a_ring_running_into_a_shadow_as_grey_is_not_the_shadow():
    """The watershed from the backdrop and from the product may give a grey ring's lower arc to a floor shadow as
    grey as it. Where it runs in, the arc keeps its two outlines and joins the ring above the shadow: it stays (main
    gave all of its middle to the shadow), and the shadow beside it still goes."""
    found, _, ring, inside, cast = _ring_in_a_floor_shadow()
    middle = np.zeros(ring.shape, np.uint8)
    cv2.circle(middle, (200, 150), 78, 1, 1)  # the arc's middle line, from where it runs in to just above the core
    middle = middle > 0
    middle[: 150 + 78 - 30] = middle[150 + 78 - 8 :] = False
    assert found[middle].mean() < 0.25
    assert found[cast & ~inside].mean() > 0.9


def test_the_arc_of_a_tinted_ring_runs_on_in_its_colour_through_the_shadow():
    """In the shadow's core the ring's arc is as grey as the shadow and has no outline left; a bluish ring's arc
    runs on in its own colour there, and a shadow is the backdrop's colour made darker: the arc stays (main and the
    outlines alone gave its bottom to the shadow), and is a part the holes pass leaves (the shade measured beside it
    is as dark); the shadow beside it still goes."""
    found, parts, ring, inside, cast = _ring_in_a_floor_shadow(blue=0.03)
    bottom = ring.copy()
    bottom[: 150 + 78 - 8] = False
    assert found[bottom].mean() < 0.2 and parts[bottom].mean() > 0.8
    assert found[cast & ~inside].mean() > 0.9


def _pale_top_on_an_offwhite_sweep(seed: int, thickness: int, tint: tuple[float, float, float]):
    """A table top ``thickness`` pixels tall, as light as a noisy, vignetted off-white sweep and ``tint``ed a little
    off it (RGB factors), on two wooden legs, sent as a JPEG. Returns (what is kept, the top, the whole product)."""
    rng = np.random.default_rng(seed)
    h, w = 600, 800
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    level = 1 - 0.04 * (((x - 400) / 400) ** 2 + ((y - 300) / 300) ** 2)  # vignette
    image = np.array((240, 239, 241), np.float32) * level[:, :, None]
    product = np.zeros((h, w), bool)
    product[250:250 + thickness, 180:620] = True
    image[product] *= np.array(tint, np.float32)
    top = product.copy()
    for x0 in (190, 600):
        image[250 + thickness:480, x0:x0 + 6] = (170, 140, 100)  # wooden legs
        product[250 + thickness:480, x0:x0 + 6] = True
    image = np.clip(image + rng.normal(0, 2.5, image.shape), 0, 255).astype(np.uint8)
    return _alpha(image, quality=80) > 0.5, top, product


def test_a_pale_top_tinted_off_the_sweep_keeps_its_matte():
    """A table top as light as a noisy off-white sweep and a little warmer: the tinted pass finds it and the flood
    stops at it, but pixel by pixel it is within the backdrop's noise, and the matting cut it away (main kept 1%).
    Its coarse outline is kept, as a faint face's is; the sweep between the legs is not."""
    kept, top, _ = _pale_top_on_an_offwhite_sweep(2, 14, (1.012, 1.0, 0.985))
    assert kept[254:260, 200:600].mean() > 0.95 and kept[top].mean() > 0.6
    assert not kept[:200].any() and not kept[300:450, 220:580].any()


def test_a_pale_slab_tinted_off_the_sweep_found_in_patches_is_joined_along_its_length():
    """A table top thinner than the tinted pass's smoothing, as light as a noisy off-white sweep and a little warmer:
    JPEG codes its colour in blocks, and the tinted pass finds it only in patches (main kept 60%). Averaged along
    both half-lines from each pixel, its colour is held off the sweep's; nothing beyond its outline, the colour JPEG
    bleeds a few pixels past it aside, is taken, nor the sweep between the legs."""
    kept, top, product = _pale_top_on_an_offwhite_sweep(0, 10, (1.005, 1.0, 0.988))
    assert kept[top].mean() > 0.85
    near = cv2.dilate(product.astype(np.uint8), np.ones((13, 13), np.uint8)) > 0  # the bleed, to within 6 px
    assert kept[~near].sum() < 0.05 * top.sum()
    assert not kept[:240].any() and not kept[300:450, 220:580].any()


def test_a_rail_coloured_off_the_floor_shadow_it_lies_in_is_not_seen_through():
    """A shelf's bottom rail lies in the floor shadow, as dark as the shadow there and a little bluer: pixel by pixel
    within the sweep's noise of the floor seen through the frame above it, and taken with it as an opening (main kept
    none of it). The backdrop seen through an opening is its own colour: the rail is product, the opening a hole."""
    rng = np.random.default_rng(5)
    h, w = 480, 640
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    level = 1 - 0.03 * (((x - 320) / 320) ** 2 + ((y - 240) / 240) ** 2)  # vignette
    shadow = np.zeros((h, w), np.float32)
    cv2.ellipse(shadow, (320, 400), (200, 14), 0, 0, 360, 1.0, -1)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 8)
    image = np.array((242, 241, 243), np.float32) * (level * (1 - 0.3 * shadow / shadow.max()))[:, :, None]
    rail = np.zeros((h, w), bool)
    rail[388:400, 176:464] = True
    image[rail] *= np.array((0.975, 0.99, 1.025), np.float32)
    frame = np.zeros((h, w), bool)
    frame[100:406, 170:176] = frame[100:406, 464:470] = frame[100:106, 170:470] = frame[400:406, 170:470] = True
    image[frame] = (60, 60, 64)
    kept = _alpha(np.clip(image + rng.normal(0, 2.0, image.shape), 0, 255).astype(np.uint8), quality=85) > 0.5
    assert kept[rail].mean() > 0.9
    assert not kept[112:380, 182:458].any()
