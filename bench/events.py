"""What the S3 trigger costs on top of the pipeline: the same photos run in-process from files, and through the S3
worker (upload -> ObjectCreated -> SQS -> claim -> download -> run -> results to S3) against moto's S3 and SQS on
127.0.0.1; then every notification delivered a second time, which must run nothing.

    python bench/events.py [--count 12] [--size 2048]

Writes bench/results/events.json and events.md. Loopback moto is not AWS: the overhead measured is bgflow's own
(parsing, ledger claims, transfers through the S3 API), not network latency to a region.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import default_folder, load_cases, machine, markdown_table, write_json  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--size", type=int, default=2048)
    args = parser.parse_args()

    import logging
    from urllib.parse import quote_plus

    from tests.loopback import bucket_notifying_queue, moto_aws

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    from events.intake import Intake
    from events.s3 import S3Worker
    from pipeline.contract import process
    from events.ledger import S3Ledger
    from pipeline.runner import InProcessExecutor, Job, RunOptions
    from events.settings import Settings
    from pipeline.storage import LocalStorage, S3Storage

    cases = [c for c in load_cases(default_folder()) if c.label != "scene"][: args.count]
    executor = InProcessExecutor(Settings())
    options = RunOptions(size=args.size)

    # 1. In-process from files: the pipeline alone (after one untimed run, so neither path pays the first-call costs).
    local = Path("bench/results/events-local")
    process(Job(source=cases[0].path, name="warm-up", options=options), LocalStorage(local), executor)
    t0 = time.perf_counter()
    for case in cases:
        process(Job(source=case.path, name=case.name, options=options), LocalStorage(local), executor)
    in_process_s = time.perf_counter() - t0

    with moto_aws() as (_, s3, sqs):
        queue = bucket_notifying_queue(s3, sqs, "bench-in")
        s3.create_bucket(Bucket="bench-out")
        for case in cases:
            s3.put_object(Bucket="bench-in", Key=f"uploads/{case.path.name}", Body=case.path.read_bytes())
        intake = Intake(executor.settings, executor, S3Storage(s3, "bench-out", "results"),
                        S3Ledger(s3, "bench-out", "results/.bgflow/ledger"))
        worker = S3Worker(s3, sqs, queue, intake, options)

        # 2. Through the S3 worker, until the queue is empty.
        last = [0.0]
        stamp = lambda _: last.__setitem__(0, time.perf_counter())  # noqa: E731  (the empty polls at the end excluded)
        t0 = time.perf_counter()
        outcomes = worker.drain(wait_s=1, idle_polls=2, on_outcome=stamp)
        worker_s = last[0] - t0
        ran = [o for o in outcomes if o.status in ("ok", "failed")]

        # 3. Every notification again: claims answer "duplicate", nothing runs.
        notes = []
        for case in cases:
            etag = s3.head_object(Bucket="bench-in", Key=f"uploads/{case.path.name}")["ETag"].strip('"')
            notes.append({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {
                "bucket": {"name": "bench-in"},
                "object": {"key": quote_plus(f"uploads/{case.path.name}"), "eTag": etag}}}]})
        for note in notes:
            sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(note))
        t0 = time.perf_counter()
        again = worker.drain(wait_s=1, idle_polls=2, on_outcome=stamp)
        redelivery_s = last[0] - t0

    n = len(cases)
    data = {
        "machine": machine(), "images": n, "size": args.size,
        "in_process_s_per_image": round(in_process_s / n, 3),
        "s3_worker_s_per_image": round(worker_s / n, 3),
        "s3_overhead_s_per_image": round((worker_s - in_process_s) / n, 3),
        "runs": {s: sum(o.status == s for o in outcomes) for s in ("ok", "failed", "ignored", "busy", "duplicate")},
        "redelivered": len(again), "redelivered_ran": sum(o.status in ("ok", "failed") for o in again),
        "redelivery_s_per_event": round(redelivery_s / max(1, len(again)), 4),
        "note": "times run from the first receive to the last outcome; the empty polls that end a drain are excluded",
    }
    assert len(ran) == n and data["redelivered_ran"] == 0, data
    write_json("events", data)
    table = markdown_table(
        ["path", "s per image"],
        [["in-process, files", data["in_process_s_per_image"]], ["S3 worker (moto on loopback)", data["s3_worker_s_per_image"]],
         ["overhead of the S3 path", data["s3_overhead_s_per_image"]],
         ["redelivered event (claim says duplicate)", data["redelivery_s_per_event"]]])
    md = (f"# S3 trigger overhead ({n} seed photos, {args.size} px PNG)\n\n{table}\n\n"
          f"Runs: {data['runs']}; redelivered {data['redelivered']}, of which ran again: {data['redelivered_ran']}.\n")
    Path("bench/results/events.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
