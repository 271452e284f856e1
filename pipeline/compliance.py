"""Marketplace compliance: the rules of each marketplace as data, the check of an image file against them, and the
preset that makes bgflow's output pass them by construction.

Rules live in ``pipeline/marketplaces/<name>.json`` (a user's own file in the same format works too). Each rule
carries its source: the marketplace document, the exact words, and ``confirmed: false`` where the figure could not be
found in the marketplace's own documentation (then the note says what is commonly stated and where).

A rule is ``required`` (failing it fails the image) or ``recommended`` (failing it is a warning). The product is
found by the segmenter's coarse pass on the normalized image, the same pass that finds overlays (text, swatches,
insets, dimension lines), so the check and the pipeline agree on what the product is.

The stages are imported where an image is measured, so the option registries can derive presets from the rules
without importing the pipeline.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

import cv2
import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import BgflowError, InvalidOption

if TYPE_CHECKING:
    from .settings import Settings

RULES_DIR = Path(__file__).parent / "marketplaces"
WORK_SIDE = 1024  # background and border are measured at most at this long side (area-averaged: 255 stays 255 only
# where every source pixel is 255, so downscaling never hides an off-white pixel in a flat area)
JPEG_BLOCK = 16  # px: the chroma block of a 4:2:0 JPEG, how far ringing can reach from an edge
FILL_MARGIN = 0.04  # the preset places the product this far inside the marketplace's fill limits
PIL_FORMATS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "TIFF": "tiff", "BMP": "bmp"}
WRITABLE_FORMATS = ("jpg", "png", "webp")  # what bgflow's encoder writes
OVERLAY_NAMES = {"swatch": "colour swatch", "inset": "inset circle", "line": "text or drawn lines",
                 "dimension line": "dimension line", "detached mark": "detached mark (text, logo or badge)"}


# ---------------------------------------------------------------------------------------------------- rules as data
class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    quote: str = Field(description="The document's own words for this figure, or what is commonly stated.")
    confirmed: bool = Field(description="False when the figure was not found in the marketplace's own documents.")
    note: str | None = None


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: Literal["required", "recommended"] = "required"
    source: Source


class BackgroundRule(_Rule):
    white: int = Field(255, ge=0, le=255)
    tolerance: int = Field(0, ge=0, le=16, description="Levels below `white` still counted as white.")
    min_white_share: float = Field(0.99, gt=0, le=1, description="Share of the border band and of the whole "
                                   "background that must be white (the shadow left out where allowed).")
    shadows_allowed: bool = False


class FillRule(_Rule):
    measure: Literal["bbox_long", "bbox_area", "area"] = "bbox_long"
    min: float | None = Field(None, gt=0, le=1)
    max: float | None = Field(None, gt=0, le=1)


class PixelSizeRule(_Rule):
    min_long_side: int | None = Field(None, ge=1)
    min_short_side: int | None = Field(None, ge=1)
    max_long_side: int | None = Field(None, ge=1)
    max_megapixels: float | None = Field(None, gt=0)


class SideRule(_Rule):
    """A size that enables zoom or that the marketplace recommends: on the long side, the short side, or both."""

    long_side: int | None = Field(None, ge=1)
    short_side: int | None = Field(None, ge=1)


class AspectRule(_Rule):
    ratio: float = Field(gt=0, description="width / height")
    tolerance: float = Field(0.01, ge=0, le=1, description="Relative deviation allowed.")


class FormatRule(_Rule):
    allowed: list[Literal["jpg", "png", "webp", "gif", "tiff", "bmp"]] = Field(min_length=1)


class FileSizeRule(_Rule):
    max_mb: float = Field(gt=0, description="Megabytes of 1,000,000 bytes.")


class ColorProfileRule(_Rule):
    allowed: list[Literal["srgb", "untagged", "cmyk"]] = Field(min_length=1)


class BorderRule(_Rule):
    pass


class OverlayRule(_Rule):
    pass


class Rules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    background: BackgroundRule | None = None
    fill: FillRule | None = None
    pixel_size: PixelSizeRule | None = None
    zoom_size: SideRule | None = None
    recommended_size: SideRule | None = None
    aspect: AspectRule | None = None
    format: FormatRule | None = None
    file_size: FileSizeRule | None = None
    color_profile: ColorProfileRule | None = None
    border: BorderRule | None = None
    overlays: OverlayRule | None = None


class MarketplaceRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    marketplace: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    title: str
    image_role: str = Field(description="Which image these rules are for, e.g. the main image.")
    documents: list[str] = Field(description="The marketplace's own pages the rules were read from.")
    not_checked: list[str] = Field(default_factory=list, description="Rules left out, and why.")
    rules: Rules


def marketplaces() -> list[str]:
    """Names of the bundled marketplaces."""
    return sorted(p.stem for p in RULES_DIR.glob("*.json"))


@lru_cache(maxsize=None)
def load_rules(marketplace: str) -> MarketplaceRules:
    """A bundled marketplace's rules; an unknown name is an InvalidOption that lists the valid ones."""
    if marketplace not in marketplaces():
        raise InvalidOption(f"Unknown marketplace '{marketplace}'. Valid marketplaces: {', '.join(marketplaces())}.")
    return _parse((RULES_DIR / f"{marketplace}.json").read_text(encoding="utf-8"), f"{marketplace}.json")


