"""Orienter backend ``orient-anything``: a DINOv2 backbone (transformers) and the Orient-Anything angle head,
predicting azimuth, polar angle and in-plane rotation as distributions over degrees, and a confidence.

Weights layout in the weights folder: ``backbone/`` (a transformers Dinov2Model) and ``head.safetensors`` (the
head's state dict). :func:`convert_checkpoint` makes both from the published checkpoint
(``Viglong/Orient-Anything``, ``croplargeEX2/dino_weight.pt``: one state dict whose ``dinov2.*`` keys are a
transformers Dinov2Model and whose ``down_sampler.*`` keys are the head) and the backbone's ``config.json``
(``facebook/dinov2-large``); ``bgflow models download orient-anything`` runs it.
"""

from __future__ import annotations

from pathlib import Path

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
from .torch_support import load_device, run_dtype

AZIMUTH_BINS, POLAR_BINS, ROTATION_BINS, CONFIDENCE_LOGITS = 360, 180, 180, 2
OUTPUTS = AZIMUTH_BINS + POLAR_BINS + ROTATION_BINS + CONFIDENCE_LOGITS
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
PRODUCT_FILL = 0.85  # the product's share of the square the model was trained on
RESIZE_TO_CROP = 256 / 224  # the DINOv2 processor resizes the short side to 256, then centre-crops 224
BACKBONE_PREFIX, HEAD_PREFIX = "dinov2.", "down_sampler."


class AngleHead(nn.Module):
    """The Orient-Anything head on the backbone's CLS token: two linear layers with batch norm (state dict keys
    ``net1.0``, ``net1.1``, ``net2.0``, ``net2.1`` as published)."""

    def __init__(self, hidden: int, outputs: int = OUTPUTS):
        super().__init__()
        self.net1 = nn.Sequential(nn.Linear(hidden, outputs), nn.BatchNorm1d(outputs), nn.ReLU())
        self.net2 = nn.Sequential(nn.Linear(outputs, outputs), nn.BatchNorm1d(outputs))

    def forward(self, cls_token: torch.Tensor) -> torch.Tensor:
        return self.net2(self.net1(cls_token))


def model_input(image: np.ndarray, alpha: np.ndarray, crop: int) -> np.ndarray:
    """The cut-out product on black, centred in a square at ``PRODUCT_FILL``, resized and centre-cropped the way the
    model was trained: RGB float32 CxHxW, normalised. ``image`` RGB uint8 HxWx3, ``alpha`` HxW bool or 0-1 float."""
    a = alpha.astype(np.float32)
    ys, xs = np.nonzero(a > 0)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    cut = image[y0:y1, x0:x1].astype(np.float32) * a[y0:y1, x0:x1, None]
    side = int(round(max(cut.shape[:2]) / PRODUCT_FILL))
    square = np.zeros((side, side, 3), np.float32)
    oy, ox = (side - cut.shape[0]) // 2, (side - cut.shape[1]) // 2
    square[oy : oy + cut.shape[0], ox : ox + cut.shape[1]] = cut
    resized = int(round(crop * RESIZE_TO_CROP))
    square = cv2.resize(square, (resized, resized), interpolation=cv2.INTER_AREA if side > resized else cv2.INTER_CUBIC)
    m = (resized - crop) // 2
    x = (np.clip(square[m : m + crop, m : m + crop], 0, 255) / 255.0 - MEAN) / STD
    return x.transpose(2, 0, 1).copy()


def decode(logits: torch.Tensor) -> tuple[float, float, float, float]:
    """Azimuth 0-359, polar -90-89, rotation -90-89 degrees and confidence 0-1 from the head's 722 outputs."""
    az, po, ro, conf = torch.split(logits.float(), [AZIMUTH_BINS, POLAR_BINS, ROTATION_BINS, CONFIDENCE_LOGITS])
    return (float(torch.argmax(az)), float(torch.argmax(po)) - 90.0, float(torch.argmax(ro)) - 90.0,
            float(torch.softmax(conf, dim=0)[0]))


