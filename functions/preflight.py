"""Deploy preflight: the client-side checks ``modal deploy`` and ``modal run`` make, run offline with no token.

- :func:`image_errors` loads every function's image through modal's own ``Resolver`` and image/mount loaders, the
  way a deploy does, with an in-process stand-in for the few server calls those loaders make (environment, image,
  mount). So modal's own layer rules raise here as they would at deploy (e.g. "An image tried to run a build step
  after using ``image.add_local_*``").
- :func:`shipped_files` lists the files a function's container gets from local sources: the image's mount layers
  and the function's own entrypoint mount, enumerated by modal's mount code.
- :func:`run_help` runs ``modal run REF --help`` in a fresh interpreter: modal resolves REF and builds the option
  parser from the function's annotations, all offline.

Nothing here talks to Modal's servers; ``pytest tests/test_modal_preflight.py`` runs it all.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import modal
from modal._environments import ENVIRONMENT_CACHE
from modal._image import LATEST_IMAGE_BUILDER_VERSION
from modal._load_context import LoadContext
from modal._resolver import Resolver
from modal._utils.async_utils import TaskContext, synchronizer
from modal.mount import _select_files
from modal_proto import api_pb2

ROOT_IN_CONTAINER = PurePosixPath("/root")


class _OfflineStub:
    """Answers the server calls made while images and mounts are defined: every image and file 'exists'."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def _id(self, prefix: str) -> str:
        return f"{prefix}-preflight{next(self._ids)}"

    async def EnvironmentGetOrCreate(self, req, **_):
        settings = api_pb2.EnvironmentSettings(image_builder_version=LATEST_IMAGE_BUILDER_VERSION)
        return api_pb2.EnvironmentGetOrCreateResponse(environment_id=self._id("en"),
                                                      metadata=api_pb2.EnvironmentMetadata(settings=settings))

    async def ImageGetOrCreate(self, req, **_):
        ok = api_pb2.GenericResult(status=api_pb2.GenericResult.GENERIC_STATUS_SUCCESS)
        return api_pb2.ImageGetOrCreateResponse(image_id=self._id("im"), result=ok)

    async def MountBatchedCheckExistence(self, req, **_):
        return api_pb2.MountBatchedCheckExistenceResponse(missing_sha256_hex_hashes=[])

    async def MountPutFile(self, req, **_):
        return api_pb2.MountPutFileResponse(exists=True)

    async def MountGetOrCreate(self, req, **_):
        return api_pb2.MountGetOrCreateResponse(mount_id=self._id("mo"), handle_metadata=api_pb2.MountHandleMetadata())

    def __getattr__(self, name: str):
        raise RuntimeError(f"preflight: the server call {name} is not part of defining an image")


class _OfflineClient:
    _snapshotted = False

    def __init__(self) -> None:
        self._stub = _OfflineStub()


@dataclass(frozen=True)
class Spec:
    """One function (or class) as the app declares it."""

    tag: str
    image: Any  # modal._image._Image
    mounts: tuple  # modal.mount._Mount, the function's own (entrypoint) mounts


def specs(app: modal.App) -> list[Spec]:
    """Every function and class service function of ``app``, with its image and entrypoint mounts."""
    state = synchronizer._translate_in(app)._local_state
    out = []
    for tag, fn in state.functions.items():
        spec = fn._spec
        out.append(Spec(tag=tag, image=spec.image, mounts=tuple(spec.mounts)))
    return out


async def _load_images(images: list[Any]) -> dict[int, str | None]:
    client = _OfflineClient()
    saved = ENVIRONMENT_CACHE.pop("", None)
    errors: dict[int, str | None] = {}
    try:
        async with TaskContext() as tc:
            context = LoadContext(client=client, environment_name="", app_id="ap-preflight", task_context=tc)
            resolver = Resolver()
            for image in images:
                try:
                    await resolver.load(image, context)
                    errors[id(image)] = None
                except modal.exception.InvalidError as exc:
                    errors[id(image)] = str(exc)
            # Forget the stand-in ids (the mount layers found stay listed): a later real deploy loads afresh.
            for future in resolver._local_uuid_to_future.values():
                if future.done() and not future.cancelled() and future.exception() is None:
                    future.result()._unhydrate()
    finally:
        ENVIRONMENT_CACHE.pop("", None)
        if saved is not None:
            ENVIRONMENT_CACHE[""] = saved
    return errors