def load_rules_file(path: Path | str) -> MarketplaceRules:
    """A user's rules file in the bundled format."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidOption(f"Cannot read the rules file {path}: {exc}.") from None
    return _parse(text, path.name)


def _parse(text: str, name: str) -> MarketplaceRules:
    try:
        return MarketplaceRules.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        raise InvalidOption(f"{name} is not valid JSON: {exc}.") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidOption(f"{name}: {where}: {first['msg']} ({exc.error_count()} problem(s) in all).") from None


# ------------------------------------------------------------------------------------------ presets from the rules
@dataclass(frozen=True)
class MarketplacePreset:
    """What bgflow makes for a marketplace, derived from its rules."""

    marketplace: str
    aspect: float  # canvas width / height
    fill: float  # the product's bbox long side as a share of the canvas (placement's definition)
    size: int  # default long side of the final image
    min_size: int  # the smallest long side that meets the required size rules
    max_size: int  # the largest long side within the pixel limits
    format: str  # default format
    formats: tuple[str, ...]  # the formats bgflow writes that the marketplace accepts
    white: bool  # the background must be pure white (style `white`, 255 exactly)
    style: str | None  # forced style, or None to keep the user's
    on_scene: str | None  # a room photo is skipped where the marketplace requires white, else the user's choice


def preset_for(rules: MarketplaceRules) -> MarketplacePreset:
    r = rules.rules
    aspect = r.aspect.ratio if r.aspect else 1.0
    formats = tuple(f for f in (r.format.allowed if r.format else WRITABLE_FORMATS) if f in WRITABLE_FORMATS)
    if not formats:
        raise InvalidOption(f"{rules.marketplace}: none of the allowed formats can be written by bgflow "
                            f"({', '.join(WRITABLE_FORMATS)}).")
    white = r.background is not None
    lo, hi = _size_limits(r, aspect)
    size = min(max(_preset_size(r, aspect), lo), hi)
    if lo > hi:
        raise InvalidOption(f"{rules.marketplace}: the size rules leave no valid size ({lo} > {hi} px).")
    required_white = white and r.background.level == "required"
    return MarketplacePreset(marketplace=rules.marketplace, aspect=aspect, fill=_preset_fill(r.fill), size=size,
                             min_size=lo, max_size=hi, format=formats[0], formats=formats, white=white,
                             style="white" if white else None, on_scene="skip" if required_white else None)


def _long_for(long_side: int | None, short_side: int | None, aspect: float) -> int:
    """The long side a canvas of ``aspect`` needs to meet both minimums."""
    return max(long_side or 0, int(np.ceil((short_side or 0) * max(aspect, 1 / aspect))))


def _size_limits(r: Rules, aspect: float) -> tuple[int, int]:
    lo, hi = 64, 8192  # what bgflow renders
    if r.pixel_size:
        p = r.pixel_size
        lo = max(lo, _long_for(p.min_long_side, p.min_short_side, aspect))
        hi = min(hi, p.max_long_side or hi)
        if p.max_megapixels:
            hi = min(hi, int((p.max_megapixels * 1e6 * max(aspect, 1 / aspect)) ** 0.5))
    for rule in (r.zoom_size, r.recommended_size):
        if rule and rule.level == "required":
            lo = max(lo, _long_for(rule.long_side, rule.short_side, aspect))
    return lo, hi


def _preset_fill(rule: FillRule | None) -> float:
    """The share placement gives the product's limiting side: that is the bbox_long measure, placed exactly, a
    margin inside the limits. The area measures depend on the product's shape and cannot be placed exactly: their
    minimum is taken as the extent a square product would need (a thinner product can still fall short)."""
    if rule is None:
        return 0.85
    lo = rule.min or 0.0
    hi = rule.max or 1.0
    if rule.measure != "bbox_long":
        lo = lo**0.5
    target = min(lo + FILL_MARGIN, hi - FILL_MARGIN) if rule.min else hi - FILL_MARGIN
    if not lo < target < hi:
        raise InvalidOption(f"The fill limits {rule.min}-{rule.max} leave no room for a placement.")
    return round(min(target, 0.95), 3)


def _preset_size(r: Rules, aspect: float) -> int:
    """The recommended size, else the zoom size, else bgflow's default (clamped to the limits by the caller)."""
    for rule in (r.recommended_size, r.zoom_size):
        if rule is not None:
            return _long_for(rule.long_side, rule.short_side, aspect)
    return 2048


