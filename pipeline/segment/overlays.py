"""Pass ``overlays``: what was drawn on the photo rather than photographed (colour swatches, inset circles and their
pointer lines, dimension lines and their labels, specks) is dropped; every product of a set is kept."""

from __future__ import annotations

import cv2
import numpy as np

SWATCH_ASPECT = 4.0  # a colour swatch is a square or a short rectangle; a rod cut off the product is longer
INSET_RADIUS = 0.04  # an inset circle shows a detail enlarged: at least this share of the photo's side across (a
# wheel or a knob is smaller)


def remove_overlays(fg: np.ndarray, image: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Drop specks and overlays drawn on the photo (colour swatches, inset circles and their pointer lines,
    detached dimension lines); keep every product of a set."""
    radius = max(2, round(0.005 * max(fg.shape)))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    body = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_OPEN, disk) > 0
    n, labels, stats, _ = cv2.connectedComponentsWithStats(body.astype(np.uint8), connectivity=8)
    if n <= 2:
        return _drop_lines(fg, body)
    areas = stats[1:, cv2.CC_STAT_AREA]
    main = 1 + int(np.argmax(areas))
    overlay = np.zeros(n, bool)
    removed: list[str] = []
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if i == main or area < max(12, fg.size * 0.0005):
            continue
        small = area < areas.max() * 0.35
        comp = (labels[y : y + h, x : x + w] == i).astype(np.uint8)
        contours, _ = cv2.findContours(comp, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        (_, _), r = cv2.minEnclosingCircle(max(contours, key=cv2.contourArea))
        patch = max(w, h) <= SWATCH_ASPECT * min(w, h)  # a swatch is a patch of colour, not a bar
        if small and patch and area / float(w * h) > 0.95 and area < areas.max() * 0.1:
            overlay[i] = True
            removed.append("swatch")
        elif small and r >= INSET_RADIUS * max(fg.shape) and area / (np.pi * r * r + 1e-6) > 0.8:
            overlay[i] = True
            removed.append("inset")
    if not overlay.any():
        return _drop_lines(fg, body)
    drop = overlay[labels]
    # Pointer lines hang from the removed overlays: thin parts of the mask that touch them go too.
    thin = fg & ~body
    touching = cv2.dilate(drop.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    tn, tlabels = cv2.connectedComponents(thin.astype(np.uint8), connectivity=8)
    hit = np.zeros(tn, bool)
    hit[np.unique(tlabels[touching & thin])] = True
    hit[0] = False
    grown = cv2.dilate(drop.astype(np.uint8), disk) > 0
    kept = fg & ~(grown & fg & ~body) & ~drop & ~hit[tlabels]
    kept, lines = _drop_detached_lines(kept, body & ~drop)
    return kept, sorted(set(removed + lines))


def _drop_lines(fg: np.ndarray, body: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """A photo with no swatch or inset: only its dimension lines, beside the product or detached from it, go."""
    fg, outside = _drop_lines_outside(fg, body)
    fg, lines = _drop_detached_lines(fg, body)
    return fg, sorted(set(outside + lines))


def _drop_lines_outside(fg: np.ndarray, body: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Dimension lines and their labels drawn beside the product: thin strokes (no solid body) lying outside the
    outline of the product's solid parts, and the small labels hanging on them. Thin parts of the product itself
    (legs, wires, rails, slats between two rails) lie within that outline."""
    n_body, body_labels, body_stats, _ = cv2.connectedComponentsWithStats(body.astype(np.uint8), connectivity=8)
    if n_body <= 1:
        return fg, []
    main = 1 + int(np.argmax(body_stats[1:, cv2.CC_STAT_AREA]))
    # The outline of every solid part of the product together (a chair's back rail and its seat frame its slats).
    parts = body_stats[:, cv2.CC_STAT_AREA] >= 0.05 * body_stats[main, cv2.CC_STAT_AREA]
    parts[0] = False
    hull = np.zeros(fg.shape, np.uint8)
    # The hull of the parts is the hull of their outer outlines (far fewer points than their pixels).
    outlines, _ = cv2.findContours(parts[body_labels].astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.concatenate(outlines)), 1)
    inside = hull > 0
    thin = fg & ~body
    n, labels, stats, _ = cv2.connectedComponentsWithStats(thin.astype(np.uint8), connectivity=8)
    if n <= 1:
        return fg, []
    outside = np.bincount(labels.ravel(), weights=~inside.ravel(), minlength=n) / np.maximum(stats[:, cv2.CC_STAT_AREA], 1)
    long_side = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    lines = (outside > 0.5) & (long_side >= 0.05 * max(fg.shape))
    lines[0] = False
    bare = stats[:, cv2.CC_STAT_AREA] <= 3.0 * long_side  # one stroke a pixel or two wide, no label written on it
    for i in np.nonzero(lines)[0]:
        part = labels == i
        # A leg, a stem or a rod hangs from the body at one place, or joins two parts end-on, plumb, level or
        # leaning; a dimension line is drawn beside the product, touching it with its end ticks or not at all. A
        # bar of a cage or a grille stands among its like, and a rail the flood cut off bridges two parts.
        if _hangs_from(part, body) or _joins_end_on(part, body) or _meets_end_on_at_its_end(part, body):
            lines[i] = False
        elif _among_bars(part, thin) or _bridges(part, fg):
            lines[i] = False
        elif bare[i]:
            lines[i] = True
        else:  # a stroke with its label written on it; a mesh or a row of slats is no single stroke
            lines[i] = _axis_aligned(part)
    if not lines.any():
        return fg, []
    dropped = lines[labels]
    kept = fg & ~dropped
    # Labels: small solid pieces outside the main outline that hung on a dropped line.
    near_line = cv2.dilate(dropped.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    m, parts, part_stats, _ = cv2.connectedComponentsWithStats(kept.astype(np.uint8), connectivity=8)
    main_area = body_stats[main, cv2.CC_STAT_AREA]
    idx = parts.ravel()
    share_out = np.bincount(idx, weights=~inside.ravel(), minlength=m) / np.maximum(part_stats[:, cv2.CC_STAT_AREA], 1)
    touches = np.bincount(idx, weights=near_line.ravel(), minlength=m) > 0
    has_main = np.bincount(idx, weights=(body_labels == main).ravel(), minlength=m) > 0
    label = touches & ~has_main & (share_out > 0.6) & (part_stats[:, cv2.CC_STAT_AREA] < 0.05 * main_area)
    label[0] = False
    return kept & ~label[parts], ["dimension line"]


def _axis_aligned(part: np.ndarray, tolerance_deg: float = 2.0) -> bool:
    """A dimension line is one straight stroke (its end ticks aside), drawn level or plumb; legs and rods lean as
    the product stands, and a mesh or a row of slats is no single stroke."""
    found = _stroke_axis(part, fits=1)
    if found is None:
        return False
    major, normal, axis, _, pts = found
    angle = abs(np.degrees(np.arctan2(major[1], major[0]))) % 90.0
    off_axis = np.abs(normal @ pts - axis)  # the stroke itself, not the mean that its label pulls aside
    return min(angle, 90.0 - angle) <= tolerance_deg and float((off_axis <= 2.5).mean()) >= 0.6


def _hangs_from(part: np.ndarray, body: np.ndarray) -> bool:
    """A leg, a rod or a wire hangs from the body at one place; a dimension line is drawn beside it, touching it at
    both end ticks or not at all."""
    touch = part & (cv2.dilate(body.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    if not touch.any():
        return False
    n, _ = cv2.connectedComponents(cv2.dilate(touch.astype(np.uint8), np.ones((5, 5), np.uint8)), connectivity=8)
    return n - 1 == 1


def _joins_end_on(part: np.ndarray, body: np.ndarray) -> bool:
    """A rod or a bar between two solid parts meets them end-on: where it touches them lies on its own axis. A
    dimension line touches the product, if at all, with end ticks standing across it, off its axis."""
    touch = part & (cv2.dilate(body.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    found = _stroke_axis(part, fits=1)
    if not touch.any() or found is None:
        return False
    _, normal, axis, width, _ = found
    ty, tx = np.nonzero(touch)
    return bool(np.abs(normal @ np.stack([tx, ty]) - axis).max() <= 2.0 + width)


def _stroke_axis(part: np.ndarray, fits: int = 3) -> tuple[np.ndarray, np.ndarray, float, float, np.ndarray] | None:
    """The stroke's direction, its normal, where it runs across that normal (the stroke itself, not the mean that
    ticks or a label pull aside), its width, and its pixels as points; fitted up to ``fits`` times, each time on the
    pixels near the last axis (without the pieces that hang on the stroke)."""
    ys, xs = np.nonzero(part)
    if len(xs) < 3:
        return None
    pts = np.stack([xs, ys]).astype(np.float64)
    on_stroke = np.ones(len(xs), bool)
    for _ in range(fits):
        evals, evecs = np.linalg.eigh(np.cov(pts[:, on_stroke]))
        major = evecs[:, int(np.argmax(evals))]
        normal = np.array([-major[1], major[0]])
        across = normal @ pts
        axis = float(np.median(across[on_stroke]))
        width = on_stroke.sum() / max(1.0, float(np.ptp(major @ pts[:, on_stroke])))
        near = np.abs(across - axis) <= 2.5 + width
        if near.sum() < 3 or (near == on_stroke).all():
            break
        on_stroke = near
    return major, normal, axis, width, pts


def _meets_end_on_at_its_end(part: np.ndarray, body: np.ndarray) -> bool:
    """A leg stands under the body it holds up: its upper end meets the body end-on, on its own axis (a table's leg
    under the top, whatever else it touches lower down). A dimension line meets the product with end ticks standing
    across it, off its axis, and at most runs down into the floor shadow."""
    touch = part & (cv2.dilate(body.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    found = _stroke_axis(part)
    if not touch.any() or found is None:
        return False
    major, normal, axis, width, pts = found
    if abs(major[1]) < abs(major[0]):  # lying rather than standing: no leg
        return False
    along = major @ pts
    top = float(along.min()) if major[1] > 0 else float(along.max())  # the end with the smaller row
    n, places = cv2.connectedComponents(cv2.dilate(touch.astype(np.uint8), np.ones((5, 5), np.uint8)), connectivity=8)
    for k in range(1, n):
        ty, tx = np.nonzero(touch & (places == k))
        if not len(tx):
            continue
        at = np.stack([tx, ty]).astype(np.float64)
        on_axis = np.abs(normal @ at - axis).max() <= 2.0 + width
        at_end = abs(float(np.median(major @ at)) - top) <= 3.0 + width
        if on_axis and at_end:
            return True
    return False


def _among_bars(part: np.ndarray, thin: np.ndarray, min_bars: int = 4) -> bool:
    """The bars of a cage, a grille or a rack stand side by side, parallel and evenly spaced, close next to their
    length; a dimension line stands alone, or beside one or two others of different lengths. Counted on the thin
    strokes within the stroke's own span: each bar is a narrow ridge of the profile across it."""
    found = _stroke_axis(part)
    if found is None:
        return False
    major, normal, axis, width, pts = found
    along = major @ pts
    lo, hi = float(along.min()), float(along.max())
    span = hi - lo
    ty, tx = np.nonzero(thin)
    q = np.stack([tx, ty]).astype(np.float64)
    a, c = major @ q, normal @ q - axis
    inside = (a >= lo) & (a <= hi) & (np.abs(c) <= span)  # the strokes beside it, as far out as it is long
    if span < 8 or not inside.any():
        return False
    centre = int(np.ceil(span))
    offset = np.round(c[inside]).astype(int) + centre
    profile = np.bincount(offset, minlength=2 * centre + 1).astype(np.float64)
    ridge = profile >= 0.4 * span
    n, _, stats, centroids = cv2.connectedComponentsWithStats(ridge.astype(np.uint8)[None, :], connectivity=4)
    bars = sorted(float(centroids[k, 0]) for k in range(1, n) if stats[k, cv2.CC_STAT_WIDTH] <= 2 * width + 3)
    if len(bars) < min_bars:
        return False
    own = int(np.argmin([abs(b - centre) for b in bars]))
    if abs(bars[own] - centre) > 2.0 + width:
        return False
    gaps = np.diff(bars)
    step = float(np.median(gaps))
    if step > 0.5 * span:  # bars farther apart than half their length are no grille
        return False
    even = (gaps >= 0.7 * step) & (gaps <= 1.3 * step)
    # the run of evenly spaced bars that holds this stroke
    first = own
    while first > 0 and even[first - 1]:
        first -= 1
    last = own
    while last < len(gaps) and even[last]:
        last += 1
    return last - first + 1 >= min_bars


def _drop_detached_lines(fg: np.ndarray, body: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Components that are only thin strokes (no solid body) and small next to the product: lines and text. A rod
    the flood cut off at both joints (a rail between two legs) stays."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
    if n <= 2:
        return fg, []
    areas = stats[1:, cv2.CC_STAT_AREA]
    solid = np.bincount(labels.ravel(), weights=body.ravel(), minlength=n)
    keep = np.ones(n, bool)
    keep[0] = False
    for i in range(1, n):
        area = stats[i, cv2.CC_STAT_AREA]
        if area < max(12, fg.size * 0.0005):
            keep[i] = False
        elif solid[i] < 0.05 * area and area < areas.max() * 0.2:
            keep[i] = _bridges(labels == i, fg)
    dropped = [i for i in range(1, n) if not keep[i] and stats[i, cv2.CC_STAT_AREA] >= max(12, fg.size * 0.0005)]
    return keep[labels], (["line"] if dropped else [])


def _bridges(part: np.ndarray, fg: np.ndarray, gap: int = 8) -> bool:
    """A rail or a rod cut off the product at both joints: one straight stroke, its ends no wider than itself (no
    arrowhead, no end tick), and the product going on just past each end, on its axis. A dimension line ends in
    ticks or arrowheads, or at one end in nothing."""
    found = _stroke_axis(part)
    if found is None:
        return False
    major, normal, axis, width, pts = found
    along, across = major @ pts, normal @ pts - axis
    on_axis = np.abs(across) <= 2.0 + width
    if on_axis.mean() < 0.9:  # text, or a line with its label
        return False
    ys, xs = np.nonzero(fg & ~part)
    if not len(xs):
        return False
    other = np.stack([xs, ys]).astype(np.float64)
    o_along, o_across = major @ other, normal @ other - axis
    o_on_axis = np.abs(o_across) <= 2.0 + width
    for end, sign in ((along.min(), -1.0), (along.max(), 1.0)):
        near_end = np.abs(along - end) <= 2.0 + width
        if np.ptp(across[near_end]) > 2.0 * width + 2.0:  # a tick or an arrowhead across the end
            return False
        past = sign * (o_along - end)
        if not ((past > 0) & (past <= gap) & o_on_axis).any():
            return False
    return True
