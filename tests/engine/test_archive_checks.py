"""Archive files are checked for what they claim to be, before they are inflated (issue 18).

The sandbox's archive host serves, each with a .CHECKSUM that matches it, a zip bomb, a file of
another interval under this file's name and another pair's file at this URL: each must be
refused, said in the job's log with the check it failed, and its range fetched by REST, so
that the store ends equal to the truth. The host's own failures (HTTP 500, a stalled answer)
are said as such; an engine error in the archive phase (MemoryError included) is counted and
its range goes to REST. Then the unit checks: member name, size cap, close times, the memory
budget, and three defects the suite once let through (an upper-case checksum, a BOM before a
first row of numbers, a file short by one slot)."""

from __future__ import annotations

import hashlib
import io
import struct
import threading
import zipfile
import zlib
from dataclasses import replace

import pytest

from dccd_tui.config import ConfigError
from dccd_tui.engine.archive import ArchiveFile
from dccd_tui.engine.archive.budget import MEMORY_PER_CSV_BYTE, MemoryBudget
from dccd_tui.engine.archive.checks import RefusedFile, csv_cap, zip_cap
from dccd_tui.engine.archive.csv_frame import parse_archive_csv
from dccd_tui.engine.archive.download import ArchiveClient, verify_zip
from dccd_tui.engine.archive.fast_path import holes
from dccd_tui.engine.errors import Cancelled, TransientError
from dccd_tui.engine.incidents import take_engine_errors
from dccd_tui.engine.models import Series
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.state import Status
from dccd_tui.sandbox import Sandbox, SandboxSettings

from ..helpers import assert_equal_truth, ms, stored
from .test_archive import FAST, NOW, SERIES, config_for, run

DEC = ("2024-12-01", "2025-01-01")  # one monthly file, times in ms
# One daily file each: what a check refuses, and how, is the same in a monthly file, at a
# thirtieth of the candles to build, parse and fetch again by REST.
DEC_DAY = ("2024-12-15", "2024-12-16")  # times in ms
JAN_DAY = ("2025-01-15", "2025-01-16")  # times in us


@pytest.fixture
def sb():
    with Sandbox(SandboxSettings(seed=7, budgets=FAST, now_ms=NOW)) as sandbox:
        yield sandbox


def _run_month(tmp_path, sb, month=DEC, span: int = 60, **kw):
    """One archive file's backfill (a month, or a day; 1m unless `span` says otherwise);
    (its log, runner). The job must end DONE and the store equal the truth, whatever the
    archive served."""
    if span != 60:
        kw["job_extra"] = {**kw.get("job_extra", {}), "span": f"{span // 60}m"}
    runner = run(config_for(tmp_path, sb, start=month[0], end=month[1], **kw))
    state = runner.states[Series("binance", "BTC/USDT", span).key]
    snap = state.snapshot()
    assert snap.status is Status.DONE, snap.error
    truth = sb.ground_truth("binance", "BTC/USDT", span, ms(month[0]), ms(month[1]))
    assert_equal_truth(
        stored(tmp_path / "data").drop("exchange", "market", "kind", "symbol", "span"), truth
    )
    return "\n".join(state.log_lines()), runner


# --- through the sandbox's archive host ------------------------------------------------------


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path, sb):
    """A 3.5 MB zip whose CSV inflates to 1 GB, checksum and all: refused on the size it
    declares (a 5m month holds at most ~3.6 MB, so the zip itself passes the download cap),
    December fetched by REST. On main it was read whole (1 GB, then its parse) and, with
    memory short, failed the job. 5m, not 1m: the same caps at a fifth of the candles to
    fetch again by REST."""
    sb.archive.add_fault("zip_bomb", "2024-12")
    log, runner = _run_month(tmp_path, sb, span=300)
    assert "BTCUSDT-5m-2024-12.zip refused (size cap)" in log
    assert "declares 999,291,975 bytes" in log
    assert "its range goes to REST" in log
    assert "1 file refused" in log
    # the worst case of one 5m month was reserved, then the file's real figure, never more
    budget = runner.archive_client(runner.config.jobs[0]).budget
    assert budget.used == 0
    assert budget.peak <= zip_cap(csv_cap(_month_file("2024-12"), "5m")) * (1 + MEMORY_PER_CSV_BYTE)


def test_a_zip_bomb_as_a_daily_file_is_refused_on_its_download_size(tmp_path, sb):
    """A day of 1m holds at most ~0.6 MB: the 3.5 MB bomb is refused as it downloads."""
    sb.archive.add_fault("zip_bomb", "2025-02-02")
    log, _ = _run_month(tmp_path, sb, ("2025-02-02", "2025-02-03"))
    assert "BTCUSDT-1m-2025-02-02.zip refused (size cap)" in log