# ------------------------------------------------------------------------------------------------------ measuring
@dataclass(frozen=True, eq=False)
class Measured:
    """Everything the rules look at, measured once per image."""

    size: tuple[int, int]  # as decoded, after EXIF orientation
    format: str
    mode: str
    profile: str  # "srgb", "untagged", "cmyk" or the ICC description
    file_bytes: int
    image: np.ndarray | None = None  # RGB at the working size (<= WORK_SIDE)
    product: np.ndarray | None = None  # bool at the working size
    kind: str | None = None  # background kind from normalize
    overlays: tuple[str, ...] = ()
    error: dict[str, str] | None = None  # why the pixels could not be measured (then pixel rules fail)
    product_source: str = "segmenter"  # or "run mask": a bgflow output's own mask


def placed_mask(mask: np.ndarray, scale: float, offset: tuple[float, float], size: tuple[int, int]) -> np.ndarray:
    """A run's product mask (at the normalized size) where the product sits on the final canvas of ``size``:
    final = normalized * scale + offset (the manifest's ``placement``)."""
    m = np.float32([[scale, 0, offset[0]], [0, scale, offset[1]]])
    return cv2.warpAffine(mask, m, size, flags=cv2.INTER_LINEAR) >= 128


def measure(data: bytes, settings: Settings | None = None, product: np.ndarray | None = None) -> Measured:
    """``product``: where the product is, when known (a bgflow output's own mask, at the image's size); else the
    segmenter's coarse pass finds it."""
    from .normalize import normalize
    from .segment import coarse_foreground
    from .settings import get_settings

    settings = settings or get_settings()
    header = _header(data)
    try:
        norm = normalize(bytes(data), settings)
        coarse = coarse_foreground(norm)
    except BgflowError as exc:
        return Measured(**header, error=exc.to_dict())
    scale = min(1.0, WORK_SIDE / max(norm.size))
    image = norm.image if scale == 1.0 else cv2.resize(
        norm.image, (max(1, round(norm.size[0] * scale)), max(1, round(norm.size[1] * scale))),
        interpolation=cv2.INTER_AREA)
    known = None
    if product is not None and product.shape == norm.image.shape[:2]:
        known = cv2.resize(product.astype(np.uint8), coarse.mask.shape[::-1], interpolation=cv2.INTER_AREA) > 0
    found, overlays = coarse.mask, coarse.removed
    if coarse.model is not None:  # a studio backdrop: the segmenter's own overlay pass ran
        found, overlays = product_and_overlays(coarse, known)
    product, source = (product, "run mask") if known is not None else (found, "segmenter")
    product = cv2.resize(product.astype(np.uint8), (image.shape[1], image.shape[0]),
                         interpolation=cv2.INTER_NEAREST) > 0
    return Measured(**header, image=image, product=product, kind=norm.background.kind, overlays=overlays,
                    product_source=source)


