"""Store defects that a mutation audit planted and the rest of the suite let through (issue 18,
item 7): each test here fails on one such bug.

The store keeps three lists per series (coverage, failed windows, exchange-side gaps) and signs
every month file; most planted bugs left the store's candles right and one of those lists wrong,
which only a test that reads the list back sees. Real Parquet files under tmp_path, no network.
"""

from __future__ import annotations

import json
from pathlib import Path

from dccd_tui.engine.models import Series
from dccd_tui.engine.store import Store

from .. import coverage_store as cs

MIN = 60_000
BTC = Series("binance", "BTC/USDT", 60)
JAN, FEB, MAR = cs.ms(2024, 1, 1), cs.ms(2024, 2, 1), cs.ms(2024, 3, 1)
# one exchange-side gap in each month
GAPS = [(JAN + cs.DAY, JAN + cs.DAY + 30 * MIN), (FEB + cs.DAY, FEB + cs.DAY + 30 * MIN)]


def two_months_with_gaps(data: Path):
    ss = Store(data).series(BTC)
    ss.write(cs.candles(JAN, MAR, MIN, GAPS), [(JAN, MAR)])
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
    again = Store(tmp_path).series(BTC)
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
    other = Store(tmp_path / "other").series(BTC)
    other.write(cs.candles(FEB + 3 * cs.DAY, FEB + 4 * cs.DAY, MIN), [])
    (ss.folder / "2024-02.parquet").write_bytes((other.folder / "2024-02.parquet").read_bytes())
    again = Store(tmp_path).series(BTC)
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
