"""A bounded load run against a real server on 127.0.0.1: 16 concurrent streaming requests with one seed photo.

    python bench/load.py [--requests 16] [--image PATH]

Run 1: the server allows as many runs as requests: every request must end with all four steps (0 errors); reports
time to first step and to the last, p50 and p95. Run 2: the same load while the server allows 4 runs at once and no
queue: the surplus must get clean 503s with Retry-After, quickly, and nothing may hang. Writes bench/results/load.json and .md.
Only loopback is used; every request has a time limit.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, SEED, machine, markdown_table, write_json  # noqa: E402

TIMEOUT_S = 180


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(slots: int, runs_dir: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = os.environ | {"BGFLOW_MAX_CONCURRENT_JOBS": str(slots), "BGFLOW_MAX_QUEUED_JOBS": "0",
                        "BGFLOW_RUNS_DIR": str(runs_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "events.http:create_app", "--host",
                             "127.0.0.1", "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def _one(url: str, body: dict) -> dict:
    t0 = time.perf_counter()
    first = None
    steps: list[int] = []
    try:
        with httpx.stream("POST", url + "/photography/background", json=body, timeout=TIMEOUT_S) as r:
            if r.status_code != 200:
                return {"status": r.status_code, "retry_after": r.headers.get("Retry-After"),
                        "total_s": time.perf_counter() - t0}
            for line in r.iter_lines():
                if not line.strip():
                    continue
                item = json.loads(line)
                if first is None:
                    first = time.perf_counter() - t0
                if "error" in item:
                    return {"status": "stream_error", "error": item["error"], "total_s": time.perf_counter() - t0}
                steps.append(item["step"])
    except httpx.HTTPError as exc:
        return {"status": f"transport_error:{type(exc).__name__}", "total_s": time.perf_counter() - t0}
    return {"status": 200 if steps == [0, 1, 2, 3] else "incomplete", "steps": steps, "first_s": first,
            "total_s": time.perf_counter() - t0}


def load(slots: int, requests: int, body: dict, runs_dir: Path) -> dict:
    proc, url = _start(slots, runs_dir)
    try:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=requests) as pool:
            results = list(pool.map(lambda _: _one(url, body), range(requests)))
        wall = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(15)
    ok = [r for r in results if r["status"] == 200]
    busy = [r for r in results if r["status"] == 503]
    other = [r for r in results if r["status"] not in (200, 503)]
    pct = lambda xs, q: round(float(np.percentile(xs, q)), 3) if xs else None  # noqa: E731
    return {"slots": slots, "requests": requests, "wall_s": round(wall, 2), "ok": len(ok), "busy_503": len(busy),
            "errors": len(other), "error_samples": other[:3],
            "first_step_s": {"p50": pct([r["first_s"] for r in ok], 50), "p95": pct([r["first_s"] for r in ok], 95)},
            "total_s": {"p50": pct([r["total_s"] for r in ok], 50), "p95": pct([r["total_s"] for r in ok], 95)},
            "busy_answer_s": {"max": round(max((r["total_s"] for r in busy), default=0), 3)},
            "busy_all_have_retry_after": all(r.get("retry_after") for r in busy)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--image", type=Path)
    ap.add_argument("--size", type=int, default=1024)
    args = ap.parse_args()
    image = args.image or (SEED / "image_0001.jpg" if SEED.is_dir() else ROOT / "samples" / "box_white.jpg")
    body = {"image_b64": base64.b64encode(image.read_bytes()).decode(), "options": {"size": args.size}}
    runs = ROOT / "bench" / "results" / "load_runs"
    full = load(args.requests, args.requests, body, runs)
    limited = load(4, args.requests, body, runs)
    write_json("load", {"image": str(image), "machine": machine(), "unlimited": full, "limited_to_4": limited})
    rows = [[r["slots"], r["requests"], r["ok"], r["busy_503"], r["errors"], r["first_step_s"]["p50"],
             r["first_step_s"]["p95"], r["total_s"]["p50"], r["total_s"]["p95"], r["busy_answer_s"]["max"],
             r["wall_s"]] for r in (full, limited)]
    text = "\n".join([f"# Load: {args.requests} concurrent streaming requests, {image.name}, output {args.size} px", "",
                      markdown_table(["slots", "requests", "ok", "503", "errors", "first step p50 s",
                                      "first step p95 s", "total p50 s", "total p95 s", "slowest 503 s", "wall s"],
                                     rows)])
    (ROOT / "bench" / "results" / "load.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
