"""Segmenter backend ``sam2``: transformers' SAM 2 prompted with the box and points of the classical pass; its edge
band is then refined by the same closed-form matting as the classical backend.

Preprocessing is done here (square resize, ImageNet normalisation, prompts scaled alike): transformers' SAM 2 image
processor needs torchvision, which cannot be installed beside the CPU torch build.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import torch

from .. import models
from ..segment import Coarse, refine
from ..settings import Settings
from ..types import Analysis, Matte, Normalized
from . import register
from .torch_support import load_device, run_dtype

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def prompts_from_mask(mask: np.ndarray, positives: int = 3, negatives: int = 2, holes: np.ndarray | None = None,
                      hole_points: int = 2):
    """Box (x0, y0, x1, y1), positive points deep inside the mask, negative points far outside it and, when the
    classical pass found holes (the backdrop seen through a frame or a mesh), in the widest of them: SAM then opens
    them too (pixels of mask)."""
    ys, xs = np.nonzero(mask)
    box = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    outside = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)
    prompts = [(inside, 1, positives), (outside, 0, negatives)]
    if holes is not None and holes.any():
        prompts.append((cv2.distanceTransform(holes.astype(np.uint8), cv2.DIST_L2, 5), 0, hole_points))
    points, labels = [], []
    for dist, label, count in prompts:
        d = dist.copy()
        for _ in range(count):
            y, x = np.unravel_index(int(np.argmax(d)), d.shape)
            if d[y, x] <= 0:
                break
            points.append([float(x), float(y)])
            labels.append(label)
            r = max(4, int(d[y, x]))
            cv2.circle(d, (int(x), int(y)), r, 0, -1)  # the next point lies elsewhere
    return box, points, labels


class Sam2Segmenter:
    name = "sam2"

    def __init__(self, settings: Settings):
        from transformers import Sam2Model

        folder = models.require(settings, "sam2")
        self.revision = models.revision_of(settings, "sam2")
        self.dtype = run_dtype(settings, torch.bfloat16)
        self.model = Sam2Model.from_pretrained(str(folder), dtype=self.dtype).eval()
        self.side = int(self.model.config.vision_config.backbone_config.image_size)
        self.to(load_device(settings))

    def to(self, device: str) -> "Sam2Segmenter":
        self.device = torch.device(device)
        self.model = self.model.to(self.device)
        return self

    @torch.inference_mode()
    def mask(self, image: np.ndarray, prior: np.ndarray, holes: np.ndarray | None = None) -> np.ndarray:
        """Bool mask at the size of ``image`` (RGB uint8), prompted from ``prior`` and its ``holes`` (bool, same
        size)."""
        h, w = image.shape[:2]
        box, points, labels = prompts_from_mask(prior, holes=holes)
        x = cv2.resize(image, (self.side, self.side), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        x = (x - MEAN) / STD
        pixels = torch.from_numpy(x.transpose(2, 0, 1)[None].copy()).to(self.device, self.dtype)
        sx, sy = self.side / w, self.side / h
        kwargs = {"input_boxes": torch.tensor([[[box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy]]],
                                              dtype=self.dtype, device=self.device)}
        if points:
            kwargs["input_points"] = torch.tensor([[[[p[0] * sx, p[1] * sy] for p in points]]], dtype=self.dtype,
                                                  device=self.device)
            kwargs["input_labels"] = torch.tensor([[labels]], device=self.device)
        out = self.model(pixel_values=pixels, multimask_output=False, **kwargs)
        logits = out.pred_masks[0, 0, 0].float().cpu().numpy()
        return cv2.resize(logits, (w, h), interpolation=cv2.INTER_LINEAR) > 0.0

    def segment(self, norm: Normalized, coarse: Coarse, analysis: Analysis) -> Matte:
        mask = self.mask(coarse.image, coarse.mask, coarse.holes)
        if coarse.model is not None:  # on a studio backdrop the holes the backdrop model found are backdrop
            mask &= ~coarse.holes
        if mask.sum() < 16:  # nothing found: keep the classical answer rather than an empty product
            mask = coarse.mask
        matte = refine(norm, replace(coarse, mask=mask))
        return replace(matte, backend=f"sam2@{self.revision}")


class AutoSegmenter:
    """``auto``: SAM 2 for scene photos when its weights are present, the classical pass otherwise (said so)."""

    def __init__(self, settings: Settings):
        self.sam = Sam2Segmenter(settings) if models.is_ready(settings, "sam2") else None
        self.reason = None if self.sam else "sam2 weights missing"
        self.name = "auto"

    def to(self, device: str) -> "AutoSegmenter":
        if self.sam:
            self.sam.to(device)
        return self

    def segment(self, norm: Normalized, coarse: Coarse, analysis: Analysis) -> Matte:
        if norm.background.kind == "scene" and self.sam is not None:
            return self.sam.segment(norm, coarse, analysis)
        matte = refine(norm, coarse)
        why = self.reason or "studio backdrop"
        return replace(matte, backend=f"classical (auto: {why})")


register("segmenter", "sam2")(lambda s: Sam2Segmenter(s))
register("segmenter", "auto")(lambda s: AutoSegmenter(s))
