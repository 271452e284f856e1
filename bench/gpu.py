"""Time each model stage at 1024x1024 on a GPU: warm-up, then medians of repeated runs and peak GPU memory.

    python bench/gpu.py [--weights DIR] [--runs 5]

Needs a CUDA GPU and real weights (``bgflow models download``); without a GPU it says so and exits. Writes
bench/results/gpu.json and gpu.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--image", type=Path, default=None)
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("bench/gpu.py needs torch (pip install 'bgflow[ml]') and a CUDA GPU; nothing was measured.")
        return 2
    if not torch.cuda.is_available():
        print("No CUDA GPU is present on this machine: bench/gpu.py measures model stages on a GPU only. "
              "Run it on a GPU machine (for example a Modal GPU container); nothing was measured.")
        return 2

    from bench.common import ROOT, machine, markdown_table, write_json
    from pipeline.backends import new_backend
    from pipeline.normalize import normalize
    from pipeline.segment import coarse_foreground, refine
    from pipeline.settings import Settings
    from pipeline import analyze

    settings = Settings(**({"weights_dir": args.weights} if args.weights else {}), device="cuda")
    norm = normalize(args.image or ROOT / "samples" / "box_white.jpg")
    coarse = coarse_foreground(norm)
    analysis, orientation = analyze.describe(norm, coarse), analyze.orient(coarse)
    matte = refine(norm, coarse)
    stages = {
        "flux-fill compose (1024)": (lambda b: b.compose(norm, matte, analysis, orientation, preset="marketplace",
                                                         style="sweep", size=1024, seed=0), ("background", "flux-fill")),
        "realesrgan x4 (1024 -> 4096)": (None, ("upscaler", "realesrgan")),
        "sam2 segment": (lambda b: b.segment(norm, coarse, analysis), ("segmenter", "sam2")),
        "orient-anything": (lambda b: b.orient(norm, coarse), ("orienter", "orient-anything")),
    }
    import numpy as np

    square = np.full((1024, 1024, 3), 200, np.uint8)
    rows, results = [], {}
    for label, (fn, (family, name)) in stages.items():
        backend = new_backend(family, name, settings)
        call = fn if fn else (lambda b: b.upscale4(square))
        call(backend)  # warm-up: kernels, caches, compile
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            call(backend)
            torch.cuda.synchronize()
            times.append((time.perf_counter() - t0) * 1000)
        peak = torch.cuda.max_memory_allocated() / 2**30
        results[label] = {"median_ms": round(statistics.median(times), 1), "runs": args.runs,
                          "peak_gpu_gib": round(peak, 2)}
        rows.append([label, results[label]["median_ms"], round(peak, 2)])
        del backend
        torch.cuda.empty_cache()
    write_json("gpu", {"gpu": torch.cuda.get_device_name(0), "machine": machine(), "stages": results})
    text = f"# GPU stages on {torch.cuda.get_device_name(0)}\n\n" + markdown_table(
        ["stage", "median ms", "peak GPU GiB"], rows)
    (ROOT / "bench" / "results" / "gpu.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
