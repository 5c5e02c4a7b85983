"""One series, one run at a time, and nothing asked for dropped (issue 18, item 1), in the engine.

A range asked for while the series' job runs is added to that run (`Backfill.extend`), a queued
job takes the union, and a run that can take no more (it is ending, or being cancelled) leaves
the range to the next run, started when it ends. Each requester can then read what the store
holds of its own ranges (`Runner.account`). The sandbox over HTTP, real Parquet, the pinned
clock (tests/helpers.py PINNED_NOW).
"""

from __future__ import annotations

import threading

import polars as pl

from dccd_tui.engine.backfill import RECHECK_MS, Backfill
from dccd_tui.engine.exchanges import get_exchange
from dccd_tui.engine.http import ExchangeClient
from dccd_tui.engine.models import Series
from dccd_tui.engine.ratelimit import GateRegistry
from dccd_tui.engine.runner import Runner
from dccd_tui.engine.signals import StopSignal
from dccd_tui.engine.state import JobState, Status
from dccd_tui.engine.store import Store

from ..engine_helpers import wait_for
from ..helpers import PINNED_NOW, assert_equal_truth, make_config, ms, stored

H = 3_600_000
OKX = Series("okx", "BTC/USDT", 60)


def _entry(exchange: str, pair: str, start: str, end: str, **extra) -> dict:
    return {
        "exchange": exchange,
        "pairs": [pair],
        "span": "1m",
        "start": start,
        "end": end,
        **extra,
    }


def _stored_between(data_path, pair: str, start: int, end: int) -> pl.DataFrame:
    frame = stored(data_path)
    ts = pl.col("ts").dt.epoch("ms")
    return frame.filter((pl.col("symbol") == pair) & (ts >= start) & (ts < end))


def _assert_truth(sandbox, config, exchange: str, pair: str, start: int, end: int) -> int:
    got = _stored_between(config.settings.data_path, pair.replace("/", "-"), start, end)
    truth = sandbox.ground_truth(exchange, pair, 60, start, end)
    assert truth.height > 0
    assert_equal_truth(got.drop("exchange", "market", "kind", "symbol", "span"), truth)
    return truth.height


def test_ranges_union_and_difference_with_open_ends():
    from dccd_tui.engine.asked import minus_ranges, union_ranges

    assert union_ranges([(5, 9), (0, 2), (2, 3)]) == [(0, 3), (5, 9)]
    assert union_ranges([(4, None), (0, 5)]) == [(0, None)]
    assert minus_ranges([(0, 10)], [(3, 5)]) == [(0, 3), (5, 10)]
    assert minus_ranges([(0, None)], [(3, 5)]) == [(0, 3), (5, None)]
    assert minus_ranges([(0, 10)], [(3, None)]) == [(0, 3)]
    assert minus_ranges([(5, 8)], [(0, None)]) == []
    assert minus_ranges([(0, 10), (20, None)], [(5, 25)]) == [(0, 5), (25, None)]


def test_a_range_asked_while_the_job_runs_is_fetched_by_the_same_run(tmp_path, sandbox):
    """The bug: a second `start` of a running series was ignored, and its range never
    fetched."""
    first = (ms("2024-11-01"), ms("2024-11-04"))
    second = (ms("2025-01-10"), ms("2025-01-11"))
    config = make_config(
        tmp_path,
        sandbox,
        [_entry("okx", "BTC/USDT", "2024-01-01", "2024-01-02")],
        rps={"okx": 12.0},
    )
    runner = Runner(config, now=PINNED_NOW).open()
    key = OKX.key
    try:
        assert runner.start([key], overrides={key: first}) == [key]
        state = runner.states[key]
        assert wait_for(lambda: state.snapshot().windows_done >= 1, 30)
        assert state.snapshot().status is Status.RUNNING
        again = runner.start([key], overrides={key: second})
        assert runner.wait(60)
    finally:
        runner.close()
    n_first = _assert_truth(sandbox, config, "okx", "BTC/USDT", *first)
    n_second = _assert_truth(sandbox, config, "okx", "BTC/USDT", *second)
    assert again == [] and again.extended == [key]  # not a second run: this one grew
    snap = state.snapshot()
    assert snap.status is Status.DONE, snap.error
    assert snap.asked == (first, second)
    lines = state.log_lines()
    assert any("range added while the job ran: 2025-01-10 00:00 -> 2025-01-11 00:00" in x
               for x in lines), lines  # fmt: skip
    # one run, one summary, which counts both ranges
    assert sum(" summary " in f" {line}" for line in lines) == 1
    assert snap.candles == n_first + n_second
    assert snap.windows_done == snap.windows_total and snap.progress == 1.0
    # and each requester can read its own range's account
    accounts = runner.account({key: [first]})
    assert accounts[key].stored == n_first and accounts[key].complete
    accounts = runner.account({key: [second]})
    assert accounts[key].stored == n_second and accounts[key].complete
    assert accounts[key].gaps == 1440 - n_second


