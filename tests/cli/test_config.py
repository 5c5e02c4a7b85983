"""Config loading: every user mistake gives one clear message naming the file, entry and key;
the CLI exits 2 with no traceback and writes nothing; saving is atomic and keeps a backup."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from dccd_tui.cli import main
from dccd_tui.config import ConfigError, load_config, save_config

GOOD = """
[settings]
data_path = "data"
max_parallel = 2

[[histo_jobs]]
exchange = "binance"
pairs = ["BTC/USDT", "ETH/USDT"]
span = "1h"
start = "2024-01-01"
end = "2024-02-01"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def job(**overrides) -> str:
    entry = {
        "exchange": '"binance"',
        "pairs": '["BTC/USDT"]',
        "span": '"1h"',
        "start": '"2024-01-01"',
        "end": '"2024-02-01"',
    }
    entry.update(overrides)
    body = "\n".join(f"{k} = {v}" for k, v in entry.items() if v is not None)
    return f"[[histo_jobs]]\n{body}\n"


def test_good_config_loads(tmp_path):
    cfg = load_config(write(tmp_path, GOOD))
    assert [j.series.pair for j in cfg.jobs] == ["BTC/USDT", "ETH/USDT"]
    assert cfg.settings.data_path == tmp_path / "data"
    assert cfg.jobs[0].series.span == 3600
    assert cfg.jobs[0].start == 1704067200000
    assert cfg.jobs[0].end == 1706745600000
    assert cfg.exchanges["binance"].base_url == "https://api.binance.com"


def test_shipped_config_is_valid():
    cfg = load_config(Path(__file__).parents[2] / "config.toml")
    exchanges = {j.series.exchange for j in cfg.jobs}
    assert exchanges == {"binance", "bybit", "okx", "coinbase", "kraken"}
    assert {j.series.label for j in cfg.jobs} == {"1m", "1h"}
    for ex in exchanges:
        assert cfg.exchanges[ex].base_url.startswith("https://")


def test_timezone_is_used_for_naive_dates(tmp_path):
    text = GOOD.replace("max_parallel = 2", 'max_parallel = 2\ntimezone = "Europe/Paris"')
    cfg = load_config(write(tmp_path, text))
    assert cfg.jobs[0].start == 1704067200000 - 3600_000


BAD_CASES = [
    ("invalid TOML", "[settings\n", "invalid TOML"),
    ("unknown top key", GOOD + "\n[extra]\nx = 1\n", "top level: key 'extra': unknown key"),
    (
        "unknown settings key",
        GOOD.replace("max_parallel = 2", "max_paralel = 2"),
        "[settings]: key 'max_paralel': unknown key",
    ),
    (
        "wrong type",
        GOOD.replace("max_parallel = 2", 'max_parallel = "two"'),
        "[settings]: key 'max_parallel': expected a whole number",
    ),
    ("unknown job key", job(spam='"1"'), "#1 (binance): key 'spam': unknown key"),
    ("unknown exchange", job(exchange='"binanse"'), "key 'exchange': unknown exchange 'binanse'"),
    ("no separator", job(pairs='["BTCUSDT"]'), "'BTCUSDT' is not of the form BASE/QUOTE"),
    ("empty quote", job(pairs='["BTC/"]'), "the quote asset must be"),
    ("empty base", job(pairs='["/USDT"]'), "the base asset must be"),
    ("path escape", job(pairs='["../../etc/passwd"]'), "is not of the form BASE/QUOTE"),
    ("three parts", job(pairs='["BTC/USDT/X"]'), "is not of the form BASE/QUOTE"),
    ("non ascii", job(pairs='["BTÇ/USDT"]'), "the base asset must be"),
    ("very long", job(pairs='["' + "A" * 200 + '/USDT"]'), "too long"),
    ("lower case", job(pairs='["btc/usdt"]'), "upper-case"),
    ("pairs not a list", job(pairs='"BTC/USDT"'), "key 'pairs': expected a list"),
    ("empty pairs", job(pairs="[]"), "key 'pairs': the list is empty"),
    (
        "span not offered",
        job(exchange='"coinbase"', pairs='["BTC/USD"]', span='"4h"'),
        "coinbase does not offer 4h",
    ),
    ("span unknown", job(span='"7m"'), "key 'span': span '7m' is not one of"),
    ("bad date", job(start='"yesterday"'), "key 'start': 'yesterday' is not a date"),
    ("start after end", job(start='"2024-03-01"'), "is not before end"),
    ("start in future", job(start='"2999-01-01"', end=None), "is in the future"),
    (
        "base_url not http",
        GOOD + '\n[exchanges.binance]\nbase_url = "ftp://x"\n',
        "[exchanges.binance]: key 'base_url': 'ftp://x' is not an http:// or https:// URL",
    ),
    (
        "unknown exchange table",
        GOOD + '\n[exchanges.ftx]\nbase_url = "https://x"\n',
        "[exchanges.ftx]: unknown exchange 'ftx'",
    ),
    (
        "negative budget",
        GOOD + "\n[exchanges.binance]\nrequests_per_second = -1\n",
        "key 'requests_per_second': must be above 0",
    ),
    ("missing span", job(span=None), "key 'span': missing"),
    (
        "bad timezone",
        GOOD.replace("max_parallel = 2", 'timezone = "Mars/Olympus"'),
        "unknown time zone 'Mars/Olympus'",
    ),
]


