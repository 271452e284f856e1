"""The run contract: per input ``<name>/normalized.png``, ``mask.png``, ``final.<ext>``, ``manifest.json``; one
``summary.json`` per run. Other tools rely on these names and fields (see ARCHITECTURE.md)."""

from __future__ import annotations

import logging
import mimetypes
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .compliance import compliance_block, placed_mask
from .errors import BgflowError
from .normalize import IMAGE_SUFFIXES, read_source
from .options import RunOptions
from .runner import InProcessExecutor, Job, run, settings_snapshot
from .settings import Settings
from .storage import Storage
from .types import StageEvent
from .upscale import encode, png_with_profile

log = logging.getLogger(__name__)


def png_bytes(image: np.ndarray) -> bytes:
    """Fast PNG for intermediate artefacts (RGB or L uint8)."""
    return png_with_profile(image)


def final_name(fmt: str, variant: int) -> str:
    return f"final.{fmt}" if variant == 0 else f"final_v{variant + 1}.{fmt}"


def process(job: Job, storage: Storage, executor: InProcessExecutor,
            on_event: Callable[[StageEvent], None] | None = None,
            should_stop: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """Run one job and write its artefacts and manifest under ``<job.name>/``. Never raises for a bad input.
    ``should_stop`` is asked between stages (a client that went away); a yes records the run as ``cancelled``."""
    settings = executor.settings
    prefix = job.name.strip("/")
    t0 = time.perf_counter()
    manifest = _new_manifest(job)
    # Intermediate artefacts are encoded and written on a second thread while the next stages compute.
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bgflow-write")
    pending: list[Future] = []
    try:
        opts = job.options.resolved(settings)
        manifest["settings"] = settings_snapshot(settings, opts, executor.backend_names())
        manifest["seed"] = opts.seed
        mask = None
        for event in run(job, executor, should_stop):
            manifest["stages"].append({"name": event.stage, "backend": event.backend, "ms": event.ms})
            mask = event.images.get("mask", mask)
            _record(event, manifest, storage, prefix, opts, settings.jpeg_quality, writer, pending, mask)
            if on_event:
                on_event(event)
        for done in pending:
            done.result()  # a failed write fails the job
        if manifest["action"] is None:
            manifest["action"] = "skipped"
    except BgflowError as exc:
        _fail(manifest, exc.to_dict(), job, storage, prefix, settings)
    except Exception as exc:  # one broken input must not stop the batch; the record keeps what happened
        log.exception("run %s failed unexpectedly", job.run_id)
        _fail(manifest, {"code": "internal_error", "message": f"Unexpected {type(exc).__name__} in run {job.run_id} "
                         "(details in the server log). The input is kept next to this manifest; please report it."},
              job, storage, prefix, settings)
    writer.shutdown(wait=True)
    manifest["total_ms"] = round((time.perf_counter() - t0) * 1000.0, 2)
    storage.put_json(f"{prefix}/manifest.json", manifest)
    return manifest


def _new_manifest(job: Job) -> dict[str, Any]:
    return {
        "run_id": job.run_id, "input": job.filename or _describe_source(job.source), "name": job.name.strip("/"),
        "status": "ok", "error": None, "background_kind": None, "white_background": None, "properties": None,
        "analysis": None, "orientation": None, "stages": [], "placement": None, "fidelity": None, "action": None,
        "files": [], "variants": [], "settings": None, "seed": None, "compliance": None,
    }


def record_failure(job: Job, storage: Storage, error: BgflowError) -> dict[str, Any]:
    """The manifest of a job refused before it could start (the input stays where it is, e.g. in its bucket)."""
    manifest = _new_manifest(job) | {"status": "failed", "error": error.to_dict(), "total_ms": 0.0}
    storage.put_json(f"{manifest['name']}/manifest.json", manifest)
    return manifest


def _record(event: StageEvent, manifest: dict[str, Any], storage: Storage, prefix: str, opts: RunOptions,
            quality: int, writer: ThreadPoolExecutor, pending: list[Future], mask: np.ndarray | None) -> None:
    p = event.payload

    def later(key: str, encode_fn, image) -> None:
        manifest["files"].append(key.split("/", 1)[-1])
        pending.append(writer.submit(lambda: storage.put(key, encode_fn(image), _mime(key))))

    if event.stage == "normalize":
        manifest["background_kind"] = p["background_kind"]
        manifest["white_background"] = p["white_bg"]
        manifest["properties"] = p["properties"] | {"background": p["background"]}
        later(f"{prefix}/normalized.png", png_bytes, event.images["normalized"])
    elif event.stage == "analyze":
        manifest["analysis"] = p["analysis"]
        manifest["orientation"] = p["orientation"]
    elif event.stage == "segment":
        manifest["mask"] = p["mask"]
        later(f"{prefix}/mask.png", png_bytes, event.images["mask"])
    elif event.stage == "compose":
        manifest.setdefault("scenes", []).append(p["images_bg"])
    elif event.stage == "upscale":
        out = p["output"]
        name = final_name(opts.format, out["variant"])
        data = encode(event.images["final"], opts.format, quality)
        _put(manifest, storage, f"{prefix}/{name}", data)
        final = event.images["final"]

        def product() -> np.ndarray | None:
            return None if mask is None else placed_mask(mask, out["placement"]["scale"], out["placement"]["offset"],
                                                         (final.shape[1], final.shape[0]))

        compliance = compliance_block(data, opts.preset, product)  # None unless the preset is a marketplace's
        manifest["variants"].append({"file": name, **out, "compliance": compliance})
        if out["variant"] == 0:
            manifest["compliance"] = compliance
            manifest["placement"] = out["placement"]
            manifest["fidelity"] = out["fidelity"]
            manifest["action"] = out["action"]


def _mime(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def _put(manifest: dict[str, Any], storage: Storage, key: str, data: bytes) -> None:
    storage.put(key, data, _mime(key))
    manifest["files"].append(key.split("/", 1)[-1])


def _fail(manifest: dict[str, Any], error: dict[str, str], job: Job, storage: Storage, prefix: str,
          settings: Settings) -> None:
    manifest["status"] = "failed"
    manifest["error"] = error
    try:
        data = read_source(job.source, settings)
    except BgflowError:
        data = b""
    if data:  # the failed input is kept beside its manifest so nothing is lost
        named = job.filename or (job.source.name if isinstance(job.source, Path) else "")
        ext = Path(named).suffix.lower()  # only an image extension: the name may come from a client
        _put(manifest, storage, f"{prefix}/input{ext if ext in IMAGE_SUFFIXES else '.bin'}", data)


def _describe_source(source: Any) -> str:
    if isinstance(source, Path):
        return str(source)
    return f"<{len(source)} bytes>"


def summary_row(manifest: dict[str, Any]) -> dict[str, Any]:
    fid = manifest.get("fidelity") or {}
    return {
        "name": manifest["name"], "input": manifest["input"], "status": manifest["status"],
        "error": manifest["error"], "background_kind": manifest["background_kind"], "action": manifest["action"],
        "total_ms": manifest.get("total_ms"), "delta_e_mean": fid.get("delta_e_mean"),
        "files": manifest["files"],
    }
