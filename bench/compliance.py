"""Marketplace compliance: how the seed photos fare against each marketplace's rules as they are, and after bgflow
made them with that marketplace's preset (the "passes by construction" claim on real photos); and what one check
costs by image size.

    python bench/compliance.py [FOLDER] [--marketplaces amazon,ebay,...] [--name NAME]

Writes ``bench/results/<name>.json`` and ``<name>.md``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, default_folder, load_cases, machine, markdown_table, summarize, write_json  # noqa: E402

SIDES = (1000, 2000, 4000)


def check_cost(repeats: int = 3) -> list[dict]:
    from pipeline.compliance import check_image, load_rules
    from tests.listing_images import encode, listing_photo

    rules = load_rules("amazon")
    rows = []
    for side in SIDES:
        data = encode(listing_photo((side, side), shadow=True))
        check_image(data, rules)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            check_image(data, rules)
            times.append((time.perf_counter() - t0) * 1000)
        rows.append({"side": side, "ms": summarize(times)})
    return rows


def seed_compliance(folder: Path, names: list[str]) -> dict:
    from events.check import run_mask_for
    from pipeline.compliance import check_image, load_rules
    from pipeline.contract import process
    from pipeline.options import RunOptions
    from pipeline.runner import InProcessExecutor, Job
    from pipeline.storage import LocalStorage

    cases = load_cases(folder)
    executor = InProcessExecutor()
    out: dict = {}
    for name in names:
        rules = load_rules(name)
        before = Counter()
        after = Counter()
        failures: list[dict] = []
        with tempfile.TemporaryDirectory() as tmp:
            storage = LocalStorage(tmp)
            for case in cases:
                report = check_image(case.path.read_bytes(), rules)
                before["pass" if report.passed else "fail"] += 1
                manifest = process(Job(source=case.path, name=case.name, options=RunOptions(preset=name)), storage,
                                   executor)
                finals = [v["file"] for v in manifest["variants"]]
                if manifest["status"] != "ok":
                    after["failed run"] += 1
                elif not finals:
                    after[manifest["action"]] += 1  # skipped scene photos
                else:
                    final = Path(tmp) / case.name / finals[0]
                    made = check_image(final.read_bytes(), rules)  # the product found by segmentation alone
                    after["pass" if made.passed else "fail"] += 1
                    with_mask = check_image(final.read_bytes(), rules, product=run_mask_for(final))
                    after["pass_run_mask" if with_mask.passed else "fail_run_mask"] += 1
                    if not (made.passed and with_mask.passed):
                        failures.append({"input": case.name, "failed": made.failed,
                                         "failed_with_run_mask": with_mask.failed})
        out[name] = {"originals": dict(before), "made_with_preset": dict(after), "failures": failures}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", nargs="?", type=Path, default=default_folder())
    parser.add_argument("--marketplaces", default="amazon,ebay,etsy,shopify,google")
    parser.add_argument("--name", default="compliance")
    args = parser.parse_args()
    cost = check_cost()
    seed = seed_compliance(args.folder, args.marketplaces.split(","))
    data = {"machine": machine(), "folder": str(args.folder), "check_cost": cost, "seed": seed}
    write_json(args.name, data)
    rows = [[m, s["originals"].get("pass", 0), s["originals"].get("fail", 0), s["made_with_preset"].get("pass", 0),
             s["made_with_preset"].get("fail", 0), s["made_with_preset"].get("pass_run_mask", 0),
             s["made_with_preset"].get("fail_run_mask", 0), s["made_with_preset"].get("skipped", 0)]
            for m, s in seed.items()]
    md = ["# Marketplace compliance", "", f"{args.folder}, {machine()['when']}", "",
          markdown_table(["marketplace", "originals pass", "originals fail", "made with preset: pass (segmenter)",
                          "fail (segmenter)", "pass (run mask)", "fail (run mask)", "skipped (scene)"], rows), "",
          markdown_table(["image side", "check ms (median)", "p95"],
                         [[c["side"], c["ms"]["median"], c["ms"]["p95"]] for c in cost])]
    (RESULTS / f"{args.name}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