@pytest.mark.parametrize("name,text,expected", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_config_message(tmp_path, name, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith("config.toml: ") or message.startswith(str(path))
    assert expected in message


@pytest.mark.parametrize("name,text,expected", BAD_CASES[:6], ids=[c[0] for c in BAD_CASES[:6]])
def test_cli_exits_2_without_traceback(tmp_path, capsys, name, text, expected):
    path = write(tmp_path, text)
    for argv in (["validate", "--config", str(path)], ["backfill", "--config", str(path)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert expected in err
        assert "Traceback" not in err
    assert not (tmp_path / "data").exists()  # nothing written


def test_cli_filter_matching_nothing_exits_2(tmp_path, capsys):
    path = write(tmp_path, GOOD)
    assert main(["backfill", "--config", str(path), "--exchange", "kraken", "--dry-run"]) == 2
    assert "no job in config.toml matches --exchange kraken" in capsys.readouterr().err


def test_missing_file(tmp_path, capsys):
    assert main(["validate", "--config", str(tmp_path / "nope.toml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_duplicate_series_run_once_and_are_reported(tmp_path):
    text = GOOD + job(pairs='["BTC/USDT"]', start='"2023-06-01"')
    cfg = load_config(write(tmp_path, text))
    btc = [j for j in cfg.jobs if j.series.pair == "BTC/USDT"]
    assert len(btc) == 1
    assert btc[0].start == 1685577600000  # union of both ranges
    assert len(cfg.duplicates) == 1 and "#1 and #2" in cfg.duplicates[0]


def test_save_is_atomic_keeps_backup_and_stable_order(tmp_path):
    path = write(tmp_path, GOOD)
    cfg = load_config(path)
    data = cfg.raw
    data["histo_jobs"][0]["pairs"].append("SOL/USDT")
    save_config(path, data)
    backup = path.with_name("config.toml.bak")
    assert backup.read_text(encoding="utf-8") == GOOD
    again = load_config(path)
    assert [j.series.pair for j in again.jobs] == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    text = path.read_text(encoding="utf-8")
    assert text.index("[settings]") < text.index("[[histo_jobs]]")
    assert text.index("exchange =") < text.index("pairs =") < text.index("span =")
    assert not list(tmp_path.glob("*.tmp"))


def test_save_refuses_invalid_data_and_keeps_file(tmp_path):
    path = write(tmp_path, GOOD)
    data = tomllib.loads(GOOD)
    data["histo_jobs"][0]["pairs"] = ["BTCUSDT"]
    with pytest.raises(ConfigError):
        save_config(path, data)
    assert path.read_text(encoding="utf-8") == GOOD


def test_save_on_full_disk_keeps_old_file(tmp_path, monkeypatch):
    path = write(tmp_path, GOOD)
    data = tomllib.loads(GOOD)
    data["histo_jobs"][0]["pairs"] = ["SOL/USDT"]
    real_fsync = os.fsync

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ConfigError) as info:
        save_config(path, data)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert "No space left on device" in str(info.value)
    assert path.read_text(encoding="utf-8") == GOOD
    assert not list(tmp_path.glob(".config.toml.*"))


def test_validate_command_lists_jobs(tmp_path, capsys):
    path = write(tmp_path, GOOD)
    assert main(["validate", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2 series" in out and "binance ETH/USDT 1h" in out


def test_no_traceback_from_python_m(tmp_path):
    path = write(tmp_path, "[settings\n")
    proc = subprocess.run(
        [sys.executable, "-m", "dccd_tui", "validate", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "invalid TOML" in proc.stderr and "Traceback" not in proc.stderr


EVERY_MISTAKE = """
colour = "blue"

[settings]
max_parallel = 0
ui_hz = 99
timezone = "Mars/Olympus"

[exchanges.binance]
requests_per_second = -1

[[histo_jobs]]
exchange = "binance"
pairs = ["BTC/USDT", "NOPE"]
span = "7m"
start = "2024-01-01"
max_retries = 1000

[[histo_jobs]]
exchange = "okx"
pairs = []
span = "1h"
retry_delay = -5
"""


def test_every_problem_of_a_file_is_reported(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, EVERY_MISTAKE)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    errors = info.value.errors
    expected = [
        "top level: key 'colour': unknown key",
        "[settings]: key 'timezone': unknown time zone 'Mars/Olympus'",
        "[settings]: key 'max_parallel': must be between 1 and 256",
        "[settings]: key 'ui_hz': must be between 0.2 and 30",
        "[exchanges.binance]: key 'requests_per_second': must be above 0",
        "#1 (binance): key 'span'",
        "#1 (binance): key 'max_retries': must be 0..100",
        "#1 (binance): key 'pairs': ",
        "#2 (okx): key 'pairs': the list is empty",
        "#2 (okx): key 'retry_delay': must be 0..3600 seconds",
    ]
    assert len(errors) == len(expected), errors
    for want, got in zip(expected, errors, strict=True):
        assert got.startswith("config.toml: ") and want in got, (want, got)
    assert str(info.value) == "\n".join(errors)
    # the CLI prints them all, one line each, and exits 2
    assert main(["validate", "--config", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"dccd-tui: {e}" for e in errors]
