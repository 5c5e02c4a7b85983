"""Fault injection: a plan of rules saying which answers of which exchange go wrong, and how.

``plan.add(exchange, kind, rate=0.0, at=None, count=None)`` adds a rule. It fires on the 1-based
request numbers ``at`` of that exchange (the same numbering as ``Sandbox.requests(exchange)``,
restarted by ``reset_counters``), or else on each request with probability ``rate``, decided by a
hash of (seed, rule index, exchange, request number): the same requests fault on every run
whatever the thread timing. ``count`` caps how many times the rule fires. ``exchange="*"`` means
every exchange (``at`` then counts in each exchange's own numbering).

Kinds (every kind replaces or alters the normal answer of one request):

=================  ===========================================================================
latency_spike      sleep ``spike_seconds`` (2 s) before answering normally
stall              send the headers and part of the body, then hang until the server stops (or
                   ``stall_seconds``, 60 s), then close
reset              close the connection with no answer (TCP RST: SO_LINGER 0)
http_500           HTTP 500 with the exchange's internal-error body
rate_limit         the exchange's own rate-limit answer, with ``Retry-After: 1`` (limiter state
                   is untouched: no lockout or ban follows)
maintenance        Binance 503 -1001, Bybit 200 retCode 10016, OKX 503 50001,
                   Coinbase 503 {"message": "...maintenance..."}, Kraken 200 EService:Unavailable
malformed_json     HTTP 200, JSON content type, a body that is cut mid-array (valid length)
html_200           HTTP 200 with an HTML error page (text/html)
truncated          Content-Length of the full answer, half the body sent, then the connection closes
redirect           HTTP 302 with an empty body and ``Location: redirect_to`` (setting)
oversized          the normal answer padded with blanks to ``oversized_bytes`` (4 MiB): valid
                   JSON, but bigger than a client may want to hold (combines with data faults)
duplicate_rows     some rows of the page appear twice
out_of_order       the rows of the page are shuffled (never left in order when there are 2+ rows)
outside_window     rows just outside the requested window are added (before / after it)
future_rows        rows whose time is after "now" are added
hostile_error      a permanent error answer (bad parameter) whose message is HOSTILE_TEXT: Rich
                   markup and terminal escape sequences, to test that clients show it literally
bad_ohlc           one row is broken: high < low, or negative volume, or a "NaN" string
                   (Coinbase, whose values are JSON numbers, gets only the first two)
huge_count         Binance only (the one candle API with a trade count): one row's trade count
                   becomes 10**30, far outside any 64-bit integer
=================  ===========================================================================

Data faults (the last six) only alter the served page; ``ground_truth`` never changes. They
fire only when they can apply (e.g. ``out_of_order`` needs two rows; a page that is an error
answer takes no data fault); ``latency_spike`` combines with any other kind; of the other
answer-changing kinds (stall ... redirect), the first matching rule wins.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from ._data import key, mix, unit
from ._markets import EXCHANGES

PRE_KINDS = frozenset({"latency_spike"})
POST_KINDS = frozenset({"oversized"})  # alters the finished answer; combines with data faults
ANSWER_KINDS = frozenset(
    {
        "stall",
        "reset",
        "http_500",
        "rate_limit",
        "maintenance",
        "malformed_json",
        "html_200",
        "truncated",
        "hostile_error",
        "redirect",
    }
)

# Markup that would crash a Rich renderer ("[/]"), a link, and escape sequences that would retitle
# the terminal window (OSC 2), paint it red (SGR) and clear it (ED) if written raw.
HOSTILE_TEXT = (
    "bad [/] [link=https://evil.example]click[/link] "
    "\x1b]2;PWNED\x07 \x1b[31mRED\x1b[0m \x1b[2J end"
)
DATA_KINDS = frozenset(
    {"duplicate_rows", "out_of_order", "outside_window", "future_rows", "bad_ohlc", "huge_count"}
)
KINDS = PRE_KINDS | POST_KINDS | ANSWER_KINDS | DATA_KINDS


@dataclass
class FaultRule:
    exchange: str
    kind: str
    rate: float = 0.0
    at: frozenset[int] | None = None
    count: int | None = None
    fired: int = 0
    key: int = 0


@dataclass
class Decision:
    """The faults that apply to one request."""

    spike: bool = False
    oversized: bool = False
    answer: str | None = None
    data: list[FaultRule] = field(default_factory=list)


class FaultPlan:
    """The set of fault rules of one sandbox (thread-safe)."""

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._injected: Counter[tuple[str, str]] = Counter()

    def add(
        self,
        exchange: str,
        kind: str,
        rate: float = 0.0,
        at: int | Iterable[int] | None = None,
        count: int | None = None,
    ) -> FaultRule:
        """Inject ``kind`` into ``exchange``'s answers (see the module docstring)."""
        if exchange != "*" and exchange not in EXCHANGES:
            raise ValueError(f"unknown exchange {exchange!r}; one of {', '.join(EXCHANGES)} or '*'")
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(sorted(KINDS))}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate {rate!r} is not a probability")
        at_set = None if at is None else frozenset([at] if isinstance(at, int) else at)
        if at_set is not None and any(n < 1 for n in at_set):
            raise ValueError("request numbers in `at` are 1-based")
        with self._lock:
            rule = FaultRule(
                exchange, kind, rate, at_set, count, key=key(self._seed, "fault", len(self._rules))
            )
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule (the injected counts stay)."""
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def injected(self, exchange: str | None = None, kind: str | None = None) -> int:
        """How many faults were injected (filtered by exchange and/or kind)."""
        with self._lock:
            return sum(
                n
                for (ex, k), n in self._injected.items()
                if (exchange is None or ex == exchange) and (kind is None or k == kind)
            )

    def reset_counts(self) -> None:
        with self._lock:
            self._injected.clear()

    # -- used by the server -----------------------------------------------------------------
    def decide(self, exchange: str, req_no: int) -> Decision:
        d = Decision()
        with self._lock:
            if not self._rules:
                return d
            ex_key = key(exchange)
            for rule in self._rules:
                if rule.exchange not in ("*", exchange):
                    continue
                if rule.count is not None and rule.fired >= rule.count:
                    continue
                if rule.at is not None:
                    hit = req_no in rule.at
                else:
                    hit = rule.rate > 0 and unit(mix(rule.key ^ ex_key ^ req_no)) < rule.rate
                if not hit:
                    continue
                if rule.kind in PRE_KINDS:
                    if d.spike:
                        continue
                    d.spike = True
                elif rule.kind in POST_KINDS:
                    if d.oversized:
                        continue
                    d.oversized = True
                elif rule.kind in ANSWER_KINDS:
                    if d.answer is not None:
                        continue
                    d.answer = rule.kind
                else:
                    if any(r.kind == rule.kind for r in d.data):
                        continue
                    d.data.append(rule)
                    continue  # counted when it applies (see `applied`)
                rule.fired += 1
                self._injected[(exchange, rule.kind)] += 1
        return d

    def applied(self, exchange: str, rule: FaultRule) -> bool:
        """Count a data fault that is about to apply; False if its `count` is used up."""
        with self._lock:
            if rule.count is not None and rule.fired >= rule.count:
                return False
            rule.fired += 1
            self._injected[(exchange, rule.kind)] += 1
            return True
