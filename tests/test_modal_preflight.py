"""Deploy preflight, offline and without a token: modal's own client-side checks on modal_app.py (image layer rules,
the files each container ships, `modal run` references and parameters, every function's spec), and the same checks
catching each known defect on a small, deliberately broken app."""

import json
import re
import sys
import textwrap
from pathlib import Path

import pytest

modal = pytest.importorskip("modal")

import modal_app  # noqa: E402
from functions import cpu, gpu, orchestrate, preflight, triggers  # noqa: E402
from functions import web as web_fn  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def loaded():
    """modal_app's images, loaded once by modal's resolver (offline), tag -> error."""
    return preflight.load_images(modal_app.app)


def test_every_image_passes_the_layer_rules_modal_enforces_at_deploy(loaded):
    assert len(loaded) >= 15
    assert {tag: err for tag, err in loaded.items() if err} == {}


def test_the_web_app_starts_from_exactly_the_files_its_container_ships(loaded, tmp_path):
    spec = {s.tag: s for s in preflight.specs(modal_app.app)}["web"]
    shipped = {str(p) for p in preflight.shipped_files(spec)}
    assert "/root/events/web/static/index.html" in shipped and "/root/events/http.py" in shipped
    proc = preflight.web_probe(spec, "functions.web", "web", tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert answer == {"status": {"/": 200, "/healthz": 200}, "imported_from_elsewhere": []}


def _readme_modal_runs() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return sorted(set(re.findall(r"`[^`]*?\bmodal run ([^`\s]+)[^`]*`", text)))


def test_every_modal_run_command_in_the_readme_resolves_and_parses():
    refs = _readme_modal_runs()
    assert refs, "the README names no `modal run` command"
    for ref in refs:
        proc = preflight.run_help(ref, ROOT)
        assert proc.returncode == 0, f"modal run {ref} --help:\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}"
        assert "Usage:" in proc.stdout


# Expected container specs: (gpu, cpu, memory MiB, timeout s, retries, volumes). Every function of the app is here,
# so a new one cannot be deployed without its spec being stated.
CPU_STAGE = (None, 2.0, 2048)
RUNS = {"/runs": "bgflow-runs"}
GPU = {"/weights": "bgflow-weights", **RUNS}
SPECS = {
    "normalize": (*CPU_STAGE, 60, 2, RUNS), "analyze": (*CPU_STAGE, 120, 2, RUNS),
    "segment": (*CPU_STAGE, 120, 2, RUNS), "compose": (*CPU_STAGE, 60, 2, RUNS), "upscale": (*CPU_STAGE, 120, 2, RUNS),
    "keep": (*CPU_STAGE, 60, 2, RUNS),
    "Inpainter.*": ("H100", None, 40 * 1024, 900, 1, GPU), "Upscaler.*": ("L4", None, None, 300, 1, GPU),
    "Segmenter.*": ("L4", None, None, 300, 1, GPU), "Orienter.*": ("L4", None, None, 300, 1, GPU),
    "download_models": (None, None, None, 3600, None, {"/weights": "bgflow-weights"}),
    "run_job": (None, None, None, 1800, None, {"/runs": "bgflow-runs"}),
    "s3_poll": (None, None, None, triggers.POLL_SECONDS + 900, None, {}),
    "s3_object": (None, None, None, 900, None, {}),
    "shopify_product": (None, None, None, 1800, 1, {"/runs": "bgflow-runs"}),
    "shopify_backfill": (None, None, None, 3600, None, {"/runs": "bgflow-runs"}),
    "web": (None, None, None, 900, None, {"/runs": "bgflow-runs"}),
}


def _info(tag):
    if tag.endswith(".*"):
        method = {"Inpainter": "compose", "Upscaler": "upscale", "Segmenter": "segment", "Orienter": "orient"}
        return getattr(gpu.GPU_CLASSES[tag[:-2]](), method[tag[:-2]]).info()
    fn = {**cpu.CPU_FUNCTIONS, "download_models": gpu.download_models, "run_job": orchestrate.run_job,
          "s3_poll": triggers.s3_poll, "s3_object": triggers.s3_object, "shopify_product": triggers.shopify_product,
          "shopify_backfill": triggers.shopify_backfill, "web": web_fn.web}[tag]
    return fn.info()


def test_every_function_has_its_stated_container_spec():
    tags = {s.tag for s in preflight.specs(modal_app.app)}
    assert tags == set(SPECS)
    for tag, (gpu_type, cpu_cores, memory, timeout, retries, volumes) in SPECS.items():
        info = _info(tag)
        assert info.gpus == ([] if gpu_type is None else [(gpu_type, 1)]), tag
        assert info.cpu == cpu_cores and info.memory_mib == memory, tag
        assert info.timeout == timeout and info.max_retries == retries, tag
        assert {k: v.name for k, v in info.volumes.items()} == volumes, tag
        assert info.secrets == [], tag  # none unless the deploy names them (BGFLOW_MODAL_SECRETS)


# ---- the preflight catches each known defect on a small broken app ----


def test_preflight_catches_a_build_step_after_local_files():
    app = modal.App("preflight-broken-layers")
    base = modal.Image.debian_slim().pip_install("numpy").add_local_python_source("pipeline")

    @app.function(image=base.env({"X": "1"}), serialized=True)
    def late_env():  # the s3_poll defect: cpu_image.env(...)
        return 1

    @app.function(image=base, serialized=True)
    def fine():
        return 1

    errors = {tag.rpartition(".")[2]: err for tag, err in preflight.image_errors(app).items()}
    assert set(errors) == {"late_env"}
    assert "An image tried to run a build step after using `image.add_local_*`" in errors["late_env"]


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))


