"""Binance's public archive as a fast path (issue 13), against the sandbox's archive host.

The sandbox serves the archive from the same candles as its REST API, so the archive path and
the REST path must build the very same store: same candles, same values, same coverage, same
gaps. Each archive defect (corrupt zip, wrong or missing checksum, missing file, short file) is
injected and must be handled without storing anything unverified."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from dccd_tui.config import ConfigError, save_config
from dccd_tui.engine.archive import split_missing
from dccd_tui.engine.archive.csv_frame import parse_archive_csv
from dccd_tui.engine.archive.download import verify_zip
from dccd_tui.engine.errors import TransientError
from dccd_tui.engine.models import Series
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.state import Status
from dccd_tui.sandbox import Sandbox, SandboxSettings

from ..helpers import EXCHANGES, OTHER_MONTHS, assert_equal_truth, ms, stored

FAST = {"binance": 200}
NOW = ms("2025-02-04 12:34:00")
# Two monthly files (December in ms, January in us), three daily files, and REST for the rest.
START, END = "2024-12-01", "2025-02-04 06:00:00"
SERIES = Series("binance", "BTC/USDT", 60)


def config_for(
    tmp: Path,
    sb: Sandbox,
    *,
    archive: bool = True,
    start=START,
    end=END,
    folder: str = "data",
    extra: dict | None = None,
    job_extra: dict | None = None,
):
    exchanges = {name: {"base_url": sb.base_url(name)} for name in EXCHANGES}
    exchanges["binance"].update(
        {
            "requests_per_second": 200,
            "archive_url": sb.archive_url(),
            "archive": archive,
            **(extra or {}),
        }
    )
    job = {
        "exchange": "binance",
        "pairs": ["BTC/USDT"],
        "span": "1m",
        "start": start,
        "max_retries": 2,
        "retry_delay": 0.05,
        **(job_extra or {}),
    }
    if end is not None:
        job["end"] = end
    tmp.mkdir(parents=True, exist_ok=True)
    return save_config(
        tmp / "config.toml",
        {"settings": {"data_path": folder}, "exchanges": exchanges, "histo_jobs": [job]},
    )


def run(config, now: int = NOW) -> Runner:
    runner = Runner(config, now=now).open()
    try:
        runner.start()
        assert runner.wait(120), "the job did not finish in time"
    finally:
        runner.close()
    return runner


def store_picture(runner: Runner) -> tuple:
    s = runner.store.series(SERIES)
    return s.coverage(), s.gaps(), s.failed()


@pytest.fixture
def sb():
    with Sandbox(SandboxSettings(seed=7, budgets=FAST, now_ms=NOW)) as sandbox:
        yield sandbox


def test_archive_and_rest_build_the_same_store(tmp_path, sb):
    _archive_and_rest_agree(tmp_path, sb, NOW, START, END, monthly=2, daily=3)


#: The same comparison with both clocks pinned to other months (tests/helpers.py, OTHER_MONTHS):
#: which monthly and daily files exist, and in which time unit, follows the clock. Each runs
#: over the month before its clock's (one monthly file) and the first days of its own month
#: before the clock (two daily files; none when the clock is on the 1st). The REST reference
#: covers the last day of the monthly file, the daily files and the REST tail: the whole range
#: is compared with the sandbox's truth and with the picture a REST run has (its coverage, the
#: exchange's gaps, nothing failed), which test_archive_and_rest_build_the_same_store checks
#: a REST run of its own to have.
@pytest.mark.parametrize("month", list(OTHER_MONTHS))
def test_archive_and_rest_build_the_same_store_in_other_months(tmp_path, month):
    now = OTHER_MONTHS[month]
    year, mon, day = time.gmtime(now // 1000)[:3]
    first = (year * 12 + mon - 1) - 1  # one month back, counted in months since year 0
    start = f"{first // 12:04d}-{first % 12 + 1:02d}-01"
    last = min(day, 3)  # the days before it are daily files
    end = f"{year:04d}-{mon:02d}-{last:02d} 06:00:00"
    rest_from = f"{year:04d}-{mon:02d}-01"
    rest_from_ms = ms(rest_from) - 86_400_000  # the monthly file's last day
    with Sandbox(SandboxSettings(seed=7, budgets=FAST, now_ms=now)) as box:
        _archive_and_rest_agree(
            tmp_path, box, now, start, end, monthly=1, daily=last - 1, rest_from=rest_from_ms
        )


def _clip(picture: tuple, lo: int, hi: int) -> tuple:
    """A store picture (coverage, gaps, failed) cut to ``[lo, hi)``."""
    return tuple(
        [(max(a, lo), min(b, hi)) for a, b in ranges if min(b, hi) > max(a, lo)]
        for ranges in picture
    )


def _archive_and_rest_agree(
    tmp_path, sb, now, start, end, *, monthly: int, daily: int, rest_from: int | None = None
):
    """The archive store of ``[start, end)`` is the REST store of ``[rest_from, end)``
    (`rest_from`: `start` unless given) on that range, equal to the truth, and has the picture
    of a REST run over the whole range."""
    lo, hi = ms(start), ms(end)
    rest_lo = lo if rest_from is None else rest_from
    rest_start = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(rest_lo // 1000))
    rest = run(config_for(tmp_path / "rest", sb, archive=False, start=rest_start, end=end), now)
    rest_requests = sb.requests("binance")
    assert sb.archive.requests == 0
    sb.reset_counters()
    arch = run(config_for(tmp_path / "arch", sb, start=start, end=end), now)
    snap = arch.states[SERIES.key].snapshot()
    assert snap.status is Status.DONE, snap.error
    # the monthly zips and one daily zip per day of the last month, each with its .CHECKSUM
    assert sb.archive.requests == 2 * (monthly + daily)
    # REST only for the holes of the files and the last 6 hours: far fewer requests than the
    # windows of 1000 minutes REST takes for the whole range (the REST run took at least as
    # many for its part of the range)
    windows = -(-(hi - lo) // 60_000_000)
    assert rest_requests >= -(-(hi - rest_lo) // 60_000_000)
    assert sb.requests("binance") < windows / 4, (sb.requests("binance"), windows)
    if rest_lo == lo:
        assert sb.requests("binance") < rest_requests / 4, (sb.requests("binance"), rest_requests)
    a = stored(tmp_path / "arch" / "data").sort("ts")
    r = stored(tmp_path / "rest" / "data").sort("ts")
    assert a.height > 40_000
    assert a.filter(a["ts"].dt.epoch("ms") >= rest_lo).equals(r)
    assert _clip(store_picture(arch), rest_lo, hi) == store_picture(rest)
    # the picture a REST run has: the range covered, the exchange's gaps, nothing failed
    gaps = sb.gaps("binance", "BTC/USDT", 60, lo, hi)
    assert store_picture(arch) == ([(lo, hi)], gaps, [])
    if rest_lo == lo:
        assert store_picture(rest) == ([(lo, hi)], gaps, [])
    truth = sb.ground_truth("binance", "BTC/USDT", 60, ms(start), ms(end))
    assert_equal_truth(a.drop("exchange", "market", "kind", "symbol", "span"), truth)
    # µs timestamps (files of 2025 on) were read as such: nothing lands in 1970 or the future
    assert int(a["ts"].dt.epoch("ms").min()) == ms(start)
    assert int(a["ts"].dt.epoch("ms").max()) < ms(end)


@pytest.mark.parametrize("header", ["always", "never"])
def test_files_with_and_without_header(tmp_path, sb, header):
    # three daily files: two in ms (December), one in us (January)
    start, end = "2024-12-30", "2025-01-02"
    sb.archive.header = header
    runner = run(config_for(tmp_path, sb, start=start, end=end))
    assert runner.states[SERIES.key].snapshot().status is Status.DONE
    assert sb.archive.requests == 2 * 3
    truth = sb.ground_truth("binance", "BTC/USDT", 60, ms(start), ms(end))
    assert_equal_truth(
        stored(tmp_path / "data").drop("exchange", "market", "kind", "symbol", "span"), truth
    )


@pytest.mark.parametrize("kind", ["corrupt_zip", "bad_checksum", "no_checksum"])
def test_a_file_failing_verification_is_never_stored_and_goes_to_rest(tmp_path, sb, kind):
    # a daily file: what is checked and refused is the same as for a monthly one
    sb.archive.add_fault(kind, "2025-01-15")  # for good: every retry fails too
    start, end = "2025-01-15", "2025-01-16"  # that file's day alone
    runner = run(config_for(tmp_path, sb, start=start, end=end))
    state = runner.states[SERIES.key]
    assert state.snapshot().status is Status.DONE, state.snapshot().error
    log = "\n".join(state.log_lines())
    assert "BTCUSDT-1m-2025-01-15.zip not stored" in log
    # the day came from REST, in full, and matches the truth
    truth = sb.ground_truth("binance", "BTC/USDT", 60, ms(start), ms(end))
    assert_equal_truth(
        stored(tmp_path / "data").drop("exchange", "market", "kind", "symbol", "span"), truth
    )


def test_a_transient_bad_file_is_retried_then_used(tmp_path, sb):
    sb.archive.add_fault("corrupt_zip", "2024-12", times=1)
    start, end = "2024-12-01", "2025-01-01"  # that file's month alone
    # 5m: a retry is a retry at any span, at a fifth of the candles
    runner = run(config_for(tmp_path, sb, start=start, end=end, job_extra={"span": "5m"}))
    state = runner.states[Series("binance", "BTC/USDT", 300).key]
    assert state.snapshot().status is Status.DONE
    assert state.snapshot().retries >= 1
    # December was not fetched by REST (9 windows of 1000 slots of 5 minutes): the file's
    # holes only (5 requests)
    assert sb.requests("binance") < 9
    truth = sb.ground_truth("binance", "BTC/USDT", 300, ms(start), ms(end))
    assert_equal_truth(
        stored(tmp_path / "data").drop("exchange", "market", "kind", "symbol", "span"), truth
    )


def test_nothing_unverified_is_stored_when_rest_cannot_fill_in(tmp_path, sb):
    """The archive file of January 15 is corrupt and REST fails for good: the day stays
    missing (failed, fetched again next run), with not one candle of it on disk."""
    sb.archive.add_fault("corrupt_zip", "2025-01-15")
    runner = Runner(config_for(tmp_path, sb, start="2025-01-15", end="2025-01-16"), now=NOW)
    sb.faults.add("binance", "http_500", rate=1.0)
    runner.open()
    try:
        runner.start()
        assert runner.wait(60)
    finally:
        runner.close()
    assert runner.states[SERIES.key].snapshot().status is Status.FAILED
    data = tmp_path / "data"
    files = list(data.rglob("*.parquet"))
    assert not files or stored(data).height == 0
    assert runner.store.series(SERIES).coverage() == []


def test_a_missing_month_goes_to_rest(tmp_path, sb):
    sb.archive.add_fault("missing", "2024-12")
    start, end = START, "2025-01-01"  # that month alone
    # 5m: a missing file is missing at any span, at a fifth of the candles to fetch by REST
    runner = run(config_for(tmp_path, sb, start=start, end=end, job_extra={"span": "5m"}))
    assert runner.states[Series("binance", "BTC/USDT", 300).key].snapshot().status is Status.DONE
    assert sb.requests("binance") > 8  # December by REST: 9 windows of 1000 slots of 5 minutes
    truth = sb.ground_truth("binance", "BTC/USDT", 300, ms(start), ms(end))
    assert_equal_truth(
        stored(tmp_path / "data").drop("exchange", "market", "kind", "symbol", "span"), truth
    )


def test_a_short_month_is_completed_by_rest_and_makes_no_false_gap(tmp_path, sb):
    """Two daily files (November 29 and 30) and December's monthly file, the second day and
    the month short of six hours each. The REST reference covers the days with the holes
    (November 29 to December 2): equal to the archive store there; the whole range has the
    truth and the picture of a REST run (as in _archive_and_rest_agree)."""
    start, end, rest_end = "2024-11-29", "2025-01-01", "2024-12-03"
    sb.archive.add_fault("short", "2024-11-30")
    sb.archive.add_fault("short", "2024-12")
    arch = run(config_for(tmp_path / "arch", sb, start=start, end=end))
    assert sb.archive.requests == 2 * 3
    rest = run(config_for(tmp_path / "rest", sb, archive=False, start=start, end=rest_end))
    a = stored(tmp_path / "arch" / "data").sort("ts")
    r = stored(tmp_path / "rest" / "data").sort("ts")
    assert a.filter(a["ts"].dt.epoch("ms") < ms(rest_end)).equals(r)
    assert _clip(store_picture(arch), ms(start), ms(rest_end)) == store_picture(rest)
    gaps = sb.gaps("binance", "BTC/USDT", 60, ms(start), ms(end))
    assert store_picture(arch) == ([(ms(start), ms(end))], gaps, [])
    truth = sb.ground_truth("binance", "BTC/USDT", 60, ms(start), ms(end))
    assert_equal_truth(a.drop("exchange", "market", "kind", "symbol", "span"), truth)
    # the daily file's six hours are on disk too (REST had them)
    day_hole = (ms("2024-11-30 06:00"), ms("2024-11-30 12:00"))
    assert r["ts"].dt.epoch("ms").is_between(*day_hole, closed="left").sum() > 300
    # the six hours the file lacked are on disk (REST had them), not recorded as a gap
    hole = (ms("2024-12-02 06:00"), ms("2024-12-02 12:00"))
    ts = a["ts"].dt.epoch("ms")
    truth = sb.ground_truth("binance", "BTC/USDT", 60, *hole)
    assert truth.height > 300
    assert ts.is_between(hole[0], hole[1], closed="left").sum() == truth.height
    for g0, g1 in arch.store.series(SERIES).gaps():
        assert g1 <= hole[0] or g0 >= hole[1] or truth.height == 0


def test_real_exchange_gaps_are_recorded_once_rest_agrees(tmp_path, sb):
    runner = run(config_for(tmp_path, sb, start="2024-12-01", end="2025-01-01"))
    gaps = runner.store.series(SERIES).gaps()
    want = sb.gaps("binance", "BTC/USDT", 60, ms("2024-12-01"), ms("2025-01-01"))
    assert gaps == want and len(want) > 3


def test_dry_run_sends_no_request_to_either_host(tmp_path, sb, capsys):
    from dccd_tui.cli import main

    config = config_for(tmp_path, sb, end=None)
    code = main(["backfill", "--config", str(config.path), "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    assert sb.requests("binance") == 0 and sb.archive.requests == 0
    assert "archive (127.0.0.1:" in out and "monthly" in out and "daily" in out
    assert "bytes unknown until downloaded" in out
    assert "REST:" in out


def test_split_of_a_plan():
    now = ms("2025-02-04 12:34:00")
    split = split_missing([(ms("2024-11-15 10:00"), now - now % 60_000)], now)
    kinds = [(f.kind, f.period) for f in split.files]
    assert kinds[:3] == [("daily", "2024-11-16"), ("daily", "2024-11-17"), ("daily", "2024-11-18")]
    assert ("monthly", "2024-12") in kinds and ("monthly", "2025-01") in kinds
    assert kinds[-3:] == [("daily", "2025-02-01"), ("daily", "2025-02-02"), ("daily", "2025-02-03")]
    assert split.rest == [
        (ms("2024-11-15 10:00"), ms("2024-11-16")),
        (ms("2025-02-04"), now - now % 60_000),
    ]


def _zip(name: str, csv: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(name.replace(".zip", ".csv"), csv)
    return buf.getvalue()


def test_verify_zip_checks_hash_name_and_zip():
    body = _zip("X-1m-2024-01.zip", b"1,2\n")
    good = f"{hashlib.sha256(body).hexdigest()}  X-1m-2024-01.zip\n".encode()
    assert verify_zip(body, good, "X-1m-2024-01.zip") == b"1,2\n"
    with pytest.raises(TransientError, match="fails its checksum"):
        verify_zip(body + b"x", good, "X-1m-2024-01.zip")
    with pytest.raises(TransientError, match="names another file"):
        verify_zip(body, good.replace(b"2024-01", b"2024-02"), "X-1m-2024-01.zip")
    with pytest.raises(TransientError, match="is not"):
        verify_zip(body, b"nonsense", "X-1m-2024-01.zip")
    junk = b"PK" + b"\x00" * 50
    junk_sum = f"{hashlib.sha256(junk).hexdigest()}  X-1m-2024-01.zip".encode()
    with pytest.raises(TransientError, match="not a valid zip"):
        verify_zip(junk, junk_sum, "X-1m-2024-01.zip")


ROW = "{t},100.0,101.0,99.0,100.5,2.0,{c},200.0,7,1.0,100.0,0\n"


def _csv(times, unit=1, header=False) -> bytes:
    text = (
        "open_time,open,high,low,close,volume,close_time,quote_volume,count,a,b,c\n"
        if header
        else ""
    )
    for t in times:
        text += ROW.format(t=t * unit, c=(t + 59_999) * unit + (999 if unit > 1 else 0))
    return text.encode()


def test_csv_header_and_time_unit_are_detected_per_file():
    lo = ms("2025-01-01")
    times = [lo, lo + 60_000, lo + 180_000]
    for unit in (1, 1000):
        for header in (False, True):
            frame = parse_archive_csv(_csv(times, unit, header), 60, lo, lo + 86_400_000, "f")
            assert frame["ts"].dt.epoch("ms").to_list() == times
            assert frame["trades"].to_list() == [7, 7, 7]
            assert frame["quote_volume"].to_list() == [200.0] * 3


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda lo: _csv([lo + 1]), "not aligned"),
        (lambda lo: _csv([lo - 60_000]), "outside"),
        (lambda lo: _csv([lo, lo]), "duplicate"),
        (lambda lo: _csv([lo]) + _csv([lo + 60_000], 1000), "mix"),
        (lambda lo: _csv([lo]).replace(b"101.0", b"98.0"), "high < low"),
        (lambda lo: _csv([lo]).replace(b"100.5", b"abc"), "does not parse"),
    ],
)
def test_csv_checks_as_for_a_rest_page(bad, match):
    lo = ms("2024-06-01")
    with pytest.raises(TransientError, match=match):
        parse_archive_csv(bad(lo), 60, lo, lo + 86_400_000, "f")


def test_config_keys_and_their_errors(tmp_path):
    base = {"histo_jobs": [{"exchange": "binance", "pairs": ["BTC/USDT"], "span": "1m"}]}
    cfg = save_config(tmp_path / "a.toml", base)
    b = cfg.exchanges["binance"]
    assert (b.archive, b.archive_url, b.archive_parallel) == (
        True,
        "https://data.binance.vision",
        4,
    )
    assert cfg.jobs[0].archive is True
    off = json.loads(json.dumps(base))
    off["histo_jobs"][0]["archive"] = False
    assert save_config(tmp_path / "b.toml", off).jobs[0].archive is False
    for table, message in [
        ({"binance": {"archive_parallel": 0}}, "key 'archive_parallel': must be between 1"),
        ({"binance": {"archive_url": "ftp://x"}}, "key 'archive_url': 'ftp://x' is not"),
        ({"binance": {"archive": "yes"}}, "key 'archive': expected true or false"),
        ({"okx": {"archive": True}}, "[exchanges.okx]: key 'archive': only binance"),
    ]:
        with pytest.raises(ConfigError) as err:
            save_config(tmp_path / "c.toml", {**base, "exchanges": table})
        assert message in str(err.value)
    bad_job = json.loads(json.dumps(base))
    bad_job["histo_jobs"].append(
        {"exchange": "okx", "pairs": ["BTC/USDT"], "span": "1m", "archive": True}
    )
    with pytest.raises(ConfigError, match="key 'archive': only binance"):
        save_config(tmp_path / "d.toml", bad_job)


def test_demo_points_the_archive_at_the_sandbox(tmp_path):
    from dccd_tui.demo import start_demo

    demo = start_demo(tmp_path / "demo")
    try:
        archive, api = demo.base_urls["binance:archive"], demo.base_urls["binance"]
        assert archive.endswith("/binance-archive")  # the sandbox process's archive host
        assert archive.split("/")[2] == api.split("/")[2]
    finally:
        demo.close()


@pytest.mark.slow
def test_sigkill_in_the_middle_of_archive_downloads_resumes_to_the_same_store(tmp_path):
    """A headless backfill killed -9 while it downloads archive files: every file on disk reads,
    the coverage claims nothing that is not stored, and the next run completes the store without
    downloading again what is stored."""
    from .test_reliability import _check_store_consistent, _store_files

    start, end = "2024-01-01", "2024-05-01"  # four monthly files
    months = 4
    # 5m candles: the same files, checks and writes as 1m, at a fifth of the candles to make,
    # parse and compare (and within the sandbox's candle cache, World.candle_cache, so the
    # checks reuse the candles the archive files were made of).
    series = Series("binance", "BTC/USDT", 300)
    rng = random.Random(13)
    # One connection: a run downloads the files one by one (a file and its checksum each),
    # and writes each month once its holes are asked of REST. Every other kill comes a random
    # number of archive requests into a run, the others just after it starts writing a month,
    # each at a random moment after that: the kills land among the downloads and the writes.
    with Sandbox(SandboxSettings(seed=7, budgets={"binance": 200}, latency=0.05)) as sandbox:
        config = config_for(
            tmp_path,
            sandbox,
            start=start,
            end=end,
            extra={"archive_parallel": 1},
            job_extra={"span": "5m"},
        )
        data = config.settings.data_path
        cmd = [sys.executable, "-m", "dccd_tui", "backfill", "--config", str(config.path)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        kills = 0
        for attempt in range(3):
            while_writing = attempt % 2 == 1
            requests, into = sandbox.archive.requests, rng.randint(1, 3)
            files = _store_files(data)
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
            deadline = time.monotonic() + 60
            # kill only once it is downloading (start-up time varies on a busy machine)
            while proc.poll() is None and time.monotonic() < deadline:
                if while_writing and _store_files(data) != files:
                    break
                if not while_writing and sandbox.archive.requests >= requests + into:
                    break
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.05) if while_writing else rng.uniform(0.0, 0.1))
            if proc.poll() is not None:
                proc.stderr.close()
                break
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stderr.close()
            kills += 1
            _check_store_consistent(data, sandbox, [series], ms(start), ms(end))
            if len(list(data.rglob("*.parquet"))) >= months - 2:
                break
        assert kills >= 2
        stored_months = len(list(data.rglob("*.parquet")))
        sandbox.archive.reset_counters()
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=180, env=env, check=False
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        # resumed: the months already stored (and covered) were not downloaded again
        assert sandbox.archive.requests <= 2 * (months - stored_months) + 2 * 2
        _check_store_consistent(data, sandbox, [series], ms(start), ms(end))
        truth = sandbox.ground_truth("binance", "BTC/USDT", 300, ms(start), ms(end))
        assert_equal_truth(stored(data).drop("exchange", "market", "kind", "symbol", "span"), truth)
        gaps = Runner(config).store.series(series).gaps()
        assert gaps == sandbox.gaps("binance", "BTC/USDT", 300, ms(start), ms(end))


def test_holes_close_together_share_one_rest_request_1h(tmp_path, sb):
    """1h candles: a month's holes fit in one page of 1000 hours, so one REST request checks
    them all, and the store is still the REST store."""
    start, end = "2024-06-01", "2025-01-01"
    series = Series("binance", "BTC/USDT", 3600)
    arch = run(config_for(tmp_path / "arch", sb, start=start, end=end, job_extra={"span": "1h"}))
    sent = sb.requests("binance")
    sb.reset_counters()
    rest = run(
        config_for(
            tmp_path / "rest", sb, start=start, end=end, archive=False, job_extra={"span": "1h"}
        )
    )
    a, r = arch.store.series(series), rest.store.series(series)
    assert (
        stored(tmp_path / "arch" / "data")
        .sort("ts")
        .equals(stored(tmp_path / "rest" / "data").sort("ts"))
    )
    assert (a.coverage(), a.gaps()) == (r.coverage(), r.gaps())
    assert len(a.gaps()) > 20  # many holes ...
    assert sent <= 7 + 2  # ... checked with one request per monthly file (and the probe)


def test_a_job_served_by_the_archive_alone_ends_with_the_summary_of_any_job(tmp_path, sb):
    """Whole days before the clock: the archive files (and REST for their holes) serve the
    whole range and no REST window is left. The job's log still ends with the summary every
    other job has (candles, exchange gaps, failed windows), which `backfill` prints on its done
    line; it used to say "nothing to fetch" after the files had been stored."""
    start, end = "2025-02-01", "2025-02-03"
    runner = run(config_for(tmp_path, sb, start=start, end=end))
    snap = runner.states[SERIES.key].snapshot()
    assert snap.status is Status.DONE, snap.error
    assert sb.archive.requests > 0
    lines = runner.states[SERIES.key].log_lines()
    assert not any("nothing to fetch" in line for line in lines), lines
    gaps = len(sb.gaps("binance", "BTC/USDT", 60, ms(start), ms(end)))
    summary = [line for line in lines if f"summary {SERIES}:" in line]
    assert len(summary) == 1, lines
    assert f"{snap.candles:,} candles written" in summary[0]
    assert "in exchange gaps, 0 failed windows" in summary[0]
    assert (snap.gaps > 0) == (gaps > 0)