def test_a_queued_job_takes_the_union_of_what_was_asked(tmp_path, sandbox):
    """With one job slot, BTC waits behind ETH; three starts of it meanwhile (the config's
    range, two overrides) make one run over all three."""
    config = make_config(
        tmp_path,
        sandbox,
        [
            _entry("binance", "ETH/USDT", "2024-01-01", "2024-01-08"),
            _entry("binance", "BTC/USDT", "2024-02-01", "2024-02-02"),
        ],
        rps={"binance": 10.0},
        max_parallel=1,
    )
    runner = Runner(config, now=PINNED_NOW).open()
    eth, btc = Series("binance", "ETH/USDT", 60).key, Series("binance", "BTC/USDT", 60).key
    extra = [(ms("2024-03-01"), ms("2024-03-01 12:00")), (ms("2024-03-05"), ms("2024-03-06"))]
    try:
        assert runner.start([eth, btc]) == [eth, btc]
        assert runner.states[btc].snapshot().status is Status.QUEUED
        for override in extra:
            got = runner.start([btc], overrides={btc: override})
            assert got == [] and got.extended == [btc]
        assert runner.wait(60)
    finally:
        runner.close()
    snap = runner.states[btc].snapshot()
    assert snap.status is Status.DONE, snap.error
    assert snap.asked == ((ms("2024-02-01"), ms("2024-02-02")), *extra)
    assert not any("range added" in line for line in runner.states[btc].log_lines())
    for start, end in [(ms("2024-02-01"), ms("2024-02-02")), *extra]:
        _assert_truth(sandbox, config, "binance", "BTC/USDT", start, end)
    # nothing between the ranges was fetched
    between = _stored_between(config.settings.data_path, "BTC-USDT", ms("2024-02-02"),
                              ms("2024-03-01"))  # fmt: skip
    assert between.height == 0


def test_starts_in_quick_succession_each_get_their_range(tmp_path, sandbox):
    """Starts that land while the run is queued, running, ending or ended: every range asked
    for is stored, whichever path it took."""
    config = make_config(
        tmp_path,
        sandbox,
        [_entry("binance", "BTC/USDT", "2024-04-01", "2024-04-01 01:00")],
        rps={"binance": 50.0},
    )
    runner = Runner(config, now=PINNED_NOW).open()
    key = Series("binance", "BTC/USDT", 60).key
    asked = [(ms("2024-04-02") + i * 7 * H, ms("2024-04-02") + i * 7 * H + 2 * H) for i in range(8)]
    paths = {"started": 0, "extended": 0}
    try:
        for i, override in enumerate(asked):
            got = runner.start([key], overrides={key: override})
            paths["started"] += len(got)
            paths["extended"] += len(got.extended)
            assert len(got) + len(got.extended) == 1
            if i % 3 == 2:  # let some runs end, so that later starts meet ending ones
                assert wait_for(lambda: runner.states[key].snapshot().windows_done >= 1, 30)
        assert wait_for(lambda: not runner.is_active(key), 60)
    finally:
        runner.close()
    assert paths["started"] >= 1
    for start, end in asked:
        _assert_truth(sandbox, config, "binance", "BTC/USDT", start, end)


