"""`--demo`: the whole app offline, against the sandbox exchange in a process of its own.

A new user without internet access (or without wanting to hit real exchanges yet) gets a demo
folder with its own config.toml and data, and every exchange pointed at a local sandbox that
speaks their APIs (five spot venues, and a perpetual with every kind on each venue that has
them). The demo config has a fixed range (the 30 days before the day it was
made), so running the demo twice shows resume at work: the second run sends no candle request.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .sandbox.process import SandboxProcess

DEMO_PAIRS = {
    "binance": ["BTC/USDT", "ETH/USDT"],
    "bybit": ["BTC/USDT", "ETH/USDT"],
    "okx": ["BTC/USDT", "ETH/USDT"],
    "coinbase": ["BTC/USD", "ETH/USD"],
    "kraken": ["BTC/USD", "ETH/USD"],
}
# Perpetuals with every kind their venue serves (issue 20): a job per venue after the spot ones,
# at 1h (a 30-day range of mark, index and premium costs OKX a few pages, not hundreds).
DEMO_PERPS: dict[str, tuple[list[str], list[str]]] = {
    "binanceusdm": (["BTC/USDT:USDT"], ["candles", "mark", "index", "premium", "funding"]),
    "binancecoinm": (["BTC/USD:BTC"], ["candles", "mark", "index", "premium", "funding"]),
    "bybit": (["ETH/USDT:USDT"], ["candles", "mark", "index", "premium", "funding"]),
    "okx": (["BTC/USDT:USDT"], ["candles", "mark", "index", "funding"]),
    "krakenfutures": (["BTC/USD:USD"], ["candles", "mark", "index", "funding"]),
    "coinbaseinternational": (["BTC/USDC:USDC"], ["funding"]),
}
DEMO_DAYS = 30
# Sandbox latency per answer: small, so that the demo shows requests in flight.
DEMO_LATENCY = 0.02


def demo_folder() -> Path:
    """`$DCCD_TUI_DEMO_DIR`, else `$XDG_DATA_HOME/dccd-tui/demo` (~/.local/share/...)."""
    env = os.environ.get("DCCD_TUI_DEMO_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "dccd-tui" / "demo"


def demo_config_data(today: datetime | None = None) -> dict:
    today = (today or datetime.now(UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=DEMO_DAYS)
    fmt = "%Y-%m-%d %H:%M:%S"
    return {
        "settings": {"data_path": "data", "timezone": "UTC", "max_parallel": 10, "ui_hz": 4},
        "histo_jobs": [
            {
                "exchange": ex,
                "pairs": pairs,
                "span": "1m",
                "start": start.strftime(fmt),
                "end": today.strftime(fmt),
            }
            for ex, pairs in DEMO_PAIRS.items()
        ]
        + demo_perp_jobs(start, today),
    }


def demo_perp_jobs(start: datetime, end: datetime) -> list[dict]:
    """Jobs for `DEMO_PERPS` over [start, end), in the config's `histo_jobs` form (a funding-only
    job gives no span)."""
    fmt = "%Y-%m-%d %H:%M:%S"
    jobs = []
    for ex, (pairs, kinds) in DEMO_PERPS.items():
        job: dict = {"exchange": ex, "pairs": pairs, "kinds": kinds}
        if kinds != ["funding"]:
            job["span"] = "1h"
        job |= {"start": start.strftime(fmt), "end": end.strftime(fmt)}
        jobs.append(job)
    return jobs


@dataclass
class DemoEnv:
    folder: Path
    config_path: Path
    base_urls: dict[str, str]
    sandbox: SandboxProcess

    def close(self) -> None:
        self.sandbox.stop()


def demo_config_path(folder: Path | None = None) -> Path:
    """The demo folder's config.toml, written (a fixed 30-day range) when it is not there."""
    from .config import save_config

    folder = folder or demo_folder()
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "config.toml"
    if not config_path.exists():
        save_config(config_path, demo_config_data())
    return config_path


def start_demo(folder: Path | None = None) -> DemoEnv:
    """Start the sandbox and make sure the demo folder has a config; return where things are.

    The sandbox runs in its own process (dccd_tui/sandbox/process.py), like a real
    exchange: its Python work never competes with the jobs for the interpreter.
    """
    folder = folder or demo_folder()
    config_path = demo_config_path(folder)
    sandbox, urls = start_sandbox()
    return DemoEnv(folder=folder, config_path=config_path, base_urls=urls, sandbox=sandbox)


def start_sandbox() -> tuple[SandboxProcess, dict[str, str]]:
    """The sandbox process and the runner's `base_urls` that point every exchange (and the
    Binance archive) at it: used by `start_demo` and by an engine started for the demo."""
    from .sandbox.process import SandboxProcess

    sandbox = SandboxProcess.start(seed=7, latency_ms=DEMO_LATENCY * 1000)
    from .config.exchanges import archive_venues

    urls = dict(sandbox.base_urls)
    archive = urls.pop("archive", None)
    if archive:
        # Every venue with an archive (the sandbox serves its files too): a venue left out
        # would send the demo's jobs to the real archive host.
        for venue in archive_venues():
            urls[f"{venue}:archive"] = archive
    return sandbox, urls


@contextmanager
def config_source(config_path: Path, demo: bool) -> Iterator[tuple[Path, DemoEnv | None]]:
    """The one place `--demo` is wired: with `demo`, start the sandbox and use the demo config
    (the sandbox stops when the block ends); else `config_path`, no sandbox. The DemoEnv gives
    the base URLs to hand to the runner."""
    if not demo:
        yield config_path, None
        return
    env = start_demo()
    try:
        yield env.config_path, env
    finally:
        env.close()
