import base64
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

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
