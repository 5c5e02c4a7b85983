"""Reads the [[histo_jobs]] entries of `config.toml` into `JobSpec`s, and merges repeats.

One entry names an exchange, a span, several pairs (unified symbols: `BTC/USDT`, `BTC/USDT:USDT`)
and the kinds to store of each (`kinds`, default `["candles"]`), so it becomes one spec per
(pair, kind); a series asked for by two entries runs once, over the union of their ranges
(`_merge_jobs`). The span applies to the candle kinds; an entry of funding alone may omit it.
`check_pair` (through `pair_problem`, the one pair check), `kind_problem` and `offered_spans`
answer the same questions for the TUI's pair form as they do here, in the same words.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..engine import (
    CANDLES,
    EXCHANGES,
    FUNDING,
    KINDS,
    JobSpec,
    PairError,
    Series,
    SpanError,
    SymbolError,
    align_down,
    align_up,
    get_exchange,
    parse_span,
    parse_symbol,
    quote_reason,
    span_label,
    suggest_symbol,
    union_ranges,
)
from .checks import ConfigError, _bounded, _check_keys, _Problems, _typed, _where, parse_date
from .exchanges import archive_venues

DEFAULT_START = "2020-01-01 00:00:00"
JOB_KEYS = (
    "exchange",
    "pairs",
    "kinds",
    "span",
    "start",
    "end",
    "max_retries",
    "retry_delay",
    "archive",
    "live",
)
DEFAULT_KINDS = (CANDLES,)


def pair_problem(exchange: str, pair: str) -> str | None:
    """Why `pair` cannot be used on `exchange` (a known exchange), or None: the one check that
    `validate` and the pair form both make, so that they refuse the same pairs in the same
    words. A glued `BTCUSDT`, a venue's own spelling (`BTC-USDT-SWAP`, `PF_XBTUSD`, `BTC-PERP`)
    and a quote cut short (`SOL/US`) get a suggestion, in ccxt's unified notation."""
    adapter = get_exchange(exchange)
    try:
        adapter.symbol(pair)
    except (PairError, SymbolError) as exc:
        hint = suggest_symbol(pair, adapter.markets)
        if not hint:
            return str(exc)
        try:
            adapter.symbol(hint)
        except (PairError, SymbolError) as refused:  # the right symbol, on another venue
            return f"{exc}; did you mean {hint}? ({refused})"
        return f"{exc}; did you mean {hint}?"
    return quote_reason(pair)


def kinds_problems(exchange: str, pairs: Sequence[str], kinds: Sequence[str]) -> list[str]:
    """One problem per market of `pairs` (those the venue accepts) for which `exchange` does not
    serve some of `kinds`: what it does not serve, for which pairs, and what it serves."""
    adapter = get_exchange(exchange)
    by_market: dict[str, list[str]] = {}
    for pair in pairs:
        try:
            adapter.symbol(pair)
        except (PairError, SymbolError):
            continue  # the pair check says why
        by_market.setdefault(parse_symbol(pair).market, []).append(pair)
    out = []
    for market, some in by_market.items():
        served = adapter.kinds(market)
        absent = [k for k in kinds if k not in served]
        if absent:
            offer = f"it serves {', '.join(served)}" if served else "it serves none"
            out.append(
                f"{exchange} does not serve {' or '.join(absent)} for {market} symbols "
                f"({', '.join(some)}); {offer}"
            )
    return out


def kind_problem(exchange: str, pair: str, kind: str) -> str | None:
    """Why `exchange` cannot give the `kind` of `pair` (a pair it accepts), or None; the words
    list what it serves for that market."""
    adapter = get_exchange(exchange)
    market = parse_symbol(pair).market
    served = adapter.kinds(market)
    if kind in served:
        return None
    offer = f"it serves {', '.join(served)}" if served else "it serves none"
    return f"{exchange} does not serve {kind} for {market} symbols such as {pair}; {offer}"


