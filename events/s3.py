"""S3 uploads -> Jobs.

:func:`parse_event` is a typed view over what S3 sends when an object is created, however it travels: an S3 event
notification (to SQS or Lambda), the same wrapped by SNS, or an EventBridge "Object Created" event. The test event
S3 sends when a notification is configured gives no objects. Keys in notifications arrive URL-encoded and are
decoded here; EventBridge keys arrive plain.

:class:`S3Worker` polls the queue, claims each object in the ledger (keyed on bucket, key and version or ETag, so a
redelivered or duplicated message never runs twice), runs the pipeline and writes the run contract under the output
prefix: ``s3://<out bucket>/<prefix>/<key without extension>/{normalized,mask,final,manifest}``. A bad image is
recorded there as failed, with its input kept, and its message is deleted; an infrastructure failure (S3 down) leaves
the message for SQS to deliver again (and, after the queue's maxReceiveCount, to its dead-letter queue).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Callable
from urllib.parse import unquote_plus, urlsplit

from pipeline.errors import InvalidEvent, InvalidOption
from pipeline.normalize import IMAGE_SUFFIXES
from pipeline.options import RunOptions
from pipeline.storage import S3Storage

from .intake import BucketObject, Intake, key_folder
from .ledger import S3Ledger
from .outcome import Outcome
from .settings import Settings

log = logging.getLogger(__name__)


def worker_for(settings: Settings, executor: Any, queue_url: str, output_url: str,
               options: RunOptions | None = None) -> "S3Worker":
    """The worker for a queue and an ``s3://bucket/prefix`` output: clients from the settings, results and the
    ledger (``<prefix>/.bgflow/ledger``) in the output bucket."""
    bucket, prefix = parse_s3_url(output_url)
    s3, sqs = aws_clients(settings)
    ledger = S3Ledger(s3, bucket, f"{prefix}/.bgflow/ledger".strip("/"), lease_s=settings.ledger_lease_s)
    return S3Worker(s3, sqs, queue_url, Intake(settings, executor, S3Storage(s3, bucket, prefix), ledger), options)


@dataclass(frozen=True)
class ObjectCreated:
    bucket: str
    key: str  # decoded
    size: int | None = None
    etag: str | None = None
    version_id: str | None = None
    sequencer: str | None = None
    event_time: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def idempotency_key(self) -> str:
        """The same object version gives the same key however often, and through whichever route, it is delivered."""
        return f"{self.uri}#{self.version_id or self.etag or self.sequencer or ''}"

    @property
    def output_name(self) -> str:
        """The folder of this object's run contract under the output prefix: its key, made safe, extension kept."""
        return key_folder(self.key)


def parse_event(payload: Any) -> list[ObjectCreated]:
    """The created objects in one event payload; raises InvalidEvent for anything that is not an S3 event."""
    if not isinstance(payload, dict):
        raise InvalidEvent("Expected a JSON object: an S3 event notification, an SNS envelope or an EventBridge event.")
    if payload.get("Event") == "s3:TestEvent":
        return []
    if isinstance(payload.get("Records"), list):
        found: list[ObjectCreated] = []
        for record in payload["Records"]:
            if isinstance(record, dict) and "Sns" in record:  # S3 -> SNS -> Lambda
                found += parse_event(_json(record["Sns"].get("Message", "")))
            elif isinstance(record, dict) and record.get("eventSource") == "aws:s3":
                if str(record.get("eventName", "")).startswith("ObjectCreated:"):
                    found.append(_from_notification(record))
            else:
                raise InvalidEvent("A record is neither an S3 nor an SNS record.")
        return found
    if payload.get("Type") == "Notification" and "Message" in payload:  # S3 -> SNS -> SQS
        return parse_event(_json(payload["Message"]))
    if payload.get("source") == "aws.s3":
        if payload.get("detail-type") != "Object Created":
            return []
        detail = payload.get("detail") or {}
        obj = detail.get("object") or {}
        if not detail.get("bucket", {}).get("name") or not obj.get("key"):
            raise InvalidEvent("The EventBridge event has no detail.bucket.name or detail.object.key.")
        return [ObjectCreated(bucket=detail["bucket"]["name"], key=obj["key"], size=obj.get("size"),
                              etag=obj.get("etag"), version_id=obj.get("version-id"), sequencer=obj.get("sequencer"),
                              event_time=payload.get("time"))]
    raise InvalidEvent("Not an S3 event: expected 'Records', an SNS 'Notification' or an EventBridge 'aws.s3' event.")


