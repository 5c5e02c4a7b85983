"""Store defects that a mutation audit planted and the rest of the suite let through (issue 18,
item 7): each test here fails on one such bug.

The store keeps three lists per series (coverage, failed windows, exchange-side gaps) and signs
every month file; most planted bugs left the store's candles right and one of those lists wrong,
which only a test that reads the list back sees. Real Parquet files under tmp_path, no network.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dccd_tui.engine.models import Series
from dccd_tui.engine.store import Store

from .. import coverage_store as cs

MIN, HOUR = 60_000, cs.HOUR
BTC = Series("binance", "BTC/USDT", 60)
H1 = Series("binance", "BTC/USDT", 3600)  # hours: a month is 744 rows, quick to write
JAN, FEB, MAR = cs.ms(2024, 1, 1), cs.ms(2024, 2, 1), cs.ms(2024, 3, 1)
# one exchange-side gap in each month
GAPS = [(JAN + cs.DAY, JAN + cs.DAY + 2 * HOUR), (FEB + cs.DAY, FEB + cs.DAY + 2 * HOUR)]


def hour_candles(start: int, end: int, skip=()):
    return cs.candles(start, end, HOUR, skip)


def two_months_with_gaps(data: Path):
    ss = Store(data).series(H1)
    ss.write(hour_candles(JAN, MAR, GAPS), [(JAN, MAR)])
    assert ss.gaps() == GAPS
    return ss


def manifest(ss) -> dict:
    return json.loads((ss.folder / "_coverage.json").read_text())


# --- a month file gone behind the store's back ----------------------------------------------


def test_a_deleted_month_takes_its_exchange_gaps_out_of_the_coverage(tmp_path: Path) -> None:
    """Planted: `_reconcile` (store/reconcile.py) drops a missing month from the coverage but
    not from the gaps, so the inventory keeps showing a gap in a month with no data at all."""
    ss = two_months_with_gaps(tmp_path)
    (ss.folder / "2024-01.parquet").unlink()
    again = Store(tmp_path).series(H1)
    assert again.coverage() == [(FEB, MAR)]
    assert again.gaps() == GAPS[1:]
    assert manifest(again)["gaps"] == [list(GAPS[1])]
    # and a store that stays open (a long TUI session) finds it on the planner's question
    (ss.folder / "2024-02.parquet").unlink()
    assert ss.missing_intervals(JAN, MAR) == [(JAN, MAR)]
    assert ss.coverage() == [] and ss.gaps() == []
    assert manifest(ss)["gaps"] == []


def test_a_replaced_month_takes_its_exchange_gaps_out_too(tmp_path: Path) -> None:
    """The same list of dropped months holds the files replaced by smaller ones."""
    ss = two_months_with_gaps(tmp_path)
    other = Store(tmp_path / "other").series(H1)
    other.write(hour_candles(FEB + 3 * cs.DAY, FEB + 4 * cs.DAY), [])
    (ss.folder / "2024-02.parquet").write_bytes((other.folder / "2024-02.parquet").read_bytes())
    again = Store(tmp_path).series(H1)
    assert again.coverage() == [(JAN, FEB)]
    assert again.gaps() == GAPS[:1]
    assert "was replaced" in again.quarantined[0]


def test_a_month_found_corrupt_while_open_takes_its_gaps_out(tmp_path: Path) -> None:
    """`_quarantine_month` on a store already open (found by a read, not at open)."""
    ss = two_months_with_gaps(tmp_path)
    path = ss.folder / "2024-01.parquet"
    path.write_bytes(b"not parquet")
    assert ss.read(JAN, FEB).height == 0
    assert ss.coverage() == [(FEB, MAR)] and ss.gaps() == GAPS[1:]
    assert manifest(ss)["gaps"] == [list(GAPS[1])]
    assert not path.exists() and any(".corrupt-" in p.name for p in ss.folder.iterdir())


# --- a month file that no longer holds what was signed ---------------------------------------


def test_a_month_replaced_by_one_that_ends_earlier_leaves_the_coverage(tmp_path: Path) -> None:
    """More rows than were signed, starting earlier, but ending before the signed last candle:
    not the same data (planted: `_holds` ignoring the last ts)."""
    ss = Store(tmp_path).series(H1)
    jan10, jan14 = cs.ms(2024, 1, 10), cs.ms(2024, 1, 14)
    ss.write(hour_candles(jan10, jan14), [(jan10, jan14)])  # 96 rows, Jan 10 -> 13 23:00
    other = Store(tmp_path / "other").series(H1)
    other.write(hour_candles(JAN, cs.ms(2024, 1, 6)), [])  # 120 rows, Jan 1 -> 5 23:00
    (ss.folder / "2024-01.parquet").write_bytes((other.folder / "2024-01.parquet").read_bytes())
    again = Store(tmp_path).series(H1)
    assert again.coverage() == []
    assert "was replaced (120 candles where 96 were written)" in again.quarantined[0]


def test_a_month_replaced_by_one_a_single_candle_short_leaves_the_coverage(tmp_path: Path) -> None:
    """Same first and last candle, one fewer row (planted: a row count compared off by one)."""
    ss = Store(tmp_path).series(H1)
    ss.write(hour_candles(JAN, FEB), [(JAN, FEB)])
    other = Store(tmp_path / "other").series(H1)
    hole = (JAN + 5 * cs.DAY, JAN + 5 * cs.DAY + HOUR)
    other.write(hour_candles(JAN, FEB, [hole]), [])
    (ss.folder / "2024-01.parquet").write_bytes((other.folder / "2024-01.parquet").read_bytes())
    again = Store(tmp_path).series(H1)
    assert again.coverage() == []
    assert "(743 candles where 744 were written)" in again.quarantined[0]


def test_the_signature_counts_the_whole_file_after_a_merge(tmp_path: Path) -> None:
    """A month written in two parts is signed with the rows of the file, not of the last part
    (planted); else a replacement holding fewer rows than the file would be trusted."""
    ss = Store(tmp_path).series(H1)
    ss.write(hour_candles(JAN, JAN + 10 * cs.DAY), [(JAN, JAN + 10 * cs.DAY)])
    ss.write(hour_candles(JAN + 10 * cs.DAY, FEB), [(JAN + 10 * cs.DAY, FEB)])
    assert manifest(ss)["files"]["2024-01.parquet"][2:] == [744, JAN, FEB - HOUR]
    other = Store(tmp_path / "other").series(H1)
    other.write(hour_candles(JAN, FEB, [(JAN + cs.DAY, JAN + 2 * cs.DAY)]), [])  # 720 rows
    (ss.folder / "2024-01.parquet").write_bytes((other.folder / "2024-01.parquet").read_bytes())
    assert Store(tmp_path).series(H1).coverage() == []


# --- exchange-side gaps at a month's edge ------------------------------------------------------


def test_a_stored_candle_at_the_first_slot_of_a_new_range_is_no_gap(tmp_path: Path) -> None:
    """A range covered again without candles, starting at the month's last stored candle: the
    stored candle is found, so only the slots after it are gaps (planted: the month file skipped
    when its last candle is the range's first slot)."""
    ss = Store(tmp_path).series(H1)
    ss.write(hour_candles(JAN, FEB), [(JAN, FEB)])
    last = FEB - HOUR
    ss.write(hour_candles(FEB, FEB), [(last, FEB + 2 * HOUR)])
    assert ss.gaps() == [(FEB, FEB + 2 * HOUR)]


# --- failed windows ---------------------------------------------------------------------------


def test_adjacent_failures_keep_their_own_reasons(tmp_path: Path) -> None:
    ss = Store(tmp_path).series(BTC)
    a, b, c = JAN, JAN + HOUR, JAN + 2 * HOUR
    ss.record_failed([(a, b, "HTTP 500"), (b, c, "timeout")])
    assert ss.failed() == [(a, b, "HTTP 500"), (b, c, "timeout")]
    assert Store(tmp_path).series(BTC).failed() == ss.failed()


# --- what reaches the disk, in which order -----------------------------------------------------


def test_every_file_is_fsynced_before_its_rename_and_its_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash must leave the old file or the new one (store/files.py `atomic_write`): the new
    bytes are on disk before the rename makes them the file, and the rename is on disk (the
    folder fsynced) before anything relies on it; a file moved aside likewise. The real calls
    run; they are only recorded (planted: each fsync dropped in turn)."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace, real_rename = os.fsync, os.replace, os.rename

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst) -> None:
        real_replace(src, dst)
        events.append(("replace", f"{src} -> {dst}"))

    def rename(src, dst) -> None:
        real_rename(src, dst)
        events.append(("rename", f"{src} -> {dst}"))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "rename", rename)
    ss = two_months_with_gaps(tmp_path)
    (ss.folder / "2024-02.parquet").write_bytes(b"not parquet")
    Store(tmp_path).series(H1).coverage()  # moves February aside
    moves = [i for i, (kind, _) in enumerate(events) if kind in ("replace", "rename")]
    # two months and the manifest written, February moved aside, the manifest again
    assert len(moves) >= 4 and [events[i][0] for i in moves].count("rename") == 1, events
    folder = str(ss.folder)
    for i in moves:
        kind, what = events[i]
        src, dst = what.split(" -> ")
        if kind == "replace":  # the temp file was fsynced before it became the file
            assert ("fsync", src) in events[:i], (what, events[:i])
        assert i + 1 < len(events) and events[i + 1] == ("fsync", folder), (what, events[i:])


