"""The bad-input corpus: broken, odd and hostile inputs generated in code, each with the outcome it must get.

Two kinds of case:

- :class:`FileCase`: bytes and a file name. The same bytes go through every entry point: a file in a ``bgflow run``
  batch, ``image_b64`` for ``POST /photography/background``, a multipart upload for ``POST /jobs``.
- :class:`RequestCase`: a hostile request value (JSON body, header, path, CLI option) for the entry points it
  applies to; each entry point has its own expectation.

An :class:`Expect` lists the acceptable outcomes: ``"ok"`` and/or error codes from ``pipeline/errors.py`` (or the web
API's codes), the HTTP statuses a refusal may have, and for ``ok`` the background kind and normalized size where they
matter. An outcome outside the list (a 5xx, a traceback, a hang, a wrong code) fails the case.

The runners that push cases through the CLI, the streaming endpoint and the jobs API live in
``tests/corpus_runner.py``; ``tests/test_bad_inputs.py`` asserts, ``bench/corpus.py`` writes the table.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image, ImageCms

from pipeline.synthetic import make_sample

REPO = Path(__file__).resolve().parent.parent
OK = "ok"
# A request value the schema refuses: the web models answer invalid_request, the option checks invalid_option.
OPTION_ERROR = ("invalid_option", "invalid_request")
# A request string that is neither base64 nor a data URI (a server path, a URL): refused as data, never read.
NOT_BASE64 = ("unsupported_format", "invalid_request", "invalid_option", "invalid_input")
# Outcomes that are a correct answer for an image with no clear product (tiny or extreme shapes).
OK_OR_NO_PRODUCT = (OK, "product_not_found")
# The HTTP status of each input error (pipeline/errors.py) and of the web API's own codes.
HTTP_STATUS = {
    "empty_input": 400, "unsupported_format": 415, "corrupt_image": 422, "image_too_large": 413,
    "image_too_small": 422, "invalid_option": 422, "invalid_request": 422, "invalid_input": 400,
    "product_not_found": 422, "unsafe_url": 400, "request_too_large": 413, "unsupported_media_type": 415,
}
ESCAPE = "bgflow-corpus-escape"  # a file or folder with this in its name outside the runs folder: a path escaped
SIZE = 64  # the output size every case asks for: small and fast


@dataclass(frozen=True)
class Expect:
    outcomes: tuple[str, ...]
    background: str | None = None  # background kind when the outcome is ok
    size: tuple[int, int] | None = None  # normalized (w, h) when the outcome is ok
    http: tuple[int, ...] = ()  # acceptable statuses of a refusal; default: each code's own status
    before_work: bool = False  # an error must be a 4xx refusal before any work starts (no stream, no 202 job)

    def statuses(self) -> set[int]:
        return set(self.http) or {HTTP_STATUS[c] for c in self.outcomes if c in HTTP_STATUS}

    def describe(self) -> str:
        text = ", ".join(self.outcomes)
        if self.background:
            text += f" ({self.background})"
        if self.size:
            text += f" {self.size[0]}x{self.size[1]}"
        if self.http:
            text += " HTTP " + "/".join(map(str, self.http))
        return text


# A CLI option error: exit code 2 before any input is read, nothing written under OUT.
USAGE = Expect(("usage_error",))


def ok(background: str | None = None, size: tuple[int, int] | None = None) -> Expect:
    return Expect((OK,), background, size)


def err(*codes: str, http: tuple[int, ...] = ()) -> Expect:
    return Expect(tuple(codes), http=http)


def refused(*codes: str, http: tuple[int, ...] = ()) -> Expect:
    """A request the entry point must turn down before it starts any work."""
    return Expect(tuple(codes), http=http, before_work=True)


@dataclass(frozen=True)
class FileCase:
    name: str
    group: str
    data: bytes
    expect: Expect
    filename: str | bytes = ""  # the name on disk and in an upload; bytes for a name that is not UTF-8
    upload_name: str | None = None  # a different name for the multipart upload (one no file on disk can have)

    @property
    def disk_name(self) -> str | bytes:
        return self.filename or f"{self.name}.bin"


@dataclass(frozen=True)
class Http:
    """One HTTP request: a JSON body (or raw bytes with a content type), extra headers, method and path."""

    body: Any = None
    raw: bytes | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"
    path: str | None = None  # default: the endpoint's own path
    chunked: bool = False  # send ``raw`` without a Content-Length
    files: dict | None = None  # a multipart body: its files and form fields
    form: dict | None = None


@dataclass(frozen=True)
class RequestCase:
    name: str
    group: str
    photography: tuple[Http, Expect] | None = None
    jobs: tuple[Http, Expect] | None = None
    cli: tuple[list[str], Expect] | None = None  # extra CLI arguments for a run of one good photo
    # a scenario against the jobs API that needs several requests: fn(client) -> (status, code, detail)
    scenario: Callable[[Any], tuple[int, str, str]] | None = None
    scenario_expect: Expect | None = None
    secrets: tuple[bytes, ...] = ()  # bytes that must never appear in any reply or artefact


# ---------------------------------------------------------------------------------------------------------------
# Images


@lru_cache(maxsize=None)
def product(seed: int = 1, size: tuple[int, int] = (160, 128)) -> np.ndarray:
    """A box on a white sweep, RGB uint8."""
    return make_sample("box", "white", seed, size=size).image


@lru_cache(maxsize=None)
def product_mask(seed: int = 1, size: tuple[int, int] = (160, 128)) -> np.ndarray:
    return make_sample("box", "white", seed, size=size).mask


def save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def rgb_image(seed: int = 1, size: tuple[int, int] = (160, 128)) -> Image.Image:
    return Image.fromarray(product(seed, size))


def rgba_image(seed: int = 1) -> Image.Image:
    return Image.fromarray(np.dstack([product(seed), product_mask(seed)]))


def png(seed: int = 1) -> bytes:
    return save(rgb_image(seed), "PNG")


def jpeg(seed: int = 1, **kw) -> bytes:
    return save(rgb_image(seed), "JPEG", quality=90, **kw)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_raw(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes | None, idat: bytes | None = None,
            extra: list[tuple[bytes, bytes]] = ()) -> bytes:
    """A PNG written by hand: rows are the filtered scanlines (filter byte 0 + samples)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    body = idat if idat is not None else zlib.compress(rows, 6)
    chunks = [_chunk(b"IHDR", ihdr)] + [_chunk(k, d) for k, d in extra] + [_chunk(b"IDAT", body), _chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


def png16(arr: np.ndarray) -> bytes:
    """A 16-bit RGB (HxWx3) or RGBA (HxWx4) PNG from uint16 samples (Pillow cannot write these)."""
    h, w, c = arr.shape
    rows = b"".join(b"\0" + arr[y].astype(">u2").tobytes() for y in range(h))
    return png_raw(w, h, 16, {3: 2, 4: 6}[c], rows)


def png_bomb(width: int, height: int) -> bytes:
    """A real gray PNG of width x height zero pixels: tiny on disk, huge once decoded."""
    comp = zlib.compressobj(9)
    row = b"\0" * (width + 1)
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    return png_raw(width, height, 8, 0, None, idat=body)


def tiff_raw(width: int, height: int, data: bytes = b"\0" * 64) -> bytes:
    """A minimal little-endian 8-bit gray TIFF whose header declares width x height."""
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 0), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, len(data))]
    ifd_size = 2 + 12 * len(entries) + 4
    data_offset = 8 + ifd_size
    entries[5] = (273, 4, 1, data_offset)
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        ifd += struct.pack("<HHI", tag, typ, count) + (struct.pack("<HH", value, 0) if typ == 3
                                                        else struct.pack("<I", value))
    return b"II*\0" + struct.pack("<I", 8) + ifd + b"\0\0\0\0" + data


