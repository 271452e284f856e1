"""Stage 1, normalize: any common image input -> oriented 8-bit sRGB RGB plus an optional alpha prior, and the
kind of background (white / plain / scene) with its colour."""

from __future__ import annotations

import io
import logging
import struct
import warnings
from pathlib import Path
from typing import NamedTuple, Union

import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from .backdrop import classify_background
from .errors import CorruptImage, EmptyInput, ImageTooLarge, InputNotFound, ImageTooSmall, UnsupportedFormat
from .settings import Settings, get_settings
from .types import Normalized

log = logging.getLogger(__name__)

Source = Union[bytes, bytearray, memoryview, Path]
# What Pillow raises for a file whose header or data is cut short or damaged.
_DAMAGED = (OSError, SyntaxError, ValueError, EOFError)
SUPPORTED_FORMATS = {"JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "MPO"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".mpo"}  # for folders and buckets
# Signatures of the supported formats. Pillow opens every JPEG, PNG, GIF and WEBP that is whole, so one of these it
# cannot open is cut short; a TIFF is cut short only when its first directory lies past the end.
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"RIFF")
_TIFF = (b"II*\0", b"MM\0*")
# EXIF orientation -> the turn that shows the photo upright (as ImageOps.exif_transpose does it).
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def read_source(source: Source, settings: Settings | None = None) -> bytes:
    """The input's bytes: given as bytes, or read from a local file the caller chose (the CLI, the folder watcher).
    Strings are refused: text from a request is decoded by the intake, never taken as a path."""
    settings = settings or get_settings()
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, Path):
        data = _read_path(source, settings)
    else:
        raise TypeError(f"read_source takes bytes or a pathlib.Path, not {type(source).__name__}")
    if not data:
        raise EmptyInput("The input is empty (0 bytes): send the image file's contents.")
    if len(data) > settings.max_bytes:
        raise ImageTooLarge(
            f"The input is {len(data) / 1e6:.1f} MB; the limit is {settings.max_bytes / 1e6:.0f} MB. "
            "Send a smaller file or raise BGFLOW_MAX_BYTES."
        )
    return data


def _read_path(path: Path, settings: Settings) -> bytes:
    try:
        if not path.exists():
            raise InputNotFound(f"No file {path.name or path}: check the path.")
        size = path.stat().st_size
        if not path.is_file():
            raise EmptyInput(f"{path.name or path} is not a file: give an image file.")
        if size > settings.max_bytes:
            raise ImageTooLarge(
                f"{path.name} is {size / 1e6:.1f} MB; the limit is {settings.max_bytes / 1e6:.0f} MB. "
                "Send a smaller file or raise BGFLOW_MAX_BYTES."
            )
        return path.read_bytes()
    except OSError as exc:
        raise EmptyInput(f"Cannot read {path.name or path}: {exc.strerror or type(exc).__name__}.") from None


class Decoded(NamedTuple):
    rgb: np.ndarray  # RGB uint8 HxWx3, oriented, sRGB
    alpha: np.ndarray | None  # L uint8 HxW where the image has transparency
    format: str
    notes: list[str]
    original_size: tuple[int, int]  # (w, h) of the full image, oriented, before any reduction


