import base64
import io
import struct
import zlib

import numpy as np
import pytest
import cv2
from PIL import Image, ImageCms, ImageOps

from pipeline.errors import CorruptImage, EmptyInput, ImageTooLarge, ImageTooSmall, UnsupportedFormat
from pipeline.normalize import normalize
from tests.conftest import encode


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF"])
def test_common_formats_decode_to_rgb(box_on_white, fmt):
    n = normalize(encode(box_on_white.image, fmt))
    assert n.image.dtype == np.uint8 and n.image.shape == box_on_white.image.shape
    assert n.source_format == fmt
    assert n.background.kind == "white"


def test_path_base64_and_data_uri_give_the_same_image(tmp_path, product_png):
    p = tmp_path / "x.png"
    p.write_bytes(product_png)
    b64 = base64.b64encode(product_png).decode()
    from events.intake import Base64Text
    from events.settings import Settings

    a = normalize(p).image
    assert np.array_equal(a, normalize(Base64Text(b64).read(Settings())).image)
    assert np.array_equal(a, normalize(Base64Text("data:image/png;base64," + b64).read(Settings())).image)
    with pytest.raises(TypeError):
        normalize(str(p))  # a string is never taken as a path by the pipeline


def test_exif_orientation_is_applied():
    arr = np.zeros((40, 80, 3), np.uint8)
    arr[:, :40] = (255, 0, 0)  # red on the left
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # stored rotated: display needs a 90 degree turn clockwise
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    n = normalize(buf.getvalue())
    assert n.size == (40, 80)
    assert "exif_rotated" in n.notes
    assert n.image[5, 20, 0] > 200 and n.image[-5, 20, 0] < 60  # red ended up on top


def test_cmyk_jpeg_becomes_rgb():
    im = Image.new("CMYK", (64, 48), (0, 255, 255, 0))  # pure red in CMYK
    buf = io.BytesIO()
    im.save(buf, "JPEG")
    n = normalize(buf.getvalue())
    r, g, b = n.image[24, 32]
    assert r > 200 and g < 60 and b < 60
    assert "cmyk" in n.notes


def test_icc_profile_is_converted_to_srgb():
    arr = np.full((32, 32, 3), (200, 80, 40), np.uint8)
    lab_profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG", icc_profile=lab_profile.tobytes())
    n = normalize(buf.getvalue())
    assert np.abs(n.image.astype(int) - arr).max() <= 2  # sRGB in, sRGB out


def test_16bit_png_is_scaled_to_8bit():
    arr = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    n = normalize(buf.getvalue())
    assert n.image.dtype == np.uint8 and n.image.max() >= 250 and n.image.min() <= 5
    assert "16bit" in n.notes


def test_rgba_alpha_is_kept_as_prior(box_on_white):
    rgba = np.dstack([box_on_white.image, box_on_white.mask])
    n = normalize(encode(rgba))
    assert n.alpha_prior is not None
    assert np.array_equal(n.alpha_prior > 127, box_on_white.mask > 127)
    assert n.background.kind == "white"


def test_animated_gif_takes_first_frame():
    frames = [Image.new("RGB", (64, 64), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    n = normalize(buf.getvalue())
    assert "first_frame" in n.notes and n.image[10, 10, 0] > 200


def _png_header(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))  # noqa: E731
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "data, error",
    [
        (b"", EmptyInput),
        (b"hello, this is a text file\n" * 10, UnsupportedFormat),
        (_png_header(100000, 100000), ImageTooLarge),
        (encode(np.zeros((1, 1, 3), np.uint8)), ImageTooSmall),
    ],
    ids=["zero-bytes", "text-file", "100000x100000-header", "1x1"],
)
def test_bad_inputs_have_stable_codes(data, error):
    with pytest.raises(error) as info:
        normalize(data)
    assert info.value.code == error.code
    assert len(info.value.message) > 20  # says what to do


