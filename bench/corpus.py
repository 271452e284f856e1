"""The bad-input corpus (tests/badinputs.py) through the three entry points, as a table.

For each kind: what it must get, what ``bgflow run``, ``POST /photography/background`` and ``POST /jobs`` gave, and
pass/fail. The CLI column comes from one batch holding every file kind, as in the tests; when that batch dies without
a summary.json, each file is run again on its own so the table still says what each kind does. Failures are grouped
by cause at the end. Writes bench/results/corpus.json and corpus.md.

    python bench/corpus.py
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from tests import corpus_runner as runner  # noqa: E402
from tests.badinputs import FileCase, file_cases, request_cases  # noqa: E402

RESULTS = ROOT / "bench" / "results"
CHANNELS = ("cli", "photography", "jobs")


def _cell(expect, seen: runner.Observed | None) -> dict | None:
    if seen is None:
        return None
    passed, why = runner.verdict(expect, seen)
    return {"expected": expect.describe(), "observed": runner.as_dict(seen), "pass": passed, "why": why}


def cli_per_kind(cases: list[FileCase], workdir: Path) -> dict[str, runner.Observed]:
    """Each file in a batch of its own (2 at a time)."""
    def one(case: FileCase) -> tuple[str, runner.Observed]:
        return case.name, runner.cli_batch([case], workdir / case.name).observed[case.name]

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(one, cases))


def run_corpus(workdir: Path) -> dict:
    files, requests = list(file_cases()), list(request_cases())
    t0 = time.perf_counter()
    batch = runner.cli_batch(files, workdir / "batch")
    cli_seen = batch.observed
    per_kind = batch.summary is None
    if per_kind:
        cli_seen = cli_per_kind(files, workdir / "per-kind")
    rows = []
    with runner.http_client(workdir / "runs") as client:
        for case in files:
            rows.append({"kind": case.name, "group": case.group, "cells": {
                "cli": _cell(case.expect, cli_seen[case.name]),
                "photography": _cell(case.expect, runner.photography_file(client, case)),
                "jobs": _cell(case.expect, runner.jobs_file(client, case))}})
        for case in requests:
            cells = {}
            if case.cli:
                args, expect = case.cli
                cells["cli"] = _cell(expect, runner.cli_option(args, workdir / "options" / case.name))
            if case.photography:
                http, expect = case.photography
                cells["photography"] = _cell(expect, runner.photography(client, http, case.secrets))
            if case.jobs:
                http, expect = case.jobs
                cells["jobs"] = _cell(expect, runner.jobs(client, http, secrets=case.secrets))
            if case.scenario:
                cells["jobs"] = _cell(case.scenario_expect, runner.scenario(client, case))
            rows.append({"kind": case.name, "group": case.group, "cells": cells})
    for row in rows:
        row["pass"] = all(c["pass"] for c in row["cells"].values() if c)
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": round(time.perf_counter() - t0, 1),
            "cli_batch": {"returncode": batch.returncode, "problems": batch.problems, "seconds": batch.seconds,
                          "rows_from": "one file per run (the batch wrote no summary.json)" if per_kind
                          else "the batch"},
            "kinds": len(rows), "passed": sum(r["pass"] for r in rows), "rows": rows}


def _cause(channel: str, cell: dict) -> str:
    seen = cell["observed"]
    detail = re.sub(r"'[^']{40,}'", "'<long string>'", seen["detail"] or "")
    detail = re.sub(r"[0-9a-f]{12,}|\d+", "#", detail)
    detail = re.sub(r"/tmp/\S+", "<tmp>", detail)[:110]
    return f"{channel}: {seen['outcome']}" + (f" ({detail})" if detail else "")


def write(report: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "corpus.json").write_text(json.dumps(report, indent=2) + "\n")
    b = report["cli_batch"]
    lines = ["# Bad-input corpus", "",
             f"{report['date']}: {report['passed']}/{report['kinds']} kinds pass on every entry point "
             f"({report['seconds']} s). Source: tests/badinputs.py; `python bench/corpus.py`.", "",
             f"CLI batch of every file kind: exit {b['returncode']} in {b['seconds']} s; "
             f"problems: {'; '.join(b['problems']) or 'none'}. CLI column from {b['rows_from']}.", "",
             "| kind | group | expected | bgflow run | /photography/background | /jobs | pass |",
             "|---|---|---|---|---|---|---|"]

    def show(cell):
        if not cell:
            return "-"
        text = runner.Observed(**{**cell["observed"], "size": None}).short()
        return text if cell["pass"] else f"**{text}**"

    for row in report["rows"]:
        cells = row["cells"]
        expected = {c["expected"] for c in cells.values() if c}
        lines.append(f"| {row['kind']} | {row['group']} | {' / '.join(sorted(expected))} | "
                     + " | ".join(show(cells.get(ch)) for ch in CHANNELS) + f" | {'pass' if row['pass'] else 'FAIL'} |")
    causes: dict[str, list[str]] = {}
    for row in report["rows"]:
        for channel, cell in row["cells"].items():
            if cell and not cell["pass"]:
                causes.setdefault(_cause(channel, cell), []).append(row["kind"])
    lines += ["", "## Failures by cause", ""]
    for cause, kinds in sorted(causes.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        lines.append(f"- {cause}: {len(kinds)} kinds: {', '.join(kinds)}")
    (RESULTS / "corpus.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:6]))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        write(run_corpus(Path(tmp)))


if __name__ == "__main__":
    main()