def parse_sqs_body(body: str) -> list[ObjectCreated]:
    return parse_event(_json(body))


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        raise InvalidEvent("The message body is not JSON; expected an S3 event.") from None


def _from_notification(record: dict[str, Any]) -> ObjectCreated:
    s3 = record.get("s3") or {}
    obj = s3.get("object") or {}
    bucket = (s3.get("bucket") or {}).get("name")
    if not bucket or not obj.get("key"):
        raise InvalidEvent("The S3 record has no s3.bucket.name or s3.object.key.")
    return ObjectCreated(bucket=bucket, key=unquote_plus(obj["key"]), size=obj.get("size"), etag=obj.get("eTag"),
                         version_id=obj.get("versionId"), sequencer=obj.get("sequencer"),
                         event_time=record.get("eventTime"))


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix)."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise InvalidOption(f"'{url}' is not an s3://bucket/prefix URL.")
    return parts.netloc, parts.path.strip("/")


def aws_clients(settings: Settings) -> tuple[Any, Any]:
    """boto3 S3 and SQS clients; credentials and region come from the usual AWS environment."""
    import boto3

    kwargs = {"endpoint_url": settings.aws_endpoint_url} if settings.aws_endpoint_url else {}
    return boto3.client("s3", **kwargs), boto3.client("sqs", **kwargs)


class _Done:
    """A finished run, for the inline default of :class:`S3Worker`'s ``submit``."""

    def __init__(self, outcome: Outcome | None = None, error: BaseException | None = None):
        self.outcome, self.error = outcome, error

    def done(self) -> bool:
        return True

    def result(self) -> Outcome:
        if self.error is not None:
            raise self.error
        return self.outcome


@dataclass
class _InFlight:
    message: dict[str, Any]
    runs: list[tuple[ObjectCreated, Any]]  # (event, future-like: done() and result() -> Outcome)
    hidden_at: float


