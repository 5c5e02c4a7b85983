"""Reading a store on object storage with polars and DuckDB, offline (no extension downloaded).

Why it exists: the two datasets are meant to be read by one hive scan (docs/store.md); on an
object store, each reader needs to be told where the server is. Credentials come from the AWS
environment variables, as for the store itself.

- polars reads ``s3://`` through its own object_store client: `polars_storage_options` gives the
  endpoint, region and allow_http of ``[store]``.
- DuckDB's S3 support is its httpfs extension. The ``duckdb-extension-httpfs`` package on PyPI
  stops at 1.5.5, which DuckDB 2.0 refuses to load ("built specifically for DuckDB version
  v1.5.5"), and fetching the extension at run time is what we avoid. So DuckDB reads through an
  fsspec filesystem made from obstore (`duckdb_filesystem`, registered with
  ``con.register_filesystem``): ``read_parquet('s3://...', hive_partitioning=true)`` then works
  with nothing downloaded. With a DuckDB whose httpfs package fits, a secret does the same
  (docs/store.md shows both).
"""

from __future__ import annotations

from typing import Any

from .root import StoreOptions


def polars_storage_options(options: StoreOptions | None) -> dict[str, str]:
    """``storage_options`` for polars' ``scan_parquet("s3://...")``; credentials from the
    environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)."""
    import os

    out: dict[str, str] = {}
    opts = options or StoreOptions()
    if opts.endpoint:
        out["aws_endpoint_url"] = opts.endpoint
        out["aws_virtual_hosted_style_request"] = "false"
    region = opts.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        out["aws_region"] = region
    if opts.allow_http:
        out["aws_allow_http"] = "true"
    return out


def duckdb_filesystem(options: StoreOptions | None) -> Any:
    """An fsspec filesystem for ``s3://`` URLs, through obstore, for
    ``duckdb.register_filesystem`` (or ``con.register_filesystem``)."""
    from obstore.fsspec import FsspecStore

    opts = options or StoreOptions()
    config: dict[str, Any] = {}
    if opts.endpoint:
        config["endpoint"] = opts.endpoint
        config["virtual_hosted_style_request"] = False
    if opts.region:
        config["region"] = opts.region

    class _S3(FsspecStore):
        # DuckDB globs with the scheme ("s3://b/k/**/*.parquet") and opens what the glob
        # returns; obstore's fsspec store globs bucket-relative paths only.
        def glob(self, path: str, **kwargs: Any) -> Any:
            found = super().glob(path.split("://", 1)[-1], **kwargs)
            return [f"s3://{p}" for p in found]

    client = {"allow_http": bool(opts.allow_http)}
    return _S3("s3", config=config, client_options=client)  # type: ignore[call-overload]