def test_truncated_jpeg_is_corrupt(box_on_white):
    data = encode(box_on_white.image, "JPEG")
    with pytest.raises(CorruptImage):
        normalize(data[: len(data) // 2])


def test_invalid_base64_says_so():
    from events.intake import Base64Text
    from events.settings import Settings

    with pytest.raises(UnsupportedFormat, match="base64"):
        Base64Text("not an image and not base64 !!!").read(Settings())


def _gray_product() -> np.ndarray:
    """A dark square on white, 8-bit gray."""
    g = np.full((64, 80), 255, np.uint8)
    g[16:48, 24:56] = 40
    return g


def _tiff(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "TIFF")
    return buf.getvalue()


@pytest.mark.parametrize("values", [
    pytest.param(lambda g: g.astype(np.float32) / 255, id="float-0-1"),
    pytest.param(lambda g: g.astype(np.float32), id="float-0-255"),
    pytest.param(lambda g: g.astype(np.int32) * (1 << 23), id="int32-full-range"),
    pytest.param(lambda g: g.astype(np.int32) * 1000 - 100_000, id="int32-negative"),
])
def test_float_and_int32_tiffs_are_scaled_by_their_range(values):
    n = normalize(_tiff(values(_gray_product())))
    assert n.image[2, 2].min() >= 250, n.image[2, 2]  # the white backdrop stays white
    assert n.image[32, 40].max() <= 60, n.image[32, 40]  # the product stays dark
    assert n.background.kind == "white"


def test_float_nan_and_inf_do_not_break_the_scale():
    f = _gray_product().astype(np.float32) / 255
    f[:4, :4], f[-4:, -4:] = np.nan, np.inf
    n = normalize(_tiff(f))
    assert n.image[10, 70].min() >= 250 and n.image[32, 40].max() <= 60


def test_dark_16bit_image_stays_dark():
    """16-bit data uses its full range even when every value is small."""
    arr = np.full((32, 32), 200, np.uint16)  # 200/65535: nearly black
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    assert normalize(buf.getvalue()).image.max() <= 2


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"II*\x00\x08\x00"],
                         ids=["png", "jpeg", "tiff"])
def test_a_signature_then_nothing_is_corrupt_not_foreign(data):
    with pytest.raises(CorruptImage):
        normalize(data)


@pytest.mark.parametrize("fmt, orientation", [("JPEG", 1), ("JPEG", 6), ("PNG", 1), ("PNG", 8)])
def test_reduced_decode_matches_a_full_decode_then_resize(fmt, orientation):
    """A photo over max_side is reduced while decoding (JPEG DCT scaling, box reduction): same size, orientation and
    pixels (within JPEG's own error) as decoding at full size and resizing."""
    from pipeline.settings import Settings

    from pipeline.synthetic import make_sample

    im = Image.fromarray(make_sample("chair", "gradient", 2, size=(1000, 750)).image)
    exif = im.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))
    settings = Settings(max_side=256)
    n = normalize(buf.getvalue(), settings)
    full = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(buf.getvalue()))).convert("RGB"))
    expected = cv2.resize(full, n.size, interpolation=cv2.INTER_AREA)
    assert n.original_size == (full.shape[1], full.shape[0])
    assert n.size == (256, 192) if orientation < 5 else (192, 256)
    assert np.abs(n.image.astype(int) - expected).mean() < 2.0


def test_extreme_aspect_keeps_the_short_side_at_least_min_side():
    arr = np.full((20, 10000, 3), 255, np.uint8)
    arr[7:14, 3000:7000] = 30
    n = normalize(encode(arr))
    assert min(n.size) >= 16 and n.original_size == (10000, 20)


def test_a_whole_tiff_in_a_layout_pillow_cannot_read_is_unsupported_not_corrupt():
    from tests.badinputs import tiff_samples

    rgb = np.zeros((16, 20, 3), np.float32)
    with pytest.raises(UnsupportedFormat, match="TIFF"):
        normalize(tiff_samples(rgb, 32, 3))
    with pytest.raises(CorruptImage):
        normalize(tiff_samples(rgb, 32, 3)[:12])  # the first directory cut off
