"""Quality on a folder of photos, side by side with the old service's classical method.

    python bench/quality.py [FOLDER] [--name NAME] [--generated | --hard [--seed N]] [--every N] [--only TEXT]
                            [--style dark] [--save] [--no-baseline]

FOLDER has ``images/`` (or the images themselves), optional ``masks/`` (255 = product) and ``labels.csv``
(file, background[, product, backdrop]). ``--generated`` evaluates the basic generated ground-truth set, ``--hard`` the
hard one (thin parts, meshes, holes, rings, glass, white-on-white; white, off-white, pastel and gradient backdrops);
``--seed N`` draws another set of the same kinds (seed 0 is the one the segmenter is developed on; another seed is
held out: it tells whether a rule holds beyond the cases it was tuned on).
Reports background kind accuracy, mask IoU and boundary F-score (where masks exist), product fidelity (dE inside the
product), per case, per product category, per backdrop and overall, and the time per image against the old service's
mask step (GrabCut at full resolution, 5 iterations) timed in the same run; writes ``bench/results/<name>.json``,
``<name>.md``, a contact sheet ``<name>_sheet.png`` (input, mask overlay, final; worst IoU first), bar charts per
category and backdrop ``<name>_plot.png`` and ``<name>.html``.
``--save`` also writes each case's mask and final to ``bench/results/<name>/``.
"""

from __future__ import annotations

import argparse
import html
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (RESULTS, Case, baseline_is_white, baseline_mask, boundary_f, default_folder, iou,  # noqa: E402
                          kind_matches, load_cases, machine, markdown_table, peak_rss_mb, summarize, write_json)
from pipeline.errors import BgflowError  # noqa: E402
from pipeline.runner import InProcessExecutor, Job, RunOptions, run  # noqa: E402

THUMB = 220


