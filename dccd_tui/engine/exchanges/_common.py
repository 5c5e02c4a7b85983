"""Plumbing shared by the five adapters: JSON decoding, error text, headers and the clock.

Why a separate module: every adapter must turn a broken body into the same TransientError with a
short excerpt, quote the exchange's own error text in the same way (as plain data, truncated,
without control characters), read ``Retry-After`` the same way, and drop still-open candles
against the same injectable clock. None of this imports polars, so importing an adapter stays
cheap; the frame code lives in `_frames`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

from ..errors import PermanentError, RateLimitError, TransientError
from ..fmt import MESSAGE_CHARS, clean_text  # noqa: F401  (re-exported to the adapters)
from ..models import SPAN_LABELS
from .base import Exchange, SymbolError

#: How much of a body or of an exchange message goes into an error message.
EXCERPT_CHARS = 200


def excerpt(body: bytes | str, limit: int = EXCERPT_CHARS) -> str:
    """The first `limit` characters of a body, decoded leniently and cleaned."""
    if isinstance(body, bytes):
        body = body[: limit * 4].decode("utf-8", errors="replace")
    return clean_text(body[: limit + 1], limit) or "<empty body>"


def decode_json(who: str, body: bytes) -> Any:
    """Parse a body as JSON or raise TransientError quoting its start (HTML page, truncation)."""
    try:
        return json.loads(body)
    except (ValueError, TypeError, RecursionError):
        raise TransientError(f"{who}: malformed body (not JSON): {excerpt(body)}") from None


def try_json(body: bytes) -> Any:
    """Parse a body as JSON, or return None (error pages need not be JSON)."""
    try:
        return json.loads(body)
    except (ValueError, TypeError, RecursionError):
        return None


def malformed_row(who: str, raw: object) -> TransientError:
    try:
        text = json.dumps(raw)
    except (TypeError, ValueError):
        text = str(raw)
    return TransientError(f"{who}: malformed row in the answer: {clean_text(text, EXCERPT_CHARS)}")


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """Case-insensitive header lookup that works on httpx.Headers and on plain dicts."""
    if not headers:
        return None
    value = headers.get(name)
    if value is not None:
        return value
    lower = name.lower()
    for key, val in headers.items():
        if key.lower() == lower:
            return val
    return None


def retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), else None."""
    value = header(headers, "Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        secs = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:  # "-0000": the date is UTC
            when = when.replace(tzinfo=UTC)
        secs = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(secs):
        return None
    return max(0.0, secs)


def code_str(code: object) -> str | None:
    """An exchange error code as the string stored on ExchangeError.code."""
    return None if code is None else str(code)


def http_part(status: int | None) -> str:
    return "" if status is None else f"HTTP {status} "


def describe(who: str, status: int | None, code: object, text: str) -> str:
    """``binance: HTTP 400 code -1121: Invalid symbol.`` (parts that are unknown are left out)."""
    head = f"{who}: {http_part(status)}"
    if code is not None and code != "":
        head += f"code {code}"
    head = head.rstrip()
    text = clean_text(text)
    return f"{head}: {text}" if text else head


def classify_status(
    status: int | None, message: str, headers: Mapping[str, str] | None, *, now: float | None = None
) -> None:
    """Classify an HTTP status that the exchange-specific rules left alone.

    429 is a rate limit, 5xx (and 408) transient, other 4xx permanent; anything else passes.
    """
    if status is None:
        return
    if status == 429:
        raise RateLimitError(message, retry_after=retry_after(headers, now), status=status)
    if status >= 500 or status == 408:
        raise TransientError(message, status=status)
    if status >= 400:
        raise PermanentError(message, status=status)


def offered(intervals: Mapping[int, str]) -> frozenset[int]:
    """The spans of an interval table that the store knows (models.SPAN_LABELS)."""
    return frozenset(intervals) & frozenset(SPAN_LABELS)


class Adapter(Exchange):
    """Common base of the five adapters: a clock (injectable for tests) and window checks."""

    #: The exchange's own name for each span it offers (seconds -> interval/bar/granularity).
    #: Subclasses set ``spans = offered(intervals)``.
    intervals: Mapping[int, str] = {}

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        """`clock` returns epoch seconds (default `time.time`); tests pass a fixed one."""
        self._clock = clock or time.time

    def __repr__(self) -> str:
        return f"<{type(self).__name__} exchange adapter>"

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def interval(self, span: int) -> str:
        """The exchange's name for `span`, or PermanentError (the job cannot run)."""
        if span not in self.spans:
            label = SPAN_LABELS.get(span, f"{span}s")
            names = ", ".join(SPAN_LABELS[s] for s in sorted(self.spans))
            raise PermanentError(f"{self.name}: span {label} is not offered (offered: {names})")
        return self.intervals.get(span, str(span))

    def check_window(self, span: int, start: int, end: int) -> int:
        """Validate a window and return how many candles it holds (a programming error raises)."""
        self.interval(span)
        span_ms = span * 1000
        if start % span_ms or end % span_ms:
            raise ValueError(f"{self.name}: window [{start}, {end}) is not aligned to {span}s")
        if end < start:
            raise ValueError(f"{self.name}: window [{start}, {end}) ends before it starts")
        if end - start > self.window_ms(span):
            raise ValueError(
                f"{self.name}: window [{start}, {end}) is longer than {self.window_ms(span)} ms"
            )
        return (end - start) // span_ms

    def raise_error_words(
        self,
        status: int | None,
        words: list[str],
        body: bytes,
        headers: Mapping[str, str],
        rate_words: tuple[str, ...],
        transient_words: tuple[str, ...],
    ) -> None:
        """Raise the classified error of an answer whose body names its errors in words
        (Kraken's ``"EAPI:Rate limit exceeded"``, Kraken Futures' ``"apiLimitExceeded"``): a
        word starting with one of `rate_words` or HTTP 429 is a rate limit, one of
        `transient_words` or a 5xx is transient, any other word permanent. No words: the status
        decides (`classify_status`), and a data answer returns."""
        if not words:
            if status is not None and status >= 300:
                classify_status(
                    status,
                    describe(self.name, status, None, excerpt(body)),
                    headers,
                    now=self._clock(),
                )
            return
        message = describe(self.name, status, None, "; ".join(words))
        code = clean_text(words[0], 100)
        if status == 429 or any(w.startswith(rate_words) for w in words):
            raise RateLimitError(
                message, retry_after=retry_after(headers, self._clock()), status=status, code=code
            )
        if any(w.startswith(transient_words) for w in words) or (
            status is not None and status >= 500
        ):
            raise TransientError(message, status=status, code=code)
        raise PermanentError(message, status=status, code=code)

    def check_symbol(self, base: str, quote: str, symbol: str, max_len: int) -> str:
        if base == quote:
            raise SymbolError(f"{self.name}: {base}/{quote} has the same asset on both sides")
        if len(symbol) > max_len:
            raise SymbolError(f"{self.name}: symbol {symbol} is longer than {max_len} characters")
        return symbol


def listing_seed(listed: int | None, span: int, start: int, end: int) -> int | None:
    """The open of the bar that holds a contract's listing time (Bybit ``launchTime``, OKX
    ``listTime``) when it lies inside ``(start, end)``: the venue serves nothing of the contract
    before it, so the listing probe can answer it without a candle request. None: no listing
    time, or one outside the range (the probe then asks as it does without one)."""
    if listed is None:
        return None
    span_ms = span * 1000
    seed = listed - listed % span_ms
    return seed if start < seed < end else None
