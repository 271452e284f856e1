"""The bad-input corpus through every entry point: ``bgflow run``, ``POST /photography/background`` and
``POST /jobs``. Zero 5xx, zero tracebacks, zero hangs, one output folder per input inside OUT, and for each kind the
outcome tests/badinputs.py gives it. ``python bench/corpus.py`` writes the same results as a table."""

from __future__ import annotations

import os

import pytest

from tests import corpus_runner as runner
from tests.badinputs import OK, file_cases, request_cases

FILES = file_cases()
REQUESTS = request_cases()
CLI_OPTIONS = [c for c in REQUESTS if c.cli]
PHOTOGRAPHY = [c for c in REQUESTS if c.photography]
JOBS = [c for c in REQUESTS if c.jobs]
SCENARIOS = [c for c in REQUESTS if c.scenario]
PATHS = [c for c in REQUESTS if c.group == "path" and c.name.startswith("path-")]


def _ids(cases):
    return [c.name for c in cases]


def _check(expect, seen):
    passed, why = runner.verdict(expect, seen)
    assert passed, why


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> runner.CliBatch:
    return runner.cli_batch(list(FILES), tmp_path_factory.mktemp("corpus-cli"))


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with runner.http_client(tmp_path_factory.mktemp("corpus-runs")) as c:
        yield c


def test_the_corpus_covers_every_kind_of_bad_input():
    groups = {c.group for c in FILES} | {c.group for c in REQUESTS}
    assert len(FILES) + len(REQUESTS) >= 60
    assert {"truncation", "bomb", "shape", "mode", "animation", "exif", "icc", "polyglot", "not-image", "flat",
            "file-name", "path", "base64", "option", "body", "header", "stream"} <= groups
    named = [c.data for c in FILES if c.group == "file-name" and OK in c.expect.outcomes]
    assert len(set(named)) == len(named)  # different bytes under each name: an overwrite shows


# ---------------------------------------------------------------------------------------------------------------
# bgflow run


def test_cli_batch_of_every_file_kind_finishes_cleanly(batch):
    """One batch holding all file kinds: no traceback, summary.json written with a row per input, exit 1 because
    some inputs are meant to fail (and only because of that)."""
    assert not batch.problems, batch.problems
    assert batch.returncode == 1
    assert batch.summary["count"] == len(FILES)


@pytest.mark.parametrize("case", FILES, ids=_ids(FILES))
def test_cli_file_kind(batch, case):
    _check(case.expect, batch.observed[case.name])


def test_cli_folder_of_hostile_names_all_succeed(tmp_path):
    """A folder scan (not a list of files) of good photos under hostile names: exit 0, one folder each, inside OUT."""
    # hidden files (a leading dot: '.png', '..png', '...png') are left out of a folder scan; the batch of files
    # given one by one above has them
    cases = [c for c in FILES if c.group == "file-name" and c.expect.outcomes == (OK,)
             and not str(c.disk_name).startswith(("b'.", "."))]
    runner.write_inputs(cases, tmp_path / "in")
    out = tmp_path / "out"
    rc, _, stderr, _ = runner.run_cli(["--out", str(out), "--size", "64", str(tmp_path / "in")])
    assert "Traceback" not in stderr, stderr[-2000:]
    assert rc == 0, stderr[-2000:]
    rows = __import__("json").loads((out / "summary.json").read_text())["items"]
    assert len(rows) == len(cases)
    names = [r["name"] for r in rows]
    assert len({n.casefold() for n in names}) == len(names)
    root = out.resolve()
    for name in names:
        folder = (out / name).resolve()
        assert folder != root and root in folder.parents, name
        assert (folder / "manifest.json").is_file()
    assert sorted(os.listdir(out)) == sorted(set(names) | {"summary.json"})


@pytest.mark.parametrize("case", CLI_OPTIONS, ids=_ids(CLI_OPTIONS))
def test_cli_bad_option_is_a_usage_error_before_any_work(case, tmp_path):
    args, expect = case.cli
    _check(expect, runner.cli_option(args, tmp_path))


# ---------------------------------------------------------------------------------------------------------------
# POST /photography/background


@pytest.mark.parametrize("case", FILES, ids=_ids(FILES))
def test_photography_file_kind(client, case):
    _check(case.expect, runner.photography_file(client, case))


@pytest.mark.parametrize("case", PHOTOGRAPHY, ids=_ids(PHOTOGRAPHY))
def test_photography_request(client, case):
    http, expect = case.photography
    _check(expect, runner.photography(client, http, case.secrets))


# ---------------------------------------------------------------------------------------------------------------
# POST /jobs and the jobs API


@pytest.mark.parametrize("case", FILES, ids=_ids(FILES))
def test_jobs_file_kind(client, case):
    _check(case.expect, runner.jobs_file(client, case))


@pytest.mark.parametrize("case", JOBS, ids=_ids(JOBS))
def test_jobs_request(client, case):
    http, expect = case.jobs
    _check(expect, runner.jobs(client, http, secrets=case.secrets))


@pytest.mark.parametrize("case", SCENARIOS, ids=_ids(SCENARIOS))
def test_jobs_api_scenario(client, case):
    _check(case.scenario_expect, runner.scenario(client, case))


@pytest.mark.parametrize("endpoint", ["photography", "jobs"])
def test_a_server_path_gets_the_same_answer_whether_or_not_the_file_exists(client, endpoint):
    """An error must not tell a client which files the server has: every path string gets one and the same reply."""
    replies = set()
    for case in PATHS:
        http, _ = getattr(case, endpoint)
        seen = runner.photography(client, http) if endpoint == "photography" else runner.jobs(client, http)
        assert seen.outcome != OK, f"{case.name}: the server read {http.body['image_b64']!r}"
        replies.add((seen.status, seen.outcome, seen.detail))
    assert len(replies) == 1, sorted(replies, key=str)
