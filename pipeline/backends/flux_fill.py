"""Background backend ``flux-fill``: diffusers' FluxFillPipeline paints everything around the placed product.

The product is placed on the canvas (the procedural studio scene is the starting context), the mask is everything
outside the product grown by a few pixels and feathered, and the prompt comes from the analysis (or an override).
The seam band is then colour-matched to its surroundings; post-production pastes the original product back over the
generated background, so Flux never changes the product (a known weakness: colour loss, invented details).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from PIL import Image

from .. import models
from ..compose import compose as procedural_compose
from ..placement import canvas_size, place
from ..settings import Settings
from ..types import Analysis, Matte, Normalized, Orientation, Placement, Scene
from ..upscale import place_product
from . import register
from .torch_support import load_device, run_dtype

COMPOSE_SIDE = 1024


def _multiple(v: float, m: int) -> int:
    return max(m, int(round(v / m)) * m)


class FluxFillBackground:
    name = "flux-fill"

    def __init__(self, settings: Settings):
        from diffusers import FluxFillPipeline
        from diffusers.image_processor import VaeImageProcessor

        self.settings = settings
        folder = models.require(settings, "flux-fill")
        self.revision = models.revision_of(settings, "flux-fill")
        self.dtype = run_dtype(settings, torch.bfloat16)  # the published weights are bf16; loaded as such
        self.pipe = FluxFillPipeline.from_pretrained(str(folder), dtype=self.dtype)
        # The pipeline's mask processor binarises at 0.5 (do_binarize=True): keep the feathered edge.
        self.pipe.mask_processor = VaeImageProcessor.from_config(self.pipe.mask_processor.config, do_binarize=False)
        self.pipe.set_progress_bar_config(disable=True)
        self.device = torch.device("cpu")
        self.to(load_device(settings))

    def to(self, device: str) -> "FluxFillBackground":
        """Move (never cast) the pipeline: its dtype was chosen for the device it runs on."""
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.settings.flux_cpu_offload:
            self.pipe.enable_model_cpu_offload()
        else:
            self.pipe.to(self.device)
        return self

    def _size_multiple(self) -> int:
        return 2 * self.pipe.vae_scale_factor * 2  # latent packing works on 2x2 patches of latents

    def compose(self, norm: Normalized, matte: Matte, analysis: Analysis, orientation: Orientation, *, preset: str,
                style: str, size: int, seed: int, prompt: str | None = None) -> Scene:
        base = procedural_compose(norm, matte, analysis, orientation, preset=preset, style=style, size=size, seed=seed)
        canvas = canvas_size(preset, size, norm.size)
        m = self._size_multiple()
        c = min(1.0, COMPOSE_SIDE / max(canvas))
        work = (_multiple(canvas[0] * c, m), _multiple(canvas[1] * c, m))
        sx = work[0] / canvas[0]
        placement = place(matte.bbox, preset, canvas)
        small = Placement(scale=placement.scale * sx, offset=(placement.offset[0] * sx, placement.offset[1] * sx))
        placed = place_product(norm, matte, small, work)
        boxes = placed.boxes()
        alpha = np.zeros((work[1], work[0]), np.float32)
        init = cv2.resize(base.background, work, interpolation=cv2.INTER_AREA)
        if boxes is not None:
            (cy, cx), (py, px) = boxes
            alpha[cy, cx] = np.clip(placed.alpha[py, px], 0, 1)
            a = alpha[cy, cx][:, :, None]
            init[cy, cx] = (placed.original[py, px] * a + init[cy, cx] * (1 - a)).astype(np.uint8)
        grow = max(3, round(0.006 * max(work)))
        keep = cv2.dilate((alpha > 0.05).astype(np.uint8), np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
        mask = cv2.GaussianBlur((1 - keep).astype(np.float32), (0, 0), grow / 2)
        text = prompt or analysis.prompt
        generator = torch.Generator(device="cpu").manual_seed(seed)
        out = self.pipe(prompt=text, image=Image.fromarray(init), mask_image=Image.fromarray((mask * 255).astype(np.uint8)),
                        height=work[1], width=work[0], num_inference_steps=self.settings.flux_steps,
                        guidance_scale=self.settings.flux_guidance, generator=generator, max_sequence_length=256
                        if self.device.type == "cuda" else 64).images[0]
        generated = match_seam(np.asarray(out.convert("RGB")), alpha, grow)
        return Scene(background=generated, canvas_size=canvas, placement=placement, style=style, preset=preset,
                     seed=seed, backend=f"flux-fill@{self.revision}",
                     info={"prompt": text, "steps": self.settings.flux_steps, "guidance": self.settings.flux_guidance,
                           "compose_size": list(work), "revision": self.revision})


def match_seam(generated: np.ndarray, alpha: np.ndarray, grow: int) -> np.ndarray:
    """Shift the colours of the band just outside the product towards the ring beyond it, fading with distance, so
    the generated edge meets the pasted product without a halo of altered colour."""
    product = (alpha > 0.05).astype(np.uint8)
    if not product.any():
        return generated
    dist = cv2.distanceTransform(1 - product, cv2.DIST_L2, 3)
    band = (dist > 0) & (dist <= 2 * grow)
    ring = (dist > 2 * grow) & (dist <= 4 * grow)
    if not band.any() or not ring.any():
        return generated
    img = generated.astype(np.float32)
    shift = img[ring].mean(axis=0) - img[band].mean(axis=0)
    weight = np.clip(1.0 - dist / (2 * grow), 0.0, 1.0)[:, :, None] * band[:, :, None]
    return np.clip(img + weight * shift + 0.5, 0, 255).astype(np.uint8)


register("background", "flux-fill")(lambda s: FluxFillBackground(s))