def product_and_overlays(coarse, known: np.ndarray | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    """The product and the overlays on a studio backdrop, from the segmenter's coarse pass made whole again:

    - a white product on white shows only its outline, which the overlay pass can take for drawn lines: whatever
      the foreground encloses, together with the strokes connected to what the segmenter kept, is product (or,
      when it is ``known``, the product is that mask: a bgflow output's own, at the coarse working size);
    - an overlay is what stays outside that product: the segmenter's removals count only then;
    - small pieces the segmenter kept as parts of a set but that stand clear of the product (text, a logo, a
      badge) are overlays too (``detached mark``)."""
    from .segment import backdrop_foreground

    raw, _, _ = backdrop_foreground(coarse.image)
    raw = cv2.morphologyEx(raw.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)) > 0
    raw &= ~coarse.holes
    if known is not None:
        product = known
    else:
        enclosed = ~_reachable_from_border(~raw)
        n, labels = cv2.connectedComponents(enclosed.astype(np.uint8), connectivity=8)
        keep = np.zeros(n, bool)
        keep[np.unique(labels[coarse.mask & enclosed])] = True
        keep[0] = False
        product = coarse.mask | (keep[labels] & ~coarse.holes)
    product, marks = split_marks(product)
    h, w = product.shape
    # A gap seen through the product is not drawn on it; nor is the product's own soft edge.
    outside = _reachable_from_border(~_dilate(product, max(1, round(0.005 * max(h, w)))))
    leftover = raw & outside
    min_area = max(12, round(0.0005 * h * w))  # the segmenter's speck size
    # Swatches and insets are shapes the segmenter recognises; its "lines" are also what it makes of a shadow's
    # pieces, so lines count only where the leftover is not shadow-like.
    shapes = _has_piece(leftover, min_area)
    lines = _has_piece(leftover & ~_shadow_like(coarse), min_area)
    overlays = tuple(k for k in coarse.removed if (shapes if k in ("swatch", "inset") else lines))
    return product, overlays + (("detached mark",) if marks else ())


def _has_piece(mask: np.ndarray, min_area: int) -> bool:
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return bool((stats[1:, cv2.CC_STAT_AREA] >= min_area).any()) if n > 1 else False


def _shadow_like(coarse) -> np.ndarray:
    """Pixels that are the backdrop's own colour made darker, not black: a shadow's pieces, which the coarse pass
    can keep as foreground on a graded sweep (and take for drawn lines); drawn text and lines are coloured or near
    black."""
    from .color import lab_to_rgb

    h, w = coarse.mask.shape
    backdrop = lab_to_rgb(coarse.model.predict(h, w)).astype(np.float32)
    ratio = coarse.image.astype(np.float32) / np.maximum(backdrop, 8.0)
    level = ratio.mean(axis=2)
    return (_cmax(ratio) - _cmin(ratio) < 0.08) & (level > 0.45) & (level < 1.0)


def _reachable_from_border(passable: np.ndarray) -> np.ndarray:
    n, labels = cv2.connectedComponents(passable.astype(np.uint8), connectivity=4)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    reached = np.zeros(n, bool)
    reached[edge[edge > 0]] = True
    return reached[labels] & passable