@pytest.mark.parametrize("day", [DEC_DAY, JAN_DAY], ids=["ms", "us"])
def test_a_file_of_another_interval_is_refused_on_its_close_times(tmp_path, sb, day):
    """5m rows under the 1m file's own member name: aligned to the minute, inside the day,
    but each closes 5 minutes after it opens. On main they were stored as 1m candles."""
    period = day[0]
    sb.archive.add_fault("other_interval", period)
    log, _ = _run_month(tmp_path, sb, day)
    assert f"BTCUSDT-1m-{period}.zip refused (close time)" in log
    assert "not at its open time + span - 1" in log


def test_another_pairs_file_is_refused_on_its_member_name(tmp_path, sb):
    """ETHUSDT's zip at BTCUSDT's URL, with a .CHECKSUM naming BTCUSDT's file. On main its
    candles were stored as BTCUSDT's."""
    sb.archive.add_fault("other_symbol", "2024-12-15")
    log, _ = _run_month(tmp_path, sb, DEC_DAY)
    assert "BTCUSDT-1m-2024-12-15.zip refused (member name)" in log
    assert "'ETHUSDT-1m-2024-12-15.csv', not 'BTCUSDT-1m-2024-12-15.csv'" in log


def test_a_file_short_by_one_slot_has_that_slot_asked_of_rest(tmp_path, sb):
    """One row left out of the file, its neighbours there, REST has it: stored, no gap."""
    sb.archive.add_fault("short_one", "2024-12-15")
    log, runner = _run_month(tmp_path, sb, DEC_DAY)
    assert "1 hole asked of REST" in log
    gaps = runner.store.series(SERIES).gaps()
    assert gaps == sb.gaps("binance", "BTC/USDT", 60, *map(ms, DEC_DAY))


@pytest.mark.parametrize(
    "fault, said",
    [("http_500", "archive host: HTTP 500"), ("stall", "archive host: timeout")],
)
def test_archive_host_errors_are_named_as_such(tmp_path, sb, fault, said):
    """An HTTP 500 or a stalled answer is the host's failure, not the file's: "not downloaded",
    never "failed verification" (as main said)."""
    sb.archive.add_fault(fault, "2024-12-15")
    # One retry, a 1 s timeout: the stalled zip costs two seconds (REST answers in ms)
    config = config_for(
        tmp_path, sb, start=DEC_DAY[0], end=DEC_DAY[1], job_extra={"max_retries": 1}
    )
    runner = run(replace(config, settings=replace(config.settings, request_timeout=1.0)))
    state = runner.states[SERIES.key]
    assert state.snapshot().status is Status.DONE
    log = "\n".join(state.log_lines())
    assert f"BTCUSDT-1m-2024-12-15.zip not downloaded: {said}" in log
    assert "1 file not downloaded (archive host error)" in log
    assert "failed verification" not in log
    truth = sb.ground_truth("binance", "BTC/USDT", 60, *map(ms, DEC_DAY))
    assert_equal_truth(
        stored(tmp_path / "data").drop("exchange", "market", "kind", "symbol", "span"), truth
    )


def test_a_memory_error_in_the_archive_phase_is_an_engine_error_and_goes_to_rest(
    tmp_path, sb, monkeypatch
):
    """A real MemoryError needs a machine out of memory (bench/archive_bomb.py runs under a
    2 GB limit); here the parse of the file raises one. The job does not fail (on main it did,
    and every rerun downloaded the file again): the error is logged as an engine error and
    counted, and the file's day comes from REST."""
    from dccd_tui.engine.archive import csv_frame

    def out_of_memory(*_args):
        raise MemoryError()

    monkeypatch.setattr(csv_frame, "_read_typed", out_of_memory)
    log, _ = _run_month(tmp_path, sb, DEC_DAY)
    errors = take_engine_errors()
    assert len(errors) == 1
    name = "BTCUSDT-1m-2024-12-15.zip"
    assert errors[0].startswith(f"engine error in archive file {name}: MemoryError")
    assert f"archive: engine error in archive file {name}: MemoryError" in log
    assert "1 engine error: their ranges go to REST" in log


def test_an_engine_error_outside_a_file_hands_the_rest_of_the_phase_to_rest(
    tmp_path, sb, monkeypatch
):
    """A bug in the phase itself (here: finding a file's holes) ends the archive phase, not the
    job: what it did not store is fetched by REST."""
    from dccd_tui.engine.archive import fast_path

    def broken(*_args):
        raise RuntimeError("planted")

    monkeypatch.setattr(fast_path, "holes", broken)
    log, _ = _run_month(tmp_path, sb, DEC_DAY)
    assert [e.split(":")[0] for e in take_engine_errors()] == ["engine error in the archive phase"]
    assert "what it did not store goes to REST" in log


