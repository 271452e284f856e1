"""The Modal app, offline and without a token: specs read through .info(), wrappers run with .local(), the
orchestrator chained through its call seam."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

modal = pytest.importorskip("modal")

import modal_app  # noqa: E402,F401
from functions import cpu, gpu, infra, orchestrate, state, triggers  # noqa: E402
from functions import web as web_fn  # noqa: E402
from pipeline.remote import target_for  # noqa: E402
from pipeline.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def test_import_works_offline_without_a_token():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")} | {"HOME": "/nonexistent"}
    proc = subprocess.run([sys.executable, "-c", "import modal_app; print(modal_app.app.name)"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "bgflow"


def test_cpu_stages_and_gpu_classes_have_different_container_specs():
    for name, fn in cpu.CPU_FUNCTIONS.items():
        info = fn.info()
        assert info.gpus == [], name
        assert info.max_retries == 2 and 0 < info.timeout <= 120, name
        assert {k: v.name for k, v in info.volumes.items()} == {"/runs": "bgflow-runs"}, name  # images between stages
    expected = {"Inpainter": ("H100", "compose"), "Upscaler": ("L4", "upscale"), "Segmenter": ("L4", "segment"),
                "Orienter": ("L4", "orient")}
    for cls_name, (gpu_type, method) in expected.items():
        info = getattr(gpu.GPU_CLASSES[cls_name](), method).info()
        assert info.gpus == [(gpu_type, 1)], cls_name
        assert info.volumes["/weights"].name == "bgflow-weights", cls_name
        assert info.method_names == [method]
    assert infra.cpu_image is not infra.gpu_image


def test_orchestrator_web_and_schedule_specs():
    job = orchestrate.run_job.info()
    assert job.gpus == [] and job.timeout == 1800 and job.volumes["/runs"].name == "bgflow-runs"
    web = web_fn.web.info()
    assert web.web_info is not None and web.gpus == []


def _pins(packages):
    return {Requirement(p).name.lower(): Requirement(p) for p in packages}


def test_images_pin_versions_inside_the_pyproject_ranges():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        declared += [Requirement(r) for r in extra]
    pins = _pins(infra.CPU_PACKAGES + infra.GPU_PACKAGES + infra.GPU_NO_DEPS)
    checked = 0
    for req in declared:
        name = req.name.lower()
        if name in pins:
            version = next(iter(pins[name].specifier)).version
            assert req.specifier.contains(version), f"{name}=={version} is outside pyproject's {req.specifier}"
            checked += 1
    assert checked >= 12
    for name in ("numpy", "opencv-python-headless", "pillow", "pymatting", "pydantic-settings", "torch", "diffusers",
                 "transformers"):
        assert name in pins, name


@pytest.fixture
def recording_call():
    chain = []

    def call(target, payload):
        chain.append(target)
        kind, *rest = target.split(".")
        if kind == "cpu":
            return cpu.CPU_FUNCTIONS[rest[0]].local(payload)
        raise RuntimeError(f"GPU class {target} reached")  # no model weights in this test

    call.chain = chain
    return call


def _job(size=256, **settings):
    data = (ROOT / "samples" / "box_white.jpg").read_bytes()
    return {"source": data, "name": "box", "options": {"size": size}, "settings": settings}


def test_orchestrator_chains_every_stage_through_function_calls(recording_call, tmp_path, monkeypatch):
    from functions import blobs
    from pipeline.wire import FolderBlobs

    monkeypatch.setattr(orchestrate, "CALL", recording_call)
    monkeypatch.setattr(orchestrate, "RUNS_DIR", str(tmp_path))
    monkeypatch.setattr(blobs, "STORE", lambda name: FolderBlobs(tmp_path / ".wire", name))
    out = orchestrate.run_job.local(_job())
    assert recording_call.chain == ["cpu.normalize", "cpu.analyze", "cpu.segment", "cpu.compose", "cpu.upscale"]
    assert list((tmp_path / ".wire").iterdir()) == []  # the job's images between stages are removed with it
    m = out["manifest"]
    assert m["status"] == "ok" and m["fidelity"]["delta_e_mean"] <= 1.5
    assert [e["step"] for e in out["events"]] == [0, 1, 2, 2, 3]
    assert (tmp_path / "box" / "final.png").is_file() and (tmp_path / "box" / "manifest.json").is_file()


def test_model_backends_are_reached_only_as_gpu_class_calls(recording_call, tmp_path):
    settings = {"background": "flux-fill", "upscaler": "realesrgan"}
    assert target_for("compose", Settings(**settings)) == "gpu.Inpainter.compose"
    assert target_for("upscale", Settings(**settings)) == "gpu.Upscaler.upscale"
    assert target_for("segment", Settings(segmenter="sam2")) == "gpu.Segmenter.segment"
    assert target_for("orient", Settings(orienter="orient-anything")) == "gpu.Orienter.orient"
    out = orchestrate.orchestrate(_job(**settings), recording_call, str(tmp_path))
    assert recording_call.chain[-1] == "gpu.Inpainter.compose"
    assert all(t.startswith("cpu.") for t in recording_call.chain[:-1])
    assert out["manifest"]["status"] == "failed"  # recorded, with the input kept, not lost


def test_bgflow_run_with_the_modal_executor_fails_clearly_without_a_deployment(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL_")} | {"HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "events.cli", "run", str(ROOT / "samples" / "box_white.jpg"),
                           "--out", str(tmp_path / "out"), "--executor", "modal"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    said = " ".join(proc.stderr.split())
    assert "backend_unavailable" in said and "modal deploy modal_app.py" in said
    import json

    manifest = json.loads((tmp_path / "out" / "box_white" / "manifest.json").read_text())
    assert manifest["error"]["code"] == "backend_unavailable" and "input.jpg" in manifest["files"]


def test_trigger_specs():
    poll = triggers.s3_poll.info()
    assert poll.gpus == [] and poll.timeout == triggers.POLL_SECONDS + 900
    runs = triggers.s3_object.info()
    assert runs.gpus == [] and runs.timeout == 900  # the fan-out's bound: S3_RUNS containers
    shop = triggers.shopify_product.info()
    assert shop.gpus == [] and shop.volumes["/runs"].name == "bgflow-runs" and shop.timeout == 1800


def test_the_poller_is_scheduled_only_when_the_deploy_names_a_queue():
    code = ("from functions import triggers; print(triggers.s3_poll.info().schedule is not None, "
            "sorted(triggers.S3_ENV))")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODAL_", "BGFLOW_"))}
    off = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    on = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                        env=env | {"BGFLOW_SQS_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/photos"})
    assert off.stdout.split() == ["False", "[]"], off.stderr
    assert on.stdout.split() == ["True", "['BGFLOW_SQS_QUEUE_URL']"], on.stderr


def test_shopify_product_runs_its_stages_as_function_calls(recording_call, tmp_path, monkeypatch):
    import json

    from events.shopify import ProductCreated
    from events.ledger import LocalLedger
    from events.settings import get_settings

    monkeypatch.setattr(triggers, "CALL", recording_call)
    monkeypatch.setattr(state, "LEDGER", lambda: LocalLedger(tmp_path / "ledger"))
    monkeypatch.setattr(triggers, "RUNS_DIR", str(tmp_path))
    monkeypatch.setenv("BGFLOW_SHOPIFY_ACCESS_TOKEN", "shpat_x")
    get_settings.cache_clear()
    uploads = []
    monkeypatch.setattr("events.shopify.ShopifyAdmin.add_product_image",
                        lambda self, pid, data, **kw: uploads.append((pid, kw["filename"])) or "staged-url")
    monkeypatch.setattr("events.intake.fetch_image",
                        lambda url, *a, **k: (ROOT / "samples" / "box_white.jpg").read_bytes())
    payload = json.loads((ROOT / "tests" / "data" / "events" / "shopify_products_create.json").read_text())
    product = ProductCreated.from_webhook(payload, "northwood.myshopify.com")
    product = ProductCreated.from_dict(product.to_dict() | {"images": [product.to_dict()["images"][0]]})
    try:
        outcomes = triggers.shopify_product.local(product.to_dict())
    finally:
        get_settings.cache_clear()
    assert [o["status"] for o in outcomes] == ["ok"]
    assert recording_call.chain == ["cpu.normalize", "cpu.analyze", "cpu.segment", "cpu.compose", "cpu.upscale"]
    assert uploads == [(7845123456789, "7845123456789-34123456789011-bgflow.png")]


def test_s3_poll_drains_the_queue_through_function_calls(recording_call, monkeypatch):
    pytest.importorskip("boto3")
    pytest.importorskip("moto.server")
    from events.settings import get_settings
    from tests.loopback import AWS_TEST_ENV, bucket_notifying_queue, moto_aws

    with moto_aws() as (url, s3, sqs):
        env = AWS_TEST_ENV | {"BGFLOW_AWS_ENDPOINT_URL": url, "BGFLOW_S3_OUTPUT": "s3://modal-out/results",
                              "BGFLOW_OUTPUT_SIZE": "128"}
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        queue = bucket_notifying_queue(s3, sqs, "modal-in")
        s3.create_bucket(Bucket="modal-out")
        s3.put_object(Bucket="modal-in", Key="box.jpg", Body=(ROOT / "samples" / "box_white.jpg").read_bytes())
        monkeypatch.setenv("BGFLOW_SQS_QUEUE_URL", queue)
        monkeypatch.setattr(triggers, "CALL", recording_call)
        monkeypatch.setattr(triggers, "POLL_SECONDS", 3)
        spawned = []

        class Call:  # a FunctionCall: pending at first, then finished with s3_object's answer
            def __init__(self, event):
                self.event, self.asked = event, 0

            def get(self, timeout=None):
                self.asked += 1
                if self.asked == 1:
                    raise modal.exception.TimeoutError("still running")
                return triggers.s3_object.local(self.event)

        monkeypatch.setattr(triggers, "SPAWN", lambda event: spawned.append(event.key) or
                            triggers.SpawnedRun(Call(event.__dict__)))
        get_settings.cache_clear()
        try:
            outcomes = triggers.s3_poll.local()
        finally:
            get_settings.cache_clear()
        assert spawned == ["box.jpg"]  # one spawned run per object version
        assert [o["status"] for o in outcomes if o["source"].endswith("box.jpg")] == ["ok"]
        assert recording_call.chain == ["cpu.normalize", "cpu.analyze", "cpu.segment", "cpu.compose", "cpu.upscale"]
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket="modal-out")["Contents"]}
        assert {"results/box.jpg/final.png", "results/box.jpg/manifest.json"} <= keys


def test_shopify_backfill_spawns_one_run_per_product(monkeypatch, tmp_path):
    """On Modal the catalogue walk spawns a shopify_product run per product that has unprocessed images."""
    from events.ledger import LocalLedger
    from events.settings import get_settings
    from tests.shopify_server import FakeShopifyAdmin

    products = [{"id": 100 + i, "title": f"P{i}", "images": [] if i == 2 else
                 [{"id": 500 + i, "src": f"https://cdn.shopify.com/p{i}.jpg", "alt": "x"}]} for i in range(5)]
    with FakeShopifyAdmin("shpat_x", "2026-10", products=products) as admin:
        monkeypatch.setattr(state, "LEDGER", lambda: LocalLedger(tmp_path / "ledger"))
        monkeypatch.setattr(triggers, "RUNS_DIR", str(tmp_path))
        spawned = []
        monkeypatch.setattr(triggers, "SPAWN_PRODUCT", lambda product: spawned.append(product.product_id))
        for k, v in {"BGFLOW_SHOPIFY_ACCESS_TOKEN": "shpat_x", "BGFLOW_SHOPIFY_API_VERSION": "2026-10",
                     "BGFLOW_SHOPIFY_ADMIN_BASE_URL": admin.url}.items():
            monkeypatch.setenv(k, v)
        get_settings.cache_clear()
        try:
            report = triggers.shopify_backfill.local("northwood.myshopify.com")
        finally:
            get_settings.cache_clear()
    assert spawned == [100, 101, 103, 104] and report["products"] == 5 and report["spawned"] == 4
