"""`dccd-tui inventory` fits its table to the terminal (issue 12, item 11): the least important
columns go first and are named below the table; a pipe gets the whole table; `--json` is never
cut. The store is the one of the TUI's inventory snapshots (tests/coverage_store.py)."""

from __future__ import annotations

import json

import pytest

from dccd_tui.cli import main

from .. import coverage_store as cs


@pytest.fixture
def config(tmp_path):
    config = cs.write_config(tmp_path, stored_only_job=True)
    cs.build_store(config.settings.data_path)
    return config


def _inventory(config, capsys, monkeypatch, columns: int | None) -> list[str]:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", str(columns))
    assert main(["inventory", "--config", str(config.path)]) == 0
    return capsys.readouterr().out.splitlines()


def _table(lines: list[str]) -> list[str]:
    start = next(i for i, li in enumerate(lines) if li.startswith("series"))
    end = lines.index("", start)
    return lines[start:end]


@pytest.mark.parametrize("columns", [60, 80, 100, 120])
def test_every_line_fits_the_terminal(config, capsys, monkeypatch, columns):
    lines = _inventory(config, capsys, monkeypatch, columns)
    # a path is never broken (it would not paste back); every other line fits
    fitted = [li for li in lines if str(config.path.parent) not in li]
    assert max(len(li) for li in fitted) <= columns, "\n".join(lines)
    table = _table(lines)
    header = table[0]
    # what always stays: the series, its cover, what is missing
    assert header.startswith("series") and "cover" in header and "missing" in header
    row = next(li for li in table if li.startswith("binance BTC/USDT 1m"))
    assert "31.7%" in row and "58,040 in 2" in row
    if "longest gap" not in header:
        text = " ".join(li.strip() for li in lines)
        assert "longest gap" in text.split("not shown at this width: ")[1]


def test_at_80_columns_the_least_important_columns_give_way(config, capsys, monkeypatch):
    lines = _inventory(config, capsys, monkeypatch, 80)
    header = _table(lines)[0]
    assert "longest gap" not in header and "size" not in header
    assert "failed" in header and "last" in header
    hidden = next(li for li in lines if li.startswith("not shown at this width: "))
    assert "longest gap" in hidden and "size" in hidden


def test_without_a_terminal_the_whole_table_and_json_are_never_cut(config, capsys, monkeypatch):
    lines = _inventory(config, capsys, monkeypatch, None)  # capsys: stdout is not a terminal
    header = _table(lines)[0]
    for name in (
        "first",
        "last",
        "rows",
        "cover",
        "exchange gaps",
        "longest gap",
        "missing",
        "failed",
        "size",
    ):
        assert name in header
    assert not any(li.startswith("not shown") for li in lines)
    assert "2h00m at 2024-01-05 10:00" in "\n".join(lines)
    monkeypatch.setenv("COLUMNS", "40")
    assert main(["inventory", "--config", str(config.path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["series"]) == 4


def test_a_report_of_several_incomplete_series_says_each_thing_once(config, capsys, monkeypatch):
    """Two configured series are incomplete (one missing and failed ranges, one nothing
    stored): each gets its own lines, and what fetches them is said once at the end, not once
    per series (a store of 50 series repeated that sentence 50 times)."""
    lines = _inventory(config, capsys, monkeypatch, None)
    notes = [li for li in lines if li.startswith("  ")]
    assert any("failed" in li for li in notes) and any("missing" in li for li in notes)
    assert len(notes) == len(set(notes)), notes
    assert not any("when it runs" in li for li in lines)
    closing = [li for li in lines if "configured series incomplete" in li]
    assert (
        closing == [closing[0]]
        and "run their jobs to fetch what is missing or failed" in (closing[0])
    )
