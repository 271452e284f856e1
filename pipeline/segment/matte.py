"""Refinement: the coarse mask becomes a soft alpha matte at the normalized size.

On a studio backdrop the backdrop is known (the model times the measured shading), so the edge band is matted at full
size against it: each band pixel's alpha is how far it has moved from the local backdrop towards the product colour
beside it. This keeps wires and legs a pixel or two wide, opens mesh cells and leaves no pale fringe. Scene photos
(unknown background) go through GrabCut on the band and closed-form matting (pymatting) at the working size, then a
guided upsampling.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
from pymatting import estimate_alpha_cf, estimate_foreground_ml

from ..backdrop import BackdropModel, border_mask
from ..color import delta_e76, lab_to_rgb, rgb_to_lab
from ..errors import ProductNotFound
from ..types import Matte, Normalized
from .common import Coarse, resize_to
from .scene import GRABCUT_SIDE

log = logging.getLogger(__name__)

HALO_DEPTH, HALO_PALE_DE, HALO_CONTRAST_DE = 3, 12.0, 30.0  # see _open_halo
KNOWN_BAND = 2  # working-size pixels either side of the coarse boundary that the known-backdrop matting decides
RIM_DEPTH = 4  # working-size pixels inside the band where a pale rim may be ringing rather than product
SHARPNESS = 8  # how strongly the product colour beside a band pixel is taken from its most distinct neighbour
RINGING = 0.1  # share of the product's contrast that JPEG ringing reaches beside its edge
BACKDROP_NOISE = 1.0  # x the full-size noise: pixels this close to the backdrop are the backdrop
RIM_REACH = 2 * (KNOWN_BAND + RIM_DEPTH) + 1  # working-size pixels: the box a rim pixel's face colour is measured in
SPECK_SIDE = 2 * KNOWN_BAND + 1  # working-size pixels: islands of the band no larger than this square are specks
WEAK_SPAN = 5.0  # x noise: a product colour closer than this to the backdrop is no evidence (JPEG ringing)
THIN_FACE = 2.0  # x noise: a part too thin for a core is a face where its colour is this far off the backdrop
SLAB_SHARE = 0.3  # and where its solid pixels fill this share of the RIM_REACH box (a slab, not a wire's fringe)


def known_backdrop_alpha(full: np.ndarray, coarse: Coarse) -> tuple[np.ndarray, np.ndarray]:
    """Alpha (float32) and foreground colours (RGB uint8) at the size of ``full``: solid inside the coarse mask,
    matted in a band around its boundary against the known backdrop. The backdrop and the product colour beside
    each pixel are estimated at the working size and sampled at the band's pixels only."""
    h, w = full.shape[:2]
    size = (w, h)
    k = np.ones((3, 3), np.uint8)
    fg = coarse.mask.astype(np.uint8)
    inner = cv2.erode(fg, k, iterations=KNOWN_BAND)
    outer = cv2.dilate(fg, k, iterations=KNOWN_BAND)
    core = cv2.erode(fg, k, iterations=KNOWN_BAND + RIM_DEPTH)
    solid = cv2.resize(inner, size, interpolation=cv2.INTER_NEAREST) > 0
    rim = solid & ~(cv2.resize(core, size, interpolation=cv2.INTER_NEAREST) > 0)
    band = (cv2.resize(outer, size, interpolation=cv2.INTER_NEAREST) > 0) & ~solid
    backdrop_s, product_s = _local_colours(coarse, outer > 0)
    ys, xs = np.nonzero(band | rim)
    pixels = full[ys, xs].astype(np.float32)
    back = _sample(backdrop_s, ys, xs, size)
    diff = pixels - back
    dist = np.sqrt(_dot(diff, diff))
    noise = _border_noise(full, backdrop_s, outer > 0)
    towards = _sample(product_s, ys, xs, size) - back
    span = _dot(towards, towards)
    proj = _dot(diff, towards) / np.maximum(span, 1e-3)
    # Noise-sized moves are no product, nor the ringing that compression leaves beside a strong edge (a share of it).
    floor = np.minimum(np.maximum(noise / np.sqrt(np.maximum(span, 1e-3)), RINGING), 0.45)
    # Noise-sized moves are cut and the rest stretched about the middle: a half-covered pixel stays at one half.
    a = np.clip((proj - floor) / (1 - 2 * floor), 0, 1)
    weak = span < (WEAK_SPAN * noise) ** 2
    coarse_up = _sample(coarse.mask.astype(np.float32)[..., None], ys, xs, size)[:, 0]
    in_band = band[ys, xs]
    # Nothing distinct nearby: the backdrop where the pixel is the backdrop or its shadow, the coarse answer elsewhere.
    shade = _shadow_line(pixels, back)
    value = np.where(in_band, np.where(weak, np.where((dist > 3 * noise) & ~shade, coarse_up, 0.0), a), 1.0)
    # Compression ringing and lens blur leave a pale rim a few pixels beyond a strong edge: matted too, unless the
    # rim is the colour the product has deeper in (a pale face or a pane running on from its outline).
    face = np.zeros(len(ys), bool)  # rim pixels only
    face[~in_band] = _matches_inside(full, coarse.image, core > 0, inner > 0, ys[~in_band], xs[~in_band], 3 * noise,
                                     back[~in_band], noise)
    value = np.where(~in_band & (a < 0.5) & ~weak & ~face, a, value)
    value = np.where(~in_band & weak & (dist <= 3 * noise) & ~face, 0.0, value)  # no product colour near: the backdrop
    # A pixel that is the backdrop itself, within its noise, carries no product (no pale specks or fringe), unless it
    # is the colour of the product's face it lies in.
    value *= np.where(face, 1.0, np.clip((dist - BACKDROP_NOISE * noise) / (BACKDROP_NOISE * noise), 0, 1))
    if coarse.faces is not None and coarse.faces.any():
        # A faint face is within the backdrop's noise pixel by pixel: its outline, found by averaging along it, is
        # the coarse one.
        near = cv2.dilate(coarse.faces.astype(np.uint8), k, iterations=KNOWN_BAND + 1).astype(np.float32)
        faint = _sample(near[..., None], ys, xs, size)[:, 0] > 0.5
        value = np.where(faint, np.where(in_band, coarse_up, 1.0), value)
    alpha = solid.astype(np.float32)
    alpha[ys, xs] = value
    if coarse.holes.any():
        hole = cv2.resize(coarse.holes.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
        alpha[hole & ~band] = 0.0
    drop_specks(alpha, solid, SPECK_SIDE**2 / coarse.scale**2)
    # Edge colours without the old backdrop: F = (I - (1 - a) B) / a.
    foreground = full.copy()
    soft = (value > 0.0) & (value < 0.999)
    av = value[soft][:, None]
    f = (pixels[soft] - (1 - av) * back[soft]) / np.maximum(av, 0.25)
    foreground[ys[soft], xs[soft]] = np.clip(f + 0.5, 0, 255).astype(np.uint8)
    return alpha, foreground


def _matches_inside(full: np.ndarray, small: np.ndarray, core: np.ndarray, solid: np.ndarray, ys: np.ndarray,
                    xs: np.ndarray, tolerance: float, back: np.ndarray, noise: float) -> np.ndarray:
    """Whether each pixel of ``full`` is within ``tolerance`` (RGB) of the mean colour of the product's core around
    it (``core`` a mask of the working-size image ``small``), or, in a part too thin to have a core (a slab), of
    its ``solid`` pixels around it, where they fill ``SLAB_SHARE`` of the box (a wire's fringe does not) and their
    mean is off the backdrop (``back``, the pixels' own) by ``THIN_FACE`` x ``noise``: a strip of backdrop the
    coarse pass took has the backdrop's colour on average."""
    small = small.astype(np.float32)
    size = (full.shape[1], full.shape[0])
    pixels = full[ys, xs].astype(np.float32)
    in_core, core_n = _mean_around(small, core, ys, xs, size)
    in_solid, solid_n = _mean_around(small, solid, ys, xs, size)
    thin = core_n < 1.0
    inside = np.where(thin[:, None], in_solid, in_core)
    off, distinct = pixels - inside, inside - back
    slab = (solid_n >= SLAB_SHARE * RIM_REACH**2) & (_dot(distinct, distinct) > (THIN_FACE * noise) ** 2)
    return np.where(thin, slab, core_n >= 1.0) & (_dot(off, off) < tolerance**2)


def _mean_around(small: np.ndarray, region: np.ndarray, ys: np.ndarray, xs: np.ndarray,
                 size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(the mean colour of ``region``'s pixels of ``small`` in the ``RIM_REACH`` box around each full-size pixel, how
    many there are)."""
    weight = region.astype(np.float32)
    box = (RIM_REACH, RIM_REACH)
    den = cv2.boxFilter(weight, -1, box, normalize=False)
    total = cv2.boxFilter(small * weight[..., None], -1, box, normalize=False)
    sampled = _sample(np.dstack([total / np.maximum(den, 1e-6)[..., None], den]), ys, xs, size)
    return sampled[:, :3], sampled[:, 3]


def drop_specks(alpha: np.ndarray, solid: np.ndarray, max_area: float) -> None:
    """Small islands of the band with no solid product in them are noise on the backdrop the matting picked up (pale
    specks beside legs on a dark background); a wire or a leg joins the product or is longer."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats((alpha > 0).astype(np.uint8), connectivity=8)
    if n <= 2:
        return
    anchored = np.bincount(labels[solid], minlength=n) > 0
    speck = ~anchored & (stats[:, cv2.CC_STAT_AREA] <= max_area)
    speck[0] = False
    if speck.any():
        alpha[speck[labels]] = 0.0


def _shadow_line(pixels: np.ndarray, back: np.ndarray) -> np.ndarray:
    """Pixels (Nx3) that are their backdrop (Nx3), or it made darker, every channel alike (a few percent lighter
    too: the shading is estimated at the working size and runs a little dark beside a shadow)."""
    ratio = pixels / np.maximum(back, 8.0)
    r, g, b = ratio[:, 0], ratio[:, 1], ratio[:, 2]
    level = (r + g + b) / 3.0
    spread = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)
    return (spread < 0.07) & (level > 0.3) & (level < 1.04)


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products of Nx3 arrays (numpy's axis=1 sums are several times slower)."""
    return a[:, 0] * b[:, 0] + a[:, 1] * b[:, 1] + a[:, 2] * b[:, 2]


def _local_colours(coarse: Coarse, near: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At the working size: the local backdrop (the model with its measured shading) and, beside each pixel near
    the product, the product's colour (its neighbours' colours weighted towards the most distinct one). RGB float32."""
    sh, sw = coarse.mask.shape
    lab = coarse.model.predict(sh, sw)
    if coarse.shading is not None:
        lab[:, :, 0] += coarse.shading
    backdrop = lab_to_rgb(lab).astype(np.float32)
    img = coarse.image.astype(np.float32)
    d = np.sqrt(((img - backdrop) ** 2).sum(axis=2)) * near
    reach = int(round(1.5 * (KNOWN_BAND + 1)))
    window = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    dmax = cv2.dilate(d, window)
    wgt = (d / np.maximum(dmax, 1e-3)) ** SHARPNESS * near
    box = (2 * reach + 1,) * 2
    den = cv2.boxFilter(wgt, -1, box, normalize=False)
    product = cv2.boxFilter(img * wgt[..., None], -1, box, normalize=False) / np.maximum(den, 1e-6)[..., None]
    return backdrop, product


def _sample(small: np.ndarray, ys: np.ndarray, xs: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear samples (Nx C float32) of a working-size image at full-size pixel positions."""
    sh, sw = small.shape[:2]
    n = len(ys)
    rows = -(-max(n, 1) // 1024)  # remap wants a 2-D map under 32767 a side: the points in rows of 1024
    mx = np.zeros(rows * 1024, np.float32)
    my = np.zeros(rows * 1024, np.float32)
    mx[:n] = (xs + 0.5) * (sw / size[0]) - 0.5
    my[:n] = (ys + 0.5) * (sh / size[1]) - 0.5
    out = cv2.remap(np.ascontiguousarray(small, np.float32), mx.reshape(rows, 1024), my.reshape(rows, 1024),
                    cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(rows * 1024, -1)[:n]


def _border_noise(full: np.ndarray, backdrop_s: np.ndarray, product_s: np.ndarray) -> float:
    """How far backdrop pixels stray from the backdrop model at full size (sensor noise and JPEG ringing), in RGB
    levels: the 90th percentile on the border, away from the product."""
    h, w = full.shape[:2]
    ys, xs = np.nonzero(border_mask(h, w))
    keep = slice(None, None, max(1, len(ys) // 50_000))
    ys, xs = ys[keep], xs[keep]
    away = _sample(product_s.astype(np.float32)[..., None], ys, xs, (w, h))[:, 0] < 0.5
    if not away.any():
        return 1.5
    d = full[ys, xs].astype(np.float32) - _sample(backdrop_s, ys, xs, (w, h))
    dist = np.sqrt(_dot(d, d))
    return max(1.5, float(np.percentile(dist[away], 90)))


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
    if coarse.model is not None and coarse.shading is not None:
        alpha, foreground = known_backdrop_alpha(norm.image, coarse)
        return _finish(norm, alpha, foreground, coarse, "classical")
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
    solid = alpha > 0.5
    ys, xs = np.flatnonzero(solid.any(axis=1)), np.flatnonzero(solid.any(axis=0))
    if len(ys) == 0:
        raise ProductNotFound("Matting left no product. Check that the photo shows a product on its background.")
    bbox = (int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1)
    return Matte(alpha=alpha.astype(np.float32), foreground=foreground, bbox=bbox, removed=coarse.removed, backend=backend)


def whole_photo_matte(norm: Normalized) -> Matte:
    """A scene photo in which no product stands out, kept as it is: the whole frame is its subject."""
    h, w = norm.image.shape[:2]
    return Matte(alpha=np.ones((h, w), np.float32), foreground=norm.image.copy(), bbox=(0, 0, w, h), removed=(),
                 backend="whole-photo")
