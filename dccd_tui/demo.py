"""`--demo`: the whole app offline, against the in-process sandbox exchange.

A new user without internet access (or without wanting to hit real exchanges yet) gets a demo
folder with its own config.toml and data, and every exchange pointed at a local sandbox that
speaks the five APIs. The demo config has a fixed range (the 30 days before the day it was
made), so running the demo twice shows resume at work: the second run sends no candle request.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the sandbox is imported only when the demo starts
    from .sandbox import Sandbox

DEMO_PAIRS = {
    "binance": ["BTC/USDT", "ETH/USDT"],
    "bybit": ["BTC/USDT", "ETH/USDT"],
    "okx": ["BTC/USDT", "ETH/USDT"],
    "coinbase": ["BTC/USD", "ETH/USD"],
    "kraken": ["BTC/USD", "ETH/USD"],
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
    today = (today or datetime.now(timezone.utc)).replace(hour=0, minute=0, second=0,
                                                           microsecond=0)
    start = today - timedelta(days=DEMO_DAYS)
    fmt = "%Y-%m-%d %H:%M:%S"
    return {
        "settings": {"data_path": "data", "timezone": "UTC", "max_parallel": 10, "ui_hz": 4},
        "histo_jobs": [
            {"exchange": ex, "pairs": pairs, "span": "1m", "start": start.strftime(fmt),
             "end": today.strftime(fmt)}
            for ex, pairs in DEMO_PAIRS.items()
        ],
    }


@dataclass
class DemoEnv:
    folder: Path
    config_path: Path
    base_urls: dict[str, str]
    sandbox: Sandbox

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
    """Start the sandbox and make sure the demo folder has a config; return where things are."""
    from .engine import EXCHANGES
    from .sandbox import Sandbox, SandboxSettings

    folder = folder or demo_folder()
    config_path = demo_config_path(folder)
    sandbox = Sandbox(SandboxSettings(seed=7, latency=DEMO_LATENCY))
    sandbox.start()
    urls = {name: sandbox.base_url(name) for name in EXCHANGES}
    return DemoEnv(folder=folder, config_path=config_path, base_urls=urls, sandbox=sandbox)


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
