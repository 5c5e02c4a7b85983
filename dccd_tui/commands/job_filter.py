"""The job filters `backfill`, `log` and `wait` share: `--exchange`, `--pairs`, `--span`.

One function, so that the three commands pick the same jobs out of one command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..engine import Config, JobSpec


def select_jobs(
    config: Config, exchange: str | None, pairs: str | None, span: str | None
) -> list[JobSpec]:
    """The config's jobs that match; ValueError (naming the filters) when none does."""
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
        jobs = [j for j in jobs if j.series.span == seconds]
    if not jobs:
        what = " ".join(
            f"--{k} {v}" for k, v in (("exchange", exchange), ("pairs", pairs), ("span", span)) if v
        )
        raise ValueError(f"no job in {config.path.name} matches {what}")
    return jobs
