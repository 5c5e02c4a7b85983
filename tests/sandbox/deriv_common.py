"""What the sandbox's derivatives tests share: the pinned now, a fake clock, request helpers and
paging loops written from docs/design/exchanges.md section 8 (the tests' own reading of each API,
never the engine's adapters)."""

from __future__ import annotations

from datetime import datetime

import httpx

from dccd_tui.sandbox import Sandbox, SandboxSettings

NOW = 1_795_178_096_789  # 2026-11-20 12:34:56.789 UTC: mid-bar for every span
MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000
UNLIMITED = {
    name: None
    for name in (
        "binance",
        "bybit",
        "okx",
        "coinbase",
        "kraken",
        "binanceusdm",
        "binancecoinm",
        "krakenfutures",
        "coinbaseinternational",
    )
}


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


def box(**kw) -> Sandbox:
    kw.setdefault("budgets", UNLIMITED)
    return Sandbox(SandboxSettings(seed=7, now_ms=NOW, **kw))


def get(client: httpx.Client, sb: Sandbox, venue: str, path: str, **params) -> httpx.Response:
    return client.get(sb.base_url(venue) + path, params=params)


def iso_ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def rows_of(df) -> list[tuple]:
    return [tuple(r) for r in df.iter_rows()]