def tiff_samples(arr: np.ndarray, bits: int, sample_format: int) -> bytes:
    """An uncompressed little-endian TIFF of HxW or HxWx3 samples (sample format 1 unsigned, 3 float)."""
    h, w = arr.shape[:2]
    spp = 1 if arr.ndim == 2 else arr.shape[2]
    data = arr.astype({(16, 1): "<u2", (32, 1): "<u4", (32, 3): "<f4"}[bits, sample_format]).tobytes()
    per_sample = struct.pack("<" + "H" * spp, *[bits] * spp), struct.pack("<" + "H" * spp, *[sample_format] * spp)
    tags = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, spp, per_sample[0]), (259, 3, 1, 1), (262, 3, 1, 2 if spp == 3 else 1),
            (273, 4, 1, "data"), (277, 3, 1, spp), (278, 4, 1, h), (279, 4, 1, len(data)), (284, 3, 1, 1),
            (339, 3, spp, per_sample[1])]
    extra_at = 8 + 2 + 12 * len(tags) + 4
    extra = b"".join(v for *_, v in tags if isinstance(v, bytes) and len(v) > 4)
    ifd, cursor = struct.pack("<H", len(tags)), extra_at
    for tag, typ, count, value in tags:
        if value == "data":
            field = struct.pack("<I", extra_at + len(extra))
        elif isinstance(value, bytes) and len(value) > 4:
            field, cursor = struct.pack("<I", cursor), cursor + len(value)
        elif isinstance(value, bytes):
            field = value.ljust(4, b"\0")
        else:
            field = struct.pack("<HH", value, 0) if typ == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, typ, count) + field
    return b"II*\0" + struct.pack("<I", 8) + ifd + b"\0\0\0\0" + extra + data


