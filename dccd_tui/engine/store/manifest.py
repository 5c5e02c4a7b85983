"""The coverage manifest (``_coverage.json``) of one series: its format, parsed and written.

It lists the ``[start, end)`` ranges fetched successfully (with or without candles: an
exchange-side gap is covered, not re-downloaded forever), the windows that failed with their
reason, the exchange-side gaps, and the venue's horizon where it has one ("horizon": a range
before the oldest time the venue serves, OKX's funding: known, never fetched, never a gap).
`SeriesStore` rewrites it atomically only after the data files it vouches for are durable, so
coverage never claims candles that are not on disk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from ..models import Series
from . import files
from .files import Unreadable, reason
from .kinds import CANDLES
from .ranges import Failed, Range, merge_failed, merge_ranges

MANIFEST_NAME = "_coverage.json"
MANIFEST_VERSION = 1

FileSign = tuple[int, int, int, int | None, int | None]
"""A month file's signature: (size, mtime_ns, rows, first ts, last ts)."""


def parse_manifest(
    series: Series, raw: bytes, file_name: re.Pattern[str] = files.MONTH_FILE
) -> tuple[list[Range], list[Failed], list[Range] | None, dict[str, FileSign] | None, list[Range]]:
    """Validate a manifest's bytes for `series`: (coverage, failed windows, gaps or None,
    month-file signatures or None, the venue's horizon).

    Raises `Unreadable` (the caller moves the file aside) for anything not exactly right.
    """
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Unreadable(f"not valid JSON: {reason(exc)}") from exc
    if not isinstance(doc, dict):
        raise Unreadable("not a JSON object")
    if doc.get("version") != MANIFEST_VERSION:
        raise Unreadable(f"unsupported version {doc.get('version')!r}")
    s = series
    # "kind" is absent in manifests of trade candles (and in every layout-1 manifest)
    kind = getattr(s, "kind", CANDLES)
    for key, want in (
        ("exchange", s.exchange),
        ("pair", s.pair),
        ("span", s.span),
        ("kind", kind if "kind" in doc or kind != CANDLES else None),
    ):
        if doc.get(key) != want:
            raise Unreadable(f"{key} is {doc.get(key)!r}, expected {want!r} for this folder")

    def is_int(v: object) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    covered = doc.get("covered")
    if not isinstance(covered, list):
        raise Unreadable("'covered' is not a list")
    ranges: list[Range] = []
    for item in covered:
        if not (
            isinstance(item, list)
            and len(item) == 2
            and all(map(is_int, item))
            and item[0] < item[1]
        ):
            raise Unreadable(f"bad covered range {item!r}")
        ranges.append((item[0], item[1]))
    failed_doc = doc.get("failed", [])
    if not isinstance(failed_doc, list):
        raise Unreadable("'failed' is not a list")
    failed: list[Failed] = []
    for item in failed_doc:
        if not (
            isinstance(item, list)
            and len(item) == 3
            and is_int(item[0])
            and is_int(item[1])
            and isinstance(item[2], str)
            and item[0] < item[1]
        ):
            raise Unreadable(f"bad failed window {item!r}")
        failed.append((item[0], item[1], item[2]))

    def range_list(key: str, what: str) -> list[Range]:
        if not isinstance(doc[key], list):
            raise Unreadable(f"'{key}' is not a list")
        out: list[Range] = []
        for item in doc[key]:
            if not (
                isinstance(item, list)
                and len(item) == 2
                and all(map(is_int, item))
                and item[0] < item[1]
            ):
                raise Unreadable(f"bad {what} range {item!r}")
            out.append((item[0], item[1]))
        return merge_ranges(out)

    gaps: list[Range] | None = None  # absent in manifests written before gaps were kept
    if "gaps" in doc:
        gaps = range_list("gaps", "gap")
    horizon = range_list("horizon", "horizon") if "horizon" in doc else []
    signs: dict[str, FileSign] | None = None  # absent in manifests written before signatures
    if "files" in doc:
        if not isinstance(doc["files"], dict):
            raise Unreadable("'files' is not an object")
        signs = {}
        for name, item in doc["files"].items():
            if not (
                file_name.match(name)
                and isinstance(item, list)
                and len(item) == 5
                and all(map(is_int, item[:3]))
                and all(v is None or is_int(v) for v in item[3:])
            ):
                raise Unreadable(f"bad file signature {name!r}: {item!r}")
            signs[name] = (item[0], item[1], item[2], item[3], item[4])
    return merge_ranges(ranges), merge_failed(failed), gaps, signs, horizon


def manifest_bytes(
    series: Series,
    covered: Sequence[Range],
    failed: Sequence[Failed],
    gaps: Sequence[Range] | None = None,
    signs: dict[str, FileSign] | None = None,
    horizon: Sequence[Range] = (),
    lease: tuple[str, str] | None = None,
) -> bytes:
    """The manifest's text: one range per line, so that a diff of two versions reads well.

    `lease` (token, holder): on an object store, the fencing token of the series' lease that
    wrote it (leases.py), and who held it."""
    s = series
    head = [
        f'  "version": {MANIFEST_VERSION}',
        f'  "exchange": {json.dumps(s.exchange)}',
        f'  "pair": {json.dumps(s.pair)}',
        f'  "span": {s.span}',
    ]
    kind = getattr(s, "kind", CANDLES)
    if kind != CANDLES:
        head.append(f'  "kind": {json.dumps(kind)}')
    cov = ",\n".join(f"    [{a}, {b}]" for a, b in covered)
    fail = ",\n".join(f"    [{a}, {b}, {json.dumps(r)}]" for a, b, r in failed)
    gap = ",\n".join(f"    [{a}, {b}]" for a, b in gaps or ())

    def num(v: int | None) -> str:
        return "null" if v is None else str(v)

    sign = ",\n".join(
        f"    {json.dumps(name)}: [{', '.join(map(num, sig))}]"
        for name, sig in sorted((signs or {}).items())
    )
    body = ",\n".join(
        head
        + [
            '  "covered": [' + (f"\n{cov}\n  " if cov else "") + "]",
            '  "failed": [' + (f"\n{fail}\n  " if fail else "") + "]",
        ]
        + (
            []
            if gaps is None
            else [  # None: not known yet (an older manifest)
                '  "gaps": [' + (f"\n{gap}\n  " if gap else "") + "]",
            ]
        )
        + (
            []
            if signs is None
            else [
                '  "files": {' + (f"\n{sign}\n  " if sign else "") + "}",
            ]
        )
        + (
            []
            if not horizon
            else [
                '  "horizon": ['
                + "\n"
                + ",\n".join(f"    [{a}, {b}]" for a, b in horizon)
                + "\n  ]",
            ]
        )
        + (
            []
            if lease is None
            else [f'  "lease": {json.dumps(lease[0])}', f'  "holder": {json.dumps(lease[1])}']
        )
        + [
            f'  "updated": {json.dumps(files.utc_now().isoformat(timespec="seconds"))}',
        ]
    )
    return ("{\n" + body + "\n}\n").encode("utf-8")


def manifest_lease(raw: bytes) -> tuple[str, str] | None:
    """The (token, holder) of the lease a manifest was written under, None if none (or it is
    unreadable: `parse_manifest` says why)."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("lease"), str):
        return None
    return doc["lease"], str(doc.get("holder", "?"))