def split_marks(mask: np.ndarray, share: float = 0.05, gap: float = 0.03) -> tuple[np.ndarray, bool]:
    """The product without the small marks the segmenter keeps as parts of a set: pieces under ``share`` of the
    largest piece, mostly outside its convex hull and more than ``gap`` of the frame away from every larger piece (a
    caster just below a chair base is a part). Returns (product, whether any were found)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return mask, False
    areas = stats[:, cv2.CC_STAT_AREA]
    main = 1 + int(np.argmax(areas[1:]))
    small = areas < share * areas[main]
    small[0] = False
    hull = np.zeros(mask.shape, np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(cv2.findNonZero((labels == main).astype(np.uint8))), 1)
    inside = np.bincount(labels.ravel(), weights=hull.ravel(), minlength=n) / np.maximum(areas, 1)
    body = (labels > 0) & ~small[labels]
    near = np.bincount(labels.ravel(), weights=_dilate(body, max(1, round(gap * max(mask.shape)))).ravel(),
                       minlength=n) > 0
    marks = small & (inside < 0.5) & ~near
    return mask & ~marks[labels], bool(marks.any())


def _header(data: bytes) -> dict[str, Any]:
    """Size, format, mode and profile from the file itself (normalize converts these away)."""
    try:
        with warnings.catch_warnings():  # only the header is read here; normalize enforces the pixel limit
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
        size = im.size
        if (im.getexif() or {}).get(0x0112) in (5, 6, 7, 8):
            size = (size[1], size[0])
        icc = im.info.get("icc_profile")
        fmt, mode = PIL_FORMATS.get(im.format or "", (im.format or "unknown").lower()), im.mode
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return {"size": (0, 0), "format": "unknown", "mode": "", "profile": "untagged", "file_bytes": len(data)}
    return {"size": size, "format": fmt, "mode": mode, "profile": _profile(icc, mode), "file_bytes": len(data)}


def _profile(icc: bytes | None, mode: str) -> str:
    if mode == "CMYK":
        return "cmyk"
    if not icc:
        return "untagged"
    try:
        desc = (ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))) or "").strip()
    except (ImageCms.PyCMSError, OSError, ValueError):
        return "unreadable ICC profile"
    return "srgb" if "srgb" in desc.lower().replace(" ", "").replace("-", "") else desc or "unnamed ICC profile"


# -------------------------------------------------------------------------------------------------------- checking
@dataclass
class RuleResult:
    rule: str
    level: str
    status: Literal["pass", "fail", "warn", "unmeasured"]
    measured: Any
    limit: str
    fix: str | None
    source: str
    confirmed: bool


@dataclass
class ImageReport:
    image: str
    marketplace: str
    passed: bool
    results: list[RuleResult] = field(default_factory=list)
    error: dict[str, str] | None = None
    product_source: str = "segmenter"

    @property
    def failed(self) -> list[str]:
        return [r.rule for r in self.results if r.status == "fail"]

    def to_dict(self) -> dict[str, Any]:
        return {"image": self.image, "marketplace": self.marketplace, "passed": self.passed, "failed": self.failed,
                "warnings": [r.rule for r in self.results if r.status == "warn"], "error": self.error,
                "product_source": self.product_source,
                "results": [asdict(r) for r in self.results]}


def check_image(data: bytes, rules: MarketplaceRules, name: str = "image", settings: Settings | None = None,
                product: np.ndarray | None = None) -> ImageReport:
    """Every rule of ``rules`` on one encoded image. Never raises for a bad image: it fails the report. ``product``
    (bool, the image's size) is where the product is when that is known, as for bgflow's own outputs."""
    m = measure(data, settings, product)
    results = []
    for key in Rules.model_fields:
        rule = getattr(rules.rules, key)
        if rule is None:
            continue
        ok, measured, limit, fix = CHECKS[key](m, rule)
        if ok is None:
            status = "fail" if rule.level == "required" and m.error else "unmeasured"
        elif ok:
            status = "pass"
        else:
            status = "fail" if rule.level == "required" else "warn"
        results.append(RuleResult(rule=key, level=rule.level, status=status, measured=measured, limit=limit,
                                  fix=None if status == "pass" else fix, source=rule.source.url,
                                  confirmed=rule.source.confirmed))
    passed = m.format != "unknown" and m.error is None and all(r.status != "fail" for r in results)
    error = m.error or (None if m.format != "unknown" else {
        "code": "unsupported_format", "message": "This is not an image file bgflow can read."})
    return ImageReport(image=name, marketplace=rules.marketplace, passed=passed, results=results, error=error,
                       product_source=m.product_source)


Outcome = tuple[bool | None, Any, str, str]


def _no_pixels(m: Measured) -> Outcome:
    why = m.error["message"] if m.error else "not measured"
    return None, f"not measured: {why}", "", "Send a readable photo that shows the product."


def _check_background(m: Measured, rule: BackgroundRule) -> Outcome:
    if m.image is None:
        return _no_pixels(m)
    b = background_shares(m.image, m.product, rule, scale=m.image.shape[1] / max(1, m.size[0]))
    limit = (f">= {rule.min_white_share:.0%} of the border and of the whole background at RGB {rule.white}"
             f"{f' (-{rule.tolerance})' if rule.tolerance else ''}" + ("; shadows allowed" if rule.shadows_allowed
                                                                       else "; no shadows"))
    measured = {"border_white": round(b["border"], 4), "background_white": round(b["background"], 4),
                "shadow_share": round(b["shadow"], 4), "typical_off_white_rgb": b["off_colour"]}
    ok = b["border"] >= rule.min_white_share and b["background"] >= rule.min_white_share
    fix = (f"Put the product on pure white (RGB {rule.white}): the background here is around RGB {b['off_colour']}. "
           f"bgflow run --preset <marketplace> does this.")
    return ok, measured, limit, fix


def background_shares(image: np.ndarray, product: np.ndarray, rule: BackgroundRule,
                      scale: float = 1.0) -> dict[str, Any]:
    """White shares of the border band and of the whole background (the product and a thin edge margin left out;
    a neutral, darker region attached to the lower half of the product and clear of the frame edge counted as its
    shadow when shadows are allowed)."""
    h, w = product.shape
    side = max(h, w)
    white = _cmin(image) >= rule.white - rule.tolerance
    # The anti-aliased edge, and JPEG ringing along the product (up to a 16 px chroma block of the file).
    margin = max(2, round(0.008 * side), int(np.ceil(JPEG_BLOCK * scale)))
    near = _dilate(product, margin)
    band = max(2, round(0.01 * side))
    border = np.zeros((h, w), bool)
    border[:band], border[-band:], border[:, :band], border[:, -band:] = True, True, True, True
    shadow = np.zeros((h, w), bool)
    if rule.shadows_allowed and product.any():
        shadow = _attached_shadow(image, product, near, white)
    # Background is what the frame edge reaches without crossing the product: a region the product encloses is
    # seen through it or is its own surface (a white face between darker edges), judged with the product.
    judged = _reachable_from_border(~near) & ~shadow
    off = ~white & judged
    off_colour = [int(v) for v in np.median(image[off], axis=0)] if off.any() else [rule.white] * 3
    return {"border": _share(white, border & judged), "background": _share(white, judged),
            "shadow": float(shadow.mean()), "off_colour": off_colour}


def _attached_shadow(image: np.ndarray, product: np.ndarray, near: np.ndarray, white: np.ndarray) -> np.ndarray:
    """Neutral, darker regions that touch the product, lie lower than the part of the product they touch (a shadow
    falls under the product or a shelf, not over it) and fade into white: most of their outline away from the
    product is white (a grey backdrop is outlined by more grey)."""
    rgb = image.astype(np.int16)
    neutral = (_cmax(rgb) - _cmin(rgb) <= 10) & (_cmin(rgb) >= 60)
    candidates = neutral & ~white & ~near
    n, labels = cv2.connectedComponents(candidates.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(candidates)
    rows = np.broadcast_to(np.arange(labels.shape[0], dtype=np.float64)[:, None], labels.shape)
    rim_labels = cv2.dilate(labels.astype(np.float32), np.ones((5, 5), np.uint8)).astype(np.int64)
    touch = (rim_labels > 0) & near
    touch_n = np.bincount(rim_labels[touch], minlength=n)
    touch_y = np.bincount(rim_labels[touch], weights=rows[touch], minlength=n) / np.maximum(touch_n, 1)
    area = np.bincount(labels.ravel(), minlength=n)
    own_y = np.bincount(labels.ravel(), weights=rows.ravel(), minlength=n) / np.maximum(area, 1)
    rim = (rim_labels > 0) & ~candidates & ~near
    rim_n = np.bincount(rim_labels[rim], minlength=n)
    rim_white = np.bincount(rim_labels[rim], weights=white[rim], minlength=n)
    keep = (touch_n > 0) & (own_y > touch_y) & (rim_white >= 0.6 * np.maximum(rim_n, 1))
    keep[0] = False
    return keep[labels]


def _cmin(image: np.ndarray) -> np.ndarray:  # per-pixel channel minimum (numpy's axis=2 reduction is slow)
    return np.minimum(np.minimum(image[:, :, 0], image[:, :, 1]), image[:, :, 2])


def _cmax(image: np.ndarray) -> np.ndarray:
    return np.maximum(np.maximum(image[:, :, 0], image[:, :, 1]), image[:, :, 2])


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(mask.astype(np.uint8), k) > 0


def _share(flags: np.ndarray, where: np.ndarray) -> float:
    n = int(where.sum())
    return float(flags[where].mean()) if n else 1.0


def fill_shares(product: np.ndarray) -> dict[str, float]:
    """How much of the frame the product takes: its bbox's long side (the larger of bbox width / frame width and
    bbox height / frame height), the bbox's area, and its own area, each as a share of the frame."""
    h, w = product.shape
    ys, xs = np.nonzero(product)
    if len(xs) == 0:
        return {"bbox_long": 0.0, "bbox_area": 0.0, "area": 0.0}
    bw, bh = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    return {"bbox_long": float(max(bw / w, bh / h)), "bbox_area": float(bw * bh / (w * h)), "area": float(product.mean())}


