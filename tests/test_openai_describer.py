import json
import logging
import subprocess
import sys

import pytest

from pipeline.backends import new_backend
from pipeline.errors import BackendUnavailable, DescriberFailed, DescriberInvalidOutput
from pipeline.normalize import normalize
from pipeline.prompts import PROMPT_VERSION
from pipeline.segment import coarse_foreground
from pipeline.settings import Settings
from tests.openai_server import ANSWER, FakeOpenAI

pytest.importorskip("openai")


@pytest.fixture
def fake():
    server = FakeOpenAI()
    url = server.start()
    server.url = url
    yield server
    server.stop()


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    from pipeline.synthetic import make_sample
    from PIL import Image

    path = tmp_path_factory.mktemp("in") / "chair.jpg"
    Image.fromarray(make_sample("chair", "white", 9, size=(400, 320)).image).save(path, quality=90)
    norm = normalize(path)
    return path, norm, coarse_foreground(norm)


def _settings(fake, tmp_path, **kw):
    return Settings(describer="openai", openai_api_key=fake.key, openai_base_url=fake.url, cache_dir=tmp_path / "cache",
                    openai_timeout_s=kw.pop("timeout", 10), openai_max_retries=kw.pop("retries", 2), **kw)


def test_success_fills_the_analysis_and_records_usage(fake, tmp_path, photo):
    _, norm, coarse = photo
    a = new_backend("describer", "openai", _settings(fake, tmp_path)).describe(norm, coarse)
    assert fake.problems == [] and len(fake.calls) == 1
    assert a.describer == "openai" and a.category == "side chair" and a.style == "wall-floor"
    assert a.prompt == ANSWER["inpainting_prompt"] and a.background_suggestion == ANSWER["background_suggestion"]
    assert a.objects == ["charcoal powder-coated steel chair (matte, open frame with four thin legs)"]
    assert a.extra["tokens"] == {"prompt_tokens": 812, "completion_tokens": 143, "total_tokens": 955}
    assert a.extra["model"] == "gpt-4o" and a.extra["prompt_version"] == PROMPT_VERSION and a.extra["latency_ms"] > 0
    assert a.bbox == (a.bbox[0], a.bbox[1], a.bbox[2], a.bbox[3]) and a.palette  # pixel facts kept


def test_the_cache_makes_a_retry_free(fake, tmp_path, photo):
    _, norm, coarse = photo
    settings = _settings(fake, tmp_path)
    first = new_backend("describer", "openai", settings).describe(norm, coarse)
    second = new_backend("describer", "openai", settings).describe(norm, coarse)
    assert len(fake.calls) == 1
    assert second.extra["cached"] is True and first.extra["cached"] is False and second.prompt == first.prompt


def test_429_then_success_is_retried(fake, tmp_path, photo):
    _, norm, coarse = photo
    fake.behaviour = "429-then-ok"
    a = new_backend("describer", "openai", _settings(fake, tmp_path)).describe(norm, coarse)
    assert len(fake.calls) == 2 and a.category == "side chair"


def test_malformed_json_is_a_clear_error(fake, tmp_path, photo):
    _, norm, coarse = photo
    fake.behaviour = "malformed"
    with pytest.raises(DescriberInvalidOutput, match="structured output") as info:
        new_backend("describer", "openai", _settings(fake, tmp_path)).describe(norm, coarse)
    assert info.value.code == "describer_invalid_output"


def test_timeout_is_a_clear_error(fake, tmp_path, photo):
    _, norm, coarse = photo
    fake.behaviour = "slow"
    with pytest.raises(DescriberFailed, match="did not answer"):
        new_backend("describer", "openai", _settings(fake, tmp_path, timeout=0.5, retries=0)).describe(norm, coarse)


def test_the_key_never_appears_in_logs_or_errors(fake, tmp_path, photo, caplog):
    _, norm, coarse = photo
    caplog.set_level(logging.DEBUG)
    settings = _settings(fake, tmp_path)
    new_backend("describer", "openai", settings).describe(norm, coarse)
    fake.behaviour = "500"
    with pytest.raises(DescriberFailed) as info:
        new_backend("describer", "openai", _settings(fake, tmp_path / "other", retries=0)).describe(norm, coarse)
    assert fake.key not in info.value.message and fake.key not in str(info.value)
    assert fake.key not in caplog.text
    assert fake.key not in repr(settings) and fake.key not in json.dumps(settings.model_dump(mode="json"))


def test_missing_key_names_the_setting_and_auto_falls_back(tmp_path, photo):
    _, norm, coarse = photo
    with pytest.raises(BackendUnavailable, match="BGFLOW_OPENAI_API_KEY"):
        new_backend("describer", "openai", Settings(cache_dir=tmp_path))
    a = new_backend("describer", "auto", Settings(cache_dir=tmp_path)).describe(norm, coarse)
    assert a.describer == "heuristic" and "no API key" in a.extra["fallback"]["reason"]


def test_bgflow_run_with_the_openai_describer_end_to_end(fake, tmp_path, photo):
    path, _, _ = photo
    env = {"BGFLOW_OPENAI_API_KEY": fake.key, "BGFLOW_OPENAI_BASE_URL": fake.url,
           "BGFLOW_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "events.cli", "run", str(path), "--out", str(tmp_path / "out"),
                           "--describer", "openai", "--size", "512"], capture_output=True, text=True, env=env,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert fake.key not in proc.stdout + proc.stderr
    m = json.loads((tmp_path / "out" / "chair" / "manifest.json").read_text())
    assert m["analysis"]["describer"] == "openai"
    extra = m["analysis"]["extra"]
    assert extra["model"] == "gpt-4o" and extra["prompt_version"] == PROMPT_VERSION
    assert extra["tokens"]["total_tokens"] == 955 and extra["latency_ms"] > 0
    assert m["settings"]["describer"] == "openai" and fake.key not in json.dumps(m)
