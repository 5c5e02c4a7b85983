"""The exception tree of the engine, and how an answer from an exchange is classified.

    EngineError
     ├── ExchangeError            an exchange (or the network) said no
     │    ├── TransientError      retry with backoff: timeout, connection error, 5xx, maintenance
     │    │    └── RateLimitError pause the whole exchange for `retry_after` seconds, then retry
     │    └── PermanentError      fail the job at once: unknown symbol, bad interval, other 4xx
     ├── StoreError               the data folder cannot be used (locked, not writable, disk full)
     └── Cancelled                the user cancelled; not a failure

Messages carry the exchange's own error text so that a user can search for it.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""


class ExchangeError(EngineError):
    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class TransientError(ExchangeError):
    """Worth retrying after a pause: the same request may well succeed later."""


class RateLimitError(TransientError):
    """The exchange says we went too fast. `retry_after` is seconds (None: use a backoff)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        ban: bool = False,
        status: int | None = None,
        code: str | None = None,
    ):
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after
        self.ban = ban


class PermanentError(ExchangeError):
    """Retrying cannot help (bad symbol, bad interval, other 4xx): fail the job with this text."""


class StoreError(EngineError):
    """The store cannot be read or written (lock held, folder not writable, disk full)."""


class Cancelled(EngineError):
    """Raised inside a job when its cancel event is set, to unwind cleanly."""
