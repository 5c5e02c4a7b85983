"""``python -m dccd_tui.sandbox``: serve the fake exchanges until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from ._markets import EXCHANGES
from ._server import Sandbox
from ._settings import SandboxSettings


def _budget(text: str) -> tuple[str, float | None]:
    name, sep, value = text.partition("=")
    if not sep or name not in EXCHANGES:
        raise argparse.ArgumentTypeError(
            f"expected EXCHANGE=RPS with EXCHANGE one of {', '.join(EXCHANGES)}"
        )
    if value.lower() in ("none", "off", "inf", "unlimited"):
        return name, None
    try:
        rps = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a number of requests per second"
        ) from None
    if rps <= 0:
        raise argparse.ArgumentTypeError("a budget must be > 0 (or 'none' for no limit)")
    return name, rps


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dccd_tui.sandbox", description=__doc__)
    p.add_argument(
        "--port", type=int, default=8765, help="TCP port on 127.0.0.1 (0 = any free port)"
    )
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--latency-ms", type=float, default=0.0, help="added to every answer")
    p.add_argument(
        "--okx-page", type=int, default=300, choices=(100, 300), help="OKX history-candles max page"
    )
    p.add_argument(
        "--now-ms", type=int, default=None, help="a fixed 'now' (epoch ms) instead of the clock"
    )
    p.add_argument(
        "--budget",
        type=_budget,
        action="append",
        default=[],
        metavar="EXCHANGE=RPS",
        help=(
            "enforced requests/s for one exchange (repeatable; 'none' = unlimited); "
            "default: published limits"
        ),
    )
    p.add_argument(
        "--publish-lag-ms",
        type=int,
        default=0,
        help="a closed candle is still served as open this long (live series, docs/live.md)",
    )
    p.add_argument(
        "--revise-ms",
        type=int,
        default=0,
        help="a just-closed candle is served with provisional values this long, then revised",
    )
    p.add_argument(
        "--per-address", action="store_true", help="rate limits per client address (clusters)"
    )
    args = p.parse_args(argv)
    try:
        settings = SandboxSettings(
            seed=args.seed,
            latency=args.latency_ms / 1000.0,
            okx_page=args.okx_page,
            now_ms=args.now_ms,
            budgets=dict(args.budget) or None,
            port=args.port,
            publish_lag_ms=args.publish_lag_ms,
            revise_ms=args.revise_ms,
            per_address=args.per_address,
        )
    except ValueError as exc:  # a setting out of range: say which, no traceback
        print(f"python -m dccd_tui.sandbox: {exc}", file=sys.stderr)
        return 2
    try:
        sb = Sandbox(settings).start()
    except OSError as exc:
        print(f"cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
        return 1
    for name in EXCHANGES:
        print(f"{name:<21} {sb.base_url(name)}")
    print(f"{'archive':<21} {sb.archive_url()}  (Binance's public kline archive)")
    print("serving; Ctrl-C to stop", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        sb.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
