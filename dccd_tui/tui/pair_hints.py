"""Forgiving checks for a pair being typed in the form: glued pairs and unfinished quotes.

The engine's `check_pair` (through `config.check_pair`) says whether an exchange can map a
pair at all; it accepts any upper-case BASE/QUOTE, so a pair cut short while typing, such as
`SOL/US`, would pass it. The form is where half-typed pairs happen, so it also wants the quote
to be one of the quote assets that the five exchanges list spot pairs against, and it turns
`BTCUSDT` into a "did you mean BTC/USDT?" by splitting at a known quote.
"""

from __future__ import annotations

from ..engine import QUOTE_ASSETS, split_glued

__all__ = ["QUOTE_ASSETS", "SHOWN_QUOTES", "quote_reason", "split_glued"]

SHOWN_QUOTES = "USDT, USDC, USD, EUR, BTC, ETH, ..."


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