def _check_fill(m: Measured, rule: FillRule) -> Outcome:
    if m.product is None:
        return _no_pixels(m)
    shares = fill_shares(m.product)
    value = shares[rule.measure]
    label = {"bbox_long": "product's longest extent / frame", "bbox_area": "product box area / frame area",
             "area": "product area / frame area"}[rule.measure]
    limit = " and ".join(p for p in (f">= {rule.min:.0%}" if rule.min else "", f"<= {rule.max:.0%}" if rule.max else "")
                         if p) + f" ({label})"
    ok = (rule.min is None or value >= rule.min) and (rule.max is None or value <= rule.max)
    fix = ("Crop closer or enlarge the product so it fills more of the frame" if rule.min and value < rule.min
           else "Leave more space around the product") + " (bgflow run --preset <marketplace> places it for you)."
    return ok, {rule.measure: round(value, 4), **{k: round(v, 4) for k, v in shares.items() if k != rule.measure}}, \
        limit, fix


def _check_pixel_size(m: Measured, rule: PixelSizeRule) -> Outcome:
    w, h = m.size
    long, short = max(w, h), min(w, h)
    problems, limits = [], []
    if rule.min_long_side:
        limits.append(f"long side >= {rule.min_long_side}")
        if long < rule.min_long_side:
            problems.append(f"upscale to at least {rule.min_long_side} px on the long side")
    if rule.min_short_side:
        limits.append(f"short side >= {rule.min_short_side}")
        if short < rule.min_short_side:
            problems.append(f"upscale to at least {rule.min_short_side} px on the short side")
    if rule.max_long_side:
        limits.append(f"long side <= {rule.max_long_side}")
        if long > rule.max_long_side:
            problems.append(f"downscale to at most {rule.max_long_side} px on the long side")
    if rule.max_megapixels:
        limits.append(f"<= {rule.max_megapixels:g} MP")
        if w * h > rule.max_megapixels * 1e6:
            problems.append(f"downscale to at most {rule.max_megapixels:g} megapixels")
    return not problems, f"{w}x{h}", ", ".join(limits), "; ".join(problems).capitalize() + "."