def evaluate_case(case: Case, executor: InProcessExecutor, with_baseline: bool = True, style: str | None = None,
                  save: Path | None = None) -> tuple[dict, np.ndarray | None]:
    row: dict = {"name": case.name, "label": case.label, "category": case.category, "backdrop": case.backdrop}
    t0 = time.perf_counter()
    try:
        options = RunOptions(on_scene="process", style=style, variants=1)
        events = {e.stage: e for e in run(Job(source=case.path, name=case.name, options=options), executor)}
    except BgflowError as exc:
        row.update(status="failed", error=exc.code)
        return row, None
    row["ours_ms"] = round((time.perf_counter() - t0) * 1000, 1)
    norm_img = events["normalize"].images["normalized"]
    kind = events["normalize"].payload["background_kind"]
    alpha = events["segment"].images["mask"] >= 128
    final = events["upscale"].images["final"]
    row.update(status="ok", kind=kind, kind_ok=kind_matches(kind, case.label),
               delta_e_mean=events["upscale"].payload["output"]["fidelity"]["delta_e_mean"])
    gt = None
    if case.mask is not None:
        gt = np.asarray(Image.open(case.mask).convert("L"))
        gt = cv2.resize(gt, (alpha.shape[1], alpha.shape[0]), interpolation=cv2.INTER_NEAREST) >= 128
        row.update(iou=round(iou(alpha, gt), 4), boundary_f=round(boundary_f(alpha, gt), 4))
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        Image.fromarray(events["segment"].images["mask"]).save(save / f"{case.name}_mask.png")
        Image.fromarray(final).save(save / f"{case.name}_final.jpg", quality=90)
    if with_baseline:
        white = baseline_is_white(norm_img)
        t0 = time.perf_counter()
        base = baseline_mask(norm_img)
        row["baseline_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        base_kind = "white" if white else "scene"  # the old service knew white or not
        row.update(baseline_kind=base_kind, baseline_kind_ok=kind_matches(base_kind, case.label))
        if gt is not None:
            row.update(baseline_iou=round(iou(base, gt), 4), baseline_boundary_f=round(boundary_f(base, gt), 4))
    return row, _sheet_row(norm_img, alpha, final, case.name, row)


def _thumb(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    s = THUMB / max(h, w)
    small = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    cell = np.full((THUMB, THUMB, 3), 96, np.uint8)
    cell[: small.shape[0], : small.shape[1]] = small
    return cell


def _sheet_row(norm_img: np.ndarray, alpha: np.ndarray, final: np.ndarray, name: str, row: dict) -> np.ndarray:
    overlay = norm_img.astype(np.float32)
    overlay[~alpha] = overlay[~alpha] * 0.35 + np.array([255, 0, 90], np.float32) * 0.65  # background tinted
    cells = [_thumb(norm_img), _thumb(overlay.astype(np.uint8)), _thumb(final)]
    strip = np.hstack(cells)
    label = f"{name} {row.get('kind', '')}" + (f" IoU {row['iou']:.3f}" if "iou" in row else "")
    cv2.putText(strip, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1, cv2.LINE_AA)
    return strip


def _group(rows: list[dict], key: str) -> dict[str, dict]:
    """Mean IoU, boundary F, background kind accuracy and fidelity per value of ``key`` (category, backdrop)."""
    out: dict[str, dict] = {}
    for value in sorted({r[key] for r in rows if r.get(key)}):
        sub = [r for r in rows if r.get(key) == value]
        ok = [r for r in sub if r["status"] == "ok"]
        entry: dict = {"n": len(sub), "ok": len(ok)}
        for metric in ("iou", "boundary_f", "delta_e_mean", "baseline_iou"):
            vals = [r[metric] for r in ok if metric in r]
            if vals:
                entry[metric] = round(float(np.mean(vals)), 4)
                if metric == "iou":
                    entry["iou_min"] = round(float(np.min(vals)), 4)
        kinds = [r["kind_ok"] for r in ok if r.get("kind_ok") is not None]
        if kinds:
            entry["kind_accuracy"] = round(sum(kinds) / len(kinds), 4)
        out[value] = entry
    return out


def aggregate(rows: list[dict]) -> dict:
    ok = [r for r in rows if r["status"] == "ok"]
    out: dict = {"cases": len(rows), "ok": len(ok)}
    for key in ("kind_ok", "baseline_kind_ok"):
        vals = [r[key] for r in ok if r.get(key) is not None]
        if vals:
            out[key.replace("_ok", "_accuracy")] = round(sum(vals) / len(vals), 4)
    for key in ("iou", "boundary_f", "baseline_iou", "baseline_boundary_f", "delta_e_mean", "ours_ms", "baseline_ms"):
        vals = [r[key] for r in ok if key in r]
        if vals:
            out[key] = summarize(vals)
    by_label: dict[str, dict] = {}
    for label in sorted({r["label"] for r in ok if r.get("label")}):
        sub = [r for r in ok if r.get("label") == label]
        entry = {"n": len(sub)}
        for key in ("iou", "baseline_iou"):
            vals = [r[key] for r in sub if key in r]
            if vals:
                entry[key] = round(float(np.mean(vals)), 4)
        by_label[label] = entry
    out["by_label"] = by_label
    out["by_category"] = _group(rows, "category")
    out["by_backdrop"] = _group(rows, "backdrop")
    white = [r for r in ok if r.get("label") == "white" and "baseline_ms" in r]
    if white:  # the speed figure: our whole pipeline against the old mask step alone, white photos
        ours, theirs = np.median([r["ours_ms"] for r in white]), np.median([r["baseline_ms"] for r in white])
        out["white_speed"] = {"n": len(white), "ours_median_ms": round(float(ours), 1),
                              "baseline_mask_median_ms": round(float(theirs), 1),
                              "ours_over_baseline": round(float(ours / max(1e-9, theirs)), 3)}
    out["peak_rss_mb"] = peak_rss_mb()
    ratios = {}
    if "iou" in out and "baseline_iou" in out:
        ratios["iou"] = round(out["iou"]["mean"] / max(1e-9, out["baseline_iou"]["mean"]), 3)
    if "kind_accuracy" in out and "baseline_kind_accuracy" in out:
        ratios["kind_accuracy"] = round(out["kind_accuracy"] / max(1e-9, out["baseline_kind_accuracy"]), 3)
    if "ours_ms" in out and "baseline_ms" in out:
        ratios["speed (baseline ms / ours ms)"] = round(out["baseline_ms"]["median"] / out["ours_ms"]["median"], 3)
    out["ratios_vs_baseline"] = ratios
    return out


def report(name: str, source: str, rows: list[dict], overall: dict, sheet: np.ndarray | None) -> str:
    headers = ["metric", "bgflow", "baseline (old service)", "ratio"]
    table = []
    if "kind_accuracy" in overall:
        table.append(["background kind accuracy", overall["kind_accuracy"], overall.get("baseline_kind_accuracy", "-"),
                      overall["ratios_vs_baseline"].get("kind_accuracy", "-")])
    base = lambda key: overall[key]["mean"] if key in overall else "-"  # noqa: E731  (absent with --no-baseline)
    ratio = overall["ratios_vs_baseline"]
    if "iou" in overall:
        table.append(["mask IoU (mean)", overall["iou"]["mean"], base("baseline_iou"), ratio.get("iou", "-")])
        bf = overall.get("baseline_boundary_f")
        table.append(["boundary F (mean)", overall["boundary_f"]["mean"], base("baseline_boundary_f"),
                      round(overall["boundary_f"]["mean"] / max(1e-9, bf["mean"]), 3) if bf else "-"])
    if "ours_ms" in overall:
        table.append(["time per image, median ms (ours: whole pipeline; baseline: GrabCut mask step)",
                      overall["ours_ms"]["median"], overall["baseline_ms"]["median"] if "baseline_ms" in overall else "-",
                      ratio.get("speed (baseline ms / ours ms)", "-")])
    if "delta_e_mean" in overall:
        table.append(["product fidelity dE (mean of means / max)",
                      f"{overall['delta_e_mean']['mean']:.4f} / {overall['delta_e_mean']['max']:.4f}", "-", "-"])
    md = [f"# Quality: {name}", "", f"Source: {source}, {overall['ok']}/{overall['cases']} processed.", "",
          markdown_table(headers, table), ""]
    if "white_speed" in overall:
        ws = overall["white_speed"]
        md += [f"White photos ({ws['n']}): median end to end {ws['ours_median_ms']} ms against the old mask step's "
               f"{ws['baseline_mask_median_ms']} ms: {ws['ours_over_baseline']}x. Peak RSS {overall['peak_rss_mb']} MB.",
               ""]
    for key, title in (("by_category", "category"), ("by_backdrop", "backdrop")):
        if overall.get(key):
            md += [f"By {title}:", "", markdown_table(
                [title, "n", "ok", "IoU", "IoU min", "boundary F", "kind", "dE", "baseline IoU"],
                [[k, v["n"], v["ok"], v.get("iou", "-"), v.get("iou_min", "-"), v.get("boundary_f", "-"),
                  v.get("kind_accuracy", "-"), v.get("delta_e_mean", "-"), v.get("baseline_iou", "-")]
                 for k, v in overall[key].items()]), ""]
    if overall.get("by_label"):
        md += ["By label:", "", markdown_table(["label", "n", "IoU", "baseline IoU"],
               [[k, v["n"], v.get("iou", "-"), v.get("baseline_iou", "-")] for k, v in overall["by_label"].items()]), ""]
    text = "\n".join(md)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.md").write_text(text)
    if sheet is not None:
        Image.fromarray(sheet).save(RESULTS / f"{name}_sheet.png", optimize=False, compress_level=3)
    cells = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(r.get(k, '')))}</td>" for k in
                         ("name", "label", "kind", "iou", "baseline_iou", "boundary_f", "delta_e_mean", "ours_ms",
                          "baseline_ms", "status")) + "</tr>" for r in rows)
    (RESULTS / f"{name}.html").write_text(
        "<!doctype html><meta charset=utf-8><title>bgflow quality: " + html.escape(name) + "</title>"
        "<style>body{font:14px system-ui;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:2px 6px}img{max-width:100%}</style>"
        f"<h1>Quality: {html.escape(name)}</h1><pre>{html.escape(text)}</pre>"
        f"<p>Each row: input, mask (background tinted), final.</p><img src='{html.escape(name)}_sheet.png'>"
        "<h2>Per case</h2><table><tr><th>name</th><th>label</th><th>kind</th><th>IoU</th><th>baseline IoU</th>"
        "<th>boundary F</th><th>dE</th><th>ours ms</th><th>baseline ms</th><th>status</th></tr>" + cells + "</table>")
    return text


