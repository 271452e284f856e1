"""A folder as a trigger: photos dropped into it (or its subfolders) are processed once each, as they arrive.

A file is taken once it has stopped changing for ``settle_s`` (a copy in progress is left for the next scan). Each
version of a file (path, size, modification time) is claimed in a ledger beside the results, so restarting the
watcher never redoes finished work, and a replaced photo is processed again.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

from pipeline.normalize import IMAGE_SUFFIXES
from pipeline.options import RunOptions

from .intake import Intake, LocalFile, key_folder
from .outcome import Outcome


class FolderWatcher:
    """Runs each settled photo under ``folder`` through ``intake`` (whose storage is a local folder and whose ledger
    keys file versions)."""

    def __init__(self, folder: Path, intake: Intake, options: RunOptions | None = None, settle_s: float = 1.0):
        self.folder, self.intake = Path(folder), intake
        self.storage = intake.storage
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
            rel = path.relative_to(self.folder).as_posix()
            ticket = self.intake.accept(LocalFile(path), self.options, name=key_folder(rel),
                                        key=self.version_key(path, st))
            outcome = self.intake.run(ticket)
            if outcome.status in ("ok", "failed"):  # finished files are passed over quietly
                outcomes.append(outcome)
        return outcomes

    def run(self, interval_s: float = 2.0, until: Callable[[], bool] = lambda: False,
            on_outcome: Callable[[Outcome], None] | None = None) -> None:
        while not until():
            for outcome in self.poll_once():
                if on_outcome:
                    on_outcome(outcome)
            time.sleep(interval_s)
