"""Forgiving checks for a pair being typed in the form: glued pairs and unfinished quotes.

The engine's `check_pair` (through `config.check_pair`) says whether an exchange can map a
pair at all; it accepts any upper-case BASE/QUOTE, so a pair cut short while typing, such as
`SOL/US`, would pass it. The form is where half-typed pairs happen, so it also wants the quote
to be one of the quote assets that the five exchanges list spot pairs against, and it turns
`BTCUSDT` into a "did you mean BTC/USDT?" by splitting at a known quote.
"""

from __future__ import annotations

# Most used first: a glued pair splits at the first quote that ends it, so XBTUSD is XBT/USD
# (not XB/TUSD), and FDUSD is tried before USD.
QUOTE_ASSETS: tuple[str, ...] = (
    "USDT",
    "USDC",
    "FDUSD",
    "USD",
    "EUR",
    "BTC",
    "ETH",
    "XBT",
    "BNB",
    "DAI",
    "USDE",
    "PYUSD",
    "EURC",
    "EURI",
    "GBP",
    "JPY",
    "TRY",
    "BRL",
    "AUD",
    "CAD",
    "CHF",
    "KRW",
    "MXN",
    "PLN",
    "ZAR",
    "UAH",
    "ARS",
    "IDR",
    "RUB",
    "COP",
    "CZK",
    "SOL",
    "XRP",
    "DOGE",
    "TRX",
    "DOT",
    "BUSD",
    "TUSD",
)
SHOWN_QUOTES = "USDT, USDC, USD, EUR, BTC, ETH, ..."


def split_glued(text: str) -> str | None:
    """`BTCUSDT` -> `BTC/USDT` (split at the longest known quote suffix), else None."""
    if "/" in text or not text.isalnum():
        return None
    for quote in QUOTE_ASSETS:
        if text.endswith(quote) and len(text) > len(quote):
            return f"{text[: -len(quote)]}/{quote}"
    return None


def quote_reason(pair: str) -> str | None:
    """Why the quote of a well-formed `pair` looks unfinished or unknown, or None."""
    base, _, quote = pair.partition("/")
    if not quote or quote in QUOTE_ASSETS:
        return None
    longer = [q for q in QUOTE_ASSETS if q.startswith(quote)]
    if longer:
        options = " or ".join(f"{base}/{q}" for q in longer[:3])
        return f"{quote} is not a quote asset: did you mean {options}?"
    return f"{quote} is not a known quote asset ({SHOWN_QUOTES})"
