"""The sandbox's own market tables, written from docs/design/exchanges.md (never from the engine's).

Each exchange lists the pairs it serves as ``BASE/QUOTE`` -> symbol, with a listing time before
which the exchange has nothing. ``NEW/<quote>`` on every exchange is listed a few months before
"now" (see `new_listing_ms`), for listing-date tests; everything else has a fixed historical date.

Kraken has two names per pair: the *altname* that requests take (``XBTUSD``, which is what
`Market.symbol` holds) and the *pair name* that keys the result object (``XXBTZUSD``, held in
`Market.result_key`). Requests may use either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

DAY_MS = 86_400_000
NEW_LISTING = -1
"""Marker for the recently listed pair: its listing time depends on the sandbox's "now"."""


def _utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@dataclass(frozen=True)
class Profile:
    """How a pair's synthetic market looks: price level, decimals and activity."""

    price: float
    """Price level around which the smooth price curve moves."""
    price_dec: int
    """Decimals of every price string (and the rounding of served prices)."""
    vol_dec: int
    """Decimals of base volumes."""
    vol_per_min: float
    """Typical base volume per minute on the biggest exchange."""
    trade_size: float
    """Typical size of one trade in base units (trade counts, Kraken trades)."""


# Chosen so that every served value has at most ~14 significant digits, so that the decimal
# strings the APIs serve parse back to exactly the floats ground_truth() reports.
PROFILES: dict[str, Profile] = {
    "BTC/USD": Profile(30_000.0, 2, 8, 12.0, 0.05),
    "ETH/USD": Profile(2_000.0, 2, 8, 150.0, 0.8),
    "SOL/USD": Profile(60.0, 3, 4, 3_000.0, 15.0),
    "XRP/USD": Profile(0.5, 4, 2, 500_000.0, 900.0),
    "DOGE/USD": Profile(0.08, 5, 2, 2_000_000.0, 4_000.0),
    "ADA/USD": Profile(0.4, 4, 2, 300_000.0, 700.0),
    "LTC/USD": Profile(80.0, 2, 8, 300.0, 2.0),
    "NEW/USD": Profile(1.2, 4, 2, 20_000.0, 60.0),
    "BTC/EUR": Profile(27_000.0, 2, 8, 1.5, 0.03),
    "ETH/BTC": Profile(0.06, 6, 8, 20.0, 0.5),
}


def profile_key(pair: str) -> str:
    """USDT, USDC and USD pairs share one price curve (they trade at about the same price); a
    perpetual (``BTC/USDT:USDT``, ``BTC/USD:BTC``) shares its spot pair's curve."""
    base, quote = pair.split(":")[0].split("/")
    return f"{base}/{'USD' if quote in ('USDT', 'USDC') else quote}"


@dataclass(frozen=True)
class Market:
    pair: str
    """``BASE/QUOTE`` as the project writes it, e.g. ``BTC/USDT``."""
    symbol: str
    """What a request carries: ``BTCUSDT``, ``BTC-USDT``, ``BTC-USD``, Kraken's altname
    ``XBTUSD``."""
    listing_ms: int
    """First instant with trading (epoch ms), or NEW_LISTING."""
    result_key: str = ""
    """Kraken only: the pair name that keys ``result`` (``XXBTZUSD``)."""

    @property
    def profile(self) -> Profile:
        return PROFILES[profile_key(self.pair)]


def _market(pair: str, symbol: str, result_key: str, listed: str | int) -> Market:
    listing = listed if isinstance(listed, int) else _utc(listed)
    return Market(pair, symbol, listing, result_key)


def _table(rows: list[tuple[str, str, str | int]]) -> dict[str, Market]:
    """Rows of (pair, symbol, listing as ISO text or epoch ms)."""
    return {pair: _market(pair, symbol, symbol, listed) for pair, symbol, listed in rows}


def _kraken_table(rows: list[tuple[str, str, str, str | int]]) -> dict[str, Market]:
    """Rows of (pair, altname, result key, listing as ISO text or epoch ms)."""
    return {pair: _market(pair, alt, key, listed) for pair, alt, key, listed in rows}


