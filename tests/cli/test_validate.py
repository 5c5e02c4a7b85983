"""`validate` and forgiving input (issue 12, item 10): `--demo`, a warning for a config without
jobs (validate and backfill), and "did you mean BTC/USDT?" for a pair written as the exchange's
web page shows it."""

from __future__ import annotations

import pytest

from dccd_tui.cli import main
from dccd_tui.engine import suggest_pair

from ..helpers import demo_series_count


@pytest.mark.parametrize(
    "text, guess",
    [
        ("BTCUSDT", "BTC/USDT"),
        ("btcusdt", "BTC/USDT"),
        ("ETHBTC", "ETH/BTC"),
        ("SOLUSDC", "SOL/USDC"),
        ("BTCUSD", "BTC/USD"),
        ("ETHEUR", "ETH/EUR"),
        ("btc-usdt", "BTC/USDT"),
        ("eth_usd", "ETH/USD"),
        ("sol/usdt", "SOL/USDT"),
        (" BTC / USDT ", "BTC/USDT"),
        ("XBTGBP", "XBT/GBP"),
    ],
)
def test_suggest_pair_splits_on_common_quote_assets(text, guess):
    assert suggest_pair(text) == guess


@pytest.mark.parametrize("text", ["BTC/USDT", "XYZ", "USDT", "", "BTC/", "a/b/c", "BTC$USDT", 42])
def test_no_guess_rather_than_a_wrong_one(text):
    assert suggest_pair(text) is None


def _write(tmp_path, body: str):
    path = tmp_path / "config.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_validate_says_did_you_mean_for_every_pair_it_can_guess(tmp_path, capsys):
    path = _write(
        tmp_path,
        '[[histo_jobs]]\nexchange = "binance"\n'
        'pairs = ["BTCUSDT", "eth-usdt", "XYZ", "SOL/USDT"]\nspan = "1h"\n',
    )
    assert main(["validate", "--config", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3  # every bad pair, one line each; SOL/USDT is fine
    assert "'BTCUSDT'" in err[0] and err[0].endswith("did you mean BTC/USDT?")
    assert "'eth-usdt'" in err[1] and err[1].endswith("did you mean ETH/USDT?")
    assert "'XYZ'" in err[2] and "did you mean" not in err[2]


def test_validate_demo_checks_the_demo_config(tmp_path, capsys):
    assert main(["validate", "--demo"]) == 0  # DCCD_TUI_DEMO_DIR is tmp_path/demo
    out = capsys.readouterr().out
    count = demo_series_count()
    assert out.startswith(str(tmp_path / "demo" / "config.toml") + f": OK, {count} series")
    assert "binance BTC/USDT 1m" in out and "kraken ETH/USD 1m" in out
    assert "bybit ETH/USDT:USDT 1h premium" in out
    assert "coinbaseinternational BTC/USDC:USDC funding" in out


def test_a_config_without_jobs_is_valid_with_a_warning(tmp_path, capsys):
    path = _write(tmp_path, '# nothing yet\n[settings]\ndata_path = "data"\n')
    assert main(["validate", "--config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "OK, 0 series" in out
    assert err.startswith("dccd-tui: warning: ") and "no [[histo_jobs]] entry" in err
    # backfill: the same warning, nothing to run, exit 0 (not the "no job matches" usage error)
    assert main(["backfill", "--config", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "no [[histo_jobs]] entry" in err
    assert out.strip() == (
        "finished in 0s: 0 jobs (0 fetched, 0 already complete, 0 failed, "
        "0 cancelled), 0 candles written, 0 requests"
    )
    assert main(["backfill", "--config", str(path), "--dry-run"]) == 0
    assert "no [[histo_jobs]] entry" in capsys.readouterr().err


def test_validate_and_the_form_refuse_the_same_pairs_in_the_same_words(tmp_path, capsys):
    """Issue 19, item 4: `validate` accepted SOL/US, which the form refused. Both now ask
    `config.pair_problem`; each pair below gets the same words from both."""
    from dccd_tui.tui.screens.pair_form import pair_reason

    pairs = ["SOL/US", "BTCUSDT", "BTC-USDT", "BTC/XYZ", "ETH/USDT"]
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[settings]\ndata_path = "d"\n[[histo_jobs]]\nexchange = "binance"\n'
        f'span = "1h"\npairs = {pairs!r}\n'.replace("'", '"'),
        encoding="utf-8",
    )
    assert main(["validate", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.splitlines()
    refused = [p for p in pairs if pair_reason("binance", p, None) is not None]
    assert refused == ["SOL/US", "BTCUSDT", "BTC-USDT", "BTC/XYZ"]
    assert len(err) == len(refused)
    for line, pair in zip(err, refused, strict=True):
        assert f"'{pair}'" in line
        assert line.endswith(str(pair_reason("binance", pair, None))), line
    assert "US is not a quote asset: did you mean SOL/USDT" in err[0]


def test_a_pair_listed_twice_in_one_entry_is_named_once(tmp_path, capsys):
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[settings]\ndata_path = "d"\n[[histo_jobs]]\nexchange = "binance"\nspan = "1h"\n'
        'pairs = ["BTC/USDT", "BTC/USDT"]\n',
        encoding="utf-8",
    )
    assert main(["validate", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "note: binance BTC/USDT 1h is listed twice in [[histo_jobs]] #1; it runs once" in out
    assert "#1 and #1" not in out


def test_validate_says_a_live_job_is_kept_live(tmp_path, capsys):
    path = _write(
        tmp_path,
        '[settings]\ndata_path = "data"\n[[histo_jobs]]\nexchange = "binance"\n'
        'pairs = ["BTC/USDT"]\nspan = "1m"\nstart = "2024-01-01"\nlive = true\n'
        '[[histo_jobs]]\nexchange = "okx"\npairs = ["BTC/USDT"]\nspan = "1m"\n'
        'start = "2024-01-01"\n',
    )
    assert main(["validate", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "binance BTC/USDT 1m  2024-01-01 00:00 -> now, then kept live" in out
    assert "okx BTC/USDT 1m  2024-01-01 00:00 -> last closed candle" in out
