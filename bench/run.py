"""Speed and memory: end-to-end and per-stage latency, peak memory, and how cost grows with image size (generated
0.5-8 MP photos). ``make bench`` runs this, then bench/quality.py.

    python bench/run.py [FOLDER] [--name NAME] [--quick] [--against TREE [--rounds N]]

FOLDER defaults to ../shared/samples/seed when it exists, else the bundled samples. Each measurement runs the real
CLI path (``pipeline.contract.process``: pipeline plus artefact writes) in fresh worker processes. Writes
``bench/results/<name>.json``, ``<name>.md`` and ``<name>.png`` (plots).

``--against TREE`` times the white photos only, with this checkout and another one (e.g. ``git worktree add
/tmp/before main``), one process each taking turns photo by photo, N rounds, and the old service's GrabCut mask step
(full resolution, 5 iterations) in the same run: per-stage and end-to-end medians, the ratio to GrabCut (issue 14's
speed figure) and peak RSS, for both. Writes ``<name>.json``, ``<name>.md`` and ``<name>.png``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (RESULTS, default_folder, load_cases, machine, markdown_table, peak_rss_mb,  # noqa: E402
                          summarize, write_json)

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
        warm = process(Job(source=Path(paths[0]), name="warm-up"), storage, executor)  # JIT and caches, not measured
        del warm
        t0 = time.perf_counter()
        for i, p in enumerate(paths):
            out.append(_timings(process(Job(source=Path(p), name=f"img{i}"), storage, executor)))
        wall = time.perf_counter() - t0
    return {"items": out, "wall_s": wall, "peak_rss_mb": peak_rss_mb()}


def _timings(manifest: dict) -> dict:
    """What the benches keep of a run's manifest: its status, total and per-stage milliseconds."""
    return {"total_ms": manifest["total_ms"], "status": manifest["status"],
            "stages": {s["name"]: s["ms"] for s in manifest["stages"]}}


def _in_fresh_process(paths: list[str]) -> dict:
    """``_worker`` in a new process (no caches or imports left over from this one)."""
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_worker, (paths,))


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
            res = _in_fresh_process(paths)
            lat = latency(res["items"])
            rows.append({"megapixels": mp_, "size": [w, h], "end_to_end_ms": lat["end_to_end_ms"],
                         "stages_ms": {k: v.get("median") for k, v in lat["stages_ms"].items()},
                         "peak_rss_mb": res["peak_rss_mb"]})
    return rows


_PIPELINE: dict = {}  # in each --against worker process: its checkout's process() with executor and storage


def _open_checkout(tree: str, out_dir: str, warm_up: str) -> None:
    """Worker initializer: import the pipeline of the checkout at ``tree`` and run one photo (JIT, caches)."""
    sys.path.insert(0, tree)
    from pipeline.contract import process
    from pipeline.runner import InProcessExecutor, Job
    from pipeline.storage import LocalStorage

    _PIPELINE.update(process=process, job=Job, executor=InProcessExecutor(), storage=LocalStorage(out_dir))
    _one_photo(warm_up, "warm-up")


def _one_photo(path: str, name: str) -> dict:
    job = _PIPELINE["job"](source=Path(path), name=name)
    return _timings(_PIPELINE["process"](job, _PIPELINE["storage"], _PIPELINE["executor"]))


def _grabcut_ms(path: str) -> float:
    """The old service's mask step on this checkout's normalized image."""
    from bench.common import baseline_mask
    from pipeline.normalize import normalize

    rgb = normalize(Path(path)).image
    t0 = time.perf_counter()
    baseline_mask(rgb)
    return round((time.perf_counter() - t0) * 1000.0, 1)


def _checkout_peak() -> dict:
    """Which checkout's pipeline this worker ran, and its peak memory."""
    import pipeline

    return {"pipeline": str(Path(pipeline.__file__).parent), "peak_rss_mb": peak_rss_mb()}


