"""State every container sees: job records and idempotency claims in ``modal.Dict``s (artefacts are on the runs
Volume). Looked up by name when first used; tests replace the seams with in-memory stores."""

from __future__ import annotations

from typing import Any, Callable

import modal

from .infra import APP_NAME

JOBS_DICT = f"{APP_NAME}-jobs"
LEDGER_DICT = f"{APP_NAME}-ledger"


def _jobs() -> Any:
    from events.web.store import DictJobStore

    return DictJobStore(modal.Dict.from_name(JOBS_DICT, create_if_missing=True))


def _ledger() -> Any:
    from events.ledger import DictLedger
    from events.settings import get_settings

    return DictLedger(modal.Dict.from_name(LEDGER_DICT, create_if_missing=True), lease_s=get_settings().ledger_lease_s)


JOBS: Callable[[], Any] = _jobs
LEDGER: Callable[[], Any] = _ledger
