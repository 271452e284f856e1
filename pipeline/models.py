"""The model weights bgflow knows: where each lives in the weights folder, the pinned source, and whether it is there.

The weights folder is a Modal Volume in production (``/weights``) and any local folder elsewhere
(``BGFLOW_WEIGHTS_DIR``). ``bgflow models download`` fills it from the Hugging Face Hub at pinned revisions;
``bgflow models check`` says what is ready. A backend whose weights are missing fails with :func:`missing`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
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
    fetch: Callable[["ModelSpec", str, Path, Settings], None] | None = None  # instead of a snapshot of the repo
    note: str = ""


ORIENT_ANYTHING_CHECKPOINT = "croplargeEX2/dino_weight.pt"
ORIENT_ANYTHING_BACKBONE = "facebook/dinov2-large"


def _fetch_orient_anything(spec: "ModelSpec", commit: str, target: Path, settings: Settings) -> None:
    """The published checkpoint plus the backbone's config, converted to the layout the backend loads."""
    from huggingface_hub import hf_hub_download

    from .backends.orient_anything import convert_checkpoint

    checkpoint = hf_hub_download(spec.repo_id, ORIENT_ANYTHING_CHECKPOINT, revision=commit)
    config = hf_hub_download(ORIENT_ANYTHING_BACKBONE, "config.json",
                             revision=settings.model_revisions.get("orient-anything-backbone", "main"))
    convert_checkpoint(Path(checkpoint), Path(config), target)


MODELS: dict[str, ModelSpec] = {
    "flux-fill": ModelSpec("flux-fill", "background", "black-forest-labs/FLUX.1-Fill-dev", ("model_index.json",),
                           note="gated: accept the licence on the Hub and set HF_TOKEN"),
    "realesrgan": ModelSpec("realesrgan", "upscaler", "ai-forever/Real-ESRGAN", ("RealESRGAN_x4.pth",),
                            allow_patterns=("RealESRGAN_x4.pth",)),
    "sam2": ModelSpec("sam2", "segmenter", "facebook/sam2.1-hiera-large", ("config.json",)),
    "orient-anything": ModelSpec("orient-anything", "orienter", "Viglong/Orient-Anything",
                                 ("backbone/config.json", "head.safetensors"), fetch=_fetch_orient_anything,
                                 note=f"{ORIENT_ANYTHING_CHECKPOINT} converted to backbone/ + head.safetensors"),
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


def pinned(settings: Settings, name: str) -> str | None:
    """The commit ``BGFLOW_MODEL_REVISIONS`` pins for ``name``, or None when it names a branch or nothing."""
    revision = settings.model_revisions.get(name, "")
    return revision if re.fullmatch(r"[0-9a-f]{40}", revision) else None


def check(settings: Settings) -> list[dict[str, str | bool]]:
    rows = []
    for name, spec in MODELS.items():
        ready = is_ready(settings, name)
        pin = pinned(settings, name)
        rows.append({"name": name, "family": spec.family, "ready": ready, "path": str(weights_path(settings, name)),
                     "revision": revision_of(settings, name) if ready else "",
                     "pinned": pin or f"no: downloads take '{settings.model_revisions.get(name, 'main')}'",
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
        revision = settings.model_revisions.get(name, "main")
        commit = HfApi().model_info(spec.repo_id, revision=revision).sha
        target = weights_path(settings, name)
        if spec.fetch:
            spec.fetch(spec, commit, target, settings)
        else:
            snapshot_download(repo_id=spec.repo_id, revision=commit, local_dir=target,
                              allow_patterns=list(spec.allow_patterns) if spec.allow_patterns else None)
        (target / REVISION_FILE).write_text(commit + "\n")
        done.append((name, commit))
    return done
