"""Tests for the bugs bench/mutation_audit.py planted in dccd_tui/engine/store and the suite
missed (issue 18, item 7). Each names the mutant it catches; real Parquet files under tmp_path.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dccd_tui.engine.store import Store

from .test_files_behind_our_back import BTC, at, folder, hours, two_months


def test_a_month_replaced_with_its_old_mtime_kept_still_leaves_the_coverage(tmp_path: Path):
    """`store-resign-mtime-only`: a replaced file whose mtime was kept (``cp -p``, ``rsync -t``,
    a restore from a backup) is told apart by its size; trusting the mtime alone kept a month
    of 48 candles covered as if it held the 744 written."""
    two_months(tmp_path)
    month = folder(tmp_path) / "2024-01.parquet"
    st = os.stat(month)
    other = tmp_path / "other"
    Store(other).series(BTC).write(hours(at(2024, 1, 10), at(2024, 1, 12)), [])
    shutil.copyfile(folder(other) / "2024-01.parquet", month)
    os.utime(month, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(month).st_mtime_ns == st.st_mtime_ns and os.stat(month).st_size != st.st_size
    ss = Store(tmp_path).series(BTC)
    assert ss.coverage() == [(at(2024, 2), at(2024, 3))]
    assert "was replaced (48 candles where 744 were written)" in ss.quarantined[0]


def test_a_range_written_again_with_its_gap_filled_has_no_gap_left(tmp_path: Path):
    """`store-old-gaps-kept`: a range fetched again (the exchange has since filled a hole, or
    a first fetch was short) replaces the gaps over it with what the new candles leave."""
    ss = Store(tmp_path).series(BTC)
    jan = (at(2024, 1), at(2024, 2))
    hole = (at(2024, 1, 10), at(2024, 1, 11))
    ss.write(hours(jan[0], hole[0]).vstack(hours(hole[1], jan[1])), [jan])
    assert ss.gaps() == [hole]
    ss.write(hours(*jan), [jan])
    assert ss.gaps() == [] and Store(tmp_path).series(BTC).gaps() == []
    assert ss.coverage() == [jan]
