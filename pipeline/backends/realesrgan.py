"""Upscaler backend ``realesrgan``: a Real-ESRGAN x4 model (RRDBNet) over the background, tiled with overlap; the
product is then pasted back from the original at full quality, so the model never touches it.

RRDBNet is implemented here (the layout of ``RealESRGAN_x4plus`` / ``RealESRGAN_x4.pth``) instead of loading it with
spandrel: spandrel imports torchvision at import time, which cannot be installed beside the CPU torch build.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .. import models
from ..errors import BackendUnavailable
from ..settings import Settings
from ..types import Matte, Normalized, Result, Scene
from ..upscale import fidelity, paste_product, place_product
from . import register
from .torch_support import load_device, run_dtype


class ResidualDenseBlock(nn.Module):
    def __init__(self, nf: int, gc: int):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, gc, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf + gc, gc, 3, 1, 1)
        self.conv3 = nn.Conv2d(nf + 2 * gc, gc, 3, 1, 1)
        self.conv4 = nn.Conv2d(nf + 3 * gc, gc, 3, 1, 1)
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.act(self.conv1(x))
        x2 = self.act(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.act(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.act(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        return self.conv5(torch.cat((x, x1, x2, x3, x4), 1)) * 0.2 + x


class RRDB(nn.Module):
    def __init__(self, nf: int, gc: int):
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = ResidualDenseBlock(nf, gc), ResidualDenseBlock(nf, gc), ResidualDenseBlock(nf, gc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """x4 RRDBNet; ``num_feat``/``num_block``/``num_grow_ch`` are read from the state dict."""

    def __init__(self, num_feat: int = 64, num_block: int = 23, num_grow_ch: int = 32):
        super().__init__()
        self.conv_first = nn.Conv2d(3, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, 3, 3, 1, 1)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.act(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.act(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.act(self.conv_hr(feat)))

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> "RRDBNet":
        for wrapper in ("params_ema", "params"):
            if wrapper in state and isinstance(state[wrapper], dict):
                state = state[wrapper]
        if "conv_first.weight" not in state:
            raise BackendUnavailable("The upscaler weights are not a Real-ESRGAN x4 (RRDBNet) state dict.")
        blocks = {int(k.split(".")[1]) for k in state if k.startswith("body.")}
        net = cls(num_feat=state["conv_first.weight"].shape[0], num_block=len(blocks),
                  num_grow_ch=state["body.0.rdb1.conv1.weight"].shape[0])
        net.load_state_dict(state, strict=True)
        return net


def load_weights(path: Path) -> RRDBNet:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    return RRDBNet.from_state_dict(state).eval()


def weights_file(folder: Path) -> Path:
    for name in ("RealESRGAN_x4.pth", "RealESRGAN_x4plus.pth", "model.safetensors", "RealESRGAN_x4.safetensors"):
        if (folder / name).is_file():
            return folder / name
    raise BackendUnavailable(f"No Real-ESRGAN weights (.pth or .safetensors) in {folder}.")


class RealESRGANUpscaler:
    name = "realesrgan"

    def __init__(self, settings: Settings):
        self.settings = settings
        folder = models.require(settings, "realesrgan")
        self.revision = models.revision_of(settings, "realesrgan")
        self.dtype = run_dtype(settings)
        self.net = load_weights(weights_file(folder)).to(self.dtype)  # cast on the CPU, once, at load
        self.device = torch.device("cpu")
        self.to(load_device(settings))

    def to(self, device: str) -> "RealESRGANUpscaler":
        self.device = torch.device(device)
        self.net = self.net.to(self.device)
        return self

    @torch.inference_mode()
    def upscale4(self, rgb: np.ndarray) -> np.ndarray:
        """RGB uint8 HxWx3 -> 4H x 4W, tile by tile with overlap so large images fit in memory."""
        h, w = rgb.shape[:2]
        tile, pad = self.settings.upscale_tile, self.settings.upscale_tile_overlap
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].to(self.device, self.dtype) / 255.0
        out = torch.zeros((1, 3, h * 4, w * 4), dtype=self.dtype, device=self.device)
        for y0 in range(0, h, tile):
            for x0 in range(0, w, tile):
                y1, x1 = min(h, y0 + tile), min(w, x0 + tile)
                py0, px0, py1, px1 = max(0, y0 - pad), max(0, x0 - pad), min(h, y1 + pad), min(w, x1 + pad)
                res = self.net(x[:, :, py0:py1, px0:px1])
                oy, ox = (y0 - py0) * 4, (x0 - px0) * 4
                out[:, :, y0 * 4 : y1 * 4, x0 * 4 : x1 * 4] = res[:, :, oy : oy + (y1 - y0) * 4, ox : ox + (x1 - x0) * 4]
        arr = (out[0].float().clamp(0, 1) * 255.0 + 0.5).byte().permute(1, 2, 0).cpu().numpy()
        return np.ascontiguousarray(arr)

    def post_produce(self, norm: Normalized, matte: Matte, scene: Scene) -> Result:
        big = self.upscale4(scene.background)
        canvas = cv2.resize(big, scene.canvas_size, interpolation=cv2.INTER_AREA
                            if big.shape[1] >= scene.canvas_size[0] else cv2.INTER_LANCZOS4)
        placed = place_product(norm, matte, scene.placement, scene.canvas_size)
        final = paste_product(canvas, matte, scene.placement, placed)
        return Result(image=final, placement=scene.placement, fidelity=fidelity(placed, final),
                      backend=f"realesrgan@{self.revision}")


register("upscaler", "realesrgan")(lambda s: RealESRGANUpscaler(s))
