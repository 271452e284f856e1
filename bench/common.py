"""Shared pieces of the benchmarks: datasets, the old service's method as the baseline, metrics, reports."""

from __future__ import annotations

import csv
import json
import platform
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT.parent / "shared" / "samples" / "seed"
RESULTS = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    label: str | None  # "white" | "plain" | "scene" (seed labels: white | scene)
    mask: Path | None
    category: str | None = None  # generated sets: the product drawn
    backdrop: str | None = None  # generated sets: the backdrop it stands on


def load_cases(folder: Path) -> list[Case]:
    """``folder/images`` + optional ``masks/`` + ``labels.csv`` (file, background), or a flat folder of images
    with ``labels.csv`` beside them (the seed set)."""
    images = folder / "images" if (folder / "images").is_dir() else folder
    labels: dict[str, dict[str, str]] = {}
    if (folder / "labels.csv").is_file():
        with open(folder / "labels.csv") as f:
            labels = {row["file"]: row for row in csv.DictReader(f)}
    cases = []
    for path in sorted(images.iterdir()):
        if path.suffix.lower() not in {".jpg", ".jpeg", ".png", ".webp"}:
            continue
        mask = folder / "masks" / f"{path.stem}.png"
        row = labels.get(path.name, {})
        cases.append(Case(path.stem, path, row.get("background"), mask if mask.is_file() else None,
                          row.get("product"), row.get("backdrop")))
    return cases


def default_folder() -> Path:
    return SEED if SEED.is_dir() else ROOT / "samples"


# --- the old service's classical method, kept here as the baseline ------------------------------------------------
def baseline_is_white(rgb: np.ndarray) -> bool:
    """10% border band, all channels > 250, at least 65% white."""
    h, w = rgb.shape[:2]
    by, bx = max(1, h // 10), max(1, w // 10)
    band = np.concatenate([rgb[:by].reshape(-1, 3), rgb[-by:].reshape(-1, 3),
                           rgb[:, :bx].reshape(-1, 3), rgb[:, -bx:].reshape(-1, 3)])
    return bool((band > 250).all(axis=1).mean() >= 0.65)


def baseline_mask(rgb: np.ndarray) -> np.ndarray:
    """GrabCut initialised with pixels > 240 as background, 5 iterations at full resolution."""
    mask = np.where((rgb > 240).all(axis=2), cv2.GC_BGD, cv2.GC_PR_FGD).astype(np.uint8)
    if not (mask == cv2.GC_PR_FGD).any() or not (mask == cv2.GC_BGD).any():
        return mask == cv2.GC_PR_FGD
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(np.ascontiguousarray(rgb[:, :, ::-1]), mask, None, bgd, fgd, 5, cv2.GC_INIT_WITH_MASK)
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)


# --- metrics ---------------------------------------------------------------------------------------------------
def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    union = (pred | gt).sum()
    return float((pred & gt).sum() / union) if union else 1.0


def boundary_f(pred: np.ndarray, gt: np.ndarray, tolerance: float = 0.0075) -> float:
    """Boundary F-score: boundary pixels matched within ``tolerance`` x the image diagonal."""
    k = np.ones((3, 3), np.uint8)
    bp = cv2.morphologyEx(pred.astype(np.uint8), cv2.MORPH_GRADIENT, k) > 0
    bg = cv2.morphologyEx(gt.astype(np.uint8), cv2.MORPH_GRADIENT, k) > 0
    if not bp.any() or not bg.any():
        return float(bp.any() == bg.any())
    d = tolerance * float(np.hypot(*pred.shape))
    dist_to_gt = cv2.distanceTransform((~bg).astype(np.uint8), cv2.DIST_L2, 3)
    dist_to_pred = cv2.distanceTransform((~bp).astype(np.uint8), cv2.DIST_L2, 3)
    precision = float((dist_to_gt[bp] <= d).mean())
    recall = float((dist_to_pred[bg] <= d).mean())
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def kind_matches(predicted: str, label: str | None) -> bool | None:
    """Seed labels say white or scene; generated labels say white or plain. A plain backdrop is not a scene."""
    if label is None:
        return None
    if label == "scene":
        return predicted == "scene"
    return predicted == label


def summarize(values: list[float]) -> dict[str, float]:
    arr = np.asarray([v for v in values if v is not None and not np.isnan(v)], np.float64)
    if arr.size == 0:
        return {"n": 0}
    return {"n": int(arr.size), "mean": round(float(arr.mean()), 4), "median": round(float(np.median(arr)), 4),
            "p95": round(float(np.percentile(arr, 95)), 4), "min": round(float(arr.min()), 4),
            "max": round(float(arr.max()), 4)}


def peak_rss_mb() -> float:
    """This process's own peak resident memory in MB (Linux's VmHWM). Not ``ru_maxrss``: a process started by
    fork and exec keeps its parent's high-water mark in it, so a small child of a large parent reports the parent's."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def machine() -> dict[str, str]:
    import os

    return {"python": platform.python_version(), "machine": platform.machine(), "cpus": str(os.cpu_count()),
            "when": time.strftime("%Y-%m-%d %H:%M:%S")}


def write_json(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2))
    return path


def markdown_table(headers: list[str], rows: list[list]) -> str:
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
