"""A real S3 (and STS / IAM) API on loopback for tests and benchmarks: moto's threaded server.

    server = MotoS3(enforce_auth=True).start()
    server.create_bucket("rejected")
    ...
    server.stop()

With ``enforce_auth`` the server checks signatures and IAM policies like AWS does, so wrong keys give
InvalidAccessKeyId / SignatureDoesNotMatch and a user without rights gets AccessDenied. moto keeps
that switch process-wide, so ``stop()`` puts the previous value back. ``MotoS3(tls=pki)`` serves HTTPS
with a ``tests.support.tls.TestPKI`` certificate (an https:// endpoint its own clients trust).

``MotoProcess`` runs the same server (no auth) in a process of its own (``python -m tests.support.s3``),
so that a test can pause it with SIGSTOP: a store that accepts connections and stops answering.
"""

from __future__ import annotations

import json
import logging
import signal
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from moto.server import DomainDispatcherApplication, MotoRequestHandler, ThreadedMotoServer, create_backend_app
from werkzeug.serving import make_server

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"
_BOOTSTRAP_KEYS = {"aws_access_key_id": "bootstrap", "aws_secret_access_key": "bootstrap"}


@dataclass(frozen=True)
class Keys:
    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:
        return f"Keys({self.access_key_id!r}, ***)"


# On AWS, an S3 API operation is authorized by an IAM action that is not always the operation's name:
# ListObjectsV2 (and ListObjects, HeadBucket) by s3:ListBucket on the bucket's ARN; HeadObject by
# s3:GetObject and DeleteObjects by s3:DeleteObject on each object's ARN (bucket/key). moto up to 5.2.5
# checked those IAM actions; moto 5.2.6 checks the operation's name instead (s3:ListObjectsV2,
# s3:HeadObject, s3:DeleteObjects), an action no AWS policy can grant. So a granted IAM action also grants
# moto's names for the operations it covers on AWS: a policy then means here what it means on AWS, on
# either moto. ListBucket is the only bucket-level action the connector needs.
_MOTO_OPERATION_NAMES = {
    "s3:ListBucket": ("s3:ListObjectsV2", "s3:ListObjects", "s3:HeadBucket"),
    "s3:GetObject": ("s3:HeadObject",),
    "s3:DeleteObject": ("s3:DeleteObjects",),
}
_BUCKET_ACTIONS = {"s3:ListBucket"}


def _with_moto_names(actions: list[str]) -> list[str]:
    return actions + [name for action in actions for name in _MOTO_OPERATION_NAMES.get(action, ())]


def _policy(actions: list[str], *, principal: bool = False, bucket: str | None = None) -> str:
    """An Allow policy for ``actions``: on every resource, or, with ``bucket``, scoped as AWS's docs
    write it (bucket-level actions on ``arn:aws:s3:::bucket``, object-level ones on its ``/*``)."""
    if principal:
        statements = [{"Effect": "Allow", "Action": actions, "Principal": {"AWS": "*"}}]
    elif bucket is None:
        statements = [{"Effect": "Allow", "Action": _with_moto_names(actions), "Resource": "*"}]
    else:
        scoped = {f"arn:aws:s3:::{bucket}": [a for a in actions if a in _BUCKET_ACTIONS],
                  f"arn:aws:s3:::{bucket}/*": [a for a in actions if a not in _BUCKET_ACTIONS]}
        statements = [{"Effect": "Allow", "Action": _with_moto_names(granted), "Resource": resource}
                      for resource, granted in scoped.items() if granted]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


