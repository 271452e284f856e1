"""S3 uploads -> runs: event views against recorded payloads, the ledger, and the worker end to end against moto's
real S3 and SQS HTTP servers on 127.0.0.1 (S3 delivers ObjectCreated notifications to the queue itself)."""

import json
from collections import Counter
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto.server")

from events.s3 import ObjectCreated, S3Worker, parse_event, parse_sqs_body  # noqa: E402
from pipeline.errors import InvalidEvent  # noqa: E402
from events.intake import Intake  # noqa: E402
from events.ledger import DictLedger, LocalLedger, S3Ledger  # noqa: E402
from pipeline.runner import InProcessExecutor, RunOptions  # noqa: E402
from events.settings import Settings  # noqa: E402
from pipeline.storage import S3Storage  # noqa: E402
from tests.loopback import AWS_TEST_ENV, AtomicDict, bucket_notifying_queue, moto_aws  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "tests" / "data" / "events"
AWS_ENV = AWS_TEST_ENV
KEY = "catalogue/Oak chair+side view.jpg"


def recorded(name: str):
    return json.loads((EVENTS / name).read_text())


def test_notification_keys_are_decoded():
    [event] = parse_event(recorded("s3_notification.json"))  # recorded from S3 (moto) -> SQS
    assert event == ObjectCreated(bucket="photos-in", key=KEY, size=3, etag="900150983cd24fb0d6963f7d28e17f72",
                                  event_time=event.event_time)
    assert event.output_name == "catalogue/Oak chair+side view.jpg"


def test_every_route_gives_the_same_object_and_idempotency_key():
    via_queue = parse_event(recorded("s3_notification.json"))
    via_sns = parse_sqs_body(json.dumps(recorded("s3_via_sns.json")))
    via_eventbridge = parse_event(recorded("s3_eventbridge.json"))  # EventBridge keys are not URL-encoded
    assert [e.key for e in via_queue + via_sns + via_eventbridge] == [KEY] * 3
    assert via_queue[0].idempotency_key == via_sns[0].idempotency_key == via_eventbridge[0].idempotency_key


def test_test_event_and_other_events_carry_no_objects():
    assert parse_event(recorded("s3_test_event.json")) == []
    removed = recorded("s3_notification.json")
    removed["Records"][0]["eventName"] = "ObjectRemoved:Delete"
    assert parse_event(removed) == []


@pytest.mark.parametrize("body", ["not json", "[]", '{"hello": 1}', '{"Records": [{"eventSource": "aws:sqs"}]}'])
def test_foreign_payloads_are_refused_with_a_code(body):
    with pytest.raises(InvalidEvent) as info:
        parse_sqs_body(body)
    assert info.value.code == "invalid_event"


def test_output_names_never_leave_the_prefix():
    assert ObjectCreated("b", "../../etc/passwd.jpg").output_name.startswith("etc/passwd.jpg~")
    assert ObjectCreated("b", "/a/./b.png").output_name.startswith("a/b.png~")
    names = {ObjectCreated("b", k).output_name for k in ("a.jpg", "a.png", "a//a.jpg", "a/a.jpg", "./a.jpg", "..",
                                                          "a\nb.jpg", "a~1.jpg", "x" * 300 + ".jpg")}
    assert len(names) == 9 and all(".." not in n.split("/") and "\n" not in n for n in names)


@pytest.fixture(scope="module")
def aws():
    for k, v in AWS_ENV.items():
        os.environ.setdefault(k, v)
    with moto_aws() as servers:
        yield servers


def _queue_for(aws, bucket: str) -> str:
    _, s3, sqs = aws
    return bucket_notifying_queue(s3, sqs, bucket, visibility_timeout_s=1)


@pytest.mark.parametrize("kind", ["local", "s3", "dict"])
def test_ledger_claims_once_until_done_and_takes_over_a_stale_claim(kind, aws, tmp_path):
    _, s3, _ = aws
    if kind == "dict":
        store = AtomicDict()
        make = lambda lease: DictLedger(store, lease_s=lease)  # noqa: E731
    elif kind == "s3":
        s3.create_bucket(Bucket="ledger-test")
        make = lambda lease: S3Ledger(s3, "ledger-test", f"ledger-{lease}", lease_s=lease)  # noqa: E731
    else:
        make = lambda lease: LocalLedger(tmp_path / f"ledger-{lease}", lease_s=lease)  # noqa: E731
    ledger = make(60)
    assert ledger.claim("s3://b/k#1")[0] == "new"
    assert ledger.claim("s3://b/k#1")[0] == "busy"
    ledger.complete("s3://b/k#1", {"status": "ok"})
    state, record = ledger.claim("s3://b/k#1")
    assert state == "done" and record["result"] == {"status": "ok"}
    assert ledger.claim("s3://b/k#2")[0] == "new"  # another version of the object is another event
    ledger.release("s3://b/k#2")
    assert ledger.claim("s3://b/k#2")[0] == "new"
    short = make(0.2)
    assert short.claim("s3://b/dead-worker")[0] == "new"
    time.sleep(0.3)
    assert short.claim("s3://b/dead-worker")[0] == "new"  # the holder's lease ran out
    assert short.claim("s3://b/dead-worker")[0] == "busy"


