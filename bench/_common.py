"""Plumbing shared by the benchmark scripts: the sandbox in its own process, configs, figures.

Each script prints one line per figure, ``figure: value (target: X) OK|MISSED``, so that a run
can be read by a person or grepped by a script.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dccd_tui.priority import lower_priority  # noqa: E402  (after the path above)

DAY_MS = 86_400_000
MIN_MS = 60_000
#: A fixed "now" for every benchmark (2026-06-01 00:00 UTC): the sandbox's data, listing dates
#: and answers are then the same on every run.
NOW_MS = 1_780_272_000_000

PAIRS = {  # pairs listed on each sandbox exchange for years (not NEW/*)
    "binance": [
        "BTC/USDT",
        "ETH/USDT",
        "LTC/USDT",
        "ADA/USDT",
        "XRP/USDT",
        "DOGE/USDT",
        "SOL/USDT",
        "ETH/BTC",
        "BTC/EUR",
    ],
    "bybit": [
        "BTC/USDT",
        "ETH/USDT",
        "XRP/USDT",
        "DOGE/USDT",
        "LTC/USDT",
        "ADA/USDT",
        "SOL/USDT",
        "ETH/BTC",
        "BTC/EUR",
    ],
    "okx": [
        "BTC/USDT",
        "ETH/USDT",
        "LTC/USDT",
        "XRP/USDT",
        "ADA/USDT",
        "DOGE/USDT",
        "SOL/USDT",
        "ETH/BTC",
        "BTC/EUR",
    ],
    "coinbase": [
        "BTC/USD",
        "ETH/USD",
        "LTC/USD",
        "XRP/USD",
        "ADA/USD",
        "DOGE/USD",
        "SOL/USD",
        "BTC/EUR",
        "ETH/BTC",
    ],
    "kraken": [
        "BTC/USD",
        "ETH/USD",
        "LTC/USD",
        "XRP/USD",
        "DOGE/USD",
        "ADA/USD",
        "SOL/USD",
        "BTC/EUR",
        "ETH/BTC",
    ],
}
NEW_PAIR = {
    "binance": "NEW/USDT",
    "bybit": "NEW/USDT",
    "okx": "NEW/USDT",
    "coinbase": "NEW/USD",
    "kraken": "NEW/USD",
}


def app_env(**extra: str) -> dict[str, str]:
    """The environment of an app started by a bench: a colour terminal, this checkout first on
    the path, no NO_COLOR/TEXTUAL_THEME from the caller's shell, and bytecode on.

    A pip install compiles the package's bytecode when it installs it; a checkout with
    PYTHONDONTWRITEBYTECODE set (as some shells and CI images do) would instead compile every
    module of dccd_tui on every start (about 0.1 s here), which no user pays. `compile_package`
    writes that bytecode once, before anything is timed."""
    env = {**os.environ, "TERM": "xterm-256color", "PYTHONPATH": str(ROOT), **extra}
    for name in ("NO_COLOR", "TEXTUAL_THEME", "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    return env


def compile_package() -> None:
    """Write dccd_tui's bytecode, as `pip install` does (see `app_env`)."""
    import compileall

    compileall.compile_dir(str(ROOT / "dccd_tui"), quiet=1)


def figure(name: str, value: str, target: str, ok: bool | None) -> bool:
    """Print one figure line; `ok` None means informational (no target)."""
    verdict = "" if ok is None else (" OK" if ok else " MISSED")
    print(f"{name}: {value} (target: {target}){verdict}", flush=True)
    return bool(ok) if ok is not None else True


def info(text: str) -> None:
    print(f"# {text}", flush=True)


def iso(ms: int) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms // 1000))


def peak_rss_mb() -> float:
    """This process's peak resident memory, from VmHWM in /proc/self/status.

    Not ru_maxrss: on Linux a child's ru_maxrss keeps the high-water mark of the memory it was
    forked from, so a child of a big parent would report the parent's peak.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of a process (default: this one), from /proc."""
    if pid is None:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class SandboxProcess:
    """`python bench/_sandbox_proc.py` as a context manager: port, stats, reset, CPU time."""

    def __init__(self, *, nice: int = 0, **settings):
        settings.setdefault("now_ms", NOW_MS)
        self.settings = settings
        self.nice = nice
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def __enter__(self) -> SandboxProcess:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "_sandbox_proc.py"), json.dumps(self.settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            # Its own session, so its niceness counts against the app and the engine: with
            # the kernel's autogroups (sched_autogroup_enabled) a nice value only ranks
            # processes within one session, and sessions share the CPU as equals.
            start_new_session=True,
            preexec_fn=(lambda: lower_priority(self.nice, batch=False)) if self.nice else None,
        )
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the sandbox process did not start (see its stderr)")
        self.port = json.loads(line)["port"]
        return self

    def __exit__(self, *exc) -> None:
        proc = self.proc
        if proc is None:
            return
        try:
            proc.stdin.write("quit\n")
            proc.stdin.flush()
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        self.proc = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def url(self, exchange: str) -> str:
        return f"http://127.0.0.1:{self.port}/{exchange}"

    def urls(self) -> dict[str, str]:
        return {name: self.url(name) for name in PAIRS}

    def _call(self, cmd: str) -> dict:
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def stats(self) -> dict:
        return self._call("stats")

    def reset(self) -> None:
        self._call("reset")

    def set_budgets(self, budgets: dict) -> None:
        """Enforce these budgets (None: no limit) from now on; counters and limits restart."""
        self._call("budgets " + json.dumps(budgets))

    def cpu(self) -> float:
        return cpu_seconds(self.pid)


def write_config(
    folder: Path,
    jobs: list[dict],
    *,
    urls: dict[str, str],
    rps: dict[str, float] | None = None,
    max_parallel: int = 8,
    extra_settings: dict | None = None,
):
    """A config.toml in `folder` whose exchanges point at the sandbox; returns the Config."""
    from dccd_tui.config import save_config

    exchanges = {}
    for name, url in urls.items():
        if name.endswith(":archive"):  # the archive host (issue 13): see below
            continue
        table: dict = {"base_url": url}
        if name == "binance" and "binance:archive" in urls:
            table["archive_url"] = urls["binance:archive"]
        if rps and name in rps:
            table["requests_per_second"] = float(rps[name])
        exchanges[name] = table
    data = {
        "settings": {"data_path": "data", "max_parallel": max_parallel, **(extra_settings or {})},
        "exchanges": exchanges,
        "histo_jobs": jobs,
    }
    folder.mkdir(parents=True, exist_ok=True)
    return save_config(folder / "config.toml", data)