class _TlsMotoServer(ThreadedMotoServer):
    """moto's threaded server, serving HTTPS (its own class has no TLS option)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self._context = context

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(self._ip_address, self._port, app, True,
                                   request_handler=MotoRequestHandler, ssl_context=self._context)
        self._server_ready_event.set()
        self._server.serve_forever()


class MotoS3:
    def __init__(self, *, enforce_auth: bool = True, tls: Any = None) -> None:
        self._enforce_auth = enforce_auth
        self._tls = tls
        self._server = (_TlsMotoServer(tls.server_context()) if tls else
                        ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False))
        self._previous_auth: str | None = None
        self.endpoint = ""
        self.admin = Keys("bootstrap", "bootstrap")

    def start(self) -> MotoS3:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"{'https' if self._tls else 'http'}://{host}:{port}"
        if self._enforce_auth:
            # the admin user must exist before auth is on, or nobody could create it
            self.admin = self._create_user("admin", ["*"], keys=_BOOTSTRAP_KEYS)
            self._previous_auth = self._set_auth_threshold("0")
        return self

    def stop(self) -> None:
        if self._previous_auth is not None:
            self._set_auth_threshold(self._previous_auth)
        self._server.stop()

    # --- clients and fixtures -------------------------------------------------------------------

    def client(self, service: str = "s3", keys: Keys | None = None, **extra: Any) -> Any:
        keys = keys or self.admin
        if self._tls:
            extra.setdefault("verify", str(self._tls.ca_file))
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=keys.access_key_id,
                            aws_secret_access_key=keys.secret_access_key,
                            config=Config(s3={"addressing_style": "path"}), **extra)

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def delete_bucket(self, name: str) -> None:
        s3 = self.client()
        for item in s3.list_objects_v2(Bucket=name).get("Contents", []):
            s3.delete_object(Bucket=name, Key=item["Key"])
        s3.delete_bucket(Bucket=name)

    def create_user(self, name: str, actions: list[str], *, bucket: str | None = None) -> Keys:
        """An IAM user allowed only ``actions`` (e.g. ["s3:ListBucket"]), on ``bucket`` alone when given,
        with fresh access keys."""
        return self._create_user(name, actions, bucket=bucket, keys={
            "aws_access_key_id": self.admin.access_key_id,
            "aws_secret_access_key": self.admin.secret_access_key})

    def create_role(self, name: str, actions: list[str]) -> str:
        """A role anyone may assume, allowed ``actions``; returns its ARN."""
        iam = self.client("iam")
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=_policy(
            ["sts:AssumeRole"], principal=True))["Role"]
        iam.put_role_policy(RoleName=name, PolicyName="allow", PolicyDocument=_policy(actions))
        return role["Arn"]

    def objects(self, bucket: str, prefix: str = "") -> dict[str, bytes]:
        """Every object under ``prefix``, key -> body."""
        s3 = self.client()
        found: dict[str, bytes] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found[item["Key"]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        return found

    # --- internals -----------------------------------------------------------------------------

    def _create_user(self, name: str, actions: list[str], *, keys: dict[str, str],
                     bucket: str | None = None) -> Keys:
        verify = str(self._tls.ca_file) if self._tls else None
        iam = boto3.client("iam", endpoint_url=self.endpoint, region_name=REGION, verify=verify, **keys)
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="allow", PolicyDocument=_policy(actions, bucket=bucket))
        made = iam.create_access_key(UserName=name)["AccessKey"]
        return Keys(made["AccessKeyId"], made["SecretAccessKey"])

    def _set_auth_threshold(self, value: str) -> str:
        """moto enforces auth after this many requests ("0": always, "inf": never)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset-auth", data=value.encode(),
                                         method="POST", headers={"Content-Type": "text/plain"})
        context = self._tls.client_context() if self._tls else None
        with urllib.request.urlopen(request, timeout=10, context=context) as answer:
            return json.loads(answer.read())["PREVIOUS_INITIAL_NO_AUTH_ACTION_COUNT"]


class MotoProcess:
    """moto's S3 in a child process: ``pause()`` (SIGSTOP) and ``resume()`` (SIGCONT) it; ``stop()``
    resumes it first, then ends it. Only the process this class started is ever signalled."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self.endpoint = ""
        self.admin = Keys("bootstrap", "bootstrap")

    def start(self) -> MotoProcess:
        root = Path(__file__).resolve().parents[2]
        self._proc = subprocess.Popen([sys.executable, "-m", "tests.support.s3"], cwd=root, text=True,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self._proc.stdout is not None
        self.endpoint = self._proc.stdout.readline().strip()
        assert self.endpoint.startswith("http://"), "moto did not start"
        return self

    def pause(self) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self._proc is None:
            return
        self.resume()
        assert self._proc.stdin is not None
        self._proc.stdin.close()  # the child's signal to stop
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    @classmethod
    @contextmanager
    def with_bucket(cls, bucket: str) -> Iterator[MotoProcess]:
        """A started server holding an empty ``bucket``; stopped (resumed first) however the block ends."""
        server = cls().start()
        try:
            server.client().create_bucket(Bucket=bucket)
            yield server
        finally:
            server.stop()

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=self.admin.access_key_id,
                            aws_secret_access_key=self.admin.secret_access_key,
                            config=Config(s3={"addressing_style": "path"}))


def _serve_until_stdin_closes() -> None:
    server = MotoS3(enforce_auth=False).start()
    print(server.endpoint, flush=True)
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    _serve_until_stdin_closes()
