"""Throughput of ``bgflow run --workers N`` (images in parallel processes), measured in one run for each N, with the
same outputs checked: every input's mask and final image must be byte-identical whatever N.

    python bench/workers.py [FOLDER] [--workers 1 2] [--size 2048] [--repeat 3]

Each N runs ``--repeat`` times, alternating with the others so a slow spell of the machine hits all of them; the
median wall time is the figure, with the spread beside it.

FOLDER defaults to ../shared/samples/seed when it exists. Writes ``bench/results/workers.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, default_folder, machine, markdown_table, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
COMPARED = ("mask.png", "final.png")


def run_cli(folder: Path, out: Path, workers: int, size: int) -> float:
    """Wall seconds of one ``bgflow run`` (process start and imports included: what a user waits for)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "events.cli", "run", str(folder), "--out", str(out), "--workers",
                           str(workers), "--size", str(size)], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"bgflow run --workers {workers} failed:\n{proc.stderr[-2000:]}")
    return wall


def digests(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for name in COMPARED for p in sorted(out.glob(f"*/{name}"))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", type=Path)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    folder = args.folder or default_folder()
    walls, outputs, summaries = {n: [] for n in args.workers}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.repeat):
            for n in args.workers:
                out = Path(tmp) / f"w{n}-{round_}"
                walls[n].append(wall := run_cli(folder, out, n, args.size))
                summaries[n] = json.loads((out / "summary.json").read_text())
                digest = digests(out)
                if outputs.setdefault(n, digest) != digest:
                    raise SystemExit(f"--workers {n} gave different outputs from one run to the next")
                shutil.rmtree(out)
                print(f"--workers {n}, run {round_ + 1}/{args.repeat}: {wall:.2f} s", file=sys.stderr)
    rows = []
    for n in args.workers:
        wall = statistics.median(walls[n])
        rows.append({"workers": n, "images": summaries[n]["count"], "ok": summaries[n]["ok"],
                     "wall_s": round(wall, 2), "wall_s_runs": [round(w, 2) for w in walls[n]],
                     "images_per_s": round(summaries[n]["count"] / wall, 3)})
    base = rows[0]
    for r in rows:
        r["speed_up"] = round(r["images_per_s"] / base["images_per_s"], 2)
        r["same_outputs"] = outputs[r["workers"]] == outputs[base["workers"]]
    data = {"source": str(folder), "size": args.size, "repeat": args.repeat, "machine": machine(), "runs": rows,
            "compared": list(COMPARED)}
    write_json("workers", data)
    table = markdown_table(["workers", "images", "ok", "median wall s", "runs (s)", "images/s", "speed-up",
                            "same outputs"],
                           [[r["workers"], r["images"], r["ok"], r["wall_s"], ", ".join(map(str, r["wall_s_runs"])),
                             r["images_per_s"], r["speed_up"], r["same_outputs"]] for r in rows])
    text = "\n".join(["# bgflow run --workers N", "", f"{base['images']} photos from {folder}, {args.size} px, "
                      f"{machine()['cpus']} CPUs; median wall time of {args.repeat} runs of the whole command (start-up "
                      f"included), the N alternating; outputs "
                      f"({', '.join(COMPARED)}) compared byte for byte with --workers {base['workers']}.", "", table])
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4, 3))
        ax.bar([str(r["workers"]) for r in rows], [r["images_per_s"] for r in rows], color="#4a7")
        ax.set_xlabel("--workers")
        ax.set_ylabel("images / s")
        fig.tight_layout()
        fig.savefig(RESULTS / "workers.png", dpi=110)
        text += "\n\nPlot: bench/results/workers.png"
    except ImportError:
        text += "\n\n(matplotlib is not installed: no plot; `pip install -e '.[bench]'`)"
    (RESULTS / "workers.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
