"""A folder as a trigger: photos dropped into it (or its subfolders) are processed once each, as they arrive.

A file is taken once it has stopped changing for ``settle_s`` (a copy in progress is left for the next scan). Each
version of a file (path, size, modification time) is claimed in a ledger beside the results, so restarting the
watcher never redoes finished work, and a replaced photo is processed again.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

from pipeline.contract import process
from pipeline.ledger import Ledger
from pipeline.normalize import IMAGE_SUFFIXES
from pipeline.runner import Job, RunOptions
from pipeline.storage import LocalStorage

from .outcome import Outcome, error_detail


class FolderWatcher:
    def __init__(self, folder: Path, storage: LocalStorage, executor: Any, ledger: Ledger,
                 options: RunOptions | None = None, settle_s: float = 1.0):
        self.folder, self.storage, self.executor, self.ledger = Path(folder), storage, executor, ledger
        self.options = options or RunOptions()
        self.settle_s = settle_s

    def candidates(self) -> list[tuple[Path, os.stat_result]]:
        """Images under the folder with their stat, oldest first, leaving out hidden files and the results folder."""
        out = self.storage.root.resolve()
        found = [(p, p.stat()) for p in self.folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                 and not any(part.startswith(".") for part in p.relative_to(self.folder).parts)
                 and out not in p.resolve().parents]
        return sorted(found, key=lambda item: item[1].st_mtime)

    @staticmethod
    def version_key(path: Path, st: os.stat_result) -> str:
        return f"file://{path.resolve()}#{st.st_size}-{st.st_mtime_ns}"

    def poll_once(self) -> list[Outcome]:
        """Process every settled, unclaimed photo; returns what was done (finished files are passed over quietly)."""
        outcomes = []
        now = time.time()
        for path, st in self.candidates():
            if now - st.st_mtime < self.settle_s:
                continue  # still being written
            key = self.version_key(path, st)
            state, _ = self.ledger.claim(key)
            if state != "new":
                continue
            name = path.relative_to(self.folder).with_suffix("").as_posix()
            try:
                manifest = process(Job(source=path, name=name, options=self.options, idempotency_key=key),
                                   self.storage, self.executor)
            except BaseException:
                self.ledger.release(key)
                raise
            self.ledger.complete(key, {"status": manifest["status"], "output": name, "error": manifest["error"]})
            output = str(self.storage.root / name)
            outcomes.append(Outcome(str(path), manifest["status"], error_detail(manifest), output))
        return outcomes

    def run(self, interval_s: float = 2.0, until: Callable[[], bool] = lambda: False,
            on_outcome: Callable[[Outcome], None] | None = None) -> None:
        while not until():
            for outcome in self.poll_once():
                if on_outcome:
                    on_outcome(outcome)
            time.sleep(interval_s)
