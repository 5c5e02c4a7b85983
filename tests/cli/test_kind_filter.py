"""`--kind` on `backfill`, `log`, `wait` and `inventory` (issue 20, item 2), and `kind` in their
JSON. The filter names kinds comma separated; a word that is no kind, or a filter that matches
no job, is one message and exit 2. A funding job has no span: `--span` never picks it.
"""

from __future__ import annotations

import json

import pytest

from dccd_tui.cli import main
from dccd_tui.commands.job_filter import select_jobs

from ..fake_perps import USDM, usdm  # noqa: F401 (a fixture)
from ..helpers import FAST, make_config

JOBS = [
    {"exchange": "bybit", "pairs": ["BTC/USDT"], "span": "1h",
     "start": "2024-01-01", "end": "2024-01-02"},
]  # fmt: skip


def test_backfill_and_log_filter_by_kind(tmp_path, sandbox, capsys) -> None:
    config = make_config(tmp_path, sandbox, JOBS, rps=FAST)
    path = str(config.path)
    assert main(["backfill", "--config", path, "--kind", "candles", "--dry-run", "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    plans = [e for e in events if e["event"] == "plan"]
    assert [(p["pair"], p["kind"], p["span"]) for p in plans] == [("BTC/USDT", "candles", "1h")]
    assert main(["backfill", "--config", path, "--kind", "mark,funding", "--dry-run"]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("no job in config.toml matches --kind mark,funding")
    )
    assert main(["log", "--config", path, "--kind", "trades"]) == 2
    err = capsys.readouterr().err
    assert "--kind: kind 'trades' is not one of candles, mark, index, premium, funding" in err
    assert main(["wait", "--config", path, "--kind", "premium"]) == 2
    assert "matches --kind premium" in capsys.readouterr().err
    assert sandbox.requests("bybit") == 0


def test_inventory_filters_by_kind_and_says_the_kind(tmp_path, sandbox, capsys) -> None:
    config = make_config(tmp_path, sandbox, JOBS, rps=FAST)
    path = str(config.path)
    assert main(["inventory", "--config", path, "--json", "--kind", "candles"]) == 0
    series = json.loads(capsys.readouterr().out)["series"]
    assert [(s["pair"], s["kind"], s["span"]) for s in series] == [("BTC/USDT", "candles", "1h")]
    assert main(["inventory", "--config", path, "--json", "--kind", "funding"]) == 0
    assert json.loads(capsys.readouterr().out)["series"] == []
    assert main(["inventory", "--config", path, "--kind", "nope"]) == 2
    assert "--kind: kind 'nope' is not one of" in capsys.readouterr().err


def test_select_jobs_by_kind_and_span(tmp_path, usdm) -> None:  # noqa: F811
    from dccd_tui.config import validate

    config = validate(
        {
            "histo_jobs": [
                {
                    "exchange": USDM,
                    "pairs": ["BTC/USDT:USDT"],
                    "span": "1h",
                    "kinds": ["candles", "mark", "funding"],
                }
            ]
        },
        tmp_path / "config.toml",
        now_ms=1_800_000_000_000,
    )
    keys = [j.key for j in select_jobs(config, None, None, None, "mark, funding")]
    assert keys == [f"{USDM} BTC/USDT:USDT mark 1h", f"{USDM} BTC/USDT:USDT funding"]
    # a funding job has no span: --span 1h picks the candle kinds only
    keys = [j.key for j in select_jobs(config, None, "BTC/USDT:USDT", "1h")]
    assert keys == [f"{USDM} BTC/USDT:USDT candles 1h", f"{USDM} BTC/USDT:USDT mark 1h"]
    with pytest.raises(ValueError, match="matches --span 1h --kind funding"):
        select_jobs(config, None, None, "1h", "funding")
