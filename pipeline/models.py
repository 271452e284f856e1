"""The model weights bgflow knows: where each lives in the weights folder, the pinned source, and whether it is there.

The weights folder is a Modal Volume in production (``/weights``) and any local folder elsewhere
(``BGFLOW_WEIGHTS_DIR``). ``bgflow models download`` fills it from the Hugging Face Hub at pinned revisions;
``bgflow models check`` says what is ready. A backend whose weights are missing fails with :func:`missing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import BackendUnavailable
from .settings import Settings


@dataclass(frozen=True)
class ModelSpec:
    name: str  # folder under the weights dir, and the backend name
    family: str
    repo_id: str
    needs: tuple[str, ...]  # files whose presence means the weights are ready
    allow_patterns: tuple[str, ...] | None = None
    convert: bool = True  # False: the published checkpoint needs a conversion bgflow does not automate yet
    note: str = ""


MODELS: dict[str, ModelSpec] = {
    "flux-fill": ModelSpec("flux-fill", "background", "black-forest-labs/FLUX.1-Fill-dev", ("model_index.json",),
                           note="gated: accept the licence on the Hub and set HF_TOKEN"),
    "realesrgan": ModelSpec("realesrgan", "upscaler", "ai-forever/Real-ESRGAN", ("RealESRGAN_x4.pth",),
                            allow_patterns=("RealESRGAN_x4.pth",)),
    "sam2": ModelSpec("sam2", "segmenter", "facebook/sam2.1-hiera-large", ("config.json",)),
    "orient-anything": ModelSpec("orient-anything", "orienter", "Viglong/Orient-Anything",
                                 ("backbone/config.json", "head.safetensors"), convert=False,
                                 note="the original checkpoint must be converted to backbone/ + head.safetensors"),
}
REVISION_FILE = ".revision"


def revision_of(settings: Settings, name: str) -> str:
    """The commit the weights came from, as recorded by download (or 'unrecorded')."""
    path = weights_path(settings, name) / REVISION_FILE
    return path.read_text().strip() if path.is_file() else "unrecorded"


def weights_path(settings: Settings, name: str) -> Path:
    return Path(settings.weights_dir) / name


def is_ready(settings: Settings, name: str) -> bool:
    folder = weights_path(settings, name)
    return all((folder / f).exists() for f in MODELS[name].needs)


def missing(settings: Settings, name: str) -> BackendUnavailable:
    spec = MODELS[name]
    return BackendUnavailable(
        f"The {spec.family} backend '{name}' needs its weights at {weights_path(settings, name)} (missing: "
        f"{', '.join(f for f in spec.needs if not (weights_path(settings, name) / f).exists())}). "
        f"Run `bgflow models download {name}` (on Modal: `modal run modal_app.py::download_models`)."
    )


def require(settings: Settings, name: str) -> Path:
    if not is_ready(settings, name):
        raise missing(settings, name)
    return weights_path(settings, name)


def check(settings: Settings) -> list[dict[str, str | bool]]:
    rows = []
    for name, spec in MODELS.items():
        ready = is_ready(settings, name)
        rows.append({"name": name, "family": spec.family, "ready": ready, "path": str(weights_path(settings, name)),
                     "why": "weights present" if ready else missing(settings, name).message})
    return rows


def download(settings: Settings, names: list[str] | None = None) -> list[tuple[str, str]]:
    """Fetch each model at the revision in ``BGFLOW_MODEL_REVISIONS`` (default ``main``) into the weights folder and
    record the commit it resolved to. Needs network, and HF_TOKEN for gated repositories."""
    from huggingface_hub import HfApi, snapshot_download

    done = []
    for name in names or list(MODELS):
        if name not in MODELS:
            raise BackendUnavailable(f"Unknown model '{name}'. Known models: {', '.join(MODELS)}.")
        spec = MODELS[name]
        if not spec.convert:
            raise BackendUnavailable(f"'{name}': {spec.note}; bgflow does not automate it yet.")
        revision = settings.model_revisions.get(name, "main")
        commit = HfApi().model_info(spec.repo_id, revision=revision).sha
        target = weights_path(settings, name)
        snapshot_download(repo_id=spec.repo_id, revision=commit, local_dir=target,
                          allow_patterns=list(spec.allow_patterns) if spec.allow_patterns else None)
        (target / REVISION_FILE).write_text(commit + "\n")
        done.append((name, commit))
    return done
