"""The sandbox exchange in its own process, for the benchmarks (not a benchmark itself).

``python bench/_sandbox_proc.py '<json of SandboxSettings fields>'`` starts a `Sandbox`, prints
``{"port": N, "pid": P}`` on one line, then answers one JSON line per command read from stdin:

    stats   -> {"requests": {exchange: n}, "rate_limited": {exchange: n}, "archive": {...},
                "weight": {binance venue: weight used since the last reset},
                "by_address": {exchange: {client address: n}}, "limited_by_address": {...}}
    reset   -> zero the counters and forget every rate-limit window (a fresh phase)
    budgets {"binance": 40, ...}  -> enforce these budgets from now on (and reset as above)
    archive_prebuild {"symbol": "BTCUSDT", "interval": "1m", "periods": [["monthly", "2024-01"]]}
            -> build those archive files now (issue 13; a real archive serves static files);
               futures files with "market" ("um", "cm") and "dataset" ("markPriceKlines"...)
    archive_fault {"kind": "zip_bomb", "period": "2024-01"}
            -> serve that archive file with that fault from now on (sandbox/_archive.py)
    quit    -> stop (so does end of input)

A separate process keeps the fake exchange's Python work (generating and formatting candles) off
the app's interpreter, as a real exchange would be: the app's GIL only carries the app.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dccd_tui.sandbox import Sandbox, SandboxSettings  # noqa: E402


def _budgets(budgets: dict | None) -> dict | None:
    """JSON has no inf: null means "no limit", as in SandboxSettings."""
    if budgets is None:
        return None
    return {k: (None if v is None else float(v)) for k, v in budgets.items()}


def main() -> int:
    settings = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    settings["budgets"] = _budgets(settings.get("budgets"))
    sb = Sandbox(SandboxSettings(**settings)).start()
    print(json.dumps({"port": sb.port}), flush=True)
    try:
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "stats":
                out = {
                    "requests": sb.requests(),
                    "rate_limited": sb.rate_limited(),
                    "archive": {"requests": sb.archive.requests, "bytes": sb.archive.bytes_served},
                    "weight": {
                        venue: sb.binance_weight_total(venue)
                        for venue in ("binance", "binanceusdm", "binancecoinm")
                    },
                    # per client address (per_address: each has its own limits)
                    "by_address": {ex: sb.requests_by_address(ex) for ex in sb.requests()},
                    "limited_by_address": {
                        ex: sb.rate_limited_by_address(ex) for ex in sb.requests()
                    },
                }
            elif cmd == "reset":
                sb.reset_counters()
                sb.reset_limits()
                sb.archive.reset_counters()
                out = {"ok": True}
            elif cmd.startswith("budgets "):
                sb.settings.budgets = _budgets(json.loads(cmd[len("budgets ") :]))
                sb.reset_counters()
                sb.reset_limits()  # new limiters, built from the new budgets
                out = {"ok": True}
            elif cmd.startswith("archive_prebuild "):
                job = json.loads(cmd[len("archive_prebuild ") :])
                for kind, period in job["periods"]:
                    sb.archive.build(
                        job["symbol"],
                        job["interval"],
                        kind,
                        period,
                        market=job.get("market", "spot"),
                        dataset=job.get("dataset", "klines"),
                    )
                out = {"ok": True}
            elif cmd.startswith("archive_fault "):
                job = json.loads(cmd[len("archive_fault ") :])
                sb.archive.add_fault(job["kind"], job["period"], job.get("times"))
                out = {"ok": True}
            elif cmd == "quit":
                break
            else:
                out = {"error": f"unknown command {cmd!r}"}
            print(json.dumps(out), flush=True)
    finally:
        sb.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
