"""`bgflow run | serve ...`: the command line. The only place that prints."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from events.settings import get_settings
from pipeline.errors import BgflowError, InvalidOption
from pipeline.options import PRESETS, STYLE_CHOICES, RunOptions
from pipeline.storage import LocalStorage

app = typer.Typer(help="bgflow: product photos in, catalogue-ready images out.", no_args_is_help=True,
                  add_completion=False)
console = Console(stderr=True)


PRESET_HELP = " | ".join(PRESETS)
STYLE_HELP = " | ".join(STYLE_CHOICES)
FORMAT_HELP = "png | jpg | webp"


def _usage_error(exc: BgflowError) -> typer.Exit:
    console.print(f"[red]error[/red] {exc.code}: {escape(exc.message)}")
    return typer.Exit(2)


def _options(**chosen) -> RunOptions:
    """The run options from the command line, checked before any work (a bad one exits with code 2)."""
    try:
        options = RunOptions.parse({k: v for k, v in chosen.items() if v is not None})
        options.resolved(get_settings())
        return options
    except BgflowError as exc:
        raise _usage_error(exc) from None


@app.command("run")
def run_cmd(
    inputs: Annotated[list[Path], typer.Argument(help="Image files or folders of images.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (the run contract is written here).")],
    preset: Annotated[Optional[str], typer.Option(help=PRESET_HELP)] = None,
    style: Annotated[Optional[str], typer.Option(help=STYLE_HELP)] = None,
    size: Annotated[Optional[int], typer.Option(help="Long side of the final image in pixels (64-8192).")] = None,
    format: Annotated[Optional[str], typer.Option("--format", help=FORMAT_HELP)] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed for the generated background.")] = None,
    variants: Annotated[Optional[int], typer.Option(help="Number of background variants per photo (1-8).")] = None,
    on_scene: Annotated[Optional[str], typer.Option("--on-scene", help="keep (upscale only) | skip | process")] = None,
    prompt: Annotated[Optional[str], typer.Option(help="Override the background prompt (model backends).")] = None,
    describer: Annotated[Optional[str], typer.Option(help="heuristic | openai | auto")] = None,
    segmenter: Annotated[Optional[str], typer.Option(help="classical (default) or a model backend")] = None,
    background: Annotated[Optional[str], typer.Option(help="procedural (default) or a model backend")] = None,
    upscaler: Annotated[Optional[str], typer.Option(help="lanczos (default) or a model backend")] = None,
    orienter: Annotated[Optional[str], typer.Option(help="geometric (default) or a model backend")] = None,
    weights: Annotated[Optional[Path], typer.Option(help="Folder with model weights.")] = None,
    executor_name: Annotated[str, typer.Option("--executor", help="local (this machine) | modal (the deployed app)")
                             ] = "local",
    workers: Annotated[Optional[int], typer.Option(min=1, help="Images at once (default: the number of cores; "
                                                   "with --executor modal: 8 calls at once).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Skip inputs already done in OUT with the same options "
                                         "(their manifest says ok).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Process photos into catalogue images; writes DIR/<name>/{normalized,mask,final,manifest} and summary.json."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from pipeline.runner import InProcessExecutor

    from .batch import collect_inputs, default_workers, run_batch

    options = _options(preset=preset, style=style, size=size, format=format, seed=seed, variants=variants,
                       on_scene=on_scene, prompt=prompt)
    chosen = {"describer": describer, "segmenter": segmenter, "background": background, "upscaler": upscaler,
              "orienter": orienter, "weights_dir": weights}
    settings = get_settings().model_copy(update={k: v for k, v in chosen.items() if v is not None})
    executor = None
    try:
        if executor_name == "modal":
            from functions.lookup import deployed_call
            from pipeline.remote import RemoteExecutor

            executor = RemoteExecutor(settings, deployed_call)
        elif executor_name == "local":
            InProcessExecutor(settings)  # unknown backends and missing weights fail here, before any input runs
        else:
            raise InvalidOption("use --executor local or --executor modal")
    except BgflowError as exc:
        raise _usage_error(exc) from None
    files = collect_inputs(inputs)
    if not files:
        console.print("[red]error[/red] no_input: no image files found in the given paths.")
        raise typer.Exit(2)
    workers = workers or (8 if executor is not None else min(default_workers(), len(files)))
    storage = LocalStorage(out)
    t0 = time.perf_counter()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[current]}"), console=console, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("bgflow", total=len(files), current="")

        def done(item, row) -> None:
            progress.update(task, current=item.path.name)
            progress.advance(task)

        rows = run_batch(files, out, options, settings, workers=workers, executor=executor, resume=resume,
                         on_row=done)
    failed = [r for r in rows if r["status"] != "ok"]
    storage.put_json("summary.json", {"count": len(rows), "ok": len(rows) - len(failed), "failed": len(failed),
                                      "workers": workers, "total_s": round(time.perf_counter() - t0, 2),
                                      "items": rows})
    for r in failed:
        console.print(f"[red]failed[/red] {escape(r['name'])}: {r['error']['code']}: {escape(r['error']['message'])}")
    console.print(f"{len(rows) - len(failed)}/{len(rows)} ok in {time.perf_counter() - t0:.1f}s -> {escape(str(out))}")
    raise typer.Exit(1 if failed else 0)


models_app = typer.Typer(help="Model weights for the GPU backends.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("check")
def models_check() -> None:
    """List each model backend as ready or not, and why."""
    from pipeline.models import check
    from events.settings import get_settings

    rows = check(get_settings())
    for r in rows:
        mark = "[green]ready[/green]" if r["ready"] else "[yellow]missing[/yellow]"
        console.print(f"{r['name']:16} {r['family']:11} {mark}  {r['path']}")
        if r["ready"]:
            console.print(f"    weights from commit {r['revision']}; pinned: {r['pinned']}")
        else:
            console.print(f"    {r['why']}")
    raise typer.Exit(0 if all(r["ready"] for r in rows) else 1)


@models_app.command("download")
def models_download(names: Annotated[Optional[list[str]], typer.Argument(help="Models to fetch (default: all).")] = None
                    ) -> None:
    """Fetch model weights into BGFLOW_WEIGHTS_DIR at the revisions in BGFLOW_MODEL_REVISIONS (default main), and
    record the commit each resolved to."""
    from pipeline.errors import BgflowError
    from pipeline.models import download
    from events.settings import get_settings

    try:
        done = download(get_settings(), names or None)
    except BgflowError as exc:
        console.print(f"[red]error[/red] {exc.code}: {exc.message}")
        raise typer.Exit(2)
    for name, commit in done:
        console.print(f"{name}: {commit}")
    pins = json.dumps(dict(done))
    console.print(f"To pin these revisions for the next download or deploy: BGFLOW_MODEL_REVISIONS='{pins}'",
                  soft_wrap=True)


OUTCOME_COLOURS = {"ok": "green", "failed": "red", "duplicate": "cyan", "busy": "yellow", "ignored": "dim"}


def _show_outcome(outcome) -> None:
    colour = OUTCOME_COLOURS[outcome.status]
    console.print(f"[{colour}]{outcome.status}[/{colour}] {escape(outcome.source)} {escape(outcome.detail)}")


def _trigger_setup(preset: str | None, size: int | None, format: str | None):
    """Run options checked against the settings, and the in-process executor; a bad option exits with code 2."""
    from pipeline.runner import InProcessExecutor

    options = _options(preset=preset, size=size, format=format)
    try:
        return options, InProcessExecutor(get_settings())
    except BgflowError as exc:
        raise _usage_error(exc) from None


def _stop_on_sigterm():
    """A flag SIGTERM sets (a container being stopped): the worker finishes the image in hand, then returns."""
    import signal
    import threading

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    return stopping


@app.command("watch")
def watch_cmd(
    folder: Annotated[Path, typer.Argument(help="Folder to watch (subfolders included).", exists=True, file_okay=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (the run contract is written here).")],
    interval: Annotated[float, typer.Option(help="Seconds between scans.", min=0.1)] = 2.0,
    once: Annotated[bool, typer.Option(help="Process what is there now, then stop.")] = False,
    preset: Annotated[Optional[str], typer.Option(help="centered | marketplace | portrait | landscape")] = None,
    size: Annotated[Optional[int], typer.Option(help="Long side of the final image in pixels.")] = None,
    format: Annotated[Optional[str], typer.Option("--format", help="png | jpg | webp")] = None,
) -> None:
    """Process photos as they are dropped into FOLDER, each version of a file once (ledger in OUT/.bgflow)."""
    from events.intake import Intake
    from events.ledger import LocalLedger
    from events.watch import FolderWatcher

    options, executor = _trigger_setup(preset, size, format)
    settings = get_settings()
    intake = Intake(settings, executor, LocalStorage(out),
                    LocalLedger(out / ".bgflow" / "ledger", lease_s=settings.ledger_lease_s))
    watcher = FolderWatcher(folder, intake, options, settle_s=0.0 if once else 1.0)
    if once:
        outcomes = watcher.poll_once()
        for o in outcomes:
            _show_outcome(o)
        raise typer.Exit(1 if any(o.status != "ok" for o in outcomes) else 0)
    console.print(f"bgflow watching {folder} -> {out} (Ctrl-C to stop)")
    try:
        watcher.run(interval_s=interval, on_outcome=_show_outcome)
    except KeyboardInterrupt:
        raise typer.Exit(0)


@app.command("s3-worker")
def s3_worker_cmd(
    queue: Annotated[Optional[str], typer.Option(help="SQS queue URL with the input bucket's events "
                                                 "(default BGFLOW_SQS_QUEUE_URL).")] = None,
    out: Annotated[Optional[str], typer.Option(help="s3://bucket/prefix for results (default BGFLOW_S3_OUTPUT).")] = None,
    once: Annotated[bool, typer.Option(help="Stop when the queue is empty instead of polling forever.")] = False,
    wait: Annotated[int, typer.Option(help="Long-poll seconds per receive (0-20).", min=0, max=20)] = 20,
    preset: Annotated[Optional[str], typer.Option(help=PRESET_HELP)] = None,
    size: Annotated[Optional[int], typer.Option(help="Long side of the final image in pixels.")] = None,
    format: Annotated[Optional[str], typer.Option("--format", help=FORMAT_HELP)] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Images at once (threads); messages are received in "
                                         "batches while they run.")] = 1,
) -> None:
    """Process photos as they land in a bucket: S3 ObjectCreated events from SQS -> run contract in the output
    bucket; each object version runs once (ledger under <prefix>/.bgflow/ledger)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from concurrent.futures import ThreadPoolExecutor

    from events.s3 import worker_for

    settings = get_settings()
    queue_url, output = queue or settings.sqs_queue_url, out or settings.s3_output
    if not queue_url or not output:
        console.print("[red]error[/red] invalid_option: give --queue and --out (or BGFLOW_SQS_QUEUE_URL and "
                      "BGFLOW_S3_OUTPUT).")
        raise typer.Exit(2)
    options, executor = _trigger_setup(preset, size, format)
    try:
        worker = worker_for(settings, executor, queue_url, output, options)
    except BgflowError as exc:
        raise _usage_error(exc) from None
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bgflow-s3") if workers > 1 else None
    if pool is not None:
        worker.submit, worker.max_in_flight = (lambda event: pool.submit(worker.handle, event)), workers
    stopping = _stop_on_sigterm()
    console.print(f"bgflow s3-worker: {queue_url} -> {output}" + (" (until the queue is empty)" if once else ""))
    try:
        outcomes = worker.drain(wait_s=wait, idle_polls=1 if once else None, on_outcome=_show_outcome,
                                until=stopping.is_set)
    except KeyboardInterrupt:
        raise typer.Exit(130)
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    if stopping.is_set():
        console.print("stopped on SIGTERM after the image in hand")
    failed = sum(o.status == "failed" for o in outcomes)
    console.print(f"{len(outcomes)} events: {sum(o.status == 'ok' for o in outcomes)} ok, {failed} failed")
    raise typer.Exit(1 if failed else 0)


