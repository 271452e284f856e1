"""Real servers on 127.0.0.1 for the tests and benchmarks: a base for small HTTP stand-ins (the Hub, Shopify's Admin
API), and moto's S3 + SQS with a bucket that notifies a queue, as S3 does."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

AWS_TEST_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


class LoopbackServer:
    """A threaded HTTP server on a free port, serving ``handler`` while used as a context manager."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def reply_json(handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    headers = {"Content-Type": "application/json", "Content-Length": str(len(data)), **(headers or {})}
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(data)


@contextmanager
def moto_aws() -> Iterator[tuple[str, Any, Any]]:
    """moto's S3 and SQS as one HTTP server: yields (endpoint URL, boto3 S3 client, boto3 SQS client)."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        kw = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": "testing",
              "aws_secret_access_key": "testing"}
        yield url, boto3.client("s3", **kw), boto3.client("sqs", **kw)
    finally:
        server.stop()


def bucket_notifying_queue(s3: Any, sqs: Any, bucket: str, visibility_timeout_s: int | None = None) -> str:
    """Create ``bucket`` and a queue ``<bucket>-events`` that gets its ObjectCreated notifications; the queue URL."""
    s3.create_bucket(Bucket=bucket)
    attributes = {"VisibilityTimeout": str(visibility_timeout_s)} if visibility_timeout_s is not None else {}
    queue = sqs.create_queue(QueueName=f"{bucket}-events", Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    return queue


class AtomicDict:
    """modal.Dict's put-if-absent contract, in memory (a real Dict needs Modal's servers)."""

    def __init__(self):
        self.data, self.lock = {}, threading.Lock()

    def put(self, key, value, *, skip_if_exists=False):
        with self.lock:
            if skip_if_exists and key in self.data:
                return False
            self.data[key] = value
            return True

    def get(self, key, default=None):
        return self.data.get(key, default)

    def pop(self, key, default=None):
        with self.lock:
            return self.data.pop(key, default)
