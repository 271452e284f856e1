"""A smooth model of the studio backdrop, fitted on the image border, and the white / plain / scene decision.

The backdrop is modelled per Lab channel as a quadratic surface in (x, y): a flat colour, a gradient or a
vignetted sweep all fit it; a room does not. The old service's test (a 10% border band, all channels > 250, at
least 65% white) misses off-white sweeps and coloured backdrops; this model covers both.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .color import chroma, lab_to_rgb, rgb_to_lab
from .types import BackgroundInfo

CLASSIFY_SIDE = 256
BAND = 0.06  # share of each side in the border band
INLIER_DE = 6.0


@dataclass(frozen=True, eq=False)
class BackdropModel:
    coeffs: np.ndarray  # 6x3: quadratic terms for L, a, b in normalized coordinates
    noise: float  # robust spread of inlier residuals, dE

    def predict(self, height: int, width: int) -> np.ndarray:
        """Lab float32 HxWx3 of the backdrop at this size."""
        ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
        xs = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
        c = self.coeffs.astype(np.float32)
        out = np.empty((height, width, 3), np.float32)
        for ch in range(3):
            k = c[:, ch]
            out[:, :, ch] = k[0] + k[1] * xs + k[2] * ys + k[3] * xs * xs + k[4] * ys * ys + k[5] * xs * ys
        return out

    def mean_lab(self) -> np.ndarray:
        return self.predict(8, 8).reshape(-1, 3).mean(axis=0)


def _design(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(xs), xs, ys, xs * xs, ys * ys, xs * ys], axis=1)


def border_mask(height: int, width: int, band: float = BAND) -> np.ndarray:
    by, bx = max(2, round(height * band)), max(2, round(width * band))
    m = np.zeros((height, width), bool)
    m[:by], m[-by:], m[:, :bx], m[:, -bx:] = True, True, True, True
    return m


def fit_backdrop(lab: np.ndarray, sample: np.ndarray) -> tuple[BackdropModel, np.ndarray]:
    """Fit on the pixels where ``sample`` is True, robustly; returns the model and the residual dE (HxW)."""
    h, w = lab.shape[:2]
    yy, xx = np.nonzero(sample)
    if len(yy) > 20_000:  # six coefficients need far fewer points; an even subsample keeps the fit
        keep_every = len(yy) // 20_000 + 1
        yy, xx = yy[::keep_every], xx[::keep_every]
    xs, ys = xx / max(1, w - 1), yy / max(1, h - 1)
    values = lab[yy, xx].astype(np.float64)
    A = _design(xs, ys)
    # Start from the dominant colour, not a least-squares fit that a product touching the border would drag.
    med = np.median(values, axis=0)
    keep = np.sqrt(((values - med) ** 2).sum(axis=1)) < 12.0
    if keep.sum() < 12:
        keep = np.ones(len(values), bool)
    coeffs = np.zeros((6, 3))
    for _ in range(3):
        coeffs, *_ = np.linalg.lstsq(A[keep], values[keep], rcond=None)
        resid = np.sqrt(((A @ coeffs - values) ** 2).sum(axis=1))
        cut = max(INLIER_DE * 0.5, float(np.percentile(resid[keep], 90)) * 1.5)
        new_keep = resid < min(cut, INLIER_DE)
        if new_keep.sum() < 12:
            break
        keep = new_keep
    noise = float(np.median(resid[keep]) * 1.4826) if keep.any() else INLIER_DE
    model = BackdropModel(coeffs=coeffs, noise=max(noise, 0.3))
    d = lab - model.predict(h, w)
    residual = np.sqrt(d[..., 0] ** 2 + d[..., 1] ** 2 + d[..., 2] ** 2)
    return model, residual


def _small(rgb: np.ndarray, side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = min(1.0, side / max(h, w))
    if s >= 1.0:
        return rgb
    return cv2.resize(rgb, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)


def backdrop_features(rgb: np.ndarray) -> tuple[dict[str, float], BackdropModel]:
    small = _small(rgb, CLASSIFY_SIDE)
    lab = rgb_to_lab(small)
    h, w = lab.shape[:2]
    border = border_mask(h, w)
    model, residual = fit_backdrop(lab, border)
    inlier = (residual < INLIER_DE) & border
    by, bx = max(2, round(h * BAND)), max(2, round(w * BAND))
    sides = [inlier[:by].mean(), inlier[-by:].mean(), inlier[:, :bx].mean(), inlier[:, -bx:].mean()]
    top, bottom, left, right = sides
    lap = np.abs(cv2.Laplacian(lab[:, :, 0], cv2.CV_32F, ksize=3))
    texture = float(np.median(lap[inlier])) if inlier.any() else 99.0
    pred = model.predict(h, w)
    mean_lab = pred[border].mean(axis=0)
    feats = {
        "inlier_fraction": float(inlier.sum() / border.sum()),
        "side_top": float(top), "side_bottom": float(bottom), "side_left": float(left), "side_right": float(right),
        "third_side": float(sorted(sides)[1]),
        "texture": texture,
        "noise": model.noise,
        "lightness": float(mean_lab[0]),
        "chroma": float(chroma(mean_lab)),
        "lightness_range": float(np.ptp(pred[border][:, 0])),
        "lightness_peak": float(pred[:, :, 0].max()),  # the lit middle of a sweep, where the product stands
    }
    return feats, model


def _light_sweep(feats: dict[str, float]) -> bool:
    """An off-white studio sweep (about 235-250 grey) whose vignette darkens the border: lit to near white in the
    middle, no darker than light grey at the edges, and far more even than a gradient backdrop."""
    return feats["lightness_peak"] >= 91.0 and feats["lightness"] >= 84.0 and feats["lightness_range"] <= 14.0


def classify_background(rgb: np.ndarray, alpha: np.ndarray | None = None) -> BackgroundInfo:
    """white: a white or light neutral studio backdrop (off-white sweeps with a vignette included); plain: a tinted,
    pastel or graded backdrop; scene: a room or a street."""
    if alpha is not None and (alpha < 128).mean() > 0.05:
        # A cut-out with a transparent background: it was composited on white by decode().
        return BackgroundInfo(kind="white", color=(255, 255, 255), confidence=1.0, features={"alpha_cutout": 1.0})
    feats, model = backdrop_features(rgb)
    color = tuple(int(v) for v in lab_to_rgb(model.mean_lab()))
    # Studio backdrops fit the smooth model to within sensor/JPEG noise on at least three sides; rooms do not.
    backdrop = (
        feats["inlier_fraction"] >= 0.55
        and feats["third_side"] >= 0.5
        and feats["noise"] <= 1.8
        and feats["texture"] <= 2.5
    )
    if not backdrop:
        kind, conf = "scene", min(1.0, 1.0 - feats["inlier_fraction"] + 0.3)
    elif feats["chroma"] <= 8.0 and (feats["lightness"] >= 90.0 or _light_sweep(feats)):
        kind, conf = "white", min(1.0, feats["inlier_fraction"])
    else:
        kind, conf = "plain", min(1.0, feats["inlier_fraction"])
    return BackgroundInfo(kind=kind, color=color, confidence=round(float(conf), 3), features=feats)
