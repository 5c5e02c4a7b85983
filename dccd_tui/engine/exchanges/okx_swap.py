"""OKX perpetual swaps (``instType=SWAP``): symbols, kinds, endpoints, funding and its horizon.

Why it exists: OKX serves spot and perpetuals from one host and one adapter (`okx.Okx`), but the
swap side has its own symbols, endpoints, page caps, row shapes and a funding history that only
reaches three months back. Those facts live here, pure, so that `okx.py` stays the spot adapter
it was plus a dispatch on the symbol. API facts relied on (docs/design/exchanges.md §3 and §8,
docs/exchanges-derivatives.md):

- Unified ``BTC/USDT:USDT`` (linear) is ``BTC-USDT-SWAP``; ``BTC/USD:BTC`` (inverse) is
  ``BTC-USD-SWAP``. OKX's inverse swaps are quoted in USD and its USD swaps are inverse, so
  ``BTC/USDT:BTC`` and ``BTC/USD:USD`` are refused (they would name the other contract).
- Kinds: ``candles`` from ``/api/v5/market/history-candles?instId=BTC-USDT-SWAP`` (rows
  ``[ts, o, h, l, c, vol (contracts), volCcy (base), volCcyQuote (quote), confirm]``: the
  volume stored is ``volCcy``, never the contract count); ``mark`` from
  ``/api/v5/market/history-mark-price-candles`` (instId the swap); ``index`` from
  ``/api/v5/market/history-index-candles`` with the index as instId (``BTC-USDT``,
  ``BTC-USD``). Mark and index rows are ``[ts, o, h, l, c, confirm]``, page cap **100**
  (third-party constants; 300 is never asked of them). All newest first, strings, ``after`` and
  ``before`` exclusive, bars UTC-aligned (``6Hutc`` ... as for spot). OKX serves no premium
  candles.
- Funding: ``/api/v5/public/funding-rate-history?instId=&after=&limit=100``: newest first,
  ``after`` = "earlier than" (exclusive), rows ``{fundingRate, realizedRate, fundingTime,
  method, ...}``; the rate stored is ``fundingRate`` (a fraction). No interval in the rows: it
  is inferred from the spacing of events (metadata only). Rate limit 10 requests / 2 s per IP
  and instrument, mark/index history 10 / 2 s: such a request costs 2 units of the venue's
  gate (8/s), i.e. 4 requests per second.
- Horizon: OKX serves funding for the last three months only; before that an answer is empty.
  `funding_horizon_ms` answers ``now - 88 days`` rounded up to the hour: three months are at
  least 89 days (Feb..Apr), so two days' margin inside them. A later horizon loses at most two
  days that OKX might still serve; an earlier one would record an empty answer before OKX's real
  horizon as "known empty", which is false. Conservative means: never claim emptiness.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import TransientError
from ..models import CANDLES, FUNDING, INVERSE, LINEAR, SPOT, Symbol
from ._common import decode_json, excerpt, malformed_row
from ._frames import to_float, to_int
from ._funding import HOUR_MS, Event, check_event
from .base import SymbolError

SWAP_SUFFIX = "-SWAP"
CANDLES_PATH = "/api/v5/market/history-candles"
MARK_PATH = "/api/v5/market/history-mark-price-candles"
INDEX_PATH = "/api/v5/market/history-index-candles"
FUNDING_PATH = "/api/v5/public/funding-rate-history"
INSTRUMENTS_PATH = "/api/v5/public/instruments"
#: The whole swap list: the same answer for every job of the venue (`Okx.shared_answer_seconds`).
SWAP_LIST = {"instType": "SWAP"}
#: Page cap of mark and index history (and of funding history).
PRICE_CAP = 100
FUNDING_CAP = 100
#: What OKX serves of each swap kind.
SWAP_KINDS: tuple[str, ...] = (CANDLES, "mark", "index", FUNDING)
#: Paths whose published limit is 10 requests per 2 s: they cost 2 units of the 8/s gate.
HALF_RATE_PATHS = frozenset({MARK_PATH, INDEX_PATH, FUNDING_PATH})
DAY_MS = 86_400_000
#: How far back OKX serves funding, with the margin explained in the docstring.
HORIZON_MS = 88 * DAY_MS


def swap_inst_id(name: str, sym: Symbol) -> str:
    """``BTC/USDT:USDT`` -> ``BTC-USDT-SWAP``; ``BTC/USD:BTC`` -> ``BTC-USD-SWAP``."""
    if sym.market not in (LINEAR, INVERSE):
        raise SymbolError(f"{sym.text!r} is not a perpetual symbol")
    if sym.base == sym.quote:
        raise SymbolError(f"{sym.text!r} has the same asset on both sides")
    # OKX's USD swaps are the inverse ones and its inverse swaps are quoted in USD: anything
    # else would name the other contract under the same instId.
    if sym.market == INVERSE and sym.quote != "USD":
        raise SymbolError(
            f"{sym.text!r} is not served: OKX inverse swaps are quoted in USD (e.g. {sym.base}/USD:"
            f"{sym.base})"
        )
    if sym.market == LINEAR and sym.quote == "USD":
        raise SymbolError(
            f"{sym.text!r} is not served: OKX's USD swaps are inverse ({sym.base}/USD:{sym.base}); "
            f"linear swaps settle in USDT or USDC (e.g. {sym.base}/USDT:USDT)"
        )
    return f"{sym.base}-{sym.quote}{SWAP_SUFFIX}"


def is_swap(inst_id: str) -> bool:
    return inst_id.endswith(SWAP_SUFFIX)


def market_of(inst_id: str) -> str:
    """The market of an instrument id: a swap quoted in USD is inverse (``BTC-USD-SWAP``, settled
    in BTC), any other swap linear, the rest spot."""
    if not is_swap(inst_id):
        return SPOT
    return INVERSE if inst_id.split("-")[1] == "USD" else LINEAR


def index_inst_id(inst_id: str) -> str:
    """The index a swap follows: ``BTC-USDT-SWAP`` -> ``BTC-USDT``."""
    return inst_id[: -len(SWAP_SUFFIX)] if is_swap(inst_id) else inst_id


def kind_path(kind: str) -> str:
    if kind == "mark":
        return MARK_PATH
    if kind == "index":
        return INDEX_PATH
    return CANDLES_PATH


def funding_horizon_ms(now: int) -> int:
    """``now - 88 days``, rounded up to the hour (see the module docstring)."""
    t = now - HORIZON_MS
    return -(-t // HOUR_MS) * HOUR_MS


def request_cost(path: str, params: Mapping[str, str]) -> tuple[str, float]:
    return ("", 2.0) if path in HALF_RATE_PATHS else ("", 1.0)


def funding_page(name: str, body: bytes, classify: Any) -> list[tuple[Event, object]]:
    """Events of one funding-rate-history page (body order), each with its raw row.

    `classify(payload, body)` raises the classified error of an error body."""
    payload = decode_json(name, body)
    if not isinstance(payload, dict):
        raise TransientError(f"{name}: malformed body (not an object): {excerpt(body)}")
    classify(payload, body)
    rows = payload.get("data")
    if not isinstance(rows, list):
        raise TransientError(f"{name}: malformed body (no data list): {excerpt(body)}")
    out: list[tuple[Event, object]] = []
    for raw in rows:
        if not isinstance(raw, dict):
            raise malformed_row(name, raw)
        try:
            event: Event = (to_int(raw["fundingTime"]), to_float(raw["fundingRate"]), None, None)
        except (KeyError, TypeError, ValueError, OverflowError):
            raise malformed_row(name, raw) from None
        check_event(name, event, raw)
        out.append((event, raw))
    return out


def swap_instruments(name: str, body: bytes, classify: Any) -> dict[str, dict]:
    """``/api/v5/public/instruments?instType=SWAP`` -> its rows by ``instId``."""
    payload = decode_json(name, body)
    if not isinstance(payload, dict):
        raise TransientError(f"{name}: malformed body (not an object): {excerpt(body)}")
    classify(payload, body)
    rows = payload.get("data")
    if not isinstance(rows, list):
        raise TransientError(f"{name}: malformed body (no data list): {excerpt(body)}")
    return {
        row["instId"]: row
        for row in rows
        if isinstance(row, dict) and isinstance(row.get("instId"), str)
    }


def ms_field(name: str, row: dict, field: str) -> int | None:
    """A time field of an instruments row (``listTime``, ``expTime``): ms, None when empty."""
    value = row.get(field)
    if value in (None, "", "0", 0):
        return None
    try:
        return to_int(value)
    except (TypeError, ValueError, OverflowError):
        raise malformed_row(name, row) from None