def _check_side(m: Measured, rule: SideRule) -> Outcome:
    w, h = m.size
    need = []
    if rule.long_side:
        need.append(f"long side >= {rule.long_side}")
    if rule.short_side:
        need.append(f"short side >= {rule.short_side}")
    ok = (not rule.long_side or max(w, h) >= rule.long_side) and (not rule.short_side or min(w, h) >= rule.short_side)
    return ok, f"{w}x{h}", ", ".join(need), f"Use a larger image ({', '.join(need)}), e.g. bgflow run --size."


def _check_aspect(m: Measured, rule: AspectRule) -> Outcome:
    w, h = m.size
    if not h:
        return None, "unknown", f"{rule.ratio:.3f}", "Send a readable image."
    ratio = w / h
    ok = abs(ratio / rule.ratio - 1) <= rule.tolerance
    return ok, round(ratio, 4), f"{rule.ratio:.4g} (+-{rule.tolerance:.0%})", \
        f"Pad or crop to an aspect ratio of {rule.ratio:.4g} (bgflow run --preset <marketplace>)."


def _check_format(m: Measured, rule: FormatRule) -> Outcome:
    return m.format in rule.allowed, m.format, " | ".join(rule.allowed), \
        f"Save as {rule.allowed[0].upper()} (bgflow run --format {next((f for f in rule.allowed if f in WRITABLE_FORMATS), 'jpg')})."