def against(folder: Path, other: Path, rounds: int) -> dict:
    """This checkout against ``other`` on the white photos of ``folder``: one worker process per checkout, photo by
    photo in alternating order (both see the machine's load of the same moment), ``rounds`` times; a third process
    times the GrabCut step on each photo in the first round."""
    paths = [str(c.path) for c in load_cases(folder) if c.label == "white"]
    if not paths:
        raise SystemExit(f"No photo in {folder} is labelled white in its labels.csv.")
    trees = {"this": str(Path(__file__).resolve().parent.parent), "against": str(other.resolve())}
    ctx = mp.get_context("spawn")
    items: dict[str, list[list[dict]]] = {k: [[] for _ in paths] for k in trees}
    grabcut: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        pools = {k: ctx.Pool(1, _open_checkout, (tree, f"{tmp}/{k}", paths[0])) for k, tree in trees.items()}
        pools["grabcut"] = ctx.Pool(1, _open_checkout, (trees["this"], f"{tmp}/grabcut", paths[0]))
        try:
            for r in range(rounds):
                for i, path in enumerate(paths):
                    for k in (list(trees) if (r + i) % 2 == 0 else list(trees)[::-1]):
                        items[k][i].append(pools[k].apply(_one_photo, (path, f"img{i}")))
                    if r == 0:
                        grabcut.append(pools["grabcut"].apply(_grabcut_ms, (path,)))
                print(f"round {r + 1}/{rounds} done", flush=True)
            rss = {k: pools[k].apply(_checkout_peak) for k in trees}
        finally:
            for pool in pools.values():
                pool.terminate()
    grabcut_median = float(np.median(grabcut))
    out = {"images": len(paths), "rounds": rounds, "grabcut_ms": summarize(grabcut)}
    for key, tree in trees.items():
        ok = [reps for reps in items[key] if all(it["status"] == "ok" for it in reps)]
        total = [float(np.median([it["total_ms"] for it in reps])) for reps in ok]
        # A photo kept as a scene has no compose stage: 0 ms there.
        per_stage = [{s: float(np.median([it["stages"].get(s, 0.0) for it in reps])) for s in STAGES} for reps in ok]
        in_stages = [sum(m.values()) for m in per_stage]
        end_to_end, stages_only = summarize(total), summarize(in_stages)
        out[key] = {"tree": tree, "pipeline": rss[key]["pipeline"], "end_to_end_ms": end_to_end,
                    "stages_ms": {s: summarize([m[s] for m in per_stage]) for s in STAGES},
                    "not_in_stages_ms": summarize([t - i for t, i in zip(total, in_stages)]),
                    "ratio_to_grabcut": round(end_to_end["median"] / grabcut_median, 3),
                    "stages_only_ms": stages_only,
                    "stages_only_ratio_to_grabcut": round(stages_only["median"] / grabcut_median, 3),
                    "peak_rss_mb": rss[key]["peak_rss_mb"], "failed": len(paths) - len(ok)}
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
        f"median over {data['rounds']} rounds, the two checkouts taking turns photo by photo. GrabCut step (full "
        f"resolution, 5 iterations) median {data['grabcut_ms']['median']} ms on the same photos in the same run.", "",
        markdown_table(["median ms", "against", "this", "this / against"], rows), "",
        markdown_table(["", "against", "this"], [
            ["end to end / GrabCut step", other["ratio_to_grabcut"], this["ratio_to_grabcut"]],
            ["stages only (no artefact writes, as bench/quality.py times it) / GrabCut step",
             other["stages_only_ratio_to_grabcut"], this["stages_only_ratio_to_grabcut"]],
            ["peak RSS MB (the worker process, all rounds)", other["peak_rss_mb"], this["peak_rss_mb"]],
            ["failed photos", other["failed"], this["failed"]]]),
    ])


