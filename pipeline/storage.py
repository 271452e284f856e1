"""Where inputs and artefacts live: a local folder (embedded default) or an S3 bucket (a boto3 client passed in,
so this module never imports boto3)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol


class Storage(Protocol):
    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def put_json(self, key: str, obj: Any) -> str: ...


class LocalStorage:
    """Artefacts as files under ``root``; keys are relative paths with '/' separators."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents and path != self.root.resolve():
            raise ValueError(f"key {key!r} leaves the storage root")
        return path

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)  # readers never see half a file
        return str(path)

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def put_json(self, key: str, obj: Any) -> str:
        return self.put(key, json.dumps(obj, indent=2, default=_json_default).encode(), "application/json")


class S3Storage:
    """Artefacts as objects ``s3://bucket/<prefix>/<key>``; ``client`` is a boto3 S3 client."""

    def __init__(self, client: Any, bucket: str, prefix: str = ""):
        self.client, self.bucket, self.prefix = client, bucket, prefix.strip("/")

    def object_key(self, key: str) -> str:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"key {key!r} leaves the storage prefix")
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        self.client.put_object(Bucket=self.bucket, Key=self.object_key(key), Body=data, ContentType=content_type)
        return f"s3://{self.bucket}/{self.object_key(key)}"

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))["Body"].read()

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except Exception as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def put_json(self, key: str, obj: Any) -> str:
        return self.put(key, json.dumps(obj, indent=2, default=_json_default).encode(), "application/json")


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else), without importing botocore."""
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
