"""Dimension lines drawn beside the product go; the product's own thin parts (leaning legs, slats between two rails,
meshes) stay."""

import cv2
import numpy as np

from pipeline.segment import remove_overlays

BLACK = np.zeros((200, 200, 3), np.uint8)


def _line(fg: np.ndarray, p0, p1, width: int = 2) -> np.ndarray:
    stroke = np.zeros(fg.shape, np.uint8)
    cv2.line(stroke, p0, p1, 1, width)
    fg |= stroke > 0
    return stroke > 0


def test_a_leaning_leg_is_not_a_dimension_line():
    fg = np.zeros((200, 200), bool)
    fg[20:60, 60:140] = True  # the body
    leg = _line(fg, (70, 60), (20, 190))  # a thin leg leaning out, beyond the body's outline
    kept, removed = remove_overlays(fg, BLACK)
    assert "dimension line" not in removed and kept[leg].mean() > 0.95


def test_slats_between_a_seat_and_a_back_rail_stay():
    fg = np.zeros((200, 200), bool)
    fg[130:150, 50:150] = True  # the seat
    fg[20:34, 50:150] = True  # the back rail, a smaller solid part above it
    slats = np.zeros(fg.shape, bool)
    for x in (60, 80, 100, 120, 140):
        slats |= _line(fg, (x, 34), (x, 130))
    kept, removed = remove_overlays(fg, BLACK)
    assert "dimension line" not in removed and kept[slats].mean() > 0.95


def test_a_wire_mesh_hanging_below_the_product_stays():
    fg = np.zeros((200, 200), bool)
    fg[20:60, 60:140] = True
    mesh = np.zeros(fg.shape, bool)
    for x in range(62, 140, 12):
        mesh |= _line(fg, (x, 60), (x, 180), 1)
    for y in range(72, 181, 12):
        mesh |= _line(fg, (62, y), (134, y), 1)
    kept, removed = remove_overlays(fg, BLACK)
    assert "dimension line" not in removed and kept[mesh].mean() > 0.95


def test_a_plumb_dimension_line_beside_a_product_of_two_parts_goes():
    fg = np.zeros((200, 200), bool)
    fg[40:100, 80:160] = True  # a cabinet's upper part
    fg[110:170, 80:160] = True  # its lower part, joined to the upper by two thin rods
    for x in (90, 150):
        _line(fg, (x, 100), (x, 110))
    line = _line(fg, (60, 40), (60, 170), 1)
    for y in (40, 169):
        line |= _line(fg, (56, y), (81, y), 1)  # end ticks touching the product
    kept, removed = remove_overlays(fg, BLACK)
    assert "dimension line" in removed
    assert kept[line & (np.arange(200)[None, :] < 75)].sum() == 0
    assert kept[42:98, 82:158].all() and kept[112:168, 82:158].all()


def test_a_level_dimension_line_under_the_product_goes():
    fg = np.zeros((200, 200), bool)
    fg[30:150, 40:160] = True
    line = _line(fg, (40, 175), (160, 175), 1)
    kept, removed = remove_overlays(fg, BLACK)
    assert not kept[line].any() and kept[32:148, 42:158].all()


def test_a_leaning_leg_of_a_product_of_two_parts_stays():
    fg = np.zeros((200, 200), bool)
    fg[110:126, 60:140] = True  # a seat
    fg[20:34, 60:140] = True  # its back rail
    for x in (80, 120):
        _line(fg, (x, 34), (x, 110))
    leg = _line(fg, (66, 126), (30, 195))  # a leg leaning out beyond the outline of seat and back
    kept, removed = remove_overlays(fg, BLACK)
    assert "dimension line" not in removed and kept[leg].mean() > 0.95


def test_a_level_dimension_line_with_end_ticks_under_a_product_of_two_parts_goes():
    fg = np.zeros((200, 200), bool)
    fg[20:80, 50:150] = True
    fg[90:160, 50:150] = True
    for x in (60, 140):
        _line(fg, (x, 80), (x, 90))
    line = _line(fg, (50, 180), (149, 180), 1)
    for x in (50, 149):
        line |= _line(fg, (x, 159), (x, 184), 1)  # end ticks touching the product
    kept, removed = remove_overlays(fg, BLACK)
    assert "dimension line" in removed and kept[line & (np.arange(200)[:, None] > 165)].sum() == 0


def test_a_plumb_stem_and_its_level_bar_hanging_from_the_body_stay():
    """A scooter's stem rises plumb from its deck and carries a level handlebar: one stroke (with a bar on it) that
    hangs from the body at one place, not a dimension line, however plumb."""
    fg = np.zeros((200, 200), bool)
    fg[170:180, 30:150] = True  # the deck
    stem = _line(fg, (140, 170), (140, 20), 3)
    stem |= _line(fg, (120, 20), (160, 20), 3)  # the handlebar
    kept, removed = remove_overlays(fg, BLACK)
    assert "dimension line" not in removed and kept[stem].mean() > 0.95


def test_plumb_legs_under_a_thin_top_stay():
    fg = np.zeros((200, 200), bool)
    fg[40:52, 20:180] = True  # the tabletop
    legs = _line(fg, (30, 52), (30, 190), 2) | _line(fg, (170, 52), (170, 190), 2)
    kept, removed = remove_overlays(fg, BLACK)
    assert "dimension line" not in removed and kept[legs].mean() > 0.95



def test_plumb_rods_joining_the_top_to_small_feet_stay():
    """Legs that run end-on from the top into small solid feet touch the body at both ends, as a dimension line with
    end ticks does; but they meet it on their own axis, not through ticks standing across them."""
    fg = np.zeros((400, 400), bool)
    fg[60:72, 40:360] = True  # the tabletop
    legs = _line(fg, (60, 72), (60, 350), 2) | _line(fg, (340, 72), (340, 350), 2)
    for x in (60, 340):
        fg[350:358, x - 4 : x + 4] = True  # a small foot under each leg
    kept, removed = remove_overlays(fg, np.zeros((400, 400, 3), np.uint8))
    assert "dimension line" not in removed and kept[legs].mean() > 0.95


def test_small_round_wheels_on_thin_legs_stay():
    """A cart's wheels are round solid parts hanging on thin legs, like an inset circle on its pointer line; but an
    inset shows a detail enlarged, and a wheel is small beside the photo."""
    fg = np.zeros((400, 400), bool)
    fg[100:180, 80:320] = True  # the basket
    legs = _line(fg, (100, 180), (100, 340), 2) | _line(fg, (300, 180), (300, 340), 2)
    wheels = np.zeros(fg.shape, np.uint8)
    for x in (100, 300):
        cv2.circle(wheels, (x, 350), 9, 1, -1)
    fg |= wheels > 0
    kept, removed = remove_overlays(fg, np.zeros((400, 400, 3), np.uint8))
    assert "inset" not in removed and kept[wheels > 0].all() and kept[legs].mean() > 0.95
