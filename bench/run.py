"""Speed and memory: end-to-end and per-stage latency, peak memory, throughput with 1 and 2 worker processes, and
how cost grows with image size (generated 0.5-8 MP photos). ``make bench`` runs this, then bench/quality.py.

    python bench/run.py [FOLDER] [--name NAME] [--quick] [--against TREE [--rounds N]]

FOLDER defaults to ../shared/samples/seed when it exists, else the bundled samples. Each measurement runs the real
CLI path (``pipeline.contract.process``: pipeline plus artefact writes) in fresh worker processes. Writes
``bench/results/<name>.json``, ``<name>.md`` and ``<name>.png`` (plots).

``--against TREE`` times the white photos only, with this checkout and another one (e.g. ``git worktree add
/tmp/before main``) in turn, N rounds each in fresh processes, alternating which goes first, and the old service's
GrabCut mask step (full resolution, 5 iterations) in the same processes: per-stage and end-to-end medians, the
ratio to GrabCut (issue 14's speed figure) and peak RSS, for both. Writes ``<name>.json`` and ``<name>.md``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, default_folder, load_cases, machine, markdown_table, summarize, write_json  # noqa: E402

SIZES_MP = (0.5, 1.0, 2.0, 4.0, 8.0)
STAGES = ("normalize", "analyze", "segment", "compose", "upscale")


def _worker(paths: list[str]) -> dict:
    """Process ``paths`` in this process; per-image timings and this process's peak RSS."""
    from pipeline.contract import process
    from pipeline.runner import InProcessExecutor, Job
    from pipeline.storage import LocalStorage

    executor = InProcessExecutor()
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        storage = LocalStorage(tmp)
        warm = process(Job(source=paths[0], name="warm-up"), storage, executor)  # JIT and caches, not measured
        del warm
        t0 = time.perf_counter()
        for i, p in enumerate(paths):
            m = process(Job(source=p, name=f"img{i}"), storage, executor)
            out.append({"total_ms": m["total_ms"], "status": m["status"],
                        "stages": {s["name"]: s["ms"] for s in m["stages"]}})
        wall = time.perf_counter() - t0
    return {"items": out, "wall_s": wall, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _pool_run(paths: list[str], workers: int) -> dict:
    ctx = mp.get_context("spawn")
    chunks = [paths[i::workers] for i in range(workers)]
    t0 = time.perf_counter()
    with ctx.Pool(workers) as pool:
        parts = pool.map(_worker, chunks)
    wall = time.perf_counter() - t0
    items = [it for part in parts for it in part["items"]]
    busy = max(part["wall_s"] for part in parts)  # excludes process start-up and warm-up
    return {"workers": workers, "images": len(items), "wall_s": round(wall, 2),
            "images_per_s": round(len(items) / busy, 3), "peak_rss_mb": round(max(p["peak_rss_mb"] for p in parts), 1),
            "items": items}


def latency(items: list[dict]) -> dict:
    ok = [it for it in items if it["status"] == "ok"]
    return {"end_to_end_ms": summarize([it["total_ms"] for it in ok]),
            "stages_ms": {s: summarize([it["stages"].get(s) for it in ok if s in it["stages"]]) for s in STAGES},
            "failed": len(items) - len(ok)}


def size_scaling(repeats: int) -> list[dict]:
    from PIL import Image

    from pipeline.synthetic import make_sample

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mp_ in SIZES_MP:
            w = int(round((mp_ * 1e6 * 4 / 3) ** 0.5))
            h = int(round(w * 3 / 4))
            paths = []
            for r in range(repeats):
                s = make_sample("chair", "offwhite", 500 + r, size=(w, h))
                path = Path(tmp) / f"s{mp_}_{r}.jpg"
                Image.fromarray(s.image).save(path, quality=90)
                paths.append(str(path))
            res = _pool_run(paths, 1)
            lat = latency(res["items"])
            rows.append({"megapixels": mp_, "size": [w, h], "end_to_end_ms": lat["end_to_end_ms"],
                         "stages_ms": {k: v.get("median") for k, v in lat["stages_ms"].items()},
                         "peak_rss_mb": res["peak_rss_mb"]})
    return rows


def _white_worker(tree: str, paths: list[str], grabcut: bool) -> dict:
    """Process ``paths`` with the checkout at ``tree`` in this fresh process; per-image end-to-end and stage
    timings, and (with ``grabcut``) the GrabCut step timed on each normalized image."""
    sys.path.insert(0, tree)
    from pipeline.contract import process
    from pipeline.normalize import normalize
    from pipeline.runner import InProcessExecutor, Job
    from pipeline.storage import LocalStorage

    from bench.common import baseline_mask

    executor = InProcessExecutor()
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        storage = LocalStorage(tmp)
        process(Job(source=Path(paths[0]), name="warm-up"), storage, executor)
        for i, p in enumerate(paths):
            m = process(Job(source=Path(p), name=f"img{i}"), storage, executor)
            item = {"total_ms": m["total_ms"], "status": m["status"], "stages": {s["name"]: s["ms"] for s in m["stages"]}}
            if grabcut:
                rgb = normalize(Path(p), executor.settings).image
                t0 = time.perf_counter()
                baseline_mask(rgb)
                item["grabcut_ms"] = round((time.perf_counter() - t0) * 1000.0, 1)
            out.append(item)
    import pipeline

    return {"items": out, "pipeline": str(Path(pipeline.__file__).parent),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def against(folder: Path, other: Path, rounds: int) -> dict:
    """This checkout against ``other`` on the white photos of ``folder``, alternating, ``rounds`` each."""
    paths = [str(c.path) for c in load_cases(folder) if c.label == "white"]
    if not paths:
        raise SystemExit(f"No photo in {folder} is labelled white in its labels.csv.")
    trees = {"this": str(Path(__file__).resolve().parent.parent), "against": str(other.resolve())}
    runs: dict[str, list[dict]] = {k: [] for k in trees}
    ctx = mp.get_context("spawn")
    for r in range(rounds):
        order = list(trees) if r % 2 == 0 else list(trees)[::-1]
        for key in order:
            with ctx.Pool(1) as pool:  # a fresh process per round: the peak RSS is this code's alone
                runs[key].append(pool.apply(_white_worker, (trees[key], paths, r == 0)))
            print(f"round {r + 1}/{rounds} {key}: {runs[key][-1]['pipeline']}", flush=True)
    grabcut = [it["grabcut_ms"] for key in runs for run_ in runs[key] for it in run_["items"] if "grabcut_ms" in it]
    grabcut_median = float(np.median(grabcut))
    out = {"images": len(paths), "rounds": rounds, "grabcut_ms": summarize(grabcut)}
    for key, tree in trees.items():
        per_image = list(zip(*[run_["items"] for run_ in runs[key]]))  # one tuple of rounds per photo
        ok = [reps for reps in per_image if all(it["status"] == "ok" for it in reps)]
        total = [float(np.median([it["total_ms"] for it in reps])) for reps in ok]
        stages = {s: summarize([float(np.median([it["stages"][s] for it in reps])) for reps in ok]) for s in STAGES}
        end_to_end = summarize(total)
        out[key] = {"tree": tree, "end_to_end_ms": end_to_end, "stages_ms": stages,
                    "not_in_stages_ms": summarize([t - sum(np.median([it["stages"][s] for it in reps]) for s in STAGES)
                                                   for t, reps in zip(total, ok)]),
                    "ratio_to_grabcut": round(end_to_end["median"] / grabcut_median, 3),
                    "peak_rss_mb": max(run_["peak_rss_mb"] for run_ in runs[key][1:] or runs[key]),
                    "peak_rss_mb_with_grabcut": runs[key][0]["peak_rss_mb"], "failed": len(per_image) - len(ok)}
    return out


def against_markdown(name: str, folder: Path, data: dict) -> str:
    this, other = data["this"], data["against"]

    def row(label: str, a: dict, b: dict) -> list:
        return [label, b["median"], a["median"], round(a["median"] / b["median"], 3) if b["median"] else "-"]

    rows = [row(s, this["stages_ms"][s], other["stages_ms"][s]) for s in STAGES]
    rows.append(row("artefacts, events (outside the stages)", this["not_in_stages_ms"], other["not_in_stages_ms"]))
    rows.append(row("end to end", this["end_to_end_ms"], other["end_to_end_ms"]))
    return "\n".join([
        f"# Speed: {name}, this checkout against {other['tree']}", "",
        f"{data['images']} white photos from {folder}; {machine()['cpus']} CPUs; medians over photos of each photo's "
        f"median over {data['rounds']} alternating rounds (fresh processes). GrabCut step (full resolution, 5 "
        f"iterations, timed in each checkout's first round) median {data['grabcut_ms']['median']} ms.", "",
        markdown_table(["median ms", "against", "this", "this / against"], rows), "",
        markdown_table(["", "against", "this"], [
            ["end to end / GrabCut step", other["ratio_to_grabcut"], this["ratio_to_grabcut"]],
            ["peak RSS MB (rounds without GrabCut)", other["peak_rss_mb"], this["peak_rss_mb"]],
            ["peak RSS MB (first round, GrabCut in the process)", other["peak_rss_mb_with_grabcut"],
             this["peak_rss_mb_with_grabcut"]],
            ["failed photos", other["failed"], this["failed"]]]),
    ])


def plot(name: str, lat: dict, throughput: list[dict], scaling: list[dict]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    med = [lat["stages_ms"][s].get("median", 0) for s in STAGES]
    p95 = [lat["stages_ms"][s].get("p95", 0) for s in STAGES]
    x = np.arange(len(STAGES))
    axes[0].bar(x - 0.2, med, 0.4, label="median")
    axes[0].bar(x + 0.2, p95, 0.4, label="p95")
    axes[0].set_xticks(x, STAGES)
    axes[0].set_ylabel("ms")
    axes[0].set_title(f"Per stage (end-to-end median {lat['end_to_end_ms'].get('median', 0):.0f} ms)")
    axes[0].legend()
    axes[1].bar([str(t["workers"]) for t in throughput], [t["images_per_s"] for t in throughput], color="#4a7")
    axes[1].set_xlabel("worker processes")
    axes[1].set_ylabel("images / s")
    axes[1].set_title("Throughput")
    mps = [r["megapixels"] for r in scaling]
    axes[2].plot(mps, [r["end_to_end_ms"].get("median", 0) for r in scaling], "o-", label="end to end")
    for s in ("segment", "upscale"):
        axes[2].plot(mps, [r["stages_ms"].get(s) or 0 for r in scaling], ".--", label=s)
    axes[2].set_xlabel("input megapixels")
    axes[2].set_ylabel("ms (median)")
    axes[2].set_title("Cost against input size")
    axes[2].legend()
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.png"
    fig.savefig(path, dpi=90)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", type=Path)
    ap.add_argument("--name", default="speed")
    ap.add_argument("--quick", action="store_true", help="fewer images and repeats (a smoke run)")
    ap.add_argument("--against", type=Path, help="another checkout to time on the white photos against this one")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds per checkout with --against")
    args = ap.parse_args()
    folder = args.folder or default_folder()
    if args.against:
        data = {"name": args.name, "source": str(folder), "machine": machine(),
                **against(folder, args.against, args.rounds)}
        write_json(args.name, data)
        text = against_markdown(args.name, folder, data)
        (RESULTS / f"{args.name}.md").write_text(text)
        print(text)
        return
    paths = [str(c.path) for c in load_cases(folder)]
    if args.quick:
        paths = paths[:4]
    single = _pool_run(paths, 1)
    double = _pool_run(paths, 2)
    lat = latency(single["items"])
    scaling = size_scaling(1 if args.quick else 3)
    throughput = [{k: v for k, v in r.items() if k != "items"} for r in (single, double)]
    data = {"name": args.name, "source": str(folder), "images": len(paths), "machine": machine(),
            "latency": lat, "peak_rss_mb": single["peak_rss_mb"], "throughput": throughput, "size_scaling": scaling}
    write_json(args.name, data)
    png = plot(args.name, lat, throughput, scaling)
    rows = [["end to end"] + [lat["end_to_end_ms"].get(k) for k in ("median", "p95")]]
    rows += [[s] + [lat["stages_ms"][s].get(k) for k in ("median", "p95")] for s in STAGES]
    md = [f"# Speed: {args.name}", "", f"{len(paths)} photos from {folder}; {machine()['cpus']} CPUs. "
          f"Peak memory (1 worker): {single['peak_rss_mb']:.0f} MB.", "",
          markdown_table(["stage", "median ms", "p95 ms"], rows), "",
          markdown_table(["workers", "images/s", "peak RSS MB"],
                         [[t["workers"], t["images_per_s"], t["peak_rss_mb"]] for t in throughput]), "",
          markdown_table(["input MP", "size", "end-to-end median ms", "segment ms", "upscale ms", "peak RSS MB"],
                         [[r["megapixels"], f"{r['size'][0]}x{r['size'][1]}", r["end_to_end_ms"].get("median"),
                           r["stages_ms"].get("segment"), r["stages_ms"].get("upscale"), r["peak_rss_mb"]]
                          for r in scaling]), "", f"Plots: {png}"]
    text = "\n".join(md)
    (RESULTS / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
