"""The GPU classes' enter sequence (modal's own: pre-snapshot, then post-snapshot) with tiny random models: each model
is loaded on the CPU in the dtype it runs in on the GPU and then moved, never cast; Flux Fill keeps the feathered
mask soft. No GPU here: the final move to cuda is recorded instead of made."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
modal = pytest.importorskip("modal")

from modal._utils.async_utils import synchronizer  # noqa: E402

from functions import gpu  # noqa: E402
from pipeline.runner import InProcessExecutor  # noqa: E402
from tests.tiny_models import all_tiny  # noqa: E402


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.set_num_threads(1)
    return all_tiny(tmp_path_factory.mktemp("weights"))


@pytest.fixture
def entered(weights, monkeypatch):
    """cls name -> (its user instance after the enter sequence, the devices it was moved to after the snapshot)."""
    monkeypatch.setattr(gpu, "WEIGHTS_DIR", str(weights))
    moves = []
    monkeypatch.setattr(InProcessExecutor, "to", lambda self, device: moves.append(device) or self)

    def enter(name):
        moves.clear()
        obj = synchronizer._translate_in(gpu.GPU_CLASSES[name]())
        obj._enter()
        return obj._cached_user_cls_instance(), list(moves)

    return enter


def _dtypes(module) -> set:
    return {p.dtype for p in module.parameters()} | {b.dtype for b in module.buffers() if b.is_floating_point()}


def _devices(module) -> set:
    return {p.device.type for p in module.parameters()}


def test_flux_fill_is_bf16_after_the_inpainter_enter_sequence(entered):
    inst, moves = entered("Inpainter")
    pipe = inst.executor.background.pipe
    assert moves == ["cuda"]
    for part in ("transformer", "text_encoder", "text_encoder_2", "vae"):
        module = getattr(pipe, part)
        assert _dtypes(module) == {torch.bfloat16}, part
        assert _devices(module) == {"cpu"}, part  # loaded on the CPU under the snapshot, moved after it
    assert inst.executor.background.dtype == torch.bfloat16


def test_flux_fill_keeps_the_feathered_mask_soft(entered):
    inst, _ = entered("Inpainter")
    processor = inst.executor.background.pipe.mask_processor
    assert processor.config.do_binarize is False and processor.config.do_convert_grayscale is True
    from PIL import Image

    ramp = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (64, 1))
    mask = processor.preprocess(Image.fromarray(ramp), height=64, width=64)
    values = mask.numpy().ravel()
    assert ((values > 0.05) & (values < 0.95)).mean() > 0.5  # a ramp stays a ramp


@pytest.mark.parametrize("name, attr, dtype", [
    ("Segmenter", "segmenter", torch.bfloat16),
    ("Upscaler", "upscaler", torch.float16),
    ("Orienter", "orienter", torch.float16),
])
def test_the_other_models_load_in_their_gpu_dtype(entered, name, attr, dtype):
    inst, moves = entered(name)
    backend = getattr(inst.executor, attr)
    modules = {"segmenter": ["model"], "upscaler": ["net"], "orienter": ["backbone", "head"]}[attr]
    assert moves == ["cuda"]
    for module_name in modules:
        module = getattr(backend, module_name)
        assert _dtypes(module) == {dtype}, (name, module_name)
        assert _devices(module) == {"cpu"}, (name, module_name)
    assert backend.dtype == dtype


def test_a_gpu_class_applies_the_jobs_knobs_and_refuses_another_backend(entered):
    from pipeline.remote import portable_settings
    from pipeline.settings import Settings

    inst, _ = entered("Upscaler")
    with pytest.raises(ValueError, match="serves upscaler=realesrgan"):
        inst._run("upscale", {"settings": portable_settings(Settings(upscaler="lanczos"))})
    with pytest.raises(KeyError):  # the knobs are applied, then the (empty) payload is decoded
        inst._run("upscale", {"settings": portable_settings(Settings(upscaler="realesrgan", upscale_tile=64))})
    assert inst.executor.upscaler.settings.upscale_tile == 64


def test_the_flux_compile_option_is_gone():
    from pipeline.settings import Settings

    assert "flux_compile" not in Settings.model_fields  # compiling inside the enter timeout was never warmed up


@pytest.mark.gpu
def test_the_enter_sequence_puts_bf16_flux_on_the_gpu(weights, monkeypatch):
    """On a CUDA machine: the real move, no recording (`pytest -m gpu`)."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    monkeypatch.setattr(gpu, "WEIGHTS_DIR", str(weights))
    obj = synchronizer._translate_in(gpu.Inpainter())
    obj._enter()
    pipe = obj._cached_user_cls_instance().executor.background.pipe
    assert _dtypes(pipe.transformer) == {torch.bfloat16} and _devices(pipe.transformer) == {"cuda"}
    assert Path(str(weights)).is_dir()
