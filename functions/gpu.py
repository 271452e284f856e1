"""GPU classes, one per model: weights load once per container in ``@modal.enter``, from the weights Volume, in the
dtype they run in on the GPU (Flux Fill and SAM 2 bf16, Real-ESRGAN and DINOv2 fp16): into CPU memory under the
memory snapshot, then moved (not cast) onto the GPU. Each method decodes wire data, runs the stage, encodes."""

from __future__ import annotations

from typing import Any

import modal

from . import blobs
from .infra import RUNS_DIR, WEIGHTS_DIR, app, gpu_image, runs, secrets, weights

with gpu_image.imports():
    from pipeline.models import download
    from pipeline.remote import handle, settings_from
    from pipeline.runner import InProcessExecutor
    from pipeline.settings import Settings

GPU_CLASS = dict(image=gpu_image, volumes={WEIGHTS_DIR: weights, RUNS_DIR: runs}, enable_memory_snapshot=True,
                 scaledown_window=300, retries=modal.Retries(max_retries=1, initial_delay=5.0))


GPU_DEVICE = "cuda"  # where the models run; the snapshot phase has no GPU, so they load onto the CPU first


def _executor(**backend: str) -> "InProcessExecutor":
    return InProcessExecutor(Settings(weights_dir=WEIGHTS_DIR, device=GPU_DEVICE, load_device="cpu", **backend))


class _Model:
    backend: dict[str, str] = {}

    @modal.enter(snap=True)
    def load(self) -> None:
        self.executor = _executor(**self.backend)

    @modal.enter(snap=False)
    def to_gpu(self) -> None:
        self.executor.to(GPU_DEVICE)

    def _run(self, stage: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The loaded model with the job's settings: its backend must be this class's; its per-job knobs (steps,
        guidance, tiles) apply to this call. Inputs arrive one at a time, so swapping them is safe."""
        settings = settings_from(payload["settings"], weights_dir=WEIGHTS_DIR, device=GPU_DEVICE, load_device="cpu")
        for family, name in self.backend.items():
            if getattr(settings, family) != name:
                raise ValueError(f"{type(self).__name__} serves {family}={name}, the job asked for "
                                 f"{getattr(settings, family)}")
            model = getattr(self.executor, family)
            if hasattr(model, "settings"):
                model.settings = settings
        return handle(stage, payload, self.executor, blobs.for_payload(payload))


# Flux Fill (12B transformer + T5-XXL) in bf16 needs ~35 GB: an 80 GB H100, one image at a time. The weights sit in
# CPU memory first (the snapshot phase has no GPU): 40 GiB is requested so that phase is never short of memory.
@app.cls(gpu="H100", timeout=900, memory=40 * 1024, **GPU_CLASS)
class Inpainter(_Model):
    backend = {"background": "flux-fill"}

    @modal.method()
    def compose(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._run("compose", payload)


# Real-ESRGAN x4 is small (17M parameters) and tiled: an L4 is plenty and cheaper.
@app.cls(gpu="L4", timeout=300, **GPU_CLASS)
class Upscaler(_Model):
    backend = {"upscaler": "realesrgan"}

    @modal.method()
    def upscale(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._run("upscale", payload)


@app.cls(gpu="L4", timeout=300, **GPU_CLASS)
class Segmenter(_Model):
    backend = {"segmenter": "sam2"}

    @modal.method()
    def segment(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._run("segment", payload)


@app.cls(gpu="L4", timeout=300, **GPU_CLASS)
class Orienter(_Model):
    backend = {"orienter": "orient-anything"}

    @modal.method()
    def orient(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._run("orient", payload)


@app.function(image=gpu_image, volumes={WEIGHTS_DIR: weights}, secrets=secrets, timeout=3600)
def download_models(names: str = "") -> list[tuple[str, str]]:
    """Fill the weights Volume: ``modal run modal_app.py::download_models [--names flux-fill,realesrgan]`` (all models
    when no names are given)."""
    wanted = [n.strip() for n in names.split(",") if n.strip()] or None
    done = download(Settings(weights_dir=WEIGHTS_DIR), wanted)
    weights.commit()
    return done


GPU_CLASSES = {"Inpainter": Inpainter, "Upscaler": Upscaler, "Segmenter": Segmenter, "Orienter": Orienter}
