"""CPU stage functions: slim image, no GPU. Each builds its executor from the settings the job carries (secrets and
paths from this container), decodes wire data, runs the stage, encodes the answer."""

from __future__ import annotations

from typing import Any

import modal

from . import blobs
from .infra import RUNS_DIR, app, cpu_image, runs, secrets

with cpu_image.imports():
    from pipeline.remote import ExecutorCache, handle

_executors = None


def _run(stage: str, payload: dict[str, Any]) -> dict[str, Any]:
    global _executors
    if _executors is None:  # one cache per container: an executor per distinct set of carried settings
        _executors = ExecutorCache()
    return handle(stage, payload, _executors.get(payload["settings"]), blobs.for_payload(payload))


STAGE = dict(image=cpu_image, cpu=2.0, memory=2048, retries=modal.Retries(max_retries=2, backoff_coefficient=2.0),
             scaledown_window=120, volumes={RUNS_DIR: runs})


@app.function(**STAGE, timeout=60)
def normalize(payload: dict[str, Any]) -> dict[str, Any]:
    return _run("normalize", payload)


@app.function(**STAGE, timeout=120, secrets=secrets)
def analyze(payload: dict[str, Any]) -> dict[str, Any]:
    return _run("analyze", payload)


@app.function(**STAGE, timeout=120)
def segment(payload: dict[str, Any]) -> dict[str, Any]:
    return _run("segment", payload)


@app.function(**STAGE, timeout=60)
def compose(payload: dict[str, Any]) -> dict[str, Any]:
    return _run("compose", payload)


@app.function(**STAGE, timeout=120)
def upscale(payload: dict[str, Any]) -> dict[str, Any]:
    return _run("upscale", payload)


@app.function(**STAGE, timeout=60)
def keep(payload: dict[str, Any]) -> dict[str, Any]:
    return _run("keep", payload)


CPU_FUNCTIONS = {"normalize": normalize, "analyze": analyze, "segment": segment, "compose": compose,
                 "upscale": upscale, "keep": keep}