def test_a_start_while_the_ended_run_is_still_leaving_starts_the_next(tmp_path, sandbox):
    """Between a run's end and its thread's exit (here held in `on_finish`), a start is not
    added to a run that can take nothing more: it starts the next run."""
    config = make_config(
        tmp_path,
        sandbox,
        [_entry("binance", "BTC/USDT", "2024-04-01", "2024-04-01 02:00")],
        rps={"binance": 50.0},
    )
    key = Series("binance", "BTC/USDT", 60).key
    leaving, release = threading.Event(), threading.Event()

    def on_finish(_key: str) -> None:
        if not leaving.is_set():
            leaving.set()
            release.wait(30)

    runner = Runner(config, now=PINNED_NOW, on_finish=on_finish).open()
    later = (ms("2024-04-03"), ms("2024-04-03 02:00"))
    try:
        assert runner.start([key]) == [key]
        assert leaving.wait(30)
        assert runner.states[key].snapshot().status is Status.DONE
        got = runner.start([key], overrides={key: later})
        assert got == [key] and got.extended == []
        release.set()
        assert runner.wait(30)
    finally:
        release.set()
        runner.close()
    assert runner.states[key].snapshot().asked == (later,)
    _assert_truth(sandbox, config, "binance", "BTC/USDT", *later)


def test_a_range_asked_while_the_run_is_cancelled_runs_next(tmp_path, sandbox):
    """A start that meets a run being cancelled is not added to it (it would be cancelled
    too): the next run fetches it, once the cancelled one has ended."""
    config = make_config(
        tmp_path,
        sandbox,
        [_entry("okx", "BTC/USDT", "2024-11-01", "2024-11-10")],
        rps={"okx": 10.0},
    )
    runner = Runner(config, now=PINNED_NOW).open()
    key = OKX.key
    later = (ms("2025-01-10"), ms("2025-01-10 12:00"))
    try:
        runner.start([key])
        state = runner.states[key]
        assert wait_for(lambda: state.snapshot().windows_done >= 1, 30)
        assert runner.cancel([key]) == [key]
        got = runner.start([key], overrides={key: later})
        assert len(got) + len(got.extended) == 1  # extended when the cancel had not ended it
        assert runner.wait(60)
    finally:
        runner.close()
    assert state.snapshot().status is Status.DONE
    assert state.snapshot().asked == (later,)
    _assert_truth(sandbox, config, "okx", "BTC/USDT", *later)


def _backfill(config, sandbox, start: int, end: int, *, retries: int = 0) -> tuple[Backfill, list]:
    store = Store(config.settings.data_path)
    adapter = get_exchange("okx")
    client = ExchangeClient(adapter, sandbox.base_url("okx"), 20.0, GateRegistry())
    job = Backfill(
        OKX,
        start,
        end,
        adapter,
        client,
        store.series(OKX),
        JobState(OKX),
        StopSignal(),
        max_retries=retries,
        retry_delay=0.01,
        now=PINNED_NOW,
    )
    return job, [client, store]


def test_the_window_loop_takes_a_range_added_before_it_ends(tmp_path, sandbox):
    """`Backfill.extend`: the range added is planned and fetched after the first one, in the
    same run; a failure in the first range fails the run, while the account of the second says
    it is complete. Once the run has ended, `extend` refuses (the runner then starts another)."""
    from dccd_tui.engine.range_account import range_account

    config = make_config(tmp_path, sandbox, [_entry("okx", "BTC/USDT", "2024-01-01", "2024-01-02")])
    # 20 hours of 1m at OKX's 300 a page: 4 windows each, too few for a listing probe
    first = (ms("2024-11-01"), ms("2024-11-01 20:00"))
    second = (ms("2025-01-10"), ms("2025-01-10 20:00"))
    job, owned = _backfill(config, sandbox, *first)
    sandbox.faults.add("okx", "http_500", rate=1.0, count=4)  # the first range's 4 windows
    assert job.extend([second, first]) is True
    assert job.asked == [first, second]
    job.run()
    snap = job.state.snapshot()
    assert snap.status is Status.FAILED and snap.failed_windows == 4
    assert snap.windows_done == snap.windows_total == 8
    assert job.extend([(ms("2025-02-01"), ms("2025-02-02"))]) is False  # ended: refused
    assert job.leftover == []
    store = owned[1]
    a, b = (range_account(store, OKX, [r], PINNED_NOW) for r in (first, second))
    assert not a.complete and a.stored == 0 and [f[:2] for f in a.failed] == [first]
    assert b.complete and not b.failed and not b.missing
    assert b.stored == _assert_truth(sandbox, config, "okx", "BTC/USDT", *second)
    assert b.stored + b.gaps == 20 * 60
    owned[0].close()


