import base64
import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from events.http import create_app
from events.fetch import AllowList, check_url, fetch_image
from pipeline.errors import FetchFailed, ImageTooLarge, UnsafeUrl
from events.settings import Settings

EXCHANGE = json.loads((Path(__file__).parent / "data" / "old_service_exchange.json").read_text())
REQUEST = EXCHANGE["request"]


@pytest.fixture
def make_client(tmp_path):
    clients = []

    def make(**overrides):
        settings = Settings(runs_dir=tmp_path / "runs", **overrides)
        client = TestClient(create_app(settings))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def _lines(resp):
    return [json.loads(line) for line in resp.iter_lines() if line.strip()]


def test_recorded_old_service_request_still_works(make_client):
    c = make_client()
    with c.stream("POST", "/photography/background", json=REQUEST) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
        steps = _lines(r)
    assert [s["step"] for s in steps] == [0, 1, 2, 3]
    for got, want in zip(steps, EXCHANGE["response_steps"]):
        for key, value in want.items():
            assert key in got, (got["step"], key)
            assert type(got[key]) is type(value), (got["step"], key)
        for key in ("run_id", "stage", "ms"):
            assert key in got
    assert steps[0]["white_bg"] is True and steps[0]["size"] == [240, 192]
    for key in ("objects", "objects_white", "background_suggestion"):
        assert key in steps[1]["analysis"]
    assert steps[3]["output"].startswith("data:image/png;base64,")
    assert steps[3]["fidelity"]["delta_e_mean"] <= 1.5


def test_steps_stream_before_the_last_stage_finishes(make_client):
    c = make_client()
    upscaler = c.app.state.pool.executor.upscaler
    release, entered = threading.Event(), threading.Event()
    real = upscaler.post_produce

    def slow(*args, **kwargs):
        entered.set()
        assert release.wait(30)
        return real(*args, **kwargs)

    upscaler.post_produce = slow
    try:
        with c.stream("POST", "/photography/background", json=REQUEST | {"size": 256}) as r:
            lines = r.iter_lines()
            first = json.loads(next(lines))
            assert first["step"] == 0
            assert json.loads(next(lines))["step"] == 1
            assert json.loads(next(lines))["step"] == 2
            assert entered.wait(30) and not release.is_set()  # the last stage is still running
            release.set()
            assert json.loads(next(lines))["step"] == 3
    finally:
        release.set()


