"""Strategy ``studio``: the product on a white, off-white, tinted or graded backdrop, in named passes.

1. ``backdrop``: the smooth backdrop model fitted on the border (vignettes and gradients included).
2. ``flood``: pixels that look like the backdrop or like its shadow (the backdrop's colour made darker) are flooded
   from the border; only sharp detail (a product's edge, and thin parts found by their top-hats: wires, rods,
   strings, legs) and faces tinted off the backdrop (a white a little warmer or cooler than the sweep, as light as
   it: seen on the colour smoothed over a few pixels; a slab or rail thinner than that smoothing, found by it only
   in patches, is joined along its length, its colour held along both half-lines from each pixel, see
   ``tinted_rails``, and the holes pass leaves it) block the flood, not the slow ramp of a soft shadow. Faces the
   flood crossed, within its tolerance pixel by pixel (a white shade a lightness unit lighter than a noisy sweep, or
   a few units darker and neutral, like a shadow, or as light as it and a little warmer or cooler), come back where
   faint straight outlines, averaged along their length in the lightness or the colour, enclose a region off the
   backdrop just outside by one flat, consistent step (see ``faint_faces``); the holes pass leaves them. Wires the
   flood crossed the same way (a pale cage's upper wires, their detail found in pieces) come back where, averaged
   along short lines, they stand out as a ridge and meet the product (see ``faint_wires``); the holes pass leaves
   them too.
3. ``shading``: the local backdrop, i.e. the model plus the light and shadow measured on the flooded pixels nearby
   (trusted only close to where it was measured).
4. ``holes``: enclosed regions that match the local backdrop are holes, whatever their size or number (mesh cells,
   the inside of rings and frames), where the smooth region around them is mostly the backdrop or reaches down to
   where the product stands (white on white: a lit face as white as the backdrop runs on into its own shade, higher
   up); grown smoothly into the shadow that darkens them where that is graded or deep (a white face in light shade
   is flat); pale gaps framed by dark product for most of their rim are holes too; looked for again as each look
   tells more of the light. An opening entirely inside the floor shadow (the lower cells of a wheel, of a mesh)
   has no pixel of the exact backdrop: it is a hole where its level, all over, is the floor shadow's measured outside
   the product (or through its other openings) at the same height, carried across. Glass is not a hole: deep inside
   it the backdrop is seen tinted (see ``tinted_panes``); nor is a part coloured off the backdrop, pixel by pixel,
   over more than the rim JPEG bleeds colour onto (a bluish rail lying in the floor shadow at its level, see
   ``coloured_openings``).
5. ``panels``, ``attached shadows`` and ``floor shadows``: white faces the flood entered beside a shadow of the same
   grey come back; graded shadows the flood could not reach, that fade into the backdrop where they meet it, go, less
   the grey parts hanging or standing in them that meet the backdrop in a step of their own (a key's stem, a leg),
   and the parts lying in them, lit, flat and lighter than the shade around (a lamp's base); in the band around the
   foot line, the floor shadow is split from a pale product standing in it by a watershed from the backdrop and
   from the product, and goes, while the flat parts lying in it (a tray, a rail) and the strokes running into it
   between their two outlines (a ring's arc) stay.
6. ``shadows seen through``: a shadow cast inside the product's frame, under a part, seen through a hole, fading
   into it, goes.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from ..backdrop import BAND, BackdropModel, border_mask, fit_backdrop
from ..color import lab_to_rgb, rgb_to_lab
from .common import chroma_of, flood_from_border, grow_within, length, level_of, spread

DETAIL_SIGMA = 1.2  # px at the working size: the scale of the edges and wires that block the flood
SHADING_SIGMAS = (2.5, 10.0)  # px: near and far support of the shading field
HOLE_LOOKS = 1  # looks for holes again with the light the holes found so far tell
SHADOW_STEP, SHADOW_REACH, SHADOW_SEED = 0.03, 40, 50  # a shadow's level changes less than this from pixel to pixel
HOLE_EXACT_SHARE, FLOOR_REACH = 0.5, 0.05  # see mostly_exact
PANEL_SHADE = 0.9  # white and pale grey panels are at most this much darker than the backdrop
SHADOW_GRADING, SHADOW_DEEP_SHARE = 0.02, 0.1  # see graded_shadows
SHADOW_FLATNESS = 0.07  # a shadow darkens every channel alike, to within this share
WARM_SHADOW_FLATNESS = 0.12  # under a product the shadow takes some of its colour (light bounced off wood)
EDGE_FLOOR, EDGE_OVER_NOISE = 0.45, 1.5  # detail that blocks the flood: above the backdrop's own (99th percentile)
SPECK = 14  # px: sharp detail in smaller pieces than this is noise
EDGE_REACH = 4  # px: how far the detail of a strong edge spreads beyond it, given back to the backdrop if it matches
PALE_GAP, FRAME_CONTRAST, FRAME_SHARE = 4.0, 5.0, 0.5  # see framed_gaps
BOX_SHARE = 0.5  # a floor shadow's size is judged against at least this share of the product's bounding box
THIN_SIDE = 7  # px at the working size: darker or lighter strokes narrower than this are thin parts
GLASS_DEPTH, GLASS_CORE = 6.0, 30  # px at the working size: deeper than a frame's colour bleeds into an opening
GLASS_TINT, GLASS_CONSISTENCY, GLASS_AVERAGE = 0.012, 3.0, 7  # see tinted_panes
GLASS_REACH = 12  # px at the working size: how far a pane runs on from its core
TINT_REACH = 20  # px at the working size: how far around the backdrop's colour is measured
FOOT_STEPS, FLOOR_BEHIND, STEP_SHARE = 3, 2, 0.6  # see floor_band, product_edges
EDGE_CUT, STROKE_ELONGATION, PART_STEPPED = 3, 3, 0.9  # see _without_grey_parts, _strokes
PANEL_FLATNESS, PANEL_RING, PANEL_DEEPER, PANEL_EDGE_SHARE = 0.006, 3, 0.02, 0.3  # see panels_in_shadow
FLOOR_SMOOTH, FLOOR_CLEAR = 1.5, 2  # px: the outside floor is measured this far clear of the product's blurred rim
FLOOR_MATCH, FLOOR_OFFSET, FLOOR_MATCH_SHARE = 0.03, 0.08, 0.8  # see floor_seen_through
FLOOR_SHADE, FLOOR_MIN_AREA = 0.97, 6  # see floor_seen_through
TINT_SIGMA, TINT_FLOOR, TINT_OVER_NOISE, TINT_AREA = 3.0, 0.015, 1.5, 150  # see tinted
OUTLINE_DIRECTIONS, OUTLINE_LENGTH, OUTLINE_SURROUND = 8, 3.0, 3.0  # see faint_outlines
OUTLINE_HIGH, OUTLINE_LOW = 1.5, 1.0  # x the backdrop's own response (99.9th percentile), see faint_outlines
# The colour's outlines: JPEG codes colour in blocks (about 13 px at the working size), and a block off by a step
# outlines a small square; the backdrop's response is taken at this percentile and an outline runs on past a block.
OUTLINE_TINT_SHARE, OUTLINE_TINT_EXTENT = 98.0, 2 * SPECK
FACE_TINT = 0.2  # % of the level: the least step in colour that makes a face tinted off the backdrop (faint_faces)
TINT_BLEED = 8  # px at the working size: JPEG bleeds a part's colour about this far (half a colour block)
TINT_FACE_AREA = (2 * SPECK) ** 2  # px: a face tinted spans more than a few colour blocks (a block is off by a step)
TINT_DRIFT = 99  # percentile of the quiet border's colour, smoothed, off the backdrop model's: see faint_faces
FACE_AREA, FACE_STEP, FACE_OVER_NOISE, FACE_FAINT = 150, 0.8, 8.0, 2.0  # see faint_faces
FACE_BAND, FACE_HOLD, FACE_RING = 3, 0.8, 12  # px, share, px: see faint_faces
WIRE_LENGTH, WIRE_HIGH, WIRE_LOW = 11, 1.5, 1.0  # px; x the backdrop's own (99.9th percentile): see faint_wires
WIRE_CLEAR = 4  # px: a faint wire has no pixel clearly off the backdrop (twice its tolerance) this close
RAIL_HALF, RAIL_DIRECTIONS = 10, 8  # px at half the working size (about three colour blocks), angles: tinted_rails
RAIL_HIGH, RAIL_LOW, RAIL_WEIGHT = 2.0, 1.5, 0.25  # x the backdrop's own (99.9th percentile); share: tinted_rails
RAIL_OWN = 0.6  # share of the held colour a pixel's own must reach to be the rail's: see tinted_rails
COLOUR_FLOOR, COLOUR_RIM = 1.0, 2  # %: JPEG's rounding leaves a neutral pixel about this colour; px: coloured_openings


def detail(lab: np.ndarray) -> np.ndarray:
    """How much each pixel stands out of its smoothed surroundings (Lab units): large at edges and thin parts, small
    on flat areas and on the slow ramps of soft shadows."""
    smooth = cv2.GaussianBlur(lab, (0, 0), DETAIL_SIGMA)
    return length(lab - smooth)


def _edge_strength(lab: np.ndarray) -> np.ndarray:
    """Colour change across each pixel's 3x3 neighbourhood (Lab units)."""
    grad = cv2.morphologyEx(cv2.GaussianBlur(lab, (3, 3), 0.6), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    return length(grad)


def gradual(level: np.ndarray) -> np.ndarray:
    """Where the level changes as slowly as a shadow's does from pixel to pixel (a grey part steps away instead)."""
    return cv2.morphologyEx(level, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) < 2 * SHADOW_STEP


def thin_parts(lightness: np.ndarray, edge_t: float) -> np.ndarray:
    """Strokes narrower than ``THIN_SIDE`` that are darker or lighter than both sides (wires, rods, strings, legs):
    the black and white top-hats of the lightness, which a broad soft shadow does not trigger."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (THIN_SIDE, THIN_SIDE))
    light = cv2.morphologyEx(lightness, cv2.MORPH_TOPHAT, k)
    return dark_strokes(lightness, edge_t) | (light > 2.0 * edge_t)


def dark_strokes(lightness: np.ndarray, edge_t: float) -> np.ndarray:
    """Strokes narrower than ``THIN_SIDE`` darker than both sides (the black top-hat): a spoke or a wire. A small
    opening between them is lighter than its sides, and not one."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (THIN_SIDE, THIN_SIDE))
    return cv2.morphologyEx(lightness, cv2.MORPH_BLACKHAT, k) > 2.0 * edge_t


def away_from_detail(sharp: np.ndarray) -> np.ndarray:
    """The pixels more than two pixels from ``sharp`` detail, where a wire's or an edge's colour, bled a pixel or
    two by compression, no longer reaches."""
    return cv2.dilate(sharp.astype(np.uint8), np.ones((5, 5), np.uint8)) == 0


def tinted(ratio: np.ndarray, quiet: np.ndarray, sharp: np.ndarray) -> np.ndarray:
    """Where the colour, smoothed over a few pixels, is not the backdrop's made lighter or darker: its channels scale
    unequally, beyond the backdrop's own smoothed noise (99.9th percentile). A white face a little warmer or cooler
    than the sweep it stands on is tinted however close it is in lightness; a shadow or a vignette is not. Sharp
    detail and the pixels beside it are left out of the smoothing: a wire's or an edge's colour, bled a pixel or two
    by compression, does not tint the backdrop beside it."""
    keep = away_from_detail(sharp).astype(np.float32)
    weight = cv2.GaussianBlur(keep, (0, 0), TINT_SIGMA)
    smooth = cv2.GaussianBlur(ratio * keep[:, :, None], (0, 0), TINT_SIGMA) / np.maximum(weight, 1e-3)[:, :, None]
    tint = np.where(weight > 0.3, spread(chroma_of(smooth)), 0.0)
    noise = float(np.percentile(tint[quiet], 99.9)) if quiet.sum() > 20 else TINT_FLOOR
    faces = _without_specks(tint > max(TINT_FLOOR, TINT_OVER_NOISE * noise), TINT_AREA)  # a face, not a blotch
    # The smoothing spreads a face's tint beyond its outline and thins it inside: the outline is where the tint
    # falls to half the face's own.
    n, labels = cv2.connectedComponents(faces.astype(np.uint8), connectivity=8)
    if n <= 1:
        return faces
    idx = labels.ravel()
    own = np.bincount(idx, weights=tint.ravel(), minlength=n) / np.maximum(np.bincount(idx, minlength=n), 1)
    half = np.where(faces, 0.5 * own[labels], 0).astype(np.float32)
    k = np.ones((3, 3), np.uint8)
    for _ in range(int(np.ceil(2 * TINT_SIGMA))):
        reach = cv2.dilate(half, k)
        grown = (reach > 0) & (tint > reach) & (half == 0)
        if not grown.any():
            break
        half = np.where(grown, reach, half)
    return half > 0


def _half_line_means(stack: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """The weighted means of the values along the two half-lines of ``RAIL_HALF`` pixels from each pixel at ``angle``
    (radians, from the x axis towards y), ``stack`` holding the values times the weights and the weights; zero where
    the weights cover less than ``RAIL_WEIGHT`` of a half-line. Lines at a slant are box-filtered on the image turned
    to lie along the rows."""
    h, w = stack.shape[:2]
    c, s = abs(np.cos(angle)), abs(np.sin(angle))
    turn = None
    if s > 1e-6 and c > 1e-6:
        tw, th = int(np.ceil(w * c + h * s)) + 2, int(np.ceil(w * s + h * c)) + 2
        turn = cv2.getRotationMatrix2D((w / 2, h / 2), float(np.degrees(angle)), 1.0)
        turn[:, 2] += (tw / 2 - w / 2, th / 2 - h / 2)
        stack = cv2.warpAffine(stack, turn, (tw, th), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    elif c <= 1e-6:
        stack = cv2.transpose(stack)
    sides = [cv2.boxFilter(stack, -1, (RAIL_HALF, 1), anchor=(a, 0), borderType=cv2.BORDER_CONSTANT)
             for a in (RAIL_HALF - 1, 0)]
    if turn is not None:
        back = cv2.warpAffine(cv2.merge(sides), cv2.invertAffineTransform(turn), (w, h), flags=cv2.INTER_LINEAR)
        sides = [back[:, :, :2], back[:, :, 2:]]
    elif c <= 1e-6:
        sides = [cv2.transpose(side) for side in sides]
    return tuple(np.where(side[:, :, 1] >= RAIL_WEIGHT, side[:, :, 0] / np.maximum(side[:, :, 1], 1e-6), 0)
                 for side in sides)


def _held_along(values: np.ndarray, weights: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """The most, over the ``angles``, of the lesser of the ``weights``-weighted means of ``values`` along the two
    half-lines from a pixel (see ``_half_line_means``): high only where both sides hold the value."""
    stack = cv2.merge([values * weights, weights])
    best = np.zeros(values.shape, np.float32)
    for angle in angles:
        a, b = _half_line_means(stack, float(angle))
        np.maximum(best, np.minimum(a, b), out=best)
    return best


def tinted_rails(colour: np.ndarray, pale: np.ndarray, keep: np.ndarray, quiet: np.ndarray) -> np.ndarray:
    """Pale slabs and rails tinted off the backdrop (a light wooden or painted top on an off-white sweep), thinner
    than the tinted pass's smoothing and found by it only in the ``pale`` patches (JPEG codes colour in blocks): where
    the colour (the red and blue shares, ``colour``, HxWx2) taken along the patches' mean tint and averaged along
    both half-lines from a pixel at some angle is off the backdrop's on both sides, beyond the backdrop's own such
    average (its 99.9th percentile on the ``quiet`` border, along the rows and columns, where JPEG's blocks line up
    and its drift is held longest; hysteresis). Along a slab both halves lie in it; beyond its end one half is the
    backdrop, and noise is not held the same way over several colour blocks. Only the ``keep`` pixels (clear of
    sharp detail and of the colour JPEG bleeds from parts clearly off the backdrop) are averaged; it runs at half
    the size, in the box of the patches. A rail is thin (a broader face is the tinted pass's), and its outline is
    where a pixel's own colour reaches ``RAIL_OWN`` of the rail's."""
    h, w = pale.shape
    rails = np.zeros((h, w), bool)
    box = _box_of(pale, (0, 0), h, w, margin=4 * RAIL_HALF)
    if box is None or quiet.sum() <= 20:
        return rails
    tint = colour[pale].mean(axis=0)
    tint /= max(float(np.hypot(tint[0], tint[1])), 1e-6)
    hh, hw = h // 2, w // 2
    along = cv2.resize(colour[:2 * hh, :2 * hw].astype(np.float32), (hw, hh), interpolation=cv2.INTER_AREA) @ tint
    along = along.astype(np.float32)
    weights = cv2.resize(keep[:2 * hh, :2 * hw].astype(np.float32), (hw, hh), interpolation=cv2.INTER_AREA)
    quiet = quiet[1::2, 1::2][:hh, :hw]
    axes = np.array([0.0, np.pi / 2])
    bands = _border_bands(hh, hw, RAIL_HALF)
    calm = np.concatenate([_held_along(along[r, c], weights[r, c], axes)[quiet[r, c]] for r, c in bands])
    if calm.size <= 20:
        return rails
    noise = max(float(np.percentile(calm, 99.9)), 1e-3)
    y0, y1, x0, x1 = (v // 2 for v in box)
    angles = np.pi * np.arange(RAIL_DIRECTIONS) / RAIL_DIRECTIONS
    score = _held_along(along[y0:y1, x0:x1], weights[y0:y1, x0:x1], angles)
    strong = score > RAIL_HIGH * noise
    found = _pieces(score > RAIL_LOW * noise, strong, 2 * RAIL_HALF).astype(np.uint8)
    n, labels = cv2.connectedComponents(found, connectivity=8)
    # A rail is thinner than a half-line is long; a broader face the tinted pass sees for itself.
    depth = np.zeros(n, np.float32)
    np.maximum.at(depth, labels.ravel(), cv2.distanceTransform(found, cv2.DIST_L2, 3).ravel())
    # The rail's colour: its own where it is held along it.
    own = cv2.GaussianBlur(along[y0:y1, x0:x1], (0, 0), 0.5)
    held = np.bincount(labels[strong], weights=own[strong], minlength=n) / np.maximum(
        np.bincount(labels[strong], minlength=n), 1)
    held[(depth > RAIL_HALF / 2) | (np.arange(n) == 0)] = 0
    # A pixel is the rail's where its own colour, barely smoothed, is nearer the rail's (held along it) than the
    # backdrop's: JPEG bleeds colour a block beyond the rail's outline, where the half-lines along it hold it too.
    y0, y1, x0, x1 = 2 * y0, 2 * y1, 2 * x0, 2 * x1
    rail = cv2.resize(held[labels].astype(np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
    own = cv2.GaussianBlur((colour[y0:y1, x0:x1] @ tint).astype(np.float32), (0, 0), 1.0)
    rails[y0:y1, x0:x1] = (rail > 0) & (own >= RAIL_OWN * rail)
    return rails


def _border_bands(h: int, w: int, margin: int) -> list[tuple[slice, slice]]:
    """The four sides of the border band (see ``border_mask``) of an HxW image, each with ``margin`` pixels inwards."""
    by, bx = max(2, round(h * BAND)) + margin, max(2, round(w * BAND)) + margin
    everything = slice(0, None)
    return [(slice(0, by), everything), (slice(h - by, h), everything), (everything, slice(0, bx)),
            (everything, slice(w - bx, w))]


def _outline_kernels() -> list[np.ndarray]:
    """Step kernels at ``OUTLINE_DIRECTIONS`` angles: +1 a pixel to one side, -1 a pixel to the other, Gaussian along
    (sigma ``OUTLINE_LENGTH``) at half the working size; each sums to +-1 on either side."""
    r = int(np.ceil(3 * OUTLINE_LENGTH)) // 2 * 2 + 1
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1].astype(np.float32)
    kernels = []
    for i in range(OUTLINE_DIRECTIONS):
        t = np.pi * i / OUTLINE_DIRECTIONS
        along, across = xx * np.cos(t) + yy * np.sin(t), -xx * np.sin(t) + yy * np.cos(t)
        g = np.exp(-0.5 * (along / OUTLINE_LENGTH) ** 2)
        step = g * (np.clip(1 - np.abs(across - 1), 0, 1) - np.clip(1 - np.abs(across + 1), 0, 1))
        kernels.append((step / (0.5 * np.abs(step).sum())).astype(np.float32))
    return kernels


_OUTLINE_KERNELS = _outline_kernels()


@functools.lru_cache(maxsize=8)
def _kernel_spectra(shape: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """The spectra of the ``_OUTLINE_KERNELS``, flipped and padded to ``shape`` (photos of one camera share it)."""
    r = _OUTLINE_KERNELS[0].shape[0] // 2
    spectra = []
    for k in _OUTLINE_KERNELS:
        kernel = np.zeros(shape, np.float32)
        kernel[:2 * r + 1, :2 * r + 1] = k[::-1, ::-1]
        spectra.append(cv2.dft(kernel, nonzeroRows=2 * r + 1))
    return tuple(spectra)


def _strongest_step(image: np.ndarray) -> np.ndarray:
    """The largest magnitude of ``image`` filtered by the ``_OUTLINE_KERNELS`` (each as ``cv2.filter2D`` would, with
    reflected borders), by products of spectra: one transform of the image serves every direction."""
    h, w = image.shape
    r = _OUTLINE_KERNELS[0].shape[0] // 2
    shape = (cv2.getOptimalDFTSize(h + 2 * r), cv2.getOptimalDFTSize(w + 2 * r))
    padded = cv2.copyMakeBorder(image, r, shape[0] - h - r, r, shape[1] - w - r, cv2.BORDER_REFLECT)
    spectrum = cv2.dft(padded)
    best = np.zeros((h, w), np.float32)
    for k in _kernel_spectra(shape):
        product = cv2.mulSpectrums(spectrum, k, 0)
        response = cv2.idft(product, flags=cv2.DFT_REAL_OUTPUT | cv2.DFT_SCALE)
        np.maximum(best, np.abs(response[2 * r:2 * r + h, 2 * r:2 * r + w]), out=best)
    return best


def faint_outlines(channel: np.ndarray, quiet: np.ndarray, share: float = 99.9, min_extent: float = SPECK
                   ) -> np.ndarray:
    """Straight steps in a ``channel`` (the lightness, or a colour axis) too faint for a pixel's own detail (the
    outline of a white face a lightness unit or two off a noisy sweep, or as light as it and a little warmer), found
    by averaging the step along short segments at several angles (on the channel less its smooth part, at half the
    size): a pixel stands out where the strongest average exceeds the backdrop's own (its ``share`` percentile on the
    quiet border; hysteresis: weaker pixels joined to strong ones count, in pieces no shorter than ``min_extent``)."""
    h, w = channel.shape
    if h < 2 or w < 2:
        return np.zeros((h, w), bool)
    quiet = quiet[1::2, 1::2][:h // 2, :w // 2]
    if quiet.sum() <= 20:
        return np.zeros((h, w), bool)
    half = 0.25 * (channel[0:h - 1:2, 0:w - 1:2] + channel[1::2, 0:w - 1:2] + channel[0:h - 1:2, 1::2]
                   + channel[1::2, 1::2])
    best = _strongest_step(half - cv2.GaussianBlur(half, (0, 0), OUTLINE_SURROUND / 2))
    noise = float(np.percentile(best[quiet], share))
    strong = _pieces(best > OUTLINE_LOW * noise, best > OUTLINE_HIGH * noise, min_extent / 2)  # at half the size
    outlines = cv2.dilate(strong.astype(np.uint8), np.ones((3, 3), np.uint8))  # closes gaps at corners
    return cv2.resize(outlines, (w, h), interpolation=cv2.INTER_NEAREST) > 0


def faint_faces(lightness: np.ndarray, passable: np.ndarray, background: np.ndarray, quiet: np.ndarray,
                offset: np.ndarray, t_bg: float, colour: np.ndarray | None = None) -> np.ndarray:
    """White faces the flood crossed, their outline too faint for a pixel's detail and their colour within the
    backdrop's noise or like its shadow: regions of the flooded ``background`` enclosed by faint outlines (see
    ``faint_outlines``) whose lightness is off the backdrop just outside them by one step, far beyond the noise of
    a mean, held from their rim to their core (a face is flat: a hole is the backdrop itself, and a shadow deepens
    inwards), and faint (a region further off whose outline the pixel detail does not see meets the backdrop
    gradually: a shadow). ``offset`` is the lightness less the backdrop model's.

    ``colour`` (HxWx2), where given, is the red and blue channels' shares of the level less the backdrop's (in %; a
    shadow scales every channel alike and leaves them): a face as light as the sweep and a little warmer or cooler
    is outlined in the colour too, and is off the backdrop just outside by a step in colour (at least
    ``FACE_TINT``) held the same way and as far off the backdrop model's colour, its lightness faint and flat from
    rim to core. A shadow is neutral, and one that takes a wooden product's colour deepens inwards."""
    outlines = faint_outlines(lightness, quiet)
    if colour is not None:
        for c in range(colour.shape[2]):
            outlines |= faint_outlines(colour[:, :, c], quiet, OUTLINE_TINT_SHARE, OUTLINE_TINT_EXTENT)
    faces = np.zeros_like(background)
    if not (outlines & background).any():
        return faces
    outside = flood_from_border(passable & ~outlines)
    cand = background & ~outside & ~outlines
    h, w = background.shape
    box = _box_of(cand, (0, 0), h, w, margin=0)
    if box is None:
        return faces
    by0, by1, bx0, bx1 = box
    labels = np.zeros(cand.shape, np.int32)
    n, labels[by0:by1, bx0:bx1], stats, _ = cv2.connectedComponentsWithStats(
        cand[by0:by1, bx0:bx1].astype(np.uint8), connectivity=4)
    stats[:, cv2.CC_STAT_LEFT] += bx0
    stats[:, cv2.CC_STAT_TOP] += by0
    sigma = float(np.std(offset[quiet]))
    band_k = np.ones((2 * FACE_BAND + 1,) * 2, np.uint8)
    colour_noise = None  # measured once a region is judged by its colour
    for i in np.nonzero(stats[:, cv2.CC_STAT_AREA] >= FACE_AREA)[0]:
        if i == 0:
            continue
        x, y, bw, bh = stats[i, :4]
        pad = FACE_RING + 2 * FACE_BAND + 2
        y0, y1, x0, x1 = max(0, y - pad), min(h, y + bh + pad), max(0, x - pad), min(w, x + bw + pad)
        region = (labels[y0:y1, x0:x1] == i).astype(np.uint8)
        # The backdrop just outside, across the outline.
        near = cv2.distanceTransform(1 - region, cv2.DIST_L2, 3) <= FACE_RING
        across = ((region > 0) | (near & outlines[y0:y1, x0:x1])).astype(np.uint8)
        ring = (cv2.distanceTransform(1 - across, cv2.DIST_L2, 3) <= 2 * FACE_BAND) & outside[y0:y1, x0:x1]
        core = cv2.erode(region, band_k) > 0
        rim = (region > 0) & ~core
        if ring.sum() < FACE_AREA // 3 or not core.any():
            continue
        off = cv2.GaussianBlur(offset[y0:y1, x0:x1], (0, 0), 1.0)
        found, step, step_core = _held_step(off, rim, core, ring, sigma, FACE_STEP)
        faint = abs(step) <= FACE_FAINT * t_bg
        found = found and faint
        if (not found and colour is not None and faint and abs(step_core - step) <= FACE_STEP
                and stats[i, cv2.CC_STAT_AREA] >= TINT_FACE_AREA):
            # Off in colour, measured along the colour's step from the ring to the rim, clear of the colour JPEG
            # bleeds from parts clearly off the backdrop.
            unbled = clear_of_bleed(np.abs(offset[y0:y1, x0:x1]) >= 2 * t_bg)
            rim_c, core_c, ring_c = rim & unbled, core & unbled, ring & unbled
            if core_c.any() and min(rim_c.sum(), ring_c.sum()) >= FACE_AREA // 3:
                colour_noise = colour_noise or _colour_noise(colour, quiet)
                colour_cov, drift = colour_noise
                col = cv2.GaussianBlur(colour[y0:y1, x0:x1], (0, 0), 1.0)
                d = col[rim_c].mean(axis=0) - col[ring_c].mean(axis=0)
                u = d / max(float(np.hypot(d[0], d[1])), 1e-6)
                off = col[:, :, 0] * u[0] + col[:, :, 1] * u[1]
                found, step, _ = _held_step(off, rim_c, core_c, ring_c, float(np.sqrt(u @ colour_cov @ u)), FACE_TINT)
                # Off the backdrop model's colour too, further than the backdrop itself strays from it (a drift
                # of the sweep's colour, coded by JPEG in steps, is no face).
                found = found and float(off[rim_c].mean()) >= max(FACE_TINT, drift)
        if found:
            # The outline is the face's as far as its lightness (or colour) is nearer the face's than the backdrop's.
            side = (off - float(off[ring].mean())) * np.sign(step) > 0.5 * abs(step)
            faces[y0:y1, x0:x1] |= grow_within(region > 0, side & outlines[y0:y1, x0:x1] & background[y0:y1, x0:x1],
                                               FACE_RING)
    if not faces.any():
        return faces
    # Faces meeting along an outline of their own (a lit and a shaded side) close over it; specks of detail inside
    # a face are the face.
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * FACE_BAND + 1,) * 2)
    faces |= (cv2.morphologyEx(faces.astype(np.uint8), cv2.MORPH_CLOSE, k) > 0) & background
    return faces | (~flood_from_border(~faces) & ~background)


def clear_of_bleed(off: np.ndarray) -> np.ndarray:
    """The pixels farther than ``TINT_BLEED`` from the parts ``off`` the backdrop (noise pixels on their own are no
    part): JPEG bleeds a part's colour that far into its surroundings."""
    parts = cv2.morphologyEx(off.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    return cv2.distanceTransform(1 - parts, cv2.DIST_L2, 3) > TINT_BLEED


def _colour_noise(colour: np.ndarray, quiet: np.ndarray) -> tuple[np.ndarray, float]:
    """(the covariance of the ``colour`` on the ``quiet`` border, pixel by pixel; how far its colour smoothed over
    ``TINT_SIGMA`` strays from the backdrop model's: the ``TINT_DRIFT`` percentile)."""
    ys, xs = np.nonzero(quiet)
    smooth = cv2.GaussianBlur(colour, (0, 0), TINT_SIGMA)
    drift = float(np.percentile(np.hypot(smooth[ys, xs, 0], smooth[ys, xs, 1]), TINT_DRIFT))
    return np.cov(colour[ys, xs].T.astype(np.float64)), drift


def _held_step(values: np.ndarray, rim: np.ndarray, core: np.ndarray, ring: np.ndarray, sigma: float, least: float
               ) -> tuple[bool, float, float]:
    """(whether the step is a face's, the step of ``values`` from the ``ring`` outside to the ``rim`` of a region,
    from the ring to its ``core``): a face's is at least ``least`` and ``FACE_OVER_NOISE`` times the noise of the
    means (``sigma`` a pixel), and the core's step holds it."""
    base = float(values[ring].mean())
    step_rim, step_core = float(values[rim].mean()) - base, float(values[core].mean()) - base
    error = sigma * np.sqrt(1 / rim.sum() + 1 / ring.sum())
    held = max(least, FACE_OVER_NOISE * error) <= abs(step_rim) and FACE_HOLD <= step_core / step_rim <= 1 / FACE_HOLD
    return held, step_rim, step_core


def _line_kernels(length: int) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """Means along straight lines ``length`` pixels long at 0, 45, 90 and 135 degrees (kernels), each with the shift
    (dy, dx) to a parallel line two pixels or so to one side."""
    flat = np.zeros((length, length), np.float32)
    flat[length // 2] = 1.0 / length
    diag = np.eye(length, dtype=np.float32) / length
    return [(flat, (2, 0)), (diag[::-1].copy(), (2, 2)), (flat.T.copy(), (0, 2)), (diag, (2, -2))]


_WIRE_LINES = _line_kernels(WIRE_LENGTH)


def faint_wires(offset: np.ndarray, clear: np.ndarray, quiet: np.ndarray, fg: np.ndarray) -> np.ndarray:
    """Wires of the product a lightness unit or two off a noisy sweep, within its noise pixel by pixel (their detail
    stands out in pieces, and the flood and the holes pass take the rest): among the ``clear`` pixels, those where
    the lightness ``offset`` from the backdrop, averaged along a line ``WIRE_LENGTH`` long (at four angles), stands
    out beyond the backdrop's own average along lines (its 99.9th percentile on the quiet border), as a ridge:
    lighter (or darker) than the parallel lines two pixels to either side (a face's edge steps, a shadow is broad).
    Noise averages away along a line; a wire does not. Hysteresis: weaker lines joined to strong ones count, in
    pieces no shorter than ``SPECK`` (noise makes streaks a line or two long) that meet the foreground ``fg`` (a
    wire of the product, not a crease in the sweep)."""
    h, w = clear.shape
    wires = np.zeros_like(clear)
    ys_q, xs_q = np.nonzero(quiet[::2, ::2])  # a sample of the quiet border is enough for its percentile
    # Only the product's box is searched, as far out as a line reaches.
    found = _box_of(fg, (0, 0), h, w, margin=WIRE_LENGTH)
    if len(ys_q) <= 20 or found is None:
        return wires
    ys_q, xs_q = 2 * ys_q, 2 * xs_q
    y0, y1, x0, x1 = found
    allowed = np.zeros_like(clear)
    allowed[y0:y1, x0:x1] = clear[y0:y1, x0:x1]
    weak, strong = np.zeros(h * w, bool), np.zeros(h * w, bool)
    offset = offset.astype(np.float32)
    mean_abs = np.empty_like(offset)
    for kernel, (sy, sx) in _WIRE_LINES:
        mean = cv2.filter2D(offset, -1, kernel, borderType=cv2.BORDER_REFLECT)
        noise = float(np.percentile(np.abs(mean[ys_q, xs_q]), 99.9))
        idx = np.flatnonzero((np.abs(mean, out=mean_abs) > WIRE_LOW * noise) & allowed)
        ys, xs = np.divmod(idx, w)
        mid = mean.ravel()[idx]
        size = np.abs(mid)
        ridge = np.ones(len(idx), bool)
        for dy, dx in ((sy, sx), (-sy, -sx)):
            ridge &= np.sign(mid) * mean[np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)] < 0.5 * size
        weak[idx[ridge]] = True
        strong[idx[ridge & (size > WIRE_HIGH * noise)]] = True
    box = (slice(y0, y1), slice(x0, x1))
    near = cv2.dilate(fg[box].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    wires[box] = _pieces(weak.reshape(h, w)[box], strong.reshape(h, w)[box], SPECK, touching=near)
    return wires


def _pieces(weak: np.ndarray, strong: np.ndarray, min_extent: float, touching: np.ndarray | None = None
            ) -> np.ndarray:
    """Hysteresis: the connected pieces of ``weak`` pixels that hold a ``strong`` one, whose box is at least
    ``min_extent`` long (noise makes specks), and that reach a ``touching`` pixel where that is given."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(weak.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[labels[strong & weak]] = True
    keep &= np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]) >= min_extent
    if touching is not None:
        keep &= np.bincount(labels[touching], minlength=n) > 0
    keep[0] = False
    return keep[labels]


def _without_specks(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Outlines and wires run on; sensor and JPEG noise in a shadow makes specks."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    return keep[labels]


def _red_and_blue_shares(ratio: np.ndarray) -> np.ndarray:
    """The red and blue channels' shares of the level less one, in % (HxWx2): the colour off the backdrop's."""
    level = np.maximum(level_of(ratio), 1e-3)
    return np.dstack([ratio[:, :, 0] / level - 1, ratio[:, :, 2] / level - 1]) * 100


def shadow_like(ratio: np.ndarray) -> np.ndarray:
    """The backdrop darkened: every channel scaled alike, by 0.3-1 (``ratio`` is image / backdrop, per channel)."""
    level = level_of(ratio)
    return (spread(ratio) < SHADOW_FLATNESS) & (level > 0.3) & (level < 1.0)


def shading_field(offset: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``offset`` (HxW) measured where ``known``, spread smoothly everywhere else (normalized convolution, a near
    scale where the known pixels are close, a far one elsewhere; the far one, smooth, is estimated at a quarter of
    the size)."""
    m = known.astype(np.float32)
    v = np.where(known, offset, 0).astype(np.float32)
    near_sigma, far_sigma = SHADING_SIGMAS
    near, den = _normalized_blur(v, m, near_sigma)
    h, w = m.shape
    small = (max(1, w // 4), max(1, h // 4))
    far, _ = _normalized_blur(cv2.resize(v, small, interpolation=cv2.INTER_AREA),
                              cv2.resize(m, small, interpolation=cv2.INTER_AREA), far_sigma / 4)
    weight = np.clip(den / 0.2, 0, 1)
    return weight * near + (1 - weight) * cv2.resize(far, (w, h), interpolation=cv2.INTER_LINEAR)


def _normalized_blur(values: np.ndarray, weights: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """(the weighted mean of ``values`` around each pixel, 0 where there is no weight; the weight around it)."""
    den = cv2.GaussianBlur(weights, (0, 0), sigma)
    est = cv2.GaussianBlur(values, (0, 0), sigma) / np.maximum(den, 1e-6)
    est[den <= 1e-6] = 0
    return est, den


def trusted_residual(local: np.ndarray, model: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Distance to the local backdrop where its shading was measured close by, to the plain model elsewhere: light
    guessed far into a pale face would make the face look like the backdrop."""
    near = cv2.GaussianBlur(known.astype(np.float32), (0, 0), SHADING_SIGMAS[0]) >= 0.2
    return np.where(near, np.minimum(local, model), model)


def tinted_panes(holes: np.ndarray, ratio: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """The regions of ``holes`` that are glass: deep inside them, where the colour a frame bleeds into an opening
    (lens blur, JPEG's coarse chroma) has faded, the backdrop is seen with its channels scaled unequally, by one tint
    all over (averaged over a few pixels, beyond the noise, it varies far less than it is large), measured against
    the local backdrop's colour (see ``backdrop_tint``). An opening shows the backdrop itself, only darker or lighter
    where shaded; a shadow tinted by light bounced off the product changes its tint as it fades."""
    n, labels = cv2.connectedComponents(holes.astype(np.uint8), connectivity=4)
    core = cv2.distanceTransform(holes.astype(np.uint8), cv2.DIST_L2, 3) >= GLASS_DEPTH
    idx = labels[core]
    count = np.bincount(idx, minlength=n).astype(np.float64)
    count[0] = 0
    if n <= 1 or count.max() < GLASS_CORE:
        return np.zeros_like(holes)
    tint = backdrop_tint(ratio, clean)
    weight = core.astype(np.float32)
    box = (GLASS_AVERAGE, GLASS_AVERAGE)
    support = np.maximum(cv2.blur(weight, box), 1e-6)
    count = np.maximum(count, 1)
    shift_sq, scatter_sq = np.zeros(n), np.zeros(n)
    for k in range(3):
        mean = np.bincount(idx, weights=tint[..., k][core], minlength=n) / count
        local = (cv2.blur(tint[..., k] * weight, box) / support)[core] - mean[idx]
        shift_sq += mean**2
        scatter_sq += np.bincount(idx, weights=local.astype(np.float64) ** 2, minlength=n) / count
    shift, scatter = np.sqrt(shift_sq), np.sqrt(scatter_sq)
    glass = (count >= GLASS_CORE) & (shift >= GLASS_TINT) & (shift >= GLASS_CONSISTENCY * scatter)
    glass[0] = False
    if not glass.any():
        return np.zeros_like(holes)
    panes = glass[labels]
    # A pane reaches a little beyond its core; openings joined to it through a gap in a frame, with no core of their
    # own (the cells of a mesh), are judged on nothing and stay holes.
    return panes & (cv2.distanceTransform((~(panes & core)).astype(np.uint8), cv2.DIST_L2, 3) <= GLASS_REACH)


def backdrop_tint(ratio: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """The chroma of each pixel against the local backdrop's (HxWx3): the backdrop model's error in colour, which
    varies as slowly as the light, is measured on the ``clean`` backdrop pixels (away from the product's blur and
    bleed) around, at a quarter of the size, and taken off."""
    chroma = chroma_of(ratio)
    h, w = clean.shape
    small = (max(1, w // 4), max(1, h // 4))
    known = cv2.resize(clean.astype(np.float32), small, interpolation=cv2.INTER_AREA)
    den = cv2.GaussianBlur(known, (0, 0), TINT_REACH / 4)
    for k in range(3):
        num = cv2.GaussianBlur(cv2.resize(chroma[..., k] * clean, small, interpolation=cv2.INTER_AREA), (0, 0),
                               TINT_REACH / 4)
        error = np.where(den > 1e-4, num / np.maximum(den, 1e-4), 0).astype(np.float32)
        chroma[..., k] -= cv2.resize(error, (w, h), interpolation=cv2.INTER_LINEAR)
    return chroma


def backdrop_holes(fg: np.ndarray, residual: np.ndarray, t_bg: float, smooth_shadow: np.ndarray,
                   sharp: np.ndarray, level: np.ndarray, wires: np.ndarray | None = None) -> np.ndarray:
    """Enclosed regions of the foreground that match the local backdrop: most of their
    pixels within ``t_bg`` of it and those well within it on average (a white face a few dE off the backdrop is not a
    hole, however big), the rest a smooth shadow of it (the floor seen through a frame). Faint ``wires`` match the
    backdrop pixel by pixel but stand out along their length: they are no part of a hole."""
    exact = residual < t_bg
    if wires is not None:
        exact &= ~wires
    cand = fg & exact  # a backdrop-coloured pixel is a candidate even beside a wire
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cand.astype(np.uint8), connectivity=4)
    if n <= 1:
        return np.zeros_like(fg)
    idx = labels.ravel()
    area = np.maximum(stats[:, cv2.CC_STAT_AREA], 1).astype(np.float64)
    n_exact = np.bincount(idx, weights=exact.ravel(), minlength=n)
    mean_exact = np.bincount(idx, weights=(residual * exact).ravel(), minlength=n) / np.maximum(n_exact, 1)
    is_hole = (n_exact >= 0.5 * area) & (mean_exact < 0.7 * t_bg) & (n_exact >= 1)
    is_hole[0] = False
    holes = is_hole[labels] & mostly_exact(fg, exact, smooth_shadow, sharp)
    holes = grow_within(holes, fg & exact, steps=2)
    # The floor seen through a frame darkens smoothly into the shadow under it; a grey part steps away from it.
    n_h, h_labels, h_stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=4)
    seen = h_stats[:, cv2.CC_STAT_AREA] >= SHADOW_SEED  # a stretch of floor, not a speck inside a pale face
    seen[0] = False
    grown = grow_smoothly(seen[h_labels], fg & smooth_shadow & ~sharp, level, SHADOW_STEP, SHADOW_REACH)
    holes = holes | (grown & graded_shadows(grown & ~holes, level))
    return holes | framed_gaps(fg & ~holes, residual, t_bg)


def graded_shadows(region: np.ndarray, level: np.ndarray) -> np.ndarray:
    """The parts of ``region`` that are a shadow: graded, and somewhere deeper than a pale panel's shade. A white
    face in light shade is as flat as it is pale, however smoothly it meets a hole."""
    n, labels = cv2.connectedComponents(region.astype(np.uint8), connectivity=8)
    if n <= 1:
        return region
    idx = labels.ravel()
    area = np.maximum(np.bincount(idx, minlength=n), 1).astype(np.float64)
    mean = np.bincount(idx, weights=level.ravel(), minlength=n) / area
    std = np.sqrt(np.maximum(np.bincount(idx, weights=level.ravel() ** 2, minlength=n) / area - mean**2, 0))
    deep = np.bincount(idx, weights=(level < PANEL_SHADE).ravel(), minlength=n) / area
    shadow = (std > SHADOW_GRADING) | (deep > SHADOW_DEEP_SHARE)
    shadow[0] = False
    return shadow[labels]


def mostly_exact(fg: np.ndarray, exact: np.ndarray, smooth_shadow: np.ndarray, sharp: np.ndarray) -> np.ndarray:
    """The pixels of smooth regions of the foreground (bounded by sharp detail) in which the backdrop may be seen:
    regions mostly the backdrop itself, or reaching down to where the product stands (the floor under it and the
    shadow cast on it). A lit white face matching the backdrop higher up runs on, without an edge, into its own
    shade: it is product."""
    smooth = fg & (exact | (smooth_shadow & ~sharp))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(smooth.astype(np.uint8), connectivity=4)
    area = np.maximum(stats[:, cv2.CC_STAT_AREA], 1).astype(np.float64)
    share = np.bincount(labels.ravel(), weights=exact.ravel(), minlength=n) / area
    # The floor seen under a product and the shadow the product casts on it reach down to where the product stands.
    r = max(2, round(0.005 * max(fg.shape)))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    body = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_OPEN, disk)
    rows = np.flatnonzero((body if body.any() else fg).any(axis=1))  # its solid parts: not a speck or a hairline
    top, bottom = rows[0], rows[-1]
    lowest = stats[:, cv2.CC_STAT_TOP] + stats[:, cv2.CC_STAT_HEIGHT] - 1
    on_floor = lowest >= bottom - FLOOR_REACH * (bottom - top + 1)
    ok = (share >= HOLE_EXACT_SHARE) | on_floor
    ok[0] = False
    return ok[labels]


def grow_smoothly(region: np.ndarray, allowed: np.ndarray, level: np.ndarray, step: float, reach: int) -> np.ndarray:
    """Grow ``region`` onto ``allowed`` pixels whose ``level`` is within ``step`` of a neighbour already in it."""
    out = region.copy()
    level = level.astype(np.float32)
    k = np.ones((3, 3), np.uint8)
    h, w = region.shape
    # Only the pixels beside the last ones added can join next: each step looks at their box (and at a pixel more
    # around it, where their neighbours lie).
    box = _box_of(allowed, (0, 0), h, w)
    for _ in range(reach):
        if box is None:
            break
        y0, y1, x0, x1 = box
        cy0, cy1, cx0, cx1 = max(0, y0 - 1), min(h, y1 + 1), max(0, x0 - 1), min(w, x1 + 1)
        grown, lv = out[cy0:cy1, cx0:cx1], level[cy0:cy1, cx0:cx1]
        hi = cv2.dilate(np.where(grown, lv, -1e3).astype(np.float32), k)
        lo = -cv2.dilate(np.where(grown, -lv, -1e3).astype(np.float32), k)
        add = allowed[cy0:cy1, cx0:cx1] & ~grown & (hi > -1e2) & ((np.abs(lv - hi) < step) | (np.abs(lv - lo) < step))
        inner = np.zeros_like(add)
        inner[y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0] = True
        add &= inner
        grown |= add
        box = _box_of(add, (cy0, cx0), h, w)
    return out


def _box_of(mask: np.ndarray, origin: tuple[int, int], h: int, w: int,
            margin: int = 1) -> tuple[int, int, int, int] | None:
    """The box (y0, y1, x0, x1) around ``mask``'s pixels and ``margin`` pixels all round, in the HxW frame in which
    ``mask`` starts at ``origin``; None when it has none."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    oy, ox = origin
    return (max(0, oy + rows[0] - margin), min(h, oy + rows[-1] + margin + 1),
            max(0, ox + cols[0] - margin), min(w, ox + cols[-1] + margin + 1))


def framed_gaps(fg: np.ndarray, residual: np.ndarray, t_bg: float) -> np.ndarray:
    """Enclosed regions near the backdrop's colour (within ``PALE_GAP`` x ``t_bg``; compression noise keeps them from
    matching it exactly) framed by product far from it: the floor between dark legs and wires. A pale face framed
    by a faint outline is not one: its frame is as pale as it is; nor a pale part that meets the backdrop."""
    cand = fg & (residual < PALE_GAP * t_bg)
    n, labels = cv2.connectedComponents(cand.astype(np.uint8), connectivity=4)
    if n <= 1:
        return np.zeros_like(fg)
    area = np.maximum(np.bincount(labels.ravel(), minlength=n), 1).astype(np.float64)
    inner = np.bincount(labels.ravel(), weights=residual.ravel(), minlength=n) / area
    ring = ~cand  # the backdrop and the holes around count too: a gap is framed by product all round
    around = cv2.dilate(labels.astype(np.float32), np.ones((3, 3), np.uint8)).astype(np.int64)
    on_ring = ring & (around > 0)
    ring_n = np.bincount(around[on_ring], minlength=n)
    # Framed all round: most of the frame far from the backdrop, not one dark part beside a pale face.
    far = residual > FRAME_CONTRAST * np.maximum(inner, t_bg)[around]
    ring_far = np.bincount(around[on_ring], weights=far[on_ring], minlength=n) / np.maximum(ring_n, 1)
    gap = (inner < 0.6 * PALE_GAP * t_bg) & (ring_far >= FRAME_SHARE) & (ring_n >= 4)
    gap[0] = False
    return gap[labels]


def _outlined_panels(ratio: np.ndarray, background: np.ndarray, exact_bg: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """White product faces the flood entered where the product meets a shadow of the same grey: inside the flooded
    backdrop, large regions a constant step darker than the backdrop (a shadow fades instead) whose outline is mostly
    a real edge (a shadow's is soft)."""
    h, w = background.shape
    level = level_of(ratio)
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
                      edge_t: float, flatness: float = SHADOW_FLATNESS, gradual: np.ndarray | None = None) -> np.ndarray:
    """Shadows the flood could not enter (their ramps read as edges): regions of the foreground that are the
    backdrop's colour made darker, graded rather than flat (a flat one is a white panel), touching the backdrop,
    in the lower part of the product."""
    level = level_of(ratio)
    tint = fg & (level > 0.3) & (level < 0.985) & (spread(ratio) < flatness)
    tint &= grad < edge_t * 6  # not across a hard product edge
    n, labels, stats, _ = cv2.connectedComponentsWithStats(tint.astype(np.uint8), connectivity=4)
    if n <= 1:
        return np.zeros_like(fg)
    ys = np.nonzero(fg.any(axis=1))[0]
    top, bottom = ys[0], ys[-1]
    xs = np.nonzero(fg.any(axis=0))[0]
    # A flat floor shadow is judged against the product's extent, not its pixel count: a thin product (wires, a
    # ring) casts one as wide as itself. Taller regions are judged against its pixels (a grey product's own parts).
    extent = max(float(fg.sum()), BOX_SHARE * (bottom - top + 1) * (xs[-1] - xs[0] + 1))
    near_bg = cv2.dilate(background.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    idx = labels.ravel()
    area = np.maximum(stats[:, cv2.CC_STAT_AREA], 1).astype(np.float64)
    mean = np.bincount(idx, weights=level.ravel(), minlength=n) / area
    std = np.sqrt(np.maximum(np.bincount(idx, weights=level.ravel() ** 2, minlength=n) / area - mean**2, 0))
    touches = np.bincount(idx, weights=near_bg.ravel(), minlength=n) > 0
    cy = stats[:, cv2.CC_STAT_TOP] + stats[:, cv2.CC_STAT_HEIGHT] / 2
    lower = cy > top + 0.6 * (bottom - top)
    # A floor shadow is a small, flat share of the product, never a tall block.
    small = (area < 0.25 * extent) & (stats[:, cv2.CC_STAT_HEIGHT] < 0.2 * (bottom - top + 1))
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
    if gradual is not None:  # a shadow fades into the backdrop where they meet; a grey part steps away from it
        shadow &= _share_where_meeting(labels, n, near_bg, gradual) >= 0.5
    shadow[0] = False
    return _without_grey_parts(shadow[labels], level, near_bg) if gradual is not None else shadow[labels]


def _without_grey_parts(shadow: np.ndarray, level: np.ndarray, near_bg: np.ndarray) -> np.ndarray:
    """``shadow`` less the grey parts that joined it (a key hanging into the shadow of its grey, a leg standing in
    it): a part has its own outline, a step in the level, where a shadow's level ramps; a thin part is all outline.
    Cut along the steps, a region that meets the backdrop through a step for the most part is a part. A region cut
    off from the backdrop by the steps (the floor seen between a cage's bars) stays with the shadow."""
    edges = product_edges(level)
    cut = (shadow & ~edges).astype(np.uint8)
    n, labels = cv2.connectedComponents(cut, connectivity=4)
    # Whole, a part meets the backdrop in a step all round; a region that also fades into it holds some shadow.
    parts = _stepped(labels, n, level, near_bg, PART_STEPPED)
    # A part may join the shadow through a neck (a key's stem): the strokes thinner than a thin part are judged
    # apart from the broad regions they join as well.
    core = cv2.morphologyEx(cut, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (THIN_SIDE,) * 2))
    n_core, labels = cv2.connectedComponents(core, connectivity=4)
    n_thin, thin = cv2.connectedComponents(cut & (1 - core), connectivity=4)
    labels, n = np.where(thin > 0, thin + n_core - 1, labels), n_core + n_thin - 1
    parts |= _stepped(labels, n, level, near_bg, 0.5)
    # A part lying in the shadow (a lamp's base disc, its stem joining it) may meet no backdrop: its top is lit, flat
    # and lighter than the shade around it, beyond its own outline; the floor between a cage's bars is that shade.
    parts |= _lit_parts(cut > 0, level)
    return shadow & ~grow_within(parts | _strokes(shadow & edges), shadow & edges, EDGE_CUT)


def _lit_parts(cut: np.ndarray, level: np.ndarray) -> np.ndarray:
    """The parts lying in a shadow, among the regions of ``cut`` (the shadow less its steps) once cut from what they
    join through a neck narrower than three pixels (a lamp's stem meeting its base): flat (a shadow is graded), no
    smaller than a speck, outlined by a step for most of their rim (within ``EDGE_CUT``; a shadow's piece cut off by
    a part fades on), and lighter by a step than most of the shadow beyond their outline, beyond ``EDGE_CUT`` and a
    thin part's width (so that the floor between a cage's bars is judged against the floor beyond the bars, not
    against the bars). A shadow is deepest under the product and ramps out: no lit island lies in it."""
    lit = np.zeros(cut.shape, bool)
    reach = EDGE_CUT + THIN_SIDE
    box = _box_of(cut, (0, 0), *cut.shape, margin=reach + 1)  # only the shadow's box is looked at
    if box is None:
        return lit
    y0, y1, x0, x1 = box
    lit[y0:y1, x0:x1] = _lit_in_box(cut[y0:y1, x0:x1], level[y0:y1, x0:x1], reach)
    return lit


def _lit_in_box(cut: np.ndarray, level: np.ndarray, reach: int) -> np.ndarray:
    """``_lit_parts`` on the shadow's box."""
    opened = cv2.morphologyEx(cut.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=4)
    lit = np.zeros(cut.shape, bool)
    if n <= 1:
        return lit
    idx = labels.ravel()
    area = np.maximum(stats[:, cv2.CC_STAT_AREA], 1).astype(np.float64)
    mean = np.bincount(idx, weights=level.ravel(), minlength=n) / area
    std = np.sqrt(np.maximum(np.bincount(idx, weights=level.ravel() ** 2, minlength=n) / area - mean**2, 0))
    flat = (std < SHADOW_GRADING) & (area >= SPECK)
    flat[0] = False
    h, w = cut.shape
    for i in np.nonzero(flat)[0]:
        x, y, bw, bh = stats[i, :4]
        y0, y1, x0, x1 = max(0, y - reach), min(h, y + bh + reach), max(0, x - reach), min(w, x + bw + reach)
        region = (labels[y0:y1, x0:x1] == i).astype(np.uint8)
        inner = cv2.dilate(region, np.ones((2 * EDGE_CUT + 1,) * 2, np.uint8)) > 0
        outer = cv2.dilate(region, np.ones((2 * reach + 1,) * 2, np.uint8)) > 0
        lv = level[y0:y1, x0:x1]
        outline = inner & ~(region > 0)
        beyond = cut[y0:y1, x0:x1] & outer & ~inner
        if ((~gradual(lv))[outline].mean() > 0.5 and beyond.sum() >= SPECK
                and (lv[beyond] < mean[i] - 2 * SHADOW_STEP).mean() > 0.5):
            lit[y0:y1, x0:x1] |= region > 0
    return grow_within(lit, cut, 1)


def _stepped(labels: np.ndarray, n: int, level: np.ndarray, near_bg: np.ndarray, share: float) -> np.ndarray:
    """The regions of ``labels`` that meet the backdrop, within ``EDGE_CUT`` (across their outline), where the
    level steps for more than ``share`` of it."""
    side = 2 * EDGE_CUT + 1
    reach = cv2.dilate(labels.astype(np.float32), np.ones((side, side), np.uint8)).astype(np.int64)
    part = _share_where_meeting(reach, n, near_bg, ~gradual(level)) > share
    part[0] = False
    return part[labels]


def _share_where_meeting(labels: np.ndarray, n: int, near_bg: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """For each of the ``n`` labels, the share of its pixels beside the backdrop (``near_bg``) that are in ``mask``
    (0 for a region that does not meet the backdrop)."""
    meet = (labels > 0) & near_bg
    meet_n = np.bincount(labels[meet], minlength=n)
    return np.bincount(labels[meet], weights=mask[meet], minlength=n) / np.maximum(meet_n, 1)


def _strokes(mask: np.ndarray) -> np.ndarray:
    """The pieces of ``mask`` that are long and thin (a stem or a leg seen as its two outlines), not a blob (the rim
    of a foot's contact shadow)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    w, h = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    long = np.maximum(w, h)
    keep = (long >= 2 * THIN_SIDE) & (long >= STROKE_ELONGATION * np.minimum(w, h))
    keep[0] = False
    return keep[labels]


def product_edges(level: np.ndarray) -> np.ndarray:
    """Where the level steps: it changes across a pixel or two by more than a shadow does, and no more across six (a
    steep shadow's ramp goes on changing at the same rate)."""
    near = cv2.morphologyEx(level, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    wide = cv2.morphologyEx(level, cv2.MORPH_GRADIENT, np.ones((7, 7), np.uint8))
    return (near >= 2 * SHADOW_STEP) & (near > STEP_SHARE * wide)


def floor_band(fg: np.ndarray, level: np.ndarray) -> tuple[int, int] | None:
    """(top, bottom) rows of the foreground where a floor shadow may lie, or None when the product casts none that
    the flood left. The foot line is the lowest row with a product edge; the
    shadow reaches below it by some distance and, on the floor behind the product, as far again above it."""
    rows = np.flatnonzero(fg.any(axis=1))
    step_rows = np.flatnonzero((fg & product_edges(level)).sum(axis=1) >= FOOT_STEPS)
    if not len(rows) or not len(step_rows):
        return None
    foot, bottom = int(step_rows[-1]), int(rows[-1])
    below = bottom - foot
    if below < FOOT_STEPS:
        return None
    return max(int(rows[0]), foot - FLOOR_BEHIND * below), bottom


def floor_shadows(image: np.ndarray, ratio: np.ndarray, fg: np.ndarray,
                  background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The floor shadow the flood could not enter, split from a pale product standing in it: in the floor band, the
    backdrop's colour made darker is flooded from the backdrop and from the product at once (a watershed on the
    colour steps), so each pixel goes to the side it joins with the smaller step; of the backdrop's side, flat panels
    that meet their surroundings in a step or beside deeper shade are product (a shadow's flat core is its deepest
    part), and so are the strokes running into it (see ``_strokes_into``, ``_run_on_in_colour``); what is left must
    be graded and fade into the backdrop where they meet. Returns (the shadow, the parts lying or running in it: the
    holes pass leaves them, as the shade measured beside them is as dark)."""
    level = level_of(ratio)
    band_rows = floor_band(fg, level)
    if band_rows is None:
        return np.zeros_like(fg), np.zeros_like(fg)
    band = np.zeros_like(fg)
    band[band_rows[0]:band_rows[1] + 1] = True
    tint = fg & band & (level > 0.3) & (level < 0.985) & (spread(ratio) < SHADOW_FLATNESS)
    markers = np.zeros(fg.shape, np.int32)
    # The backdrop a few pixels clear of the product: where a pale part matches a faint shadow the flood runs into it.
    clear = cv2.erode((~fg).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    markers[clear] = 1
    markers[fg & ~tint] = 2
    cv2.watershed(cv2.GaussianBlur(image, (0, 0), 1.0), markers)
    # A part running down into the shadow as grey as it (a ring's lower arc) is no shadow between its outlines, nor
    # where it runs on in its own colour.
    cand = tint & (markers == 1)
    # The shadow and the strokes lie in the band; the product they join is looked for a thin part's width above it.
    strokes, run_on = np.zeros_like(fg), np.zeros_like(fg)
    above = slice(max(0, band_rows[0] - THIN_SIDE), band_rows[1] + 1)
    strokes[above] = _strokes_into(tint[above], (fg & ~tint)[above], product_edges(level[above]))
    rows = slice(band_rows[0], band_rows[1] + 1)
    run_on[rows] = _run_on_in_colour(strokes[rows], cand[rows], _red_and_blue_shares(ratio[rows]), clear[rows])
    cand &= ~run_on
    panels = panels_in_shadow(cand, level) | (run_on & ~strokes)
    cand &= ~panels
    cand &= graded_shadows(cand, level)
    n, labels = cv2.connectedComponents(cand.astype(np.uint8), connectivity=8)
    if n <= 1:
        return cand, panels
    # A shadow fades into the backdrop where they meet; a grey part steps away from it.
    near_bg = cv2.dilate(background.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    ok = _share_where_meeting(labels, n, near_bg, gradual(level)) >= 0.5
    ok[0] = False
    return ok[labels], panels


def _strokes_into(region: np.ndarray, product: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The pixels of ``region`` between two outlines (``edges``) closer than a thin part's width, joined through such
    pixels to the ``product``: a stroke of it (a ring's arc, a leg) running on into a shadow as grey as it. A
    shadow's ramp has no outline, and one outline alone encloses nothing."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (THIN_SIDE, THIN_SIDE))
    between = (cv2.morphologyEx(edges.astype(np.uint8), cv2.MORPH_CLOSE, k) > 0) & ~edges & region
    n, labels = cv2.connectedComponents((between | product).astype(np.uint8), connectivity=8)
    joined = np.zeros(n, bool)
    joined[labels[product]] = True
    joined[0] = False
    return joined[labels] & between


def pixel_colour(colour: np.ndarray, clear: np.ndarray) -> tuple[np.ndarray, float]:
    """(the ``colour`` (HxWx2, see ``_red_and_blue_shares``) smoothed a little, a pixel's own; how far it strays on
    the ``clear`` backdrop: the 99.9th percentile of its size, inf where too little backdrop is clear)."""
    colour = cv2.GaussianBlur(colour, (0, 0), 1.0)
    sample = colour[::2, ::2][clear[::2, ::2]]  # a sample of the clear backdrop is enough for its percentile
    if len(sample) <= 20:
        return colour, float("inf")
    return colour, float(np.percentile(np.hypot(sample[:, 0], sample[:, 1]), 99.9))


def _run_on_in_colour(strokes: np.ndarray, region: np.ndarray, colour: np.ndarray, clear: np.ndarray) -> np.ndarray:
    """``strokes`` with the pixels of ``region`` joined to them where the ``colour`` (smoothed a little) is nearer
    their own than the backdrop's, where theirs is off the backdrop's by ``TINT_OVER_NOISE`` times its noise on the
    ``clear`` backdrop (99.9th percentile): a part runs on in its colour where its outlines fade in a shadow as grey
    as it, and a shadow is the backdrop's colour made darker."""
    if not strokes.any():
        return strokes
    colour, noise = pixel_colour(colour, clear)
    if not np.isfinite(noise):
        return strokes
    own = colour[strokes].mean(axis=0)
    size = float(np.hypot(*own))
    if size < TINT_OVER_NOISE * noise:
        return strokes
    along = (colour[:, :, 0] * own[0] + colour[:, :, 1] * own[1]) / size
    n, labels = cv2.connectedComponents((strokes | (region & (along > 0.5 * size))).astype(np.uint8), connectivity=8)
    joined = np.zeros(n, bool)
    joined[labels[strokes]] = True
    joined[0] = False
    return joined[labels]


def coloured_openings(holes: np.ndarray, colour: np.ndarray, clear: np.ndarray) -> np.ndarray:
    """The parts of ``holes`` that are no opening: the backdrop seen through one is its own colour, shaded or not, so
    pixels whose own colour (``colour``, see ``pixel_colour``) is off the backdrop's beyond ``TINT_OVER_NOISE`` times
    its noise on the ``clear`` backdrop, and beyond ``COLOUR_FLOOR`` (a clipped white backdrop has no noise to
    measure), in pieces broader than the rim onto which JPEG bleeds a part's colour (a bluish rail lying in the floor
    shadow at its level, not the bled rim of a mesh cell)."""
    colour, noise = pixel_colour(colour, clear)
    off = holes & (np.hypot(colour[:, :, 0], colour[:, :, 1]) > max(COLOUR_FLOOR, TINT_OVER_NOISE * noise))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * COLOUR_RIM + 1,) * 2)
    broad = cv2.morphologyEx(off.astype(np.uint8), cv2.MORPH_OPEN, disk) > 0
    return grow_within(broad, off, COLOUR_RIM)


def floor_level_across(level: np.ndarray, outside: np.ndarray) -> np.ndarray:
    """The level of the floor outside the product carried across it, row by row (HxW, NaN where a row has no
    outside): in each row, the level measured on the nearest ``outside`` pixels to the left and to the right
    (smoothed a little over the outside), interpolated linearly between them."""
    m = outside.astype(np.float32)
    den = cv2.GaussianBlur(m, (0, 0), FLOOR_SMOOTH)
    known = cv2.GaussianBlur(np.where(outside, level, 0).astype(np.float32), (0, 0), FLOOR_SMOOTH)
    known = np.where(outside, known / np.maximum(den, 1e-6), np.nan).astype(np.float32)
    h, w = level.shape
    cols = np.broadcast_to(np.arange(w, dtype=np.int32), (h, w))
    left = np.maximum.accumulate(np.where(outside, cols, np.int32(-1)), axis=1)
    right = np.minimum.accumulate(np.where(outside, cols, np.int32(w))[:, ::-1], axis=1)[:, ::-1]  # w: none there
    # Where a row has no outside on one side, the index wraps to the other end, where ``known`` is NaN or the far
    # side's value is taken below.
    at_left = np.take_along_axis(known, left, axis=1)
    at_left[left < 0] = np.nan
    at_right = np.take_along_axis(known, np.minimum(right, w - 1), axis=1)
    at_right[right >= w] = np.nan
    t = (cols - left).astype(np.float32)
    t /= np.maximum(right - left, 1).astype(np.float32)
    both = at_left + t * (at_right - at_left)
    no_left, no_right = np.isnan(at_left), np.isnan(at_right)
    both[no_left] = at_right[no_left]
    both[no_right & ~no_left] = at_left[no_right & ~no_left]
    return both


def floor_seen_through(level: np.ndarray, shadowed: np.ndarray, fg: np.ndarray, holes: np.ndarray,
                       sharp_dark: np.ndarray) -> np.ndarray:
    """Openings of the product entirely inside its floor shadow (the lower cells of a spoked wheel or of a mesh, the
    bottom of a standing frame): enclosed regions of the backdrop's colour made darker whose level, all over, is the
    floor shadow's measured at the same height and carried across (see ``floor_level_across``), where that is a
    shadow: outside the product, or outside and through its other openings. No pixel of them is the exact backdrop,
    so the holes pass has no seed there. A grey part or a pale face in shade steps away from the floor's level: it
    is flat where the shadow is graded with height, or darker or lighter than the floor beside it, or meets the
    floor in a step."""
    found = np.zeros_like(fg)
    open_shade = fg & ~holes & shadowed
    if not open_shade.any():
        return found
    # Only the product's box is looked at, with the floor outside it that the carry reads and smooths.
    y0, y1, x0, x1 = _box_of(fg, (0, 0), *fg.shape, margin=2 * FLOOR_CLEAR + int(np.ceil(4 * FLOOR_SMOOTH)) + 2)
    box = (slice(y0, y1), slice(x0, x1))
    found[box] = _floor_seen_in_box(level[box], fg[box], holes[box], open_shade[box], sharp_dark[box])
    return found


def _floor_seen_in_box(level: np.ndarray, fg: np.ndarray, holes: np.ndarray, open_shade: np.ndarray,
                       sharp_dark: np.ndarray) -> np.ndarray:
    """``floor_seen_through`` on the product's box."""
    # Enclosed: bounded by product and holes all round, not a face meeting the floor outside.
    near_out = cv2.dilate((~fg & ~holes).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    side = (2 * FLOOR_CLEAR + 1,) * 2
    outside = cv2.erode((~fg & ~holes).astype(np.uint8), np.ones(side, np.uint8)) > 0
    floor_outside = floor_level_across(level, outside)
    found = _floor_openings(level, open_shade, floor_outside, floor_outside, near_out, sharp_dark)
    # In a shadow deeper towards its middle, an opening beside others is graded as the floor seen through them (the
    # floor outside, farther off, is graded less), though no farther off the floor outside than an opening may be.
    # Trusted only deeper than a pale panel's shade: a white face is sometimes taken for an opening, and a pale face
    # in light shade beside it is as light.
    through = cv2.erode((~fg | holes).astype(np.uint8), np.ones(side, np.uint8)) > 0
    found |= _floor_openings(level, open_shade & ~found, floor_level_across(level, through), floor_outside,
                             near_out, sharp_dark, PANEL_SHADE)
    return found


def _floor_openings(level: np.ndarray, open_shade: np.ndarray, expected: np.ndarray, floor_outside: np.ndarray,
                    near_out: np.ndarray, sharp_dark: np.ndarray, deepest: float = FLOOR_SHADE) -> np.ndarray:
    """The regions of ``open_shade`` away from ``near_out`` graded as the ``expected`` floor level, within
    ``FLOOR_OFFSET`` of it and of the floor outside on average, where the floor expected is deeper than ``deepest``,
    with their rim (see ``floor_seen_through``)."""
    valid = ~np.isnan(expected)
    diff = np.where(valid, level - expected, 1.0).astype(np.float32)
    # Smooth once the floor's own grading is taken off (a steep shadow ramps faster than gradual allows): a spoke or
    # a wire steps away from the floor.
    cand = open_shade & valid & gradual(diff)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cand.astype(np.uint8), connectivity=4)
    if n <= 1:
        return np.zeros_like(open_shade)
    idx = labels[cand]
    area = np.maximum(stats[:, cv2.CC_STAT_AREA], 1).astype(np.float64)
    # Nearer the middle of the shadow than the outside it is measured on, the floor seen is a little deeper, but
    # graded as the floor beside it is, row by row.
    d = diff[cand]
    offset = np.bincount(idx, weights=d, minlength=n) / area
    match = np.bincount(idx, weights=np.abs(d - offset[idx]) < FLOOR_MATCH, minlength=n) / area
    shade = np.bincount(idx, weights=expected[cand], minlength=n) / area
    off_outside = np.bincount(idx, weights=np.nan_to_num(level[cand] - floor_outside[cand], nan=1.0),
                              minlength=n) / area
    touches = np.bincount(idx, weights=near_out[cand], minlength=n) > 0
    seen = (match >= FLOOR_MATCH_SHARE) & (np.maximum(np.abs(offset), np.abs(off_outside)) < FLOOR_OFFSET)
    seen &= shade < deepest
    seen &= ~touches & (area >= FLOOR_MIN_AREA)
    seen[0] = False
    if not seen.any():
        return np.zeros_like(open_shade)
    # The rim of an opening, where the frame's step breaks the smooth grading, is the same floor: as far off the
    # floor outside as the opening it borders.
    found = seen[labels]
    side = (2 * FLOOR_CLEAR + 1,) * 2
    near = cv2.blur(found.astype(np.float32), side)
    beside = cv2.blur(np.where(found, offset[labels], 0).astype(np.float32), side) / np.maximum(near, 1e-6)
    rim = open_shade & ~sharp_dark & (near > 0) & (np.abs(diff - beside) < FLOOR_MATCH)
    return grow_within(found, rim, FLOOR_CLEAR)


def panels_in_shadow(region: np.ndarray, level: np.ndarray) -> np.ndarray:
    """Flat parts of ``region`` (a tray, a foot, a frame's bottom rail lying in a floor shadow), with their own edge:
    flat cores whose surroundings are, for a good share, a step or deeper shade. A shadow's flat core is its deepest
    part and ramps away on every side."""
    soft = cv2.GaussianBlur(level.astype(np.float32), (0, 0), 1.0)
    flat = region & (cv2.morphologyEx(soft, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) < PANEL_FLATNESS)
    n, labels = cv2.connectedComponents(flat.astype(np.uint8), connectivity=4)
    if n <= 1:
        return np.zeros_like(region)
    idx = labels.ravel()
    mean = np.bincount(idx, weights=soft.ravel(), minlength=n) / np.maximum(np.bincount(idx, minlength=n), 1)
    side = 2 * PANEL_RING + 1
    around = cv2.dilate(labels.astype(np.float32), np.ones((side, side), np.uint8)).astype(np.int64)
    ring = (labels == 0) & (around > 0)
    ring_n = np.maximum(np.bincount(around[ring], minlength=n), 1)
    stepped = np.bincount(around[ring], weights=~gradual(level)[ring], minlength=n) / ring_n
    deeper = ring & (soft < mean[around] - PANEL_DEEPER)
    darker = np.bincount(around[deeper], minlength=n) / ring_n
    panel = stepped + darker > PANEL_EDGE_SHARE
    panel[0] = False
    return grow_within(panel[labels], region, PANEL_RING)


def studio_foreground(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, BackdropModel, np.ndarray, np.ndarray]:
    """(foreground, holes, backdrop model, shading, faint faces) at the size of ``image`` (RGB uint8) on a studio
    backdrop."""
    lab = rgb_to_lab(image)
    h, w = lab.shape[:2]
    model, dist = fit_backdrop(lab, border_mask(h, w))
    bg = model.predict(h, w)
    n = model.noise
    t_bg = max(2.0, 3.5 * n)
    det = detail(lab)
    quiet = border_mask(h, w) & (dist < t_bg)
    det_noise = float(np.percentile(det[quiet], 99)) if quiet.sum() > 20 else 1.0
    edge_t = max(EDGE_FLOOR, EDGE_OVER_NOISE * det_noise)
    thin = thin_parts(lab[:, :, 0], edge_t)
    thin_dark = dark_strokes(lab[:, :, 0], edge_t)
    sharp = (det > edge_t) | thin
    sharp = cv2.dilate(sharp.astype(np.uint8), np.ones((2, 2), np.uint8)) > 0  # closes one-pixel gaps in an outline
    sharp = _without_specks(sharp, SPECK)
    bg_rgb = np.maximum(lab_to_rgb(bg).astype(np.float32), 8.0)
    ratio = image.astype(np.float32) / bg_rgb
    shadowed = shadow_like(ratio)
    level = level_of(ratio)
    # A shadow darkens the backdrop gradually; a grey part steps away from it, even where its outline is faint.
    slow = gradual(level)
    like_bg = (dist < t_bg) | shadowed
    # Soft product edges (a blurred outline, a pale panel's rim) block a flood into shadow-like pixels as well; the
    # backdrop's own pixels pass on sharp detail alone.
    grad = _edge_strength(lab)
    soft_edge = cv2.dilate((grad > max(2.0, 5.0 * n)).astype(np.uint8), np.ones((2, 2), np.uint8)) > 0
    tint = tinted(ratio, quiet, sharp)
    # Pale slabs and rails the tinted pass found only in patches, joined along their length.
    unbled = clear_of_bleed(dist >= 2 * t_bg)
    keep = away_from_detail(sharp) & unbled
    colour = _red_and_blue_shares(ratio)
    rails = tinted_rails(colour, tint & keep & (dist < t_bg), keep, quiet)
    tint |= rails
    passable = like_bg & ~sharp & ~tint & ~(soft_edge & ~(dist < t_bg))
    background = flood_from_border(passable)
    # Let the backdrop take the edge pixels that look like it, so the boundary sits on the product's own edge.
    background = grow_within(background, (dist < t_bg) & ~tint, steps=EDGE_REACH)
    offset = lab[:, :, 0] - bg[:, :, 0]
    fg = ~background | _outlined_panels(ratio, background, dist < t_bg * 0.5, grad > max(2.0, 5.0 * n))
    fg &= ~_attached_shadows(ratio, fg, background, grad, max(2.0, 5.0 * n), gradual=slow)
    floor, panels = floor_shadows(image, ratio, fg, background)
    fg &= ~floor
    # A pale face the tinted pass found in patches (JPEG codes colour in blocks), each pixel within the backdrop's
    # noise, is one region with the flooded rest of it.
    faces = faint_faces(lab[:, :, 0], passable, background | (tint & (dist < t_bg)), quiet, offset, t_bg,
                        colour=colour)
    # Faint: nothing clearly off the backdrop close by (the trough beside a bright bar is no wire).
    clear = cv2.dilate((dist >= 2 * t_bg).astype(np.uint8), np.ones((2 * WIRE_CLEAR + 1,) * 2, np.uint8)) == 0
    wires = faint_wires(offset, clear, quiet, fg | faces)
    fg |= faces | wires
    # The light is measured on the backdrop only: a white face the flood entered and the panels pass gave back
    # would otherwise teach the shading its own shade and then match it.
    shading = shading_field(offset, ~fg)
    local = bg.copy()
    local[:, :, 0] += shading
    residual = trusted_residual(length(lab - local), dist, ~fg)
    clean = ~(cv2.dilate(fg.astype(np.uint8), np.ones((2 * EDGE_REACH + 1,) * 2, np.uint8)) > 0) & (dist < t_bg)
    holes = backdrop_holes(fg, residual, t_bg, shadowed, sharp, level, wires)
    holes &= ~tinted_panes(holes, ratio, clean)
    # Holes tell more of the light: each look with their pixels known finds the holes a step deeper in a mesh.
    for _ in range(HOLE_LOOKS):
        shading = shading_field(offset, ~fg | holes)
        local[:, :, 0] = bg[:, :, 0] + shading
        residual = trusted_residual(length(lab - local), dist, ~fg | holes)
        found = backdrop_holes(fg, residual, t_bg, shadowed, sharp, level, wires)
        found &= ~tinted_panes(found, ratio, clean)
        if (found == holes).all():
            break
        holes = found
    holes |= floor_seen_through(level, shadowed, fg, holes, thin_dark)
    holes &= ~panels  # a grey part standing in the floor shadow is as dark as the shade measured beside it
    holes &= ~coloured_openings(holes, colour, clean)
    holes |= shadows_seen_through(ratio, fg & ~holes & ~thin, holes, det, edge_t)
    holes &= ~faces & ~wires & ~rails
    product = fg & ~holes
    # The light the matting compares edges with is measured a pixel away from the product, where its soft edge no
    # longer darkens the backdrop (measured right beside it, the backdrop would be taken partly for product).
    shading = shading_field(offset, ~(cv2.dilate(product.astype(np.uint8), np.ones((3, 3))) > 0))
    # The matting keeps the coarse outline of faint faces and wires, and of the tinted faces clear of the colour JPEG
    # bleeds from parts clearly off the backdrop: they are within the backdrop's noise pixel by pixel.
    tinted_faces = tint & unbled
    return product, holes, model, shading, faces | ((wires | tinted_faces) & product)


def shadows_seen_through(ratio: np.ndarray, fg: np.ndarray, holes: np.ndarray, det: np.ndarray,
                         edge_t: float) -> np.ndarray:
    """Shadows cast inside the product's frame (under a tabletop, between legs), seen through its holes: broad
    regions (``fg`` comes without thin parts) of the backdrop's colour made darker (tinted a little by light bounced
    off the product), graded, free of product detail, whose outline runs along a hole for a good part of its
    length."""
    level = level_of(ratio)
    tint = fg & (level > 0.3) & (level < 0.985) & (spread(ratio) < WARM_SHADOW_FLATNESS)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(tint.astype(np.uint8), connectivity=4)
    if n <= 1 or not holes.any():
        return np.zeros_like(fg)
    idx = labels.ravel()
    area = np.maximum(stats[:, cv2.CC_STAT_AREA], 1).astype(np.float64)
    mean = np.bincount(idx, weights=level.ravel(), minlength=n) / area
    std = np.sqrt(np.maximum(np.bincount(idx, weights=level.ravel() ** 2, minlength=n) / area - mean**2, 0))
    busy = np.bincount(idx, weights=det.ravel(), minlength=n) / area
    around = cv2.dilate(labels.astype(np.float32), np.ones((3, 3), np.uint8)).astype(np.int64)
    outline = (labels == 0) & (around > 0)
    out_n = np.bincount(around[outline], minlength=n)
    on_hole = np.bincount(around[outline & holes], minlength=n) / np.maximum(out_n, 1)
    # Deeper than a pale panel's shade.
    # A shadow fades into the backdrop it is cast on; a shaded white face meets the backdrop beside it in a step.
    meet = outline & holes
    fades = np.bincount(around[meet], weights=gradual(level)[meet], minlength=n) / np.maximum(
        np.bincount(around[meet], minlength=n), 1)
    shadow = (on_hole > 0.2) & (std > 0.02) & (busy < 3 * edge_t) & (area >= 20) & (mean < PANEL_SHADE)
    shadow &= fades >= 0.5
    shadow[0] = False
    if shadow.any():  # cast on a stretch of backdrop, not around a little opening in the product (a key's eye)
        n_holes, hole_labels, hole_stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=4)
        for i in np.nonzero(shadow)[0]:
            contact = outline & holes & (around == i)
            touching = np.unique(hole_labels[contact])
            # Light comes from above: the shadow hangs under a part and meets the backdrop along its lower side.
            top, height = stats[i, cv2.CC_STAT_TOP], stats[i, cv2.CC_STAT_HEIGHT]
            below = np.nonzero(contact)[0].mean() > top + 0.6 * height
            shadow[i] = below and hole_stats[touching[touching > 0], cv2.CC_STAT_AREA].sum() >= 0.5 * area[i]
    return shadow[labels]


def backdrop_foreground(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, BackdropModel]:
    """(foreground, holes, backdrop model) at the size of ``image`` on a studio backdrop, before overlays."""
    fg, holes, model, _, _ = studio_foreground(image)
    return fg, holes, model