def load_images(app: modal.App) -> dict[str, str | None]:
    """Function tag -> modal's error loading its image (None when it loads). Leaves the images loaded, so their
    mount layers can be listed."""
    all_specs = specs(app)
    unique = list({id(s.image): s.image for s in all_specs if s.image is not None}.values())
    errors = asyncio.run(_load_images(unique))
    return {s.tag: errors.get(id(s.image)) for s in all_specs}


def image_errors(app: modal.App) -> dict[str, str]:
    """Function tag -> the error modal raises for its image at deploy, for the functions whose image fails."""
    return {tag: err for tag, err in load_images(app).items() if err}


def shipped_files(spec: Spec) -> dict[PurePosixPath, Path]:
    """Path in the container -> local file, for what the container of ``spec`` gets from local sources (the image's
    mount layers and the function's entrypoint mount). The image must have been loaded (:func:`load_images`)."""
    mounts = [*spec.image._mount_layers, *spec.mounts]
    files: dict[PurePosixPath, Path] = {}
    for mount in mounts:
        if not mount.is_local():  # modal's client mount: the modal package, provided by Modal
            continue
        for local, remote in _select_files(mount.entries):
            files[PurePosixPath(remote)] = Path(local)
    return files


def materialize(files: dict[PurePosixPath, Path], target: Path) -> Path:
    """Copy the shipped files under ``target`` as the container sees them; returns the folder that is /root."""
    for remote, local in files.items():
        dest = target / remote.relative_to("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(local, dest)
    return target / ROOT_IN_CONTAINER.relative_to("/")


# Run in a fresh interpreter whose only project code is the copied tree: the editable install's finder is removed
# so nothing is imported from the checkout, and each module's file is checked to lie in the copy.
_WEB_PROBE = r"""
import sys, json
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
root = sys.argv[1]
module, attr = sys.argv[2], sys.argv[3]
import importlib
fn = getattr(importlib.import_module(module), attr)
asgi = fn.local()
from fastapi.testclient import TestClient
answers = {}
with TestClient(asgi) as client:
    for path in ("/", "/healthz"):
        r = client.get(path)
        answers[path] = r.status_code
outside = sorted(m.__name__ for m in list(sys.modules.values())
                 if getattr(m, "__file__", None) and m.__name__.split(".")[0] in ("pipeline", "events", "functions")
                 and not m.__file__.startswith(root))
print(json.dumps({"status": answers, "imported_from_elsewhere": outside}))
"""


def web_probe(spec: Spec, module: str, attr: str, workdir: Path, env: dict[str, str] | None = None,
              timeout: float = 180) -> subprocess.CompletedProcess:
    """Start the ASGI function ``module.attr`` from exactly the files its container ships (copied under ``workdir``)
    and GET / and /healthz. The answer is the probe's JSON on stdout (or its traceback on stderr)."""
    root = materialize(shipped_files(spec), workdir)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MODAL_", "BGFLOW_", "PYTHON"))}
    run_env = clean | {"PYTHONPATH": str(root), "BGFLOW_RUNS_DIR": str(workdir / "runs")} | (env or {})
    return subprocess.run([sys.executable, "-c", _WEB_PROBE, str(root), module, attr], cwd=root, env=run_env,
                          capture_output=True, text=True, timeout=timeout)


def run_help(ref: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    """``modal run REF --help`` in ``cwd``, offline (no token, no config): resolves REF, parses its parameters."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")}
    env |= {"HOME": str(cwd / ".preflight-home"), "PYTHONPATH": str(cwd)}
    return subprocess.run([sys.executable, "-m", "modal", "run", ref, "--help"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
