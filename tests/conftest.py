import io
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
from PIL import Image

from pipeline.synthetic import make_sample


def encode(arr: np.ndarray, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="session")
def box_on_white():
    return make_sample("box", "white", 1, size=(480, 384))


@pytest.fixture(scope="session")
def product_png(box_on_white) -> bytes:
    return encode(box_on_white.image)