def test_sse_on_request(make_client):
    c = make_client()
    with c.stream("POST", "/photography/background", json=REQUEST | {"size": 256},
                  headers={"Accept": "text/event-stream"}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        body = r.read().decode()
    frames = [f for f in body.split("\n\n") if f.strip()]
    assert len(frames) == 4 and frames[0].startswith("id: 0\nevent: step\ndata: ")


def test_images_as_links(make_client):
    c = make_client()
    with c.stream("POST", "/photography/background?images=url", json=REQUEST | {"size": 256}) as r:
        steps = _lines(r)
    link = steps[3]["output"]
    assert link.startswith("/runs/") and c.get(link).content[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("body, kwargs, status, code", [
    ({"image_b64": "!!! not base64 !!!"}, {}, 415, "unsupported_format"),
    ({"image_b64": base64.b64encode(b"just some text, no image").decode()}, {}, 415, "unsupported_format"),
    ({}, {}, 422, "invalid_request"),
    ({"image_b64": "aGk=", "options": {"preset": "poster"}}, {}, 422, "invalid_request"),
    (REQUEST, {"max_request_bytes": 1000}, 413, "request_too_large"),
    (REQUEST, {"max_pixels": 10_000}, 413, "image_too_large"),
], ids=["invalid-base64", "not-an-image", "missing-field", "bad-option", "body-too-large", "too-many-pixels"])
def test_bad_requests_get_4xx_with_a_code_before_streaming(make_client, body, kwargs, status, code):
    r = make_client(**kwargs).post("/photography/background", json=body)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"]


def test_wrong_content_type(make_client):
    r = make_client().post("/photography/background", content=json.dumps(REQUEST), headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type"


def test_auth_on_and_off(make_client):
    open_client = make_client()
    assert open_client.post("/photography/background", json=REQUEST | {"size": 128}).status_code == 200
    locked = make_client(api_token="s3cret-token")
    r = locked.post("/photography/background", json=REQUEST)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert "s3cret" not in r.text
    assert locked.post("/photography/background", json=REQUEST, headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = locked.post("/photography/background", json=REQUEST | {"size": 128},
                     headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200
    assert locked.get("/healthz").status_code == 200  # probes stay open


def test_a_full_server_answers_503_with_retry_after(make_client):
    c = make_client(max_concurrent_jobs=1, max_queued_jobs=0)
    upscaler = c.app.state.pool.executor.upscaler
    release = threading.Event()
    real = upscaler.post_produce
    upscaler.post_produce = lambda *a, **k: (release.wait(30), real(*a, **k))[1]
    try:
        with c.stream("POST", "/photography/background", json=REQUEST | {"size": 128}) as r:
            lines = r.iter_lines()
            next(lines)
            busy = c.post("/photography/background", json=REQUEST)
            assert busy.status_code == 503 and busy.headers["Retry-After"]
            assert busy.json()["error"]["code"] == "server_busy"
            release.set()
            assert [json.loads(line)["step"] for line in lines if line.strip()] == [1, 2, 3]
    finally:
        release.set()
    assert c.post("/photography/background", json=REQUEST | {"size": 128}).status_code == 200  # the slot came back


def _wait(c, job_id, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = c.get(f"/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def test_jobs_upload_poll_events_and_artefacts(make_client):
    c = make_client()
    data = base64.b64decode(REQUEST["image_b64"].split(",", 1)[1])
    r = c.post("/jobs", files={"file": ("chair.jpg", data, "image/jpeg")}, data={"options": '{"size": 256}'})
    assert r.status_code == 202
    job = _wait(c, r.json()["id"])
    assert job["status"] == "done" and set(job["results"]) >= {"normalized.png", "mask.png", "final.png"}
    assert c.get(job["results"]["final.png"]).status_code == 200
    body = c.get(f"/jobs/{job['id']}/events").text
    assert body.count("event: step") == 5 and "event: end" in body
    resumed = c.get(f"/jobs/{job['id']}/events", headers={"Last-Event-ID": "2"}).text
    assert resumed.startswith("id: 3\n") and resumed.count("event: step") == 2


def test_job_retry_with_the_same_idempotency_key_runs_once(make_client):
    c = make_client()
    body = {"image_b64": REQUEST["image_b64"], "options": {"size": 128}}
    a = c.post("/jobs", json=body, headers={"Idempotency-Key": "order-17-photo-1"})
    b = c.post("/jobs", json=body, headers={"Idempotency-Key": "order-17-photo-1"})
    assert a.status_code == 202 and b.status_code == 200 and a.json()["id"] == b.json()["id"]
    runs = c.app.state.settings.runs_dir
    assert [p.parent.name for p in runs.glob("*/job.json")] == [a.json()["id"]]
    other = c.post("/jobs", json=body | {"options": {"size": 256}}, headers={"Idempotency-Key": "order-17-photo-1"})
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"


def test_an_idempotency_key_outlives_a_restart(make_client, tmp_path):
    body = {"image_b64": REQUEST["image_b64"], "options": {"size": 128}}
    first = make_client()
    a = first.post("/jobs", json=body, headers={"Idempotency-Key": "order-18-photo-1"})
    job = _wait(first, a.json()["id"])
    restarted = make_client()  # a new process on the same runs folder
    b = restarted.post("/jobs", json=body, headers={"Idempotency-Key": "order-18-photo-1"})
    assert b.status_code == 200 and b.json()["id"] == a.json()["id"]
    assert restarted.app.state.jobs.accepted == set()  # nothing ran again
    again = restarted.get(f"/jobs/{a.json()['id']}").json()
    assert again["status"] == "done" and again["results"] == job["results"]
    assert restarted.get(again["results"]["final.png"]).status_code == 200


def test_a_job_cut_short_by_a_restart_says_so(make_client):
    body = {"image_b64": REQUEST["image_b64"], "options": {"size": 128}}
    dying = make_client()
    dying.app.state.pool.submit = lambda work: None  # accepted and recorded, then the process died before running it
    a = dying.post("/jobs", json=body, headers={"Idempotency-Key": "k-1"})
    assert a.status_code == 202
    c = make_client()  # the restarted server on the same runs folder
    job_id = a.json()["id"]
    view = c.get(f"/jobs/{job_id}").json()
    assert view["status"] == "interrupted" and view["error"]["code"] == "interrupted"
    again = c.post("/jobs", json=body, headers={"Idempotency-Key": "k-1"})
    assert again.status_code == 200 and again.json()["status"] == "interrupted"
    assert c.get("/jobs/not-a-job").status_code == 404
    assert c.get("/jobs/" + "a" * 300).status_code == 404


def test_failed_job_keeps_its_input_and_error(make_client, tmp_path):
    c = make_client()
    r = c.post("/jobs", files={"file": ("x.jpg", b"not an image at all", "image/jpeg")})
    job = _wait(c, r.json()["id"])
    assert job["status"] == "failed" and job["error"]["code"] == "unsupported_format"
    assert "input.jpg" in job["results"]
    r = c.post("/jobs", files={"file": ("x.html", b"<script>alert(1)</script>", "text/html")})
    assert "input.bin" in _wait(c, r.json()["id"])["results"]  # a client's name never picks the served type


@pytest.mark.parametrize("url, hosts, why", [
    ("http://images.example.com/a.jpg", ["images.example.com"], "https"),
    ("https://evil.example.net/a.jpg", ["images.example.com"], "not in BGFLOW_URL_ALLOW_HOSTS"),
    ("https://localhost/a.jpg", ["localhost"], "private"),
    ("https://127.0.0.1/a.jpg", ["127.0.0.1"], "private"),
    ("https://user:pw@images.example.com/a.jpg", ["images.example.com"], "credentials"),
])
def test_unsafe_urls_are_refused(url, hosts, why):
    with pytest.raises(UnsafeUrl, match=why):
        check_url(url, AllowList(tuple(hosts)))


def test_url_job_refused_before_anything_runs(make_client):
    r = make_client().post("/jobs", json={"url": "http://images.example.com/a.jpg"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "unsafe_url"


def _public_dns(monkeypatch):
    monkeypatch.setattr("socket.getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("93.184.215.14", 443))])


def test_fetch_limits_size_and_status(monkeypatch):
    _public_dns(monkeypatch)
    settings = Settings(url_allow_hosts=["images.example.com"], url_max_bytes=1000)
    url = "https://images.example.com/a.jpg"
    ok = httpx.MockTransport(lambda req: httpx.Response(200, content=b"x" * 500))
    assert fetch_image(url, settings, transport=ok) == b"x" * 500
    big = httpx.MockTransport(lambda req: httpx.Response(200, content=b"x" * 5000))
    with pytest.raises(ImageTooLarge):
        fetch_image(url, settings, transport=big)
    redirect = httpx.MockTransport(lambda req: httpx.Response(302, headers={"Location": "https://10.0.0.1/"}))
    with pytest.raises(FetchFailed, match="302"):
        fetch_image(url, settings, transport=redirect)

    def slow(req):
        raise httpx.ReadTimeout("slow", request=req)

    with pytest.raises(FetchFailed, match="did not answer"):
        fetch_image(url, settings, transport=httpx.MockTransport(slow))


def test_health_ready_and_openapi(make_client):
    c = make_client()
    assert c.get("/healthz").json() == {"status": "ok"}
    ready = c.get("/readyz").json()
    assert ready["backends"]["segmenter"] == {"name": "classical", "ready": True}
    assert "/photography/background" in c.get("/openapi.json").json()["paths"]


def test_cors_only_for_configured_origins(make_client):
    none = make_client().options("/photography/background", headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in none.headers
    some = make_client(cors_origins=["https://shop.example"]).options("/photography/background", headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "POST"})
    assert some.headers["access-control-allow-origin"] == "https://shop.example"


def test_the_address_connected_to_is_the_address_checked(monkeypatch):
    """DNS rebinding: the name is public when checked, then private when the connection is made; the guarded
    transport connects only to an address it has checked itself."""
    from events.fetch import GuardedTransport

    answers = iter([("93.184.215.14", 443), ("127.0.0.1", 443)])
    monkeypatch.setattr("socket.getaddrinfo", lambda *a, **k: [(2, 1, 6, "", next(answers))])
    settings = Settings(url_allow_hosts=["images.example.com"], url_timeout_s=2)
    with pytest.raises(UnsafeUrl, match="private"):
        fetch_image("https://images.example.com/a.jpg", settings, transport=GuardedTransport())
