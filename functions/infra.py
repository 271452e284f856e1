"""The Modal App and what its containers are made of: images (versions pinned, in step with pyproject), the weights
Volume, the runs Volume and the secrets. No work at import time beyond declaring them."""

from __future__ import annotations

import os
from pathlib import Path

import modal

APP_NAME = "bgflow"
WEIGHTS_DIR = "/weights"
RUNS_DIR = "/runs"

# Pinned for the containers; tests check each pin satisfies pyproject's ranges.
CPU_PACKAGES = [
    "numpy==2.4.6", "opencv-python-headless==5.0.0.93", "pillow==13.0.0", "pymatting==1.1.16", "numba==0.68.1",
    "deflate==0.9.0", "pydantic==2.14.3", "pydantic-settings==2.16.3", "typer==0.29.2", "rich==15.0.0",
    "fastapi==0.165.0", "uvicorn==0.54.0", "python-multipart==0.0.34", "httpx==0.28.1",
    "openai==3.54.0", "boto3==1.44.5",
]
GPU_PACKAGES = [
    "torch==2.13.0", "diffusers==0.42.1", "transformers==5.23.0", "accelerate==1.15.0", "safetensors==0.8.0",
    "sentencepiece==0.2.3", "protobuf==7.36.2", "huggingface-hub==2.4.0",
]
# Installed without their dependencies (none at present; Real-ESRGAN is implemented in pipeline/backends).
GPU_NO_DEPS: list[str] = []  # pinned packages installed without their dependencies, if any are ever needed
PROJECT_PACKAGES = ("pipeline", "events", "functions")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def package_data() -> list[tuple[Path, str]]:
    """(local folder, container folder) for each package-data pattern in pyproject (the web app's static files):
    ``add_local_python_source`` ships ``.py`` files only. Empty inside a container, where the files already are."""
    pyproject = PROJECT_ROOT / "pyproject.toml"
    if not pyproject.is_file():
        return []
    try:
        import tomllib
    except ImportError:  # Python 3.10: the TOML reader pip vendors
        from pip._vendor import tomli as tomllib
    table = tomllib.loads(pyproject.read_text())["tool"]["setuptools"].get("package-data", {})
    folders = []
    for package, patterns in table.items():
        for pattern in patterns:
            folder, _, name = pattern.rpartition("/")
            if name != "*" or any(c in folder for c in "*?["):
                raise ValueError(f"package-data pattern {package}: {pattern!r}: only 'folder/*' is shipped to Modal")
            folders.append((PROJECT_ROOT / package / folder, f"/root/{package}/{folder}"))
    return folders


def with_project_code(image: modal.Image) -> modal.Image:
    """The project's packages and their data files, added last (modal mounts them at container start)."""
    image = image.add_local_python_source(*PROJECT_PACKAGES)
    for local, remote in package_data():
        image = image.add_local_dir(local, remote_path=remote)
    return image


app = modal.App(APP_NAME)

cpu_image = with_project_code(
    modal.Image.debian_slim(python_version="3.11")
    .pip_install(*CPU_PACKAGES)
    .env({"BGFLOW_WEIGHTS_DIR": WEIGHTS_DIR, "BGFLOW_RUNS_DIR": RUNS_DIR, "BGFLOW_CACHE_DIR": f"{RUNS_DIR}/.cache"})
)

gpu_image = with_project_code(
    modal.Image.debian_slim(python_version="3.11")
    .pip_install(*CPU_PACKAGES, *GPU_PACKAGES)
    .env({"BGFLOW_WEIGHTS_DIR": WEIGHTS_DIR})
)

weights = modal.Volume.from_name("bgflow-weights", create_if_missing=True)
runs = modal.Volume.from_name("bgflow-runs", create_if_missing=True)

# Secrets are optional: the embedded default needs none. Name the ones you created when deploying, e.g.
# BGFLOW_MODAL_SECRETS=bgflow-openai,bgflow-aws modal deploy modal_app.py  (a named secret that is missing fails the
# deploy, so none is attached unless asked for).
SECRET_NAMES = [n.strip() for n in os.environ.get("BGFLOW_MODAL_SECRETS", "").split(",") if n.strip()]
secrets = [modal.Secret.from_name(name) for name in SECRET_NAMES]
