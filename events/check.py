"""`bgflow check IMAGES... --marketplace NAME`: each image against a marketplace's rules, a table per image (measured
value, limit, result, what to fix) and optionally the same as JSON; `--fix --out DIR` remakes the failing images with
the marketplace's preset and checks the results again. Exit 0 when every image passes, 1 when any fails, 2 on a
usage error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from pipeline.compliance import marketplaces

STATUS_STYLE = {"pass": "[green]pass[/green]", "fail": "[red]FAIL[/red]", "warn": "[yellow]warn[/yellow]",
                "unmeasured": "[dim]n/a[/dim]"}


def check_cmd(
    images: Annotated[list[Path], typer.Argument(help="Image files or folders of images.")],
    marketplace: Annotated[Optional[str], typer.Option(
        "--marketplace", "-m", help=" | ".join(marketplaces()))] = None,
    rules_file: Annotated[Optional[Path], typer.Option(
        "--rules", help="Your own rules file (the bundled JSON format) instead of a bundled marketplace.")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the report as JSON to this file.")] = None,
    fix: Annotated[bool, typer.Option(help="Remake the failing images with the marketplace's preset, then check "
                                           "them again (needs --out).")] = False,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output folder for --fix (the run contract).")] = None,
) -> None:
    """Check product images against a marketplace's image rules (and fix the failing ones with --fix)."""
    from events.batch import collect_inputs
    from pipeline.compliance import check_image, load_rules, load_rules_file
    from pipeline.errors import BgflowError

    console, errors = Console(), Console(stderr=True, soft_wrap=True)
    try:
        if (marketplace is None) == (rules_file is None):
            raise typer.BadParameter("give exactly one of --marketplace NAME or --rules FILE")
        if fix and out is None:
            raise typer.BadParameter("--fix needs --out DIR for the remade images")
        rules = load_rules(marketplace) if marketplace else load_rules_file(rules_file)
        files = collect_inputs(images)
        missing = [str(f) for f in files if not f.is_file()]
        if missing or not files:
            raise typer.BadParameter(f"no such image file: {', '.join(missing)}" if missing else "no images found")
    except BgflowError as exc:
        errors.print(f"[red]error[/red] {exc.code}: {exc.message}")
        raise typer.Exit(2)
    except typer.BadParameter as exc:
        errors.print(f"[red]error[/red] usage: {exc}")
        raise typer.Exit(2)

    reports = []
    for path in files:
        report = check_image(path.read_bytes(), rules, name=str(path), product=run_mask_for(path))
        reports.append(report)
        show(console, report)
    fixed: list[dict[str, Any]] = []
    if fix:
        failing = [p for p, r in zip(files, reports) if not r.passed]
        fixed = fix_images(failing, rules, out, console)
    ok = all(r.passed for r in reports) if not fix else all(
        r.passed or any(f["input"] == r.image and f["passed"] for f in fixed) for r in reports)
    summary = {"marketplace": rules.marketplace, "rules": str(rules_file) if rules_file else marketplace,
               "passed": ok, "images": [r.to_dict() for r in reports], "fixed": fixed}
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(summary, indent=2))
    n_pass = sum(r.passed for r in reports)
    console.print("[dim](rec.) recommended: a warning, not a failure; * figure not confirmed in the marketplace's own "
                  "documents (see the rules file)[/dim]")
    console.print(f"{n_pass}/{len(reports)} images pass {rules.title}"
                  + (f"; {sum(f['passed'] for f in fixed)}/{len(fixed)} failing ones fixed -> {out}" if fix else ""))
    raise typer.Exit(0 if ok else 1)


def run_mask_for(final: Path):
    """Where the product is in a final image bgflow made: the run's own mask (``mask.png`` beside it) placed as its
    ``manifest.json`` records; None for any other image (the check's segmentation finds the product then)."""
    import cv2
    from PIL import Image

    from pipeline.compliance import placed_mask

    manifest_path, mask_path = final.parent / "manifest.json", final.parent / "mask.png"
    if not (manifest_path.is_file() and mask_path.is_file()):
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
        variant = next(v for v in manifest.get("variants", []) if v.get("file") == final.name)
        if variant.get("action") != "processed":
            return None
        scale, offset = float(variant["placement"]["scale"]), tuple(map(float, variant["placement"]["offset"]))
        with Image.open(final) as im:
            size = im.size
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return None
    mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
    return None if mask is None else placed_mask(mask, scale, offset, size)


def show(console: Console, report) -> None:
    verdict = "[green]passes[/green]" if report.passed else "[red]fails[/red]"
    table = Table(title=f"{report.image}: {verdict} {report.marketplace} [dim](product from the "
                        f"{report.product_source})[/dim]", title_justify="left")
    table.add_column("rule", no_wrap=True)
    for col in ("measured", "limit", "result", "what to fix"):
        table.add_column(col, overflow="fold")
    for r in report.results:
        rule = r.rule + ("" if r.level == "required" else " [dim](rec.)[/dim]") + ("" if r.confirmed else " [dim]*[/dim]")
        table.add_row(rule, _text(r.measured), r.limit, STATUS_STYLE[r.status], r.fix or "")
    console.print(table)
    if report.error:
        console.print(f"  [red]{report.error['code']}[/red]: {report.error['message']}")


def _text(value: Any) -> str:
    """Shares as percentages, names without underscores."""
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')} {v:.1%}" if isinstance(v, float) and v <= 1 else
                         f"{k.replace('_', ' ')} {v}" for k, v in value.items())
    return str(value)


def run_options_for(rules):
    """Run options that make images for ``rules``: its marketplace's preset, derived from the rules (a user's file
    registers its preset for this process)."""
    from pipeline.options import PRESETS, RunOptions, marketplace_preset, register_preset

    if rules.marketplace not in PRESETS or PRESETS[rules.marketplace] != marketplace_preset(rules):
        register_preset(marketplace_preset(rules))
    return RunOptions(preset=rules.marketplace)


def fix_images(paths: list[Path], rules, out: Path, console: Console) -> list[dict[str, Any]]:
    """Run the pipeline with the marketplace's preset on ``paths`` (through the intake, like ``bgflow run``) into
    ``out``; check each result against the same rules."""
    from events.batch import run_batch
    from events.settings import get_settings
    from pipeline.compliance import check_image

    options = run_options_for(rules)
    rows = run_batch(paths, out, options, get_settings(), workers=1)
    results = []
    for path, row in zip(paths, rows):
        item: dict[str, Any] = {"input": str(path), "name": row["name"], "status": row["status"],
                                "action": row["action"], "error": row["error"], "passed": False, "output": None,
                                "report": None}
        finals = [f for f in row["files"] if f.startswith("final")]
        if row["status"] == "ok" and finals:
            final = out / row["name"] / finals[0]
            report = check_image(final.read_bytes(), rules, name=str(final), product=run_mask_for(final))
            item |= {"output": str(final), "passed": report.passed, "report": report.to_dict()}
            show(console, report)
        elif row["action"] == "skipped":
            item["error"] = {"code": "scene_skipped", "message": "A room or lifestyle photo is not made into a main "
                             "image on white automatically (its cut-out is not reliable enough); use a studio photo "
                             "of the product, or bgflow run --on-scene process to try."}
            console.print(f"[yellow]not fixed[/yellow] {path}: {item['error']['message']}")
        else:
            console.print(f"[red]not fixed[/red] {path}: {row['error']}")
        results.append(item)
    return results
