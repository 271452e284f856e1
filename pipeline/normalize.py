"""Stage 1, normalize: any common image input -> oriented 8-bit sRGB RGB plus an optional alpha prior, and the
kind of background (white / plain / scene) with its colour."""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path
from typing import Union

import cv2
import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

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


def decode(data: bytes, settings: Settings | None = None) -> tuple[np.ndarray, np.ndarray | None, str, list[str]]:
    """Decode to (RGB uint8 HxWx3, alpha L uint8 HxW or None, format name, notes). Nothing is resized here."""
    settings = settings or get_settings()
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge(_too_many_pixels_message(None, settings)) from None
    except UnidentifiedImageError:
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
        transposed = ImageOps.exif_transpose(im)
    except Exception:  # a malformed EXIF block must not lose the image
        transposed, _ = im, notes.append("exif_unreadable")
    if transposed is not None and transposed.size != im.size or _orientation(im) not in (None, 1):
        notes.append("exif_rotated")
    im = transposed if transposed is not None else im

    im = _to_srgb(im, notes)
    alpha = None
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        scale = 257.0 if arr.max() > 255 else 1.0
        gray = np.clip(arr / scale + 0.5, 0, 255).astype(np.uint8)
        rgb = np.repeat(gray[:, :, None], 3, axis=2)
        notes.append("16bit")
    else:
        has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
            im.mode == "P" and "transparency" in im.info
        )
        if has_alpha:
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
            if im.mode == "CMYK":
                notes.append("cmyk")
            rgb = np.asarray(im.convert("RGB")).copy()
    return np.ascontiguousarray(rgb), alpha, fmt, notes


def _orientation(im: Image.Image) -> int | None:
    try:
        return im.getexif().get(0x0112)
    except Exception:
        return None


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
    rgb, alpha, fmt, notes = decode(data, settings)
    h, w = rgb.shape[:2]
    original_size = (w, h)
    if max(w, h) > settings.max_side:
        s = settings.max_side / max(w, h)
        size = (max(1, round(w * s)), max(1, round(h * s)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        if alpha is not None:
            alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
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
