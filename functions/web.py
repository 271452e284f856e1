"""The FastAPI app on Modal: the same app as ``bgflow serve``. Stateless: job records and idempotency claims are in
``modal.Dict``s, artefacts on the runs Volume, and ``POST /jobs`` spawns ``run_job`` (any web container answers for any
job). The streamed endpoint runs its stages as function calls from the container that holds the stream."""

from __future__ import annotations

from typing import Any, Callable

import modal

from . import state
from .infra import RUNS_DIR, app, cpu_image, runs, secrets

with cpu_image.imports():
    from events.http import create_app
    from events.intake import HttpsUrl, Upload
    from events.settings import get_settings
    from pipeline.remote import RemoteExecutor, portable_settings


class SpawnedJobs:
    """Starts each job as a spawned ``run_job`` call and remembers its FunctionCall id in the job record."""

    def __init__(self, store: Any, settings: Any, spawn: Callable[[dict[str, Any]], Any],
                 lookup: Callable[[str], Any] = lambda call_id: modal.FunctionCall.from_id(call_id)):
        self.store, self.settings, self.spawn, self.lookup = store, settings, spawn, lookup

    def payload(self, ticket: Any, job_id: str) -> dict[str, Any]:
        job = {"name": job_id, "run_id": job_id, "job_id": job_id, "key": ticket.key,
               "options": ticket.options.to_dict(), "settings": portable_settings(self.settings)}
        if isinstance(ticket.source, Upload):
            return job | {"source": ticket.source.data, "filename": ticket.source.filename}
        if isinstance(ticket.source, HttpsUrl):
            return job | {"source_url": ticket.source.url}
        raise TypeError(f"a web job cannot carry a {type(ticket.source).__name__}")

    def start(self, ticket: Any, job_id: str) -> None:
        call = self.spawn(self.payload(ticket, job_id))
        self.store.update(job_id, call_id=call.object_id)

    def pending(self, job_id: str, record: dict[str, Any]) -> bool:
        """Queued or running: its call has not finished (a call that finished without a manifest died)."""
        if not record.get("call_id"):
            return False
        try:
            self.lookup(record["call_id"]).get(timeout=0)
        except (TimeoutError, modal.exception.TimeoutError):
            return True
        except Exception:  # the call failed, or its result expired
            return False
        return False


@app.function(image=cpu_image, volumes={RUNS_DIR: runs}, secrets=secrets, timeout=900, min_containers=0)
@modal.concurrent(max_inputs=16)
@modal.asgi_app(label="bgflow")
def web():
    from .orchestrate import remote_call, run_job
    from .triggers import shopify_product

    settings = get_settings()
    store = state.JOBS()
    return create_app(settings, executor=RemoteExecutor(settings, remote_call),
                      shopify_dispatch=lambda product: shopify_product.spawn(product.to_dict()),
                      ledger=state.LEDGER(), store=store, job_runner=SpawnedJobs(store, settings, run_job.spawn),
                      reload_runs=runs.reload)
