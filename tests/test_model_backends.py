"""Every model backend through its real code path: tiny random models built from small configs, saved with
save_pretrained (or torch.save), loaded by the product's own loaders, run for 1-2 steps on the CPU."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from pipeline.backends import new_backend  # noqa: E402
from pipeline.errors import BackendUnavailable  # noqa: E402
from pipeline.normalize import normalize  # noqa: E402
from pipeline.runner import InProcessExecutor, Job, RunOptions, run  # noqa: E402
from pipeline.segment import coarse_foreground  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
from tests.hub_server import FakeHub  # noqa: E402
from tests.tiny_models import all_tiny, tiny_orient_anything_checkpoint, tiny_realesrgan  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "box_white.jpg"


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.set_num_threads(1)
    return all_tiny(tmp_path_factory.mktemp("weights"))


def _settings(weights, **kw):
    return Settings(weights_dir=weights, flux_steps=2, device="cpu", **kw)


def test_realesrgan_upscales_by_four_in_tiles(weights):
    up = new_backend("upscaler", "realesrgan", _settings(weights, upscale_tile=32, upscale_tile_overlap=4))
    img = (np.random.default_rng(0).random((40, 70, 3)) * 255).astype(np.uint8)
    out = up.upscale4(img)
    assert out.shape == (160, 280, 3) and out.dtype == np.uint8
    whole = new_backend("upscaler", "realesrgan", _settings(weights, upscale_tile=512)).upscale4(img)
    assert np.abs(out.astype(int) - whole).mean() < 2.0  # tiles with overlap agree with one pass


def test_sam2_and_orient_anything_run_on_a_photo(weights):
    norm = normalize(SAMPLE)
    coarse = coarse_foreground(norm)
    seg = new_backend("segmenter", "sam2", _settings(weights))
    mask = seg.mask(coarse.image, coarse.mask)
    assert mask.shape == coarse.mask.shape and mask.dtype == bool
    o = new_backend("orienter", "orient-anything", _settings(weights)).orient(norm, coarse)
    assert 0 <= o.azimuth_deg < 360 and -90 <= o.polar_deg < 90 and -90 <= o.rotation_deg < 90
    assert 0 <= o.confidence <= 1 and o.backend == "orient-anything@tiny-random-1"


def test_orient_anything_conversion_keeps_the_published_model(weights, tmp_path):
    """The converted backbone + head give the same outputs as the published state dict run as published:
    CLS token of the DINOv2 backbone into two linear + batch-norm layers."""
    from torch import nn
    from transformers import Dinov2Config, Dinov2Model

    from pipeline.backends.orient_anything import decode, model_input

    checkpoint, config = tiny_orient_anything_checkpoint(weights / "orient-anything-published")
    state = torch.load(checkpoint, weights_only=True)
    reference = Dinov2Model(Dinov2Config.from_json_file(str(config))).eval()
    reference.load_state_dict({k[7:]: v for k, v in state.items() if k.startswith("dinov2.")})
    out = 722
    head = nn.ModuleDict({"net1": nn.Sequential(nn.Linear(32, out), nn.BatchNorm1d(out), nn.ReLU()),
                          "net2": nn.Sequential(nn.Linear(out, out), nn.BatchNorm1d(out))}).eval()
    head.load_state_dict({k[13:]: v for k, v in state.items() if k.startswith("down_sampler.")})

    backend = new_backend("orienter", "orient-anything", _settings(weights))
    norm = normalize(SAMPLE)
    coarse = coarse_foreground(norm)
    pixels = torch.from_numpy(model_input(coarse.image, coarse.mask, backend.crop)[None])
    with torch.no_grad():
        expected = head["net2"](head["net1"](reference(pixel_values=pixels).last_hidden_state[:, 0]))[0]
    assert backend.angles(coarse.image, coarse.mask) == decode(expected)
    assert pixels.shape == (1, 3, 28, 28)


def test_orient_anything_conversion_refuses_another_checkpoint(tmp_path):
    from pipeline.backends.orient_anything import convert_checkpoint

    _, config = tiny_orient_anything_checkpoint(tmp_path / "published")
    torch.save({"model.weight": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an Orient-Anything checkpoint"):
        convert_checkpoint(tmp_path / "other.pt", config, tmp_path / "out")
    assert not (tmp_path / "out" / "head.safetensors").exists()


def test_models_download_fetches_converts_and_records_the_commit(tmp_path):
    """`bgflow models download` against a Hub on 127.0.0.1: resolves the revision to a commit, fetches the files,
    converts the Orient-Anything checkpoint, records the commit; `models check` then says ready."""
    published = tmp_path / "published"
    checkpoint, config = tiny_orient_anything_checkpoint(published / "orient")
    (published / "orient" / "croplargeEX2").mkdir()
    checkpoint.rename(published / "orient" / "croplargeEX2" / "dino_weight.pt")
    (published / "dinov2").mkdir()
    config.rename(published / "dinov2" / "config.json")
    tiny_realesrgan(published)
    (published / "realesrgan" / ".revision").unlink()
    (published / "realesrgan" / "README.md").write_text("not fetched: only the weights file is\n")
    repos = {"Viglong/Orient-Anything": published / "orient", "facebook/dinov2-large": published / "dinov2",
             "ai-forever/Real-ESRGAN": published / "realesrgan"}
    weights_dir = tmp_path / "weights"
    with FakeHub(repos) as hub:
        env = os.environ | {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf"),
                            "BGFLOW_WEIGHTS_DIR": str(weights_dir), "OMP_NUM_THREADS": "1"}
        cli = [sys.executable, "-m", "events.cli", "models"]
        down = subprocess.run(cli + ["download", "orient-anything", "realesrgan"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        check = subprocess.run(cli + ["check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    for repo, name in (("Viglong/Orient-Anything", "orient-anything"), ("ai-forever/Real-ESRGAN", "realesrgan")):
        assert (weights_dir / name / ".revision").read_text().strip() == hub.commits[repo]
        assert hub.commits[repo] in down.stdout + down.stderr
    assert "BGFLOW_MODEL_REVISIONS='{" in down.stderr  # the line to pin what was fetched
    assert not (weights_dir / "realesrgan" / "README.md").exists()
    assert sorted(p.name for p in (weights_dir / "orient-anything").iterdir()) == [
        ".revision", "backbone", "head.safetensors"]
    assert check.returncode == 1  # flux-fill and sam2 are still missing
    ready = {line.split()[0] for line in (check.stdout + check.stderr).splitlines() if " ready " in line}
    assert ready == {"orient-anything", "realesrgan"}
    assert f"weights from commit {hub.commits['ai-forever/Real-ESRGAN']}; pinned: no" in check.stderr
    o = new_backend("orienter", "orient-anything", _settings(weights_dir)).orient(
        normalize(SAMPLE), coarse_foreground(normalize(SAMPLE)))
    assert o.backend == f"orient-anything@{hub.commits['Viglong/Orient-Anything']}"


def test_paste_back_keeps_the_product_whatever_the_models_do(weights):
    ex = InProcessExecutor(_settings(weights, background="flux-fill", upscaler="realesrgan"))
    events = list(run(Job(source=SAMPLE, options=RunOptions(size=160)), ex))
    out = events[-1].payload["output"]
    assert [e.backend for e in events if e.stage in ("compose", "upscale")] == [
        "flux-fill@tiny-random-1", "realesrgan@tiny-random-1"]
    assert out["fidelity"]["pixels"] > 500
    assert out["fidelity"]["delta_e_mean"] <= 0.5


def test_missing_weights_name_the_path_and_the_command(tmp_path):
    with pytest.raises(BackendUnavailable) as info:
        new_backend("upscaler", "realesrgan", Settings(weights_dir=tmp_path / "empty"))
    msg = info.value.message
    assert str(tmp_path / "empty" / "realesrgan") in msg and "bgflow models download realesrgan" in msg


def test_auto_segmenter_says_why_it_fell_back(tmp_path):
    seg = new_backend("segmenter", "auto", Settings(weights_dir=tmp_path / "empty"))
    norm = normalize(SAMPLE)
    matte = seg.segment(norm, coarse_foreground(norm), None)
    assert matte.backend == "classical (auto: sam2 weights missing)"


def test_bgflow_run_with_every_model_backend(weights, tmp_path):
    env = os.environ | {"BGFLOW_FLUX_STEPS": "2", "BGFLOW_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "events.cli", "run", str(SAMPLE), "--out", str(tmp_path / "out"),
                           "--background", "flux-fill", "--upscaler", "realesrgan", "--segmenter", "sam2",
                           "--orienter", "orient-anything", "--weights", str(weights), "--size", "128"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    m = json.loads((tmp_path / "out" / "box_white" / "manifest.json").read_text())
    backends = {s["name"]: s["backend"] for s in m["stages"]}
    assert backends["segment"] == "sam2@tiny-random-1"
    assert backends["compose"] == "flux-fill@tiny-random-1" and backends["upscale"] == "realesrgan@tiny-random-1"
    assert "orient-anything@tiny-random-1" in backends["analyze"]
    assert m["orientation"]["azimuth_deg"] is not None
    assert m["settings"]["background"] == "flux-fill" and m["settings"]["weights_dir"] == str(weights)


def test_gpu_classes_run_with_local_and_tiny_models(weights, monkeypatch):
    pytest.importorskip("modal")
    from functions import gpu
    from pipeline import wire
    from pipeline.segment import refine

    monkeypatch.setattr(gpu, "WEIGHTS_DIR", str(weights))
    monkeypatch.setattr(gpu, "GPU_DEVICE", "cpu")  # no GPU here: the models run in fp32 on the CPU
    monkeypatch.setenv("BGFLOW_FLUX_STEPS", "2")
    norm = normalize(SAMPLE)
    coarse = coarse_foreground(norm)
    matte = refine(norm, coarse)
    from pipeline.remote import portable_settings

    carried = portable_settings(Settings(segmenter="sam2", orienter="orient-anything", flux_steps=2))
    out = gpu.Segmenter().segment.local({"settings": carried, "normalized": wire.normalized_to_wire(norm),
                                         "coarse": wire.coarse_to_wire(coarse),
                                         "analysis": {"objects": [], "objects_white": [], "background_suggestion": "",
                                                      "prompt": "", "style": "sweep", "category": "", "palette": [],
                                                      "bbox": list(matte.bbox), "white_fraction": 0.0, "overlays": [],
                                                      "describer": "heuristic", "confidence": 0.5, "extra": {}}})
    assert wire.matte_from_wire(out["matte"]).backend == "sam2@tiny-random-1"
    orient = gpu.Orienter().orient.local({"settings": carried, "normalized": wire.normalized_to_wire(norm),
                                          "coarse": wire.coarse_to_wire(coarse)})
    assert orient["orientation"]["backend"] == "orient-anything@tiny-random-1"


@pytest.mark.gpu
def test_real_weights_on_a_gpu():
    """Real models on a real GPU: run with `pytest -m gpu` where weights and CUDA are present."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    settings = Settings(background="flux-fill", upscaler="realesrgan", device="cuda")
    ex = InProcessExecutor(settings)
    events = list(run(Job(source=SAMPLE, options=RunOptions(size=1024)), ex))
    assert events[-1].payload["output"]["fidelity"]["delta_e_mean"] <= 0.5
