"""The sandbox's archive host, over real HTTP: the hostile files of issue 18 are what they claim
to be hostile in (each with a .CHECKSUM that matches it), and the host's own failures happen.
The engine's side is tests/engine/test_archive_checks.py."""

from __future__ import annotations

import hashlib
import io
import zipfile

import httpx
import pytest

from dccd_tui.sandbox import Sandbox, SandboxSettings, _archive

NOW = 1_738_672_440_000  # 2025-02-04 12:34 UTC
MONTH = "/data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-{}.zip"
DAY = "/data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-{}.zip"


@pytest.fixture(scope="module")
def sb():
    with Sandbox(SandboxSettings(seed=7, now_ms=NOW, stall_seconds=5)) as box:
        yield box


@pytest.fixture
def host(sb):
    sb.archive.clear_faults()
    with httpx.Client(base_url=sb.archive_url(), timeout=10) as client:
        yield client
    sb.archive.clear_faults()


def path_of(period: str) -> str:
    """The URL path of BTCUSDT 1m `period`: "YYYY-MM" a monthly file, "YYYY-MM-DD" a daily one
    (a thirtieth of the candles, where what is checked is a file's, not a month's)."""
    return (DAY if len(period) == 10 else MONTH).format(period)


def fetch(host: httpx.Client, period: str) -> tuple[zipfile.ZipInfo, zipfile.ZipFile, bytes]:
    """The zip of BTCUSDT 1m `period`, checked against its .CHECKSUM (which must name it)."""
    path = path_of(period)
    body = host.get(path).raise_for_status().content
    digest, name = host.get(path + ".CHECKSUM").raise_for_status().text.split()
    assert digest == hashlib.sha256(body).hexdigest()
    assert name == f"BTCUSDT-1m-{period}.zip"
    zf = zipfile.ZipFile(io.BytesIO(body))
    (info,) = zf.infolist()
    return info, zf, body


def rows(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> list[list[int]]:
    """(open time, close time) of each row, the header left out."""
    lines = zf.read(info).decode().splitlines()
    return [[int(f) for f in line.split(",")[0:7:6]] for line in lines if line[0].isdigit()]


def test_a_clean_file_is_named_for_its_url_and_closes_each_minute(host):
    info, zf, _ = fetch(host, "2024-12")
    assert info.filename == "BTCUSDT-1m-2024-12.csv"
    assert all(close == open_ + 59_999 for open_, close in rows(zf, info))


def test_the_zip_bomb_is_small_declares_a_gigabyte_and_is_never_built_inflated(sb, host):
    sb.archive.add_fault("zip_bomb", "2024-11")
    info, zf, body = fetch(host, "2024-11")
    assert len(body) < 4_000_000
    assert info.filename == "BTCUSDT-1m-2024-11.csv"  # named as it should be
    assert info.file_size > 999_000_000
    with zf.open(info) as fh:  # a megabyte of it: one row, again and again
        head = fh.read(1 << 20).decode().splitlines()
    assert len(set(head[:-1])) == 1 and len(head) > 5000


def test_another_intervals_rows_under_this_files_name(sb, host):
    sb.archive.add_fault("other_interval", "2025-01")
    info, zf, _ = fetch(host, "2025-01")
    assert info.filename == "BTCUSDT-1m-2025-01.csv"
    spans = {close - open_ for open_, close in rows(zf, info)}
    assert spans == {300_000_000 - 1}  # 5m, in microseconds (2025 on)


def test_another_pairs_zip_at_this_url(sb, host):
    sb.archive.add_fault("other_symbol", "2024-10-10")
    info, zf, _ = fetch(host, "2024-10-10")
    assert info.filename == "ETHUSDT-1m-2024-10-10.csv"
    assert all(close == open_ + 59_999 for open_, close in rows(zf, info))


def test_short_one_leaves_out_exactly_one_row_between_two_present(sb, host):
    info, zf, _ = fetch(host, "2024-09-10")
    full = [o for o, _ in rows(zf, info)]
    sb.archive.add_fault("short_one", "2024-09-10")
    info, zf, _ = fetch(host, "2024-09-10")
    short = [o for o, _ in rows(zf, info)]
    (gone,) = set(full) - set(short)
    assert len(short) == len(full) - 1
    assert gone - 60_000 in short and gone + 60_000 in short


def test_http_500_and_a_stall_from_the_host(sb, host):
    sb.archive.add_fault("http_500", "2024-08-10", times=1)
    assert host.get(path_of("2024-08-10")).status_code == 500
    assert host.get(path_of("2024-08-10")).status_code == 200  # once only
    sb.archive.add_fault("stall", "2024-07-10", times=1)
    with pytest.raises(httpx.ReadTimeout):
        host.get(path_of("2024-07-10"), timeout=0.5)
    fetch(host, "2024-07-10")  # once only


def test_unknown_faults_are_refused(sb):
    with pytest.raises(ValueError, match="unknown archive fault"):
        sb.archive.add_fault("zip_bombs", "2024-07")


def test_files_shared_between_sandboxes_are_the_ones_each_would_build():
    """Built files are shared by the archive hosts of one process (sandbox/_archive.py): a
    sandbox of other candles (another seed), another clock or another header rule gets its own
    file, never another's; one of the same world gets the same bytes, fault files included."""
    period = ("BTCUSDT", "5m", "daily", "2025-01-10")

    def build(fault=None, seed=7, now=NOW, header="mixed"):
        with Sandbox(SandboxSettings(seed=seed, now_ms=now)) as box:
            box.archive.header = header
            return box.archive.build(*period, fault=fault)

    first = build()
    assert build() == first
    assert build(seed=8)[0] != first[0]
    assert build(now=NOW + 86_400_000 * 40) == first  # a closed day is the same a month on
    with_header = build(header="always")[0]
    without = build(header="never")[0]
    assert with_header != without and first[0] in (with_header, without)
    for fault in ("short", "short_one", "other_interval", "other_symbol"):
        hostile = build(fault=fault)
        assert hostile != first and build(fault=fault) == hostile, fault
        # the same file built by a host that never saw the shared one
        _archive._SHARED.clear()
        assert build(fault=fault) == hostile, fault
