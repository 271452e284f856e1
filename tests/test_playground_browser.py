"""The playground page in a real browser: Debian's Chromium driven by Playwright."""

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent

if not Path(CHROMIUM).exists() and not os.environ.get("BGFLOW_REQUIRE_BROWSER"):
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)", allow_module_level=True)


@pytest.fixture
def server(tmp_path):
    import uvicorn

    from events.http import create_app
    from events.settings import Settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(Settings(runs_dir=tmp_path / "runs")), host="127.0.0.1", port=port,
                            log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "server did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def test_upload_a_photo_and_see_the_final_image(server, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server + "/")
        assert page.title() == "bgflow playground"
        page.set_input_files("#file", str(ROOT / "samples" / "chair_offwhite.jpg"))
        page.fill("#size", "768")
        page.click("#run")
        page.wait_for_function(
            "document.getElementById('img-final').src.startsWith('data:image/png')", timeout=60_000)
        for step in range(4):
            assert page.get_attribute(f"#steps li[data-step='{step}']", "class") == "done"
        assert page.get_attribute("#img-mask", "src").startswith("data:image/png")
        assert page.is_visible("#download") and page.is_visible("#compare")
        assert "Done" in page.inner_text("#status")
        shot = Path(os.environ.get("BGFLOW_SCREENSHOT_DIR", tmp_path)) / "playground.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
