"""Whole objects in the configured store, by key: what the sync ledger and dry runs keep beside the
rejected records.

    objects = open_objects(config.object_storage_config)     # None for storage_type None
    objects.put("…/allow-removals.json", body); objects.get(key); objects.list(prefix); objects.delete(keys)
    objects.put_file(key, path); objects.get_file(key, path)     # large objects (the ledger's), in parts

S3: keys live under ``bucket_path`` in the bucket (one PutObject / GetObject / ListObjectsV2 / DeleteObjects
each). Local: files under ``destination_path`` (written durably: temp file, fsync, rename). Blocking:
callers run these in a worker thread. ``put_file`` / ``get_file`` stream a local file
in parts (S3: boto3's managed transfer, multipart past 8 MB), so a ledger snapshot is never held whole. Every failure is a :class:`StoreError` naming the step; one that
may pass is retried within ``options.retry`` (a sync: its ``retry_max_seconds``; ``retrying.py``).
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any, Protocol

from ..config import LocalStorage, S3Storage, StorageConfig
from ..errors import StoreError
from .local import COPY_PART, io_error, write_durably
from .retrying import Retrier, Wait
from .options import StoreOptions


class Objects(Protocol):
    root: str  # where the keys live, for messages: s3://bucket/path or a directory

    def put(self, key: str, body: bytes) -> None: ...

    def get(self, key: str) -> bytes | None: ...  # None: no such object

    def put_file(self, key: str, path: Path) -> None: ...  # the file's bytes as the object, in parts

    def get_file(self, key: str, path: Path) -> bool: ...  # the object into ``path``; False: no such object

    def list(self, prefix: str) -> list[str]: ...  # keys under prefix, sorted

    def delete(self, keys: list[str]) -> None: ...

    def waiting(self) -> Wait | None: ...  # what a request has waited on for long, for progress lines


def open_objects(storage: StorageConfig, options: StoreOptions | None = None) -> Objects | None:
    """``options``: request timeout and retry budget (a sync's: ``options.sync_options(config)``)."""
    options = options or StoreOptions()
    if isinstance(storage, S3Storage):
        return S3Objects(storage, options)
    if isinstance(storage, LocalStorage):
        return LocalObjects(storage.destination_path, options)
    return None


class LocalObjects:
    def __init__(self, directory: str, options: StoreOptions | None = None) -> None:
        self._root = Path(directory)
        self.root = str(self._root)
        self._retrier = Retrier((options or StoreOptions()).retry)

    def waiting(self) -> Wait | None:
        return self._retrier.waiting()

    def _path(self, key: str) -> Path:
        path = self._root / key
        if not path.resolve().is_relative_to(self._root.resolve()):
            raise StoreError(f"Key {key!r} leaves {self._root}", step="ResolvePath", target=self.root)
        return path

    def put(self, key: str, body: bytes) -> None:
        path = self._path(key)
        self._retrier.call("file write", lambda: self._write(path, key, body))

    def _write(self, path: Path, key: str, body: bytes | Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_durably(path, body)
        except OSError as exc:
            raise self._error(exc, "WriteFile", key) from None

    def put_file(self, key: str, source: Path) -> None:
        path = self._path(key)
        self._retrier.call("file write", lambda: self._write(path, key, Path(source)))

    def get(self, key: str) -> bytes | None:
        return self._retrier.call("file read", lambda: self._read(key))

    def get_file(self, key: str, target: Path) -> bool:
        return self._retrier.call("file read", lambda: self._copy(key, Path(target)))

    def _copy(self, key: str, target: Path) -> bool:
        try:
            with open(self._path(key), "rb") as source, open(target, "wb") as sink:
                shutil.copyfileobj(source, sink, COPY_PART)
            return True
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise self._error(exc, "ReadFile", key) from None

    def _read(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._error(exc, "ReadFile", key) from None

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix) if prefix else self._root
        directory = base if prefix.endswith("/") or not prefix else base.parent
        if not directory.is_dir():
            return []
        found = []
        for path in directory.rglob("*"):
            key = path.relative_to(self._root).as_posix()
            if path.is_file() and key.startswith(prefix) and not path.name.startswith("."):
                found.append(key)
        return sorted(found)

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            self._retrier.call("file delete", lambda: self._unlink(key))

    def _unlink(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise self._error(exc, "DeleteFile", key) from None

    def _error(self, exc: OSError, step: str, key: str) -> StoreError:
        return io_error(exc, f"Directory '{self._root}': {step} failed for {key}", step=step, target=self.root)


class S3Objects:
    def __init__(self, cfg: S3Storage, options: StoreOptions | None = None) -> None:
        from .aws import S3Access, sync_timeouts

        options = options or StoreOptions()
        self._access = S3Access(cfg, sync_timeouts(options.request_timeout))
        self._retrier = Retrier(options.retry)
        self._prefix = cfg.bucket_path.strip("/")
        self.root = f"s3://{cfg.s3_bucket_name}/{self._prefix}".rstrip("/")
        self._client: Any = None
        self._lock = threading.Lock()

    def waiting(self) -> Wait | None:
        return self._retrier.waiting()

    def _key(self, key: str) -> str:
        return f"{self._prefix}/{key}" if self._prefix else key

    def _call(self, step: str, call: Any) -> Any:
        return self._retrier.call(f"S3 {step}", lambda: self._call_once(step, call))

    def _call_once(self, step: str, call: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        with self._lock:
            if self._client is None:
                self._client = self._access.client()
            client = self._client
        try:
            return call(client)
        except ClientError as exc:
            if step == "GetObject" and exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise self._access.error(exc, step=step) from None
        except BotoCoreError as exc:
            raise self._access.error(exc, step=step) from None

    def put(self, key: str, body: bytes) -> None:
        self._call("PutObject", lambda c: c.put_object(Bucket=self._access.bucket, Key=self._key(key), Body=body))

    def get(self, key: str) -> bytes | None:
        answer = self._call("GetObject", lambda c: c.get_object(Bucket=self._access.bucket, Key=self._key(key)))
        return None if answer is None else answer["Body"].read()

    def put_file(self, key: str, path: Path) -> None:
        self._call("PutObject", lambda c: c.upload_file(str(path), self._access.bucket, self._key(key)))

    def get_file(self, key: str, path: Path) -> bool:
        # download_file returns None: ``or True`` tells it from the None of a missing object
        return bool(self._call("GetObject", lambda c: c.download_file(
            self._access.bucket, self._key(key), str(path)) or True))

    def list(self, prefix: str) -> list[str]:
        def pages(client: Any) -> list[str]:
            found = []
            for page in client.get_paginator("list_objects_v2").paginate(
                    Bucket=self._access.bucket, Prefix=self._key(prefix)):
                found += [item["Key"] for item in page.get("Contents", [])]
            return found
        cut = len(self._prefix) + 1 if self._prefix else 0
        return sorted(key[cut:] for key in self._call("ListObjectsV2", pages))

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": self._key(key)} for key in keys[start:start + 1000]]
            self._call("DeleteObjects", lambda c: c.delete_objects(
                Bucket=self._access.bucket, Delete={"Objects": chunk, "Quiet": True}))