def test_a_gap_of_one_slot_is_found_at_either_end_of_a_range(tmp_path: Path) -> None:
    """The first slot alone, and the last slot alone, without a candle: each a one-slot gap
    (planted: an edge compared with one slot of slack)."""
    ss = Store(tmp_path).series(BTC)
    a, b = JAN, JAN + 10 * MIN
    ss.write(cs.candles(a + MIN, b - MIN, MIN), [(a, b)])
    assert ss.gaps() == [(a, a + MIN), (b - MIN, b)]
    c = b + 60 * MIN
    ss.write(cs.candles(c, c + 3 * MIN, MIN, [(c + MIN, c + 2 * MIN)]), [(c, c + 3 * MIN)])
    assert ss.gaps() == [(a, a + MIN), (b - MIN, b), (c + MIN, c + 2 * MIN)]


def test_a_covered_range_that_ends_before_it_starts_is_refused(tmp_path: Path) -> None:
    ss = Store(tmp_path).series(BTC)
    with pytest.raises(ValueError, match="ends before it starts"):
        ss.write(cs.candles(JAN, JAN + MIN, MIN), [(JAN + MIN, JAN)])
    assert ss.read().height == 0 and ss.coverage() == []


def test_a_month_rewritten_after_it_was_found_unreadable_is_not_moved_aside(
    tmp_path: Path,
) -> None:
    """Found unreadable, then replaced by a writer before it is moved aside: the good file
    stays (store/reconcile.py `_quarantine_month` compares the file's stat first). The race
    is played in order: the stat taken when the file was unreadable is handed in after the
    writer replaced it."""
    ss = two_months_with_gaps(tmp_path)
    path = ss.folder / "2024-01.parquet"
    good = path.read_bytes()
    path.write_bytes(b"not parquet")
    st = os.stat(path)
    seen = (st.st_mtime_ns, st.st_size, st.st_ino)
    tmp = path.with_name("replacement")
    tmp.write_bytes(good)
    os.replace(tmp, path)
    assert ss._quarantine_month(path, seen, "not parquet") is False
    assert path.read_bytes() == good
    assert [p.name for p in ss.folder.iterdir() if ".corrupt-" in p.name] == []
    assert ss.coverage() == [(JAN, MAR)]