def decode(data: bytes, settings: Settings | None = None, fit: bool = False) -> Decoded:
    """Decode, orient and convert to 8-bit sRGB. With ``fit``, an image over ``settings.max_side`` comes out at
    :func:`fitted_size`, reduced while it is decoded (a JPEG at a reduced DCT scale, then an area-average resize of
    the 8-bit image), so no full-size copy or float array of a large photo is ever made."""
    settings = settings or get_settings()
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge(_too_many_pixels_message(None, settings)) from None
    except UnidentifiedImageError:
        if _cut_short(data):
            raise CorruptImage("The image is cut short right after its header. Re-export or re-upload the "
                               "original.") from None
        if data.startswith(_TIFF):
            raise UnsupportedFormat("This TIFF's pixel layout is not one bgflow reads (e.g. 32-bit float colour). "
                                    "Export it as 8- or 16-bit RGB.") from None
        raise UnsupportedFormat(
            "This is not an image bgflow can read. Send JPEG, PNG, WEBP, TIFF, BMP or GIF."
        ) from None
    except _DAMAGED as exc:  # a header cut short or damaged
        raise CorruptImage(f"The image header is truncated or damaged ({exc}). Re-export or re-upload the original.") from None
    fmt = im.format or "unknown"
    if fmt not in SUPPORTED_FORMATS:
        raise UnsupportedFormat(f"{fmt} images are not supported. Send JPEG, PNG, WEBP, TIFF, BMP or GIF.")
    w, h = im.size
    if w * h > settings.max_pixels:
        raise ImageTooLarge(_too_many_pixels_message((w, h), settings))
    if min(w, h) < settings.min_side:
        raise ImageTooSmall(
            f"The image is {w}x{h} pixels; bgflow needs at least {settings.min_side} pixels on each side."
        )
    target = fitted_size((w, h), settings) if fit else (w, h)
    if target != (w, h) and fmt == "JPEG":
        im.draft(None, target)  # libjpeg decodes at 1/2, 1/4 or 1/8 scale, still at least the target size
    try:
        if getattr(im, "n_frames", 1) > 1:
            im.seek(0)
            notes.append("first_frame")
        im.load()
    except _DAMAGED as exc:
        raise CorruptImage(
            f"The {fmt} file is truncated or damaged ({exc}). Re-export or re-upload the original."
        ) from None

    try:
        orientation = im.getexif().get(0x0112)
    except Exception:  # a malformed EXIF block must not lose the image
        orientation = None
        notes.append("exif_unreadable")
    im = _canonical_mode(im, notes)
    if im.size != target:
        im = im.resize(target, Image.Resampling.BOX)  # area average; RGBA and LA are averaged premultiplied
    if isinstance(orientation, int) and orientation in _TRANSPOSE:  # turned after the resize: the small image moves
        im = im.transpose(_TRANSPOSE[orientation])
        notes.append("exif_rotated")
        if orientation >= 5:
            w, h = h, w
    original_size = (w, h)
    im = _to_srgb(im, notes)
    alpha = None
    if im.mode in ("RGBA", "LA"):
        rgba = np.asarray(im.convert("RGBA"))
        a = rgba[:, :, 3]
        if a.min() < 255:
            alpha = a.copy()
            af = a[:, :, None].astype(np.float32) / 255.0
            rgb = (rgba[:, :, :3] * af + 255.0 * (1 - af) + 0.5).astype(np.uint8)
            notes.append("alpha")
        else:
            rgb = rgba[:, :, :3].copy()
    else:
        if im.mode == "CMYK" and "cmyk" not in notes:
            notes.append("cmyk")
        rgb = np.array(im if im.mode == "RGB" else im.convert("RGB"))
    return Decoded(np.ascontiguousarray(rgb), alpha, fmt, notes, original_size)


def _cut_short(data: bytes) -> bool:
    if data.startswith(_MAGIC):
        return True
    if not data.startswith(_TIFF):
        return False
    order = "<" if data[:2] == b"II" else ">"
    if len(data) < 10:
        return True
    (offset,) = struct.unpack(order + "I", data[4:8])
    if offset + 2 > len(data):
        return True
    (entries,) = struct.unpack(order + "H", data[offset:offset + 2])
    return offset + 2 + 12 * entries > len(data)


def fitted_size(size: tuple[int, int], settings: Settings) -> tuple[int, int]:
    """The size stages work at: the long side down to ``max_side``, unless that takes the short side below
    ``min_side``."""
    w, h = size
    if max(w, h) <= settings.max_side:
        return size
    s = max(settings.max_side / max(w, h), min(1.0, settings.min_side / min(w, h)))
    return max(1, round(w * s)), max(1, round(h * s))


def _canonical_mode(im: Image.Image, notes: list[str]) -> Image.Image:
    """One of L, LA, RGB, RGBA, CMYK (the modes the colour conversion and the reduction handle), ICC kept."""
    mode = im.mode
    if mode in ("L", "LA", "RGB", "RGBA", "CMYK"):
        return im
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _high_depth_to_l(im, notes)
    if mode == "P":
        target = "RGBA" if "transparency" in im.info else "RGB"
    else:
        target = {"1": "L", "PA": "RGBA", "La": "LA", "RGBa": "RGBA"}.get(mode, "RGB")
    try:
        return im.convert(target)  # info (the ICC profile) is carried over
    except ValueError:
        raise UnsupportedFormat(f"Images in Pillow mode {mode} are not supported. Export the photo as 8-bit RGB.") from None