def test_the_memory_cap_is_a_config_key_that_reaches_the_archive_client(tmp_path, sb):
    config = config_for(tmp_path, sb, extra={"archive_memory_mb": 512})
    assert config.exchanges["binance"].archive_memory_mb == 512
    client = Runner(config).archive_client(config.jobs[0])
    assert client.budget.capacity == 512 * 1024 * 1024
    assert config_for(tmp_path / "d", sb).exchanges["binance"].archive_memory_mb == 256
    for bad in (50, 100_000, "lots"):
        with pytest.raises(ConfigError, match="archive_memory_mb"):
            config_for(tmp_path / "x", sb, extra={"archive_memory_mb": bad})


def test_files_in_flight_wait_for_the_memory_budget(sb):
    """Three monthly files on three connections, a budget that holds one month at its worst:
    the second waits until the first's real size is known, and at no time is more reserved
    than the budget. 5m files: the budget is sized by the span, so they wait as 1m files do,
    at a fifth of the candles to build and read."""
    cap = csv_cap(_month_file("2024-12"), "5m")
    worst = zip_cap(cap) + MEMORY_PER_CSV_BYTE * cap
    client = ArchiveClient(sb.archive_url(), parallel=3, memory_mb=worst * 1.2 / 2**20)
    try:
        files = [_month_file(p) for p in ("2024-10", "2024-11", "2024-12")]
        futures = [client.submit(client.fetch_csv, f, "BTCUSDT", "5m") for f in files]
        got = [fut.result(timeout=30) for fut in futures]
    finally:
        client.close()
    # each whole: 8,640 to 8,928 slots of 5 minutes, less the exchange's gaps
    assert all(csv.count(b"\n") > 8_000 for csv, _ in got)
    assert client.budget.used == 0
    assert worst <= client.budget.peak <= client.budget.capacity
    assert client.budget.waits >= 1


# --- the checks, one at a time ---------------------------------------------------------------


def _month_file(period: str) -> ArchiveFile:
    y, m = map(int, period.split("-"))
    ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
    return ArchiveFile(ms(f"{y:04d}-{m:02d}-01"), ms(f"{ny:04d}-{nm:02d}-01"), "monthly", period)


def _zip(member: str, csv: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, csv)
    return buf.getvalue()


def _sum(body: bytes, name: str, upper: bool = False) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return f"{digest.upper() if upper else digest}  {name}\n".encode()


NAME = "BTCUSDT-1m-2024-12.zip"


def test_verify_zip_takes_an_upper_case_checksum():
    """Hex is hex in either case: an upper-case .CHECKSUM is the same checksum."""
    body = _zip("BTCUSDT-1m-2024-12.csv", b"1,2\n")
    assert verify_zip(body, _sum(body, NAME, upper=True), NAME) == b"1,2\n"


def test_the_member_must_be_named_for_the_urls_symbol_interval_and_date():
    for member in ("ETHUSDT-1m-2024-12.csv", "BTCUSDT-5m-2024-12.csv", "BTCUSDT-1m-2024-11.csv"):
        body = _zip(member, b"1,2\n")
        with pytest.raises(RefusedFile, match="holds '") as err:
            verify_zip(body, _sum(body, NAME), NAME)
        assert err.value.reason == "member name"


