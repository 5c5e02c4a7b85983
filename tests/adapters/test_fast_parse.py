"""The vectorised page parser (`_frames.fast_frame`) gives exactly what the row-by-row path gives.

Binance and Bybit pages go through polars in one piece (what lets one core keep up with their
budgets); anything unusual is handed to the row-by-row path, which words the errors. Here both
paths see the same pages, clean and damaged, and must agree: same frame, or the same error.
"""

from __future__ import annotations

import json
import random

import pytest

from dccd_tui.engine.errors import TransientError
from dccd_tui.engine.exchanges import _frames
from dccd_tui.engine.exchanges.binance import Binance
from dccd_tui.engine.exchanges.bybit import Bybit

SPAN = 60
T0 = 1_700_000_040_000 - 1_700_000_040_000 % 60_000
NOW = T0 + 50 * 60_000 + 30_000  # the candle at T0 + 50 min is still open


def binance_row(
    ts: int, o="100.5", h="101.25", low="99.75", c="100.0", v="3.5", qv="350.1", n=12
) -> list:
    return [ts, o, h, low, c, v, ts + 59_999, qv, n, "1.0", "100.0", "0"]


def bybit_row(ts: int, o="100.5", h="101.25", low="99.75", c="100.0", v="3.5", qv="350.1") -> list:
    return [str(ts), o, h, low, c, v, qv]


def body(exchange: str, rows: list) -> bytes:
    if exchange == "binance":
        return json.dumps(rows).encode()
    return json.dumps(
        {
            "retCode": 0,
            "retMsg": "OK",
            "result": {"category": "spot", "symbol": "BTCUSDT", "list": rows},
        }
    ).encode()


def pages(exchange: str) -> list[tuple[str, list]]:
    make = binance_row if exchange == "binance" else bybit_row
    rng = random.Random(5)
    clean = [make(T0 + i * 60_000) for i in range(52)]  # up to and past "now"
    shuffled = list(clean)
    rng.shuffle(shuffled)
    dup = clean[:10] + [make(T0 + 3 * 60_000, c="100.25")] + clean[10:20]
    out = [
        ("clean", clean),
        ("empty", []),
        ("shuffled", shuffled),
        ("duplicate, last wins", dup),
        ("unaligned", clean[:5] + [make(T0 + 5 * 60_000 + 7)] + clean[6:9]),
        ("future", clean[:5] + [make(NOW + 5 * 60_000)]),
        ("nan", clean[:3] + [make(T0 + 3 * 60_000, c="NaN")]),
        ("high < low", clean[:3] + [make(T0 + 3 * 60_000, h="90.0")]),
        ("negative volume", clean[:3] + [make(T0 + 3 * 60_000, v="-1.0")]),
        ("not a number", clean[:3] + [make(T0 + 3 * 60_000, o="abc")]),
        ("null price", clean[:3] + [make(T0 + 3 * 60_000, o=None)]),
        ("number price", clean[:3] + [make(T0 + 3 * 60_000, o=100.5)]),
        ("spaces", clean[:3] + [make(T0 + 3 * 60_000, o=" 100.5 ")]),
        ("short row", clean[:3] + [make(T0 + 3 * 60_000)[:4]]),
        ("not a row", clean[:3] + ["x"]),
    ]
    if exchange == "binance":
        bad_ts = make(T0 + 3 * 60_000)
        bad_ts[0] = True
        float_ts = make(T0 + 4 * 60_000)
        float_ts[0] = float(float_ts[0])
        out += [("bool ts", clean[:3] + [bad_ts]), ("float ts", clean[:3] + [float_ts])]
    else:
        out.append(("ts with spaces", clean[:3] + [[" " + str(T0 + 3 * 60_000)] + make(0)[1:]]))
    return out


PARSERS = {"bybit": "dccd_tui.engine.exchanges.bybit_derivs"}


def both_paths(adapter, raw: bytes, start, end, monkeypatch):
    def run():
        try:
            return adapter._frame(raw, SPAN, start, end), None
        except TransientError as exc:
            return None, str(exc)

    fast = run()
    # the module whose page parser calls fast_frame (Bybit's pages of every kind: bybit_derivs)
    module = PARSERS.get(adapter.name, type(adapter).__module__)
    with monkeypatch.context() as m:
        m.setattr(module + ".fast_frame", lambda *a, **k: None)
        slow = run()
    return fast, slow


@pytest.mark.parametrize("exchange", ["binance", "bybit"])
@pytest.mark.parametrize("window", [(None, None), (T0 + 2 * 60_000, T0 + 40 * 60_000)])
def test_fast_and_row_paths_agree(exchange, window, monkeypatch):
    adapter = (Binance if exchange == "binance" else Bybit)(clock=lambda: NOW / 1000)
    for name, rows in pages(exchange):
        (fast, fast_err), (slow, slow_err) = both_paths(
            adapter, body(exchange, rows), *window, monkeypatch
        )
        assert fast_err == slow_err, name
        if slow is not None:
            assert fast is not None and fast.equals(slow), name
            assert fast.schema == slow.schema, name


def test_clean_page_takes_the_fast_path(monkeypatch):
    calls = []
    real = _frames.fast_frame

    def spy(*args, **kwargs):
        result = real(*args, **kwargs)
        calls.append(result is not None)
        return result

    monkeypatch.setattr("dccd_tui.engine.exchanges.binance.fast_frame", spy)
    rows = [binance_row(T0 + i * 60_000) for i in range(40)]
    frame = Binance(clock=lambda: NOW / 1000)._frame(body("binance", rows), SPAN)
    assert calls == [True] and frame.height == 40
