"""A watched folder: each photo once, a replaced photo again, a file still being copied left for later, a bad file
recorded with its input kept, and a restart that redoes nothing."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from events.watch import FolderWatcher
from events.intake import Intake
from events.ledger import LocalLedger
from pipeline.runner import InProcessExecutor, RunOptions
from events.settings import Settings
from pipeline.storage import LocalStorage

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def _age(path: Path, seconds: float = 10.0) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_each_file_version_once(tmp_path):
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    (inbox / "chairs").mkdir(parents=True)
    shutil.copy(SAMPLES / "box_white.jpg", inbox / "box.jpg")
    shutil.copy(SAMPLES / "chair_offwhite.jpg", inbox / "chairs" / "chair.jpg")
    (inbox / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (inbox / ".hidden.jpg").write_bytes(b"x")
    for p in (inbox / "box.jpg", inbox / "chairs" / "chair.jpg", inbox / "broken.png"):
        _age(p)
    shutil.copy(SAMPLES / "frame_white.jpg", inbox / "copying.jpg")  # just written: not settled yet

    def watcher():
        intake = Intake(Settings(), InProcessExecutor(Settings()), LocalStorage(out), LocalLedger(out / ".ledger"))
        return FolderWatcher(inbox, intake, RunOptions(size=128), settle_s=5.0)

    first = {Path(o.source).name: o.status for o in watcher().poll_once()}
    assert first == {"box.jpg": "ok", "chair.jpg": "ok", "broken.png": "failed"}
    assert (out / "chairs" / "chair.jpg" / "final.png").is_file()  # one folder per file: a.jpg and a.png differ
    assert json.loads((out / "broken.png" / "manifest.json").read_text())["error"]["code"] == "corrupt_image"
    assert (out / "broken.png" / "input.png").read_bytes() == b"\x89PNG\r\n\x1a\n not really"

    _age(inbox / "copying.jpg")
    shutil.copy(SAMPLES / "glossy_vase_plain.jpg", inbox / "box.jpg")  # the seller replaces a photo
    _age(inbox / "box.jpg", 5.5)
    again = {Path(o.source).name: o.status for o in watcher().poll_once()}  # a restarted watcher
    assert again == {"copying.jpg": "ok", "box.jpg": "ok"}
    assert watcher().poll_once() == []


def test_watch_once_from_the_command_line(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(SAMPLES / "box_white.jpg", inbox / "box.jpg")
    cmd = [sys.executable, "-m", "events.cli", "watch", str(inbox), "--out", str(tmp_path / "out"), "--once",
           "--size", "128"]
    first = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0 and "ok" in first.stderr, first.stderr
    second = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0 and "ok" not in second.stderr.replace("bgflow", "")
    assert (tmp_path / "out" / "box.jpg" / "final.png").is_file()