MARKETS: dict[str, dict[str, Market]] = {
    "binance": _table(
        [
            ("BTC/USDT", "BTCUSDT", "2017-08-17T04:00"),
            ("ETH/USDT", "ETHUSDT", "2017-08-17T04:00"),
            ("LTC/USDT", "LTCUSDT", "2017-12-13T03:30"),
            ("ADA/USDT", "ADAUSDT", "2018-04-17T04:00"),
            ("XRP/USDT", "XRPUSDT", "2018-05-04T08:00"),
            ("DOGE/USDT", "DOGEUSDT", "2019-07-05T12:00"),
            ("SOL/USDT", "SOLUSDT", "2020-08-11T06:00"),
            ("ETH/BTC", "ETHBTC", "2017-07-14T04:00"),
            ("BTC/EUR", "BTCEUR", "2020-01-03T08:00"),
            ("NEW/USDT", "NEWUSDT", NEW_LISTING),
        ]
    ),
    "bybit": _table(
        [
            ("BTC/USDT", "BTCUSDT", "2021-07-05T12:00"),
            ("ETH/USDT", "ETHUSDT", "2021-07-05T12:00"),
            ("XRP/USDT", "XRPUSDT", "2021-07-05T12:00"),
            ("DOGE/USDT", "DOGEUSDT", "2021-07-05T12:00"),
            ("LTC/USDT", "LTCUSDT", "2021-07-08T10:00"),
            ("ADA/USDT", "ADAUSDT", "2021-07-15T10:00"),
            ("SOL/USDT", "SOLUSDT", "2021-07-15T10:00"),
            ("ETH/BTC", "ETHBTC", "2022-03-01T10:00"),
            ("BTC/EUR", "BTCEUR", "2023-03-01T10:00"),
            ("NEW/USDT", "NEWUSDT", NEW_LISTING),
        ]
    ),
    "okx": _table(
        [
            ("BTC/USDT", "BTC-USDT", "2018-01-11T08:00"),
            ("ETH/USDT", "ETH-USDT", "2018-01-11T08:00"),
            ("LTC/USDT", "LTC-USDT", "2018-01-11T08:00"),
            ("XRP/USDT", "XRP-USDT", "2018-01-11T08:00"),
            ("ADA/USDT", "ADA-USDT", "2018-06-20T08:00"),
            ("DOGE/USDT", "DOGE-USDT", "2019-12-17T08:00"),
            ("SOL/USDT", "SOL-USDT", "2020-09-15T08:00"),
            ("ETH/BTC", "ETH-BTC", "2018-01-11T08:00"),
            ("BTC/EUR", "BTC-EUR", "2023-04-20T08:00"),
            ("NEW/USDT", "NEW-USDT", NEW_LISTING),
        ]
    ),
    "coinbase": _table(
        [
            ("BTC/USD", "BTC-USD", "2015-07-20T22:00"),
            ("ETH/USD", "ETH-USD", "2016-05-18T00:00"),
            ("LTC/USD", "LTC-USD", "2016-08-17T00:00"),
            ("XRP/USD", "XRP-USD", "2019-02-25T17:00"),
            ("ADA/USD", "ADA-USD", "2021-03-18T16:00"),
            ("DOGE/USD", "DOGE-USD", "2021-06-03T16:00"),
            ("SOL/USD", "SOL-USD", "2021-06-17T16:00"),
            ("BTC/EUR", "BTC-EUR", "2015-04-23T01:00"),
            ("ETH/BTC", "ETH-BTC", "2016-05-18T00:00"),
            ("NEW/USD", "NEW-USD", NEW_LISTING),
        ]
    ),
    "kraken": _kraken_table(
        [
            ("BTC/USD", "XBTUSD", "XXBTZUSD", "2013-10-06T21:34"),
            ("ETH/USD", "ETHUSD", "XETHZUSD", "2015-08-07T12:00"),
            ("LTC/USD", "LTCUSD", "XLTCZUSD", "2013-10-25T10:00"),
            ("XRP/USD", "XRPUSD", "XXRPZUSD", "2017-05-18T10:00"),
            ("DOGE/USD", "XDGUSD", "XDGUSD", "2019-04-17T10:00"),
            ("ADA/USD", "ADAUSD", "ADAUSD", "2018-09-27T10:00"),
            ("SOL/USD", "SOLUSD", "SOLUSD", "2021-06-17T14:00"),
            ("BTC/EUR", "XBTEUR", "XXBTZEUR", "2013-09-10T10:00"),
            ("ETH/BTC", "ETHXBT", "XETHXXBT", "2015-08-07T12:00"),
            ("NEW/USD", "NEWUSD", "NEWUSD", NEW_LISTING),
        ]
    ),
}

SPOT_EXCHANGES: tuple[str, ...] = tuple(MARKETS)
"""The venues with spot markets (their perpetuals, Bybit's and OKX's, are in `_deriv`)."""
DERIV_VENUES: tuple[str, ...] = (
    "binanceusdm",
    "binancecoinm",
    "krakenfutures",
    "coinbaseinternational",
)
"""The derivatives-only venues, each on a host (a path prefix) of its own."""
EXCHANGES: tuple[str, ...] = SPOT_EXCHANGES + DERIV_VENUES
"""Every venue the sandbox serves, one path prefix each."""

NEW_EPOCH_MS = 30 * DAY_MS


def new_listing_ms(now_ms: int) -> int:
    """Listing time of ``NEW/<quote>``: 90-120 days before now, at 10:30 UTC.

    Floored to a 30-day grid so that two sandboxes started minutes apart (or a sandbox running
    for hours) agree on it.
    """
    return (now_ms // NEW_EPOCH_MS) * NEW_EPOCH_MS - 90 * DAY_MS + 10 * 3_600_000 + 30 * 60_000