def convert_checkpoint(checkpoint: Path, backbone_config: Path, target: Path) -> None:
    """Split the published checkpoint into ``target/backbone`` (save_pretrained) and ``target/head.safetensors``,
    loading both strictly first so a checkpoint of another layout fails here, not at the first photo."""
    from safetensors.torch import save_file
    from transformers import Dinov2Config, Dinov2Model

    state = torch.load(str(checkpoint), map_location="cpu", weights_only=True)
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    backbone_sd = {k[len(BACKBONE_PREFIX):]: v for k, v in state.items() if k.startswith(BACKBONE_PREFIX)}
    head_sd = {k[len(HEAD_PREFIX):]: v for k, v in state.items() if k.startswith(HEAD_PREFIX)}
    other = sorted(k for k in state if not k.startswith((BACKBONE_PREFIX, HEAD_PREFIX)))
    if not backbone_sd or not head_sd or other:
        raise ValueError(f"{checkpoint} is not an Orient-Anything checkpoint: expected only '{BACKBONE_PREFIX}*' and "
                         f"'{HEAD_PREFIX}*' keys (unexpected: {other[:5]}).")
    config = Dinov2Config.from_json_file(str(backbone_config))
    backbone = Dinov2Model(config).eval()
    backbone.load_state_dict(backbone_sd, strict=True)
    head = AngleHead(config.hidden_size, head_sd["net2.0.weight"].shape[0])
    head.load_state_dict(head_sd, strict=True)
    backbone.save_pretrained(str(target / "backbone"), safe_serialization=True)
    save_file({k: v.contiguous() for k, v in head_sd.items()}, str(target / "head.safetensors"))


class OrientAnything:
    name = "orient-anything"

    def __init__(self, settings: Settings):
        from safetensors.torch import load_file
        from transformers import Dinov2Model

        folder = models.require(settings, "orient-anything")
        self.revision = models.revision_of(settings, "orient-anything")
        self.dtype = run_dtype(settings)
        self.backbone = Dinov2Model.from_pretrained(str(folder / "backbone"), dtype=self.dtype).eval()
        head_sd = load_file(str(folder / "head.safetensors"))
        self.head = AngleHead(self.backbone.config.hidden_size, head_sd["net2.0.weight"].shape[0]).eval()
        self.head.load_state_dict(head_sd, strict=True)
        self.head = self.head.to(self.dtype)  # cast on the CPU, once, at load
        self.crop = min(224, int(self.backbone.config.image_size))
        self.to(load_device(settings))

    def to(self, device: str) -> "OrientAnything":
        self.device = torch.device(device)
        self.backbone = self.backbone.to(self.device)
        self.head = self.head.to(self.device)
        return self

    @torch.inference_mode()
    def angles(self, image: np.ndarray, alpha: np.ndarray) -> tuple[float, float, float, float]:
        pixels = torch.from_numpy(model_input(image, alpha, self.crop)[None]).to(self.device, self.dtype)
        cls_token = self.backbone(pixel_values=pixels).last_hidden_state[:, 0]
        return decode(self.head(cls_token)[0])

    def orient(self, norm: Normalized, coarse: Coarse) -> Orientation:
        geo = geometric_orient(coarse)
        azimuth, polar, rotation, confidence = self.angles(coarse.image, coarse.mask)
        facing = "front" if azimuth <= 30 or azimuth >= 330 else ("left" if azimuth < 180 else "right")
        return Orientation(principal_angle_deg=geo.principal_angle_deg, symmetry=geo.symmetry, ground_y=geo.ground_y,
                           facing=facing, azimuth_deg=azimuth, polar_deg=polar, rotation_deg=rotation,
                           confidence=round(confidence, 4), backend=f"orient-anything@{self.revision}")


register("orienter", "orient-anything")(lambda s: OrientAnything(s))