def check_pair(
    exchange: str, pair: str, span: int | None = None, kinds: Sequence[str] = ()
) -> str | None:
    """Why `pair` cannot be used on `exchange` (and `span`, and each of `kinds`), or None when it
    can. For the form."""
    if exchange not in EXCHANGES:
        return f"unknown exchange {exchange!r}"
    problem = pair_problem(exchange, pair)
    if problem is not None:
        return problem
    if span is not None and span not in get_exchange(exchange).spans:
        return f"{exchange} does not offer span {span_label(span)}"
    for kind in kinds:
        problem = kind_problem(exchange, pair, kind)
        if problem is not None:
            return problem
    return None


def offered_spans(exchange: str) -> list[str]:
    return [span_label(s) for s in sorted(get_exchange(exchange).spans)]


def _job_entry(i: int, entry: Any, path: Path, tz: str, now_ms: int) -> list[JobSpec]:
    """The specs of one [[histo_jobs]] entry (one per pair), or ConfigError with its problems."""
    where = f"[[histo_jobs]] #{i + 1}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{path.name}: {where} must be a table")
    if isinstance(entry.get("exchange"), str):
        where += f" ({entry['exchange']})"
    problems = _Problems()
    problems.check(_check_keys, entry, JOB_KEYS, path, where)
    kinds = problems.check(_job_kinds, entry, path, where, default=list(DEFAULT_KINDS))
    needs_span = any(k != FUNDING for k in kinds) or not kinds
    required = ("exchange", "pairs", "span") if needs_span else ("exchange", "pairs")
    missing = [key for key in required if key not in entry]
    for key in missing:
        problems.messages.append(f"{_where(path, where, key)}: missing (required)")
    if missing:
        raise ConfigError(problems.messages)
    exchange = problems.check(_typed, entry, "exchange", (str,), path, where, "an exchange name")
    if exchange is None:
        raise ConfigError(problems.messages)
    if exchange not in EXCHANGES:
        problems.messages.append(
            f"{_where(path, where, 'exchange')}: unknown exchange "
            f"{exchange!r} (known: {', '.join(EXCHANGES)})"
        )
        raise ConfigError(problems.messages)
    span = None
    if "span" in entry:
        span = problems.check(_job_span, entry, exchange, path, where)
    pairs = problems.check(
        _typed, entry, "pairs", (list,), path, where, 'a list of "BASE/QUOTE" strings', default=[]
    )
    if "pairs" in entry and isinstance(entry["pairs"], list) and not pairs:
        problems.messages.append(f"{_where(path, where, 'pairs')}: the list is empty")
    start_raw = entry.get("start", DEFAULT_START)
    start = problems.check(_job_date, entry, "start", start_raw, tz, path, where)
    end = None
    if "end" in entry:
        end = problems.check(_job_date, entry, "end", entry["end"], tz, path, where)
    if start is not None and start >= now_ms:
        problems.messages.append(f"{_where(path, where, 'start')}: {start_raw!s} is in the future")
    elif start is not None and end is not None and start >= end:
        problems.messages.append(
            f"{_where(path, where, 'start')}: start {start_raw!s} is not "
            f"before end {entry['end']!s}"
        )
    retries = 3
    if "max_retries" in entry:
        retries = problems.check(
            _bounded,
            entry,
            "max_retries",
            (int,),
            path,
            where,
            "a whole number",
            lambda v: 0 <= v <= 100,
            "must be 0..100",
            default=3,
        )
    delay = 2.0
    if "retry_delay" in entry:
        delay = problems.check(
            _bounded,
            entry,
            "retry_delay",
            (int, float),
            path,
            where,
            "seconds",
            lambda v: 0 <= v <= 3600,
            "must be 0..3600 seconds",
            default=2.0,
        )
    archive = True
    if "archive" in entry:
        archive = problems.check(
            _typed, entry, "archive", (bool,), path, where, "true or false", default=True
        )
        if exchange not in archive_venues():
            problems.messages.append(
                f"{_where(path, where, 'archive')}: only {', '.join(archive_venues())} have a "
                "public archive"
            )
    live = False
    if "live" in entry:
        live = problems.check(
            _typed, entry, "live", (bool,), path, where, "true or false", default=False
        )
        if live and "end" in entry:
            problems.messages.append(
                f"{_where(path, where, 'live')}: a live entry keeps its series current and has "
                f"no end (remove end = {entry['end']!s}, or live)"
            )
    for pair in pairs:
        if not isinstance(pair, str):
            problems.messages.append(f"{_where(path, where, 'pairs')}: {pair!r} is not a string")
            continue
        problem = pair_problem(exchange, pair)
        if problem is not None:  # named by the pair unless the words already name it
            named = problem if repr(pair) in problem else f"{pair!r}: {problem}"
            problems.messages.append(f"{_where(path, where, 'pairs')}: {named}")
    problems.messages.extend(
        f"{_where(path, where, 'kinds')}: {problem}"
        for problem in kinds_problems(exchange, [p for p in pairs if isinstance(p, str)], kinds)
    )
    if problems.messages:
        raise ConfigError(problems.messages)
    assert start is not None
    specs = []
    for pair in pairs:
        for kind in kinds:
            if kind == FUNDING:
                series = Series.funding(exchange, pair)
            else:
                assert span is not None
                series = Series(exchange, pair, span, kind)
            specs.append(
                JobSpec(
                    series,
                    align_down(start, series.span),
                    None if end is None else align_up(end, series.span),
                    retries,
                    delay,
                    i,
                    archive=archive,
                    live=live,
                )
            )
    return specs