def gif_header(width: int, height: int) -> bytes:
    """A GIF whose screen declares width x height, holding one 1x1 frame."""
    return (b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\0\0\0\xff\xff\xff"
            + b"," + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00" + b";")


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose SOF marker is patched to declare width x height."""
    data = bytearray(jpeg())
    i = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, i + 5, height, width)
    return bytes(data)


def webp_claiming(width: int, height: int) -> bytes:
    """An extended (VP8X) WEBP whose canvas is patched to width x height."""
    data = bytearray(save(rgba_image(), "WEBP", lossless=True, icc_profile=srgb_profile()))
    i = data.index(b"VP8X")
    data[i + 12:i + 15] = (width - 1).to_bytes(3, "little")
    data[i + 15:i + 18] = (height - 1).to_bytes(3, "little")
    return bytes(data)


def flat(colour, size=(200, 200), mode="RGB") -> bytes:
    return save(Image.new(mode, size, colour), "PNG")


def bar(width: int, height: int) -> bytes:
    """A white canvas with a dark block in the middle third: a product on a plain backdrop, at any aspect."""
    arr = np.full((height, width, 3), 255, np.uint8)
    arr[height // 3: max(height // 3 + 1, 2 * height // 3), width // 3: max(width // 3 + 1, 2 * width // 3)] = (40, 60, 90)
    return save(Image.fromarray(arr), "PNG")


def noise(seed: int = 3, size=(200, 200)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)


def exif_jpeg(orientation: int) -> bytes:
    """A 96x64 product photo stored with this EXIF orientation."""
    im = rgb_image(2, (96, 64))
    exif = im.getexif()
    exif[0x0112] = orientation
    return save(im, "JPEG", exif=exif.tobytes(), quality=90)


def jpeg_with_app1(payload: bytes) -> bytes:
    """A JPEG with a raw APP1 segment inserted after SOI."""
    data = jpeg(4)
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def tiff_exif(byteorder: bytes, entries: list[tuple[int, int, int, bytes]], ifd_offset: int = 8) -> bytes:
    """An EXIF block: 'Exif\\0\\0' + a TIFF header + one IFD of raw entries (tag, type, count, 4 value bytes)."""
    fmt = "<" if byteorder == b"II" else ">"
    ifd = struct.pack(fmt + "H", len(entries))
    for tag, typ, count, value in entries:
        ifd += struct.pack(fmt + "HHI", tag, typ, count) + value
    return b"Exif\0\0" + byteorder + struct.pack(fmt + "HI", 42, ifd_offset) + ifd + b"\0\0\0\0"


def icc_profile(colour_space: bytes, curve_tag: bytes, gamma: float = 2.2, device_class: bytes = b"mntr") -> bytes:
    """A small valid ICC v2 profile: description, white point and one tone curve per channel of ``colour_space``."""
    def text_desc(s: bytes) -> bytes:
        return b"desc\0\0\0\0" + struct.pack(">I", len(s) + 1) + s + b"\0" + b"\0" * 12 + b"\0" * 67

    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    tags = [(b"desc", text_desc(b"bgflow corpus " + colour_space.strip())),
            (b"wtpt", b"XYZ \0\0\0\0" + s15(0.9642) + s15(1.0) + s15(0.8249)),
            (b"cprt", b"text\0\0\0\0" + b"no copyright\0")]
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    tags += [(t, curve) for t in (curve_tag if isinstance(curve_tag, tuple) else (curve_tag,))]
    table_size = 4 + 12 * len(tags)
    offset, table, blob = 128 + table_size, struct.pack(">I", len(tags)), b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(blob), len(data))
        blob += data
    size = 128 + table_size + len(blob)
    header = (struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000) + device_class + colour_space
              + b"XYZ " + b"\0" * 12 + b"acsp" + b"APPL" + b"\0" * 4 + b"\0" * 8 + b"\0" * 8 + b"\0" * 4
              + s15(0.9642) + s15(1.0) + s15(0.8249) + b"\0" * 4 + b"\0" * 16 + b"\0" * 28)
    assert len(header) == 128
    return header + table + blob


def gray_profile() -> bytes:
    return icc_profile(b"GRAY", b"kTRC")


def cmyk_profile() -> bytes:
    return icc_profile(b"CMYK", (b"A2B0",), device_class=b"prtr")  # a CMYK printer profile LittleCMS may refuse


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def lab_tiff() -> bytes:
    to_lab = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB")
    return save(ImageCms.applyTransform(rgb_image(), to_lab), "TIFF")


def apng() -> bytes:
    frames = [rgb_image(5), rgb_image(6)]
    return save(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=100, loop=0)


def animated(fmt: str) -> bytes:
    frames = [rgb_image(5), rgb_image(6), rgb_image(7)]
    return save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def zip_of(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(name, data)
    return buf.getvalue()


def gif_js_polyglot() -> bytes:
    """A GIF that is also valid JavaScript: the screen width bytes open a comment (``/*``), the payload closes it."""
    frame = save(Image.fromarray(product(8, (64, 64))).convert("P"), "GIF")
    body = bytearray(frame)
    body[6:8] = b"/*"  # declared width 0x2a2f = 10799
    return bytes(body) + b"*/=1;alert(document.domain);//"


def truncated(data: bytes, at: float | int) -> bytes:
    return data[: at if isinstance(at, int) else int(len(data) * at)]


# ---------------------------------------------------------------------------------------------------------------
# File cases


def _file_cases() -> list[FileCase]:
    c: list[FileCase] = []

    def add(name: str, group: str, data: bytes, expect: Expect, filename: str | bytes = "", ext: str = ".png"):
        c.append(FileCase(name, group, data, expect, filename or f"{name}{ext}"))

    # Truncations: a file that starts like an image and stops early is corrupt, wherever it stops.
    j, p = jpeg(), png()
    w = save(rgb_image(), "WEBP", quality=80)
    t = save(rgb_image(), "TIFF")
    sos = j.index(b"\xff\xda")
    add("jpeg-cut-after-soi", "truncation", truncated(j, 4), err("corrupt_image"), ext=".jpg")
    add("jpeg-cut-in-header", "truncation", truncated(j, sos - 10), err("corrupt_image"), ext=".jpg")
    add("jpeg-cut-at-scan-start", "truncation", truncated(j, sos + 20), err("corrupt_image"), ext=".jpg")
    add("jpeg-cut-half", "truncation", truncated(j, 0.5), err("corrupt_image"), ext=".jpg")
    add("jpeg-cut-90pct", "truncation", truncated(j, 0.9), err("corrupt_image"), ext=".jpg")
    add("png-signature-only", "truncation", truncated(p, 8), err("corrupt_image"))
    add("png-cut-in-ihdr", "truncation", truncated(p, 20), err("corrupt_image"))
    add("png-cut-half", "truncation", truncated(p, 0.5), err("corrupt_image"))
    add("png-cut-before-iend", "truncation", truncated(p, len(p) - 30), err("corrupt_image"))
    add("webp-cut-in-header", "truncation", truncated(w, 16), err("corrupt_image"), ext=".webp")
    add("webp-cut-half", "truncation", truncated(w, 0.5), err("corrupt_image"), ext=".webp")
    add("tiff-cut-in-ifd", "truncation", truncated(t, 12), err("corrupt_image"), ext=".tif")
    add("tiff-cut-half", "truncation", truncated(t, 0.5), err("corrupt_image"), ext=".tif")
    add("gif-cut-half", "truncation", truncated(save(rgb_image().convert("P"), "GIF"), 0.5), err("corrupt_image"),
        ext=".gif")

    # Bombs and huge headers: refused from the header, before any pixel is decoded.
    add("png-header-100000x100000", "bomb", png_raw(100000, 100000, 8, 2, b"\0" * 16), err("image_too_large"))
    add("png-real-bomb-8000x8000", "bomb", png_bomb(8000, 8000), err("image_too_large"))
    add("gif-header-65535x65535", "bomb", gif_header(65535, 65535), err("image_too_large"), ext=".gif")
    add("tiff-header-100000x100000", "bomb", tiff_raw(100000, 100000), err("image_too_large"), ext=".tif")
    add("jpeg-header-65000x65000", "bomb", jpeg_claiming(65000, 65000), err("image_too_large"), ext=".jpg")
    add("webp-canvas-16384x16384", "bomb", webp_claiming(16384, 16384), err("image_too_large", "corrupt_image"),
        ext=".webp")
    big_text = zlib.compress(b"A" * 8_000_000, 9)  # a zTXt chunk that inflates to 8 MB
    # Pillow refuses a text chunk that inflates past its limit: a coded refusal is as right as skipping the chunk.
    add("png-ztxt-bomb", "bomb", png_raw(160, 128, 8, 2, b"".join(b"\0" + product()[y].tobytes() for y in range(128)),
                                         extra=[(b"zTXt", b"Comment\0\0" + big_text)]),
        Expect((OK, "corrupt_image", "image_too_large"), "white"))

    # Tiny and extreme shapes.
    add("1x1", "shape", flat((255, 255, 255), (1, 1)), err("image_too_small"))
    add("15x15", "shape", bar(15, 15), err("image_too_small"))
    add("16x16", "shape", bar(16, 16), Expect(OK_OR_NO_PRODUCT))
    add("10000x20", "shape", bar(10000, 20), Expect(OK_OR_NO_PRODUCT))
    add("20x10000", "shape", bar(20, 10000), Expect(OK_OR_NO_PRODUCT))
    add("8000x16-shrinks-below-min", "shape", bar(8000, 16), Expect(OK_OR_NO_PRODUCT))

    # Every mode and bit depth Pillow writes (and a few it only reads).
    base, mask = rgb_image(), product_mask()
    gray = base.convert("L")
    add("mode-1", "mode", save(base.convert("1"), "PNG"), ok())
    add("mode-L", "mode", save(gray, "PNG"), ok("white"))
    add("mode-LA", "mode", save(Image.merge("LA", (gray, Image.fromarray(mask))), "PNG"), ok("white"))
    add("mode-P", "mode", save(base.quantize(64), "PNG"), ok("white"))
    add("mode-P-transparency", "mode", save(rgba_image().quantize(64, method=Image.Quantize.FASTOCTREE), "PNG"),
        ok("white"))
    add("mode-RGB-png", "mode", p, ok("white"))
    add("mode-RGBA-png", "mode", save(rgba_image(), "PNG"), ok("white"))
    add("mode-CMYK-jpeg", "mode", save(base.convert("CMYK"), "JPEG", quality=90), ok("white"), ext=".jpg")
    add("mode-CMYK-tiff", "mode", save(base.convert("CMYK"), "TIFF"), ok("white"), ext=".tif")
    add("mode-YCbCr-jpeg", "mode", save(base.convert("YCbCr"), "JPEG", quality=90), ok("white"), ext=".jpg")
    add("mode-YCbCr-tiff", "mode", save(base.convert("YCbCr"), "TIFF"), ok("white"), ext=".tif")
    add("mode-LAB-tiff", "mode", lab_tiff(), ok("white"), ext=".tif")
    g16 = np.asarray(gray).astype(np.uint16) * 257
    add("mode-I16-png", "mode", save(Image.fromarray(g16), "PNG"), ok("white"))
    add("mode-I16-tiff", "mode", save(Image.fromarray(g16), "TIFF"), ok("white"), ext=".tif")
    add("mode-I16B-tiff", "mode", save(Image.fromarray(g16.astype(">u2")), "TIFF"), ok("white"), ext=".tif")
    add("mode-RGB16-png", "mode", png16(np.asarray(base).astype(np.uint16) * 257), ok("white"))
    add("mode-RGBA16-png", "mode", png16(np.dstack([np.asarray(base), mask]).astype(np.uint16) * 257), ok("white"))
    g = np.asarray(gray)
    add("mode-I-int32-full-range", "mode", save(Image.fromarray(g.astype(np.int32) * (1 << 23)), "TIFF"), ok("white"),
        ext=".tif")
    add("mode-I-int32-negative", "mode", save(Image.fromarray(g.astype(np.int32) * 1000 - 100_000), "TIFF"),
        ok("white"), ext=".tif")
    add("mode-F-float-0-1", "mode", save(Image.fromarray(g.astype(np.float32) / 255), "TIFF"), ok("white"),
        ext=".tif")
    add("mode-F-float-0-255", "mode", save(Image.fromarray(g.astype(np.float32)), "TIFF"), ok("white"), ext=".tif")
    nan = g.astype(np.float32) / 255
    nan[:4, :4] = np.nan
    nan[-4:, -4:] = np.inf
    add("mode-F-float-nan-inf", "mode", save(Image.fromarray(nan), "TIFF"), ok("white"), ext=".tif")
    add("mode-RGB-float32-tiff", "mode", tiff_samples(np.asarray(base).astype(np.float32) / 255, 32, 3),
        err("unsupported_format"), ext=".tif")  # Pillow reads no float colour TIFF: say so, not "corrupt"
    add("mode-RGB16-tiff", "mode", tiff_samples(np.asarray(base).astype(np.uint16) * 257, 16, 1), ok("white"),
        ext=".tif")
    add("mode-RGB-bmp", "mode", save(base, "BMP"), ok("white"), ext=".bmp")
    add("mode-RGBA-bmp", "mode", save(rgba_image(), "BMP"), ok("white"), ext=".bmp")
    add("mode-P-gif", "mode", save(base.convert("P"), "GIF"), ok("white"), ext=".gif")
    add("mode-RGBA-webp-lossless", "mode", save(rgba_image(), "WEBP", lossless=True), ok("white"), ext=".webp")
    add("jpeg-progressive", "mode", jpeg(progressive=True), ok("white"), ext=".jpg")

    # Animated and multi-page: the first frame.
    add("animated-gif", "animation", animated("GIF"), ok("white"), ext=".gif")
    add("animated-webp", "animation", animated("WEBP"), ok("white"), ext=".webp")
    add("apng", "animation", apng(), ok("white"))
    add("multipage-tiff", "animation", animated("TIFF"), ok("white"), ext=".tif")

    # EXIF orientations 1-8: 5-8 swap the sides.
    for o in range(1, 9):
        add(f"exif-orientation-{o}", "exif", exif_jpeg(o), ok("white", (96, 64) if o <= 4 else (64, 96)), ext=".jpg")
    add("exif-garbage", "exif", jpeg_with_app1(b"Exif\0\0" + bytes(range(256)) * 4), ok("white"), ext=".jpg")
    add("exif-orientation-9", "exif",
        jpeg_with_app1(tiff_exif(b"II", [(0x0112, 3, 1, struct.pack("<HH", 9, 0))])), ok("white", (160, 128)),
        ext=".jpg")
    add("exif-orientation-as-text", "exif",
        jpeg_with_app1(tiff_exif(b"MM", [(0x0112, 2, 4, b"six\0")])), ok("white", (160, 128)), ext=".jpg")
    add("exif-ifd-offset-past-end", "exif", jpeg_with_app1(tiff_exif(b"II", [], ifd_offset=0x7FFFFFF0)),
        ok("white", (160, 128)), ext=".jpg")
    add("exif-entry-count-huge", "exif",
        jpeg_with_app1(b"Exif\0\0II*\0\x08\0\0\0\xff\xff" + b"\x12\x01\x03\x00" * 8), ok("white", (160, 128)),
        ext=".jpg")
    add("png-exif-chunk-garbage", "exif", png_raw(160, 128, 8, 2, b"".join(b"\0" + product()[y].tobytes()
                                                                         for y in range(128)),
                                                  extra=[(b"eXIf", b"MM\0*garbage")]), ok("white"))

    # ICC profiles: odd or garbage profiles never lose the image.
    add("icc-garbage-jpeg", "icc", save(base, "JPEG", icc_profile=bytes(range(256)) * 3), ok("white"), ext=".jpg")
    add("icc-garbage-png", "icc", save(base, "PNG", icc_profile=b"\xde\xad\xbe\xef" * 200), ok("white"))
    add("icc-truncated-srgb", "icc", save(base, "PNG", icc_profile=srgb_profile()[:200]), ok("white"))
    add("icc-cmyk-profile-on-rgb", "icc", save(base, "PNG", icc_profile=cmyk_profile()), ok("white"))
    add("icc-gray-profile-on-gray", "icc", save(gray, "PNG", icc_profile=gray_profile()), ok("white"))
    add("icc-gray-profile-on-rgb", "icc", save(base, "PNG", icc_profile=gray_profile()), ok("white"))
    add("icc-srgb-profile-on-cmyk", "icc", save(base.convert("CMYK"), "JPEG", icc_profile=srgb_profile()),
        ok("white"), ext=".jpg")
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    add("icc-lab-profile-on-rgb", "icc", save(base, "PNG", icc_profile=lab), ok())

    # Polyglots: image data that is also something else; the image is what counts.
    add("jpeg-plus-zip", "polyglot", j + zip_of("payload.txt", b"hello"), ok("white"), ext=".jpg")
    add("jpeg-plus-html", "polyglot", j + b"<html><script>alert(1)</script></html>", ok("white"), ext=".jpg")
    add("png-plus-php", "polyglot", p + b"<?php system($_GET['c']); ?>", ok("white"))
    add("gif-js-polyglot", "polyglot", gif_js_polyglot(), Expect(OK_OR_NO_PRODUCT), ext=".gif")  # a 10799x64 GIF
    add("html-then-png", "polyglot", b"<html><body>\n" + p, err("unsupported_format"))
    add("zip-holding-png", "polyglot", zip_of("photo.png", p), err("unsupported_format"))

    # Not images at all (named like images, as uploads are).
    add("empty", "not-image", b"", err("empty_input", "invalid_request", http=(400, 422)))
    add("whitespace", "not-image", b" \n\t \r\n", err("unsupported_format"))
    add("nul-bytes", "not-image", b"\0" * 4096, err("unsupported_format"))
    add("pdf", "not-image", b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<<>>\n%%EOF\n",
        err("unsupported_format"))
    add("svg", "not-image", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
        b'<rect width="100" height="100" fill="red"/></svg>', err("unsupported_format"))
    add("html", "not-image", b"<!doctype html><html><body><img src=x onerror=alert(1)></body></html>",
        err("unsupported_format"))
    add("zip", "not-image", zip_of("a.txt", b"hello" * 100), err("unsupported_format"))
    add("eps", "not-image", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\nshowpage\n",
        err("unsupported_format"))
    add("ico", "not-image", save(base, "ICO"), err("unsupported_format"))
    add("ppm", "not-image", save(base, "PPM"), err("unsupported_format"))
    add("text", "not-image", b"hello, this is a text file\n" * 10, err("unsupported_format"))

    # One colour, or noise.
    add("all-white", "flat", flat((255, 255, 255)), err("product_not_found"))
    add("all-black", "flat", flat((0, 0, 0)), err("product_not_found"))
    add("all-grey", "flat", flat((128, 128, 128)), err("product_not_found"))
    add("all-transparent", "flat", flat((0, 0, 0, 0), mode="RGBA"), err("product_not_found"))
    # Pure noise reads as a scene: kept as it is (on_scene keep), or refused for having no product.
    add("noise", "flat", save(Image.fromarray(noise()), "PNG"), Expect(OK_OR_NO_PRODUCT, "scene"))
    framed = np.full((200, 200, 3), 255, np.uint8)
    framed[60:140, 60:140] = noise(4, (80, 80))
    add("noise-product-on-white", "flat", save(Image.fromarray(framed), "PNG"), ok("white"))

    # Hostile and colliding file names: each input gets its own folder inside OUT.
    names: list[str | bytes] = ["...png", "..png", ".png", "a\u2215b.png", "a\u2044b.png", "x\u29f8y.png",
                                "new\nline.png", "-v.png", "--out.png", "sp ace 'quo\"te'; $(id).png",
                                "\u202egnp.exe.png", "n" * 251 + ".png", "\u00e9" * 125 + ".png",
                                b"\xff\xfe-not-utf8.png"]
    for i, n in enumerate(names):
        add(f"name-{i:02d}", "file-name", png(20 + i), ok("white"), filename=n)
    # Upload names that are paths: a failed input is kept beside its manifest, and must stay inside the runs folder.
    cut = truncated(png(30), 0.5)
    for i, n in enumerate([f"../../../../../../tmp/{ESCAPE}.png", f"/tmp/{ESCAPE}.png", f"..\\..\\{ESCAPE}.png",
                           f"{ESCAPE}\0.png", f"../{ESCAPE}/../../{ESCAPE}.tif"]):
        c.append(FileCase(f"upload-name-{i}", "file-name", cut, err("corrupt_image"), f"upload-name-{i}.png", n))
    for i, n in enumerate(["a.jpg", "a.png", "a-2.jpg", "a-2.png", "A.jpg"]):
        data = jpeg(40 + i) if n.lower().endswith(".jpg") else png(40 + i)
        add(f"collide-{n}", "file-name", data, ok("white"), filename=n)
    return c


# ---------------------------------------------------------------------------------------------------------------
# Request cases


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def long_b64_without_slash() -> str:
    """Base64 of a valid photo, under 4096 characters, with a run of over 255 characters that holds no '/'."""
    small = save(rgb_image(9, (64, 48)), "PNG", optimize=True)
    text = _b64(small[:33] + _chunk(b"tEXt", b"Comment\0" + b"A" * 600) + small[33:])  # after IHDR
    run = max(len(r) for r in text.split("/"))
    assert len(text) < 4096 and run > 255, (len(text), run)
    return text


def sample_path() -> Path:
    return REPO / "samples" / "box_white.jpg"


def _paths() -> list[tuple[str, str, tuple[bytes, ...]]]:
    return [("path-proc-self-environ", "/proc/self/environ", (b"PATH=", b"HOME=")),
            ("path-etc-passwd", "/etc/passwd", (b"root:x:0:0",)),
            ("path-repo-sample-absolute", str(sample_path()), ()),
            ("path-repo-sample-relative", "samples/box_white.jpg", ()),
            ("path-missing", "/nonexistent/photo.png", ()),
            ("path-file-uri", "file:///etc/passwd", (b"root:x:0:0",))]


def _request_cases() -> list[RequestCase]:
    c: list[RequestCase] = []
    good = _b64(png(1))

    def both(name: str, body_extra: dict, expect: Expect, cli: list[str] | None = None, jobs_expect: Expect | None = None,
             secrets: tuple[bytes, ...] = ()):
        """A body field for both endpoints: at the top level of /photography, under options for /jobs."""
        photo = Http(body={"image_b64": good, "size": SIZE} | body_extra)
        jobs = Http(body={"image_b64": good, "options": {"size": SIZE} | body_extra})
        c.append(RequestCase(name, "option", (photo, expect), (jobs, jobs_expect or expect),
                             (cli, USAGE) if cli is not None else None, secrets=secrets))

    # A server path or URL in image_b64 is data: refused as not base64, the same way whether the file exists or not.
    for name, value, secrets in _paths():
        refuse = refused(*NOT_BASE64, http=(400, 415, 422))
        c.append(RequestCase(name, "path", (Http(body={"image_b64": value, "size": SIZE}), refuse),
                             (Http(body={"image_b64": value, "options": {"size": SIZE}}), refuse), secrets=secrets))
    long_b64 = long_b64_without_slash()
    c.append(RequestCase("b64-long-run-without-slash", "base64",
                         (Http(body={"image_b64": long_b64, "size": SIZE}), ok()),
                         (Http(body={"image_b64": long_b64, "options": {"size": SIZE}}), ok())))
    junk = "!" * 5000
    c.append(RequestCase("b64-invalid-long", "base64", (Http(body={"image_b64": junk}), refused("unsupported_format")),
                         (Http(body={"image_b64": junk}), refused("unsupported_format"))))
    c.append(RequestCase("data-uri-not-base64", "base64",
                         (Http(body={"image_b64": "data:image/png,hello"}), refused("unsupported_format")),
                         (Http(body={"image_b64": "data:image/png,hello"}), refused("unsupported_format"))))
    uri = "data:image/png;base64," + good
    c.append(RequestCase("data-uri-ok", "base64", (Http(body={"image_b64": uri, "size": SIZE}), ok("white")),
                         (Http(body={"image_b64": uri, "options": {"size": SIZE}}), ok("white"))))
    blank = refused("empty_input", *OPTION_ERROR, http=(400, 422))
    c.append(RequestCase("b64-empty-string", "base64", (Http(body={"image_b64": ""}), blank),
                         (Http(body={"image_b64": ""}), blank)))
    c.append(RequestCase("b64-whitespace-only", "base64", (Http(body={"image_b64": "   \n "}), blank),
                         (Http(body={"image_b64": "   \n "}), blank)))

    # The same answers as server-sent events.
    sse = {"Accept": "text/event-stream"}
    for name, data, expect in [("sse-ok", png(1), ok("white")), ("sse-all-black", flat((0, 0, 0)), err("product_not_found")),
                               ("sse-truncated", truncated(png(1), 0.5), err("corrupt_image")),
                               ("sse-not-an-image", b"%PDF-1.7\n", err("unsupported_format"))]:
        c.append(RequestCase(name, "stream", (Http(body={"image_b64": _b64(data), "size": SIZE}, headers=sse), expect)))

    # Option values: refused before any stage runs (422 on the web, exit 2 on the CLI).
    bad = refused(*OPTION_ERROR, http=(422,))
    both("seed-negative", {"seed": -1}, bad, ["--seed", "-1"])
    both("seed-1e22", {"seed": 1e22}, bad, ["--seed", "10000000000000000000000"])
    both("seed-2-pow-64", {"seed": 2 ** 64}, bad)
    both("seed-string", {"seed": "abc"}, bad, ["--seed", "abc"])
    both("size-0", {"size": 0}, bad, ["--size", "0"])
    both("size-negative", {"size": -5}, bad, ["--size", "-5"])
    both("size-huge", {"size": 10 ** 9}, bad, ["--size", "1000000000"])
    both("size-float", {"size": 100.5}, bad)
    both("size-string", {"size": "big"}, bad, ["--size", "big"])
    both("preset-unknown", {"preset": "nope"}, bad, ["--preset", "nope"])
    both("style-unknown", {"style": "nope"}, bad, ["--style", "nope"])
    both("format-unknown", {"format": "gif"}, bad, ["--format", "gif"])
    both("on-scene-unknown", {"on_scene": "maybe"}, bad, ["--on-scene", "maybe"])
    both("variants-0", {"variants": 0}, bad, ["--variants", "0"])
    both("variants-99", {"variants": 99}, bad, ["--variants", "99"])
    both("prompt-huge", {"prompt": "x" * 100_000}, bad, ["--prompt", "x" * 100_000])
    both("preset-wrong-type", {"preset": ["centered"]}, bad)
    c.append(RequestCase("options-not-object", "option",
                         (Http(body={"image_b64": good, "options": [1, 2]}), bad),
                         (Http(body={"image_b64": good, "options": "size=64"}), bad)))
    c.append(RequestCase("options-unknown-field", "option",
                         (Http(body={"image_b64": good, "options": {"size": SIZE, "sharpen": True}}), bad),
                         (Http(body={"image_b64": good, "options": {"size": SIZE, "sharpen": True}}), bad)))
    # The legacy endpoint ignores unknown top-level fields (the old service's clients send extras); /jobs does not.
    c.append(RequestCase("unknown-top-level-field", "option",
                         (Http(body={"image_b64": good, "size": SIZE, "callback": "http://x"}), ok("white")),
                         (Http(body={"image_b64": good, "callback": "http://x"}), bad)))
    c.append(RequestCase("image-b64-wrong-type", "option", (Http(body={"image_b64": 12345}), bad),
                         (Http(body={"image_b64": 12345}), bad)))
    c.append(RequestCase("image-b64-null", "option", (Http(body={"image_b64": None}), bad),
                         (Http(body={"image_b64": None}), bad)))
    c.append(RequestCase("preferences-huge", "option",
                         (Http(body={"image_b64": good, "preferences": "y" * 100_000}), bad), None))
    c.append(RequestCase("jobs-both-image-and-url", "option", None,
                         (Http(body={"image_b64": good, "url": "https://example.com/a.png"}), bad)))
    c.append(RequestCase("url-plain-http", "option", None,
                         (Http(body={"url": "http://example.com/a.png"}), refused("unsafe_url", *OPTION_ERROR))))
    c.append(RequestCase("url-loopback", "option", None,
                         (Http(body={"url": "https://127.0.0.1/a.png"}), refused("unsafe_url", *OPTION_ERROR))))
    c.append(RequestCase("url-file-scheme", "option", None,
                         (Http(body={"url": "file:///etc/passwd"}), refused("unsafe_url", *OPTION_ERROR)),
                         secrets=(b"root:x:0:0",)))

    # Bodies that are not what the endpoint takes.
    bad_body = refused(*OPTION_ERROR, "invalid_input", http=(400, 422))
    for name, raw, ctype, expect in [
        ("body-not-json", b"{not json", "application/json", bad_body),
        ("body-json-array", b"[1, 2, 3]", "application/json", bad_body),
        ("body-json-string", b'"hello"', "application/json", bad_body),
        ("body-deep-nesting", b'{"image_b64": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "application/json",
         bad_body),
        ("body-nan-seed", b'{"image_b64": "' + good.encode() + b'", "seed": NaN}', "application/json", bad_body),
        ("body-text-plain", json.dumps({"image_b64": good}).encode(), "text/plain",
         refused("unsupported_media_type", *OPTION_ERROR, http=(415, 422))),
    ]:
        c.append(RequestCase(name, "body", (Http(raw=raw, content_type=ctype), expect),
                             (Http(raw=raw, content_type=ctype), expect)))

    # Bodies over the server's limit (the test server's cap is 4 MB), with a Content-Length and chunked.
    big = json.dumps({"image_b64": "A" * 5_000_000}).encode()
    too_big = refused("request_too_large", http=(413,))
    c.append(RequestCase("body-over-limit", "body", (Http(raw=big), too_big), (Http(raw=big), too_big)))
    c.append(RequestCase("body-over-limit-chunked", "body", (Http(raw=big, chunked=True), too_big),
                         (Http(raw=big, chunked=True), too_big)))

    # Multipart uploads to /jobs that are not what it takes.
    photo = ("photo.png", png(1), "image/png")
    c.append(RequestCase("multipart-without-file", "body", None,
                         (Http(files={"other": photo}, form={"options": "{}"}), bad)))
    c.append(RequestCase("multipart-options-not-json", "body", None,
                         (Http(files={"file": photo}, form={"options": "{size: 64"}), bad)))
    c.append(RequestCase("multipart-options-size-0", "body", None,
                         (Http(files={"file": photo}, form={"options": json.dumps({"size": 0})}), bad)))
    c.append(RequestCase("multipart-file-is-a-text-field", "body", None,
                         (Http(files={"options": (None, "{}")}, form={"file": "/etc/passwd"}),
                          refused(*OPTION_ERROR, "empty_input", "unsupported_format", http=(400, 415, 422))),
                         secrets=(b"root:x:0:0",)))

    # Headers and paths of the jobs API.
    c.append(RequestCase("idempotency-key-300-chars", "header", None,
                         (Http(body={"image_b64": good}, headers={"Idempotency-Key": "k" * 300}), bad)))
    c.append(RequestCase("idempotency-key-reused-other-body", "header", scenario=_key_reused,
                         scenario_expect=refused("idempotency_key_reused", "idempotency_conflict", *OPTION_ERROR,
                                             http=(409, 422))))
    c.append(RequestCase("last-event-id-negative", "header", scenario=_last_event_id("-5"),
                         scenario_expect=Expect((OK, *OPTION_ERROR), http=(400, 422), before_work=True)))
    c.append(RequestCase("last-event-id-not-number", "header", scenario=_last_event_id("abc"),
                         scenario_expect=Expect((OK, *OPTION_ERROR), http=(400, 422), before_work=True)))
    # http_404: the framework's own answer for a path that matches no route (an encoded '/' splits the path)
    not_found = refused("job_not_found", "not_found", "http_404", *OPTION_ERROR, http=(400, 404, 422))
    c.append(RequestCase("job-id-300-chars", "path", scenario=_get("/jobs/" + "j" * 300), scenario_expect=not_found))
    c.append(RequestCase("job-id-traversal", "path", scenario=_get("/jobs/..%2F..%2Fetc"), scenario_expect=not_found))
    c.append(RequestCase("runs-path-nul", "path", scenario=_get("/runs/abc%00/manifest.json"),
                         scenario_expect=not_found))
    c.append(RequestCase("runs-path-nul-name", "path", scenario=_get("/runs/abc/x%00.png"), scenario_expect=not_found))
    c.append(RequestCase("runs-path-300-chars", "path", scenario=_get("/runs/" + "r" * 300 + "/manifest.json"),
                         scenario_expect=not_found))
    c.append(RequestCase("runs-path-traversal", "path", scenario=_get("/runs/..%2F..%2F..%2Fetc/passwd"),
                         scenario_expect=not_found, secrets=(b"root:x:0:0",)))
    return c


def _error_of(resp) -> str:
    try:
        return resp.json()["error"]["code"]
    except Exception:
        return f"http_{resp.status_code}"


def _get(path: str):
    def scenario(client) -> tuple[int, str, str]:
        r = client.get(path)
        return r.status_code, OK if r.status_code == 200 else _error_of(r), r.text[:300]
    return scenario


def _key_reused(client) -> tuple[int, str, str]:
    """The same Idempotency-Key with a different body must not answer with the first job."""
    headers = {"Idempotency-Key": "corpus-key-reused"}
    first = client.post("/jobs", json={"image_b64": _b64(png(1)), "options": {"size": SIZE}}, headers=headers)
    if first.status_code != 202:
        return first.status_code, _error_of(first), "first request: " + first.text[:200]
    second = client.post("/jobs", json={"image_b64": _b64(png(2)), "options": {"size": SIZE}}, headers=headers)
    if second.status_code < 300:
        return second.status_code, OK, f"answered with job {second.json().get('id')} (first {first.json()['id']})"
    return second.status_code, _error_of(second), second.text[:200]


def _last_event_id(value: str):
    def scenario(client) -> tuple[int, str, str]:
        r = client.post("/jobs", json={"image_b64": _b64(png(1)), "options": {"size": SIZE}})
        if r.status_code != 202:
            return r.status_code, _error_of(r), r.text[:200]
        job_id = r.json()["id"]
        events = client.get(f"/jobs/{job_id}/events", headers={"Last-Event-ID": value})
        if events.status_code != 200:
            return events.status_code, _error_of(events), events.text[:200]
        ids = [int(line[4:]) for line in events.text.splitlines() if line.startswith("id: ")]
        if "event: end" not in events.text or any(i < 0 for i in ids):
            return 200, "bad_stream", events.text[:300]
        return 200, OK, f"ids {ids}"
    return scenario


@lru_cache(maxsize=1)
def file_cases() -> tuple[FileCase, ...]:
    cases = tuple(_file_cases())
    assert len({c.name for c in cases}) == len(cases)
    return cases


@lru_cache(maxsize=1)
def request_cases() -> tuple[RequestCase, ...]:
    cases = tuple(_request_cases())
    assert len({c.name for c in cases}) == len(cases)
    return cases
