"""A guess at the pair a user meant: ``BTCUSDT`` -> ``BTC/USDT``, ``eth-usd`` -> ``ETH/USD``.

Pairs are written ``BASE/QUOTE`` in upper case (`models.parse_pair`), but users paste what their
exchange's web page shows: ``BTCUSDT``, ``btc-usdt``, ``ETH_EUR``. The config check (`validate`)
and the pair form add "did you mean BTC/USDT?" to their error with `suggest_pair`, and both
refuse a quote outside `QUOTE_ASSETS` (`quote_reason`: `SOL/US` is one cut short). A pair with no
separator is split before the first common quote asset it ends with (`split_glued`; the pair
form uses it too); no guess is better than a wrong one, so anything else gets None.

Perpetuals are written in ccxt's unified notation (`BTC/USDT:USDT`, `BTC/USD:BTC`), and
`suggest_symbol` turns the venues' own spellings into it: `BTC-USDT-SWAP` (OKX), `PF_XBTUSD` and
`PI_XBTUSD` (Kraken Futures), `BTC-PERP` (Coinbase International, settled in USDC),
`BTCUSD_PERP` (Binance COIN-M), and a glued or spot-looking `BTCUSDT` on a venue that serves
perpetuals only (`BTC/USDT:USDT` on binanceusdm, `BTC/USD:BTC` on binancecoinm).
"""

from __future__ import annotations

import re
from collections.abc import Collection

from .models import INVERSE, LINEAR, SPOT, PairError, parse_pair, parse_symbol

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
    try:
        sym = parse_symbol(pair)
    except PairError:
        return None
    base, quote = sym.base, sym.quote
    if quote in QUOTE_ASSETS:
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


# The venues' own spellings of perpetuals (docs/design/exchanges.md section 8), as
# (pattern, market): OKX `BTC-USDT-SWAP` (linear when the quote is not USD, `BTC-USD-SWAP` is
# inverse), Kraken Futures `PF_XBTUSD` (multi-collateral: linear, settled in USD; ccxt's
# `BTC/USD:USD`) and `PI_XBTUSD` (inverse), Coinbase International `BTC-PERP` (settled in USDC),
# Binance COIN-M `BTCUSD_PERP` (inverse).
_OKX_SWAP = re.compile(r"([A-Z0-9]+)-([A-Z0-9]+)-SWAP")
_KRAKEN_FUTURES = re.compile(r"(PF|PI)_([A-Z0-9]+)")
_INTX_PERP = re.compile(r"([A-Z0-9]+)-PERP")
_COINM_PERP = re.compile(r"([A-Z0-9]+)_PERP")
# Kraken spells bitcoin XBT; ccxt's unified symbols (and ours) say BTC.
_UNIFIED_ASSET = {"XBT": "BTC"}


def _asset(name: str) -> str:
    return _UNIFIED_ASSET.get(name, name)


def _venue_spelling(s: str) -> str | None:
    """The unified symbol of a venue's own perpetual spelling `s` (upper case), or None."""
    m = _OKX_SWAP.fullmatch(s)
    if m:
        base, quote = m.group(1), m.group(2)
        return f"{base}/{quote}:{base if quote == 'USD' else quote}"
    m = _KRAKEN_FUTURES.fullmatch(s)
    if m:
        glued = split_glued(m.group(2))
        if glued is None:
            return None
        base, quote = (_asset(a) for a in glued.split("/"))
        return f"{base}/{quote}:{quote if m.group(1) == 'PF' else base}"
    m = _INTX_PERP.fullmatch(s)
    if m:
        return f"{m.group(1)}/USDC:USDC"
    m = _COINM_PERP.fullmatch(s)
    if m:
        glued = split_glued(m.group(1))
        if glued is None:
            return None
        base, quote = glued.split("/")
        return f"{base}/{quote}:{base}"
    return None


def suggest_symbol(text: object, markets: Collection[str] = (SPOT,)) -> str | None:
    """The unified symbol `text` most likely means on a venue serving `markets`, or None (no
    guess, or `text` is already it): a venue's perpetual spelling (`BTC-USDT-SWAP` ->
    `BTC/USDT:USDT`), else the spot pair `suggest_pair` guesses, made the venue's perpetual when
    it serves no spot (`BTCUSDT` or `BTC/USDT` on binanceusdm -> `BTC/USDT:USDT`; on an inverse
    venue, `BTCUSD` -> `BTC/USD:BTC`)."""
    if not isinstance(text, str):
        return None
    s = text.strip().upper()
    guess = _venue_spelling(s)
    if guess is None:
        try:
            sym = parse_symbol(text)
        except PairError:
            spot = suggest_pair(text)
        else:
            spot = sym.text if sym.settle is None else None
        if spot is not None and SPOT not in markets:
            base, quote = spot.split("/")
            if LINEAR in markets:
                guess = f"{spot}:{quote}"
            elif INVERSE in markets:
                guess = f"{spot}:{base}"
        else:
            guess = spot
    if guess is None or guess == text:
        return None
    try:
        parse_symbol(guess)
    except PairError:
        return None
    return guess