BROKEN_WEB = {
    "brokenweb/__init__.py": "",
    "brokenweb/static/index.html": "<!doctype html><title>x</title>",
    "brokenweb/site.py": """
        from pathlib import Path

        from fastapi import FastAPI
        from fastapi.staticfiles import StaticFiles

        def create_app():
            app = FastAPI()
            app.get("/healthz")(lambda: {"ok": True})
            app.mount("/", StaticFiles(directory=Path(__file__).parent / "static", html=True))
            return app
    """,
    "brokenweb_deploy.py": """
        import modal

        app = modal.App("preflight-broken-web")
        only_py = modal.Image.debian_slim().pip_install("fastapi").add_local_python_source("brokenweb")
        with_static = only_py.add_local_dir("brokenweb/static", remote_path="/root/brokenweb/static")

        @app.function(image=only_py)
        @modal.asgi_app()
        def web():
            from brokenweb.site import create_app
            return create_app()

        @app.function(image=with_static)
        @modal.asgi_app()
        def web_fixed():
            from brokenweb.site import create_app
            return create_app()
    """,
}


def test_preflight_catches_a_web_app_missing_its_static_files(tmp_path, monkeypatch):
    src = tmp_path / "src"
    _write(src, BROKEN_WEB)
    monkeypatch.chdir(src)
    monkeypatch.syspath_prepend(str(src))
    import importlib

    deploy = importlib.import_module("brokenweb_deploy")
    try:
        assert preflight.image_errors(deploy.app) == {}
        specs = {s.tag: s for s in preflight.specs(deploy.app)}
        broken = preflight.web_probe(specs["web"], "brokenweb_deploy", "web", tmp_path / "broken")
        assert broken.returncode != 0
        assert "static' does not exist" in broken.stderr
        fixed = preflight.web_probe(specs["web_fixed"], "brokenweb_deploy", "web_fixed", tmp_path / "fixed")
        assert fixed.returncode == 0, fixed.stderr[-2000:]
        assert json.loads(fixed.stdout.strip().splitlines()[-1])["status"] == {"/": 200, "/healthz": 200}
    finally:
        for name in [m for m in sys.modules if m.startswith("brokenweb")]:  # brokenweb and brokenweb_deploy
            del sys.modules[name]


BROKEN_RUN = {
    "brokenjobs/__init__.py": "",
    "brokenjobs/tasks.py": """
        import modal

        app = modal.App("preflight-broken-run")

        @app.function()
        def download_models(names: list[str] | None = None) -> int:
            return 0

        @app.function()
        def fetch(names: str = "") -> int:
            return 0
    """,
    "broken_app.py": """
        from brokenjobs import tasks  # noqa: F401
        from brokenjobs.tasks import app, fetch
    """,
}


def test_preflight_catches_modal_run_references_that_do_not_resolve_or_parse(tmp_path):
    _write(tmp_path, BROKEN_RUN)
    unresolved = preflight.run_help("broken_app.py::download_models", tmp_path)
    assert unresolved.returncode != 0
    assert "Could not find 'download_models'" in unresolved.stdout + unresolved.stderr
    unparseable = preflight.run_help("broken_app.py::app.download_models", tmp_path)
    assert unparseable.returncode != 0
    assert "unparseable annotation: list[str] | None" in unparseable.stdout + unparseable.stderr
    fine = preflight.run_help("broken_app.py::fetch", tmp_path)
    assert fine.returncode == 0 and "--names" in fine.stdout, fine.stdout + fine.stderr
