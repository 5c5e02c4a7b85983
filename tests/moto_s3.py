"""An S3-compatible server for the tests: moto's ThreadedMotoServer on 127.0.0.1 (a free port),
started once per test process, with one new bucket per test (`moto_store`).

Why moto: it answers If-None-Match (2024) and If-Match (2025) conditional PUTs as S3 does, and
runs in-process, so a test needs no other program (issue 22). Credentials are dummies set in the
AWS environment variables, the only place the store reads them from.
"""

from __future__ import annotations

import itertools
import os
import socket
from dataclasses import dataclass

import pytest

_ids = itertools.count(1)


@dataclass(frozen=True)
class MotoS3:
    endpoint: str
    bucket: str
    url: str  # s3://<bucket>/<prefix>

    def storage_options(self) -> dict[str, str]:
        """What polars (object_store) needs to read the store."""
        return {
            "aws_endpoint_url": self.endpoint,
            "aws_region": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
            "aws_allow_http": "true",
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_server: dict[str, str] = {}


def moto_endpoint() -> str:
    """Start the server once per process; its endpoint URL."""
    if "endpoint" not in _server:
        pytest.importorskip("obstore")
        server_mod = pytest.importorskip("moto.server")
        port = free_port()
        server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        _server["endpoint"] = f"http://127.0.0.1:{port}"
    return _server["endpoint"]


def set_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)


def new_bucket(endpoint: str) -> str:
    import httpx

    name = f"t{os.getpid()}-{next(_ids)}"
    httpx.put(f"{endpoint}/{name}").raise_for_status()  # moto takes an unsigned CreateBucket
    return name
