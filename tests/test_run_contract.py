import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from pipeline.synthetic import make_sample


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    src = tmp_path_factory.mktemp("in")
    for product, backdrop in [("box", "white"), ("bottle", "gradient")]:
        s = make_sample(product, backdrop, 4, size=(480, 384))
        Image.fromarray(s.image).save(src / f"{product}.jpg", quality=92)
    (src / "broken.jpg").write_bytes((src / "box.jpg").read_bytes()[:500])
    (src / "notes.png").write_bytes(b"just text")
    out = tmp_path_factory.mktemp("out")
    proc = subprocess.run([sys.executable, "-m", "events.cli", "run", str(src), "--out", str(out), "--size", "640"],
                          capture_output=True, text=True, timeout=300)
    return src, out, proc


def test_bad_inputs_fail_alone_and_the_exit_code_says_so(batch):
    _, out, proc = batch
    assert proc.returncode == 1, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    status = {row["name"]: row["status"] for row in summary["items"]}
    assert status == {"box": "ok", "bottle": "ok", "broken": "failed", "notes": "failed"}
    codes = {row["name"]: row["error"]["code"] for row in summary["items"] if row["error"]}
    assert codes == {"broken": "corrupt_image", "notes": "unsupported_format"}


def test_failed_input_is_kept(batch):
    src, out, _ = batch
    assert (out / "broken" / "input.jpg").read_bytes() == (src / "broken.jpg").read_bytes()


def test_run_contract_files_and_manifest(batch):
    _, out, _ = batch
    d = out / "box"
    for name in ("normalized.png", "mask.png", "final.png", "manifest.json"):
        assert (d / name).is_file(), name
    m = json.loads((d / "manifest.json").read_text())
    for key in ("status", "error", "background_kind", "white_background", "properties", "analysis", "orientation",
                "stages", "placement", "fidelity", "settings", "seed"):
        assert key in m, key
    assert m["status"] == "ok" and m["error"] is None
    assert m["background_kind"] == "white" and m["white_background"] is True
    assert [s["name"] for s in m["stages"]] == ["normalize", "analyze", "segment", "compose", "upscale"]
    assert all(s["ms"] > 0 and s["backend"] for s in m["stages"])
    norm = np.asarray(Image.open(d / "normalized.png"))
    mask = np.asarray(Image.open(d / "mask.png"))
    assert mask.shape == norm.shape[:2] and mask.dtype == np.uint8
    assert m["fidelity"]["delta_e_mean"] <= 1.5
    assert "openai_api_key" not in m["settings"]


def test_placement_maps_normalized_onto_final(batch):
    _, out, _ = batch
    d = out / "box"
    m = json.loads((d / "manifest.json").read_text())
    norm = np.asarray(Image.open(d / "normalized.png")).astype(int)
    final = np.asarray(Image.open(d / "final.png")).astype(int)
    mask = np.asarray(Image.open(d / "mask.png"))
    s, (ox, oy) = m["placement"]["scale"], m["placement"]["offset"]
    ys, xs = np.nonzero(mask == 255)
    pick = np.linspace(0, len(ys) - 1, 200).astype(int)
    errs = []
    for y, x in zip(ys[pick], xs[pick]):
        fy, fx = int(round((y + 0.5) * s + oy - 0.5)), int(round((x + 0.5) * s + ox - 0.5))
        errs.append(np.abs(final[fy, fx] - norm[y, x]).max())
    assert np.median(errs) <= 6


def test_parallel_workers_give_the_same_bytes(batch, tmp_path):
    """One process (--workers 1) writes byte-identical images to the batch's run on two worker processes (the
    default on this machine): outputs depend neither on the process nor on the time they were made in."""
    src, out, _ = batch
    again = tmp_path / "again"
    proc = subprocess.run([sys.executable, "-m", "events.cli", "run", str(src), "--out", str(again), "--size", "640",
                           "--workers", "1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    for name in ("box", "bottle"):
        for artefact in ("normalized.png", "mask.png", "final.png"):
            assert (again / name / artefact).read_bytes() == (out / name / artefact).read_bytes(), (name, artefact)


def test_a_worker_process_keeps_to_its_share_of_the_cores():
    """N workers on N cores: each worker's OpenCV, numba and BLAS pools (numpy's and scipy's OpenBLAS) run one thread,
    so no worker spins threads on the cores the others are using."""
    probe = ("import cv2, numba, threadpoolctl, scipy.linalg\n"
             "from events.batch import _limit_threads\n"
             "_limit_threads(1)\n"
             "pools = threadpoolctl.threadpool_info()\n"
             "assert pools, 'no BLAS pool found'\n"
             "print(cv2.getNumThreads(), numba.get_num_threads(), sorted({p['num_threads'] for p in pools}))\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "1", "[1]"]
