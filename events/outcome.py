"""What became of one event (an uploaded object, a product image, a dropped file), as every trigger reports it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# ok / failed: it ran (a failure is recorded with its input); duplicate: it ran before; busy: another worker has it,
# or it will be retried; ignored: not an image, or bgflow's own output.
Status = Literal["ok", "failed", "duplicate", "busy", "ignored"]


@dataclass(frozen=True)
class Outcome:
    source: str
    status: Status
    detail: str = ""
    output: str | None = None
    result: dict[str, Any] | None = None  # what the ledger keeps: status, output, error, run_id, action
    manifest: dict[str, Any] | None = field(default=None, repr=False)

    def view(self) -> dict[str, Any]:
        return {"source": self.source, "status": self.status, "detail": self.detail, "output": self.output}


def error_detail(manifest: dict) -> str:
    """``code: message`` of a failed run's manifest, '' for a run that went through."""
    error = manifest.get("error")
    return f"{error['code']}: {error['message']}" if error else ""
