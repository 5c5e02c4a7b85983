"""A guess at the pair a user meant: ``BTCUSDT`` -> ``BTC/USDT``, ``eth-usd`` -> ``ETH/USD``.

Pairs are written ``BASE/QUOTE`` in upper case (`models.parse_pair`), but users paste what their
exchange's web page shows: ``BTCUSDT``, ``btc-usdt``, ``ETH_EUR``. The config check (`validate`)
and the pair form add "did you mean BTC/USDT?" to their error with `suggest_pair`. A pair with no
separator is split before the longest common quote asset it ends with; no guess is better than a
wrong one, so anything else gets None.
"""

from __future__ import annotations

import re

from .models import PairError, parse_pair

QUOTE_ASSETS = (
    "FDUSD",
    "USDT",
    "USDC",
    "BUSD",
    "TUSD",
    "USDP",
    "DAI",
    "USD",
    "EUR",
    "GBP",
    "JPY",
    "AUD",
    "CAD",
    "CHF",
    "TRY",
    "BRL",
    "BTC",
    "XBT",
    "ETH",
    "BNB",
    "SOL",
)
"""Quote assets a pair without a separator is split on, the longest matching suffix first."""

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
        for quote in sorted(QUOTE_ASSETS, key=len, reverse=True):
            if s.endswith(quote) and len(s) > len(quote):
                guess = f"{s[: -len(quote)]}/{quote}"
                break
    if guess is None or guess == text:
        return None
    try:
        parse_pair(guess)
    except PairError:
        return None
    return guess
