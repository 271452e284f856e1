"""A job on Modal, through the orchestrator's call seam (each stage a `.local()` call of its Modal function): the
caller's settings travel with it (secrets and machine paths never do), and its images cross the wire once."""

from pathlib import Path

import pytest

modal = pytest.importorskip("modal")

from functions import blobs, cpu, orchestrate  # noqa: E402
from pipeline.remote import portable_settings, settings_from  # noqa: E402
from events.settings import Settings  # noqa: E402
from pipeline.wire import FolderBlobs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "box_white.jpg"


@pytest.fixture
def seam(tmp_path, monkeypatch):
    """Stage calls go to the CPU functions in-process; every payload and answer is kept."""
    calls = []

    def call(target, payload):
        kind, stage = target.split(".", 1)
        assert kind == "cpu", target
        answer = cpu.CPU_FUNCTIONS[stage].local(payload)
        calls.append((stage, payload, answer))
        return answer

    monkeypatch.setattr(orchestrate, "CALL", call)
    monkeypatch.setattr(orchestrate, "RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(blobs, "STORE", lambda name: FolderBlobs(tmp_path / "wire", name))
    monkeypatch.setattr(cpu, "_executors", None)  # a fresh container
    return calls


def _job(settings: Settings, size=256):
    return {"source": SAMPLE.read_bytes(), "name": "box", "options": {"size": size},
            "settings": portable_settings(settings)}


def test_a_callers_backend_choice_reaches_the_container_and_its_manifest(seam, tmp_path, monkeypatch):
    pytest.importorskip("openai")
    from tests.openai_server import FakeOpenAI

    fake = FakeOpenAI()
    fake.url = fake.start()
    try:
        # The container's own environment: the heuristic describer, and the key from its Modal secret.
        monkeypatch.setenv("BGFLOW_DESCRIBER", "heuristic")
        monkeypatch.setenv("BGFLOW_OPENAI_API_KEY", fake.key)
        monkeypatch.setenv("BGFLOW_CACHE_DIR", str(tmp_path / "cache"))
        caller = Settings(describer="openai", openai_base_url=fake.url, openai_api_key="sk-caller-local-key",
                          weights_dir=Path("/home/me/weights"))
        job = _job(caller)
        assert "openai_api_key" not in job["settings"] and "weights_dir" not in job["settings"]
        out = orchestrate.run_job.local(job)
    finally:
        fake.stop()
    m = out["manifest"]
    assert m["status"] == "ok", m.get("error")
    assert [stage for stage, _, _ in seam] == ["normalize", "analyze", "segment", "compose", "upscale"]
    assert all(p["settings"]["describer"] == "openai" for _, p, _ in seam)
    assert len(fake.calls) == 1 and fake.problems == []  # the container's key, the caller's endpoint
    assert m["analysis"]["describer"].startswith("openai")
    assert m["settings"]["describer"] == "openai"


def _images(value, path=""):
    """(path, bytes or {"ref"}) for every image-like value in a payload."""
    if isinstance(value, (bytes, bytearray)):
        yield path, bytes(value)
    elif isinstance(value, dict) and set(value) == {"ref"}:
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _images(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _images(v, f"{path}[{i}]")


def test_with_the_runs_volume_images_are_stored_once_and_referenced(seam, tmp_path):
    out = orchestrate.run_job.local(_job(Settings()))
    assert out["manifest"]["status"] == "ok"
    sent = [(stage, where, v) for stage, payload, _ in seam for where, v in _images(payload)]
    raw = [(stage, where) for stage, where, v in sent if isinstance(v, bytes)]
    assert raw == [("normalize", ".source")]  # the only bytes sent: the input itself
    refs = [v["ref"] for _, _, v in sent if isinstance(v, dict)]
    normalized = seam[0][2]["image"]["ref"]
    assert refs.count(normalized) == 4  # analyze, segment, compose, upscale: one stored PNG, four references
    answered = [v for _, _, answer in seam for _, v in _images(answer)]
    assert all(isinstance(v, dict) for v in answered)
    assert list((tmp_path / "wire").iterdir()) == []  # removed with the job


def test_without_a_store_each_image_is_encoded_once_and_the_same_bytes_resent(seam, tmp_path):
    from pipeline.remote import RemoteExecutor
    from pipeline.contract import process
    from pipeline.runner import Job, RunOptions
    from pipeline.storage import LocalStorage

    ex = RemoteExecutor(Settings(output_size=256), orchestrate.CALL)
    manifest = process(Job(source=SAMPLE.read_bytes(), name="box", options=RunOptions(size=256)),
                       LocalStorage(tmp_path / "out"), ex)
    assert manifest["status"] == "ok"
    assert ex.codec.encoded == 0  # everything the caller sends it received from a stage: no re-encoding
    normalized = seam[0][2]["image"]
    resent = [payload["normalized"]["image"] for _, payload, _ in seam[1:]]
    assert len(resent) == 4 and all(image is normalized for image in resent)


def test_carried_settings_never_hold_secrets_or_machine_paths():
    carried = portable_settings(Settings(openai_api_key="sk-x", api_token="t", shopify_access_token="shpat",
                                         weights_dir=Path("/w"), device="cuda", describer="openai"))
    assert carried["describer"] == "openai"
    for name in ("openai_api_key", "api_token", "shopify_access_token", "shopify_webhook_secret", "weights_dir",
                 "runs_dir", "cache_dir", "device", "load_device"):
        assert name not in carried
    for bad in ({"openai_api_key": "sk-x"}, {"weights_dir": "/etc"}, {"no_such_setting": 1}):
        with pytest.raises(ValueError):
            settings_from(bad)


def test_blob_keys_and_namespaces_are_checked(tmp_path):
    with pytest.raises(ValueError):
        FolderBlobs(tmp_path, "../../etc")
    store = FolderBlobs(tmp_path, "0123456789abcdef")
    key = store.put(b"\x89PNG fake")
    assert store.get(key) == b"\x89PNG fake" and store.put(b"\x89PNG fake") == key
    for bad in ("../../etc/passwd", "0" * 40 + ".png/../x", "x.png"):
        with pytest.raises(ValueError):
            store.get(bad)


def test_a_job_reads_its_input_from_the_runs_volume_by_key(seam, tmp_path):
    runs = tmp_path / "runs"
    (runs / "inputs").mkdir(parents=True)
    (runs / "inputs" / "box.jpg").write_bytes(SAMPLE.read_bytes())
    job = {k: v for k, v in _job(Settings()).items() if k != "source"} | {"source_key": "inputs/box.jpg"}
    assert orchestrate.run_job.local(job)["manifest"]["status"] == "ok"
    for bad in ("../secrets", "/etc/passwd", "inputs/../../x", ".wire/x", "inputs//x", "a\\b"):
        with pytest.raises(ValueError):
            orchestrate.job_source({"source_key": bad}, str(runs))
    with pytest.raises(ValueError):
        orchestrate.job_source({"source": b"x", "source_key": "inputs/box.jpg"}, str(runs))


def test_the_run_id_is_the_callers_or_the_function_calls(seam, monkeypatch):
    assert orchestrate.run_job.local(_job(Settings()) | {"run_id": "fc-01ABCdef"})["manifest"]["run_id"] == "fc-01ABCdef"
    monkeypatch.setattr(orchestrate.modal, "current_function_call_id", lambda: "fc-spawned42")
    assert orchestrate.run_job.local(_job(Settings()))["manifest"]["run_id"] == "fc-spawned42"
    with pytest.raises(ValueError):
        orchestrate.run_job.local(_job(Settings()) | {"run_id": "../x"})
