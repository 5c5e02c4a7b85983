"""What the engine is asked to do: the jobs, the per-exchange settings and the run settings.

These are engine types: the runner, the planner and the inventory take them, and nothing here
knows where they came from. `dccd_tui.config` builds them from `config.toml` (and saves edits);
a test or a script can build them directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .archive.budget import DEFAULT_MEMORY_MB
from .models import Series

if TYPE_CHECKING:  # pragma: no cover
    from .store.root import StoreOptions

__all__ = ["ClusterSettings", "Config", "ExchangeSettings", "JobSpec", "Settings"]


@dataclass(frozen=True)
class ExchangeSettings:
    """Where an exchange's API is and the request budget shared by all its jobs."""

    base_url: str
    #: The budget of the venue's main gate, in cost units per second: requests, or with
    #: `weight_per_minute` (Binance futures) weight units (weight_per_minute / 60).
    requests_per_second: float
    # The public kline archive (Binance only): used when `archive` and a job allow it.
    archive: bool = False
    archive_url: str | None = None
    archive_parallel: int = 4
    archive_memory_mb: int = DEFAULT_MEMORY_MB  # archive work in flight, at most (MiB)
    # Jobs of this exchange running at once, at most (None: only `Settings.max_parallel`).
    max_parallel: int | None = None
    #: The budget in request weight per minute (Binance USD-M and COIN-M), or None: a budget in
    #: requests. When set, `requests_per_second` is it divided by 60.
    weight_per_minute: float | None = None
    #: Live series (live.py): seconds after a candle's close, on the venue's clock, before it
    #: is asked for; None: the venue's default (`live.LIVE_MARGINS`).
    live_margin: float | None = None


@dataclass(frozen=True)
class Settings:
    """Run settings: the data folder, parallelism, the UI's refresh rate and HTTP timeout."""

    data_path: Path
    timezone: str = "UTC"
    max_parallel: int = 4
    ui_hz: float = 4.0
    theme: str | None = None
    request_timeout: float = 20.0
    notify: bool = True  # bell + desktop notification when a run ends
    engine_idle_exit: float = 600.0  # seconds with no job and no client before the engine exits
    #: The store on object storage (``s3://bucket/prefix``), or None: the store is in
    #: `data_path`. With one, `data_path` is the local state folder keyed by its URL (what a
    #: local store keeps in ``<data>/.engine/``: socket, pid file, logs; store/root.py).
    store_url: str | None = None
    store_options: StoreOptions | None = None  # [store]: endpoint, region, allow_http

    @property
    def store_location(self) -> str | Path:
        """Where the data is: the object store's URL, or the data folder."""
        return self.store_url or self.data_path


@dataclass(frozen=True)
class ClusterSettings:
    """The Dask scheduler the engine hands its series to (docs/cluster.md): ``tcp://host:8786``
    or ``tls://host:8786``; with TLS, the certificate files of Dask's security settings (the
    CA that signed the scheduler's and workers' certificates, and this client's own)."""

    scheduler: str
    tls_ca_file: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    #: Seconds to wait for the scheduler at the engine's start.
    connect_timeout: float = 10.0


@dataclass(frozen=True)
class JobSpec:
    """One series (an exchange, a symbol, a kind and, for candles, a span) to backfill over
    [start, end); end None means "up to the last closed candle" (funding: the last hour)."""

    series: Series
    start: int
    end: int | None
    max_retries: int = 3
    retry_delay: float = 2.0
    entry: int = 0  # index of the [[histo_jobs]] entry it came from
    parts: tuple[tuple[int, int | None], ...] = ()
    """The ranges asked for when entries of one series ask for ranges that do not touch (sorted,
    disjoint; [start, end) is then their hull and the time between them is not fetched). Empty:
    the one range [start, end)."""
    archive: bool = True  # False: this job never uses the exchange's public archive
    #: Keep the series current once caught up (live.py); a live job has no `end`.
    live: bool = False

    @property
    def key(self) -> str:
        return self.series.key

    def ranges(self) -> list[tuple[int, int | None]]:
        """The ranges asked for: `parts`, or [start, end)."""
        return list(self.parts) or [(self.start, self.end)]


@dataclass
class Config:
    """A whole validated run description: settings, exchanges and jobs (plus the file's data,
    kept so that an edit can be saved back)."""

    path: Path
    settings: Settings
    exchanges: dict[str, ExchangeSettings]
    jobs: list[JobSpec]
    raw: dict[str, Any]
    duplicates: list[str] = field(default_factory=list)
    #: `[cluster]`: run the series on a Dask cluster (engine/cluster); None: on this machine.
    cluster: ClusterSettings | None = None

    def exchange(self, name: str) -> ExchangeSettings:
        return self.exchanges[name]