def _check_file_size(m: Measured, rule: FileSizeRule) -> Outcome:
    mb = m.file_bytes / 1e6
    return mb <= rule.max_mb, f"{mb:.2f} MB", f"<= {rule.max_mb:g} MB", \
        "Compress more (JPEG quality) or use a smaller pixel size."


def _check_color_profile(m: Measured, rule: ColorProfileRule) -> Outcome:
    return m.profile in rule.allowed, m.profile, " | ".join(rule.allowed), \
        "Convert the image to sRGB (bgflow embeds sRGB in everything it writes)."


def _check_border(m: Measured, rule: BorderRule) -> Outcome:
    if m.image is None:
        return _no_pixels(m)
    width = border_width(m.image)
    scale = max(m.size) / max(m.image.shape[:2]) if m.size[0] else 1.0
    return width == 0, ("none" if width == 0 else f"{round(width * scale)} px frame"), "no added border", \
        "Remove the frame drawn around the photo."


def border_width(image: np.ndarray, depth_share: float = 0.05) -> int:
    """Width in pixels of a uniform frame drawn around the whole image, 0 when there is none: on all four sides the
    outer lines are one flat colour (the same on every side) and the line just inside them is clearly different."""
    rgb = image.astype(np.float32)
    h, w = rgb.shape[:2]
    sides = [rgb, rgb[::-1], rgb.transpose(1, 0, 2), rgb.transpose(1, 0, 2)[::-1]]
    widths, colours = [], []
    for side in sides:
        depth = max(3, round(depth_share * side.shape[0]))
        means = side[:depth].mean(axis=1)
        stds = side[:depth].std(axis=1).max(axis=1)
        first = means[0]
        run = 0
        while run < depth and stds[run] < 6 and np.abs(means[run] - first).max() < 6:
            run += 1
        if run == 0 or run >= depth:
            return 0
        inside = np.median(side[run + 2], axis=0)  # past the line that resampling blended
        if np.abs(inside - first).max() < 16:  # a gradient drifts past the run's 6 levels slowly, a frame jumps
            return 0
        widths.append(run)
        colours.append(first)
    if max(np.abs(c - colours[0]).max() for c in colours) >= 16:
        return 0
    return int(min(widths))


def _check_overlays(m: Measured, rule: OverlayRule) -> Outcome:
    if m.product is None:
        return _no_pixels(m)
    if m.kind == "scene":
        return None, "not measured on a scene photo", "none", "Use a studio photo of the product alone."
    found = [OVERLAY_NAMES.get(o, o) for o in m.overlays]
    return not found, (", ".join(found) or "none"), "no text, logos, watermarks, swatches or insets", \
        "Remove the overlays drawn on the photo (bgflow run leaves them out of the product)."


CHECKS = {
    "background": _check_background, "fill": _check_fill, "pixel_size": _check_pixel_size,
    "zoom_size": _check_side, "recommended_size": _check_side, "aspect": _check_aspect, "format": _check_format,
    "file_size": _check_file_size, "color_profile": _check_color_profile, "border": _check_border,
    "overlays": _check_overlays,
}


def compliance_block(final: bytes, preset: str,
                     product: Callable[[], np.ndarray | None] = lambda: None) -> dict[str, Any] | None:
    """The manifest's ``compliance`` block: the final image checked against the rules of the marketplace whose
    preset made it (``product`` makes the run's own mask placed on the final, only when a check needs it); None for
    a preset that is not a marketplace's."""
    if preset not in marketplaces():
        return None
    report = check_image(final, load_rules(preset), name=f"final for {preset}", product=product()).to_dict()
    return {k: report[k] for k in ("marketplace", "passed", "failed", "warnings", "results")}
