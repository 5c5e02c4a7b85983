"""A local fake of the exchanges' candle and funding APIs, for tests, benchmarks and ``--demo``.

A real HTTP/1.1 server on 127.0.0.1 (keep-alive, Content-Length on every answer) serves each
exchange under a path prefix, so an engine's base_url is ``http://127.0.0.1:PORT/<exchange>``:

- ``/binance/api/v3/klines``
- ``/bybit/v5/market/kline``
- ``/okx/api/v5/market/history-candles`` and ``/okx/api/v5/market/candles`` (latest 1,440 bars)
- ``/coinbase/products/{product_id}/candles``
- ``/kraken/0/public/Trades`` and ``/kraken/0/public/OHLC`` (latest 720 bars + the open one)
- ``/binance-archive/data/spot/{monthly,daily}/klines/...`` Binance's public kline archive
  (zips + ``.CHECKSUM``, from the same candles as the klines endpoint; see `_archive`)

Perpetual swaps (docs/design/exchanges.md section 8; the world is in `_deriv`):

- ``/binanceusdm/fapi/v1/{klines,markPriceKlines,indexPriceKlines,premiumIndexKlines}``
  (``pair`` for the index), ``/fundingRate``, ``/fundingInfo``, ``/exchangeInfo``
- ``/binancecoinm/dapi/v1/...`` the same but fundingInfo (``BTCUSD_PERP``, pair ``BTCUSD``;
  the 200-day window answered from its end)
- ``/bybit/v5/market/{kline,mark-price-kline,index-price-kline,premium-index-price-kline}``
  with ``category=linear|inverse``, ``/v5/market/funding/history``,
  ``/v5/market/instruments-info``
- ``/okx/api/v5/market/{history-candles,candles}?instId=BTC-USDT-SWAP``,
  ``/history-mark-price-candles``, ``/history-index-candles`` (``instId=BTC-USDT``),
  ``/okx/api/v5/public/funding-rate-history``, ``/okx/api/v5/public/instruments?instType=SWAP``
- ``/krakenfutures/api/charts/v1/{trade,mark,spot}/{PF_XBTUSD}/{1m..1d}``,
  ``/krakenfutures/derivatives/api/v3/historical-funding-rates``, ``.../instruments``
- ``/coinbaseinternational/api/v1/instruments/{BTC-PERP}/funding``, ``/api/v1/instruments``
- ``/binance-archive/data/futures/{um,cm}/{monthly,daily}/{klines,markPriceKlines,
  indexPriceKlines,premiumIndexKlines}/...`` and ``.../monthly/fundingRate/...`` (see `_archive`)

Truth: ``ground_truth(venue, unified_symbol, span, start, end, kind=...)`` for the candle kinds
(``candles``, ``mark``, ``index``, ``premium``), ``funding_truth(venue, unified_symbol, start,
end)``, ``perps(venue)``, ``funding_horizon_ms(venue)`` (OKX), ``gaps(..., kind=...)``.

It is written from ``docs/design/exchanges.md`` alone and imports nothing from
``dccd_tui.engine``, so that the engine and its test double cannot share one misreading of an API.
Candles and trades are deterministic functions of the seed (see `_data` for the price model and
the maintenance-gap rule), rate limits are enforced with each exchange's own counting rule (see
`_limits`), and faults can be injected per request (see `_faults`).

Usage::

    from dccd_tui.sandbox import Sandbox, SandboxSettings

    with Sandbox(SandboxSettings(seed=7, now_ms=...)) as sb:
        url = sb.base_url("binance")           # http://127.0.0.1:PORT/binance
        truth = sb.ground_truth("binance", "BTC/USDT", 60, start_ms, end_ms)
        mark = sb.ground_truth("binanceusdm", "BTC/USDT:USDT", 60, start_ms, end_ms, "mark")
        funding = sb.funding_truth("bybit", "BTC/USD:BTC", start_ms, end_ms)
        sb.faults.add("okx", "http_500", at=[3])
        sb.hold("binance", after=7)            # requests 8, 9... wait for sb.release("binance")

Standalone: ``python -m dccd_tui.sandbox --port 8765 [--seed 7] [--latency-ms 0] [--okx-page 300]
[--budget binance=40 ...] [--now-ms MS]`` prints the base URLs and serves until Ctrl-C.

Choices where docs/design/exchanges.md is silent or unverified (each is a setting where it matters):

- Fixed rate windows (Binance 60 s, Bybit 5 s, OKX 2 s) start at the first request after the
  previous window ended, not on wall-clock boundaries; limits are enforced exactly.
- Binance: limit > 1000 -> -1130; startTime > endTime -> -1023; a non-zero timeZone -> -1130.
- Bybit: a missing ``category`` serves ``linear`` (as the real API does); when [start, end]
  holds more than ``limit`` bars the newest come back (``bybit_overflow``); limit is clamped
  to 1..1000.
- OKX: limit > okx_page on history-candles is served at okx_page rows (``okx_page_error`` for
  51000 instead); 6H/12H/1D are Hong-Kong aligned (UTC+8), *utc bars UTC-aligned.
- Coinbase: ``granularity`` is required; the bucket containing ``start`` is served (it may
  precede start); the still-open bucket is served too.
- Kraken: Trades without ``since`` gives the latest ``count`` trades, an empty page echoes
  ``since`` as ``last``; OHLC up to 60-minute intervals is aggregated from the trades (a bar
  without trades is emitted with count 0 at the previous close), longer intervals come from the
  synthetic candle generator.
- Edge cases a test can ask for (settings): an exchange clock that is off
  (``clock_offset_ms``), late publication of the newest bars (``publish_delay_ms``), Bybit's
  start-only probe answered with the newest bars (``bybit_start_only``), pages capped below the
  documented size (``page_caps``); and fault kinds ``oversized``, ``redirect``, ``huge_count``.
- Only the spans in the project's scope are served: Binance 1s-1d, Bybit 1-720 and D, OKX
  1m-4H plus 6H/12H/1D (both alignments), Coinbase its six, Kraken OHLC its nine; other values
  get each API's bad-interval error.

Only the standard library is needed to serve; ``ground_truth`` returns a polars DataFrame and
imports polars when called.
"""

from ._faults import HOSTILE_TEXT, FaultPlan
from ._faults import KINDS as FAULT_KINDS
from ._markets import EXCHANGES
from ._server import Sandbox
from ._settings import SandboxSettings

__all__ = ["EXCHANGES", "FAULT_KINDS", "HOSTILE_TEXT", "FaultPlan", "Sandbox", "SandboxSettings"]
