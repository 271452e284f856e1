"""Stage 3a, segment (embedded classical backend): a soft alpha matte of the product.

Steps, at a working size of at most ~0.3 MP: the backdrop model from the border; pixels that look like the
backdrop or like its shadow (neutral, darker, smooth) are flooded from the border, blocked by edges, so the
product's own shadow stays out and white-on-white parts stay in; enclosed regions are holes only when they match the
backdrop; detached overlays (swatches, inset circles, dimension lines) are dropped; GrabCut settles the uncertain band;
closed-form matting (pymatting) makes the edge soft. The alpha is then upsampled to full size guided by the full-size
image, and edge colours are decontaminated against the known backdrop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np
from pymatting import estimate_alpha_cf, estimate_foreground_ml

from .backdrop import BackdropModel, border_mask, fit_backdrop
from .color import delta_e76, lab_to_rgb, rgb_to_lab
from .errors import ProductNotFound
from .types import Matte, Normalized

log = logging.getLogger(__name__)

WORK_SIDE = 768
WORK_PIXELS = 300_000
HALO_DEPTH, HALO_PALE_DE, HALO_CONTRAST_DE = 3, 12.0, 30.0  # see _open_halo
GRABCUT_SIDE = 288  # scene photos: 2.5x faster than 384 px, masks as close as two runs at 384 are (bench)


@dataclass(frozen=True, eq=False)
class Coarse:
    """Hard foreground at the working size, with what the refinement needs."""

    mask: np.ndarray  # bool HxW at the working size
    image: np.ndarray  # RGB uint8 at the working size
    scale: float  # working / normalized
    model: BackdropModel | None
    removed: tuple[str, ...]
    holes: np.ndarray  # bool HxW: enclosed backdrop seen through the product


def working_scale(size: tuple[int, int], side: int = WORK_SIDE, pixels: int = WORK_PIXELS) -> float:
    w, h = size
    return float(min(1.0, side / max(w, h), (pixels / (w * h)) ** 0.5))


def resize_to(img: np.ndarray, scale: float, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    if scale == 1.0:
        return img
    h, w = img.shape[:2]
    return cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interpolation)


def _flood_from_border(passable: np.ndarray) -> np.ndarray:
    n, labels = cv2.connectedComponents(passable.astype(np.uint8), connectivity=4)
    edge_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    edge_labels = edge_labels[edge_labels > 0]
    reached = np.zeros(n, bool)
    reached[edge_labels] = True
    return reached[labels] & passable


def backdrop_foreground(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, BackdropModel]:
    """Foreground (bool) and enclosed holes (bool) on a white or plain backdrop, at the size of ``image``."""
    lab = rgb_to_lab(image)
    h, w = lab.shape[:2]
    model, dist = fit_backdrop(lab, border_mask(h, w))
    bg = model.predict(h, w)
    n = model.noise
    d_l = lab[:, :, 0] - bg[:, :, 0]
    d_c = np.hypot(lab[:, :, 1] - bg[:, :, 1], lab[:, :, 2] - bg[:, :, 2])
    t_bg = max(2.0, 3.5 * n)
    grad = cv2.morphologyEx(cv2.GaussianBlur(lab, (3, 3), 0.6), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    grad = np.sqrt((grad**2).sum(axis=2))
    # A shadow is the backdrop, darker, with the same hue, changing slowly.
    shadow = (d_c < max(3.0, 3.0 * n)) & (d_l < 0) & (d_l > -45) & (grad < max(2.5, 4 * n))
    like_bg = (dist < t_bg) | shadow
    edge_t = max(2.0, 5.0 * n)
    edges = cv2.dilate((grad > edge_t).astype(np.uint8), np.ones((2, 2), np.uint8)) > 0
    background = _flood_from_border(like_bg & ~edges)
    # Let the backdrop take the edge pixels that look like it, so the boundary sits on the product's own edge.
    background = _grow_within(background, dist < t_bg, steps=2)
    # Each pixel as a fraction of the backdrop's own colour there (1 = the backdrop, below 1 = darker).
    ratio = image.astype(np.float32) / np.maximum(lab_to_rgb(bg).astype(np.float32), 8.0)
    fg = ~background | _outlined_panels(ratio, background, dist < t_bg * 0.5, grad > edge_t)
    fg &= ~_attached_shadows(ratio, fg, background, grad, edge_t)
    holes = _backdrop_holes(like_bg & ~edges & fg, dist, t_bg)
    return fg & ~holes, holes, model


def _outlined_panels(ratio: np.ndarray, background: np.ndarray, exact_bg: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """White product faces the flood entered where the product meets a shadow of the same grey: inside the flooded
    backdrop, large regions a constant step darker than the backdrop (a shadow fades instead) whose outline is mostly
    a real edge (a shadow's is soft)."""
    h, w = background.shape
    level = ratio.mean(axis=2)
    darker = (background & ~exact_bg & (level < 0.985)).astype(np.uint8)
    r = max(2, round(0.006 * max(h, w)))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    cores = cv2.morphologyEx(darker, cv2.MORPH_OPEN, disk)  # cuts the thin joins between a face and a shadow
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cores, connectivity=4)
    if n <= 1:
        return np.zeros_like(background)
    idx = labels.ravel()
    area = np.maximum(stats[:, cv2.CC_STAT_AREA], 1).astype(np.float64)
    mean = np.bincount(idx, weights=level.ravel(), minlength=n) / area
    std = np.sqrt(np.maximum(np.bincount(idx, weights=level.ravel() ** 2, minlength=n) / area - mean**2, 0))
    candidates = (area >= background.size * 0.004) & (std < 0.012) & (mean > 0.85)
    candidates[0] = False
    out = np.zeros_like(background)
    ring_k = np.ones((3, 3), np.uint8)
    near_edges = cv2.dilate(edges.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    for i in np.nonzero(candidates)[0]:
        comp = cv2.dilate((labels == i).astype(np.uint8), disk) & darker  # back to the full face
        outline = (cv2.morphologyEx(comp, cv2.MORPH_GRADIENT, ring_k) > 0) & ~(comp > 0)
        if outline.any() and near_edges[outline].mean() > 0.6:
            out |= comp > 0
    return out


def _attached_shadows(ratio: np.ndarray, fg: np.ndarray, background: np.ndarray, grad: np.ndarray,
                      edge_t: float) -> np.ndarray:
    """Shadows the flood could not enter (their ramps read as edges): regions of the foreground that are the
    backdrop's colour made darker, graded rather than flat (a flat one is a white panel), touching the backdrop,
    in the lower part of the product."""
    level = ratio.mean(axis=2)
    tint = fg & (level > 0.3) & (level < 0.985) & (ratio.max(axis=2) - ratio.min(axis=2) < 0.07)
    tint &= grad < edge_t * 6  # not across a hard product edge
    n, labels, stats, _ = cv2.connectedComponentsWithStats(tint.astype(np.uint8), connectivity=4)
    if n <= 1:
        return np.zeros_like(fg)
    ys = np.nonzero(fg.any(axis=1))[0]
    top, bottom = ys[0], ys[-1]
    near_bg = cv2.dilate(background.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    idx = labels.ravel()
    area = np.maximum(stats[:, cv2.CC_STAT_AREA], 1).astype(np.float64)
    mean = np.bincount(idx, weights=level.ravel(), minlength=n) / area
    std = np.sqrt(np.maximum(np.bincount(idx, weights=level.ravel() ** 2, minlength=n) / area - mean**2, 0))
    touches = np.bincount(idx, weights=near_bg.ravel(), minlength=n) > 0
    cy = stats[:, cv2.CC_STAT_TOP] + stats[:, cv2.CC_STAT_HEIGHT] / 2
    lower = cy > top + 0.6 * (bottom - top)
    # A floor shadow is a small, flat share of the product, never a tall block.
    small = (area < 0.25 * fg.sum()) & (stats[:, cv2.CC_STAT_HEIGHT] < 0.2 * (bottom - top + 1))
    heights = stats[:, cv2.CC_STAT_HEIGHT]
    # A thin wide strip along the bottom is the floor's contact shadow even when it is flat.
    strip = (heights <= max(3, 0.02 * (bottom - top + 1))) & (stats[:, cv2.CC_STAT_WIDTH] >= 4 * heights)
    # The shadow under a sofa or a table: large, but dark, graded, and reaching down to the ground line.
    reaches_ground = stats[:, cv2.CC_STAT_TOP] + heights >= bottom - 0.03 * (bottom - top + 1)
    under = reaches_ground & (area < 0.4 * fg.sum()) & (std > 0.025) & (mean < 0.8)
    # A shadow beside a leg or a thin part: any height, but graded and meeting the backdrop without an edge (a white
    # panel meets it with one, however faint).
    rim = near_bg & ~fg
    rim_labels = cv2.dilate(labels.astype(np.float32), np.ones((3, 3), np.uint8)).astype(np.int64)
    on_rim = rim & (rim_labels > 0)
    rim_n = np.bincount(rim_labels[on_rim], minlength=n)
    rim_grad = np.bincount(rim_labels[on_rim], weights=grad[on_rim], minlength=n) / np.maximum(rim_n, 1)
    beside = (rim_n >= 8) & (rim_grad < edge_t) & (area < 0.25 * fg.sum()) & (std > 0.012)
    shadow = touches & ((lower & ((small & ((std > 0.025) | (mean < 0.85) | strip)) | under)) | beside)
    shadow[0] = False
    return shadow[labels]


def _backdrop_holes(candidates: np.ndarray, dist: np.ndarray, t_bg: float) -> np.ndarray:
    """Enclosed regions that match the backdrop itself (not just its shadow): see-through gaps in the product."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(candidates.astype(np.uint8), connectivity=4)
    if n <= 1:
        return np.zeros_like(candidates)
    min_area = max(6, candidates.size // 20000)
    idx = labels.ravel()
    sums = np.bincount(idx, weights=(dist.ravel() < t_bg * 0.75), minlength=n)
    share = sums / np.maximum(stats[:, cv2.CC_STAT_AREA], 1)
    is_hole = (share > 0.9) & (stats[:, cv2.CC_STAT_AREA] >= min_area)
    is_hole[0] = False
    holes = is_hole[labels]
    return _grow_within(holes, dist < t_bg, steps=3)  # into the edge pixels that look like the backdrop


def _grow_within(region: np.ndarray, allowed: np.ndarray, steps: int) -> np.ndarray:
    """Grow ``region`` pixel by pixel, only onto ``allowed`` pixels."""
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(steps):
        region = region | ((cv2.dilate(region.astype(np.uint8), kernel) > 0) & allowed)
    return region


def remove_overlays(fg: np.ndarray, image: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Drop specks and overlays drawn on the photo (colour swatches, inset circles and their pointer lines,
    detached dimension lines); keep every product of a set."""
    radius = max(2, round(0.005 * max(fg.shape)))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    body = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_OPEN, disk) > 0
    n, labels, stats, _ = cv2.connectedComponentsWithStats(body.astype(np.uint8), connectivity=8)
    if n <= 2:
        return _drop_detached_lines(fg, body)
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
        if small and area / float(w * h) > 0.95 and area < areas.max() * 0.1:
            overlay[i] = True
            removed.append("swatch")
        elif small and area / (np.pi * r * r + 1e-6) > 0.8:
            overlay[i] = True
            removed.append("inset")
    if not overlay.any():
        fg, outside = _drop_lines_outside(fg, body)
        fg, lines = _drop_detached_lines(fg, body)
        return fg, sorted(set(outside + lines))
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
    cv2.fillConvexPoly(hull, cv2.convexHull(cv2.findNonZero(parts[body_labels].astype(np.uint8))), 1)
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
    for i in np.nonzero(lines & bare)[0]:
        part = labels == i
        lines[i] = _axis_aligned(part) or not _hangs_from(part, body)  # a leaning leg hangs from the body
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
    ys, xs = np.nonzero(part)
    if len(xs) < 3:
        return False
    pts = np.stack([xs, ys]).astype(np.float64)
    centre = pts.mean(axis=1, keepdims=True)
    evals, evecs = np.linalg.eigh(np.cov(pts))
    major = evecs[:, int(np.argmax(evals))]
    angle = abs(np.degrees(np.arctan2(major[1], major[0]))) % 90.0
    across = np.array([-major[1], major[0]]) @ (pts - centre)
    off_axis = np.abs(across - np.median(across))  # the stroke itself, not the mean that its label pulls aside
    return min(angle, 90.0 - angle) <= tolerance_deg and float((off_axis <= 2.5).mean()) >= 0.6


def _hangs_from(part: np.ndarray, body: np.ndarray) -> bool:
    """A leg, a rod or a wire hangs from the body at one place; a dimension line is drawn beside it, touching it at
    both end ticks or not at all."""
    touch = part & (cv2.dilate(body.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    if not touch.any():
        return False
    n, _ = cv2.connectedComponents(cv2.dilate(touch.astype(np.uint8), np.ones((5, 5), np.uint8)), connectivity=8)
    return n - 1 == 1


def _drop_detached_lines(fg: np.ndarray, body: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Components that are only thin strokes (no solid body) and small next to the product: lines and text."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
    if n <= 2:
        return fg, []
    areas = stats[1:, cv2.CC_STAT_AREA]
    solid = np.bincount(labels.ravel(), weights=body.ravel(), minlength=n)
    keep = np.ones(n, bool)
    keep[0] = False
    for i in range(1, n):
        area = stats[i, cv2.CC_STAT_AREA]
        if area < max(12, fg.size * 0.0005) or (solid[i] < 0.05 * area and area < areas.max() * 0.2):
            keep[i] = False
    dropped = [i for i in range(1, n) if not keep[i] and stats[i, cv2.CC_STAT_AREA] >= max(12, fg.size * 0.0005)]
    return keep[labels], (["line"] if dropped else [])


def _fill_small_gaps(fg: np.ndarray) -> np.ndarray:
    k = np.ones((3, 3), np.uint8)
    return cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_CLOSE, k).astype(bool) | fg


def scene_foreground(image: np.ndarray) -> np.ndarray:
    """Product in a room photo: GrabCut from a centred rectangle (rough; scene photos are kept by default)."""
    h, w = image.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    rect = (int(w * 0.06), int(h * 0.06), int(w * 0.88), int(h * 0.88))
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(0)  # GrabCut seeds its colour models with k-means: the same photo gives the same mask
    cv2.grabCut(image, mask, rect, bgd, fgd, 4, cv2.GC_INIT_WITH_RECT)
    fg = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
    if n > 1:
        fg = labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return fg


def whole_photo_matte(norm: Normalized) -> Matte:
    """A scene photo in which no product stands out, kept as it is: the whole frame is its subject."""
    h, w = norm.image.shape[:2]
    return Matte(alpha=np.ones((h, w), np.float32), foreground=norm.image.copy(), bbox=(0, 0, w, h), removed=(),
                 backend="whole-photo")


def coarse_foreground(norm: Normalized) -> Coarse:
    """The product as a hard mask at the working size; used by analyze and refined by :func:`segment`."""
    scale = working_scale(norm.size)
    image = resize_to(norm.image, scale)
    holes = np.zeros(image.shape[:2], bool)
    removed: list[str] = []
    model = None
    if norm.alpha_prior is not None and (norm.alpha_prior < 128).mean() > 0.01:
        fg = resize_to(norm.alpha_prior, scale) >= 128
    elif norm.background.kind == "scene":
        fg = scene_foreground(resize_to(image, GRABCUT_SIDE / max(image.shape[:2])) if max(image.shape[:2]) > GRABCUT_SIDE else image)
        fg = cv2.resize(fg.astype(np.uint8), (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    else:
        fg, holes, model = backdrop_foreground(image)
        fg = _fill_small_gaps(fg) & ~holes
        fg, removed = remove_overlays(fg, image)
    if fg.sum() < max(16, fg.size * 0.001):
        raise ProductNotFound(
            "No product stands out from the background. Check that the photo shows a product and is not blank."
        )
    return Coarse(mask=fg, image=image, scale=scale, model=model, removed=tuple(removed), holes=holes)


def _grabcut_band(image: np.ndarray, fg: np.ndarray, band: int) -> np.ndarray:
    """Let GrabCut decide the ``band`` pixels either side of the boundary; the rest is fixed."""
    k = np.ones((3, 3), np.uint8)
    inner = cv2.erode(fg.astype(np.uint8), k, iterations=band) > 0
    outer = cv2.dilate(fg.astype(np.uint8), k, iterations=band) > 0
    mask = np.full(fg.shape, cv2.GC_BGD, np.uint8)
    mask[outer] = cv2.GC_PR_BGD
    mask[fg & outer] = cv2.GC_PR_FGD
    mask[inner] = cv2.GC_FGD
    if not (mask == cv2.GC_BGD).any() or not (mask == cv2.GC_FGD).any():
        return fg
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    try:
        cv2.setRNGSeed(0)
        cv2.grabCut(image, mask, None, bgd, fgd, 2, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return fg
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)


def _guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter with a grey guide (float32 0-1), built from box filters."""
    size = (2 * radius + 1, 2 * radius + 1)
    box = lambda x: cv2.boxFilter(x, cv2.CV_32F, size, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    mean_i, mean_p = box(guide), box(src)
    cov_ip = box(guide * src) - mean_i * mean_p
    var_i = box(guide * guide) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)


def _upsample_alpha(alpha_small: np.ndarray, full: np.ndarray) -> np.ndarray:
    h, w = full.shape[:2]
    up = cv2.resize(alpha_small, (w, h), interpolation=cv2.INTER_LINEAR)
    if up.shape == alpha_small.shape:
        return up
    ratio = w / alpha_small.shape[1]
    gray = cv2.cvtColor(full, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    refined = _guided_filter(gray, up, radius=max(1, round(ratio)), eps=1e-4)
    # Outside the band the coarse answer is certain; only the band takes the refined values.
    k = np.ones((3, 3), np.uint8)
    r = max(1, round(ratio)) + 1
    solid = cv2.erode((up > 0.999).astype(np.uint8), k, iterations=r) > 0
    empty = cv2.erode((up < 0.001).astype(np.uint8), k, iterations=r) > 0
    out = np.clip(refined, 0.0, 1.0)
    out[solid] = 1.0
    out[empty] = 0.0
    return out


def _decontaminate(
    full: np.ndarray, alpha: np.ndarray, model: BackdropModel | None, fg_small: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Edge colours without the old background, F = (I - (1 - a) B) / a against the known backdrop B; a pixel that
    is the backdrop itself carries no product and gets alpha 0 (no halo). Returns (alpha, foreground)."""
    fg = full.copy()
    alpha = alpha.copy()
    band = (alpha > 0.0) & (alpha < 0.999)
    if not band.any():
        return alpha, fg
    ys, xs = np.nonzero(band)
    a = alpha[ys, xs][:, None]
    pixels = full[ys, xs].astype(np.float32)
    if model is not None:
        h, w = alpha.shape
        bg_lab = _predict_at(model, h, w, ys, xs)
        dist = np.sqrt(((rgb_to_lab(full[ys, xs]) - bg_lab) ** 2).sum(axis=1))
        t = max(2.0, 3.5 * model.noise)
        a = a * np.clip((dist[:, None] - t) / t, 0.0, 1.0)
        alpha[ys, xs] = a[:, 0]
        b = lab_to_rgb(bg_lab).astype(np.float32)
        f = (pixels - (1.0 - a) * b) / np.maximum(a, 0.25)
    else:
        f = cv2.resize(fg_small, (full.shape[1], full.shape[0]), interpolation=cv2.INTER_LINEAR)[ys, xs].astype(np.float32)
    fg[ys, xs] = np.clip(f + 0.5, 0, 255).astype(np.uint8)
    return alpha, fg


def _predict_at(model: BackdropModel, h: int, w: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The backdrop model evaluated at chosen pixels only (Lab, Nx3)."""
    x = (xs / max(1, w - 1)).astype(np.float32)
    y = (ys / max(1, h - 1)).astype(np.float32)
    terms = np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=1)
    return terms @ model.coeffs.astype(np.float32)


def _matte_band(img: np.ndarray, trimap: np.ndarray, margin: int = 4) -> np.ndarray:
    """Closed-form matting solved only in the box around the unknown band; outside it the trimap is the answer."""
    alpha = trimap.astype(np.float32).copy()
    ys, xs = np.nonzero(trimap == 0.5)
    if len(ys) == 0:
        return alpha
    h, w = trimap.shape
    y0, y1 = max(0, ys.min() - margin), min(h, ys.max() + 1 + margin)
    x0, x1 = max(0, xs.min() - margin), min(w, xs.max() + 1 + margin)
    alpha[y0:y1, x0:x1] = estimate_alpha_cf(img[y0:y1, x0:x1], trimap[y0:y1, x0:x1])
    return alpha


def _open_halo(trimap: np.ndarray, image: np.ndarray, fg: np.ndarray, model: BackdropModel, band: int) -> None:
    """Compression ringing and colour bleed leave a pale rim, almost the backdrop's colour, around dark or colourful
    parts (legs, frames). Those rim pixels, a few deeper than the band, are left for the matting to decide. Pale
    products (white on white) are not touched: their own edge is pale too."""
    dist = delta_e76(rgb_to_lab(image), model.predict(*fg.shape)).astype(np.float32)
    k = np.ones((3, 3), np.uint8)
    depth = band + HALO_DEPTH
    interior = cv2.erode(fg.astype(np.uint8), k, iterations=depth + 1) > 0
    beside = cv2.dilate(np.where(interior, dist, 0).astype(np.float32), np.ones((2 * depth + 3,) * 2, np.uint8))
    rim = fg & ~(cv2.erode(fg.astype(np.uint8), k, iterations=depth) > 0)
    trimap[rim & (dist < HALO_PALE_DE) & (beside > HALO_CONTRAST_DE)] = 0.5


def refine(norm: Normalized, coarse: Coarse, band: int = 2) -> Matte:
    """Soft alpha at the normalized size from the coarse mask."""
    image, fg = coarse.image, coarse.mask
    if norm.alpha_prior is not None and (norm.alpha_prior < 128).mean() > 0.01:
        alpha = norm.alpha_prior.astype(np.float32) / 255.0
        return _finish(norm, alpha, norm.image.copy(), coarse, "alpha-prior")
    gscale = min(1.0, GRABCUT_SIDE / max(image.shape[:2]))
    if coarse.model is None or coarse.model.noise > 1.0:
        small = resize_to(image, gscale)
        small_fg = cv2.resize(fg.astype(np.uint8), (small.shape[1], small.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
        cut = _grabcut_band(small, small_fg, band)
        cut_up = cv2.resize(cut.astype(np.uint8), (fg.shape[1], fg.shape[0]), interpolation=cv2.INTER_LINEAR) > 0
        # GrabCut only moves the boundary inside the band; the coarse mask keeps its thin parts.
        k = np.ones((3, 3), np.uint8)
        near = (cv2.dilate(fg.astype(np.uint8), k, iterations=2) > 0) & ~(cv2.erode(fg.astype(np.uint8), k, iterations=2) > 0)
        fg = np.where(near, cut_up, fg)
    k = np.ones((3, 3), np.uint8)
    trimap = np.full(fg.shape, 0.5, np.float64)
    trimap[cv2.erode(fg.astype(np.uint8), k, iterations=band) > 0] = 1.0
    trimap[cv2.dilate(fg.astype(np.uint8), k, iterations=band) == 0] = 0.0
    if coarse.model is not None:
        _open_halo(trimap, image, fg, coarse.model, band)
    if coarse.holes.any():
        trimap[coarse.holes & (trimap == 0.5)] = 0.0
    img = image.astype(np.float64) / 255.0
    try:
        alpha_small = _matte_band(img, trimap)
    except Exception as exc:  # singular systems on degenerate trimaps: keep the hard edge
        log.warning("closed-form matting failed (%s); using the hard mask", exc)
        alpha_small = fg.astype(np.float32)
    fg_small = None
    if coarse.model is None:
        fg_small = estimate_foreground_ml(img, alpha_small.astype(np.float64))
        fg_small = np.clip(fg_small * 255.0 + 0.5, 0, 255).astype(np.uint8)
    alpha = _upsample_alpha(alpha_small, norm.image)
    alpha, foreground = _decontaminate(norm.image, alpha, coarse.model, fg_small)
    return _finish(norm, alpha, foreground, coarse, "classical")


def _finish(norm: Normalized, alpha: np.ndarray, foreground: np.ndarray, coarse: Coarse, backend: str) -> Matte:
    ys, xs = np.nonzero(alpha > 0.5)
    if len(ys) == 0:
        raise ProductNotFound("Matting left no product. Check that the photo shows a product on its background.")
    bbox = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return Matte(alpha=alpha.astype(np.float32), foreground=foreground, bbox=bbox, removed=coarse.removed, backend=backend)


def segment(norm: Normalized) -> Matte:
    """Stage 3a with the classical backend."""
    return refine(norm, coarse_foreground(norm))
