"""Orienter backend ``orient-anything``: a DINOv2 backbone (transformers) and the Orient-Anything angle head,
predicting azimuth, polar angle and in-plane rotation as distributions over degrees, and a confidence.

Weights layout in the weights folder: ``backbone/`` (a transformers Dinov2Model) and ``head.safetensors``.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import nn

from .. import models
from ..analyze import orient as geometric_orient
from ..segment import Coarse
from ..settings import Settings
from ..types import Normalized, Orientation
from . import register
from .torch_support import half_on_gpu, pick_device

AZIMUTH_BINS, POLAR_BINS, ROTATION_BINS = 360, 180, 360
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


class AngleHead(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, AZIMUTH_BINS + POLAR_BINS + ROTATION_BINS + 2))

    def forward(self, cls_token: torch.Tensor) -> torch.Tensor:
        return self.mlp(cls_token)


def square_crop(image: np.ndarray, mask: np.ndarray, side: int) -> np.ndarray:
    """The product's box, padded to a square on white, at ``side`` pixels."""
    ys, xs = np.nonzero(mask)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    crop = image[y0:y1, x0:x1]
    n = max(crop.shape[:2])
    canvas = np.full((n, n, 3), 255, np.uint8)
    oy, ox = (n - crop.shape[0]) // 2, (n - crop.shape[1]) // 2
    canvas[oy : oy + crop.shape[0], ox : ox + crop.shape[1]] = crop
    return cv2.resize(canvas, (side, side), interpolation=cv2.INTER_AREA)


class OrientAnything:
    name = "orient-anything"

    def __init__(self, settings: Settings):
        from safetensors.torch import load_file
        from transformers import Dinov2Model

        folder = models.require(settings, "orient-anything")
        self.revision = models.revision_of(settings, "orient-anything")
        self.backbone = Dinov2Model.from_pretrained(str(folder / "backbone")).eval()
        self.head = AngleHead(self.backbone.config.hidden_size).eval()
        self.head.load_state_dict(load_file(str(folder / "head.safetensors")), strict=True)
        self.side = int(self.backbone.config.image_size)
        self.to(str(pick_device(settings)))

    def to(self, device: str) -> "OrientAnything":
        self.device = torch.device(device)
        self.dtype = half_on_gpu(self.device)
        self.backbone = self.backbone.to(self.device, self.dtype)
        self.head = self.head.to(self.device, self.dtype)
        return self

    @torch.inference_mode()
    def angles(self, image: np.ndarray, mask: np.ndarray) -> tuple[float, float, float, float]:
        x = (square_crop(image, mask, self.side).astype(np.float32) / 255.0 - MEAN) / STD
        pixels = torch.from_numpy(x.transpose(2, 0, 1)[None].copy()).to(self.device, self.dtype)
        logits = self.head(self.backbone(pixel_values=pixels).pooler_output)[0].float()
        az, po, ro, conf = torch.split(logits, [AZIMUTH_BINS, POLAR_BINS, ROTATION_BINS, 2])
        azimuth = float(torch.argmax(az))
        polar = float(torch.argmax(po)) - 90.0
        rotation = float(torch.argmax(ro)) - 180.0
        confidence = float(torch.softmax(conf, dim=0)[1])
        return azimuth, polar, rotation, confidence

    def orient(self, norm: Normalized, coarse: Coarse) -> Orientation:
        geo = geometric_orient(coarse)
        azimuth, polar, rotation, confidence = self.angles(coarse.image, coarse.mask)
        facing = "front" if azimuth <= 30 or azimuth >= 330 else ("left" if azimuth < 180 else "right")
        return Orientation(principal_angle_deg=geo.principal_angle_deg, symmetry=geo.symmetry, ground_y=geo.ground_y,
                           facing=facing, azimuth_deg=azimuth, polar_deg=polar, rotation_deg=rotation,
                           confidence=round(confidence, 4), backend=f"orient-anything@{self.revision}")


register("orienter", "orient-anything")(lambda s: OrientAnything(s))