class S3Worker:
    """Turns queued S3 events into runs through the intake (in-process, or the Modal stages; results and ledger in the
    output bucket). The boto3 clients are passed in.

    ``submit(event)`` starts one object's run and returns a future (``done()``, ``result() -> Outcome``). By default
    the run happens inline, one message at a time; given a pool or Modal's spawn, the worker fans out: it receives
    in batches while up to ``max_in_flight`` runs go on, keeps their messages hidden while they run, and deletes each
    message once all its runs are settled."""

    def __init__(self, s3: Any, sqs: Any, queue_url: str, intake: Intake, options: RunOptions | None = None,
                 submit: Callable[[ObjectCreated], Any] | None = None, max_in_flight: int = 1):
        self.s3, self.sqs, self.queue_url, self.intake = s3, sqs, queue_url, intake
        self.output: S3Storage = intake.storage
        self.options = options or RunOptions()
        self.lease_s = intake.ledger.lease_s
        self.submit = submit
        self.max_in_flight = max(1, max_in_flight)
        self.in_flight: dict[str, _InFlight] = {}
        self.messages_seen = 0

    def handle(self, event: ObjectCreated, message: dict[str, Any] | None = None) -> Outcome:
        """Run one created object, once. Raises only for failures worth a redelivery (the claim is released)."""
        prefix = self.output.prefix
        if event.bucket == self.output.bucket and (not prefix or event.key.startswith(prefix + "/")):
            return Outcome(event.uri, "ignored", "an output of bgflow itself")
        if PurePosixPath(event.key).suffix.lower() not in IMAGE_SUFFIXES:
            return Outcome(event.uri, "ignored", f"not an image file ({', '.join(sorted(IMAGE_SUFFIXES))})")
        ticket = self.intake.accept(BucketObject(self.s3, event.bucket, event.key, event.version_id), self.options,
                                    name=event.output_name, key=event.idempotency_key)
        heartbeat = (lambda: self._hide(message, self.lease_s * 1.5)) if message else None
        outcome = self.intake.run(ticket, heartbeat=heartbeat)
        output = f"s3://{self.output.bucket}/{self.output.object_key(event.output_name)}/"
        return Outcome(outcome.source, outcome.status, outcome.detail, output, outcome.result, outcome.manifest)

    def _start(self, event: ObjectCreated, message: dict[str, Any]) -> Any:
        if self.submit is not None:
            return self.submit(event)
        try:
            return _Done(self.handle(event, message))
        except Exception as exc:
            return _Done(error=exc)

    def _hide(self, message: dict[str, Any], seconds: float) -> None:
        """Keep a message from redelivery for ``seconds`` (SQS allows up to 12 hours)."""
        self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"],
                                           VisibilityTimeout=int(min(43_200, max(0, seconds))))

    def poll_once(self, wait_s: int = 20) -> list[Outcome]:
        """Receive what there is room for (at most 10 messages, SQS's batch), start a run per object, and return the
        outcomes of the messages settled since the last call."""
        room = self.max_in_flight - sum(len(f.runs) for f in self.in_flight.values())
        if room > 0:
            reply = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=min(10, room),
                                             WaitTimeSeconds=wait_s)
            for message in reply.get("Messages", []):
                self.messages_seen += 1
                self._receive(message)
        elif wait_s:
            time.sleep(min(wait_s, 0.5))
        return self.settle()

    def _receive(self, message: dict[str, Any]) -> None:
        try:
            events = parse_sqs_body(message.get("Body", ""))
        except InvalidEvent as exc:  # it will never parse: keep it in the output for a human, then drop it
            self.output.put_json(f"_rejected/{message['MessageId']}.json",
                                 {"error": exc.to_dict(), "body": message.get("Body", "")[:100_000]})
            runs = [(ObjectCreated("", f"sqs:{message['MessageId']}"),
                     _Done(Outcome(f"sqs:{message['MessageId']}", "failed", f"{exc.code}: {exc.message}")))]
        else:
            runs = [(event, self._start(event, message)) for event in events]
        self.in_flight[message["MessageId"]] = _InFlight(message, runs, time.monotonic())

    def settle(self) -> list[Outcome]:
        """Outcomes of the messages whose runs have all finished (deleted, or hidden for one lease when a run must
        be retried); the others are kept hidden while their runs go on."""
        outcomes: list[Outcome] = []
        now = time.monotonic()
        for message_id, flight in list(self.in_flight.items()):
            if not all(future.done() for _, future in flight.runs):
                if now - flight.hidden_at > self.lease_s / 3:
                    self._hide(flight.message, self.lease_s * 1.5)
                    flight.hidden_at = now
                continue
            settled = [self._outcome(event, future) for event, future in flight.runs]
            del self.in_flight[message_id]
            if any(o.status == "busy" for o in settled):  # back when a dead holder's claim has gone stale, not at
                self._hide(flight.message, self.lease_s)      # once (each receive counts towards the DLQ)
            else:
                self._delete(flight.message)
            outcomes += settled
        return outcomes

    @staticmethod
    def _outcome(event: ObjectCreated, future: Any) -> Outcome:
        try:
            return future.result()
        except Exception as exc:  # S3 or the executor failed: leave the message for a redelivery
            log.error("event for %s failed (%s); the message stays on the queue", event.uri, type(exc).__name__)
            return Outcome(event.uri, "busy", f"will be retried: {type(exc).__name__}")

    def _delete(self, message: dict[str, Any]) -> None:
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def drain(self, wait_s: int = 20, until: Callable[[], bool] = lambda: False,
              on_outcome: Callable[[Outcome], None] | None = None, idle_polls: int | None = None,
              finish_s: float = 600.0) -> list[Outcome]:
        """Poll until ``until()`` says stop, or after ``idle_polls`` polls in a row that received no message and had
        nothing running; then wait up to ``finish_s`` for the runs still going (their messages kept hidden)."""
        seen: list[Outcome] = []

        def report(got: list[Outcome]) -> None:
            for outcome in got:
                log.info("%s %s %s", outcome.status, outcome.source, outcome.detail)
                if on_outcome:
                    on_outcome(outcome)
            seen.extend(got)

        idle = 0
        while not until():
            before = self.messages_seen
            report(self.poll_once(wait_s=wait_s))
            idle = 0 if self.messages_seen > before or self.in_flight else idle + 1
            if idle_polls is not None and idle >= idle_polls:
                break
            if wait_s == 0 and not self.in_flight:
                time.sleep(1.0)
        deadline = time.monotonic() + finish_s
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.2)
            report(self.settle())
        return seen
