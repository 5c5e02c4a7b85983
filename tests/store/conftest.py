"""Fixtures of the store tests: an S3 bucket on moto (tests/moto_s3.py)."""

from __future__ import annotations

import pytest

from ..moto_s3 import MotoS3, moto_endpoint, new_bucket, set_aws_env


@pytest.fixture
def moto_store(monkeypatch: pytest.MonkeyPatch) -> MotoS3:
    """A new, empty bucket on the moto server, and its store URL (with a prefix)."""
    endpoint = moto_endpoint()
    set_aws_env(monkeypatch)
    bucket = new_bucket(endpoint)
    return MotoS3(endpoint, bucket, f"s3://{bucket}/store")
