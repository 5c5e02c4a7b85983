"""A guess at the pair a user meant: ``BTCUSDT`` -> ``BTC/USDT``, ``eth-usd`` -> ``ETH/USD``.

Pairs are written ``BASE/QUOTE`` in upper case (`models.parse_pair`), but users paste what their
exchange's web page shows: ``BTCUSDT``, ``btc-usdt``, ``ETH_EUR``. The config check (`validate`)
and the pair form add "did you mean BTC/USDT?" to their error with `suggest_pair`, and both
refuse a quote outside `QUOTE_ASSETS` (`quote_reason`: `SOL/US` is one cut short). A pair with no
separator is split before the first common quote asset it ends with (`split_glued`; the pair
form uses it too); no guess is better than a wrong one, so anything else gets None.
"""

from __future__ import annotations

import re

from .models import PairError, parse_pair

# Most used first: a glued pair splits at the first quote that ends it, so XBTUSD is XBT/USD
# (not XB/TUSD), and FDUSD is tried before USD.
QUOTE_ASSETS: tuple[str, ...] = (
    "USDT", "USDC", "FDUSD", "USD", "EUR", "BTC", "ETH", "XBT", "BNB", "DAI", "USDE", "PYUSD",
    "EURC", "EURI", "GBP", "JPY", "TRY", "BRL", "AUD", "CAD", "CHF", "KRW", "MXN", "PLN", "ZAR",
    "UAH", "ARS", "IDR", "RUB", "COP", "CZK", "SOL", "XRP", "DOGE", "TRX", "DOT", "BUSD", "TUSD",
    "USDP",
)  # fmt: skip
"""The quote assets the five exchanges list spot pairs against (the pair form also refuses a
quote outside them, to catch one cut short while typing)."""


SHOWN_QUOTES = "USDT, USDC, USD, EUR, BTC, ETH, ..."


def quote_reason(pair: str) -> str | None:
    """Why the quote of a well-formed `pair` looks unfinished or unknown, or None: `SOL/US` is
    a quote cut short (the adapters would map it, and the exchange answer "unknown symbol")."""
    base, _, quote = pair.partition("/")
    if not quote or quote in QUOTE_ASSETS:
        return None
    longer = [q for q in QUOTE_ASSETS if q.startswith(quote)]
    if longer:
        options = " or ".join(f"{base}/{q}" for q in longer[:3])
        return f"{quote} is not a quote asset: did you mean {options}?"
    return f"{quote} is not a known quote asset ({SHOWN_QUOTES})"


def split_glued(text: str) -> str | None:
    """`BTCUSDT` -> `BTC/USDT` (split at the first quote in `QUOTE_ASSETS` that ends it), else
    None."""
    if "/" in text or not text.isalnum():
        return None
    for quote in QUOTE_ASSETS:
        if text.endswith(quote) and len(text) > len(quote):
            return f"{text[: -len(quote)]}/{quote}"
    return None


_SEPARATED = re.compile(r"([A-Z0-9]+)\s*[/\-_:. ]\s*([A-Z0-9]+)")
_RUN = re.compile(r"[A-Z0-9]+")


def suggest_pair(text: object) -> str | None:
    """The ``BASE/QUOTE`` pair `text` most likely means, or None (no guess, or `text` is one)."""
    if not isinstance(text, str):
        return None
    s = text.strip().upper()
    guess = None
    m = _SEPARATED.fullmatch(s)
    if m:
        guess = f"{m.group(1)}/{m.group(2)}"
    elif _RUN.fullmatch(s):
        guess = split_glued(s)
    if guess is None or guess == text:
        return None
    try:
        parse_pair(guess)
    except PairError:
        return None
    return guess