def _lying_zip(member: str, declared: int, data: bytes) -> bytes:
    """A zip of `data` whose headers say it inflates to `declared` bytes."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = deflate.compress(data) + deflate.flush()
    name = member.encode()
    fields = (8, 0, 0x21, zlib.crc32(data), len(packed), declared, len(name))
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, *fields, 0) + name
    central = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, *fields, 0, 0, 0, 0, 0, 0)
    central += name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local + packed), 0)
    return local + packed + central + end


def test_the_declared_size_is_checked_before_inflating_and_the_actual_one_while():
    """A member declaring more than the cap is refused unread; one declaring less than it
    holds is read up to what it declared, no further, and not trusted."""
    rows = b"1733011200000,1,1,1,1,1,1733011259999,1,1,1,1,0\n" * 20_000  # ~1 MB
    cap = 100_000
    big = _lying_zip("BTCUSDT-1m-2024-12.csv", 10**9, rows)
    with pytest.raises(RefusedFile, match="declares 1,000,000,000 bytes") as err:
        verify_zip(big, _sum(big, NAME), NAME, cap)
    assert err.value.reason == "size cap"
    small = _lying_zip("BTCUSDT-1m-2024-12.csv", 50_000, rows)
    with pytest.raises(TransientError, match="not a valid zip"):
        verify_zip(small, _sum(small, NAME), NAME, cap)
    seen = []
    honest = _zip("BTCUSDT-1m-2024-12.csv", rows[:50_000])
    assert len(verify_zip(honest, _sum(honest, NAME), NAME, cap, seen.append)) == 50_000
    assert seen == [50_000]  # told before inflating, to size the memory reserved


def test_size_caps_follow_the_files_slots():
    day = ArchiveFile(ms("2024-12-02"), ms("2024-12-03"), "daily", "2024-12-02")
    assert csv_cap(day, "1m") == 1440 * 400 + 256
    assert csv_cap(_month_file("2024-12"), "1m") == 44_640 * 400 + 256
    assert csv_cap(_month_file("2024-12"), "1h") == 744 * 400 + 256
    assert zip_cap(csv_cap(day, "1m")) < 700_000


ROW = "{t},100.0,101.0,99.0,100.5,2.0,{c},200.0,7,1.0,100.0,0\n"


@pytest.mark.parametrize("unit", [1, 1000], ids=["ms", "us"])
def test_every_close_time_is_its_open_time_plus_the_span_in_the_files_unit(unit):
    lo = ms("2025-01-01") if unit > 1 else ms("2024-12-01")
    ok = "".join(ROW.format(t=t * unit, c=(t + 60_000) * unit - 1) for t in (lo, lo + 60_000))
    assert parse_archive_csv(ok.encode(), 60, lo, lo + 86_400_000, "f").height == 2
    five = "".join(ROW.format(t=t * unit, c=(t + 300_000) * unit - 1) for t in (lo, lo + 300_000))
    with pytest.raises(RefusedFile, match="row 1 closes at") as err:
        parse_archive_csv(five.encode(), 60, lo, lo + 86_400_000, "f")
    assert err.value.reason == "close time"
    # one row off by one unit, in the second row: named
    off = ok.replace(str((lo + 120_000) * unit - 1), str((lo + 120_000) * unit - 2))
    with pytest.raises(RefusedFile, match="row 2 closes at"):
        parse_archive_csv(off.encode(), 60, lo, lo + 86_400_000, "f")


def test_a_bom_before_a_first_row_of_numbers_is_not_a_header():
    """Its first row is a candle: taken for a header it would be lost (REST would fill the
    slot in, so only this test sees it)."""
    lo = ms("2024-12-01")
    csv = "".join(ROW.format(t=t, c=t + 59_999) for t in (lo, lo + 60_000, lo + 120_000))
    frame = parse_archive_csv(b"\xef\xbb\xbf" + csv.encode(), 60, lo, lo + 86_400_000, "f")
    assert frame["ts"].dt.epoch("ms").to_list() == [lo, lo + 60_000, lo + 120_000]


@pytest.mark.parametrize("missing", [0, 1, 58, 59], ids=["first", "second", "next-to-last", "last"])
def test_a_one_slot_hole_is_found_anywhere_in_a_file(missing):
    import polars as pl

    lo, span = ms("2024-12-01"), 60_000
    ts = [lo + i * span for i in range(60) if i != missing]
    frame = pl.DataFrame({"ts": pl.Series(ts, dtype=pl.Datetime("ms", "UTC"))})
    hole = lo + missing * span
    assert holes(frame, lo, lo + 60 * span, span) == [(hole, hole + span)]
    full = pl.DataFrame({"ts": pl.Series([lo + i * span for i in range(60)])}).with_columns(
        pl.col("ts").cast(pl.Datetime("ms", "UTC"))
    )
    assert holes(full, lo, lo + 60 * span, span) == []


def test_the_memory_budget_waits_shrinks_and_cancels():
    budget = MemoryBudget(100)
    budget.reserve(70)
    got = threading.Event()

    def second():
        budget.reserve(60)
        got.set()
        budget.release()

    t = threading.Thread(target=second)
    t.start()
    assert not got.wait(0.3)  # 70 + 60 > 100: waits
    budget.shrink(30)  # the first file's real size is known: 30 + 60 fit
    assert got.wait(5)
    t.join()
    assert budget.used == 30 and budget.peak == 90 and budget.waits == 1
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):  # 30 + 95 > 100, and the job is cancelled
        _blocked(budget, cancel)
    budget.release()
    assert budget.used == 0
    budget.reserve(10**9)  # more than the whole budget: the whole budget, alone
    assert budget.used == 100
    budget.release()


def _blocked(budget: MemoryBudget, cancel: threading.Event) -> None:
    """A reservation that cannot fit, from another thread, cancelled."""
    errors: list[BaseException] = []

    def take():
        try:
            budget.reserve(95, cancel)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=take)
    t.start()
    t.join(5)
    raise errors[0]


def test_a_series_of_another_span_is_checked_at_its_own_span():
    """1h files: close = open + 3,600,000 - 1."""
    lo = ms("2024-12-01")
    rows = "".join(
        ROW.format(t=t, c=t + 3_600_000 - 1) for t in (lo, lo + 3_600_000, lo + 7_200_000)
    )
    assert parse_archive_csv(rows.encode(), 3600, lo, lo + 86_400_000, "f").height == 3
