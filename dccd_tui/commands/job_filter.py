"""The job filters `backfill`, `log` and `wait` share: `--exchange`, `--pairs`, `--span`, `--kind`.

One function, so that the three commands pick the same jobs out of one command line. `--kind`
(`kinds`) is shared with `inventory` too, which filters stored series the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..engine import Config, JobSpec


def kinds(text: str | None) -> set[str] | None:
    """The kinds a `--kind` value names (comma separated: ``mark,index``), None for all;
    ValueError naming a word that is not a kind."""
    from ..engine import KindError, parse_kind

    if not text:
        return None
    try:
        return {parse_kind(word) for word in text.split(",") if word.strip()} or None
    except KindError as exc:
        raise ValueError(f"--kind: {exc}") from None


def select_jobs(
    config: Config,
    exchange: str | None,
    pairs: str | None,
    span: str | None,
    kind: str | None = None,
) -> list[JobSpec]:
    """The config's jobs that match; ValueError (naming the filters) when none does. A funding
    job has no span: `--span` never picks it."""
    from ..engine import SpanError, parse_span

    jobs = config.jobs
    if exchange:
        jobs = [j for j in jobs if j.series.exchange == exchange.strip().lower()]
    if pairs:
        wanted = {p.strip().upper() for p in pairs.split(",") if p.strip()}
        jobs = [j for j in jobs if j.series.pair in wanted]
    if span:
        try:
            seconds = parse_span(span)
        except SpanError as exc:
            raise ValueError(f"--span: {exc}") from None
        jobs = [j for j in jobs if j.series.span == seconds and not j.series.is_funding]
    wanted_kinds = kinds(kind)
    if wanted_kinds is not None:
        jobs = [j for j in jobs if j.series.kind in wanted_kinds]
    if not jobs:
        what = " ".join(
            f"--{k} {v}"
            for k, v in (("exchange", exchange), ("pairs", pairs), ("span", span), ("kind", kind))
            if v
        )
        raise ValueError(f"no job in {config.path.name} matches {what}")
    return jobs