def test_an_extension_the_run_could_not_take_is_left_for_the_next(tmp_path, sandbox):
    """A run stopped with a range accepted but not fetched hands it back (`leftover`)."""
    config = make_config(tmp_path, sandbox, [_entry("okx", "BTC/USDT", "2024-01-01", "2024-01-02")])
    job, owned = _backfill(config, sandbox, ms("2024-11-01"), ms("2024-11-08"), retries=3)
    extra = (ms("2025-01-10"), ms("2025-01-11"))
    done = threading.Event()

    def run():
        job.run()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert wait_for(lambda: job.state.snapshot().windows_done >= 1, 30)
    assert job.extend([extra]) is True
    job.stop.set()
    assert done.wait(30)
    assert job.state.snapshot().status is Status.CANCELLED
    assert job.leftover == [extra]
    owned[0].close()


def test_the_account_leaves_the_tail_near_now_pending(tmp_path, sandbox):
    """An open range's last minutes are not yet published: the window loop leaves them
    uncovered, and the account calls them pending, not missing."""
    from dccd_tui.engine.range_account import range_account

    config = make_config(tmp_path, sandbox, [_entry("okx", "BTC/USDT", "2024-01-01", "2024-01-02")])
    job, owned = _backfill(config, sandbox, PINNED_NOW - 6 * H, None)
    job.run()
    assert job.state.snapshot().status is Status.DONE
    account = range_account(owned[1], OKX, [(PINNED_NOW - 6 * H, None)], PINNED_NOW)
    assert account.complete, account
    assert all(s >= PINNED_NOW - RECHECK_MS for s, _ in account.pending)
    owned[0].close()


def test_a_range_added_to_a_binance_run_uses_the_archive_too(tmp_path, sandbox):
    """The added range goes through the same phases as the first: its whole months and days
    come from the public archive, the rest from REST, and the store equals the truth."""
    from dccd_tui.engine.archive.download import ArchiveClient

    series = Series("binance", "BTC/USDT", 60)
    store = Store(tmp_path / "data")
    adapter = get_exchange("binance")
    client = ExchangeClient(adapter, sandbox.base_url("binance"), 50.0, GateRegistry())
    archive = ArchiveClient(sandbox.archive_url(), 4)
    # one daily file: the first range's archive phase (a monthly file, 44,640 candles, cost
    # seven times as much for the same phase; tests/engine/test_archive.py stores months)
    first = (ms("2025-03-01"), ms("2025-03-02"))
    second = (ms("2025-06-02"), ms("2025-06-04 06:00"))  # two daily files and 6 hours of REST
    job = Backfill(
        series,
        *first,
        adapter,
        client,
        store.series(series),
        JobState(series),
        StopSignal(),
        retry_delay=0.01,
        now=PINNED_NOW,
        archive=archive,
    )
    assert job.extend([second]) is True
    try:
        job.run()
    finally:
        client.close()
        archive.close()
    snap = job.state.snapshot()
    assert snap.status is Status.DONE, snap.error
    assert snap.windows_done == snap.windows_total and snap.progress == 1.0
    assert sandbox.archive.requests == 2 * 3  # each zip with its checksum
    archive_lines = [x for x in job.state.log_lines() if "archive: " in x and "stored" in x]
    assert len(archive_lines) == 2, job.state.log_lines()  # one archive phase per range
    frame = stored(tmp_path / "data")
    ts = frame["ts"].dt.epoch("ms")
    for start, end in (first, second):
        truth = sandbox.ground_truth("binance", "BTC/USDT", 60, start, end)
        got = frame.filter((ts >= start) & (ts < end)).drop(
            "exchange", "market", "kind", "symbol", "span"
        )
        assert_equal_truth(got, truth)
    assert frame.height == sum(
        sandbox.ground_truth("binance", "BTC/USDT", 60, s, e).height for s, e in (first, second)
    )