def bar_chart(groups: dict[str, dict], title: str, keys=("iou", "boundary_f", "kind_accuracy")) -> np.ndarray:
    """Horizontal bars, one row per group (category or backdrop), one bar per metric, 0.5-1.0 scale; RGB uint8."""
    colours = {"iou": (40, 110, 200), "boundary_f": (230, 140, 30), "kind_accuracy": (60, 160, 80)}
    row_h, left, width = 16 * len(keys) + 10, 150, 520
    img = np.full((40 + row_h * len(groups) + 30, left + width + 60, 3), 255, np.uint8)
    cv2.putText(img, title, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    x_of = lambda v: left + int(width * (min(max(v, 0.5), 1.0) - 0.5) / 0.5)  # noqa: E731
    for tick in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0):
        x = x_of(tick)
        cv2.line(img, (x, 34), (x, img.shape[0] - 24), (210, 210, 210) if tick != 0.95 else (200, 60, 60), 1)
        cv2.putText(img, f"{tick:.2f}", (x - 14, img.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1)
    for i, (name, entry) in enumerate(groups.items()):
        y0 = 40 + i * row_h
        cv2.putText(img, name[:20], (6, y0 + row_h // 2 + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        for j, key in enumerate(keys):
            if key not in entry:
                continue
            y = y0 + 4 + j * 16
            cv2.rectangle(img, (left, y), (x_of(entry[key]), y + 12), colours[key], -1)
            cv2.putText(img, f"{entry[key]:.3f}", (x_of(entry[key]) + 4, y + 10), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                        (0, 0, 0), 1)
    legend = "  ".join(k for k in keys)
    cv2.putText(img, legend, (left, 36), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (90, 90, 90), 1)
    return img


def evaluate(folder: Path, name: str, with_baseline: bool = True, sheet_rows: int = 60, every: int = 1,
             only: str | None = None, style: str | None = None, save: bool = False, source: str | None = None) -> dict:
    executor = InProcessExecutor()
    cases = [c for c in load_cases(folder) if only is None or only in c.name][::every]
    rows, strips = [], []
    for case in cases:
        row, strip = evaluate_case(case, executor, with_baseline, style, RESULTS / name if save else None)
        rows.append(row)
        if strip is not None:
            strips.append((row.get("iou", 1.0), len(strips), strip))
    strips = [s for _, _, s in sorted(strips)[:sheet_rows]]  # worst first
    overall = aggregate(rows)
    sheet = None
    if strips:
        pairs = [np.hstack(strips[i : i + 2]) if i + 1 < len(strips) else
                 np.hstack([strips[i], np.zeros_like(strips[i])]) for i in range(0, len(strips), 2)]
        sheet = np.vstack(pairs)
    text = report(name, source or str(folder), rows, overall, sheet)
    charts = [bar_chart(overall[k], f"{name}: by {k[3:]}") for k in ("by_category", "by_backdrop") if overall.get(k)]
    if charts:
        wide = max(c.shape[1] for c in charts)
        Image.fromarray(np.vstack([np.pad(c, ((0, 0), (0, wide - c.shape[1]), (0, 0)), constant_values=255)
                                   for c in charts])).save(RESULTS / f"{name}_plot.png")
    write_json(name, {"name": name, "source": source or str(folder), "machine": machine(), "overall": overall, "cases": rows})
    print(text)
    return overall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", type=Path)
    ap.add_argument("--name")
    ap.add_argument("--generated", action="store_true", help="evaluate the generated ground-truth set")
    ap.add_argument("--hard", action="store_true", help="evaluate the hard generated ground-truth set")
    ap.add_argument("--seed", type=int, default=0, help="draw of the generated set (0: the development set)")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--every", type=int, default=1, help="every N-th case only (a quick subset)")
    ap.add_argument("--only", help="only cases whose name contains this")
    ap.add_argument("--style", help="background style of the finals (dark shows mask errors)")
    ap.add_argument("--save", action="store_true", help="write each mask and final to bench/results/NAME/")
    args = ap.parse_args()
    kw = dict(every=args.every, only=args.only, style=args.style, save=args.save)
    if args.generated or args.hard:
        from pipeline.synthetic import hard_set, sample_set, write_set

        with tempfile.TemporaryDirectory() as tmp:
            write_set(Path(tmp), hard_set(args.seed) if args.hard else sample_set(args.seed))
            default = ("quality_hard" if args.hard else "quality_generated") + (f"_seed{args.seed}" if args.seed else "")
            source = f"the {'hard' if args.hard else 'basic'} generated set, seed {args.seed}"
            evaluate(Path(tmp), args.name or default, not args.no_baseline, source=source, **kw)
        return
    folder = args.folder or default_folder()
    evaluate(folder, args.name or f"quality_{folder.name}", not args.no_baseline, **kw)


if __name__ == "__main__":
    main()