def _high_depth_to_l(im: Image.Image, notes: list[str]) -> Image.Image:
    """16-bit, 32-bit integer and float gray to 8 bits, scaled by what the values mean.

    16-bit types use their full range (65535 is white). 32-bit integers and floats have no fixed white: values in
    [0, 1] (floats), [0, 255] or [0, 65535] are read as that range, larger ones from 0 to their maximum, and a range
    with negative values is stretched from its minimum to its maximum. NaN reads as the minimum, infinities as the
    finite extremes."""
    arr = np.asarray(im)  # uint16, int32 or float32; converted band by band, never as a full-size float copy
    if im.mode.startswith("I;16"):
        lo, hi, scale, offset = 0.0, 65535.0, 1 / 257.0, 0.0
        notes.append("16bit")
    else:
        finite = np.isfinite(arr) if arr.dtype.kind == "f" else None
        if finite is None or finite.all():
            lo, hi = float(arr.min()), float(arr.max())
        else:
            lo, hi = (float(arr[finite].min()), float(arr[finite].max())) if finite.any() else (0.0, 0.0)
        if lo >= 0 and hi <= 1.0 and im.mode == "F":
            scale, offset = 255.0, 0.0
        elif lo >= 0 and hi <= 255:
            scale, offset = 1.0, 0.0
        elif lo >= 0 and hi <= 65535:
            scale, offset = 1 / 257.0, 0.0
        elif lo >= 0:
            scale, offset = 255.0 / hi, 0.0
        else:
            scale, offset = 255.0 / max(hi - lo, 1e-12), lo
        notes.append("float" if im.mode == "F" else "int32")
    out = np.empty(arr.shape, np.uint8)
    for y in range(0, arr.shape[0], 1024):
        band = arr[y:y + 1024].astype(np.float64)
        if arr.dtype.kind == "f":
            band = np.nan_to_num(band, nan=lo, posinf=hi, neginf=lo)
        out[y:y + 1024] = np.clip((band - offset) * scale + 0.5, 0, 255)
    return Image.fromarray(out, "L")


def _too_many_pixels_message(size: tuple[int, int] | None, settings: Settings) -> str:
    what = f"{size[0]}x{size[1]} pixels" if size else "too many pixels"
    return (
        f"The image has {what}; the limit is {settings.max_pixels / 1e6:.0f} megapixels. "
        "Downscale it or raise BGFLOW_MAX_PIXELS."
    )


def _to_srgb(im: Image.Image, notes: list[str]) -> Image.Image:
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in ("RGB", "RGBA", "CMYK", "L", "LA"):
        return im
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        desc = (ImageCms.getProfileDescription(src) or "").lower()
        if "srgb" in desc and im.mode in ("RGB", "RGBA"):
            return im
        mode = "RGBA" if im.mode in ("RGBA", "LA") else "RGB"
        converted = ImageCms.profileToProfile(im, src, _SRGB, outputMode=mode)
        notes.append("icc_to_srgb")
        if im.mode == "CMYK":
            notes.append("cmyk")
        return converted
    except (ImageCms.PyCMSError, OSError, ValueError):
        notes.append("icc_ignored")
        return im


def normalize(source: Source, settings: Settings | None = None) -> Normalized:
    """Stage 1. Decode, orient, convert to sRGB, bound the size, classify the background."""
    settings = settings or get_settings()
    data = read_source(source, settings)
    rgb, alpha, fmt, notes, original_size = decode(data, settings, fit=True)
    if (rgb.shape[1], rgb.shape[0]) != original_size:
        notes.append("downscaled")
    background = classify_background(rgb, alpha)
    return Normalized(
        image=rgb,
        alpha_prior=alpha,
        background=background,
        source_format=fmt,
        original_size=original_size,
        notes=tuple(notes),
    )
