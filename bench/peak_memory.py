"""Peak memory of one photo just under the pixel cap, through the whole pipeline, and where the peak happens.

Each photo runs in a fresh subprocess (``--child``): a thread samples VmRSS every 2 ms and the peak is attributed to
the stage running at that moment (normalize is split into reading, decoding and the rest by timing hooks); the
process's own high-water mark (VmHWM, ``bench.common.peak_rss_mb``) is the figure of record. Writes bench/results/peak_memory.json and .md.

    python bench/peak_memory.py                 # 59 MP JPEG and PNG at the default cap (60 MP)
    python bench/peak_memory.py --mp 59 --formats jpg
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import peak_rss_mb  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LIMIT_MB = 900
BETWEEN = "between stages (runner, artefact writes)"


def make_photo(path: Path, megapixels: float, fmt: str) -> tuple[int, int]:
    """A product on a white sweep at 4:3, upscaled from a generated sample; the JPEG gets a little sensor noise (a
    noisy PNG would pass the 40 MB input limit)."""
    import cv2
    import numpy as np

    from pipeline.synthetic import make_sample

    w = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    h = int(megapixels * 1e6 / w)
    small = make_sample("bottle", "white", 3, size=(1200, 900)).image
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(0)
    for y in range(0, h if fmt == "jpg" else 0, 1024):  # in bands: the noise for the whole photo would double this script's own memory
        band = big[y:y + 1024]
        band[:] = np.clip(band.astype(np.int16) + rng.integers(-3, 4, band.shape, dtype=np.int16), 0, 255)
    ok, data = cv2.imencode({"jpg": ".jpg", "png": ".png"}[fmt], big[:, :, ::-1],
                            [cv2.IMWRITE_JPEG_QUALITY, 92] if fmt == "jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 3])
    assert ok
    path.write_bytes(data.tobytes())
    return w, h


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def child(path: Path, out: Path) -> dict:
    """Run the photo through contract.process, sampling RSS per stage."""
    from pipeline import normalize as norm_module
    from pipeline.contract import process
    from pipeline.runner import InProcessExecutor, Job, RunOptions
    from pipeline.storage import LocalStorage

    current = {"stage": BETWEEN}
    peaks: dict[str, float] = {}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            rss = _rss_mb()
            stage = current["stage"]
            peaks[stage] = max(peaks.get(stage, 0.0), rss)
            time.sleep(0.002)

    def hook(name: str, fn):
        def wrapped(*args, **kwargs):
            before = current["stage"]
            current["stage"] = name
            try:
                return fn(*args, **kwargs)
            finally:
                current["stage"] = before
        return wrapped

    executor = InProcessExecutor()
    norm_module.decode = hook("normalize: decode", norm_module.decode)
    norm_module.classify_background = hook("normalize: classify", norm_module.classify_background)
    for stage in ("normalize", "analyze", "segment", "compose", "upscale", "keep"):
        setattr(executor, stage, hook(stage, getattr(executor, stage)))
    baseline = _rss_mb()
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    manifest = process(Job(source=path, name="photo", options=RunOptions()), LocalStorage(out), executor)
    seconds = time.perf_counter() - t0
    stop.set()
    thread.join()
    return {"status": manifest["status"], "error": manifest["error"], "seconds": round(seconds, 2),
            "baseline_rss_mb": round(baseline, 1),
            "peak_rss_mb": peak_rss_mb(),
            "stage_peak_rss_mb": {k: round(v, 1) for k, v in peaks.items()},
            "normalized_size": (manifest.get("properties") or {}).get("size"),
            "original_size": (manifest.get("properties") or {}).get("original_size")}


def measure(megapixels: float, fmt: str, workdir: Path) -> dict:
    photo = workdir / f"photo-{megapixels:g}mp.{fmt}"
    w, h = make_photo(photo, megapixels, fmt)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, __file__, "--child", str(photo), str(workdir / f"out-{fmt}")],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"format": fmt, "megapixels": round(w * h / 1e6, 2), "size": [w, h], "file_mb": round(photo.stat().st_size / 1e6, 1),
            **result, "within_limit": result["peak_rss_mb"] <= LIMIT_MB}


def write(rows: list[dict]) -> None:
    """Rows replace earlier rows of the same label and format; others (e.g. a 'before' run) are kept."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "peak_memory.json"
    if path.is_file():
        new = {(r["label"], r["format"]) for r in rows}
        rows = [r for r in json.loads(path.read_text())["rows"] if (r.get("label"), r["format"]) not in new] + rows
    path.write_text(json.dumps({"limit_mb": LIMIT_MB, "rows": rows}, indent=2) + "\n")
    order = ["normalize", "normalize: decode", "normalize: classify", "analyze", "segment", "compose", "upscale",
             "keep", BETWEEN]
    stages = [s for s in order if any(s in r["stage_peak_rss_mb"] for r in rows)]
    lines = ["# Peak memory of one photo at the pixel cap", "",
             f"Whole pipeline (`contract.process`, default options) in a fresh process; limit {LIMIT_MB} MB peak RSS. "
             "Per-stage columns: the highest RSS sampled while that stage ran.", "",
             "| code | photo | file MB | status | s | peak RSS MB | within | " + " | ".join(stages) + " |",
             "|---|---|---|---|---|---|---|" + "---|" * len(stages)]
    for r in rows:
        lines.append(f"| {r.get('label', '')} | {r['megapixels']} MP {r['format']} ({r['size'][0]}x{r['size'][1]}) | {r['file_mb']} | "
                     f"{r['status']} | {r['seconds']} | {r['peak_rss_mb']} | {'yes' if r['within_limit'] else 'NO'} | "
                     + " | ".join(str(r['stage_peak_rss_mb'].get(s, '')) for s in stages) + " |")
    (RESULTS / "peak_memory.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mp", type=float, default=59.0, help="megapixels of the test photo (the cap is 60)")
    parser.add_argument("--formats", default="jpg,png")
    parser.add_argument("--label", default="current", help="names this run's rows (e.g. 'before')")
    parser.add_argument("--child", nargs=2, metavar=("PHOTO", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child[0]), Path(args.child[1]))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        rows = [{"label": args.label} | measure(args.mp, fmt, Path(tmp)) for fmt in args.formats.split(",")]
    write(rows)


if __name__ == "__main__":
    main()
