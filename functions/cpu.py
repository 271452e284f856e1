"""CPU stage functions: slim image, no GPU. Each decodes wire data, runs the stage, encodes the answer."""

from __future__ import annotations

from typing import Any

import modal

from .infra import app, cpu_image, secrets

with cpu_image.imports():
    from pipeline.remote import handle
    from pipeline.runner import InProcessExecutor

_executor = None


def _ex():
    global _executor
    if _executor is None:  # built once per container, on first use
        _executor = InProcessExecutor()
    return _executor


STAGE = dict(image=cpu_image, cpu=2.0, memory=2048, retries=modal.Retries(max_retries=2, backoff_coefficient=2.0),
             scaledown_window=120)


@app.function(**STAGE, timeout=60)
def normalize(payload: dict[str, Any]) -> dict[str, Any]:
    return handle("normalize", payload, _ex())


@app.function(**STAGE, timeout=120, secrets=secrets)
def analyze(payload: dict[str, Any]) -> dict[str, Any]:
    return handle("analyze", payload, _ex())


@app.function(**STAGE, timeout=120)
def segment(payload: dict[str, Any]) -> dict[str, Any]:
    return handle("segment", payload, _ex())


@app.function(**STAGE, timeout=60)
def compose(payload: dict[str, Any]) -> dict[str, Any]:
    return handle("compose", payload, _ex())


@app.function(**STAGE, timeout=120)
def upscale(payload: dict[str, Any]) -> dict[str, Any]:
    return handle("upscale", payload, _ex())


@app.function(**STAGE, timeout=60)
def keep(payload: dict[str, Any]) -> dict[str, Any]:
    return handle("keep", payload, _ex())


CPU_FUNCTIONS = {"normalize": normalize, "analyze": analyze, "segment": segment, "compose": compose,
                 "upscale": upscale, "keep": keep}
