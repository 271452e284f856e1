"""The intake: the trust boundary and the one claim -> run -> complete/release sequence, tried as a hostile client."""

import base64
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from events.http import create_app
from events.intake import Base64Text, BatchNames, Intake, LocalFile, Upload, key_folder, safe_segment
from events.ledger import LocalLedger
from events.settings import Settings
from pipeline.errors import UnsupportedFormat
from pipeline.runner import InProcessExecutor
from pipeline.storage import LocalStorage
from tests.conftest import encode

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "box_white.jpg"
B64 = "data:image/jpeg;base64," + base64.b64encode(SAMPLE.read_bytes()).decode()


@pytest.fixture
def client(tmp_path):
    def make(**overrides) -> TestClient:
        return TestClient(create_app(Settings(runs_dir=tmp_path / "runs", **overrides)))
    return make


@pytest.mark.parametrize("path", ["/proc/self/environ", "/etc/passwd", str(SAMPLE), "samples/box_white.jpg",
                                  "/nonexistent/x.jpg"])
def test_a_path_in_a_request_is_never_read(client, path):
    c = client()
    job = c.post("/jobs", json={"image_b64": path})
    stream = c.post("/photography/background", json={"image_b64": path})
    check = c.post("/check", json={"image_b64": path, "marketplace": "amazon"})
    for r in (job, stream, check):
        assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_format"
        # the same answer whether the path exists or not: nothing about the server's files leaks
        assert r.json()["error"]["message"] == job.json()["error"]["message"] and path not in r.text
    assert not (c.app.state.settings.runs_dir).exists() or not any(c.app.state.settings.runs_dir.rglob("input*"))


def test_short_base64_without_slashes_is_a_coded_error(client):
    r = client().post("/photography/background", json={"image_b64": "A" * 300 + "!"})
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_format"
    ok_b64_not_image = base64.b64encode(b"x" * 400).decode()
    r = client().post("/jobs", json={"image_b64": ok_b64_not_image})
    assert r.status_code == 202  # decodes: the run records unsupported_format with the input kept


@pytest.mark.parametrize("image", [np.zeros((20, 10000, 3), np.uint8) + 255, np.zeros((300, 300, 3), np.uint8),
                                   np.zeros((64, 64, 4), np.uint8)], ids=["10000x20", "all-black", "transparent"])
def test_odd_images_never_give_a_5xx_on_the_stream(client, image):
    data = "data:image/png;base64," + base64.b64encode(encode(image)).decode()
    r = client().post("/photography/background", json={"image_b64": data, "size": 128})
    assert r.status_code < 500
    if r.status_code == 200:
        last = json.loads(r.text.strip().splitlines()[-1])
        assert last.get("step") == 3 or last["error"]["code"] in ("product_not_found", "image_too_small")
    else:
        assert r.json()["error"]["code"] in ("product_not_found", "image_too_small")


@pytest.mark.parametrize("field, value", [("seed", -1), ("seed", 1e22), ("size", 0), ("preset", "nope"),
                                          ("style", "nope"), ("variants", 99), ("format", "gif")])
def test_bad_options_are_422_before_any_work(client, field, value):
    c = client()
    for r in (c.post("/photography/background", json={"image_b64": B64, field: value}),
              c.post("/jobs", json={"image_b64": B64, "options": {field: value}})):
        assert r.status_code == 422 and r.json()["error"]["code"] in ("invalid_request", "invalid_option"), r.text
    assert not c.app.state.settings.runs_dir.exists() or not list(c.app.state.settings.runs_dir.glob("*/job.json"))


def test_hostile_paths_and_headers_are_4xx(client):
    c = client()
    assert c.get("/runs/abc%00def/final.png").status_code == 404
    assert c.get("/runs/0123456789ab/..%2f..%2fetc%2fpasswd").status_code == 404
    assert c.get("/jobs/" + "a" * 300).status_code == 404
    job = c.post("/jobs", json={"image_b64": B64, "options": {"size": 128}}).json()
    assert c.get(f"/jobs/{job['id']}/events", headers={"Last-Event-ID": "-1"}).status_code == 422
    assert c.get(f"/jobs/{job['id']}/events", headers={"Last-Event-ID": "x"}).status_code == 422
    r = c.post("/jobs", json={"image_b64": B64}, headers={"Idempotency-Key": "bad\tkey"})
    assert r.status_code == 422