def _objects(s3, bucket: str, prefix: str = "") -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])}


def test_s3_worker_runs_each_upload_once_and_keeps_failures(aws, tmp_path):
    url, s3, sqs = aws
    queue = _queue_for(aws, "photos-in")
    s3.create_bucket(Bucket="photos-out")
    s3.put_object(Bucket="photos-in", Key=KEY, Body=(ROOT / "samples" / "box_white.jpg").read_bytes())
    s3.put_object(Bucket="photos-in", Key="catalogue/broken.jpg", Body=b"\xff\xd8\xff\xe0 this is not a JPEG")
    s3.put_object(Bucket="photos-in", Key="catalogue/notes.txt", Body=b"prices")

    env = os.environ | AWS_ENV | {"BGFLOW_AWS_ENDPOINT_URL": url, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "events.cli", "s3-worker", "--queue", queue, "--out", "s3://photos-out/results",
           "--once", "--wait", "1", "--size", "256"]
    first = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 1, first.stderr  # one input failed; the others went on
    out = _objects(s3, "photos-out")
    for name in ("normalized.png", "mask.png", "final.png", "manifest.json"):
        assert f"results/catalogue/Oak chair+side view.jpg/{name}" in out
    ok = json.loads(s3.get_object(Bucket="photos-out", Key="results/catalogue/Oak chair+side view.jpg/manifest.json")
                    ["Body"].read())
    assert ok["status"] == "ok" and ok["input"] == f"s3://photos-in/{KEY}"
    assert ok["fidelity"]["delta_e_mean"] <= 1.5
    bad = json.loads(s3.get_object(Bucket="photos-out", Key="results/catalogue/broken.jpg/manifest.json")["Body"].read())
    assert bad["status"] == "failed" and bad["error"]["code"] == "corrupt_image"
    kept = s3.get_object(Bucket="photos-out", Key="results/catalogue/broken.jpg/input.jpg")["Body"].read()
    assert kept == b"\xff\xd8\xff\xe0 this is not a JPEG"
    assert not any("notes" in k for k in out)
    assert "ignored s3://photos-in/catalogue/notes.txt" in first.stderr

    # The same notification again (SQS delivers at least once): nothing runs twice.
    note = recorded("s3_notification.json")
    note["Records"][0]["s3"]["object"]["eTag"] = s3.head_object(Bucket="photos-in", Key=KEY)["ETag"].strip('"')
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(note))
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"duplicate s3://photos-in/{KEY}" in again.stderr
    rerun = json.loads(s3.get_object(Bucket="photos-out", Key="results/catalogue/Oak chair+side view.jpg/manifest.json")
                       ["Body"].read())
    assert rerun["run_id"] == ok["run_id"]
    assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages") is None


class FailingExecutor(InProcessExecutor):
    def normalize(self, source):
        raise ConnectionError("storage went away")


def test_an_infrastructure_failure_leaves_the_message_for_a_retry(aws):
    _, s3, sqs = aws
    queue = _queue_for(aws, "photos-retry")
    s3.put_object(Bucket="photos-retry", Key="a.png", Body=(ROOT / "samples" / "box_white.jpg").read_bytes())
    settings = Settings(output_size=128, ledger_lease_s=3)
    output = S3Storage(s3, "photos-retry", "out")
    ledger = S3Ledger(s3, "photos-retry", "out/.bgflow/ledger", lease_s=3)
    broken = S3Worker(s3, sqs, queue, Intake(settings, FailingExecutor(settings), output, ledger), RunOptions(size=128))
    outcomes = [o for o in broken.drain(wait_s=1, idle_polls=1) if o.source.endswith("a.png")]
    assert [o.status for o in outcomes] == ["busy"] and outcomes[0].detail == "will be retried: internal_error"
    failed = json.loads(output.get("a.png/manifest.json"))
    assert failed["error"]["code"] == "internal_error" and "ConnectionError" in failed["error"]["message"]
    time.sleep(3.2)  # the message is hidden for one lease, then SQS delivers it again
    fixed = S3Worker(s3, sqs, queue, Intake(settings, InProcessExecutor(settings), output, ledger), RunOptions(size=128))
    outcomes = [o for o in fixed.drain(wait_s=1, idle_polls=1) if o.source.endswith("a.png")]
    assert [o.status for o in outcomes] == ["ok"]
    assert output.exists("a.png/final.png") and json.loads(output.get("a.png/manifest.json"))["status"] == "ok"


