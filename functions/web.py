"""The FastAPI app on Modal: the same app as ``bgflow serve``; its stages run as function calls."""

from __future__ import annotations

import modal

from .infra import RUNS_DIR, app, cpu_image, runs, secrets

with cpu_image.imports():
    from events.http import create_app
    from pipeline.remote import RemoteExecutor
    from events.settings import get_settings


@app.function(image=cpu_image, volumes={RUNS_DIR: runs}, secrets=secrets, timeout=900, min_containers=0)
@modal.concurrent(max_inputs=16)
@modal.asgi_app(label="bgflow")
def web():
    from .orchestrate import remote_call
    from .triggers import shopify_product

    settings = get_settings()
    return create_app(settings, executor=RemoteExecutor(settings, remote_call),
                      shopify_dispatch=lambda product: shopify_product.spawn(product.to_dict()))
