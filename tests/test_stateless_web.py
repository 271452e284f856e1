"""Two web app instances that share only the stores every Modal container sees (a modal.Dict for job records and
claims, the runs Volume for artefacts): a job created on one is read, with its events, from the other. Jobs run as
spawned run_job calls (here on a local thread, their stages through the in-process call seam)."""

import base64
import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

modal = pytest.importorskip("modal")

from fastapi.testclient import TestClient  # noqa: E402

from events.http import create_app  # noqa: E402
from events.ledger import DictLedger  # noqa: E402
from events.settings import Settings  # noqa: E402
from events.web.store import DictJobStore  # noqa: E402
from functions import blobs, cpu, orchestrate, state  # noqa: E402
from functions.web import SpawnedJobs  # noqa: E402
from pipeline.wire import FolderBlobs  # noqa: E402
from tests.loopback import AtomicDict  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "data:image/jpeg;base64," + base64.b64encode((ROOT / "samples" / "box_white.jpg").read_bytes()).decode()


class FakeCall:
    """A spawned FunctionCall: runs on a thread; get(timeout=0) raises modal's TimeoutError until it is done."""

    ids = itertools.count()

    def __init__(self, pool, payload):
        self.object_id = f"fc-{next(self.ids)}"
        self.future = pool.submit(orchestrate.run_job.local, payload)

    def get(self, timeout=None):
        if not self.future.done():
            raise modal.exception.TimeoutError("running")
        return self.future.result()


@pytest.fixture
def modal_like(tmp_path, monkeypatch):
    """What every container shares: one Dict for jobs, one for claims, the runs folder as the Volume."""
    runs = tmp_path / "runs"
    jobs_kv, claims_kv = AtomicDict(), AtomicDict()
    monkeypatch.setattr(orchestrate, "CALL", lambda target, payload: cpu.CPU_FUNCTIONS[target.split(".")[1]].local(payload))
    monkeypatch.setattr(orchestrate, "RUNS_DIR", str(runs))
    monkeypatch.setattr(blobs, "STORE", lambda name: FolderBlobs(runs / ".wire", name))
    monkeypatch.setattr(state, "JOBS", lambda: DictJobStore(jobs_kv))
    monkeypatch.setattr(state, "LEDGER", lambda: DictLedger(claims_kv, lease_s=10))
    calls: dict[str, FakeCall] = {}
    pool = ThreadPoolExecutor(max_workers=2)

    def spawn(payload):
        call = FakeCall(pool, payload)
        calls[call.object_id] = call
        return call

    def instance() -> TestClient:  # a web container: nothing of its own but its settings
        settings = Settings(runs_dir=runs, output_size=256)
        store = state.JOBS()
        return TestClient(create_app(settings, ledger=state.LEDGER(), store=store,
                                     job_runner=SpawnedJobs(store, settings, spawn, lookup=calls.__getitem__)))

    yield instance, jobs_kv
    pool.shutdown(wait=True)


def test_a_job_created_on_one_instance_is_read_from_another(modal_like):
    instance, jobs_kv = modal_like
    a, b = instance(), instance()
    r = a.post("/jobs", json={"image_b64": IMAGE, "options": {"size": 192}}, headers={"Idempotency-Key": "order-1"})
    assert r.status_code == 202
    job_id = r.json()["id"]
    assert b.get(f"/jobs/{job_id}").json()["status"] in ("queued", "running", "done")
    deadline = time.monotonic() + 120
    while (view := b.get(f"/jobs/{job_id}").json())["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert view["status"] == "done", view
    assert [e["stage"] for e in view["events"]] == ["normalize", "analyze", "segment", "compose", "upscale"]
    assert b.get(view["results"]["final.png"]).status_code == 200  # the artefact from the shared Volume
    sse = b.get(f"/jobs/{job_id}/events").text
    assert sse.count("event: step") == 5 and "event: end" in sse
    again = b.post("/jobs", json={"image_b64": IMAGE, "options": {"size": 192}}, headers={"Idempotency-Key": "order-1"})
    assert again.status_code == 200 and again.json()["id"] == job_id  # the key is known to every instance
    assert jobs_kv.get(f"job:{job_id}:manifest")["status"] == "ok"  # where every web container reads it


def test_a_job_whose_call_died_is_interrupted_everywhere(modal_like):
    instance, jobs_kv = modal_like
    a, b = instance(), instance()
    a.app.state.jobs.spawn = lambda payload: type("Dead", (), {"object_id": "fc-dead"})()
    a.app.state.jobs.lookup = b.app.state.jobs.lookup = lambda call_id: (_ for _ in ()).throw(RuntimeError("gone"))
    job_id = a.post("/jobs", json={"image_b64": IMAGE}).json()["id"]
    view = b.get(f"/jobs/{job_id}").json()
    assert view["status"] == "interrupted" and view["error"]["code"] == "interrupted"