def test_unparseable_messages_are_kept_for_a_human_and_dropped(aws, tmp_path):
    _, s3, sqs = aws
    s3.create_bucket(Bucket="photos-junk")
    queue = sqs.create_queue(QueueName="junk")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="hello")
    output = S3Storage(s3, "photos-junk", "out")
    worker = S3Worker(s3, sqs, queue, Intake(Settings(), InProcessExecutor(Settings()), output, LocalLedger(tmp_path / "ledger")))
    [outcome] = worker.drain(wait_s=1, idle_polls=1)
    assert outcome.status == "failed" and outcome.detail.startswith("invalid_event")
    [kept] = [k for k in _objects(s3, "photos-junk") if k.startswith("out/_rejected/")]
    assert json.loads(s3.get_object(Bucket="photos-junk", Key=kept)["Body"].read())["body"] == "hello"
    assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages") is None


@pytest.mark.parametrize("kind", ["local", "dict", "s3"])
def test_only_one_of_many_concurrent_claims_wins(kind, aws, tmp_path):
    """Eight workers get the same event at once: one runs it. Then its lease runs out: again exactly one takes over."""
    _, s3, _ = aws
    if kind == "s3":
        s3.create_bucket(Bucket="ledger-race")
    ledger = {"local": lambda: LocalLedger(tmp_path / "l", lease_s=2), "dict": lambda: DictLedger(AtomicDict(), 2),
              "s3": lambda: S3Ledger(s3, "ledger-race", "l", lease_s=2)}[kind]()

    def race() -> list[str]:
        results, start = [], threading.Barrier(8)

        def claim():
            start.wait()
            results.append(ledger.claim("s3://b/k#1")[0])

        threads = [threading.Thread(target=claim) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sorted(results)

    assert race() == ["busy"] * 7 + ["new"]
    time.sleep(2.1)
    assert race() == ["busy"] * 7 + ["new"]


def test_s3_worker_stops_cleanly_on_sigterm(aws, tmp_path):
    import signal

    url, s3, sqs = aws
    queue = sqs.create_queue(QueueName="quiet")["QueueUrl"]
    s3.create_bucket(Bucket="quiet-out")
    env = os.environ | AWS_ENV | {"BGFLOW_AWS_ENDPOINT_URL": url, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "events.cli", "s3-worker", "--queue", queue,
                             "--out", "s3://quiet-out/r", "--wait", "1"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = [proc.stderr.readline() for _ in range(1)]
    while not seen[-1].startswith("bgflow s3-worker:") and seen[-1] and len(seen) < 50:
        seen.append(proc.stderr.readline())  # the banner comes once the SIGTERM handler is in place
    assert seen[-1].startswith("bgflow s3-worker:"), seen
    time.sleep(1.5)  # inside a long poll
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped on SIGTERM" in err


def test_a_killed_workers_image_is_taken_over_by_the_next_delivery(aws, tmp_path):
    """kill -9 mid-image: the claim stops being renewed and the message stays hidden for 1.5 leases, then the next
    delivery takes the stale claim over and runs the image; no receive is wasted on 'busy' meanwhile."""
    import signal

    url, s3, sqs = aws
    queue = bucket_notifying_queue(s3, sqs, "photos-kill", visibility_timeout_s=30)
    s3.create_bucket(Bucket="kill-out")
    s3.put_object(Bucket="photos-kill", Key="big.jpg", Body=(ROOT / "samples" / "box_white.jpg").read_bytes())
    env = os.environ | AWS_ENV | {"BGFLOW_AWS_ENDPOINT_URL": url, "OMP_NUM_THREADS": "1", "BGFLOW_LEDGER_LEASE_S": "3"}
    proc = subprocess.Popen([sys.executable, "-m", "events.cli", "s3-worker", "--queue", queue, "--out",
                             "s3://kill-out/out", "--wait", "1", "--size", "8192", "--preset", "landscape"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ledger = S3Ledger(s3, "kill-out", "out/.bgflow/ledger", lease_s=3)
    deadline = time.monotonic() + 60
    while not _objects(s3, "kill-out", "out/.bgflow/ledger/") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _objects(s3, "kill-out", "out/.bgflow/ledger/"), "the worker never claimed the image"
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)  # mid-image (an 8192 px final takes seconds): no clean-up of any kind
    proc.wait(timeout=10)
    assert not s3.list_objects_v2(Bucket="kill-out", Prefix="out/big.jpg/manifest.json").get("KeyCount")

    settings = Settings(output_size=128, ledger_lease_s=3)
    intake = Intake(settings, InProcessExecutor(settings), S3Storage(s3, "kill-out", "out"), ledger)
    worker = S3Worker(s3, sqs, queue, intake, RunOptions(size=128))
    outcomes, t0 = [], time.monotonic()
    while not any(o.status == "ok" for o in outcomes) and time.monotonic() - t0 < 30:
        outcomes += [o for o in worker.poll_once(wait_s=1) if o.source.endswith("big.jpg")]
    assert [o.status for o in outcomes] == ["ok"], outcomes  # the first receive after the kill runs it
    manifest = json.loads(s3.get_object(Bucket="kill-out", Key="out/big.jpg/manifest.json")["Body"].read())
    assert manifest["status"] == "ok"
    assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages") is None


def test_a_deleted_object_is_a_coded_failure_and_its_message_goes(aws):
    _, s3, sqs = aws
    queue = bucket_notifying_queue(s3, sqs, "photos-gone")
    s3.put_object(Bucket="photos-gone", Key="gone.jpg", Body=(ROOT / "samples" / "box_white.jpg").read_bytes())
    s3.delete_object(Bucket="photos-gone", Key="gone.jpg")
    settings = Settings(output_size=128)
    ledger = S3Ledger(s3, "photos-gone", "out/.bgflow/ledger")
    worker = S3Worker(s3, sqs, queue, Intake(settings, InProcessExecutor(settings), S3Storage(s3, "photos-gone", "out"),
                                             ledger))
    outcomes = [o for o in worker.drain(wait_s=1, idle_polls=1) if o.source.endswith("gone.jpg")]
    assert [o.status for o in outcomes] == ["failed"] and outcomes[0].detail.startswith("input_not_found")
    assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages") is None


def test_twenty_messages_fan_out_to_twenty_runs_each_version_once(aws):
    """Batches received while runs go on elsewhere (a thread pool standing in for Modal's spawn): 20 uploads, one of
    them corrupt, and one notification delivered twice; every object version runs exactly once."""
    from concurrent.futures import ThreadPoolExecutor

    _, s3, sqs = aws
    queue = bucket_notifying_queue(s3, sqs, "fan-in", visibility_timeout_s=30)
    s3.create_bucket(Bucket="fan-out")
    photo = (ROOT / "samples" / "box_white.jpg").read_bytes()
    for i in range(19):
        s3.put_object(Bucket="fan-in", Key=f"p/{i:02d}.jpg", Body=photo)
    s3.put_object(Bucket="fan-in", Key="p/broken.jpg", Body=b"\xff\xd8\xff not a jpeg")
    peeked = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    again = next(m for m in peeked if "p/03.jpg" in m["Body"] or "Records" in m["Body"])
    sqs.send_message(QueueUrl=queue, MessageBody=again["Body"])  # the same event again (at-least-once delivery)
    for m in peeked:
        sqs.change_message_visibility(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=0)

    settings = Settings(output_size=96)
    ledger = S3Ledger(s3, "fan-out", "r/.bgflow/ledger")
    worker = S3Worker(s3, sqs, queue, Intake(settings, InProcessExecutor(settings), S3Storage(s3, "fan-out", "r"),
                                             ledger), RunOptions(size=96))
    submitted = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        def spawn(event):
            submitted.append(event.key)
            return pool.submit(worker.handle, event)

        fanned = S3Worker(s3, sqs, queue, worker.intake, RunOptions(size=96), submit=spawn, max_in_flight=8)
        outcomes = fanned.drain(wait_s=1, idle_polls=2)
    by_status = Counter(o.status for o in outcomes)
    assert len(submitted) == 21 and sorted(set(submitted)) == sorted([f"p/{i:02d}.jpg" for i in range(19)] + ["p/broken.jpg"])
    assert by_status == {"ok": 19, "failed": 1, "duplicate": 1}, by_status
    manifests = [json.loads(s3.get_object(Bucket="fan-out", Key=k)["Body"].read())
                 for k in _objects(s3, "fan-out", "r/p/") if k.endswith("manifest.json")]
    assert len(manifests) == 20 and len({m["run_id"] for m in manifests}) == 20  # each version ran once
    assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages") is None