def against_plot(name: str, data: dict) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [*STAGES, "outside stages", "end to end"]
    fig, ax = plt.subplots(figsize=(10, 4.2))
    x = np.arange(len(labels))
    for i, key in enumerate(("against", "this")):
        d = data[key]
        med = [d["stages_ms"][s]["median"] for s in STAGES] + [d["not_in_stages_ms"]["median"],
                                                                d["end_to_end_ms"]["median"]]
        ax.bar(x + (i - 0.5) * 0.4, med, 0.4, label=f"{key} ({d['ratio_to_grabcut']}x GrabCut)")
    ax.axhline(data["grabcut_ms"]["median"] * 0.25, color="#a33", ls="--", lw=1, label="0.25x the GrabCut step")
    ax.set_xticks(x, labels)
    ax.set_ylabel("median ms per white photo")
    ax.set_title(f"{name}: this checkout against {data['against']['tree']}")
    ax.legend()
    fig.tight_layout()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.png"
    fig.savefig(path, dpi=90)
    return path


def plot(name: str, lat: dict, scaling: list[dict]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    med = [lat["stages_ms"][s].get("median", 0) for s in STAGES]
    p95 = [lat["stages_ms"][s].get("p95", 0) for s in STAGES]
    x = np.arange(len(STAGES))
    axes[0].bar(x - 0.2, med, 0.4, label="median")
    axes[0].bar(x + 0.2, p95, 0.4, label="p95")
    axes[0].set_xticks(x, STAGES)
    axes[0].set_ylabel("ms")
    axes[0].set_title(f"Per stage (end-to-end median {lat['end_to_end_ms'].get('median', 0):.0f} ms)")
    axes[0].legend()
    mps = [r["megapixels"] for r in scaling]
    axes[1].plot(mps, [r["end_to_end_ms"].get("median", 0) for r in scaling], "o-", label="end to end")
    for s in ("segment", "upscale"):
        axes[1].plot(mps, [r["stages_ms"].get(s) or 0 for r in scaling], ".--", label=s)
    axes[1].set_xlabel("input megapixels")
    axes[1].set_ylabel("ms (median)")
    axes[1].set_title("Cost against input size")
    axes[1].legend()
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
        text = against_markdown(args.name, folder, data) + f"\n\nPlot: {against_plot(args.name, data)}"
        (RESULTS / f"{args.name}.md").write_text(text)
        print(text)
        return
    paths = [str(c.path) for c in load_cases(folder)]
    if args.quick:
        paths = paths[:4]
    single = _in_fresh_process(paths)
    lat = latency(single["items"])
    scaling = size_scaling(1 if args.quick else 3)
    data = {"name": args.name, "source": str(folder), "images": len(paths), "machine": machine(),
            "latency": lat, "peak_rss_mb": round(single["peak_rss_mb"], 1), "size_scaling": scaling}
    write_json(args.name, data)
    png = plot(args.name, lat, scaling)
    rows = [["end to end"] + [lat["end_to_end_ms"].get(k) for k in ("median", "p95")]]
    rows += [[s] + [lat["stages_ms"][s].get(k) for k in ("median", "p95")] for s in STAGES]
    md = [f"# Speed: {args.name}", "", f"{len(paths)} photos from {folder}; {machine()['cpus']} CPUs. "
          f"Peak memory: {single['peak_rss_mb']:.0f} MB. Throughput with N worker processes: "
          "`bench/workers.py`.", "",
          markdown_table(["stage", "median ms", "p95 ms"], rows), "",
          markdown_table(["input MP", "size", "end-to-end median ms", "segment ms", "upscale ms", "peak RSS MB"],
                         [[r["megapixels"], f"{r['size'][0]}x{r['size'][1]}", r["end_to_end_ms"].get("median"),
                           r["stages_ms"].get("segment"), r["stages_ms"].get("upscale"), r["peak_rss_mb"]]
                          for r in scaling]), "", f"Plots: {png}"]
    text = "\n".join(md)
    (RESULTS / f"{args.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