def test_a_temp_file_of_another_live_writer_is_left_alone(tmp_path: Path) -> None:
    """Only temps of writers that died are removed (planted: any other process's removed).
    The parent process is alive and is not us: its temp stays."""
    ss = two_months_with_gaps(tmp_path)
    live = ss.folder / f".2024-01.parquet.tmp-{os.getppid()}-abcd1234"
    live.write_bytes(b"in flight")
    Store(tmp_path).series(H1).coverage()
    assert live.exists()


# --- the manifest as read -------------------------------------------------------------------


def test_a_manifest_of_another_version_is_moved_aside(tmp_path: Path) -> None:
    """A manifest this version does not know (a newer one's) is not read as if it were ours
    (planted: the version not checked)."""
    ss = two_months_with_gaps(tmp_path)
    doc = manifest(ss)
    doc["version"] = 2
    (ss.folder / "_coverage.json").write_text(json.dumps(doc))
    again = Store(tmp_path).series(H1)
    assert again.coverage() == []
    assert "unsupported version 2" in again.quarantined[0]
    assert len(list(ss.folder.glob("_coverage.json.corrupt-*"))) == 1


def test_gaps_read_from_a_manifest_are_sorted_and_merged(tmp_path: Path) -> None:
    """A manifest edited by hand (or by an older version) may list gaps out of order or
    overlapping; the store works on sorted, merged ranges (planted: read as listed)."""
    ss = two_months_with_gaps(tmp_path)
    doc = manifest(ss)
    (a, b), (c, d) = GAPS
    doc["gaps"] = [[c, d], [a, a + HOUR], [a + HOUR // 2, b]]
    (ss.folder / "_coverage.json").write_text(json.dumps(doc))
    assert Store(tmp_path).series(H1).gaps() == GAPS