def _job_kinds(entry: dict, path: Path, where: str) -> list[str]:
    """The entry's `kinds`: a non-empty list of distinct kinds (default `DEFAULT_KINDS`)."""
    if "kinds" not in entry:
        return list(DEFAULT_KINDS)
    value = _typed(entry, "kinds", (list,), path, where, f"a list of kinds ({', '.join(KINDS)})")
    if not value:
        raise ConfigError(
            f"{_where(path, where, 'kinds')}: the list is empty (give one or more of "
            f"{', '.join(KINDS)})"
        )
    kinds: list[str] = []
    for kind in value:
        if not isinstance(kind, str) or kind not in KINDS:
            raise ConfigError(
                f"{_where(path, where, 'kinds')}: {kind!r} is not a kind (one of "
                f"{', '.join(KINDS)})"
            )
        if kind in kinds:
            raise ConfigError(f"{_where(path, where, 'kinds')}: {kind!r} is listed twice")
        kinds.append(kind)
    return kinds


def _job_span(entry: dict, exchange: str, path: Path, where: str) -> int:
    try:
        span = parse_span(entry["span"])
    except SpanError as exc:
        raise ConfigError(f"{_where(path, where, 'span')}: {exc}") from None
    if span not in get_exchange(exchange).spans:
        raise ConfigError(
            f"{_where(path, where, 'span')}: {exchange} does not offer {span_label(span)} "
            f"(it offers {', '.join(offered_spans(exchange))})"
        )
    return span


def _job_date(entry: dict, key: str, value: Any, tz: str, path: Path, where: str) -> int:
    try:
        return parse_date(value, tz)
    except ValueError as exc:
        raise ConfigError(f"{_where(path, where, key)}: {exc}") from None


def _merge_jobs(specs: list[JobSpec]) -> tuple[list[JobSpec], list[str]]:
    """One job per series: a series asked for twice runs once, over the union of the ranges
    (ranges that do not touch stay apart: the time between them is not asked for)."""
    jobs: list[JobSpec] = []
    seen: dict[Series, int] = {}
    duplicates: list[str] = []
    for spec in specs:
        series = spec.series
        if series in seen:
            first = seen[series]
            prev = jobs[first]
            if prev.entry == spec.entry:
                duplicates.append(
                    f"{series} is listed twice in [[histo_jobs]] #{spec.entry + 1}; it runs once"
                )
            else:
                duplicates.append(
                    f"{series} appears in [[histo_jobs]] #{prev.entry + 1} and "
                    f"#{spec.entry + 1}; it runs once, over the union of both ranges"
                )
            ranges = union_ranges(prev.ranges() + spec.ranges())
            jobs[first] = JobSpec(
                series,
                ranges[0][0],
                ranges[-1][1],
                prev.max_retries,
                prev.retry_delay,
                prev.entry,
                tuple(ranges) if len(ranges) > 1 else (),
                prev.archive and spec.archive,
                live=prev.live or spec.live,
            )
            continue
        seen[series] = len(jobs)
        jobs.append(spec)
    return jobs, duplicates