shopify_app = typer.Typer(help="A Shopify store's catalogue.", no_args_is_help=True)
app.add_typer(shopify_app, name="shopify")


@shopify_app.command("backfill")
def shopify_backfill_cmd(
    shop: Annotated[str, typer.Option(help="The store's <name>.myshopify.com domain.")],
    query: Annotated[Optional[str], typer.Option(help="Shopify product search syntax, e.g. 'product_type:Chair'.")
                     ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the images that would be processed; change nothing.")
                       ] = False,
    page_size: Annotated[int, typer.Option(min=1, max=250, help="Products per Admin API page.")] = 50,
    size: Annotated[Optional[int], typer.Option(help="Long side of the final image in pixels.")] = None,
) -> None:
    """Process the images of the store's existing products that bgflow has not processed yet, and add the results to
    each product, as the products/create webhook does. Stopped, it goes on from the last finished page next time."""
    from events.shopify import check_shop
    from events.shopify_backfill import Backfill
    from events.web.webhooks import local_trigger
    from pipeline.runner import InProcessExecutor

    settings = get_settings()
    try:
        shop = check_shop(shop, settings)
        options = _options(preset="marketplace", on_scene="skip", size=size)
        trigger = local_trigger(settings, None if dry_run else InProcessExecutor(settings), options)
        admin = trigger.admin(shop)
    except BgflowError as exc:
        raise _usage_error(exc) from None
    backfill = Backfill(trigger, admin, trigger.storage, shop, query=query, page_size=page_size)
    total = admin.products_count(query)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[current]}"), console=console, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("products", total=total, current="")

        def done(product, outcomes) -> None:
            progress.update(task, advance=1, current=escape(product.title[:40]))
            for outcome in outcomes:
                _show_outcome(outcome)

        report = backfill.run(dry_run=dry_run, on_product=done)
    if dry_run:
        for product_id, image_id, url in report.planned:
            console.print(f"would process product {product_id} image {image_id} {escape(url)}")
        console.print(f"{len(report.planned)} images in {report.products} products would be processed")
        raise typer.Exit(0)
    if report.resumed_from:
        console.print(f"resumed after cursor {escape(report.resumed_from)}")
    console.print(f"{report.products} products: {report.count('ok')} images ok, {report.count('failed')} failed, "
                  f"{report.count('duplicate')} already done, {report.count('busy')} left for the next run")
    raise typer.Exit(1 if report.count("failed") or report.count("busy") else 0)


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the web API and the playground page (open http://HOST:PORT/)."""
    import uvicorn

    from events.http import create_app

    console.print(f"bgflow playground on http://{host}:{port}/  (API docs at /docs)")
    uvicorn.run(create_app(), host=host, port=port, log_level="info")


@app.command("version")
def version_cmd() -> None:
    from pipeline import __version__

    typer.echo(__version__)


from events.check import check_cmd  # noqa: E402  (its own module: rules, table and --fix)
app.command("check")(check_cmd)


def main() -> None:  # console script entry point
    app()


if __name__ == "__main__":
    main()