def test_api_description_is_closed_with_a_token(client):
    c = client(api_token="s3cret")
    assert c.get("/openapi.json").status_code == 401 and c.get("/docs").status_code == 404
    assert c.get("/openapi.json", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert c.get("/healthz").status_code == 200


def test_a_chunked_body_over_the_cap_is_413_everywhere(client):
    c = client(max_request_bytes=10_000)

    def chunks():
        yield b'{"image_b64": "'
        for _ in range(20):
            yield b"A" * 1000
        yield b'"}'

    for path in ("/photography/background", "/jobs"):
        r = c.post(path, content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


def test_a_client_that_goes_away_frees_its_slot(client):
    c = client(max_concurrent_jobs=1, max_queued_jobs=0)
    compose = c.app.state.pool.executor.background
    real = compose.compose
    compose.compose = lambda *a, **k: (time.sleep(1.0), real(*a, **k))[1]  # a slow stage
    with c.stream("POST", "/photography/background", json={"image_b64": B64, "size": 128, "variants": 8}) as r:
        next(r.iter_lines())  # the first step, then the client hangs up
    deadline = time.monotonic() + 10  # stops after the stage in hand, not after 8 variants
    while c.get("/readyz").json()["slots"]["busy"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert c.get("/readyz").json()["slots"] == {"size": 1, "busy": 0, "queued": 0, "queue_size": 0}
    r = c.post("/photography/background", json={"image_b64": B64, "size": 128})
    assert r.status_code == 200
    cancelled = [json.loads(p.read_text()) for p in c.app.state.settings.runs_dir.glob("*/manifest.json")]
    assert any(m["error"] and m["error"]["code"] == "cancelled" for m in cancelled)


def test_the_stream_writes_the_run_contract(client):
    c = client()
    lines = [json.loads(x) for x in c.post("/photography/background", json={"image_b64": B64, "size": 128}).text.splitlines()]
    run_id = lines[0]["run_id"]
    manifest = json.loads((c.app.state.settings.runs_dir / run_id / "manifest.json").read_text())
    assert manifest["status"] == "ok" and "final.png" in manifest["files"]


def test_names_are_unique_and_stay_inside(tmp_path):
    names = BatchNames([Path(p) for p in ("a.jpg", "a.png", "a-2.jpg", "...png", "..png", ".png", "b.jpg")]).names
    assert len(set(names)) == len(names) and names[2] == "a-2" and names[6] == "b"
    assert all("/" not in n and n not in ("", ".", "..") for n in names)
    hostile = ["../x.jpg", "a/../../b.jpg", "a\nb.jpg", "\x00.jpg", "x" * 400 + ".jpg", "a:b.jpg", "CON", "~"]
    folders = [key_folder(k) for k in hostile] + [safe_segment(k) for k in hostile]
    for folder in folders:
        target = (tmp_path / folder).resolve()
        assert tmp_path in target.parents and ".." not in folder.split("/")
    assert len({key_folder(k) for k in hostile}) == len(hostile)


def test_cli_batch_with_hostile_names_and_bad_options(tmp_path):
    inbox = tmp_path / "in"
    inbox.mkdir()
    for name in ("a.jpg", "a.png", "a-2.jpg", "...png", "..png"):
        (inbox / name).write_bytes(SAMPLE.read_bytes())
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "events.cli", "run", *[str(p) for p in sorted(inbox.iterdir())], "--out", str(out),
           "--size", "96", "--workers", "1"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    names = [row["name"] for row in summary["items"]]
    assert len(set(names)) == 5 and all((out / n / "final.png").is_file() for n in names)
    assert not (out / "final.png").exists() and "Traceback" not in proc.stderr
    for bad in (["--preset", "nope"], ["--style", "nope"], ["--size", "0"], ["--seed", "-1"], ["--format", "gif"]):
        target = tmp_path / ("bad" + bad[0])
        proc = subprocess.run([sys.executable, "-m", "events.cli", "run", str(SAMPLE), "--out", str(target), *bad],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and "invalid_option" in proc.stderr and not target.exists(), (bad, proc.stderr)


def test_a_missing_local_file_is_that_inputs_failure(tmp_path):
    settings = Settings()
    intake = Intake(settings, InProcessExecutor(settings), LocalStorage(tmp_path))
    outcome = intake.run(intake.accept(LocalFile(tmp_path / "gone.jpg"), {}, name="gone"))
    assert outcome.status == "failed" and outcome.manifest["error"]["code"] == "input_not_found"


def test_claim_is_renewed_while_running_and_released_on_a_crash(tmp_path):
    settings = Settings(ledger_lease_s=3)
    ledger = LocalLedger(tmp_path / "ledger", lease_s=3)
    beats = []

    class Slow(InProcessExecutor):
        def compose(self, *a, **k):
            time.sleep(5.0)
            return super().compose(*a, **k)

    intake = Intake(settings, Slow(settings), LocalStorage(tmp_path / "out"), ledger)
    ticket = intake.accept(Upload(SAMPLE.read_bytes(), "a.jpg"), {"size": 96}, name="a", key="k")
    seen = []
    t = threading.Thread(target=lambda: seen.append(intake.run(ticket, heartbeat=lambda: beats.append(1))))
    t.start()
    time.sleep(4.0)  # past one lease: still held, because it is renewed
    assert ledger.claim("k")[0] == "busy"
    t.join()
    assert seen[0].status == "ok" and beats and ledger.claim("k")[0] == "done"

    class Broken(InProcessExecutor):
        def normalize(self, source):
            raise ConnectionError("storage went away")

    crashing = Intake(settings, Broken(settings), LocalStorage(tmp_path / "out"), ledger)
    outcome = crashing.run(crashing.accept(Upload(SAMPLE.read_bytes()), {}, name="b", key="k2"))
    assert outcome.status == "busy" and ledger.claim("k2")[0] == "new"  # released for the next delivery


def test_base64_text_is_never_a_path():
    with pytest.raises(UnsupportedFormat):
        Base64Text(str(SAMPLE)).read(Settings())


def test_resume_skips_inputs_done_with_the_same_options(tmp_path):
    from events.batch import run_batch
    from pipeline.options import RunOptions

    settings = Settings()
    files = [tmp_path / "a.jpg", tmp_path / "b.jpg"]
    for f in files:
        f.write_bytes(SAMPLE.read_bytes())
    out = tmp_path / "out"
    first = run_batch(files[:1], out, RunOptions(size=96), settings)
    assert [r["status"] for r in first] == ["ok"]
    again = run_batch(files, out, RunOptions(size=96), settings, resume=True)
    assert [r.get("resumed") for r in again] == [True, None] and all(r["status"] == "ok" for r in again)
    other = run_batch(files, out, RunOptions(size=128), settings, resume=True)  # other options: run again
    assert [r.get("resumed") for r in other] == [None, None]


def test_a_killed_worker_process_loses_no_input(tmp_path):
    """kill -9 one of --workers 2's processes mid-batch: the images it had run again, alone, and the whole batch
    ends ok (before, the broken pool failed every image still waiting)."""
    import os
    import signal

    inbox = tmp_path / "in"
    inbox.mkdir()
    for i in range(8):
        (inbox / f"p{i}.jpg").write_bytes(SAMPLE.read_bytes())
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "events.cli", "run", str(inbox), "--out", str(out), "--workers",
                             "2", "--size", "512"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def children() -> list[int]:
        try:
            return [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
        except OSError:
            return []

    deadline = time.monotonic() + 60
    while not any(out.glob("*/manifest.json")) and time.monotonic() < deadline:
        time.sleep(0.05)  # the workers are up and have finished an image
    workers = [pid for pid in children() if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text()]
    assert workers, "no worker process seen"
    os.kill(workers[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] == 8 and all((out / r["name"] / "final.png").is_file() for r in summary["items"])
