"""Config for derivatives (issue 20): unified symbols, `kinds`, funding without a span, the
Binance futures budgets and archive keys, and the pair check's suggestions for the venues'
own spellings. Each mistake is one message naming the file, the entry and the key; the CLI's
`validate` prints them and exits 2.

Venues that serve perpetuals are the real adapters when the build has them, else the stand-in
of tests/fake_perps.py (declared as the shared design says: linear perpetuals, every kind).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dccd_tui.cli import main
from dccd_tui.config import ConfigError, check_pair, pair_problem, validate

from ..fake_perps import USDM, usdm  # noqa: F401 (a fixture)

NOW = 1_800_000_000_000  # 2027-01-15
PATH = Path("config.toml")


def _validate(jobs: list[dict], exchanges: dict | None = None):
    return validate({"histo_jobs": jobs, "exchanges": exchanges or {}}, PATH, now_ms=NOW)


def _errors(jobs: list[dict], exchanges: dict | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        _validate(jobs, exchanges)
    return info.value.errors


def _entry(**fields) -> dict:
    return {"exchange": "binance", "pairs": ["BTC/USDT"], "span": "1h", **fields}


def test_kinds_default_to_candles_one_job_per_pair() -> None:
    config = _validate([_entry(pairs=["BTC/USDT", "ETH/USDT"])])
    assert [j.key for j in config.jobs] == [
        "binance BTC/USDT candles 1h",
        "binance ETH/USDT candles 1h",
    ]


def test_one_job_per_pair_and_kind_on_a_perpetual_venue(usdm) -> None:  # noqa: F811
    config = _validate(
        [
            _entry(
                exchange=USDM,
                pairs=["BTC/USDT:USDT", "ETH/USDT:USDT"],
                kinds=["candles", "mark", "funding"],
                start="2026-01-01 00:30",
            )
        ]
    )
    assert [j.key for j in config.jobs] == [
        f"{USDM} BTC/USDT:USDT candles 1h",
        f"{USDM} BTC/USDT:USDT mark 1h",
        f"{USDM} BTC/USDT:USDT funding",
        f"{USDM} ETH/USDT:USDT candles 1h",
        f"{USDM} ETH/USDT:USDT mark 1h",
        f"{USDM} ETH/USDT:USDT funding",
    ]
    funding = config.jobs[2]
    assert funding.series.is_funding and funding.start % 3_600_000 == 0


def test_a_funding_only_entry_may_omit_its_span(usdm) -> None:  # noqa: F811
    entry = {"exchange": USDM, "pairs": ["BTC/USDT:USDT"], "kinds": ["funding"]}
    assert [j.key for j in _validate([entry]).jobs] == [f"{USDM} BTC/USDT:USDT funding"]
    entry["kinds"] = ["funding", "mark"]
    assert _errors([entry]) == [
        f"config.toml: [[histo_jobs]] #1 ({USDM}): key 'span': missing (required)"
    ]


def test_a_kind_the_venue_does_not_serve_is_named_with_what_it_serves() -> None:
    errors = _errors([_entry(pairs=["BTC/USDT", "ETH/USDT"], kinds=["candles", "mark", "funding"])])
    assert errors == [
        "config.toml: [[histo_jobs]] #1 (binance): key 'kinds': binance does not serve mark or "
        "funding for spot symbols (BTC/USDT, ETH/USDT); it serves candles"
    ]
    assert check_pair("binance", "BTC/USDT", 3600, ["candles", "premium"]) == (
        "binance does not serve premium for spot symbols such as BTC/USDT; it serves candles"
    )


@pytest.mark.parametrize(
    ("kinds", "words"),
    [
        ('"candles"', "expected a list of kinds (candles, mark, index, premium, funding)"),
        ([], "the list is empty (give one or more of candles, mark, index, premium, funding)"),
        (["candle"], "'candle' is not a kind (one of candles, mark, index, premium, funding)"),
        (["candles", 1], "1 is not a kind"),
        (["candles", "candles"], "'candles' is listed twice"),
    ],
)
def test_bad_kinds(kinds, words) -> None:
    errors = _errors([_entry(kinds=kinds)])
    assert len(errors) == 1 and errors[0].startswith(
        "config.toml: [[histo_jobs]] #1 (binance): key 'kinds': "
    )
    assert words in errors[0]


@pytest.mark.parametrize(
    ("exchange", "pair", "words"),
    [
        ("binance", "BTC/USDT:USDT", "'BTC/USDT:USDT' is a linear perpetual; binance serves spot "
         "symbols only: use binanceusdm"),
        ("binance", "BTC/USD:BTC", "use binancecoinm"),
        ("kraken", "BTC/USD:USD", "use krakenfutures"),
        ("coinbase", "BTC/USDC:USDC", "use coinbaseinternational"),
        ("binance", "BTC/USDT:USDT-250328", "dated futures are not supported (yet)"),
        ("okx", "BTC/USDT:ETH", "the settle asset ETH is neither the base nor the quote"),
        # a venue's own spelling gets its unified symbol, and where that is served
        ("binance", "BTC-USDT-SWAP", "did you mean BTC/USDT:USDT? ('BTC/USDT:USDT' is a linear "
         "perpetual; binance serves spot symbols only: use binanceusdm)"),
        ("kraken", "PF_XBTUSD", "did you mean BTC/USD:USD? ('BTC/USD:USD' is a linear "
         "perpetual; kraken serves spot symbols only: use krakenfutures)"),
        ("coinbase", "BTC-PERP", "did you mean BTC/USDC:USDC? ('BTC/USDC:USDC' is a linear "
         "perpetual; coinbase serves spot symbols only: use coinbaseinternational)"),
        ("binance", "BTCUSDT", "did you mean BTC/USDT?"),  # spot, as before
    ],
)  # fmt: skip
def test_the_pair_check_of_symbols_and_venue_spellings(exchange, pair, words) -> None:
    problem = pair_problem(exchange, pair)
    assert problem is not None and words in problem
    errors = _errors([_entry(exchange=exchange, pairs=[pair])])
    assert len(errors) == 1 and words in errors[0] and "key 'pairs'" in errors[0]


def test_the_pair_check_on_a_perpetual_venue(usdm) -> None:  # noqa: F811
    assert pair_problem(USDM, "BTC/USDT:USDT") is None
    assert pair_problem(USDM, "BTCUSDT").endswith("; did you mean BTC/USDT:USDT?")
    spot = pair_problem(USDM, "BTC/USDT")
    assert spot == (
        f"'BTC/USDT' is a spot symbol; {USDM} serves perpetuals such as BTC/USDT:USDT; "
        "did you mean BTC/USDT:USDT?"
    )
    assert pair_problem(USDM, "BTC-USDT-SWAP").endswith("; did you mean BTC/USDT:USDT?")
    # a venue's own spelling: the forms the venue takes, not the spot form alone
    assert pair_problem(USDM, "BTCUSDT") == (
        f"'BTCUSDT' is not a unified symbol: {USDM} takes BASE/QUOTE:SETTLE for a perpetual "
        "(e.g. BTC/USDT:USDT); did you mean BTC/USDT:USDT?"
    )
    assert pair_problem("okx", "BTC-USDT-SWAP") == (
        "'BTC-USDT-SWAP' is not a unified symbol: okx takes BASE/QUOTE for spot (e.g. BTC/USDT) "
        "or BASE/QUOTE:SETTLE for a perpetual (e.g. BTC/USDT:USDT); did you mean BTC/USDT:USDT?"
    )
    # a spot-only venue keeps the pair's words
    assert pair_problem("binance", "BTCUSDT") == (
        "pair 'BTCUSDT' is not of the form BASE/QUOTE (e.g. BTC/USDT); did you mean BTC/USDT?"
    )


def test_weight_per_minute_for_binance_futures(usdm) -> None:  # noqa: F811
    config = _validate([], {USDM: {"weight_per_minute": 1200}})
    settings = config.exchanges[USDM]
    assert settings.weight_per_minute == 1200 and settings.requests_per_second == 20
    default = _validate([]).exchanges[USDM]
    assert default.weight_per_minute is not None
    assert default.requests_per_second == default.weight_per_minute / 60
    in_requests = _validate([], {USDM: {"requests_per_second": 5}}).exchanges[USDM]
    assert in_requests.weight_per_minute is None and in_requests.requests_per_second == 5
    assert _errors([], {USDM: {"weight_per_minute": 1200, "requests_per_second": 5}}) == [
        f"config.toml: [exchanges.{USDM}]: key 'weight_per_minute': give weight_per_minute or "
        "requests_per_second, not both"
    ]
    assert _errors([], {USDM: {"weight_per_minute": 0}}) == [
        f"config.toml: [exchanges.{USDM}]: key 'weight_per_minute': must be above 0 (and at "
        "most 600000)"
    ]


def test_weight_per_minute_elsewhere_is_refused() -> None:
    assert _errors([], {"binance": {"weight_per_minute": 6000}}) == [
        "config.toml: [exchanges.binance]: key 'weight_per_minute': only binanceusdm, "
        "binancecoinm count request weight; give requests_per_second"
    ]


def test_archive_keys_stay_valid_for_binance_futures(usdm) -> None:  # noqa: F811
    config = _validate(
        [_entry(exchange=USDM, pairs=["BTC/USDT:USDT"], archive=False)],
        {USDM: {"archive": True, "archive_parallel": 2}},
    )
    assert config.exchanges[USDM].archive and config.exchanges[USDM].archive_parallel == 2
    assert config.jobs[0].archive is False
    assert _errors([_entry(exchange="bybit", archive=False)]) == [
        "config.toml: [[histo_jobs]] #1 (bybit): key 'archive': only binance, binanceusdm, "
        "binancecoinm have a public archive"
    ]


def test_validate_prints_the_kind_problem_and_exits_2(tmp_path, capsys) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[[histo_jobs]]\nexchange = "coinbase"\npairs = ["BTC/USD"]\nspan = "1h"\n'
        'kinds = ["candles", "mark"]\n',
        encoding="utf-8",
    )
    assert main(["validate", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "key 'kinds': coinbase does not serve mark for spot symbols (BTC/USD); it serves " in err
    assert "Traceback" not in err
