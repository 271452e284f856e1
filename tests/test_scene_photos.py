"""Scene photos (rooms, streets, foliage): kept or skipped without failing, whether or not a product stands out."""

import io

import pytest
from PIL import Image

from pipeline.errors import ProductNotFound
from pipeline.runner import InProcessExecutor, Job, RunOptions, run
from pipeline.synthetic import SCENES, make_scene


def _png(img) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def executor():
    return InProcessExecutor()


@pytest.mark.parametrize("kind", SCENES)
@pytest.mark.parametrize("on_scene", ["keep", "skip"])
def test_scene_photo_never_fails_when_kept_or_skipped(executor, kind, on_scene):
    events = list(run(Job(source=_png(make_scene(kind, 4)), options=RunOptions(on_scene=on_scene)), executor))
    assert events[0].payload["background_kind"] == "scene"
    finals = [e for e in events if e.stage == "upscale"]
    if on_scene == "skip":
        assert finals == []
    else:
        assert len(finals) == 1 and finals[0].payload["output"]["action"] == "kept"


def test_kept_scene_without_a_product_is_kept_whole(executor, monkeypatch):
    """When nothing stands out the photo is kept as it is; with ``process`` the same photo fails, coded."""
    def nothing(norm, seed):
        raise ProductNotFound("nothing stands out")

    monkeypatch.setattr(executor, "analyze", nothing)
    data = _png(make_scene("foliage", 1))
    kept = list(run(Job(source=data, options=RunOptions(on_scene="keep")), executor))
    assert [e.stage for e in kept] == ["normalize", "segment", "upscale"]
    assert kept[1].backend == "whole-photo" and kept[1].images["mask"].min() == 255
    assert kept[-1].payload["output"]["action"] == "kept"
    assert kept[-1].images["final"].shape[2] == 3
    assert [e.stage for e in run(Job(source=data, options=RunOptions(on_scene="skip")), executor)] == ["normalize"]
    with pytest.raises(ProductNotFound):
        list(run(Job(source=data, options=RunOptions(on_scene="process")), executor))


def test_matting_that_finds_no_product_keeps_or_skips_a_scene_but_fails_processing(executor, monkeypatch):
    def nothing(norm, coarse, analysis):
        raise ProductNotFound("matting left no product")

    monkeypatch.setattr(executor, "segment", nothing)
    data = _png(make_scene("room", 2))
    kept = list(run(Job(source=data, options=RunOptions(on_scene="keep")), executor))
    assert [e.stage for e in kept] == ["normalize", "analyze", "segment", "upscale"]
    assert kept[-1].payload["output"]["action"] == "kept"
    (fh, fw), (nh, nw) = kept[-1].images["final"].shape[:2], kept[0].images["normalized"].shape[:2]
    assert abs(fw / fh - nw / nh) < 0.01  # the whole photo, not a cut-out placed on a canvas
    assert [e.stage for e in run(Job(source=data, options=RunOptions(on_scene="skip")), executor)] == [
        "normalize", "analyze"]
    with pytest.raises(ProductNotFound):
        list(run(Job(source=data, options=RunOptions(on_scene="process")), executor))
